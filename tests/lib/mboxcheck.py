#!/usr/bin/env python3
"""mboxcheck.py EXPECTED MBOX - does an mbox hold exactly the expected messages?

EXPECTED holds lines "SHA256 MESSAGE-ID" (genmail.py's format) of the
bytes yubin must deliver, with the final newline mbox adds to a message
that lacks one (genmail.py/imaptool.py expected --final-newline).  The
mbox is read with Python's standard mailbox.mbox; each message's raw
bytes are unquoted as mboxrd says (one '>' removed from every line
matching ^>+From ).  Prints the differences and exits 1 if the two
multisets differ.
"""
import hashlib
import mailbox
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genmail  # noqa: E402

UNQUOTE = re.compile(rb"^>(>*From )", re.M)


def main():
    expected_file, mbox_path = sys.argv[1], sys.argv[2]
    raw_expected = genmail.read_digest_file(expected_file)
    box = mailbox.mbox(mbox_path, create=False)
    got = []
    for key in box.keys():
        data = UNQUOTE.sub(rb"\1", box.get_bytes(key))
        got.append((hashlib.sha256(data).hexdigest(), genmail.message_id_of(data)))
    want = raw_expected
    lines = genmail.multiset_diff(want, got)
    for line in lines:
        print(line)
    if lines:
        print("expected %d messages, the mbox holds %d" % (len(want), len(got)))
        sys.exit(1)


if __name__ == "__main__":
    main()
