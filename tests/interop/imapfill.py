#!/usr/bin/env python3
"""imapfill.py - put messages into an IMAP server of the interop matrix, and
count them, for families whose server_append/server_count go through IMAP.

  append --folder F --file FILE [--flags "\\Seen \\Flagged"]
        create F if it is missing, APPEND the bytes of FILE as they are,
        then set FLAGS with UID STORE on the new message (some servers
        ignore the flags of APPEND)
  count --folder F
        the number of messages in F (EXAMINE)

F is yubin's name of the folder: "/" between levels, no prefix, UTF-8;
--prefix and --sep give the server's (e.g. "INBOX." and "."); INBOX stays
INBOX.  Connection: 127.0.0.1:--port, --tls implicit|starttls, verified
against --ca.
"""

import argparse
import base64
import imaplib
import ssl
import sys


def encode_mutf7(name):
    """RFC 3501 modified UTF-7 of a folder name."""
    out, pending = [], []

    def flush():
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode("ascii")
                       .rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def server_name(args):
    if args.folder.upper() == "INBOX":
        return "INBOX"
    return encode_mutf7(args.prefix + args.folder.replace("/", args.sep))


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def connect(args):
    ctx = ssl.create_default_context(cafile=args.ca)
    if args.tls == "implicit":
        imap = imaplib.IMAP4_SSL("127.0.0.1", args.port, ssl_context=ctx, timeout=30)
    else:
        imap = imaplib.IMAP4("127.0.0.1", args.port, timeout=30)
        imap.starttls(ssl_context=ctx)
    check(imap.login(args.user, args.password), "LOGIN")
    return imap


def check(result, what):
    if result[0] != "OK":
        sys.exit("imapfill.py: %s failed: %r" % (what, result))
    return result[1]


def cmd_append(args, imap):
    wire = quote(server_name(args))
    with open(args.file, "rb") as f:
        data = f.read()
    if wire != '"INBOX"' and not imap.list('""', wire)[1][0]:
        check(imap.create(wire), "CREATE %s" % wire)
    check(imap.append(wire, None, None, data), "APPEND to %s" % wire)
    if args.flags:
        check(imap.select(wire), "SELECT %s" % wire)
        # The message just appended has the highest UID.
        check(imap.uid("STORE", "*", "+FLAGS", "(%s)" % args.flags), "UID STORE")
        imap.close()


def cmd_count(args, imap):
    wire = quote(server_name(args))
    print(int(check(imap.select(wire, readonly=True), "EXAMINE %s" % wire)[0]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=("append", "count"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls", choices=("implicit", "starttls"), required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--sep", default="/")
    parser.add_argument("--folder", required=True)
    parser.add_argument("--file")
    parser.add_argument("--flags", default="")
    args = parser.parse_args()
    imap = connect(args)
    if args.command == "append":
        cmd_append(args, imap)
    else:
        cmd_count(args, imap)
    imap.logout()
    return 0


if __name__ == "__main__":
    sys.exit(main())
