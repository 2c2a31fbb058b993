#!/bin/bash
# yubin --authorize against tests/lib/oauth_server.py on 127.0.0.1: the
# device flow (pending, slow_down honoured, denied, expired), the
# authorization-code flow with PKCE where this script plays the browser
# (consent, forged requests, silent connections and garbage beside the
# right one, a refusal), where the refresh token is stored
# and with which mode, the usage errors, and that no token or code ever
# reaches stdout or stderr, at -vvv.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"

[ -n "${YUBIN-}" ] && [ -x "$YUBIN" ] || tap_bail "YUBIN is not set (run through make check)"
command -v openssl >/dev/null || tap_bail "the openssl command is missing"
command -v curl >/dev/null || tap_bail "the curl command is missing"
PY=${PYTHON3:-python3}
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

tap_plan 33

W=$(mktemp -d "${TMPDIR:-/tmp}/yubin-oauth2-XXXXXX") || tap_bail "no temporary directory"
SERVER_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

# A CA and a server certificate for 127.0.0.1 signed by it.
(
	cd "$W" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout ca.key -out ca.pem -days 30 -subj "/CN=yubin oauth2 test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" &&
	printf '%s\n' "basicConstraints = critical, CA:FALSE" \
		"keyUsage = critical, digitalSignature, keyEncipherment" \
		"extendedKeyUsage = serverAuth" \
		"subjectAltName = DNS:localhost, IP:127.0.0.1" >server.ext &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout server.key -out server.csr -subj /CN=localhost &&
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-out server.pem -days 30 -extfile server.ext
) >"$W/openssl.log" 2>&1 || tap_bail "openssl could not make certificates"

"$PY" "$top_srcdir/tests/lib/oauth_server.py" --cert "$W/server.pem" --key "$W/server.key" \
	--client yubin-test --token-log "$W/tokens.log" --port-file "$W/port" \
	>/dev/null 2>"$W/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.1; done
[ -s "$W/port" ] || tap_bail "oauth_server.py did not start: $(cat "$W/server.err")"
PORT=$(head -n 1 "$W/port")
URL=https://127.0.0.1:$PORT

control() {
	curl -s --cacert "$W/ca.pem" -d "$1" "$URL/_control" >/dev/null
}

cat >"$W/config.yaml" <<EOF
defaults:
  protocol: imap
  host: 127.0.0.1
  user: alice
  auth: xoauth2
  state_dir: $W/state
  timeout: 10
accounts:
  - name: dev
    deliver: {maildir: $W/Maildir-dev}
    oauth2:
      token_url: $URL/token
      device_auth_url: $URL/device
      client_id: yubin-test
      ca_file: $W/ca.pem
  - name: web
    deliver: {maildir: $W/Maildir-web}
    oauth2:
      token_url: $URL/token
      auth_url: $URL/authorize
      client_id: yubin-test
      refresh_token_file: $W/web-refresh
      ca_file: $W/ca.pem
  - name: plain
    auth: plain
    password: secret
    deliver: {maildir: $W/Maildir-plain}
EOF
chmod 600 "$W/config.yaml"

N=0
# authorize TAG ARGS...: run in the foreground; RUN_STATUS, $W/TAG.out/.err
authorize() {
	local tag=$1
	shift
	N=$((N + 1))
	RUN_STATUS=0
	timeout 120 "$YUBIN" -vvv -c "$W/config.yaml" "$@" \
		>"$W/$tag.out" 2>"$W/$tag.err" </dev/null || RUN_STATUS=$?
}

# start_browser_flow TAG: yubin --authorize web in the background; sets
# AUTH_URL to the address it asks the user to open.
start_browser_flow() {
	local tag=$1
	timeout 120 "$YUBIN" -vvv -c "$W/config.yaml" --authorize web \
		>"$W/$tag.out" 2>"$W/$tag.err" </dev/null &
	BG_PID=$!
	AUTH_URL=
	for _ in $(seq 100); do
		AUTH_URL=$(grep -o "$URL/authorize?[^ ]*" "$W/$tag.out" 2>/dev/null)
		[ -n "$AUTH_URL" ] && break
		sleep 0.1
	done
}

finish_browser_flow() {
	RUN_STATUS=0
	wait "$BG_PID" || RUN_STATUS=$?
}

last_token() {
	"$PY" -c 'import json,sys
kind = sys.argv[2]
last = ""
for line in open(sys.argv[1]):
    entry = json.loads(line)
    if entry["kind"] == kind:
        last = entry["token"]
print(last)' "$W/tokens.log" "$1"
}

mode_of() {
	stat -c %a "$1" 2>/dev/null
}

# --- the device flow ---------------------------------------------------

control '{"device_script": ["authorization_pending", "slow_down"], "device_interval": 1}'
authorize device --authorize dev
tap_is "$RUN_STATUS" 0 "device flow: pending, then slow_down, then authorized (exit 0)"
tap_check "the user is told where to go and which code to enter" \
	grep -q "https://127.0.0.1/device" "$W/device.out"
user_code=$(grep -A2 "enter the code" "$W/device.out" | sed -n 3p | tr -d ' ')
tap_check "and the code itself is shown (user_code '$user_code')" test -n "$user_code"
cache=$W/state/dev/oauth2.json
tap_is "$(mode_of "$cache")" 600 "the token cache is written with mode 0600"
tap_is "$(mode_of "$W/state/dev")" 700 "in an account state directory created with mode 0700"
refresh=$(last_token refresh)
tap_check "the cache holds the issued refresh token" grep -qF "\"refresh_token\":\"$refresh\"" "$cache"
gaps=$(curl -s --cacert "$W/ca.pem" "$URL/_stats" | "$PY" -c 'import json,sys
polls = [p for p in json.load(sys.stdin)["devices"].values() if len(p) == 3][0]
print(" ".join("%.1f" % (b - a) for a, b in zip(polls, polls[1:])))')
tap_check "polls wait the interval, and 5 s more after slow_down (gaps: $gaps)" \
	"$PY" -c 'import sys; a, b = map(float, sys.argv[1:3]); sys.exit(not (a >= 0.9 and b >= 5.9))' $gaps

control '{"device_script": ["access_denied"]}'
authorize denied --authorize dev
tap_is "$RUN_STATUS" 77 "device flow: access_denied is an authentication failure (77)"
tap_check "saying so" grep -q "the authorization was denied" "$W/denied.err"

control '{"device_script": ["authorization_pending", "expired_token"]}'
authorize expired --authorize dev
tap_is "$RUN_STATUS" 75 "device flow: expired_token is a temporary failure (75)"
tap_check "that says to run --authorize again" grep -q "run yubin --authorize dev again" "$W/expired.err"

control '{"device_script": [], "device_expires_in": 2, "device_interval": 1}'
control '{"device_script": ["authorization_pending", "authorization_pending", "authorization_pending"]}'
authorize gaveup --authorize dev
tap_is "$RUN_STATUS" 75 "device flow: a code that expires while pending ends the wait (75)"
control '{"device_script": [], "device_expires_in": 600}'

# --- the authorization-code flow --------------------------------------

start_browser_flow browser
page=$(curl -s -L --cacert "$W/ca.pem" "$AUTH_URL")
finish_browser_flow
tap_is "$RUN_STATUS" 0 "code flow: the browser comes back with the code; authorized (exit 0)"
tap_check "the page the browser gets says so" grep -q "authorized" <<<"$page"
tap_check "the address asks for S256 PKCE and a state" \
	grep -q "code_challenge_method=S256.*" <<<"$AUTH_URL"
tap_is "$(cat "$W/web-refresh" 2>/dev/null)" "$(last_token refresh)" \
	"the refresh token is written to refresh_token_file"
tap_is "$(mode_of "$W/web-refresh")" 600 "with mode 0600"

# Anyone who can reach the listener may send it anything: only the
# request with yubin's state ends the wait.  browser.py prints one line
# per request: NAME STATUS, and "right STATUS SECONDS" for the real one.
# status_of NAME TAG: the status yubin answered NAME in TAG's scenario
status_of() {
	awk -v n="$1" '$1 == n { print $2; exit }' "$W/$2.browser"
}
# answered_quickly TAG: the right request was answered within 3 s, less
# than one connection's own deadline (5 s)
answered_quickly() {
	awk '$1 == "right" { exit !($3 < 3) } END { if (!NR) exit 1 }' "$W/$1.browser"
}

start_browser_flow forged
"$PY" "$top_srcdir/tests/lib/browser.py" forged "$AUTH_URL" "$W/ca.pem" >"$W/forged.browser" 2>&1
finish_browser_flow
tap_is "$(status_of wrong-state forged)" 400 "code flow: a redirect with another state gets a 400"
tap_is "$(status_of no-state forged)$(status_of wrong-state-error forged)$(status_of no-state-error forged)" \
	400400400 "and so do a code without a state, and an error with a wrong state or none"
tap_is "$(status_of state-prefix forged)$(status_of state-longer forged)$(status_of state-no-code forged)" \
	400400400 "and a state one character short or long, and the state without a code"
tap_is "$(status_of right forged)/$RUN_STATUS" 200/0 "yubin waits on: the right redirect after them is authorized (exit 0)"
tap_check "the forged request is reported as not matching the state" \
	grep -q "state does not match" "$W/forged.err"

start_browser_flow silent
"$PY" "$top_srcdir/tests/lib/browser.py" silent "$AUTH_URL" "$W/ca.pem" >"$W/silent.browser" 2>&1
finish_browser_flow
tap_is "$(status_of right silent)/$RUN_STATUS" 200/0 \
	"code flow: a silent connection held open does not keep the browser out (exit 0)"
tap_check "the right request is answered at once ($(grep right "$W/silent.browser"))" \
	answered_quickly silent

start_browser_flow crowd
"$PY" "$top_srcdir/tests/lib/browser.py" crowd "$AUTH_URL" "$W/ca.pem" >"$W/crowd.browser" 2>&1
finish_browser_flow
tap_is "$(status_of right crowd)/$RUN_STATUS" 200/0 \
	"code flow: after 40 silent connections and 45 garbage requests the right one is authorized"
tap_check "at once ($(grep right "$W/crowd.browser"))" answered_quickly crowd
tap_is "$(grep -v '^right' "$W/crowd.browser" | awk '$2 !~ /^(400|404|reset)$/' | tr '\n' ' ')" "" \
	"each garbage request got a 400 or 404 (or a reset after an oversized head)"

control '{"deny": true}'
start_browser_flow refused
curl -s -L --cacert "$W/ca.pem" "$AUTH_URL" >/dev/null
finish_browser_flow
control '{"deny": false}'
tap_is "$RUN_STATUS" 77 "code flow: the user refuses (error=access_denied): 77"

# --- usage ---------------------------------------------------------------

authorize nooauth --authorize plain
tap_is "$RUN_STATUS" 64 "--authorize for an account without oauth2 is a usage error (64)"
authorize unknown --authorize nosuch
tap_is "$RUN_STATUS" 64 "--authorize for an unknown account is a usage error (64)"

# --- the account's lock ----------------------------------------------------

# A fetch of the account holds its lock (and may be refreshing the token):
# --authorize waits for nothing and says so.
mkdir -p "$W/state/dev"
"$PY" - "$W/state/dev/lock" "$W/locked" <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.lockf(fd, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(60)
PY
holder=$!
for _ in $(seq 100); do [ -e "$W/locked" ] && break; sleep 0.1; done
authorize locked --authorize dev
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
tap_is "$RUN_STATUS" 75 "--authorize while another run holds the account's lock: 75"
tap_check "--authorize while locked: the message mentions the lock" \
	grep -qi lock "$W/locked.err"

# --- secrets -------------------------------------------------------------

leaked=
while read -r token; do
	[ -n "$token" ] || continue
	if grep -qF -- "$token" "$W"/*.out "$W"/*.err; then
		leaked="$leaked $token"
	fi
done < <("$PY" -c 'import json,sys
for line in open(sys.argv[1]):
    print(json.loads(line)["token"])' "$W/tokens.log")
tap_is "$leaked" "" "no access token, refresh token, code or device code in any output at -vvv"

tap_finish
