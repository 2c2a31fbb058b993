#!/usr/bin/env python3
"""pop3proxy.py - a watching proxy between a POP3 client and server.

Listens on 127.0.0.1 (a free port, written to --port-file), relays one
plain-text POP3 connection to 127.0.0.1:--server-port, and follows the
conversation: which command is waiting for which response.  When the
client closes, it writes a JSON summary to --report:

  commands        how many commands the client sent
  overlapped      how many of them were sent while an earlier response
                  had not been completely passed on to the client yet
                  (0 for a client that sends one command at a time)
  max_in_flight   the most commands waiting for a response at once
  verbs           how many of each command verb

Only the USER/PASS login is understood (no AUTH exchanges, no STLS).
Gives up after --limit seconds so that a test can never hang on it.
"""

import argparse
import json
import os
import select
import socket
import sys
import time

MULTILINE = {b"CAPA", b"RETR", b"TOP"}
LISTING = {b"LIST", b"UIDL"}  # multi-line only without an argument


class Conversation:
    def __init__(self):
        self.pending = []          # verbs (and multi-line flag) in order
        self.client_buf = b""
        self.server_buf = bytearray()
        self.greeting_done = False
        self.in_body = False       # inside a multi-line response
        self.commands = 0
        self.overlapped = 0
        self.max_in_flight = 0
        self.verbs = {}

    def from_client(self, data):
        self.client_buf += data
        while b"\r\n" in self.client_buf:
            line, self.client_buf = self.client_buf.split(b"\r\n", 1)
            words = line.split()
            verb = words[0].upper() if words else b""
            multiline = verb in MULTILINE or (verb in LISTING and len(words) == 1)
            if self.pending or not self.greeting_done:
                self.overlapped += 1
            self.pending.append(multiline)
            self.commands += 1
            name = verb.decode("ascii", "replace")
            self.verbs[name] = self.verbs.get(name, 0) + 1
            self.max_in_flight = max(self.max_in_flight, len(self.pending))

    def from_server(self, data):
        """Account for data before it is passed on to the client."""
        self.server_buf += data
        while True:
            if self.in_body:
                # The buffer starts with the CRLF that ended the status
                # line (put back below), so an empty body is found too.
                at = self.server_buf.find(b"\r\n.\r\n")
                if at < 0:
                    # Keep only what a terminator split across reads needs.
                    if len(self.server_buf) > 4:
                        del self.server_buf[:-4]
                    return
                del self.server_buf[:at + 5]
                self.in_body = False
                self.pending.pop(0)
                continue
            at = self.server_buf.find(b"\r\n")
            if at < 0:
                return
            line = bytes(self.server_buf[:at])
            del self.server_buf[:at + 2]
            if not self.greeting_done:
                self.greeting_done = True
                continue
            if not self.pending:
                continue
            if line.startswith(b"+OK") and self.pending[0]:
                self.in_body = True
                self.server_buf[:0] = b"\r\n"
                continue
            self.pending.pop(0)

    def report(self):
        return {"commands": self.commands, "overlapped": self.overlapped,
                "max_in_flight": self.max_in_flight, "verbs": self.verbs}


def relay(listener, server_port, limit):
    deadline = time.monotonic() + limit
    listener.settimeout(limit)
    client, _ = listener.accept()
    server = socket.create_connection(("127.0.0.1", server_port), timeout=limit)
    talk = Conversation()
    open_ends = {client: server, server: client}
    while open_ends and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_ends), [], [], 1.0)
        for sock in ready:
            data = sock.recv(1 << 16)
            if not data:
                for s in (client, server):
                    open_ends.pop(s, None)
                break
            if sock is client:
                talk.from_client(data)
            else:
                talk.from_server(data)
            open_ends[sock].sendall(data)
    client.close()
    server.close()
    return talk.report()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-port", type=int, required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--limit", type=float, default=60)
    args = parser.parse_args()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    with open(args.port_file + ".tmp", "w") as f:
        f.write("%d\n" % listener.getsockname()[1])
    os.rename(args.port_file + ".tmp", args.port_file)
    try:
        summary = relay(listener, args.server_port, args.limit)
    except OSError as e:
        summary = {"error": str(e)}
    with open(args.report, "w") as f:
        json.dump(summary, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
