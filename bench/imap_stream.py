#!/usr/bin/env python3
"""imap_stream.py - the floor for an IMAP fetch: every message, kept nowhere.

Logs in over implicit TLS, selects each folder given (read-only, EXAMINE),
asks for every message in one UID FETCH 1:* BODY.PEEK[] and throws the
bytes away, stepping over each literal by its announced length.  No
parsing beyond that, no disk: what is left is the server, TLS and the
loopback, which no client can beat.

Prints "MESSAGES BYTES" on stdout.
"""

import argparse
import re
import socket
import ssl
import sys

LITERAL = re.compile(rb"\{(\d+)\}$")


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.total = 0

    def fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            sys.exit("server closed the connection")
        self.total += len(chunk)
        self.buf += chunk

    def line(self):
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[:end + 2]
                return line
            self.fill()

    def skip(self, count):
        while count > 0:
            if not self.buf:
                self.fill()
            step = min(count, len(self.buf))
            del self.buf[:step]
            count -= step


def command(sock, reader, tag, text):
    """Send one command; return how many literals its responses carried."""
    sock.sendall(b"%s %s\r\n" % (tag, text))
    literals = 0
    while True:
        line = reader.line()
        match = LITERAL.search(line)
        if match:
            literals += 1
            reader.skip(int(match.group(1)))
            continue
        if line.startswith(tag + b" "):
            if not line.startswith(tag + b" OK"):
                sys.exit("server said: %r" % line)
            return literals


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("folders", nargs="*", default=["INBOX"])
    args = parser.parse_args()

    ctx = ssl.create_default_context(cafile=args.ca_file)
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=300)
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    reader = Reader(sock)
    reader.line()
    command(sock, reader, b"a1", b'LOGIN "%s" "%s"' % (
        args.user.encode(), args.password.encode()))
    count = 0
    for number, folder in enumerate(args.folders):
        command(sock, reader, b"s%d" % number, b'EXAMINE "%s"' % folder.encode())
        count += command(sock, reader, b"f%d" % number, b"UID FETCH 1:* BODY.PEEK[]")
    sock.sendall(b"z LOGOUT\r\n")
    sock.close()
    print(count, reader.total)


if __name__ == "__main__":
    main()
