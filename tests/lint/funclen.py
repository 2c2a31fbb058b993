#!/usr/bin/env python3
"""funclen.py - the length of every C function; fails above a limit.

A function is a line at column 0 that opens with a name and ends in ')'
(or the line after, '{' alone), through the '}' at column 0 that closes
it: the layout every file of yubin uses.  Prints the functions over the
limit, longest first, and exits 1 if there are any.

    funclen.py [--limit N] [--top K] FILE...
"""
import argparse
import re
import sys

HEAD = re.compile(r"^[A-Za-z_][^;{=]*\b(\w+)\s*\(")


def functions(path):
    """(name, first line, length) of each function definition in path."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    found = []
    name, first, pending = None, 0, None
    for number, line in enumerate(lines, 1):
        if name is not None:
            if line.startswith("}"):
                found.append((name, first, number - first + 1))
                name = None
            continue
        if line == "{" and pending:
            name, first = pending
            pending = None
            continue
        if not line or line[0] in " \t":
            continue
        match = HEAD.match(line)
        if match and not line.startswith(("typedef", "#")):
            pending = (match.group(1), number)
        elif not line.endswith((")", ",")):
            pending = None
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=80)
    parser.add_argument("--top", type=int, default=0,
                        help="also print the K longest functions")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    every = []
    for path in args.files:
        every += [(length, path, first, name)
                  for name, first, length in functions(path)]
    every.sort(reverse=True)
    over = [f for f in every if f[0] > args.limit]
    for length, path, first, name in every[:args.top]:
        print("%5d  %s:%d %s" % (length, path, first, name))
    for length, path, first, name in over:
        print("funclen: %s:%d: %s is %d lines long, over the limit of %d"
              % (path, first, name, length, args.limit))
    lengths = sorted(f[0] for f in every)
    if lengths:
        print("funclen: %d functions, median %d lines, longest %d, limit %d"
              % (len(lengths), lengths[len(lengths) // 2], lengths[-1], args.limit))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
