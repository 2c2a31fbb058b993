#!/usr/bin/env python3
"""state_gen.py DIR COUNT [--seed S] [--version 2|3]: write DIR/snapshot,
the state of a POP3 account that knows COUNT messages of INBOX, as yubin
writes it (version 3: an M line a message with its listed size, the end
line; version 2, as an older yubin wrote it: an M and a Z line), to time
loading a big state: yubin with an account whose state_dir/ACCOUNT is DIR
and a port nothing listens on loads it, fails to connect, and exits."""
import argparse
import os
import random
import zlib


def line(body):
    return "%s #%08x\n" % (body, zlib.crc32(body.encode()))


def records(count, rng, version):
    now = 1_780_000_000
    for i in range(count):
        uidl = "%08x%08x" % (i + 1, rng.getrandbits(32))
        name = "%d.M%dP%dQ%d.bench,S=%d,W=%d:2," % (
            now - i, rng.randrange(1_000_000), rng.randrange(100_000), i + 1,
            rng.randrange(500, 4000), rng.randrange(500, 4100))
        size = rng.randrange(500, 4100)
        if version == 3:
            yield line("M INBOX %s %d %s %d" % (uidl, now - i, name, size))
            continue
        yield line("M INBOX %s %d %s" % (uidl, now - i, name))
        yield line("Z INBOX %s %d" % (uidl, size))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", default="state")
    parser.add_argument("--version", type=int, choices=(2, 3), default=3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.dir, mode=0o700, exist_ok=True)
    crc = 0
    lines = 0
    path = os.path.join(args.dir, "snapshot")
    with open(path, "w", encoding="ascii") as out:
        header = "yubin-snapshot %d\n" % args.version
        for text in [header] + list(records(args.count, rng, args.version)):
            out.write(text)
            crc = zlib.crc32(text.encode(), crc)
            lines += 1
        out.write(line("end %d %08x" % (lines - 1, crc)))


if __name__ == "__main__":
    main()
