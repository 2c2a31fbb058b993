#!/usr/bin/env python3
"""torture.py - the oracle and the checks of tests/torture/torture.sh.

  torture.py oracle PROTO --port P --user U --password W [--folder F ...]
      every message on the server now, one line each:
      "MAILBOX KEY SHA256 SHA256-MBOX MESSAGE-ID" (the key as yubin's state
      names it: the POP3 UIDL, or IMAP "UIDVALIDITY/UID"; SHA256 of what
      yubin must deliver, SHA256-MBOX of the same with the final newline an
      mbox adds to a message without one)
  torture.py keys PROTO --port P --user U --password W [--folder F ...]
      only "MAILBOX KEY" of each message on the server now
  torture.py lost ORACLE KEYS SINK DEST
      after a kill: every message of ORACLE is still on the server (KEYS)
      or delivered whole to DEST (exit 1 and a list if not)
  torture.py risk ORACLE STATE_DIR MDA_LOG RUN
      after a kill of run RUN with an MDA: the SHA256 of each message the
      MDA took in that run whose intent the state still holds open; the
      next run hands it over again (yubin-failures(7), LIMITS)
  torture.py check ORACLE SINK DEST [--risk FILE] [--mda-log FILE]
      after the final run: each message of ORACLE is in DEST exactly once,
      byte for byte (mda: once more at most as often as FILE lists it),
      nothing else is there; prints "MESSAGES DUPLICATES" (exit 1 and a
      list if not)

SINK is maildir, mbox or mda.  DEST is the Maildir (a tree with IMAP
folders), the mbox (a directory of mbox files with IMAP folders), or the
MDA's Maildir.  Every connection is plain IMAP or POP3 on 127.0.0.1.
"""

import argparse
import collections
import hashlib
import imaplib
import mailbox
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import genmail  # noqa: E402
import statedump  # noqa: E402

POP3_MAILBOX = "INBOX"
UNQUOTE = re.compile(rb"^>(>*From )", re.M)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def mbox_form(data):
    return data if data.endswith(b"\n") else data + b"\n"


def unescape(field):
    """A state field as yubin wrote it, percent-escaped, back to text."""
    return re.sub(r"%([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), field)


# --- the server ------------------------------------------------------------

def pop3_messages(args, bodies):
    client = genmail.Pop3Client(args.port)
    client.login(args.user, args.password)
    count = client.stat()
    uidls = dict(line.split(" ", 1) for line in client.uidls())
    for number in range(1, count + 1):
        body = genmail.crlf_to_lf(client.retr(number)) if bodies else None
        yield POP3_MAILBOX, uidls[str(number)], body
    client.quit()


def imap_messages(args, bodies):
    imap = imaplib.IMAP4("127.0.0.1", args.port, timeout=60)
    imap.login(args.user, args.password)
    for folder in args.folder or ["INBOX"]:
        typ, data = imap.select('"%s"' % folder, readonly=True)
        if typ != "OK":
            sys.exit("SELECT %s: %r" % (folder, data))
        validity = imap.response("UIDVALIDITY")[1][0].decode()
        if int(data[0]) == 0:
            continue
        what = "(UID BODY.PEEK[])" if bodies else "(UID)"
        typ, data = imap.uid("FETCH", "1:*", what)
        if typ != "OK":
            sys.exit("UID FETCH in %s: %r" % (folder, data))
        for item in data:
            head = item[0] if isinstance(item, tuple) else item
            if not head or head == b")":
                continue
            uid = re.search(rb"UID (\d+)", head).group(1).decode()
            body = genmail.crlf_to_lf(item[1]) if bodies else None
            yield folder, "%s/%s" % (validity, uid), body
    imap.logout()


def server_messages(args, bodies):
    if args.proto == "pop3":
        return pop3_messages(args, bodies)
    return imap_messages(args, bodies)


def cmd_oracle(args):
    for folder, key, body in server_messages(args, True):
        print(folder, key, sha(body), sha(mbox_form(body)), genmail.message_id_of(body))


def cmd_keys(args):
    for folder, key, _ in server_messages(args, False):
        print(folder, key)


def read_oracle(path):
    """[(mailbox, key, sha, sha_mbox, message_id)]"""
    with open(path) as f:
        return [tuple(line.rstrip("\n").split(" ", 4)) for line in f if line.strip()]


# --- what was delivered ------------------------------------------------------

def maildir_tree(root):
    """SHA256 of every message in a Maildir and in the Maildirs below it."""
    out = []
    for top, dirs, _ in os.walk(root):
        dirs.sort()
        if os.path.basename(top) in ("new", "cur"):
            for name in sorted(os.listdir(top)):
                path = os.path.join(top, name)
                if os.path.isfile(path):
                    with open(path, "rb") as f:
                        out.append(sha(f.read()))
    return out


def mbox_files(dest):
    if os.path.isfile(dest):
        yield dest
        return
    for top, dirs, files in os.walk(dest):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(".lock"):
                yield os.path.join(top, name)


def mbox_tree(dest):
    """SHA256 of every message of an mbox (or a directory of them), mboxrd."""
    out = []
    if not os.path.exists(dest):
        return out
    for path in mbox_files(dest):
        box = mailbox.mbox(path, create=False)
        for key in box.keys():
            out.append(sha(UNQUOTE.sub(rb"\1", box.get_bytes(key))))
        box.close()
    return out


def delivered(sink, dest):
    """SHA256 of each delivered message (mbox: of its mbox form)."""
    if sink == "mbox":
        return mbox_tree(dest)
    return maildir_tree(dest) if os.path.isdir(dest) else []


def oracle_sums(oracle, sink):
    """SHA256 -> Message-ID of each oracle message in the sink's form."""
    column = 3 if sink == "mbox" else 2
    return {row[column]: row[4] for row in oracle}


def cmd_lost(args):
    oracle = read_oracle(args.oracle)
    with open(args.keys) as f:
        on_server = {tuple(line.split()) for line in f if line.strip()}
    got = set(delivered(args.sink, args.dest))
    column = 3 if args.sink == "mbox" else 2
    lost = [row for row in oracle
            if (row[0], row[1]) not in on_server and row[column] not in got]
    for row in lost[:10]:
        print("lost (gone from the server, not delivered): %s %s %s" % (row[0], row[1], row[4]))
    sys.exit(1 if lost else 0)


def cmd_risk(args):
    oracle = read_oracle(args.oracle)
    by_key = {(row[0], row[1]): row[2] for row in oracle}
    _, _, intents = statedump.replay(args.state_dir)
    open_sums = {by_key.get((unescape(m), unescape(k))) for m, k in intents}
    with open(args.mda_log) as f:
        taken = [line.split()[1] for line in f
                 if line.strip() and line.split()[0] == args.run]
    for digest in taken:
        if digest in open_sums:
            print(digest)


def cmd_check(args):
    oracle = read_oracle(args.oracle)
    ids = oracle_sums(oracle, args.sink)
    got = collections.Counter(delivered(args.sink, args.dest))
    allowed = collections.Counter()
    if args.risk and os.path.exists(args.risk):
        with open(args.risk) as f:
            allowed.update(f.read().split())
    problems = []
    for digest, mid in sorted(ids.items(), key=lambda kv: kv[1]):
        n = got.get(digest, 0)
        if n == 0:
            problems.append("lost: %s" % mid)
        elif n > 1 + allowed[digest]:
            problems.append("delivered %d times (%d allowed): %s"
                            % (n, 1 + allowed[digest], mid))
    for digest in sorted(set(got) - set(ids)):
        problems.append("delivered but not on the server (corrupt?): %s x%d"
                        % (digest, got[digest]))
    if len(ids) != len(oracle):
        problems.append("the oracle lists %d messages but %d distinct ones"
                        % (len(oracle), len(ids)))
    if args.mda_log:
        with open(args.mda_log) as f:
            logged = sum(1 for line in f if line.strip())
        if logged != sum(got.values()):
            problems.append("the MDA logged %d deliveries, its Maildir holds %d"
                            % (logged, sum(got.values())))
    if problems:
        print("\n".join(problems[:12]))
        sys.exit(1)
    print(len(ids), sum(got.values()) - len(ids))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("oracle", cmd_oracle), ("keys", cmd_keys)):
        p = sub.add_parser(name)
        p.set_defaults(func=func)
        p.add_argument("proto", choices=["pop3", "imap"])
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--user", required=True)
        p.add_argument("--password", required=True)
        p.add_argument("--folder", action="append")
    p = sub.add_parser("lost")
    p.set_defaults(func=cmd_lost)
    for arg in ("oracle", "keys", "sink", "dest"):
        p.add_argument(arg)
    p = sub.add_parser("risk")
    p.set_defaults(func=cmd_risk)
    for arg in ("oracle", "state_dir", "mda_log", "run"):
        p.add_argument(arg)
    p = sub.add_parser("check")
    p.set_defaults(func=cmd_check)
    for arg in ("oracle", "sink", "dest"):
        p.add_argument(arg)
    p.add_argument("--risk")
    p.add_argument("--mda-log")
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
