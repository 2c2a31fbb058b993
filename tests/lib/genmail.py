#!/usr/bin/env python3
"""genmail.py - test mail for yubin's integration tests.

Subcommands:

  add       generate RFC 5322 messages, deterministically from a seed, into
            a Maildir's new/ (written in tmp/ first, then renamed), optionally
            owned by a given uid/gid.  With --hostile the first messages are
            the hard cases on purpose (dot lines, "From " lines, 8-bit bytes,
            100 KB lines, no final newline, CRLF and bare CR, NUL, 3 MB...).
  hashes    for every message in a Maildir (new/ and cur/): its sha256 and
            Message-ID, one "SHA256 MESSAGE-ID" line each, sorted.
  stored    what yubin must deliver for the stored files, modelled from what
            Dovecot is known to send (see dovecot_pop3_form); same format as
            hashes.  For the harness self-test, which checks the model.
  compare   compare a list from expected/stored/hashes with a Maildir's
            messages: exit 0 when they are the same multiset, else print what
            is missing, extra or duplicated and exit 1.  With --ids-only only
            Message-IDs are compared (every message exactly once).
  expected  the oracle: fetch every message from a POP3 server with a small
            client of its own (RETR, dot-unstuffing, CRLF -> LF), and print
            what yubin must deliver, in the format of hashes.
  invariant after a killed run: every expected message is on the server or
            delivered, none twice, none corrupt (exit 1 and a list if not).
  stat      the number of messages in a POP3 maildrop.
  uidls     the UIDL listing of a POP3 maildrop.

The contract the oracle encodes (DESIGN.md, "What is stored"): a delivered
message holds exactly the bytes the server sent, with CRLF turned into LF.
Dovecot serves Maildir files that way: a bare LF is sent as CRLF, a CRLF as
it is, and a bare CR is kept.  Where Dovecot itself changes a message, the
expected form follows the server, not the file: see SERVER_ALTERATIONS.
"""

import argparse
import hashlib
import os
import random
import socket
import ssl
import sys

# What Dovecot 2.3 (POP3 RETR of a Maildir file) does to stored bytes, as
# seen by the oracle below and checked again by every run of
# tests/integration/harness_selftest.sh (stored == expected):
#   - a message whose last line has no newline is sent with a CRLF added
#     after it (POP3 needs the terminator "CRLF . CRLF" on a line of its
#     own), so its delivered form ends in LF.  A file ending in a bare CR
#     ("last\r") is sent as "last\r\r\n" and so delivered as "last\r\n";
#   - a bare LF is sent as CRLF; CRLF, bare CR, NUL and other 8-bit or
#     control bytes and 100 KB lines are sent unchanged.
# So: delivered = (stored + CRLF if it does not end in LF), CRLF -> LF.


def dovecot_pop3_form(stored):
    """What yubin must deliver for a stored file, per the notes above."""
    if not stored.endswith(b"\n"):
        stored += b"\r\n"
    return crlf_to_lf(stored)


WORDS = (
    "post letter stamp parcel mail box route sorting office clerk bicycle "
    "envelope address delivery morning evening rain snow quiet village "
    "harbour station bridge river market garden window lantern paper ink "
    "register counter queue window ledger receipt signature urgent late "
    "early express ordinary registered airmail surface bundle sack van "
    "the a of and to in is for on with as by at from that this it be"
).split()

BASE_TIME = 1700000000


class Message:
    """One generated message: its Message-ID and its stored bytes."""

    def __init__(self, message_id, data):
        self.message_id = message_id
        self.data = data


def text_lines(rng, nbytes, eol=b"\n"):
    """About nbytes of plain text lines (word salad), ending in eol."""
    pool = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 13))).encode()
        for _ in range(64)
    ]
    out = []
    size = 0
    while size < nbytes:
        line = pool[rng.randrange(len(pool))]
        out.append(line)
        out.append(eol)
        size += len(line) + len(eol)
    return b"".join(out)


def headers(message_id, index, subject, eol=b"\n", charset="us-ascii",
            sender=None):
    sender = sender or "Sender %d <sender%d@example.org>" % (index, index)
    if isinstance(subject, str):
        subject = subject.encode()
    lines = [
        b"Return-Path: <sender%d@example.org>" % index,
        b"From: " + sender.encode("utf-8"),
        b"To: User <user@localhost>",
        b"Subject: " + subject,
        b"Date: Tue, 14 Nov 2023 %02d:%02d:00 +0000" % (index // 60 % 24, index % 60),
        b"Message-ID: " + message_id.encode(),
        b"MIME-Version: 1.0",
        b"Content-Type: text/plain; charset=" + charset.encode(),
    ]
    return eol.join(lines) + eol


# Each hostile case: name -> function(rng, message_id, index) -> bytes.
def h_dots_mid(rng, mid, i):
    body = (b"Dot lines, each must survive POP3 dot-stuffing:\n"
            b".\n..\n...\n.hidden\n. \n..\t\n.\r\n"
            b"after the dots\n" + text_lines(rng, 300))
    return headers(mid, i, "dots in the middle") + b"\n" + body


def h_dots_last_line(rng, mid, i):
    return headers(mid, i, "last line is a dot") + b"\n" + text_lines(rng, 200) + b".\n"


def h_dots_no_final_newline(rng, mid, i):
    return headers(mid, i, "ends with a dot, no newline") + b"\n" + text_lines(rng, 200) + b"."


def h_dotdot_end(rng, mid, i):
    return headers(mid, i, "ends with two dots") + b"\n" + text_lines(rng, 200) + b"..\n"


def h_from_lines(rng, mid, i):
    body = (b"From the start of a line\nFrom nobody Tue Nov 14 10:00:00 2023\n"
            b">From quoted once\n>>From quoted twice\nFrom\n From with a space\n"
            + text_lines(rng, 300) + b"From at the end\n")
    return headers(mid, i, "From lines") + b"\n" + body


def h_utf8(rng, mid, i):
    subject = "Grüße, 郵便, почта, ✉".encode("utf-8")
    body = ("Ünïcödé in the body: 郵便局 — ポスト — Ελληνικά — עברית\n"
            "emoji: 📬📮\n").encode("utf-8") + text_lines(rng, 300)
    return (headers(mid, i, subject, charset="utf-8",
                    sender="Jürgen Größ <jurgen@example.org>")
            + b"\n" + body)


def h_latin1(rng, mid, i):
    body = "Café, naïve, façade, smørrebrød, ¡Olé!\n".encode("latin-1")
    body += bytes(range(0xa0, 0x100)) + b"\n" + text_lines(rng, 200)
    return headers(mid, i, "latin-1 body", charset="iso-8859-1") + b"\n" + body


def long_line(rng, n=100 * 1024):
    chunk = text_lines(rng, 2048).replace(b"\n", b" ")
    return (chunk * (n // len(chunk) + 1))[:n]


def h_long_line(rng, mid, i):
    body = b"before\n" + long_line(rng) + b"\nafter\n"
    return headers(mid, i, "a 100 KB line") + b"\n" + body


def h_long_line_end(rng, mid, i):
    body = b"the last line is 100 KB without a newline\n" + long_line(rng)
    return headers(mid, i, "100 KB last line, no newline") + b"\n" + body


def h_no_final_newline(rng, mid, i):
    body = text_lines(rng, 300) + b"the last line has no newline"
    return headers(mid, i, "no final newline") + b"\n" + body


def h_crlf(rng, mid, i):
    eol = b"\r\n"
    body = (text_lines(rng, 300, eol) + b"." + eol + b".." + eol + b".x" + eol
            + b"From crlf" + eol + b"end" + eol)
    return headers(mid, i, "CRLF line endings", eol=eol) + eol + body


def h_crlf_no_final_newline(rng, mid, i):
    eol = b"\r\n"
    body = text_lines(rng, 300, eol) + b"no final CRLF"
    return headers(mid, i, "CRLF, no final newline", eol=eol) + eol + body


def h_mixed_eol(rng, mid, i):
    body = (b"LF line\nCRLF line\r\nbare CR in the mid\rdle\n"
            b"CR CR LF\r\r\nCR before nothing special\r \n"
            b"\r\n\n\r\n" + text_lines(rng, 200) + b"last\n")
    return headers(mid, i, "mixed line endings") + b"\n" + body


def h_bare_cr_end(rng, mid, i):
    return headers(mid, i, "ends with a bare CR") + b"\n" + text_lines(rng, 200) + b"last\r"


def h_nul(rng, mid, i):
    body = b"a NUL byte: [\x00] and two: [\x00\x00]\n" + text_lines(rng, 200)
    return headers(mid, i, "NUL bytes") + b"\n" + body


def h_control(rng, mid, i):
    body = (bytes(range(1, 9)) + b"\t" + bytes(range(11, 13)) + bytes(range(14, 32))
            + b"\x7f\xff\xfe\n+OK not a status\n-ERR not an error\n"
            + b"\r\n.\r\n inside\n" + text_lines(rng, 200))
    return headers(mid, i, "control bytes") + b"\n" + body


def h_empty_body(rng, mid, i):
    return headers(mid, i, "empty body") + b"\n"


def h_headers_only(rng, mid, i):
    return headers(mid, i, "headers only, no blank line")


def h_whitespace(rng, mid, i):
    body = b"   \n\t\n \t \ntrailing spaces   \ntrailing tab\t\n\n\n\n" + text_lines(rng, 200)
    return headers(mid, i, "whitespace lines") + b"\n" + body


def h_long_header(rng, mid, i):
    folded = b"X-Long-Header: start" + b"".join(
        b"\n\t" + long_line(rng, 70) for _ in range(150)) + b"\n"
    return headers(mid, i, "a long folded header") + folded + b"\n" + text_lines(rng, 200)


def h_big(rng, mid, i):
    return headers(mid, i, "3 MB") + b"\n" + text_lines(rng, 3 * 1024 * 1024)


def h_tiny(rng, mid, i):
    return b"Message-ID: " + mid.encode() + b"\nSubject: tiny\n\nx\n"


HOSTILE = [
    h_dots_mid, h_dots_last_line, h_dots_no_final_newline, h_dotdot_end,
    h_from_lines, h_utf8, h_latin1, h_long_line, h_long_line_end,
    h_no_final_newline, h_crlf, h_crlf_no_final_newline, h_mixed_eol,
    h_bare_cr_end, h_nul, h_control, h_empty_body, h_headers_only,
    h_whitespace, h_long_header, h_big, h_tiny,
]


def log_uniform(rng, low, high):
    """A size between low and high, evenly spread over orders of magnitude."""
    return int(low * (high / low) ** rng.random())


def normal_size(rng, profile, index):
    if profile == "small":
        return log_uniform(rng, 200, 4096)
    if profile == "bench":
        # Mean (64K - 1K) / ln 64 = about 15 KB: 10,000 messages ~ 150 MB.
        return log_uniform(rng, 1024, 64 * 1024)
    # "mixed": mostly small, some medium, a few of several MB.
    if index % 25 == 7:
        return log_uniform(rng, 1024 * 1024, 3 * 1024 * 1024)
    if index % 10 == 3:
        return log_uniform(rng, 64 * 1024, 512 * 1024)
    return log_uniform(rng, 200, 32 * 1024)


DEMO = [
    ("Ada Lovelace <ada@example.org>", "Notes on the Analytical Engine",
     "I have finished the notes. Note G is the long one; tell me what you think."),
    ("Post Office <noreply@post.example>", "Your parcel is on its way",
     "Your parcel left the sorting office this morning and should arrive tomorrow."),
    ("Grace Hopper <grace@example.org>", "Found a bug (literally)",
     "There was a moth in relay 70. Taped it into the log book."),
    ("Library <library@example.org>", "Books due next week",
     "Two books are due on Monday: 'The Art of Computer Programming' vols 1 and 2."),
    ("Alan Turing <alan@example.org>", "Lunch on Friday?",
     "Shall we try the new place by the river? Noon works for me."),
    ("Katherine Johnson <kj@example.org>", "Trajectory numbers",
     "I checked the numbers by hand. They are right. Launch can go ahead."),
    ("Bike Club <club@example.org>", "Sunday ride: 60 km along the coast",
     "Meet at the harbour at 8. Bring water and a spare tube."),
    ("Margaret Hamilton <mh@example.org>", "Priority displays",
     "The alarms were the computer doing exactly what it should: shedding load."),
    ("Garden Centre <shop@example.org>", "Tulip bulbs are in",
     "The autumn bulbs have arrived. Plant them before the first frost."),
    ("Dennis Ritchie <dmr@example.org>", "Re: pointer arithmetic",
     "An array name is not a pointer, but it decays into one nearly everywhere."),
    ("Hedy Lamarr <hedy@example.org>", "Frequency hopping, again",
     "The piano-roll idea works for radio too: both ends just need the same roll."),
    ("Bakery on the Corner <bread@example.org>", "Sourdough is back on Saturdays",
     "The starter survived the summer. Loaves from 7 am until they run out."),
    ("Claude Shannon <claude@example.org>", "Juggling robot",
     "It can now keep three balls in the air. The unicycle is a separate project."),
    ("Town Hall <info@town.example>", "Street festival road closures",
     "Market Street is closed from 10 to 18 on Sunday. The buses go round by the river."),
    ("Barbara Liskov <bl@example.org>", "Substitution, one more time",
     "If it looks like a duck but needs batteries, you have the wrong abstraction."),
    ("Choir <choir@example.org>", "Rehearsal moved to Thursday",
     "Same time, same hall. Please bring the new scores; we start with the Bach."),
    ("Edsger Dijkstra <ewd@example.org>", "A short note on goto",
     "I have written it down by hand; the typed copy follows by post."),
    ("Observatory <stars@example.org>", "Clear skies tonight",
     "Saturn is well placed after 22:00. The big telescope is open to visitors."),
    ("John Backus <jb@example.org>", "Formula translation",
     "The compiler now produces code nearly as fast as hand-written assembly."),
    ("Your Sister <sis@example.org>", "Photos from the weekend",
     "The ones from the lighthouse came out best. Printing a few for Grandma."),
]


def demo_message(mid, index):
    sender, subject, text = DEMO[index % len(DEMO)]
    if index >= len(DEMO) and not subject.startswith("Re:"):
        subject = "Re: " + subject
    body = ("Hello,\n\n%s\n\nBest,\n%s\n" % (text, sender.split(" <")[0])).encode()
    return headers(mid, index, subject, charset="utf-8", sender=sender) + b"\n" + body


def make_message(args, index):
    mid = "<b%d.m%d.s%s@yubin.test>" % (args.batch, index, args.seed)
    rng = random.Random("%s:%d:%d" % (args.seed, args.batch, index))
    if args.profile == "demo":
        return Message(mid, demo_message(mid, index))
    if args.hostile and index < len(HOSTILE):
        return Message(mid, HOSTILE[index](rng, mid, index))
    size = normal_size(rng, args.profile, index)
    head = headers(mid, index, "message %d of batch %d" % (index, args.batch))
    body = text_lines(rng, max(size - len(head) - 1, 1))
    return Message(mid, head + b"\n" + body)


def cmd_add(args):
    for sub in ("tmp", "new", "cur"):
        path = os.path.join(args.maildir, sub)
        os.makedirs(path, exist_ok=True)
        if args.uid is not None:
            os.chown(path, args.uid, args.gid)
    for index in range(args.count):
        msg = make_message(args, index)
        name = "%d.M%dB%d.yubin-test" % (BASE_TIME + index, index, args.batch)
        tmp = os.path.join(args.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(msg.data)
        if args.uid is not None:
            os.chown(tmp, args.uid, args.gid)
        os.rename(tmp, os.path.join(args.maildir, "new", name))
    print(args.count)


def crlf_to_lf(data):
    return data.replace(b"\r\n", b"\n")


def message_id_of(data):
    """The Message-ID header's value, or "-" (headers end at an empty line)."""
    for line in data.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            break
        if line[:11].lower() == b"message-id:":
            return line[11:].strip().decode("utf-8", "replace")
    return "-"


def maildir_files(maildir):
    for sub in ("new", "cur"):
        path = os.path.join(maildir, sub)
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if os.path.isfile(full):
                yield full


def print_digest_lines(messages):
    lines = sorted("%s %s" % (hashlib.sha256(data).hexdigest(), message_id_of(data))
                   for data in messages)
    for line in lines:
        print(line)


def cmd_hashes(args):
    def read_all():
        for path in maildir_files(args.maildir):
            with open(path, "rb") as f:
                yield f.read()
    print_digest_lines(read_all())




def cmd_stored(args):
    def read_all():
        for path in maildir_files(args.maildir):
            with open(path, "rb") as f:
                yield dovecot_pop3_form(f.read())
    print_digest_lines(read_all())


def read_digest_file(path):
    with open(path) as f:
        return [tuple(line.rstrip("\n").split(" ", 1)) for line in f if line.strip()]


def maildir_digests(maildir):
    out = []
    for path in maildir_files(maildir):
        with open(path, "rb") as f:
            data = f.read()
        out.append((hashlib.sha256(data).hexdigest(), message_id_of(data)))
    return out


def multiset_diff(want, got, limit=10):
    """Lines describing how two lists differ as multisets (empty: same)."""
    from collections import Counter
    want_count, got_count = Counter(want), Counter(got)
    lines = []
    for item, n in sorted((want_count - got_count).items()):
        lines.append("missing %dx: %s" % (n, " ".join(item) if isinstance(item, tuple) else item))
    for item, n in sorted((got_count - want_count).items()):
        lines.append("extra %dx: %s" % (n, " ".join(item) if isinstance(item, tuple) else item))
    if len(lines) > limit:
        lines = lines[:limit] + ["... and %d more differences" % (len(lines) - limit)]
    return lines


def cmd_compare(args):
    want = read_digest_file(args.expected)
    got = maildir_digests(args.maildir)
    if args.ids_only:
        want = [mid for _, mid in want]
        got = [mid for _, mid in got]
        dups = sorted({mid for mid in got if got.count(mid) > 1}) if len(got) < 5000 else []
        for mid in dups[:10]:
            print("delivered %d times: %s" % (got.count(mid), mid))
    lines = multiset_diff(want, got)
    for line in lines:
        print(line)
    if lines:
        print("expected %d messages, the Maildir holds %d" % (len(want), len(got)))
        sys.exit(1)


def cmd_invariant(args):
    """After a killed run: nothing lost, nothing twice, nothing corrupt.

    Every expected message must still be on the server or be completely
    delivered (both lists as written by expected/hashes), no Message-ID may
    be delivered twice, and nothing delivered may differ from what was
    expected.
    """
    from collections import Counter
    expected = set(read_digest_file(args.expected))
    on_server = set(read_digest_file(args.server))
    delivered = maildir_digests(args.maildir) if os.path.isdir(args.maildir) else []
    problems = []
    for item in sorted(expected - on_server - set(delivered)):
        problems.append("lost (gone from the server, not delivered): %s" % " ".join(item))
    for mid, n in sorted(Counter(mid for _, mid in delivered).items()):
        if n > 1:
            problems.append("delivered %d times: %s" % (n, mid))
    for item in sorted(set(delivered) - expected):
        problems.append("delivered but not expected (corrupt?): %s" % " ".join(item))
    for line in problems[:10]:
        print(line)
    if problems:
        sys.exit(1)


class Pop3Client:
    """A deliberately simple POP3 client, independent of yubin and poplib."""

    def __init__(self, port, tls=False, ca_file=None, timeout=60):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context(cafile=ca_file)
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.buf = bytearray()
        self.status_line()

    def fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk

    def status_line(self):
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[:end + 2]
                if not line.startswith(b"+OK"):
                    raise RuntimeError("server said: %r" % line)
                return line
            self.fill()

    def command(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.status_line()

    def multiline(self):
        """The data of a multi-line response, unstuffed, lines still CRLF."""
        searched = 0
        while True:
            if self.buf.startswith(b".\r\n"):
                del self.buf[:3]
                return b""
            end = self.buf.find(b"\r\n.\r\n", max(searched - 4, 0))
            if end >= 0:
                data = bytes(self.buf[:end + 2])
                del self.buf[:end + 5]
                break
            searched = len(self.buf)
            self.fill()
        return b"\r\n".join(line[1:] if line.startswith(b".") else line
                            for line in data.split(b"\r\n"))

    def login(self, user, password):
        self.command("USER " + user)
        self.command("PASS " + password)

    def stat(self):
        return int(self.command("STAT").split()[1])

    def retr(self, number):
        self.command("RETR %d" % number)
        return self.multiline()

    def uidls(self):
        self.command("UIDL")
        return self.multiline().decode().split("\r\n")[:-1]

    def quit(self):
        self.command("QUIT")
        self.sock.close()


def connect(args):
    client = Pop3Client(args.port, tls=args.tls, ca_file=args.ca_file)
    client.login(args.user, args.password)
    return client


def cmd_expected(args):
    client = connect(args)
    count = client.stat()
    messages = [crlf_to_lf(client.retr(n)) for n in range(1, count + 1)]
    client.quit()
    if getattr(args, "final_newline", False):
        # mbox gives a message without a final newline one.
        messages = [m if m.endswith(b"\n") else m + b"\n" for m in messages]
    print_digest_lines(messages)


def cmd_stat(args):
    client = connect(args)
    print(client.stat())
    client.quit()


def cmd_uidls(args):
    client = connect(args)
    for line in client.uidls():
        print(line)
    client.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    add = sub.add_parser("add")
    add.add_argument("--maildir", required=True)
    add.add_argument("--count", type=int, required=True)
    add.add_argument("--seed", default="yubin")
    add.add_argument("--batch", type=int, default=1,
                     help="part of every Message-ID: batches never collide")
    add.add_argument("--profile", default="mixed",
                     choices=["mixed", "small", "bench", "demo"])
    add.add_argument("--hostile", action="store_true")
    add.add_argument("--uid", type=int)
    add.add_argument("--gid", type=int)
    add.set_defaults(func=cmd_add)

    for name, func in (("hashes", cmd_hashes), ("stored", cmd_stored)):
        p = sub.add_parser(name)
        p.add_argument("maildir")
        p.set_defaults(func=func)

    compare = sub.add_parser("compare")
    compare.add_argument("--ids-only", action="store_true")
    compare.add_argument("expected")
    compare.add_argument("maildir")
    compare.set_defaults(func=cmd_compare)

    invariant = sub.add_parser("invariant")
    invariant.add_argument("expected")
    invariant.add_argument("server")
    invariant.add_argument("maildir")
    invariant.set_defaults(func=cmd_invariant)

    for name, func in (("expected", cmd_expected), ("stat", cmd_stat),
                       ("uidls", cmd_uidls)):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--user", required=True)
        p.add_argument("--password", required=True)
        p.add_argument("--tls", action="store_true", help="implicit TLS")
        p.add_argument("--ca-file")
        p.add_argument("--final-newline", action="store_true",
                       help="expected: as mbox stores it (a final newline added)")
        p.set_defaults(func=func)

    args = parser.parse_args()
    if args.command == "add" and (args.uid is None) != (args.gid is None):
        parser.error("--uid and --gid go together")
    args.func(args)


if __name__ == "__main__":
    main()
