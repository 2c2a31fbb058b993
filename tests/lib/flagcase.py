#!/usr/bin/env python3
"""flagcase.py - flag cases for sync_flags: both, on the test Dovecot and
a Maildir, as a second client and a mail reader would change them.

A case is FLAG:BASE:LOCAL:SERVER, FLAG one of S R F D: one message whose
FLAG is BASE on both sides once yubin has fetched it and agreed a base,
then LOCAL in the Maildir (a mail reader) and SERVER on the server
(another IMAP client).  After a run of yubin both sides must hold the
rule table's result (yubin.yaml(5), sync_flags): the side that changed
wins, and no other flag appears.

  flagcase.py seed   --folder F --cases-file J CASE...
        recreate F, append one message per case, with FLAG set where BASE
  flagcase.py change --folder F --maildir M --cases-file J
        make FLAG LOCAL in the Maildir and SERVER on the server
  flagcase.py undo   --folder F --maildir M --cases-file J --case CASE
        the reader changes its mind: CASE's FLAG goes back to BASE in the
        Maildir, and the case now expects BASE on both sides (for after
        a run killed with CASE's push under way)
  flagcase.py check  --folder F --maildir M --cases-file J [--before]
        print each message whose flags differ from the result (with
        --before: from BASE, the state before the change) and exit 1

Every subcommand takes --port, --user and --password.
"""
import argparse
import imaplib
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genmail  # noqa: E402
from imaptool import check as ok, connect, encode_mutf7, quote  # noqa: E402

NAMES = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "D": "\\Draft"}


def parse_case(text):
    flag, base, local, server = text.split(":")
    if flag not in NAMES or any(v not in ("0", "1") for v in (base, local, server)):
        sys.exit("bad case %r" % text)
    return {"flag": flag, "base": int(base), "local": int(local),
            "server": int(server)}


def expected(case):
    """The rule table: the side that changed since the base wins."""
    return case["server"] if case["local"] == case["base"] else case["local"]


def cmd_seed(args):
    imap = connect(args)
    wire = quote(encode_mutf7(args.folder))
    imap.delete(wire)  # NO when it does not exist yet: fine
    ok(imap.create(wire), "CREATE")
    cases = []
    gen = argparse.Namespace(seed="flags", batch=args.batch, profile="small",
                             hostile=False)
    for index, text in enumerate(args.cases):
        case = parse_case(text)
        msg = genmail.make_message(gen, index)
        case["mid"] = msg.message_id
        flags = "(%s)" % NAMES[case["flag"]] if case["base"] else None
        data = msg.data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        ok(imap.append(wire, flags, None, data), "APPEND")
        cases.append(case)
    imap.logout()
    with open(args.cases_file, "w") as out:
        json.dump(cases, out)


def server_flags(imap, folder):
    """Message-ID -> set of flag letters, from the server."""
    ok(imap.select(quote(encode_mutf7(folder))), "SELECT")
    data = ok(imap.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"),
              "UID FETCH")
    found = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode()
        mid = re.search(rb"<[^>]+>", item[1]).group(0).decode()
        found[mid] = {k for k, name in NAMES.items() if name in flags.split()}
    return found


def local_files(maildir):
    """Message-ID -> path of its file in new/ or cur/."""
    found = {}
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(maildir, sub)):
            path = os.path.join(maildir, sub, name)
            with open(path, "rb") as f:
                head = f.read(65536)
            match = re.search(rb"^Message-ID:\s*(<[^>]+>)", head, re.M | re.I)
            if match:
                found[match.group(1).decode()] = path
    return found


def letters_of(path):
    name = os.path.basename(path)
    return set(name.split(":2,", 1)[1]) if ":2," in name else set()


def set_letter(maildir, path, letter, on):
    """Rename as a mail reader does: into cur/, the letters changed."""
    name = os.path.basename(path)
    unique = name.split(":2,", 1)[0]
    letters = letters_of(path)
    if on:
        letters.add(letter)
    else:
        letters.discard(letter)
    target = os.path.join(maildir, "cur", unique + ":2," + "".join(sorted(letters)))
    os.rename(path, target)


def cmd_change(args):
    with open(args.cases_file) as f:
        cases = json.load(f)
    files = local_files(args.maildir)
    imap = connect(args)
    ok(imap.select(quote(encode_mutf7(args.folder))), "SELECT")
    data = ok(imap.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"),
              "UID FETCH")
    uids = {}
    for item in data:
        if isinstance(item, tuple):
            uid = re.search(rb"UID (\d+)", item[0]).group(1).decode()
            uids[re.search(rb"<[^>]+>", item[1]).group(0).decode()] = uid
    for case in cases:
        if case["local"] != case["base"]:
            set_letter(args.maildir, files[case["mid"]], case["flag"], case["local"])
        if case["server"] != case["base"]:
            op = "+FLAGS" if case["server"] else "-FLAGS"
            ok(imap.uid("STORE", uids[case["mid"]], op, "(%s)" % NAMES[case["flag"]]),
               "UID STORE")
    imap.logout()


def cmd_undo(args):
    with open(args.cases_file) as f:
        cases = json.load(f)
    target = parse_case(args.case)
    files = local_files(args.maildir)
    for case in cases:
        if all(case[k] == target[k] for k in target):
            set_letter(args.maildir, files[case["mid"]], case["flag"], case["base"])
            case["local"] = case["base"]
            break
    else:
        sys.exit("no case %s" % args.case)
    with open(args.cases_file, "w") as out:
        json.dump(cases, out)


def cmd_check(args):
    with open(args.cases_file) as f:
        cases = json.load(f)
    imap = connect(args)
    on_server = server_flags(imap, args.folder)
    imap.logout()
    files = local_files(args.maildir)
    wrong = []
    for case in cases:
        want = {case["flag"]} if (case["base"] if args.before else expected(case)) else set()
        label = "%s:%d:%d:%d" % (case["flag"], case["base"], case["local"], case["server"])
        server = on_server.get(case["mid"])
        local = letters_of(files[case["mid"]]) & set(NAMES) if case["mid"] in files else None
        if server != want or local != want:
            wrong.append("%s: want %s, server %s, local %s" % (
                label, "".join(sorted(want)) or "-",
                "".join(sorted(server)) if server is not None else "(gone)",
                "".join(sorted(local)) if local is not None else "(gone)"))
    for line in wrong:
        print(line)
    sys.exit(1 if wrong else 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn in (("seed", cmd_seed), ("change", cmd_change),
                     ("undo", cmd_undo), ("check", cmd_check)):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--user", required=True)
        p.add_argument("--password", required=True)
        p.add_argument("--folder", required=True)
        p.add_argument("--cases-file", required=True)
        p.set_defaults(fn=fn)
        if name == "seed":
            p.add_argument("--batch", type=int, default=1)
            p.add_argument("cases", nargs="+")
        else:
            p.add_argument("--maildir", required=True)
        if name == "check":
            p.add_argument("--before", action="store_true")
        if name == "undo":
            p.add_argument("--case", required=True)
    args = parser.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
