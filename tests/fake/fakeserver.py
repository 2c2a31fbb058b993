#!/usr/bin/env python3
"""fakeserver.py - a scriptable hostile POP3/IMAP server for tests.

Plays one run of a case file (see README and fakecase.py): listens on
127.0.0.1 only, on a port the kernel picks (written to --port-file),
and answers each client command with the first rule of the case whose
regular expression matches it, else as a correct server would (the
"personality": enough POP3 or IMAP to serve the case's mailbox).

The mailbox survives between runs of one case in --mailbox-state (JSON):
messages deleted on the server (POP3 DELE carried out by QUIT, IMAP
EXPUNGE, or a rule's "commit") are gone for the next run, as on a real
server.  What the client sent is written to --report (JSON).

The server stops by itself after --limit seconds whatever happens, and
on SIGTERM; every socket operation has a deadline.  Stdlib only.
"""

import argparse
import json
import os
import re
import select
import signal
import socket
import ssl
import sys
import time

# No __pycache__ in the source tree (it may be read-only, as in distcheck).
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakecase  # noqa: E402

CLIENT_LINE_MAX = 1 << 20


class Stop(Exception):
    """The time limit passed or the runner asked the server to stop."""


class Closed(Exception):
    """The client went away, or a rule closed the connection."""


class MailboxState:
    """Which of the case's messages the server has deleted for good."""

    def __init__(self, path):
        self.path = path
        self.deleted = set()
        if path and os.path.exists(path):
            with open(path) as f:
                self.deleted = set(json.load(f).get("deleted", []))

    def delete(self, indexes):
        self.deleted.update(indexes)
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"deleted": sorted(self.deleted)}, f)
        os.replace(tmp, self.path)


class Report:
    def __init__(self, path):
        self.path = path
        self.data = {"connections": 0, "commands": [], "tls": False,
                     "deleted": [], "notes": []}

    def note(self, text):
        self.data["notes"].append(text)

    def write(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
        os.replace(tmp, self.path)


class Session:
    """One client connection: buffered I/O with deadlines, and the rules."""

    def __init__(self, server, sock):
        self.server = server
        self.sock = sock
        self.inbuf = b""
        self.outbuf = bytearray()
        self.bytewise = False
        self.byte_delay = 0.001
        self.tls = False

    # --- time ---

    def remaining(self):
        left = self.server.deadline - time.monotonic()
        if left <= 0:
            raise Stop()
        return left

    # --- output ---

    def queue(self, data):
        self.outbuf += data

    def flush(self):
        data = bytes(self.outbuf)
        self.outbuf.clear()
        if not data:
            return
        try:
            if self.bytewise:
                for i in range(len(data)):
                    self.sock.settimeout(self.remaining())
                    self.sock.sendall(data[i:i + 1])
                    if self.byte_delay:
                        time.sleep(self.byte_delay)
                return
            view = memoryview(data)
            while view:
                self.sock.settimeout(min(self.remaining(), 5.0))
                try:
                    sent = self.sock.send(view)
                except socket.timeout:
                    continue
                view = view[sent:]
        except (OSError, ssl.SSLError) as e:
            raise Closed("send failed: %s" % e)

    # --- input ---

    def read_line(self):
        """One line from the client, without its line end."""
        while True:
            at = self.inbuf.find(b"\n")
            if at >= 0:
                line = self.inbuf[:at]
                self.inbuf = self.inbuf[at + 1:]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.inbuf) > CLIENT_LINE_MAX:
                raise Closed("client line over %d bytes" % CLIENT_LINE_MAX)
            self.flush()
            try:
                self.sock.settimeout(min(self.remaining(), 1.0))
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (OSError, ssl.SSLError) as e:
                raise Closed("recv failed: %s" % e)
            if not chunk:
                raise Closed("client closed the connection")
            self.inbuf += chunk

    # --- TLS ---

    def start_tls(self):
        self.flush()
        if self.inbuf:
            self.server.report.note("client bytes before the TLS handshake")
        try:
            self.sock.settimeout(min(self.remaining(), 10.0))
            self.sock = self.server.tls_context().wrap_socket(
                self.sock, server_side=True)
        except (OSError, ssl.SSLError) as e:
            raise Closed("TLS handshake failed: %s" % e)
        self.tls = True
        self.server.report.data["tls"] = True

    def close_gracefully(self):
        """Send what is queued and a FIN, then take what the client still
        sends until it closes (at most 2 s): closing with unread input
        would send a reset, which may throw away data not yet read on
        the client's side."""
        self.flush()
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            return
        end = time.monotonic() + 2
        while True:
            left = min(end - time.monotonic(), self.remaining())
            if left <= 0:
                return
            try:
                self.sock.settimeout(left)
                if not self.sock.recv(65536):
                    return
            except (OSError, ValueError):
                return

    def sleep(self, seconds):
        self.flush()
        end = time.monotonic() + seconds
        while True:
            left = min(end - time.monotonic(), self.remaining())
            if left <= 0:
                return
            time.sleep(min(left, 0.2))

    def hang(self):
        """Say nothing until the client gives up (or the time limit)."""
        self.flush()
        while True:
            self.sock.settimeout(min(self.remaining(), 0.5))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (OSError, ssl.SSLError):
                raise Closed("client gone while the server hung")
            if not chunk:
                raise Closed("client closed while the server hung")

    # --- rules ---

    def run_actions(self, actions, ctx):
        """Play a rule's actions (Closed when one ends the connection)."""
        for action in actions:
            verb, arg = action.verb, action.arg
            if verb == "send":
                self.queue(fakecase.parse_bytes(arg, ctx.subst))
            elif verb == "line":
                self.queue(fakecase.unescape(ctx.subst(arg)) + b"\r\n")
            elif verb == "sleep":
                self.sleep(float(arg))
            elif verb == "close":
                self.close_gracefully()
                raise Closed("closed by the case (%s)" % action.where)
            elif verb == "hang":
                self.hang()
            elif verb == "bytewise":
                self.flush()
                self.bytewise = True
                if arg:
                    self.byte_delay = float(arg)
            elif verb == "starttls":
                self.start_tls()
            elif verb == "default":
                self.server.personality.handle(self, ctx)
            elif verb == "commit":
                self.server.personality.commit(self)
            elif verb == "retr":
                self.server.personality.send_retr(self, int(arg))
            elif verb in ("fetch", "fetch-no-uid"):
                self.server.personality.send_fetch(self, int(arg), verb == "fetch")
            elif verb == "expunge":
                self.server.personality.fake_expunge(self, int(arg))
            elif verb == "ok":
                self.server.personality.send_ok(self, ctx, ctx.subst(arg))
        self.flush()


class Context:
    """The command being answered, for {tag}, {g1}... in a rule's text."""

    def __init__(self, line, tag, command, match=None, prevtag=None):
        self.line = line
        self.tag = tag
        self.prevtag = prevtag
        self.command = command
        self.match = match

    def subst(self, text):
        def one(m):
            name = m.group(1)
            if name == "tag":
                return self.tag or ""
            if name == "prevtag":
                return self.prevtag or ""
            if re.fullmatch(r"g[1-9]", name) and self.match is not None:
                try:
                    return self.match.group(int(name[1:])) or ""
                except IndexError:
                    return m.group(0)
            return m.group(0)
        # Only these names: "{123}" is a literal's size, left alone.
        return re.sub(r"\{(tag|prevtag|g[1-9])\}", one, text)


# ---------------------------------------------------------------- POP3


class Pop3:
    """A correct POP3 server for the served messages (RFC 1939, 2449)."""

    def __init__(self, server, messages, run, tls_mode):
        self.server = server
        self.messages = messages          # served, in order: msgno = i + 1
        self.pending_dele = set()
        self.run = run
        self.tls_mode = tls_mode
        self.authed = False

    def greeting(self, session):
        session.queue(b"+OK fake POP3 server ready\r\n")

    def capa_lines(self, session):
        lines = self.run.all("capa")
        if not lines:
            lines = ["UIDL", "USER", "TOP", "PIPELINING", "RESP-CODES"]
            if self.tls_mode == "starttls" and not session.tls:
                lines.append("STLS")
        return lines

    def msg(self, number):
        if 1 <= number <= len(self.messages) and number not in self.pending_dele:
            return self.messages[number - 1]
        return None

    def size(self, msg):
        return msg.claimed_size if msg.claimed_size is not None else len(msg.body)

    def send_ok(self, session, ctx, text):
        session.queue(b"+OK" + (b" " + fakecase.unescape(text) if text else b"") + b"\r\n")

    def send_retr(self, session, number):
        msg = self.msg(number)
        if msg is None:
            session.queue(b"-ERR no such message\r\n")
            return
        session.queue(b"+OK %d octets\r\n" % self.size(msg))
        session.queue(dot_stuff(msg.body) + b".\r\n")

    def send_fetch(self, session, uid, with_uid):
        raise Closed("fetch is an IMAP action")

    def fake_expunge(self, session, uid):
        raise Closed("expunge is an IMAP action")

    def commit(self, session):
        done = [self.messages[n - 1].index for n in sorted(self.pending_dele)]
        self.server.commit_deletions(done)
        self.pending_dele.clear()

    def handle(self, session, ctx):
        words = ctx.command.split()
        verb = words[0].upper() if words else ""
        arg = words[1] if len(words) > 1 else None
        q = session.queue
        if verb == "CAPA":
            q(b"+OK capability list follows\r\n")
            for line in self.capa_lines(session):
                q(fakecase.unescape(line) + b"\r\n")
            q(b".\r\n")
        elif verb == "STLS":
            q(b"+OK begin TLS negotiation\r\n")
            session.start_tls()
        elif verb in ("USER", "APOP"):
            q(b"+OK\r\n" if verb == "USER" else b"+OK logged in\r\n")
            self.authed = verb == "APOP"
        elif verb == "PASS":
            self.authed = True
            q(b"+OK logged in\r\n")
        elif verb == "AUTH":
            if len(words) == 2:
                q(b"+ \r\n")
                session.flush()
                session.read_line()
            self.authed = True
            q(b"+OK logged in\r\n")
        elif verb == "STAT":
            live = [m for i, m in enumerate(self.messages, 1) if self.msg(i)]
            q(b"+OK %d %d\r\n" % (len(live), sum(self.size(m) for m in live)))
        elif verb in ("LIST", "UIDL"):
            self.listing(session, verb, arg)
        elif verb in ("RETR", "TOP"):
            if arg is None or not arg.isdigit():
                q(b"-ERR bad message number\r\n")
            else:
                self.send_retr(session, int(arg))
        elif verb == "DELE":
            if arg is None or not arg.isdigit() or self.msg(int(arg)) is None:
                q(b"-ERR no such message\r\n")
            else:
                self.pending_dele.add(int(arg))
                q(b"+OK marked\r\n")
        elif verb == "RSET":
            self.pending_dele.clear()
            q(b"+OK\r\n")
        elif verb == "NOOP":
            q(b"+OK\r\n")
        elif verb == "QUIT":
            self.commit(session)
            q(b"+OK bye\r\n")
            session.flush()
            raise Closed("QUIT")
        else:
            q(b"-ERR unknown command\r\n")

    def listing(self, session, verb, arg):
        q = session.queue

        def entry(number, msg):
            if verb == "LIST":
                return b"%d %d" % (number, self.size(msg))
            return b"%d %s" % (number, msg.uidl.encode("latin-1"))
        if arg is not None:
            msg = self.msg(int(arg)) if arg.isdigit() else None
            if msg is None:
                q(b"-ERR no such message\r\n")
            else:
                q(b"+OK " + entry(int(arg), msg) + b"\r\n")
            return
        q(b"+OK\r\n")
        for number in range(1, len(self.messages) + 1):
            msg = self.msg(number)
            if msg is not None:
                q(entry(number, msg) + b"\r\n")
        q(b".\r\n")


def dot_stuff(body):
    """A POP3 multi-line body: a "." starting any line is doubled."""
    out = bytearray()
    start_of_line = True
    for i in range(len(body)):
        c = body[i:i + 1]
        if start_of_line and c == b".":
            out += b"."
        out += c
        start_of_line = c == b"\n"
    if not body.endswith(b"\n"):
        out += b"\r\n"
    return bytes(out)


# ---------------------------------------------------------------- IMAP


class ImapFolder:
    def __init__(self, name, messages, uidvalidity, uidnext):
        self.name = name
        self.messages = messages          # served, sorted by uid
        self.uidvalidity = uidvalidity
        self.uidnext = uidnext
        self.marked = set()               # UIDs flagged \Deleted


class Imap:
    """Enough of a correct IMAP4rev1 server to serve the case's folders."""

    def __init__(self, server, messages, run, tls_mode):
        self.server = server
        self.run = run
        self.tls_mode = tls_mode
        self.folders = {}
        names = ["INBOX"] + [fakecase.unescape(n).decode("latin-1")
                             for n in run.all("folder")]
        for name in names:
            self.folders.setdefault(name, None)
        by_folder = {}
        for msg in messages:
            by_folder.setdefault(msg.folder, []).append(msg)
            self.folders.setdefault(msg.folder, None)
        for name in self.folders:
            msgs = sorted(by_folder.get(name, []), key=lambda m: m.uid)
            highest = max([m.uid for m in msgs], default=0)
            uidvalidity = int(run.get("uidvalidity") or 1000) if name == "INBOX" else 2000
            uidnext = int(run.get("uidnext") or highest + 1) if name == "INBOX" else highest + 1
            self.folders[name] = ImapFolder(name, msgs, uidvalidity, uidnext)
        self.selected = None

    # capabilities

    def capabilities(self, session, after_login):
        words = self.run.all("capa")
        if words:
            return " ".join(words)
        caps = ["IMAP4rev1", "LITERAL+", "UIDPLUS", "ID"]
        if self.tls_mode == "starttls" and not session.tls:
            caps.append("STARTTLS")
        if not after_login:
            caps.append("AUTH=PLAIN")
        return " ".join(caps)

    def greeting(self, session):
        session.queue(b"* OK [CAPABILITY %s] fake IMAP server ready\r\n"
                      % self.capabilities(session, False).encode())

    def send_ok(self, session, ctx, text):
        session.queue(b"%s OK %s\r\n" % ((ctx.tag or "*").encode("latin-1"),
                                         fakecase.unescape(text or "done")))

    def send_retr(self, session, number):
        raise Closed("retr is a POP3 action")

    def commit(self, session):
        folder = self.selected
        if folder is None:
            return
        self.expunge(session, folder, set(folder.marked))

    def expunge(self, session, folder, uids):
        gone = []
        for uid in sorted(uids, reverse=True):
            for seq, msg in enumerate(folder.messages, 1):
                if msg.uid == uid:
                    session.queue(b"* %d EXPUNGE\r\n" % seq)
                    folder.messages.pop(seq - 1)
                    gone.append(msg.index)
                    break
        folder.marked -= set(uids)
        self.server.commit_deletions(gone)

    def send_fetch(self, session, uid, with_uid):
        """The untagged FETCH of one body, by UID (with_uid) or by its
        sequence number alone."""
        folder = self.selected or self.folders["INBOX"]
        for seq, msg in enumerate(folder.messages, 1):
            if msg.uid == uid:
                head = b"* %d FETCH (" % seq
                if with_uid:
                    head += b"UID %d " % uid
                session.queue(head + b"BODY[] {%d}\r\n" % len(msg.body)
                              + msg.body + b")\r\n")
                return
        raise Closed("fetch %d: no such UID in the case" % uid)

    def fake_expunge(self, session, uid):
        """An EXPUNGE this session sees; the message stays in the mailbox
        for the next run (another client's expunge that was undone)."""
        folder = self.selected or self.folders["INBOX"]
        for seq, msg in enumerate(folder.messages, 1):
            if msg.uid == uid:
                session.queue(b"* %d EXPUNGE\r\n" % seq)
                folder.messages.pop(seq - 1)
                return
        raise Closed("expunge %d: no such UID in the case" % uid)

    # commands

    def handle(self, session, ctx):
        tag = (ctx.tag or "*").encode("latin-1")
        words = ctx.command.split(" ")
        verb = words[0].upper() if words else ""
        q = session.queue
        if verb == "UID" and len(words) > 1:
            self.uid_command(session, tag, words[1].upper(), " ".join(words[2:]))
        elif verb == "CAPABILITY":
            q(b"* CAPABILITY %s\r\n" % self.capabilities(session, True).encode())
            q(tag + b" OK done\r\n")
        elif verb == "STARTTLS":
            q(tag + b" OK begin TLS negotiation\r\n")
            session.start_tls()
        elif verb == "LOGIN":
            q(tag + b" OK [CAPABILITY %s] logged in\r\n"
              % self.capabilities(session, True).encode())
        elif verb == "AUTHENTICATE":
            if len(words) == 2:
                q(b"+ \r\n")
                session.flush()
                session.read_line()
            q(tag + b" OK [CAPABILITY %s] logged in\r\n"
              % self.capabilities(session, True).encode())
        elif verb == "ENABLE":
            offered = self.capabilities(session, True).upper().split()
            enabled = [w for w in words[1:] if w.upper() in offered]
            if enabled:
                q(b"* ENABLED %s\r\n" % " ".join(enabled).encode("latin-1"))
            q(tag + b" OK enabled\r\n")
        elif verb == "NAMESPACE":
            q(b'* NAMESPACE (("" "/")) NIL NIL\r\n' + tag + b" OK done\r\n")
        elif verb in ("LIST", "LSUB"):
            self.list(session, tag, ctx.command)
        elif verb in ("SELECT", "EXAMINE"):
            self.select(session, tag, verb, ctx.command)
        elif verb == "FETCH":
            self.fetch(session, tag, " ".join(words[1:]), by_uid=False)
        elif verb == "EXPUNGE":
            if self.selected:
                self.expunge(session, self.selected, set(self.selected.marked))
            q(tag + b" OK expunged\r\n")
        elif verb in ("NOOP", "CHECK", "CLOSE", "UNSELECT", "ID"):
            q(tag + b" OK done\r\n")
        elif verb == "LOGOUT":
            q(b"* BYE logging out\r\n" + tag + b" OK done\r\n")
            session.flush()
            raise Closed("LOGOUT")
        else:
            q(tag + b" BAD unknown command\r\n")

    def list(self, session, tag, command):
        m = re.match(r'\S+ "(?:[^"\\]|\\.)*" (?:"((?:[^"\\]|\\.)*)"|(\S+))', command)
        pattern = (m.group(1) if m.group(1) is not None else m.group(2)) if m else "*"
        pattern = re.sub(r'\\(.)', r"\1", pattern)
        rx = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c)
                     for c in pattern)
        for name in self.folders:
            folded = "INBOX" if name.upper() == "INBOX" else name
            target = "INBOX" if pattern.upper() == "INBOX" else None
            if (target and folded == target) or re.fullmatch(rx, name, re.S):
                session.queue(b'* LIST (\\HasNoChildren) "/" ' + imap_string(name) + b"\r\n")
        session.queue(tag + b" OK done\r\n")

    def select(self, session, tag, verb, command):
        m = re.match(r'\S+ (?:"((?:[^"\\]|\\.)*)"|(\S+))', command)
        name = ""
        if m:
            name = m.group(1) if m.group(1) is not None else m.group(2)
            name = re.sub(r'\\(.)', r"\1", name)
        if name.upper() == "INBOX":
            name = "INBOX"
        folder = self.folders.get(name)
        if folder is None:
            session.queue(tag + b" NO no such mailbox\r\n")
            self.selected = None
            return
        self.selected = folder
        q = session.queue
        q(b"* %d EXISTS\r\n* 0 RECENT\r\n" % len(folder.messages))
        q(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n")
        q(b"* OK [UIDVALIDITY %d] UIDs valid\r\n" % folder.uidvalidity)
        q(b"* OK [UIDNEXT %d] predicted next UID\r\n" % folder.uidnext)
        read_only = verb == "EXAMINE" or self.run.get("select") == "read-only"
        mode = b"READ-ONLY" if read_only else b"READ-WRITE"
        self.read_only = read_only
        q(tag + b" OK [" + mode + b"] selected\r\n")

    def uid_command(self, session, tag, verb, rest):
        q = session.queue
        if verb == "FETCH":
            self.fetch(session, tag, rest, by_uid=True)
        elif verb == "STORE" and getattr(self, "read_only", False):
            q(tag + b" NO [READ-ONLY] the mailbox is read-only\r\n")
        elif verb == "STORE":
            words = rest.split(" ", 1)
            if self.selected and len(words) == 2 and "\\DELETED" in words[1].upper():
                uids = parse_set(words[0], [m.uid for m in self.selected.messages])
                if "-FLAGS" not in words[1].upper():
                    self.selected.marked |= uids
            q(tag + b" OK stored\r\n")
        elif verb == "EXPUNGE":
            if self.selected:
                uids = parse_set(rest.strip(), [m.uid for m in self.selected.messages])
                self.expunge(session, self.selected, uids & self.selected.marked)
            q(tag + b" OK expunged\r\n")
        else:
            q(tag + b" BAD unknown UID command\r\n")

    def fetch(self, session, tag, rest, by_uid):
        q = session.queue
        folder = self.selected
        m = re.match(r"(\S+) \((.*?)\)", rest)
        if folder is None or not m:
            q(tag + b" BAD fetch what?\r\n")
            return
        items = m.group(2).upper().split()
        keys = [msg.uid for msg in folder.messages] if by_uid else \
            list(range(1, len(folder.messages) + 1))
        wanted = parse_set(m.group(1), keys)
        for seq, msg in enumerate(folder.messages, 1):
            if (msg.uid if by_uid else seq) not in wanted:
                continue
            q(b"* %d FETCH (" % seq + fetch_items(msg, items, by_uid) + b")\r\n")
        q(tag + b" OK fetched\r\n")


def fetch_items(msg, items, by_uid):
    parts = []
    if by_uid and "UID" not in items:
        parts.append(b"UID %d" % msg.uid)
    size = msg.claimed_size if msg.claimed_size is not None else len(msg.body)
    for item in items:
        if item == "UID":
            parts.append(b"UID %d" % msg.uid)
        elif item == "FLAGS":
            parts.append(b"FLAGS (%s)" % msg.flags.encode("latin-1"))
        elif item == "INTERNALDATE":
            parts.append(b'INTERNALDATE "01-Jan-2024 12:00:00 +0000"')
        elif item == "RFC822.SIZE":
            parts.append(b"RFC822.SIZE %d" % size)
        elif item in ("BODY.PEEK[]", "BODY[]", "RFC822"):
            parts.append(b"BODY[] {%d}\r\n" % len(msg.body) + msg.body)
    return b" ".join(parts)


def parse_set(text, keys):
    """An IMAP sequence set over keys (sorted UIDs or sequence numbers):
    "*" is the highest; a:b is min..max of the two."""
    highest = max(keys, default=0)
    out = set()
    for part in text.split(","):
        ends = part.split(":")
        try:
            nums = [highest if e == "*" else int(e) for e in ends]
        except ValueError:
            continue
        low, high = min(nums), max(nums)
        out |= {k for k in keys if low <= k <= high}
    return out


def imap_string(name):
    raw = name.encode("latin-1")
    if any(b in raw for b in b"\r\n\0") or any(b > 0x7e for b in raw):
        return b"{%d}\r\n" % len(raw) + raw
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


# ---------------------------------------------------------------- server


class Server:
    def __init__(self, args):
        self.args = args
        self.case = fakecase.parse_case(args.case)
        self.run = self.case.run(args.run)
        self.deadline = time.monotonic() + args.limit
        self.mailbox = MailboxState(args.mailbox_state)
        self.report = Report(args.report)
        self._tls = None
        serve = self.run.get("serve")
        all_msgs = self.case.messages(self.run)
        wanted = set(fakecase.parse_index_list(serve, len(all_msgs))) if serve else None
        messages = [m for m in all_msgs
                    if m.index not in self.mailbox.deleted
                    and (wanted is None or m.index in wanted)]
        kind = Pop3 if self.case.protocol == "pop3" else Imap
        self.personality = kind(self, messages, self.run, self.case.tls)

    def tls_context(self):
        if self._tls is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            name = self.run.get("cert", "server")
            ctx.load_cert_chain(os.path.join(self.args.tls_dir, name + ".pem"),
                                os.path.join(self.args.tls_dir, name + ".key"))
            self._tls = ctx
        return self._tls

    def commit_deletions(self, indexes):
        self.mailbox.delete(indexes)
        self.report.data["deleted"] = sorted(set(self.report.data["deleted"]) | set(indexes))
        self.report.write()

    def command_parts(self, line):
        text = line.decode("latin-1")
        if self.case.protocol == "imap":
            tag, _, command = text.partition(" ")
            return tag, command
        return None, text

    def serve(self, sock):
        self.report.data["connections"] += 1
        session = Session(self, sock)
        try:
            if self.case.tls == "implicit" and self.run.get("handshake") != "manual":
                session.start_tls()
            if self.run.greeting is not None:
                session.run_actions(self.run.greeting, Context("", None, ""))
            else:
                self.personality.greeting(session)
            prevtag = None
            while True:
                line = session.read_line()
                tag, command = self.command_parts(line)
                self.report.data["commands"].append(command)
                self.report.write()
                ctx = Context(line, tag, command, prevtag=prevtag)
                prevtag = tag
                for rule in self.run.rules:
                    m = rule.applies(command)
                    if m:
                        ctx.match = m
                        session.run_actions(rule.actions, ctx)
                        break
                else:
                    self.personality.handle(session, ctx)
                    session.flush()
        except Closed as e:
            self.report.note(str(e))
        finally:
            try:
                session.sock.close()
            except OSError:
                pass
            self.report.write()

    def main(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        tmp = self.args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % listener.getsockname()[1])
        os.replace(tmp, self.args.port_file)
        self.report.write()
        try:
            while True:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise Stop()
                ready, _, _ = select.select([listener], [], [], min(left, 0.5))
                if not ready:
                    continue
                sock, _ = listener.accept()
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.serve(sock)
        except Stop:
            self.report.note("stopped")
        finally:
            listener.close()
            self.report.write()


def on_signal(signum, frame):
    raise Stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", required=True)
    parser.add_argument("--run", choices=("before", "first", "healthy"), default="first")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--report")
    parser.add_argument("--mailbox-state")
    parser.add_argument("--tls-dir", help="holds NAME.pem and NAME.key for the "
                        "case's cert (server, wrong-host, self-signed)")
    parser.add_argument("--limit", type=float, default=30.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        Server(args).main()
    except fakecase.CaseError as e:
        sys.exit("fakeserver: %s" % e)
    except Stop:
        pass


if __name__ == "__main__":
    main()
