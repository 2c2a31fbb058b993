#!/usr/bin/env python3
"""browser.py - plays the browser, and everyone else who can reach the
listener of `yubin --authorize` on 127.0.0.1, for the code flow tests
(python3 standard library only).

  python3 browser.py SCENARIO AUTH_URL CA_FILE

AUTH_URL is the address yubin asks the user to open.  The provider
(tests/lib/oauth_server.py) is asked for its redirect without following
it, so the scenario decides when and how the right request reaches
yubin.  One line per request goes to stdout: "NAME STATUS" (STATUS is
the HTTP status yubin answered, or "none" when it answered nothing),
and for the right request "right STATUS SECONDS" with the time it took
to be answered.

Scenarios:
  forged   requests with a wrong or no state (a code, an error) first,
           then the right one
  silent   a connection that says nothing stays open while the right
           request is sent on another
  crowd    more silent connections than yubin reads at once, and many
           garbage requests, then the right one
"""

import socket
import ssl
import sys
import time
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def provider_redirect(auth_url, ca_file):
    """The Location the provider sends the browser to."""
    context = ssl.create_default_context(cafile=ca_file)
    opener = urllib.request.build_opener(
        NoRedirect, urllib.request.HTTPSHandler(context=context))
    try:
        opener.open(auth_url, timeout=30)
    except urllib.error.HTTPError as e:
        if e.code == 302:
            return e.headers["Location"]
        raise
    raise SystemExit("the provider did not redirect")


def listener_of(redirect_uri):
    parts = urllib.parse.urlsplit(redirect_uri)
    return parts.hostname, parts.port


def connect(address):
    return socket.create_connection(address, timeout=30)


def status_of(sock):
    """The status of the reply on sock, or "none"."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    line = data.split(b"\r\n", 1)[0].split()
    return line[1].decode() if len(line) >= 2 else "none"


def ask(address, raw):
    """Send raw on a new connection; the status yubin answers."""
    with connect(address) as sock:
        sock.sendall(raw)
        return status_of(sock)


def get(address, target):
    return ask(address, b"GET " + target.encode() +
               b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")


def right(address, location):
    """The right request; prints its status and how long it took."""
    parts = urllib.parse.urlsplit(location)
    start = time.monotonic()
    status = get(address, parts.path + "?" + parts.query)
    print("right %s %.2f" % (status, time.monotonic() - start), flush=True)


def forged(address, location):
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    state = q["state"][0]
    wrong = "A" * len(state) if state != "A" * len(state) else "B" * len(state)
    cases = [
        ("wrong-state", "/?code=planted&state=" + wrong),
        ("no-state", "/?code=planted"),
        ("wrong-state-error", "/?error=access_denied&state=" + wrong),
        ("no-state-error", "/?error=access_denied"),
        ("state-prefix", "/?code=planted&state=" + state[:-1]),
        ("state-longer", "/?code=planted&state=" + state + "x"),
        ("state-no-code", "/?state=" + state),
    ]
    for name, target in cases:
        print(name, get(address, target), flush=True)
        time.sleep(0.2)
    right(address, location)


def silent(address, location):
    quiet = connect(address)
    partial = connect(address)
    partial.sendall(b"GET /?code=x&st")
    time.sleep(0.5)
    right(address, location)
    quiet.close()
    partial.close()


def crowd(address, location):
    quiet = [connect(address) for _ in range(40)]
    garbage = [
        ("binary", bytes(range(1, 256)) + b"\r\n\r\n"),
        ("nul", b"GET /?code=x\0&state=y HTTP/1.0\r\n\r\n"),
        ("post", b"POST /?code=x&state=y HTTP/1.0\r\n\r\n"),
        ("favicon", b"GET /favicon.ico HTTP/1.1\r\n\r\n"),
        ("no-query", b"GET / HTTP/1.1\r\n\r\n"),
        ("bad-escape", b"GET /?code=%zz&state=y HTTP/1.1\r\n\r\n"),
        ("huge", b"GET /?code=" + b"x" * 20000 + b" HTTP/1.1\r\n\r\n"),
        ("wrong-state-error", b"GET /?error=access_denied&state=y HTTP/1.1\r\n\r\n"),
        ("half-closed", None),
    ]
    for round_ in range(5):
        for name, raw in garbage:
            if raw is None:
                with connect(address) as sock:
                    sock.sendall(b"GET /?code=x")
                    sock.shutdown(socket.SHUT_WR)
                    status = status_of(sock)
            else:
                try:
                    status = ask(address, raw)
                except OSError:
                    status = "reset"
            if round_ == 0:
                print(name, status, flush=True)
    right(address, location)
    for sock in quiet:
        sock.close()


def main():
    scenario, auth_url, ca_file = sys.argv[1:4]
    location = provider_redirect(auth_url, ca_file)
    address = listener_of(location)
    {"forged": forged, "silent": silent, "crowd": crowd}[scenario](address, location)


if __name__ == "__main__":
    main()
