#!/usr/bin/env python3
"""messages.py - the fixed messages of the interop checks, and the
comparison of what yubin delivered with them.

  write DIR --tag TAG [--simple N]
        write the messages, one file each (DIR/NN.eml), in their wire form
        (CRLF line ends) except where a case is about line ends.  Without
        --simple: the hard cases below; with --simple N: N plain messages.
        Every Message-ID holds TAG, so folders never share one.
  compare DIR MAILDIR [--pop3] [--drop-headers "NAME..."] [--lone-cr drop|newline]
        every message of DIR must be in MAILDIR (new/ and cur/) exactly
        once, found by Message-ID, with DIR's bytes turned from CRLF to LF
        (with --pop3, a message whose last line has no end gets one: POP3
        cannot send it otherwise).  The family's declared differences are
        applied to the delivered side only: --drop-headers drops exactly
        the header fields of those names that the server added (they are
        not in DIR's message); --lone-cr says what the server makes of a
        CR that is not before an LF (drops it, or makes it a line end),
        and the expected side follows.  Exit 0
        when all match, else print each difference and exit 1.
"""

import argparse
import os
import sys

HARD_CASES = [
    ("plain", b"A plain short message.\r\nSecond line.\r\n"),
    ("8bit", "Grüße aus Köln, 郵便.\r\n".encode("utf-8")
     + b"Latin-1: caf\xe9 na\xefve\r\n"),
    ("long-line", b"x" * 20000 + b"\r\nafter the long line\r\n"),
    ("no-final-newline", b"first line\r\nlast line without an end"),
    ("lone-cr", b"before\rafter a lone CR\r\nnext line\r\n"),
    ("empty-body", b""),
    ("dots", b".\r\n..\r\n.hidden\r\n...three\r\nend\r\n"),
    ("big", b"".join(b"line %06d of a large message, streamed not held\r\n" % i
                     for i in range(6000))),
]


def headers(message_id, subject, eightbit):
    lines = [
        b"From: Interop Sender <sender@example.org>",
        b"To: alice@example.org",
        b"Subject: " + subject.encode("ascii"),
        b"Date: Tue, 14 Nov 2023 22:13:20 +0000",
        b"Message-ID: <" + message_id.encode("ascii") + b">",
        b"MIME-Version: 1.0",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: " + (b"8bit" if eightbit else b"7bit"),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def cmd_write(args):
    os.makedirs(args.dir, exist_ok=True)
    if args.simple:
        cases = [("simple-%d" % i, b"Simple message %d.\r\n" % i)
                 for i in range(1, args.simple + 1)]
    else:
        cases = HARD_CASES
    for number, (name, body) in enumerate(cases, 1):
        mid = "interop-%s-%s@yubin.test" % (args.tag, name)
        data = headers(mid, "%s %s" % (args.tag, name), name == "8bit") + body
        with open(os.path.join(args.dir, "%02d.eml" % number), "wb") as f:
            f.write(data)
    return 0


def message_id_of(data):
    head = data.split(b"\n\n", 1)[0]
    for line in head.split(b"\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode("ascii", "replace")
    return None


def drop_added_headers(data, names, expected):
    """data without the header fields named in names that expected lacks."""
    head, sep, body = data.partition(b"\n\n")
    if not sep:
        return data
    want = {n.lower().encode("ascii") for n in names}
    have = {line.split(b":", 1)[0].strip().lower()
            for line in expected.split(b"\n\n", 1)[0].split(b"\n") if b":" in line}
    kept, dropping = [], False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and dropping:
            continue
        name = line.split(b":", 1)[0].strip().lower()
        dropping = name in want and name not in have
        if not dropping:
            kept.append(line)
    return b"\n".join(kept) + sep + body


def expected_form(data, pop3, lone_cr, final_newline=False):
    if lone_cr == "newline":
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    elif lone_cr == "drop":
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"")
    if (pop3 or final_newline) and not data.endswith(b"\n"):
        data += b"\r\n"
    return data.replace(b"\r\n", b"\n")


def first_difference(want, got):
    for i, (a, b) in enumerate(zip(want, got)):
        if a != b:
            return i
    return min(len(want), len(got))


def delivered(maildir):
    found = {}
    for sub in ("new", "cur"):
        path = os.path.join(maildir, sub)
        if not os.path.isdir(path):
            continue
        for name in sorted(os.listdir(path)):
            with open(os.path.join(path, name), "rb") as f:
                data = f.read()
            found.setdefault(message_id_of(data), []).append((name, data))
    return found


def cmd_compare(args):
    names = args.drop_headers.split()
    got = delivered(args.maildir)
    problems = []
    for name in sorted(os.listdir(args.dir)):
        with open(os.path.join(args.dir, name), "rb") as f:
            raw = f.read()
        want = expected_form(raw, args.pop3, args.lone_cr, args.final_newline)
        mid = message_id_of(want)
        copies = got.pop(mid, [])
        if len(copies) != 1:
            problems.append("%s (%s): delivered %d times" % (name, mid, len(copies)))
            continue
        data = drop_added_headers(copies[0][1], names, want)
        if data != want:
            at = first_difference(want, data)
            problems.append("%s (%s): differs at byte %d of %d (delivered %d): "
                            "expected %r, delivered %r" % (
                                name, mid, at, len(want), len(data),
                                want[max(0, at - 20):at + 20],
                                data[max(0, at - 20):at + 20]))
    for mid, copies in sorted(got.items(), key=lambda kv: str(kv[0])):
        problems.append("not expected: %s (%d copies, %s)" % (mid, len(copies), copies[0][0]))
    for line in problems:
        print(line)
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("dir")
    w.add_argument("--tag", required=True)
    w.add_argument("--simple", type=int, default=0)
    c = sub.add_parser("compare")
    c.add_argument("dir")
    c.add_argument("maildir")
    c.add_argument("--pop3", action="store_true")
    c.add_argument("--drop-headers", default="")
    c.add_argument("--lone-cr", choices=("keep", "drop", "newline"), default="keep")
    c.add_argument("--final-newline", action="store_true",
                   help="the server ends a last line that had no line end")
    args = parser.parse_args()
    return cmd_write(args) if args.command == "write" else cmd_compare(args)


if __name__ == "__main__":
    sys.exit(main())
