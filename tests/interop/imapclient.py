#!/usr/bin/env python3
"""imapclient.py - put mail into an interop server over IMAP with TLS.

An independent client (Python's imaplib) for the server_FAMILY.sh files
whose servers have no delivery tool the test can run: it logs in over
implicit TLS or STARTTLS, verifying the server's certificate against the
test CA, and

  imapclient.py create FOLDER            create FOLDER unless it exists
  imapclient.py append FOLDER FILE [FLAGS]
                                         create FOLDER if needed, then
                                         APPEND the bytes of FILE with
                                         FLAGS (e.g. "\\Seen \\Flagged"),
                                         each LF without a CR before it
                                         made CRLF, as IMAP wants, and
                                         nothing else changed (imaplib's
                                         append() would make a lone CR a
                                         line end too)
  imapclient.py count FOLDER             how many messages FOLDER holds

FOLDER is yubin's name: "/" between levels, no prefix, UTF-8; --prefix
and --sep give the server's ("INBOX." and "." say), and it is sent in
modified UTF-7; INBOX stays INBOX.  Every command takes --port, --tls
implicit|starttls, --ca, --user and --password.  A refusal by the
server is printed with the server's words and exits 1.
"""
import argparse
import imaplib
import os
import re
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from imaptool import encode_mutf7  # noqa: E402


def server_name(args, folder):
    if folder.upper() == "INBOX":
        return "INBOX"
    return encode_mutf7(args.prefix + folder.replace("/", args.sep))


def quoted(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def connect(args):
    context = ssl.create_default_context(cafile=args.ca)
    if args.tls == "implicit":
        imap = imaplib.IMAP4_SSL("127.0.0.1", args.port, ssl_context=context, timeout=30)
    else:
        imap = imaplib.IMAP4("127.0.0.1", args.port, timeout=30)
        imap.starttls(ssl_context=context)
    imap.login(args.user, args.password)
    return imap


def check(what, reply):
    status, data = reply
    if status != "OK":
        sys.exit("imapclient: %s: %s %r" % (what, status, data))
    return data


def create(imap, folder):
    """Create FOLDER unless LIST shows it (servers word "exists" apart)."""
    if folder.upper() == "INBOX":
        return
    if check("LIST %s" % folder, imap.list('""', quoted(folder)))[0] is not None:
        return
    check("CREATE %s" % folder, imap.create(quoted(folder)))


def append(imap, folder, path, flags):
    with open(path, "rb") as f:
        body = f.read()
    # Lone LFs become CRLF; a CR already before an LF stays one CR.
    body = re.sub(rb"\r?\n", b"\r\n", body)
    create(imap, folder)
    flag_list = "(%s)" % flags if flags else None
    # imaplib's append() would turn a lone CR into CRLF: the literal is
    # set here so that the server gets these bytes and no others.
    imap.literal = body
    check("APPEND to %s" % folder, imap._simple_command("APPEND", quoted(folder), flag_list))
    if flags:
        # Some servers (GNU Mailutils) drop APPEND's flags: set them again
        # on the message just appended, the last one of the folder.
        check("SELECT %s" % folder, imap.select(quoted(folder)))
        check("STORE on %s" % folder, imap.store("*", "+FLAGS", flag_list))
        imap.close()


def count(imap, folder):
    data = check("SELECT %s" % folder, imap.select(quoted(folder), readonly=True))
    return int(data[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls", choices=("implicit", "starttls"), default="implicit")
    parser.add_argument("--ca", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--sep", default="/")
    parser.add_argument("command", choices=("create", "append", "count"))
    parser.add_argument("folder")
    parser.add_argument("file", nargs="?")
    parser.add_argument("flags", nargs="?", default="")
    args = parser.parse_args()
    if args.command == "append" and not args.file:
        parser.error("append needs FILE")
    folder = server_name(args, args.folder)
    try:
        imap = connect(args)
        if args.command == "create":
            create(imap, folder)
        elif args.command == "append":
            append(imap, folder, args.file, args.flags)
        else:
            print(count(imap, folder))
        imap.logout()
    except (imaplib.IMAP4.error, OSError) as err:
        sys.exit("imapclient: %s on 127.0.0.1:%d as %s: %s"
                 % (args.command, args.port, args.user, err))


if __name__ == "__main__":
    main()
