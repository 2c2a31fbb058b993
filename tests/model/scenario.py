"""scenario.py - seeded random scenarios for the model test (see README).

A scenario is plain data (JSON when saved): the account (protocol, sink,
keep, the folder patterns), the server's folders and messages, and a list
of events played in order:

  {"do": "run", "kill_at": K}      a yubin run; K (optional) is its
                                   YUBIN_TEST_KILL_AT durability step
  {"do": "fault", "kind": ..., ...}  a fault of the next run only, or a
                                   lasting change of the server
                                   (uidvalidity)
  {"do": "add", "id": M}           another client adds message M
  {"do": "remove", "id": M}        another client removes message M
  {"do": "tear-state", "lines": L} the state snapshot is cut after its
                                   first L lines (at a line end), as a
                                   file system that lost its tail would

After the events, the runner plays healthy runs until everything must
have converged (see play.py).  Faults are events of their own so that the
shrinker can drop them one by one.  Stdlib only.
"""

import os
import random

# Every fault class the generator knows, with the exit statuses yubin(1)
# allows for it when it fires in a run.  0 absent: the run must fail.
FAULT_EXITS = {
    "drop": {75, 76},               # connection closed before an answer
    "cut": {75, 76},                # an answer cut in the middle
    "sigkill": {75, 76},            # yubin killed by the harness (these if
                                    # it outlives the kill: the server hangs up)
    "kill-at": set(),               # yubin kills itself (YUBIN_TEST_KILL_AT)
    "size-lie": {0, 76},            # LIST / RFC822.SIZE claim a wrong size:
                                    # IMAP stores the body as sent, POP3
                                    # too when it is longer (with a
                                    # warning); a shorter POP3 body may
                                    # be cut short: not kept (76)
    "uidl-omit": {0},               # a UIDL listing lacks some messages
    "uidl-empty": {0},              # a UIDL listing lacks every message
    "uidl-renumber": {0, 76},       # every UIDL new for one run
    "uidl-extra": {0, 76},          # UIDL and LIST name a message not there
    "no-final-crlf": {75, 76},      # RETR body: "." not on a line of its own
                                    # (75: the last reply, so nothing comes
                                    # after it and the read times out)
    "uidvalidity": {0},             # new UIDVALIDITY, same messages, new UIDs
    "examine-no": {75, 76, 77},     # NO [NOPERM] on SELECT/EXAMINE of a folder
    "list-extra": {0},              # LIST "" "INBOX" also names other folders
    "inbox-spelling": {0},          # a "*" LIST reply spells INBOX otherwise
    "expunge-between": {0},         # another client expunges during the run
    "exists-between": {0},          # a message arrives during the run
    "flag-race": {0},               # another client changes a flag between
                                    # yubin's flag listing and its STORE
    "store-no": {76},               # NO to a UID STORE of flags
    "store-drop": {75, 76},         # the connection drops in a UID STORE
                                    # (after a part of its set is stored)
}

# Kinds whose effect lasts: the server really changed (not a lie).
LASTING = {"uidvalidity"}

# The known holes of the current code, as fault classes ("KIND" or
# "KIND:SINK"; "folder-lock" is a folder named like another's lock file).
# The generator leaves them out unless MODEL_FAULTS names them; this is
# the one place to empty once they are fixed.
# flag-open-push stays: after a kill between recording a push and the
# server's answer, yubin cannot tell its own STORE from another client's
# (yubin.yaml(5), sync_flags), so the strict oracle cannot hold there.
KNOWN_HOLES = [
    "flag-open-push",
]

# flags: scenarios of sync_flags: both; flag-fresh: flags changed on a
# message before a run after the one that delivered it has ended cleanly;
# flag-open-push and flag-refused make the flag oracle strict about a
# push left open by a kill or a lost connection, or refused by the server
# (see README).
STRICT_CLASSES = ["flag-open-push", "flag-refused"]
ALL_CLASSES = sorted(set(FAULT_EXITS) | {"folder-lock", "folder-names", "folder-long",
                                         "torn-state", "flags", "flag-fresh"} |
                     set(STRICT_CLASSES) |
                     {"uidvalidity:" + sink for sink in ("maildir", "mbox", "mda")})

PLAIN_FOLDERS = ["Archive", "Sent", "A", "B", "Work/2024", "Lists/dev", "Arch"]
# Names a careful client may refuse (skipped with a warning) or map
# somewhere odd; never written outside the sink, never lost once there.
HOSTILE_FOLDERS = [
    "..", ".", "a/../b", "/abs", "a//b", "trail/", "cur", "new", "tmp",
    "x/cur", ".hidden", "..dots", "&-", "&Jjo-", "&AB", "&-&", "&AGEAYgBj-",
    "&Jjo", "Spam.sbd", "L" * 200 + "/" + "M" * 200,
    "INBOX/Sub", "inbox.sub", "A.lock.lock",
]
# Paths near PATH_MAX (class folder-long).
LONG_FOLDERS = ["/".join(["P" * 250] * 15), "/".join(["Q" * 120] * 9)]

BODY_PIECES = [
    b"From someone Mon Jan  1 00:00:00 2024\r\n", b">From quoted\r\n",
    b".\r\n", b"..\r\n", b".leading dot\r\n", b"bare\rCR\r\n", b"bare\nLF\n",
    b"NUL\0byte\r\n", b"\r\n", b"plain text line\r\n", b"\r", b"\n",
    b"From \r\n", b"\xff\xfe high bytes\r\n", b"tab\tline\r\n",
]


class Generator:
    """Scenarios from one seed; enabled is the set of fault classes."""

    def __init__(self, seed, enabled):
        self.rng = random.Random(seed)
        self.seed = seed
        self.enabled = enabled
        self.next_id = 1

    def on(self, kind):
        return kind in self.enabled

    def body(self, sink):
        rng = self.rng
        mid = self.next_id
        if sink == "maildir" and rng.random() < 0.03:
            return b""
        out = bytearray(b"Message-ID: <m%d.%s@model.test>\r\n" % (mid, str(self.seed).encode()))
        for _ in range(rng.randrange(0, 7)):
            out += rng.choice(BODY_PIECES)
        if rng.random() < 0.04:
            out += b"y" * rng.randrange(20000, 300000) + b"\r\n"
        if rng.random() < 0.25:
            out += b"no final newline"
        return bytes(out)

    def message(self, folder, sink, later=False):
        msg = {"id": self.next_id, "folder": folder,
               "body": self.body(sink).decode("latin-1")}
        if later:
            msg["later"] = True
        self.next_id += 1
        return msg

    def folders(self, sink):
        rng = self.rng
        names = ["INBOX"] + rng.sample(PLAIN_FOLDERS, rng.randrange(0, 3))
        if self.on("folder-names"):
            for name in rng.sample(HOSTILE_FOLDERS, rng.randrange(0, 3)):
                if name not in names:
                    names.append(name)
        if self.on("folder-long") and rng.random() < 0.3:
            names.append(rng.choice(LONG_FOLDERS))
        if self.on("folder-lock") and rng.random() < 0.6:
            base = rng.choice([n for n in names if n != "INBOX"] or ["A"])
            for name in (base, base + ".lock"):
                if name not in names:
                    names.append(name)
        if self.on("list-extra") and rng.random() < 0.2 and "Spam" not in names:
            names.append("Spam")
        return names

    def scenario(self):
        # Drawn apart so that the other scenarios of a seed stay the same.
        if self.on("flags") and random.Random("flags:" + str(self.seed)).random() < FLAG_SHARE:
            return self.flag_scenario()
        rng = self.rng
        protocol = rng.choice(["pop3", "imap"])
        sink = rng.choice(["maildir", "mbox", "mda"])
        sc = {"seed": self.seed, "protocol": protocol, "sink": sink,
              "keep": rng.random() < 0.5, "folders": ["INBOX"], "patterns": ["INBOX"],
              "messages": [], "events": []}
        if protocol == "imap":
            sc["folders"] = self.folders(sink)
            sc["patterns"] = rng.choice([["INBOX"], ["*"], ["*"], ["INBOX", "A*"], ["%"]])
        for _ in range(rng.randrange(1, 9)):
            sc["messages"].append(self.message(rng.choice(sc["folders"]), sink))
        locks = [f for f in sc["folders"] if f.endswith(".lock") and f[:-5] in sc["folders"]]
        if locks:
            # A lock-named folder matters only if both it and its
            # neighbour hold mail and the account fetches both.
            sc["patterns"] = ["*"]
            for name in (locks[0], locks[0][:-5]):
                sc["messages"].append(self.message(name, sink))
        for _ in range(rng.choice([1, 1, 2, 2, 3, 4])):
            self.between_runs(sc)
            self.faults(sc)
            run = {"do": "run"}
            if self.on("kill-at") and rng.random() < 0.3:
                run["kill_at"] = rng.randrange(1, 12)
            sc["events"].append(run)
        return sc

    def between_runs(self, sc):
        rng = self.rng
        if rng.random() < 0.3:
            msg = self.message(rng.choice(sc["folders"]), sc["sink"], later=True)
            sc["messages"].append(msg)
            sc["events"].append({"do": "add", "id": msg["id"]})
        if rng.random() < 0.15 and sc["messages"]:
            sc["events"].append({"do": "remove", "id": rng.choice(sc["messages"])["id"]})
        if self.on("torn-state") and rng.random() < 0.1 and sc["events"]:
            sc["events"].append({"do": "tear-state", "lines": rng.randrange(1, 8)})

    def faults(self, sc):
        """Zero to two faults for the next run."""
        rng = self.rng
        for _ in range(rng.choice([0, 1, 1, 1, 2])):
            kind = rng.choice(self.kinds(sc))
            if kind is None:
                continue
            fault = self.fault(sc, kind)
            if fault:
                sc["events"].append(fault)

    def kinds(self, sc):
        common = ["drop", "cut", "sigkill", "size-lie"]
        if sc["protocol"] == "pop3":
            extra = ["uidl-omit", "uidl-empty", "uidl-renumber", "uidl-extra",
                     "no-final-crlf"]
        else:
            extra = ["uidvalidity", "examine-no", "list-extra", "inbox-spelling",
                     "expunge-between", "exists-between"]
        out = [k for k in common + extra if self.on(k)]
        if "uidvalidity" in out and not self.on("uidvalidity:" + sc["sink"]):
            out.remove("uidvalidity")
        return out or [None]

    def fault(self, sc, kind):
        rng = self.rng
        ids = [m["id"] for m in sc["messages"]]
        f = {"do": "fault", "kind": kind}
        if kind in ("drop", "cut", "sigkill", "expunge-between", "exists-between"):
            f["at"] = rng.randrange(1, 16)
        if kind == "cut":
            f["part"] = round(rng.random(), 2)
        if kind in ("size-lie", "no-final-crlf", "expunge-between"):
            f["id"] = rng.choice(ids)
        if kind == "size-lie":
            f["size"] = rng.choice([0, 1, 10, 100000, 2 ** 31])
        if kind == "uidl-omit":
            f["ids"] = sorted(rng.sample(ids, rng.randrange(1, len(ids) + 1)))
        if kind in ("uidvalidity", "examine-no"):
            # A folder that holds mail, mostly: else nothing can go wrong.
            full = [m["folder"] for m in sc["messages"]]
            f["folder"] = rng.choice(full if full and rng.random() < 0.8 else sc["folders"])
        if kind == "list-extra":
            f["names"] = rng.sample(["Spam", "..", "Archive", "INBOX"], 2)
        if kind == "inbox-spelling":
            f["as"] = rng.choice(["Inbox", "inbox", "InBoX"])
        if kind == "exists-between":
            msg = self.message(rng.choice(sc["folders"]), sc["sink"], later=True)
            sc["messages"].append(msg)
            f["id"] = msg["id"]
        if kind == "no-final-crlf":
            # Only a body without a final line end can be sent this way.
            msg = self.message("INBOX", sc["sink"])
            if not msg["body"].endswith("\n"):
                msg["body"] += "end without CRLF"
            else:
                msg["body"] += "last line"
            sc["messages"].append(msg)
            f["id"] = msg["id"]
        return f


def flag_share():
    """The share of flag scenarios among the generated ones: the
    environment's MODEL_FLAG_SHARE, 0 to 1 (default 0.25)."""
    text = os.environ.get("MODEL_FLAG_SHARE") or "0.25"
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise SystemExit("MODEL_FLAG_SHARE=%r: give a number from 0 to 1" % text)
    return share


FLAG_SHARE = flag_share()
FLAG_KINDS = ["drop", "cut", "sigkill", "flag-race", "flag-race", "store-no", "store-drop"]


class FlagGenerator(Generator):
    """Scenarios of sync_flags: both: IMAP into a Maildir, keep: true.

    Events besides run, fault and add:
      {"do": "local-flag", "id": M, "letter": L, "on": B}   a mail reader
          sets or clears info letter L (S R F D) of message M's file
          (moving it from new/ to cur/)
      {"do": "server-flag", "id": M, "letter": L, "on": B}  another client
          sets or clears the flag on the server (a new MODSEQ)
    Without the class flag-fresh, two clean runs come first (the first
    delivers, the second records the agreed flags: played, not events)
    and only messages they delivered change flags."""

    def flag_scenario(self):
        rng = self.rng
        fresh = self.on("flag-fresh")
        sc = {"seed": self.seed, "protocol": "imap", "sink": "maildir", "keep": True,
              "flags": True, "condstore": rng.random() < 0.6,
              "folders": ["INBOX"] + rng.sample(PLAIN_FOLDERS, rng.randrange(0, 3)),
              "messages": [], "events": []}
        if fresh:
            sc["fresh"] = True
        strict = [k for k in STRICT_CLASSES if self.on(k)]
        if strict:
            sc["strict"] = strict
        sc["patterns"] = rng.choice([["INBOX"], ["*"], ["*"], ["%"]])
        for _ in range(rng.randrange(1, 9)):
            msg = self.message(rng.choice(sc["folders"]), "imap")
            msg["flags"] = "".join(c for c in "DFRS" if rng.random() < 0.25)
            sc["messages"].append(msg)
        initial = [m["id"] for m in sc["messages"]]
        # Without flag-fresh the player runs the two clean runs itself
        # (play.py), so that no shrinking removes them.
        for _ in range(rng.choice([0, 1, 2]) if fresh else 0):
            sc["events"].append({"do": "run"})
        for _ in range(rng.choice([1, 2, 2, 3, 4])):
            if rng.random() < 0.25:
                msg = self.message(rng.choice(sc["folders"]), "imap", later=True)
                sc["messages"].append(msg)
                sc["events"].append({"do": "add", "id": msg["id"]})
            ids = [m["id"] for m in sc["messages"]] if fresh else initial
            self.flag_changes(sc, ids)
            self.flag_faults(sc, ids)
            run = {"do": "run"}
            if self.on("kill-at") and rng.random() < 0.35:
                run["kill_at"] = rng.randrange(1, 25)
            sc["events"].append(run)
        return sc

    def flag_changes(self, sc, ids):
        """Zero to five changes: local, server, or both on one flag (to
        the same value or not)."""
        rng = self.rng
        for _ in range(rng.randrange(0, 6)):
            mid, letter = rng.choice(ids), rng.choice("DFRS")
            side = rng.choice(["local-flag", "server-flag", "both"])
            for do in (["local-flag", "server-flag"] if side == "both" else [side]):
                sc["events"].append({"do": do, "id": mid, "letter": letter,
                                     "on": rng.random() < 0.5})

    def flag_faults(self, sc, ids):
        rng = self.rng
        kinds = [k for k in FLAG_KINDS if self.on(k)]
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            if not kinds:
                return
            kind = rng.choice(kinds)
            f = {"do": "fault", "kind": kind}
            if kind in ("drop", "cut", "sigkill"):
                f["at"] = rng.randrange(1, 30)
            if kind == "cut":
                f["part"] = round(rng.random(), 2)
            if kind in ("store-no", "store-drop"):
                f["at"] = rng.randrange(1, 4)
            if kind == "store-drop":
                f["part"] = round(rng.random(), 2)
            if kind == "flag-race":
                # Mostly the message the STORE names: what UNCHANGEDSINCE is for.
                f.update(id=rng.choice(ids + ["stored"] * 3 * len(ids)),
                         letter=rng.choice("DFRS"))
            sc["events"].append(f)


def parse_classes(text):
    """MODEL_FAULTS: "default" (every class but the known holes), "all",
    either followed by +CLASS / -CLASS words, or a list of classes."""
    words = (text or "default").split()
    if words[0] not in ("all", "default"):
        return set(words)
    enabled = set(ALL_CLASSES)
    if words[0] == "default":
        enabled -= set(KNOWN_HOLES)
    for word in words[1:]:
        if word.startswith("-"):
            enabled.discard(word[1:])
        else:
            enabled.add(word.lstrip("+"))
    return enabled


def generate(seed, enabled):
    return FlagGenerator(seed, enabled).scenario()
