#!/usr/bin/env python3
"""tlsfront.py - implicit TLS in front of a server that has none, started
per connection the way inetd starts it.

  tlsfront.py --cert PEM --key PEM --port-file FILE [--log FILE] -- COMMAND...

Listens on 127.0.0.1 (a free port, written to --port-file once it
listens), and for each connection: completes the TLS handshake with
--cert/--key (TLS 1.2 at least), runs COMMAND with one end of a socket
pair as its standard input and output (inetd mode), and relays the bytes
both ways until either side closes.  COMMAND's stderr and one line per
connection go to --log.  Runs until killed.
"""

import argparse
import os
import socket
import ssl
import subprocess
import sys
import threading


def pump(src, dst):
    try:
        while True:
            data = src.recv(1 << 16)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for sock in (src, dst):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(conn, command, log):
    inner, outer = socket.socketpair()
    try:
        proc = subprocess.Popen(command, stdin=inner, stdout=inner, stderr=log,
                                close_fds=True)
    except OSError as e:
        print("tlsfront: cannot run %s: %s" % (command[0], e), file=log, flush=True)
        conn.close()
        return
    inner.close()
    back = threading.Thread(target=pump, args=(outer, conn), daemon=True)
    back.start()
    pump(conn, outer)
    back.join(60)
    proc.wait(60)
    print("tlsfront: %s exited %s" % (command[0], proc.returncode), file=log, flush=True)
    conn.close()
    outer.close()


def handshake_and_serve(ctx, raw, command, log):
    try:
        raw.settimeout(30)
        conn = ctx.wrap_socket(raw, server_side=True)
        conn.settimeout(None)
    except (OSError, ssl.SSLError) as e:
        print("tlsfront: handshake failed: %s" % e, file=log, flush=True)
        raw.close()
        return
    serve(conn, command, log)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", default="/dev/null")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    log = open(args.log, "a")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    with open(args.port_file + ".tmp", "w") as f:
        f.write("%d\n" % listener.getsockname()[1])
    os.rename(args.port_file + ".tmp", args.port_file)
    while True:
        raw, _ = listener.accept()
        threading.Thread(target=handshake_and_serve,
                         args=(ctx, raw, args.command, log), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
