#!/usr/bin/env python3
"""statedump.py - what a yubin state directory says, for the crash tests.

  statedump.py DIR

DIR is STATE_DIR/ACCOUNT.  The snapshot is read, the journal replayed over
it (the record format is in src/state/state_record.c), and the result printed sorted,
one item a line:

  M MAILBOX KEY          a delivered message
  V MAILBOX NAME VALUE   a value of the mailbox (IMAP uidvalidity, ...)
  I MAILBOX KEY DEST     an intent without its commit

Fields are printed as stored (percent-escaped).  When a message was
delivered and where to are left out (they differ from run to run), so
two runs that delivered the same messages print the same lines, and so are
a key's listed size and missing count (Z and S records).  A torn last
journal line (no newline, or no checksum) is skipped, as yubin does; a
snapshot of version 2 or 3 must end in its trailer "end COUNT CRC" (the
count of record lines and the CRC-32 of every byte before it); any other
unreadable record is an error (exit 1).  Version 3's M lines may carry a
listed size after DEST, which is left out like Z.
"""

import os
import sys
import zlib


def check_trailer(path, data, lines):
    """Version 2 or 3 snapshot: the last line counts and checksums the rest."""
    last = lines[-1] if len(lines) > 1 else b""
    body, sep, check = last.rpartition(b" #")
    words = body.split(b" ")
    if not sep or "%08x" % zlib.crc32(body) != check.decode("ascii", "replace") \
            or len(words) != 3 or words[0] != b"end":
        sys.exit("%s: no valid end line: the snapshot is cut short" % path)
    before = len(data) - len(last) - 1
    if int(words[1]) != len(lines) - 2 or \
            int(words[2], 16) != zlib.crc32(data[:before]):
        sys.exit("%s: the end line does not match the snapshot" % path)
    return lines[:-1]


def records(path, headers):
    """The record fields of a state file, checksum verified."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return
    # What follows the last newline is empty, or a torn write: dropped.
    lines = data.split(b"\n")[:-1]
    if not lines:
        return
    header = lines[0].decode("ascii", "replace")
    if header not in headers:
        sys.exit("%s: unexpected header %r" % (path, lines[0][:40]))
    if header in ("yubin-snapshot 2", "yubin-snapshot 3"):
        lines = check_trailer(path, data, lines)
    for number, line in enumerate(lines[1:], start=2):
        body, sep, check = line.rpartition(b" #")
        if not sep or len(check) != 8 or \
                "%08x" % zlib.crc32(body) != check.decode("ascii", "replace"):
            if number == len(lines) and path.endswith("journal"):
                return  # a torn last record: dropped, as on replay
            sys.exit("%s:%d: bad record %r" % (path, number, line[:80]))
        yield body.decode("ascii").split(" ")


def replay(state_dir):
    keys, values, intents = set(), {}, {}
    snapshot_headers = ("yubin-snapshot 1", "yubin-snapshot 2",
                        "yubin-snapshot 3")
    for fields in records(os.path.join(state_dir, "snapshot"), snapshot_headers):
        if fields[0] == "M":
            keys.add((fields[1], fields[2]))
        elif fields[0] == "V":
            values[(fields[1], fields[2])] = fields[3]
        elif fields[0] not in ("Z", "S", "B", "P"):
            sys.exit("snapshot: unknown record %r" % fields[0])
    for fields in records(os.path.join(state_dir, "journal"), ("yubin-journal 1",)):
        op, mailbox = fields[0], fields[1]
        if op == "I":
            intents[(mailbox, fields[2])] = fields[3]
        elif op == "C":
            keys.add((mailbox, fields[2]))
            intents.pop((mailbox, fields[2]), None)
        elif op == "X":
            intents.pop((mailbox, fields[2]), None)
        elif op == "F":
            keys.discard((mailbox, fields[2]))
            intents.pop((mailbox, fields[2]), None)
        elif op == "V":
            values[(mailbox, fields[2])] = fields[3]
        elif op == "G":
            keys = {k for k in keys if k[0] != mailbox}
            values = {k: v for k, v in values.items() if k[0] != mailbox}
        elif op not in ("D", "Z", "S", "B", "P"):
            sys.exit("journal: unknown record %r" % op)
    return keys, values, intents


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    keys, values, intents = replay(sys.argv[1])
    lines = ["M %s %s" % k for k in keys]
    lines += ["V %s %s %s" % (m, n, v) for (m, n), v in values.items()]
    lines += ["I %s %s %s" % (m, k, d) for (m, k), d in intents.items()]
    for line in sorted(lines):
        print(line)


if __name__ == "__main__":
    main()
