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

    def remove(self, mid):
        if mid in self.present:
            self.present.remove(mid)

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

    def select(self, session, tag, verb, command):
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

    def uid_command(self, session, tag, verb, rest):
        """A message flagged \\Deleted is as good as gone: another client
        may expunge it at any time, so the oracle checks it as a deletion."""
        words = rest.split(" ", 1)
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
