#!/usr/bin/env python3
"""imaptool.py - drive the test Dovecot over IMAP for yubin's tests.

An independent IMAP client (Python's imaplib over plain TCP on 127.0.0.1)
to put mail into folders, change flags, recreate folders, and compute the
oracle: what yubin must deliver for every message of a folder (the
server's bytes of BODY[] with each CRLF turned into LF), as lines
"SHA256 MESSAGE-ID" in the format genmail.py reads.

  imaptool.py append   --folder F --count N [--batch B] [--profile P]
  imaptool.py expected --folder F
  imaptool.py flags    --folder F            UID and flags, one per line
  imaptool.py midflags --folder F            Message-ID and flags, one per line
  imaptool.py store    --folder F --uids SET --flags '(\\Seen)' [--remove]
  imaptool.py recreate --folder F            delete and create (new UIDVALIDITY)
  imaptool.py count    --folder F
  imaptool.py uidvalidity --folder F

Every subcommand takes --port, --user and --password.
"""
import argparse
import hashlib
import imaplib
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genmail  # noqa: E402


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_mutf7(name):
    """UTF-8 folder name to IMAP modified UTF-7."""
    out, buf = [], []

    def flush():
        if buf:
            data = "".join(buf).encode("utf-16-be")
            import base64
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            buf.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def connect(args):
    imap = imaplib.IMAP4("127.0.0.1", args.port, timeout=60)
    imap.login(args.user, args.password)
    return imap


def check(result, what):
    typ, data = result
    if typ != "OK":
        sys.exit("%s failed: %r" % (what, data))
    return data


def ensure_folder(imap, wire):
    if wire.upper() == "INBOX":
        return
    typ, _ = imap.create(quote(wire))
    # NO [ALREADYEXISTS] is fine.


def cmd_append(args):
    imap = connect(args)
    wire = encode_mutf7(args.folder)
    ensure_folder(imap, wire)
    gen = argparse.Namespace(seed=args.seed, batch=args.batch, profile=args.profile,
                             hostile=args.hostile)
    for index in range(args.count):
        msg = genmail.make_message(gen, index)
        data = msg.data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        flags = args.flags or None
        check(imap.append(quote(wire), flags, None, data), "APPEND")
    imap.logout()
    print(args.count)


def select(imap, folder, readonly=True):
    typ, data = imap.select(quote(encode_mutf7(folder)), readonly=readonly)
    if typ != "OK":
        sys.exit("SELECT %s failed: %r" % (folder, data))
    return int(data[0])


def cmd_expected(args):
    imap = connect(args)
    exists = select(imap, args.folder)
    if exists:
        data = check(imap.uid("FETCH", "1:*", "(BODY.PEEK[])"), "UID FETCH")
        for item in data:
            if isinstance(item, tuple):
                body = genmail.crlf_to_lf(item[1])
                if args.final_newline and not body.endswith(b"\n"):
                    body += b"\n"
                print(hashlib.sha256(body).hexdigest(), genmail.message_id_of(body))
    imap.logout()


def cmd_flags(args):
    imap = connect(args)
    exists = select(imap, args.folder)
    if exists:
        data = check(imap.uid("FETCH", "1:*", "(UID FLAGS)"), "UID FETCH")
        for item in data:
            text = item.decode() if isinstance(item, bytes) else item[0].decode()
            uid = re.search(r"UID (\d+)", text).group(1)
            flags = re.search(r"FLAGS \(([^)]*)\)", text).group(1)
            print(uid, flags)
    imap.logout()


def cmd_midflags(args):
    imap = connect(args)
    exists = select(imap, args.folder)
    if exists:
        data = check(imap.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])"), "UID FETCH")
        for item in data:
            if isinstance(item, tuple):
                flags = re.search(rb"FLAGS \(([^)]*)\)", item[0])
                print(genmail.message_id_of(genmail.crlf_to_lf(item[1])),
                      flags.group(1).decode() if flags else "")
    imap.logout()


def cmd_store(args):
    imap = connect(args)
    select(imap, args.folder, readonly=False)
    op = "-FLAGS" if args.remove else "+FLAGS"
    check(imap.uid("STORE", args.uids, op, args.flags), "UID STORE")
    imap.logout()


def cmd_recreate(args):
    imap = connect(args)
    wire = quote(encode_mutf7(args.folder))
    check(imap.delete(wire), "DELETE")
    check(imap.create(wire), "CREATE")
    imap.logout()


def cmd_count(args):
    imap = connect(args)
    print(select(imap, args.folder))
    imap.logout()


def cmd_uidvalidity(args):
    imap = connect(args)
    typ, data = imap.status(quote(encode_mutf7(args.folder)), "(UIDVALIDITY)")
    check((typ, data), "STATUS")
    print(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1).decode())
    imap.logout()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, func):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--user", required=True)
        p.add_argument("--password", required=True)
        p.add_argument("--folder", default="INBOX")
        p.set_defaults(func=func)
        return p

    p = add("append", cmd_append)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seed", default="yubin")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--profile", default="mixed",
                   choices=["mixed", "small", "bench", "demo"])
    p.add_argument("--hostile", action="store_true")
    p.add_argument("--flags", default="")
    p = add("expected", cmd_expected)
    p.add_argument("--final-newline", action="store_true",
                   help="as mbox stores it (a final newline added)")
    add("flags", cmd_flags)
    add("midflags", cmd_midflags)
    p = add("store", cmd_store)
    p.add_argument("--uids", required=True)
    p.add_argument("--flags", required=True)
    p.add_argument("--remove", action="store_true")
    add("recreate", cmd_recreate)
    add("count", cmd_count)
    add("uidvalidity", cmd_uidvalidity)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
