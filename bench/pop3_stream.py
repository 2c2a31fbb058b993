#!/usr/bin/env python3
"""pop3_stream.py - the floor for a POP3 fetch: RETR everything, keep nothing.

Logs in over implicit TLS, sends RETR for every message with up to
--window commands in flight, and throws the bytes away, counting only the
responses (each multi-line response ends in the one "CRLF . CRLF" that
dot-stuffing allows in it).  No parsing, no unstuffing, no disk: what is
left is the server, TLS and the loopback, which no client can beat.

Prints "MESSAGES BYTES" on stdout.
"""

import argparse
import socket
import ssl
import sys


def read_status(sock, buf):
    while b"\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit("server closed the connection")
        buf += chunk
    line, rest = buf.split(b"\r\n", 1)
    if not line.startswith(b"+OK"):
        sys.exit("server said: %r" % line)
    return rest


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--window", type=int, default=64)
    args = parser.parse_args()

    ctx = ssl.create_default_context(cafile=args.ca_file)
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=120)
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    buf = read_status(sock, b"")
    sock.sendall(b"USER %s\r\n" % args.user.encode())
    buf = read_status(sock, buf)
    sock.sendall(b"PASS %s\r\n" % args.password.encode())
    buf = read_status(sock, buf)
    sock.sendall(b"STAT\r\n")
    while b"\r\n" not in buf:
        buf += sock.recv(65536)
    line, buf = buf.split(b"\r\n", 1)
    count = int(line.split()[1])

    sent = 0
    done = 0
    total = 0
    tail = b""
    # The RETR responses start after the STAT line; whatever came with it
    # is body data already.
    pending = buf
    while done < count:
        while sent < count and sent - done < args.window:
            sent += 1
            sock.sendall(b"RETR %d\r\n" % sent)
        data = pending or sock.recv(1 << 20)
        pending = b""
        if not data:
            sys.exit("server closed the connection after %d messages" % done)
        total += len(data)
        # A terminator (5 bytes) may straddle reads, short ones too: the
        # seam of the last 4 bytes received before and the first 4 of this
        # read holds only such ones.
        done += data.count(b"\r\n.\r\n") + (tail + data[:4]).count(b"\r\n.\r\n")
        tail = (tail + data)[-4:]
    sock.sendall(b"QUIT\r\n")
    sock.close()
    print(count, total)


if __name__ == "__main__":
    main()
