#!/usr/bin/env python3
"""corpus.py - fill a Dovecot Maildir for `make bench`, fast.

  corpus.py MAILDIR COUNT --profile bench|small|huge [--folder NAME]
            [--seed S] [--huge-mb N] [--uid U --gid G]

Writes COUNT messages straight into MAILDIR/new (or, with --folder, into
the Maildir++ folder MAILDIR/.NAME, made if missing), each written in
tmp/ and renamed.  Deterministic from --seed; every Message-ID is unique
for a seed.  Sizes: "bench" spreads 1 KB to 64 KB evenly on a log scale
(about 15 KB on average), "small" 500 B to 4 KB, "huge" is one message of
--huge-mb MiB.  The text is cut from one block of random lines made once,
which is what makes 100,000 messages take seconds rather than minutes.
Dovecot indexes them at the first login.
"""

import argparse
import os
import random

WORDS = [w.encode() for w in (
    "the of and mail server message fetch state journal batch sync "
    "delivery folder account maildir inbox header body line word byte "
    "network disk kernel page cache socket client number").split()]


def text_block(rng, size):
    """About SIZE bytes of lines of words, each line at most 76 bytes."""
    lines = []
    total = 0
    while total < size:
        line = b" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 11)))
        lines.append(line + b"\n")
        total += len(line) + 1
    return b"".join(lines)


def message(block, rng, seed, index, size):
    head = (b"From: Bench Sender <sender@bench.test>\n"
            b"To: Bench Reader <reader@bench.test>\n"
            b"Subject: bench message %d\n"
            b"Date: Mon, 01 Jan 2024 00:00:00 +0000\n"
            b"Message-ID: <%d.%s@bench.test>\n"
            b"MIME-Version: 1.0\n"
            b"Content-Type: text/plain; charset=us-ascii\n\n"
            % (index, index, seed.encode()))
    want = max(size - len(head), 1)
    if want >= len(block):
        body = block * (want // len(block)) + block[:want % len(block)]
    else:
        start = rng.randrange(len(block) - want)
        body = block[start:start + want]
    # Whole lines only: cut after the last newline, or end with one.
    cut = body.rfind(b"\n")
    body = body[:cut + 1] if cut > 0 else body + b"\n"
    return head + body


def size_of(rng, args):
    if args.profile == "huge":
        return args.huge_mb << 20
    low, high = (1024, 64 * 1024) if args.profile == "bench" else (500, 4096)
    return int(low * (high / low) ** rng.random())


def folder_dir(args):
    path = args.maildir
    if args.folder:
        path = os.path.join(path, "." + args.folder)
    for sub in ("", "tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
        if args.uid is not None:
            os.chown(os.path.join(path, sub), args.uid, args.gid)
    if args.folder:
        open(os.path.join(path, "maildirfolder"), "a").close()
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("maildir")
    parser.add_argument("count", type=int)
    parser.add_argument("--profile", choices=("bench", "small", "huge"), default="bench")
    parser.add_argument("--folder")
    parser.add_argument("--seed", default="bench")
    parser.add_argument("--huge-mb", type=int, default=200)
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    block = text_block(rng, 256 * 1024)
    path = folder_dir(args)
    for index in range(args.count):
        data = message(block, rng, args.seed, index, size_of(rng, args))
        name = "1700000000.M%dP%d.%s" % (index, os.getpid(), args.seed)
        tmp = os.path.join(path, "tmp", name)
        with open(tmp, "wb") as out:
            out.write(data)
        if args.uid is not None:
            os.chown(tmp, args.uid, args.gid)
        os.rename(tmp, os.path.join(path, "new", name))
    print(args.count)


if __name__ == "__main__":
    main()
