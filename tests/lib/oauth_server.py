#!/usr/bin/env python3
"""oauth_server.py - a small OAuth2 authorization server for tests, on
127.0.0.1 over HTTPS (python3 standard library only).

It serves:

  POST /token        grant_type refresh_token, authorization_code (with
                     PKCE S256 checked) and
                     urn:ietf:params:oauth:grant-type:device_code
  POST /device       RFC 8628 device authorization
  GET  /authorize    the browser step of the code flow: redirects (302) to
                     redirect_uri with ?code=..&state=.. at once (the
                     "user" always consents unless told to deny)
  /introspect        RFC 7662: POST token=..., or GET ?token=..., or an
                     "Authorization: Bearer" header; answers
                     {"active":true,"username":USER,"email":USER,...} for
                     access tokens it issued and that have not expired,
                     else {"active":false}.  This is what a Dovecot
                     passdb { driver = oauth2 } asks.
  POST /_control     a JSON object changing the behaviour (below)
  GET  /_stats       a JSON object: requests per endpoint, device polls

Start it with a certificate and it prints its port on the first line of
stdout (and the plain-HTTP introspection port on the second, with
--http-port), then serves until killed:

  python3 oauth_server.py --cert server.pem --key server.key \\
      --client yubin-test --refresh-token RT1=alice \\
      --token-log tokens.log [--http-port 0] [--config behaviour.json]

Every token issued is appended to --token-log as one JSON object per line:
{"kind": "access"|"refresh"|"code"|"device_code", "token": ..., "user": ...}

Behaviour (command line --config FILE with a JSON object, or /_control):
  clients          {"ID": "SECRET" or null}; none: any client_id is fine
  refresh_tokens   {"TOKEN": "USER"} that /token accepts
  user             who logs in through /authorize and /device ("alice")
  rotate           issue a new refresh token on every refresh (false)
  expires_in       access token lifetime in seconds (3600); null: omit
  token_type       ("Bearer")
  fail             "", "invalid_grant", "invalid_client", "500", "slow",
                   "garbage", "huge", "redirect", "no_access_token",
                   "bad_token": what /token does instead of answering
  slow_seconds     how long "slow" waits (10)
  device_script    replies to the polls of a device code, in order:
                   "authorization_pending", "slow_down", "access_denied",
                   "expired_token" or "ok"; after the list, "ok"
  device_interval  (1)  device_expires_in (600)
  no_refresh_token the code and device grants issue no refresh token
  deny             /authorize redirects with error=access_denied
"""

import argparse
import base64
import hashlib
import json
import os
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()

DEFAULTS = {
    "clients": {},
    "refresh_tokens": {},
    "user": "alice",
    "rotate": False,
    "expires_in": 3600,
    "token_type": "Bearer",
    "fail": "",
    "slow_seconds": 10,
    "device_script": [],
    "device_interval": 1,
    "device_expires_in": 600,
    "no_refresh_token": False,
    "deny": False,
}


class State:
    def __init__(self, behaviour, token_log):
        self.b = dict(DEFAULTS)
        self.b.update(behaviour)
        self.token_log = token_log
        self.access = {}    # token -> (user, client_id, expiry)
        self.codes = {}     # code -> dict(client, redirect_uri, challenge, user)
        self.devices = {}   # device_code -> dict(client, user, script, polls)
        self.stats = {}

    def log(self, kind, token, user):
        if not self.token_log:
            return
        with open(self.token_log, "a") as f:
            f.write(json.dumps({"kind": kind, "token": token, "user": user}) + "\n")

    def issue(self, kind, user, prefix):
        token = prefix + secrets.token_hex(20)
        self.log(kind, token, user)
        return token

    def count(self, what):
        self.stats[what] = self.stats.get(what, 0) + 1


STATE = None


def s256(verifier):
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oauth_server/1"

    def log_message(self, fmt, *args):
        pass  # quiet: tokens travel in bodies, but keep stderr clean anyway

    # --- replies ---

    def send(self, status, body, content_type="application/json", headers=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def json(self, status, obj):
        self.send(status, json.dumps(obj))

    def oauth_error(self, error, description="", status=400):
        obj = {"error": error}
        if description:
            obj["error_description"] = description
        self.json(status, obj)

    # --- requests ---

    def form(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        return {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}

    def query(self):
        q = urllib.parse.urlsplit(self.path).query
        return {k: v[0] for k, v in urllib.parse.parse_qs(q, keep_blank_values=True).items()}

    def client_ok(self, form):
        clients = STATE.b["clients"]
        cid = form.get("client_id", "")
        if not cid:
            return False
        if not clients:
            return True
        if cid not in clients:
            return False
        secret = clients[cid]
        return secret is None or form.get("client_secret") == secret

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        with LOCK:
            STATE.count("GET " + path)
        if path == "/authorize":
            return self.authorize()
        if path == "/introspect":
            return self.introspect(self.query())
        if path == "/_stats":
            with LOCK:
                return self.json(200, {"requests": STATE.stats, "devices": {
                    k: v["polls"] for k, v in STATE.devices.items()}})
        self.send(404, "not found", "text/plain")

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        with LOCK:
            STATE.count("POST " + path)
        if path == "/_control":
            length = int(self.headers.get("Content-Length") or 0)
            change = json.loads(self.rfile.read(length) or b"{}")
            with LOCK:
                STATE.b.update(change)
            return self.json(200, {"ok": True})
        form = self.form()
        if path == "/token":
            return self.token(form)
        if path == "/device":
            return self.device(form)
        if path == "/introspect":
            return self.introspect(form)
        self.send(404, "not found", "text/plain")

    # --- endpoints ---

    def authorize(self):
        q = self.query()
        redirect = q.get("redirect_uri", "")
        if not redirect.startswith("http://127.0.0.1:"):
            return self.send(400, "bad redirect_uri", "text/plain")
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" \
                or not q.get("code_challenge") or not self.client_ok(q):
            return self.send(400, "bad authorization request", "text/plain")
        with LOCK:
            if STATE.b["deny"]:
                params = {"error": "access_denied", "error_description": "The user said no",
                          "state": q.get("state", "")}
            else:
                code = STATE.issue("code", STATE.b["user"], "code-")
                STATE.codes[code] = {"client": q["client_id"], "redirect_uri": redirect,
                                     "challenge": q["code_challenge"], "user": STATE.b["user"]}
                params = {"code": code, "state": q.get("state", "")}
        location = redirect + "?" + urllib.parse.urlencode(params)
        self.send(302, "", "text/plain", headers=[("Location", location)])

    def device(self, form):
        if not self.client_ok(form):
            return self.oauth_error("invalid_client", "unknown client", 401)
        with LOCK:
            b = STATE.b
            code = STATE.issue("device_code", b["user"], "dc-")
            user_code = secrets.token_hex(4).upper()
            STATE.devices[code] = {"client": form["client_id"], "user": b["user"],
                                   "script": list(b["device_script"]), "polls": []}
            reply = {"device_code": code, "user_code": user_code,
                     "verification_uri": "https://127.0.0.1/device",
                     "verification_uri_complete": "https://127.0.0.1/device?code=" + user_code,
                     "expires_in": b["device_expires_in"], "interval": b["device_interval"]}
        self.json(200, reply)

    def failure(self):
        """Answer a configured failure instead of tokens; True if done."""
        fail = STATE.b["fail"]
        if fail == "invalid_grant":
            self.oauth_error("invalid_grant", "Token has been expired or revoked.")
        elif fail == "invalid_client":
            self.oauth_error("invalid_client", "The OAuth client was not found.", 401)
        elif fail == "500":
            self.send(500, "<html>internal error</html>", "text/html")
        elif fail == "slow":
            time.sleep(STATE.b["slow_seconds"])
            self.oauth_error("invalid_grant", "too late anyway")
        elif fail == "garbage":
            self.send(200, "<html><body>Sign in</body></html>", "text/html")
        elif fail == "huge":
            self.send(200, '{"access_token":"' + "x" * 200000 + '"}')
        elif fail == "redirect":
            self.send(302, "", "text/plain", headers=[("Location", "https://127.0.0.1:1/token")])
        elif fail == "no_access_token":
            self.json(200, {"token_type": "Bearer", "expires_in": 3600})
        elif fail == "bad_token":
            self.json(200, {"access_token": "abc\r\nA1 LOGOUT", "token_type": "Bearer"})
        else:
            return False
        return True

    def tokens(self, user, client, with_refresh):
        b = STATE.b
        access = STATE.issue("access", user, "at-")
        expires_in = b["expires_in"]
        lifetime = expires_in if isinstance(expires_in, int) else 3600
        STATE.access[access] = (user, client, time.time() + lifetime)
        reply = {"access_token": access, "token_type": b["token_type"]}
        if expires_in is not None:
            reply["expires_in"] = expires_in
        if with_refresh:
            refresh = STATE.issue("refresh", user, "rt-")
            STATE.b["refresh_tokens"][refresh] = user
            reply["refresh_token"] = refresh
        return reply

    def token(self, form):
        if self.failure():
            return
        if not self.client_ok(form):
            return self.oauth_error("invalid_client", "unknown client", 401)
        grant = form.get("grant_type", "")
        with LOCK:
            if grant == "refresh_token":
                return self.refresh_grant(form)
            if grant == "authorization_code":
                return self.code_grant(form)
            if grant == "urn:ietf:params:oauth:grant-type:device_code":
                return self.device_grant(form)
        self.oauth_error("unsupported_grant_type")

    def refresh_grant(self, form):
        b = STATE.b
        token = form.get("refresh_token", "")
        if token not in b["refresh_tokens"]:
            return self.oauth_error("invalid_grant", "unknown refresh token")
        user = b["refresh_tokens"][token]
        reply = self.tokens(user, form["client_id"], b["rotate"])
        if b["rotate"]:
            del b["refresh_tokens"][token]
        self.json(200, reply)

    def code_grant(self, form):
        code = STATE.codes.pop(form.get("code", ""), None)
        if code is None:
            return self.oauth_error("invalid_grant", "unknown or used code")
        if code["redirect_uri"] != form.get("redirect_uri") or code["client"] != form["client_id"]:
            return self.oauth_error("invalid_grant", "redirect_uri or client mismatch")
        if s256(form.get("code_verifier", "")) != code["challenge"]:
            return self.oauth_error("invalid_grant", "PKCE verification failed")
        self.json(200, self.tokens(code["user"], code["client"], not STATE.b["no_refresh_token"]))

    def device_grant(self, form):
        device = STATE.devices.get(form.get("device_code", ""))
        if device is None or device["client"] != form.get("client_id"):
            return self.oauth_error("invalid_grant", "unknown device code")
        device["polls"].append(time.time())
        step = device["script"].pop(0) if device["script"] else "ok"
        if step != "ok":
            return self.oauth_error(step)
        device["client"] = None  # used up: a second poll is invalid_grant
        self.json(200, self.tokens(device["user"], device["client"],
                                   not STATE.b["no_refresh_token"]))

    def introspect(self, params):
        token = params.get("token", "")
        auth = self.headers.get("Authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        with LOCK:
            entry = STATE.access.get(token)
        if entry is None or entry[2] < time.time():
            return self.json(200, {"active": False})
        user, client, expiry = entry
        self.json(200, {"active": True, "username": user, "email": user, "sub": user,
                        "client_id": client, "token_type": "Bearer", "exp": int(expiry),
                        "scope": "mail"})


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up (yubin over its size cap or deadline) is
        # what several tests do on purpose; anything else is our bug.
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


def parse_args():
    p = argparse.ArgumentParser(description="a test OAuth2 server on 127.0.0.1")
    p.add_argument("--cert", required=True, help="server certificate (PEM)")
    p.add_argument("--key", required=True, help="its private key (PEM)")
    p.add_argument("--port", type=int, default=0, help="HTTPS port (0: any free one)")
    p.add_argument("--http-port", type=int, default=None,
                   help="also serve plain HTTP (e.g. for Dovecot's introspection) on this port")
    p.add_argument("--client", action="append", default=[], metavar="ID[:SECRET]")
    p.add_argument("--refresh-token", action="append", default=[], metavar="TOKEN[=USER]")
    p.add_argument("--user", default=None, help="who logs in (default alice)")
    p.add_argument("--config", help="a JSON file with behaviour settings")
    p.add_argument("--token-log", help="append every issued token here (JSON lines)")
    p.add_argument("--port-file", help="also write the port(s) here")
    return p.parse_args()


def behaviour_from(args):
    b = {}
    if args.config:
        with open(args.config) as f:
            b.update(json.load(f))
    clients = dict(b.get("clients", {}))
    for c in args.client:
        cid, _, secret = c.partition(":")
        clients[cid] = secret or None
    b["clients"] = clients
    user = args.user or b.get("user", DEFAULTS["user"])
    b["user"] = user
    tokens = dict(b.get("refresh_tokens", {}))
    for t in args.refresh_token:
        token, _, who = t.partition("=")
        tokens[token] = who or user
    b["refresh_tokens"] = tokens
    return b


def main():
    global STATE
    args = parse_args()
    STATE = State(behaviour_from(args), args.token_log)
    httpd = Server(("127.0.0.1", args.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    ports = [str(httpd.server_address[1])]
    servers = [httpd]
    if args.http_port is not None:
        plain = Server(("127.0.0.1", args.http_port), Handler)
        ports.append(str(plain.server_address[1]))
        servers.append(plain)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("\n".join(ports) + "\n")
        os.rename(args.port_file + ".tmp", args.port_file)
    print("\n".join(ports), flush=True)
    for extra in servers[1:]:
        threading.Thread(target=extra.serve_forever, daemon=True).start()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
