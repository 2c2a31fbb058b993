"""modelserver.py - the fake server in process, with the model's faults.

The server's mailboxes live in a World that outlasts the runs of one
scenario.  For each yubin run a ModelServer listens on 127.0.0.1 (a port
the kernel picks) in a thread of the runner's own process and answers
with tests/fake/fakeserver.py's POP3 or IMAP personality, bent by the
faults of that run.  A new python process per run would cost more than
the yubin run itself.  Stdlib only.
"""

import os
import re
import socket
import sys
import threading
import time

FAKE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fake")
sys.dont_write_bytecode = True
sys.path.insert(0, FAKE_DIR)
import fakecase  # noqa: E402
import fakeserver  # noqa: E402
from flagmodel import IMAP_NAME, LETTER_OF  # noqa: E402


class World:
    """What the server holds across the runs of one scenario: per message
    its folder, UID and UIDL; per IMAP folder its UIDVALIDITY and next UID."""

    def __init__(self, sc):
        self.protocol = sc["protocol"]
        self.bodies = {m["id"]: m["body"].encode("latin-1") for m in sc["messages"]}
        self.folder_of = {m["id"]: m["folder"] for m in sc["messages"]}
        self.folders = {name: {"uidvalidity": 1000 + i, "next_uid": 1}
                        for i, name in enumerate(sc["folders"])}
        self.present = []                 # ids on the server, in arrival order
        self.uid = {}
        # Flags as letters (flagmodel.LETTERS), each message's MODSEQ and
        # each folder's HIGHESTMODSEQ (RFC 7162), offered with CONDSTORE.
        self.condstore = bool(sc.get("condstore"))
        self.flags = {m["id"]: set(m.get("flags", "")) for m in sc["messages"]}
        self.modseq = {}
        self.highest = {name: 1 for name in self.folders}
        self.counter = 1
        for m in sc["messages"]:
            if not m.get("later"):
                self.add(m["id"])

    def add(self, mid):
        if mid in self.present or mid not in self.bodies:
            return
        folder = self.folders.setdefault(self.folder_of[mid],
                                         {"uidvalidity": 3000, "next_uid": 1})
        self.uid[mid] = folder["next_uid"]
        folder["next_uid"] += 1
        self.present.append(mid)
        self.bump(mid)

    def bump(self, mid):
        self.counter += 1
        self.modseq[mid] = self.counter
        self.highest[self.folder_of[mid]] = self.counter

    def set_flag(self, mid, letter, on):
        """Another client (or a STORE) sets one flag; a change costs a
        MODSEQ.  True if it changed."""
        flags = self.flags[mid]
        if (letter in flags) == on:
            return False
        if on:
            flags.add(letter)
        else:
            flags.discard(letter)
        self.bump(mid)
        return True

    def flag_names(self, mid):
        return " ".join(IMAP_NAME[c] for c in sorted(self.flags[mid]))

    def remove(self, mid):
        if mid in self.present:
            self.present.remove(mid)
            self.bump(mid)

    def new_uidvalidity(self, name):
        """The folder is rebuilt: a new UIDVALIDITY, the same messages
        under new UIDs (in a new order, as after a restore)."""
        folder = self.folders.get(name)
        if folder is None:
            return
        folder["uidvalidity"] += 7
        folder["next_uid"] += 10
        ids = [m for m in self.present if self.folder_of[m] == name]
        for mid in reversed(ids):
            self.uid[mid] = folder["next_uid"]
            folder["next_uid"] += 1

    def message(self, mid):
        msg = fakecase.Message(mid, self.bodies[mid],
                               {"uidl": "u%d" % mid, "uid": str(self.uid[mid])})
        msg.folder = self.folder_of[mid]
        msg.flags = self.flag_names(mid)
        return msg

    def messages(self):
        return [self.message(m) for m in self.present]


class Report:
    """What fakeserver's Session expects of a report; kept in memory."""

    def __init__(self):
        self.data = {"connections": 0, "commands": [], "tls": False,
                     "deleted": [], "notes": []}

    def note(self, text):
        self.data["notes"].append(text)

    def write(self):
        pass


class StubRun:
    """The keys fakeserver's personalities read from a case's run."""

    def get(self, key, default=None):
        return default

    def all(self, key):
        return []


class ModelPop3(fakeserver.Pop3):
    def __init__(self, server, messages):
        super().__init__(server, messages, StubRun(), "none")
        self.faults = server.faults

    def listing(self, session, verb, arg):
        """A lying listing: UIDL and LIST both lack the omitted messages
        (a server that hides them), or UIDL gives every message a new UIDL."""
        lies = [f for f in self.faults if f["kind"] in
                ("uidl-omit", "uidl-empty", "uidl-renumber", "uidl-extra")]
        if arg is not None or not lies:
            return super().listing(session, verb, arg)
        hidden, renumber, ghosts = set(), False, 0
        for f in lies:
            self.server.fired(f)
            if f["kind"] == "uidl-extra":
                ghosts += 1
            elif f["kind"] == "uidl-omit":
                hidden |= set(f["ids"])
            elif f["kind"] == "uidl-empty":
                hidden |= {m.index for m in self.messages}
            else:
                renumber = True
        session.queue(b"+OK\r\n")
        for number, msg in enumerate(self.messages, 1):
            if self.msg(number) is None or msg.index in hidden:
                continue
            if verb == "LIST":
                session.queue(b"%d %d\r\n" % (number, self.size(msg)))
            else:
                uidl = ("r%d" % msg.index) if renumber else msg.uidl
                session.queue(b"%d %s\r\n" % (number, uidl.encode()))
        # Names of messages the server does not have (RETR says -ERR).
        for ghost in range(len(self.messages) + 1, len(self.messages) + 1 + ghosts):
            session.queue(b"%d %s\r\n" % (ghost, b"100" if verb == "LIST" else b"ghost%d" % ghost))
        session.queue(b".\r\n")

    def send_retr(self, session, number):
        msg = self.msg(number)
        lie = msg and next((f for f in self.faults if f["kind"] == "no-final-crlf"
                            and f["id"] == msg.index), None)
        if not lie or msg.body.endswith(b"\n"):
            return super().send_retr(session, number)
        self.server.fired(lie)
        session.queue(b"+OK %d octets\r\n" % self.size(msg))
        session.queue(fakeserver.dot_stuff(msg.body)[:-2] + b".\r\n")


class ModelImap(fakeserver.Imap):
    def __init__(self, server, messages, world):
        super().__init__(server, [], StubRun(), "none")
        self.faults = server.faults
        self.folders = {}
        for name, info in world.folders.items():
            msgs = sorted((m for m in messages if m.folder == name), key=lambda m: m.uid)
            self.folders[name] = fakeserver.ImapFolder(
                name, msgs, info["uidvalidity"], info["next_uid"])

    def list(self, session, tag, command):
        start = len(session.outbuf)
        super().list(session, tag, command)
        reply = bytes(session.outbuf[start:])
        m = re.match(r'\S+ "(?:[^"\\]|\\.)*" "?([^"]*)"?$', command)
        pattern = m.group(1) if m else "*"
        for f in self.faults:
            if f["kind"] == "inbox-spelling" and b' "INBOX"\r\n' in reply:
                self.server.fired(f)
                reply = reply.replace(b' "INBOX"\r\n', b' "%s"\r\n' % f["as"].encode())
            if f["kind"] == "list-extra" and not re.search(r"[*%]", pattern):
                self.server.fired(f)
                head, _, tail = reply.rpartition(tag + b" OK")
                extra = b"".join(b'* LIST (\\HasNoChildren) "/" '
                                 + fakeserver.imap_string(n) + b"\r\n" for n in f["names"])
                reply = head + extra + tag + b" OK" + tail
        del session.outbuf[start:]
        session.queue(reply)

    def select_plain(self, session, tag, verb, command):
        m = re.match(r'\S+ (?:"((?:[^"\\]|\\.)*)"|(\S+))', command)
        name = ""
        if m:
            name = re.sub(r'\\(.)', r"\1", m.group(1) if m.group(1) is not None else m.group(2))
        for f in self.faults:
            if f["kind"] == "examine-no" and (
                    name == f["folder"] or name.upper() == "INBOX" == f["folder"].upper()):
                self.server.fired(f)
                self.selected = None
                session.queue(tag + b" NO [NOPERM] permission denied\r\n")
                return
        super().select(session, tag, verb, command)

    def handle(self, session, ctx):
        """As fakeserver's, but CLOSE expunges (RFC 3501: silently)."""
        if ctx.command.upper().startswith("CLOSE") and self.selected is not None:
            start = len(session.outbuf)
            self.expunge(session, self.selected, set(self.selected.marked))
            del session.outbuf[start:]
        super().handle(session, ctx)

    def capabilities(self, session, after_login):
        caps = super().capabilities(session, after_login)
        return caps + " CONDSTORE" if self.server.world.condstore else caps

    def select(self, session, tag, verb, command):
        """As fakeserver's, with HIGHESTMODSEQ when CONDSTORE is offered."""
        start = len(session.outbuf)
        self.select_plain(session, tag, verb, command)
        if self.selected is None or not self.server.world.condstore:
            return
        reply = bytes(session.outbuf[start:])
        head, _, tail = reply.rpartition(tag + b" OK")
        highest = self.server.world.highest.get(self.selected.name, 1)
        del session.outbuf[start:]
        session.queue(head + b"* OK [HIGHESTMODSEQ %d] modseqs valid\r\n" % highest
                      + tag + b" OK" + tail)

    def fetch(self, session, tag, rest, by_uid):
        """FETCH with live flags, MODSEQ and (CHANGEDSINCE n) (RFC 7162)."""
        world = self.server.world
        folder = self.selected
        m = re.match(r"(\S+) \(([^()]*)\)(?: \(CHANGEDSINCE (\d+)\))?\s*$", rest, re.I)
        if folder is None or not m:
            session.queue(tag + b" BAD fetch what?\r\n")
            return
        items = m.group(2).upper().split()
        since = int(m.group(3)) if m.group(3) else None
        modseq = world.condstore and ("MODSEQ" in items or since is not None)
        items = [i for i in items if i != "MODSEQ"]
        keys = [msg.uid for msg in folder.messages] if by_uid else \
            list(range(1, len(folder.messages) + 1))
        wanted = fakeserver.parse_set(m.group(1), keys)
        for seq, msg in enumerate(folder.messages, 1):
            if (msg.uid if by_uid else seq) not in wanted:
                continue
            if since is not None and world.modseq.get(msg.index, 0) <= since:
                continue
            msg.flags = world.flag_names(msg.index)
            data = fakeserver.fetch_items(msg, items, by_uid)
            if modseq:
                data += b" MODSEQ (%d)" % world.modseq.get(msg.index, 1)
            session.queue(b"* %d FETCH (" % seq + data + b")\r\n")
        session.queue(tag + b" OK fetched\r\n")

    def flag_store(self, session, tag, rest):
        """UID STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] (...) of
        \\Seen \\Answered \\Flagged \\Draft, on a UID set: each message
        changed since n is left alone and named in [MODIFIED set]."""
        m = re.match(r"(\S+) (?:\(UNCHANGEDSINCE (\d+)\) )?([+-]?)FLAGS(\.SILENT)? "
                     r"\(([^()]*)\)\s*$", rest, re.I)
        if self.selected is None or not m:
            session.queue(tag + b" BAD store what?\r\n")
            return
        if getattr(self, "read_only", False):
            session.queue(tag + b" NO [READ-ONLY] the mailbox is read-only\r\n")
            return
        world = self.server.world
        self.server.flag_stores += 1
        number = self.server.flag_stores
        uids = sorted(fakeserver.parse_set(m.group(1), [x.uid for x in self.selected.messages]))
        for f in self.faults:
            if f["kind"] == "flag-race" and not f.get("fired"):
                self.race(f, uids)
            if f["kind"] == "store-no" and f["at"] == number:
                self.server.fired(f)
                session.queue(tag + b" NO [SERVERBUG] cannot store flags now\r\n")
                return
        drop = next((f for f in self.faults
                     if f["kind"] == "store-drop" and f["at"] == number), None)
        since = int(m.group(2)) if m.group(2) else None
        sign, silent = m.group(3), bool(m.group(4))
        letters = {LETTER_OF[n.upper()] for n in m.group(5).split() if n.upper() in LETTER_OF}
        if drop:
            uids = uids[:int(len(uids) * drop["part"])]
        modified = []
        for seq, msg in enumerate(self.selected.messages, 1):
            if msg.uid not in uids:
                continue
            if since is not None and world.modseq.get(msg.index, 0) > since:
                modified.append(msg.uid)
                continue
            for c in IMAP_NAME:
                on = c in letters if sign == "" else (sign == "+") if c in letters else None
                if on is not None:
                    world.set_flag(msg.index, c, on)
            self.store_answer(session, seq, msg, silent)
        if drop:
            self.server.fired(drop)
            session.close_gracefully()
            raise fakeserver.Closed("dropped in a STORE")
        if modified:
            self.server.flag_modified += 1
            session.queue(tag + b" OK [MODIFIED %s] conditional STORE failed\r\n"
                          % ",".join(map(str, modified)).encode())
        else:
            session.queue(tag + b" OK stored\r\n")

    def race(self, f, uids):
        """Another client flips a flag between yubin's flag listing and
        its STORE: of message f["id"], or ("stored") of the first message
        this STORE names.  f["pre"]: the flag before, for the oracle."""
        world = self.server.world
        mid = f["id"]
        if mid == "stored":
            mid = next((x.index for x in self.selected.messages if uids and x.uid == uids[0]),
                       None)
        if mid not in world.present:
            return
        self.server.fired(f)
        f["mid"] = mid
        f["pre"] = f["letter"] in world.flags[mid]
        world.set_flag(mid, f["letter"], not f["pre"])

    def store_answer(self, session, seq, msg, silent):
        """The untagged FETCH of a STORE: with CONDSTORE even .SILENT
        ones say the new MODSEQ (RFC 7162 3.2)."""
        world = self.server.world
        parts = [b"UID %d" % msg.uid]
        if not silent:
            parts.append(b"FLAGS (%s)" % world.flag_names(msg.index).encode())
        if world.condstore:
            parts.append(b"MODSEQ (%d)" % world.modseq.get(msg.index, 1))
        if len(parts) > 1:
            session.queue(b"* %d FETCH (%s)\r\n" % (seq, b" ".join(parts)))

    def uid_command(self, session, tag, verb, rest):
        """A message flagged \\Deleted is as good as gone: another client
        may expunge it at any time, so the oracle checks it as a deletion."""
        words = rest.split(" ", 1)
        if verb == "STORE" and "\\DELETED" not in rest.upper():
            self.flag_store(session, tag, rest)
            return
        if verb == "STORE" and self.selected and len(words) == 2 \
                and "\\DELETED" in words[1].upper() and "-FLAGS" not in words[1].upper():
            uids = fakeserver.parse_set(words[0], [m.uid for m in self.selected.messages])
            ids = [m.index for m in self.selected.messages if m.uid in uids]
            if ids:
                self.server.on_delete(ids, False)
        super().uid_command(session, tag, verb, rest)

    def event_expunge(self, session, mid):
        """Another client expunged message mid."""
        folder = self.selected
        if folder is None:
            return
        for seq, msg in enumerate(folder.messages, 1):
            if msg.index == mid:
                folder.messages.pop(seq - 1)
                session.queue(b"* %d EXPUNGE\r\n" % seq)
                return

    def event_exists(self, session, msg):
        folder = self.folders.get(msg.folder)
        if folder is None:
            return
        folder.messages.append(msg)
        folder.uidnext = max(folder.uidnext, msg.uid + 1)
        if folder is self.selected:
            session.queue(b"* %d EXISTS\r\n" % len(folder.messages))


class ModelServer:
    """One run's server: listens on 127.0.0.1 and serves in a thread.

    faults: this run's fault events.  on_kill(): called when a sigkill
    fault fires.  on_delete(ids, final): called before the server deletes
    messages for good (final: POP3 QUIT, IMAP EXPUNGE) or flags them
    \\Deleted: the oracle checks there that they are in the sink."""

    def __init__(self, world, faults, on_kill, on_delete, limit):
        self.world = world
        self.faults = faults
        self.on_kill = on_kill
        self.on_delete = on_delete
        self.deadline = time.monotonic() + limit
        self.report = Report()
        self.commands = 0
        self.flag_stores = 0              # UID STOREs of flags, this run
        self.flag_modified = 0            # ... answered [MODIFIED]
        self.fired_kinds = set()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def fired(self, fault):
        self.fired_kinds.add(fault["kind"])
        fault["fired"] = True

    def tls_context(self):
        raise fakeserver.Closed("the model serves plain TCP only")

    def commit_deletions(self, indexes):
        if not indexes:
            return
        self.on_delete(list(indexes), True)
        for mid in indexes:
            self.world.remove(mid)
        self.report.data["deleted"] += list(indexes)

    def personality(self):
        msgs = self.world.messages()
        if self.world.protocol == "pop3":
            return ModelPop3(self, msgs)
        return ModelImap(self, msgs, self.world)

    def accept_loop(self):
        while not self.stopping and time.monotonic() < self.deadline:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.serve(sock)

    def serve(self, sock):
        self.report.data["connections"] += 1
        self.personality_now = self.personality()
        session = fakeserver.Session(self, sock)
        try:
            self.personality_now.greeting(session)
            while True:
                line = session.read_line()
                self.commands += 1
                self.report.data["commands"].append(line.decode("latin-1"))
                self.answer(session, line)
        except (fakeserver.Closed, fakeserver.Stop) as e:
            self.report.note(str(e))
        finally:
            try:
                session.sock.close()
            except OSError:
                pass

    def answer(self, session, line):
        text = line.decode("latin-1")
        tag, command = (None, text)
        if self.world.protocol == "imap":
            tag, _, command = text.partition(" ")
        ctx = fakeserver.Context(line, tag, command)
        pers = self.personality_now
        for f in self.faults:
            if f.get("at") != self.commands:
                continue
            kind = f["kind"]
            if kind == "sigkill":
                self.fired(f)
                f["cmd"] = command
                self.on_kill()
                raise fakeserver.Closed("killed yubin")
            if kind == "drop":
                self.fired(f)
                f["cmd"] = command
                session.close_gracefully()
                raise fakeserver.Closed("dropped")
            if kind == "expunge-between" and self.world.protocol == "imap" \
                    and f["id"] in self.world.present:
                self.fired(f)
                self.world.remove(f["id"])
                pers.event_expunge(session, f["id"])
            if kind == "exists-between" and self.world.protocol == "imap" \
                    and f["id"] not in self.world.present:
                self.fired(f)
                self.world.add(f["id"])
                pers.event_exists(session, self.world.message(f["id"]))
        cut = next((f for f in self.faults
                    if f["kind"] == "cut" and f.get("at") == self.commands), None)
        for f in self.faults:
            if f["kind"] == "size-lie":
                for msg in self.all_messages(pers):
                    if msg.index == f["id"]:
                        self.fired(f)
                        msg.claimed_size = f["size"]
        pers.handle(session, ctx)
        if cut:
            self.fired(cut)
            cut["cmd"] = command
            keep = int(len(session.outbuf) * cut["part"])
            del session.outbuf[keep:]
            session.close_gracefully()
            raise fakeserver.Closed("cut")
        session.flush()

    def all_messages(self, pers):
        if isinstance(pers, ModelPop3):
            return pers.messages
        return [m for folder in pers.folders.values() for m in folder.messages]

    def stop(self):
        """Stop accepting; wait for the session in course (yubin is gone,
        so it ends at once)."""
        self.stopping = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)   # wakes accept()
        except OSError:
            pass
        self.thread.join(10)
        self.listener.close()
