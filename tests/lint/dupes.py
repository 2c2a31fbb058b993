#!/usr/bin/env python3
"""dupes.py - runs of lines written twice in C files, against a baseline.

Two places are a pair when they share a run of at least --min-lines
consecutive lines, equal once spaces are squeezed.  Blank lines,
comments and lines too thin to say anything ("}", "break;", "return rc;")
are skipped: a run of them is no copy.  Each pair of files is reported
with its longest run and how many runs it has.

The baseline lists, one per line, "FILE FILE RUNS" for the pairs that
are known and accepted; a pair not in it, or with more runs than it
says, fails.  --write-baseline writes the pairs found today.

    dupes.py [--min-lines N] [--baseline F] [--write-baseline] FILE...
"""
import argparse
import collections
import re
import sys

THIN = re.compile(r"^[\s{}();,]*$|^(else|break;|continue;|return;|"
                  r"return rc;|return 0;|return -1;|return YB_OK;|"
                  r"return false;|return true;|return NULL;|default:|"
                  r"#endif.*|#else|#include .*|goto \w+;|\w+:)$")


def significant_lines(path):
    """[(line number, normalised text)] of the lines that can make a copy."""
    out = []
    in_comment = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, raw in enumerate(f, 1):
            line = " ".join(raw.split())
            if in_comment:
                if "*/" in line:
                    in_comment = False
                continue
            if line.startswith("/*"):
                in_comment = "*/" not in line
                continue
            if line.startswith(("*", "//")) or THIN.match(line):
                continue
            out.append((number, line))
    return out


def find_runs(files, min_lines):
    """{(a, b): [(length, a_line, b_line)]} for each pair of places."""
    lines = {path: significant_lines(path) for path in files}
    windows = collections.defaultdict(list)
    for path, entries in lines.items():
        texts = [t for _, t in entries]
        for i in range(len(texts) - min_lines + 1):
            windows["\n".join(texts[i:i + min_lines])].append((path, i))
    starts = collections.defaultdict(set)
    for places in windows.values():
        if len(places) < 2 or len(places) > 8:
            continue   # one place, or a pattern too common to be a copy
        for x in range(len(places)):
            for y in range(x + 1, len(places)):
                (pa, ia), (pb, ib) = sorted((places[x], places[y]))
                if pa == pb and abs(ia - ib) < min_lines:
                    continue   # a run overlapping itself
                starts[(pa, pb)].add((ia, ib))
    pairs = {}
    for (pa, pb), found in starts.items():
        runs = []
        for ia, ib in sorted(found):
            if (ia - 1, ib - 1) in found:
                continue   # inside a run already counted
            length = min_lines
            while (ia + length - min_lines + 1, ib + length - min_lines + 1) in found:
                length += 1
            runs.append((length, lines[pa][ia][0], lines[pb][ib][0]))
        pairs[(pa, pb)] = sorted(runs, reverse=True)
    return pairs


def read_baseline(path):
    allowed = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                a, b, runs = line.split()
                allowed[(a, b)] = int(runs)
    return allowed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--min-lines", type=int, default=6)
    parser.add_argument("--baseline")
    parser.add_argument("--write-baseline", action="store_true")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    pairs = find_runs(args.files, args.min_lines)
    if args.write_baseline:
        with open(args.baseline, "w", encoding="utf-8") as f:
            f.write("# dupes.py baseline: pairs of files known to share runs"
                    " of lines, and how many runs\n")
            for (a, b), runs in sorted(pairs.items()):
                f.write("%s %s %d\n" % (a, b, len(runs)))
        return 0
    allowed = read_baseline(args.baseline) if args.baseline else {}
    new = 0
    for (a, b), runs in sorted(pairs.items(), key=lambda p: -p[1][0][0]):
        length, la, lb = runs[0]
        over = len(runs) > allowed.get((a, b), 0)
        new += over
        print("dupes: %s%s:%d ~ %s:%d: %d lines%s" % (
            "NEW " if over else "", a, la, b, lb, length,
            " (+%d more runs)" % (len(runs) - 1) if len(runs) > 1 else ""))
    print("dupes: %d pairs of places, %d new" % (len(pairs), new))
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
