#!/bin/bash
# yubin --watch with OAuth2 tokens that live 20 s: a real Dovecot checks
# each login's token with the test token endpoint, which calls a token
# inactive once it expired.  The watch logs in afresh with a new token
# before the one in use expires, again and again, and never fails a
# fetch for it; mail appended after the renewals still arrives.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"
. "$top_srcdir/tests/lib/watch.sh"

need_yubin
tap_plan 11
lifetime=20

oauth_dir=$(mktemp -d "${TMPDIR:-/tmp}/yubin-oauth.XXXXXX") || tap_bail "mktemp failed"
trap 'rm -rf "$oauth_dir"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$oauth_dir/server.key" -out "$oauth_dir/server.pem" -days 2 \
	-subj "/CN=yubin test token endpoint" -addext "subjectAltName=IP:127.0.0.1" \
	-addext "basicConstraints=critical,CA:TRUE" >/dev/null 2>&1 ||
	tap_bail "openssl cannot make the token endpoint's certificate"
refresh_token=rt-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '{"clients": {"yubin-test": null}, "refresh_tokens": {"%s": "alice"}, "expires_in": %d}' \
	"$refresh_token" "$lifetime" >"$oauth_dir/behaviour.json"
: >"$oauth_dir/tokens.log"
"$PYTHON3" "$top_srcdir/tests/lib/oauth_server.py" \
	--cert "$oauth_dir/server.pem" --key "$oauth_dir/server.key" \
	--config "$oauth_dir/behaviour.json" --token-log "$oauth_dir/tokens.log" \
	--http-port 0 >"$oauth_dir/ports" 2>"$oauth_dir/server.err" &
oauth_pid=$!
trap 'kill "$oauth_pid" 2>/dev/null; rm -rf "$oauth_dir"' EXIT
for _ in $(seq 100); do
	[ "$(wc -l <"$oauth_dir/ports")" -ge 2 ] && break
	sleep 0.1
done
https_port=$(sed -n 1p "$oauth_dir/ports")
http_port=$(sed -n 2p "$oauth_dir/ports")
[ -n "$https_port" ] && [ -n "$http_port" ] ||
	tap_bail "the token endpoint did not start: $(cat "$oauth_dir/server.err")"

HARNESS_OAUTH2_INTROSPECTION_URL=http://127.0.0.1:$http_port/introspect
harness_start
harness_at_exit "kill $oauth_pid 2>/dev/null; rm -rf '$oauth_dir'"

work=$(harness_dir)/client
root=$work/Mail
imaptool alice append --folder INBOX --count 2 --batch 1 >/dev/null

config=$work/config.yaml
harness_write_config "$config" mail imap implicit "$(harness_port imaps)" \
	alice "" "$root" auth=xoauth2
printf '%s\n' "$refresh_token" >"$work/refresh"
chmod 600 "$work/refresh"
cat >>"$config" <<-EOF
    oauth2:
      token_url: "https://127.0.0.1:$https_port/token"
      client_id: yubin-test
      refresh_token_file: "$work/refresh"
      ca_file: "$oauth_dir/server.pem"
EOF

watch_start "$work/watch.out" "$work/watch.err" --watch -v --json -c "$config"

# wait_for SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
	local limit=$(($1 * 10)) i
	shift
	for ((i = 0; i < limit; i++)); do
		"$@" && return 0
		kill -0 "$watch_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
has_count() { [ "$(maildir_count "$1")" -ge "$2" ]; }
renewals() { grep -c 'logging in afresh with a new one' "$work/watch.err"; }
renewed_twice() { [ "$(renewals)" -ge 2 ]; }

tap_check "the first fetch delivers INBOX" wait_for 10 has_count "$root" 2
started=$(date +%s)
tap_check "the watch logs in afresh with a new token twice within 45 s" \
	wait_for 45 renewed_twice
tap_diag "two renewals $(($(date +%s) - started)) s after the first fetch (tokens live ${lifetime} s)"
tap_check "each time before the token in use expired" "$PYTHON3" -c '
import re, sys
left = [int(m) for m in re.findall(r"token expires in (-?\d+) s", open(sys.argv[1]).read())]
assert len(left) >= 2 and all(0 < s <= 20 for s in left), left
print("# seconds left at each renewal:", left)' "$work/watch.err"
tokens=$(grep -c '"kind": "access"' "$oauth_dir/tokens.log")
tap_check "the token endpoint issued a new access token each time (${tokens})" \
	test "$tokens" -ge 3
tap_is "$(grep -c 'passdb.*oauth2.*\(inactive\|failed\)\|auth failed' "$(harness_log)")" 0 \
	"Dovecot refused no login"

sleep 1
imaptool alice append --folder INBOX --count 1 --batch 2 >/dev/null
tap_check "a message appended after the renewals arrives within 10 s" \
	wait_for 10 has_count "$root" 3
sleep 1
imaptool alice expected --folder INBOX >"$work/inbox.expected"
tap_delivered_exactly "$work/inbox.expected" "$root" "every message once, byte for byte"

kill -TERM "$watch_pid"
wait "$watch_pid"
tap_is "$?" 0 "SIGTERM ends the watch with exit 0"
tap_check "--json: no fetch failed; the renewals' fetches ran" "$PYTHON3" -c '
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
assert objs and all(o["status"] == "ok" for o in objs), objs
assert sum(o["trigger"] == "renew" for o in objs) >= 2, objs' "$work/watch.out"
tap_check "no error or warning from the watch" \
	test -z "$(grep -i 'error\|warning\|refused' "$work/watch.err")"
xoauth2_logins=$(grep -c 'Login: user=<alice>, method=XOAUTH2' "$(harness_log)")
tap_check "Dovecot saw the XOAUTH2 logins: watch and fetch, then each renewal's (${xoauth2_logins})" \
	test "$xoauth2_logins" -ge 6
tap_finish
