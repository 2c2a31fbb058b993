#!/usr/bin/env python3
"""model.py - the model-based exactly-once test (see README).

  model.py --yubin PATH [--seed S] [--runs N] [--jobs J] [--faults CLASSES]
           [--shrink K] [--save DIR] [--tap] [--keep] [--replay FILE...]
  model.py --yubin PATH --one S.I      play scenario I of seed S, verbosely

Generates N seeded scenarios (scenario I of seed S is "S.I"), plays each
against yubin with the fake server in process, and judges them with one
oracle (play.py).  A failing scenario is printed with its seed, shrunk
(the first K failures) and, with --save, written as DIR/model-*.scenario.
--replay plays saved scenarios.  --tap prints TAP (one line per scenario;
a saved scenario that needs a fault class left out by --faults is played
and reported as TODO: a known hole).  Exit 1 if any scenario failed.
"""

import argparse
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import play  # noqa: E402
import scenario as scen  # noqa: E402
import shrink as shrinker  # noqa: E402

# Set in each worker process by init_worker.
WORKER = {}


def init_worker(yubin, workroot):
    WORKER["yubin"] = yubin
    WORKER["workroot"] = workroot


def play_one(job):
    """(name, scenario, problems, log) for one scenario of the pool."""
    name, sc = job
    if sc is None:
        seed, index = name.split(".")
        sc = scen.generate("%s.%s" % (seed, index), WORKER["enabled"])
    problems, log, _ = play.play(sc, WORKER["yubin"], WORKER["workroot"])
    return name, sc, problems, log


def init_generating_worker(yubin, workroot, enabled):
    init_worker(yubin, workroot)
    WORKER["enabled"] = enabled


def classes_of(sc):
    """The fault classes a scenario uses (see scenario.KNOWN_HOLES)."""
    out = set()
    for e in sc["events"]:
        if e["do"] == "fault":
            out.add(e["kind"])
            if e["kind"] == "uidvalidity":
                out.add("uidvalidity:" + sc["sink"])
        if e.get("kill_at"):
            out.add("kill-at")
        if e["do"] == "tear-state":
            out.add("torn-state")
    if sc.get("flags"):
        out.add("flags")
    if sc.get("fresh"):
        out.add("flag-fresh")
    out |= set(sc.get("strict", []))
    folders = set(sc.get("folders", []))
    if any(f.endswith(".lock") and f[:-5] in folders for f in folders):
        out.add("folder-lock")
    if any(f in scen.LONG_FOLDERS for f in folders):
        out.add("folder-long")
    if any(f in scen.HOSTILE_FOLDERS for f in folders):
        out.add("folder-names")
    return out


def describe(sc):
    runs = sum(1 for e in sc["events"] if e["do"] == "run")
    faults = [e["kind"] for e in sc["events"] if e["do"] == "fault"]
    return "%s into %s, keep %s, %d messages, %d runs, faults: %s" % (
        sc["protocol"], sc["sink"], str(sc["keep"]).lower(), len(sc["messages"]),
        runs, ", ".join(faults) or "none")


def compact(sc):
    """The scenario as JSON, long bodies cut for the eye (not for replay)."""
    shown = json.loads(json.dumps(sc))
    for m in shown["messages"]:
        if len(m["body"]) > 200:
            m["body"] = m["body"][:120] + "...(%d bytes)" % len(m["body"])
    return json.dumps(shown)


def save(sc, problems, directory, name):
    """Write a shrunk scenario as DIR/model-SLUG.scenario; its path."""
    kinds = sorted(classes_of(sc) - {"folder-names"}) or ["plain"]
    digest = hashlib.sha1(json.dumps(sc, sort_keys=True).encode()).hexdigest()[:8]
    slug = re.sub(r"[^a-z0-9-]+", "-", "-".join(kinds[:3]).lower())
    path = os.path.join(directory, "model-%s-%s-%s.scenario" % (sc["protocol"], slug, digest))
    data = dict(sc)
    data["found"] = {"as": name, "problems": problems[:6]}
    os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    return path


def load(path):
    with open(path) as f:
        sc = json.load(f)
    sc.pop("found", None)
    return sc


def make_workroot(args):
    base = args.tmpdir or ("/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    return tempfile.mkdtemp(prefix="yubin-model.", dir=base)


class Tally:
    def __init__(self, args, total):
        self.args = args
        self.total = total
        self.number = 0
        self.failed = []
        self.kill_steps = {}          # durability step -> kills there

    def count_kills(self, log):
        for line in log:
            m = re.search(r": killed at (\S+)$", line)
            if m:
                self.kill_steps[m.group(1)] = self.kill_steps.get(m.group(1), 0) + 1

    def result(self, name, sc, problems, todo=None):
        self.number += 1
        what = "%s (%s)" % (name, describe(sc))
        if self.args.tap:
            if problems and todo:
                print("not ok %d - %s # TODO known hole: %s" % (self.number, what, todo))
            elif problems:
                print("not ok %d - %s" % (self.number, what))
            else:
                print("ok %d - %s%s" % (self.number, what,
                                        " # TODO known hole: %s" % todo if todo else ""))
        if problems:
            if not todo:
                self.failed.append((name, sc, problems))
            faults = "" if self.args.faults == "default" else " --faults '%s'" % self.args.faults
            share = os.environ.get("MODEL_FLAG_SHARE")
            env = "MODEL_FLAG_SHARE=%s " % share if share else ""
            lines = ["FAILED %s: %s" % (name, describe(sc)),
                     "reproduce: %smodel.py --yubin YUBIN%s --one %s" % (env, faults, name)
                     if not name.endswith(".scenario") else
                     "replay: model.py --yubin YUBIN --replay %s" % name]
            lines += ["  " + p for p in problems[:8]]
            lines.append("  scenario: " + compact(sc)[:4000])
            self.diag("\n".join(lines), to_stderr=not todo)
        sys.stdout.flush()

    def diag(self, text, to_stderr=True):
        out = sys.stdout if self.args.tap else sys.stderr
        if self.args.tap:
            text = "\n".join("# " + line for line in text.split("\n"))
        if self.args.tap or to_stderr:
            print(text, file=out)


def run_generated(args, enabled, workroot, tally):
    jobs = [("%d.%d" % (args.seed, i), None) for i in range(args.runs)]
    with multiprocessing.Pool(args.jobs, init_generating_worker,
                              (args.yubin, workroot, enabled)) as pool:
        for name, sc, problems, log in pool.imap(play_one, jobs, chunksize=4):
            tally.result(name, sc, problems)
            tally.count_kills(log)
            if problems and args.verbose:
                tally.diag("\n".join("  " + line for line in log))


def run_replays(args, enabled, workroot, tally):
    init_worker(args.yubin, workroot)
    for path in args.replay:
        sc = load(path)
        holes = sorted(classes_of(sc) - enabled)
        problems, log, _ = play.play(sc, args.yubin, workroot)
        tally.result(os.path.basename(path), sc, problems,
                     todo=", ".join(holes) if holes else None)


def shrink_failures(args, workroot, tally):
    seen = set()
    for name, sc, problems in tally.failed:
        if len(seen) >= args.shrink:
            break
        sig = frozenset(shrinker.signature(problems))
        if sig in seen:
            continue
        seen.add(sig)

        def still_fails(candidate, sig=sig):
            got, _, _ = play.play(candidate, args.yubin, workroot)
            return bool(shrinker.signature(got) & sig)
        small, plays = shrinker.shrink(sc, still_fails)
        got, log, _ = play.play(small, args.yubin, workroot)
        lines = ["SHRUNK %s in %d plays: %s" % (name, plays, describe(small)),
                 "  scenario: " + compact(small)[:4000]]
        lines += ["  " + p for p in got[:6]] + ["  " + line for line in log]
        if args.save and got:
            lines.append("  saved as " + save(small, got, args.save, name))
        tally.diag("\n".join(lines))


def one(args, enabled, workroot):
    seed, _, index = args.one.partition(".")
    sc = scen.generate("%s.%s" % (seed, index), enabled)
    problems, log, kept = play.play(sc, args.yubin, workroot, keep=args.keep)
    print(compact(sc))
    print("\n".join(log))
    print("\n".join(problems) or "passed")
    if kept:
        print("kept " + kept)
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--yubin", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--faults", default=os.environ.get("MODEL_FAULTS", "default"),
                        help="fault classes: default (all but the known holes), "
                        "all, either with +CLASS/-CLASS, or a list")
    parser.add_argument("--shrink", type=int, default=3,
                        help="shrink this many failures of distinct kinds")
    parser.add_argument("--save", help="write shrunk failures here")
    parser.add_argument("--replay", nargs="*", default=[])
    parser.add_argument("--one")
    parser.add_argument("--tap", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--tmpdir")
    args = parser.parse_args()
    enabled = scen.parse_classes(args.faults)
    unknown = enabled - set(scen.ALL_CLASSES)
    if unknown:
        parser.error("unknown fault classes: %s (known: %s)"
                     % (" ".join(sorted(unknown)), " ".join(scen.ALL_CLASSES)))
    if not os.access(args.yubin, os.X_OK):
        parser.error("%s is not an executable" % args.yubin)
    workroot = make_workroot(args)
    try:
        if args.one:
            return one(args, enabled, workroot)
        total = args.runs + len(args.replay)
        tally = Tally(args, total)
        if args.tap:
            print("1..%d" % total)
        tally.diag("seed %d, %d scenarios, %d jobs, fault classes: %s" % (
            args.seed, args.runs, args.jobs, " ".join(sorted(enabled))))
        started = time.monotonic()
        run_replays(args, enabled, workroot, tally)
        if args.runs:
            run_generated(args, enabled, workroot, tally)
        seconds = time.monotonic() - started
        tally.diag("%d scenarios in %.1f s: %.1f scenarios/s; %d failed" % (
            tally.number, seconds, tally.number / max(seconds, 0.001), len(tally.failed)),
            to_stderr=not args.tap)
        if tally.kill_steps:
            tally.diag("kills at the durability steps: " + ", ".join(
                "%s %d" % kv for kv in sorted(tally.kill_steps.items())), to_stderr=not args.tap)
        if tally.failed and args.shrink:
            shrink_failures(args, workroot, tally)
        return 1 if tally.failed else 0
    finally:
        if not args.keep:
            shutil.rmtree(workroot, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
