"""shrink.py - reduce a failing scenario to a smallest one that still fails.

Delta debugging (ddmin) over the events, then over the messages (with
the events that name them), the folders (with their messages), the lines
of each body, then simpler event details (no kill point).  A candidate
"still fails" when it shows one of the original failure's kinds (the
problem text without its numbers), so shrinking does not wander off to
another failure.  Stdlib only.
"""

import copy
import re
import time


def signature(problems):
    """The kinds of problems: "message 3: 2 in the sink, expected 1" and
    "message 7: 2 in ..." are one kind."""
    out = set()
    for p in problems:
        text = p.split(": ", 1)[-1]
        text = re.sub(r"stderr: .*", "", text)
        text = re.sub(r"\(\d+ bytes: .*", "", text)
        out.add(re.sub(r"\d+", "N", text)[:60])
    return out


def ddmin(items, fails):
    """A 1-minimal sublist of items for which fails(sublist) holds
    (fails(items) is assumed)."""
    n = 2
    while len(items) >= 2:
        chunk = max(1, len(items) // n)
        parts = [items[i:i + chunk] for i in range(0, len(items), chunk)]
        reduced = False
        for i in range(len(parts)):
            rest = [x for j, p in enumerate(parts) if j != i for x in p]
            if fails(rest):
                items, n, reduced = rest, max(n - 1, 2), True
                break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), n * 2)
    if len(items) == 1 and fails([]):
        return []
    return items


def without_messages(sc, keep_ids):
    out = copy.deepcopy(sc)
    out["messages"] = [m for m in out["messages"] if m["id"] in keep_ids]
    ids = set(keep_ids)
    events = []
    for e in out["events"]:
        if "id" in e and e["id"] != "stored" and e["id"] not in ids:
            continue
        if "ids" in e:
            e["ids"] = [i for i in e["ids"] if i in ids]
            if not e["ids"]:
                continue
        events.append(e)
    out["events"] = events
    return out


def shrink(sc, still_fails, budget=150, seconds=120):
    """The smallest scenario found within budget plays of still_fails
    and about that many seconds."""
    plays = [0]
    end = time.monotonic() + seconds

    def fails(candidate):
        if plays[0] >= budget or time.monotonic() > end or \
                not any(e["do"] == "run" for e in candidate["events"]):
            return False
        plays[0] += 1
        return still_fails(candidate)

    best = copy.deepcopy(sc)

    def with_events(events):
        c = copy.deepcopy(best)
        c["events"] = events
        return c
    best["events"] = ddmin(best["events"], lambda ev: fails(with_events(ev)))

    ids = ddmin([m["id"] for m in best["messages"]],
                lambda keep: fails(without_messages(best, keep)))
    best = without_messages(best, ids)

    if best["protocol"] == "imap":
        used = {m["folder"] for m in best["messages"]}
        names = [f for f in best["folders"] if f != "INBOX"]

        def with_folders(keep):
            c = copy.deepcopy(best)
            c["folders"] = ["INBOX"] + [f for f in names if f in keep or f in used]
            return c
        keep = ddmin(names, lambda k: fails(with_folders(k)))
        best = with_folders(keep)

    for m in list(best["messages"]):
        lines = m["body"].splitlines(True)
        if len(lines) <= 1:
            continue

        def with_lines(keep, mid=m["id"], head=lines[0]):
            c = copy.deepcopy(best)
            for msg in c["messages"]:
                if msg["id"] == mid:
                    msg["body"] = head + "".join(keep)
            return c
        kept = ddmin(lines[1:], lambda k: fails(with_lines(k)))
        best = with_lines(kept)

    for i, e in enumerate(best["events"]):
        if "kill_at" in e:
            c = copy.deepcopy(best)
            del c["events"][i]["kill_at"]
            if fails(c):
                best = c
    return best, plays[0]
