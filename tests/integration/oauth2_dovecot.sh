#!/bin/bash
# OAuth2 end to end: a real Dovecot checks bearer tokens with a local
# RFC 7662 introspection endpoint (tests/lib/oauth_server.py, HTTPS token
# endpoint on 127.0.0.1).  yubin refreshes the access token with its
# refresh token, logs in with XOAUTH2 and OAUTHBEARER over IMAP and POP3
# and fetches; a cached token is reused without asking the endpoint; a
# cached token the server refuses is refreshed once and the login tried
# again; a revoked refresh token is a clear auth error.  No token, refresh
# token or client secret appears in any output, even with -vvv.  yubin
# does not link libcurl; without it an OAuth2 account fails with exit 69.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 41

# The token endpoint's certificate, made before Dovecot so that its
# introspection URL is known when Dovecot's configuration is written.
oauth_dir=$(mktemp -d "${TMPDIR:-/tmp}/yubin-oauth.XXXXXX") || tap_bail "mktemp failed"
trap 'rm -rf "$oauth_dir"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$oauth_dir/server.key" -out "$oauth_dir/server.pem" -days 2 \
	-subj "/CN=yubin test token endpoint" -addext "subjectAltName=IP:127.0.0.1" \
	-addext "basicConstraints=critical,CA:TRUE" >/dev/null 2>&1 ||
	tap_bail "openssl cannot make the token endpoint's certificate"

refresh_token=rt-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
client_secret=cs-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
: >"$oauth_dir/tokens.log"
"$PYTHON3" "$top_srcdir/tests/lib/oauth_server.py" \
	--cert "$oauth_dir/server.pem" --key "$oauth_dir/server.key" \
	--config <(printf '{"clients": {"yubin-test": "%s"}, "refresh_tokens": {"%s": "alice"}}' \
		"$client_secret" "$refresh_token") \
	--token-log "$oauth_dir/tokens.log" --http-port 0 \
	>"$oauth_dir/ports" 2>"$oauth_dir/server.err" &
oauth_pid=$!
for _ in $(seq 100); do
	[ "$(wc -l <"$oauth_dir/ports")" -ge 2 ] && break
	sleep 0.1
done
https_port=$(sed -n 1p "$oauth_dir/ports")
http_port=$(sed -n 2p "$oauth_dir/ports")
[ -n "$https_port" ] && [ -n "$http_port" ] ||
	tap_bail "the token endpoint did not start: $(cat "$oauth_dir/server.err")"
trap 'kill "$oauth_pid" 2>/dev/null; rm -rf "$oauth_dir"' EXIT

HARNESS_OAUTH2_INTROSPECTION_URL=http://127.0.0.1:$http_port/introspect
harness_start
harness_at_exit "kill $oauth_pid 2>/dev/null; rm -rf '$oauth_dir'"

work=$(harness_dir)/client
harness_add_messages alice 4 --profile small
server_expected alice "$work/expected"

token_requests() {
	"$PYTHON3" - "$oauth_dir/server.pem" "$https_port" <<-'EOF'
	import json, ssl, sys, urllib.request
	context = ssl.create_default_context(cafile=sys.argv[1])
	url = "https://127.0.0.1:%s/_stats" % sys.argv[2]
	stats = json.load(urllib.request.urlopen(url, context=context, timeout=10))
	print(stats["requests"].get("POST /token", 0))
	EOF
}

# write_oauth_config FILE NAME PROTOCOL TLS PORT AUTH: an account with no
# password and an oauth2 mapping whose refresh token is in a file.
write_oauth_config() {
	local file=$1 name=$2 protocol=$3 tls=$4 port=$5 auth=$6
	harness_write_config "$file" "$name" "$protocol" "$tls" "$port" \
		alice "" "$work/$name/Maildir" auth="$auth"
	printf '%s\n' "$refresh_token" >"$work/$name.refresh"
	chmod 600 "$work/$name.refresh"
	cat >>"$file" <<-EOF
	    oauth2:
	      token_url: "https://127.0.0.1:$https_port/token"
	      client_id: yubin-test
	      client_secret: "$client_secret"
	      refresh_token_file: "$work/$name.refresh"
	      ca_file: "$oauth_dir/server.pem"
	EOF
}

# no_secrets_in LABEL FILE...: the refresh token, the client secret and
# every access token issued so far (alone, in base64, and as the XOAUTH2
# response) are absent.
no_secrets_in() {
	local label=$1
	shift
	local secrets=("$refresh_token" "$client_secret")
	local token
	while IFS= read -r token; do
		[ -n "$token" ] && secrets+=("$token")
	done < <("$PYTHON3" -c '
import base64, json, sys
for line in open(sys.argv[1]):
    line = line.strip()
    if line:
        token = json.loads(line)["token"]
        print(token)
        # The XOAUTH2 response as it goes on the wire.
        print(base64.b64encode(b"user=alice\x01auth=Bearer %s\x01\x01"
                               % token.encode()).decode())
' "$oauth_dir/tokens.log")
	local leaked=
	for token in "${secrets[@]}"; do
		if grep -qF -- "$token" "$@" ||
			grep -qF -- "$(printf '%s' "$token" | base64 -w0)" "$@"; then
			leaked=$token
		fi
	done
	if [ -z "$leaked" ]; then
		tap_ok "$label: no token or secret in the output"
	else
		tap_not_ok "$label: no token or secret in the output"
	fi
}


# login_case NAME PROTOCOL TLS PORT AUTH METHOD: a first fetch refreshes
# the token, logs in with METHOD and delivers everything.
login_case() {
	local name=$1 protocol=$2 tls=$3 port=$4 auth=$5 method=$6
	write_oauth_config "$work/$name.yaml" "$name" "$protocol" "$tls" "$port" "$auth"
	local logins before
	logins=$(harness_login_count alice)
	before=$(token_requests)
	yubin_run "$name" -- -c "$work/$name.yaml" -vvv
	tap_status_is 0 "$name: exits 0"
	tap_is "$(harness_login_method_after alice "$logins")" "$method" \
		"$name: Dovecot saw an $method login"
	tap_delivered_exactly "$work/expected" "$work/$name/Maildir" \
		"$name: all 4 delivered, byte-identical"
	tap_is "$(($(token_requests) - before))" 1 "$name: one refresh at the token endpoint"
	no_secrets_in "$name" "$RUN_ERR" "$RUN_OUT"
}

imaps=$(harness_port imaps)
pop3s=$(harness_port pop3s)
login_case imap-xoauth2 imap implicit "$imaps" xoauth2 XOAUTH2
login_case imap-oauthbearer imap implicit "$imaps" oauthbearer OAUTHBEARER
login_case pop3-xoauth2 pop3 implicit "$pop3s" xoauth2 XOAUTH2
login_case pop3-oauthbearer pop3 starttls "$(harness_port pop3)" oauthbearer OAUTHBEARER
login_case imap-auto imap starttls "$(harness_port imap)" auto OAUTHBEARER

# The token cache: private, and reused while valid.
cache=$work/state/imap-xoauth2/oauth2.json
tap_check "the access token is cached in the state directory" test -f "$cache"
tap_is "$(stat -c %a "$cache")" 600 "the token cache is mode 600"
harness_add_messages alice 1 --profile small
server_expected alice "$work/expected"
before=$(token_requests)
logins=$(harness_login_count alice)
yubin_run cached -- -c "$work/imap-xoauth2.yaml" -vvv
tap_status_is 0 "cached token: exits 0"
tap_is "$(($(token_requests) - before))" 0 "cached token: the endpoint is not asked"
tap_is "$(harness_login_method_after alice "$logins")" XOAUTH2 "cached token: logged in with it"
tap_delivered_exactly "$work/expected" "$work/imap-xoauth2/Maildir" \
	"cached token: the new message delivered"

# A cached token the server no longer takes (revoked early): one refresh,
# one more login, and the fetch goes on.
"$PYTHON3" - "$cache" <<-'EOF'
import json, sys
cache = json.load(open(sys.argv[1]))
cache["access_token"] = "revoked0token0nobody0issued"
tmp = sys.argv[1] + ".new"
with open(tmp, "w") as f:
    json.dump(cache, f)
import os
os.chmod(tmp, 0o600)
os.rename(tmp, sys.argv[1])
EOF
harness_add_messages alice 1 --profile small
server_expected alice "$work/expected"
before=$(token_requests)
yubin_run revoked -- -c "$work/imap-xoauth2.yaml" -v
tap_status_is 0 "refused cached token: exits 0 after one refresh"
tap_is "$(($(token_requests) - before))" 1 "refused cached token: exactly one refresh"
tap_delivered_exactly "$work/expected" "$work/imap-xoauth2/Maildir" \
	"refused cached token: the new message delivered"
tap_check "refused cached token: the retry is reported" \
	grep -q 'refreshing the OAuth2 token' "$RUN_ERR"

# A revoked refresh token: exit 77 and the way out named.
printf 'rt-revoked-%s\n' "$RANDOM" >"$work/pop3-xoauth2.refresh"
rm -f "$work/state/pop3-xoauth2/oauth2.json"
yubin_run bad-refresh -- -c "$work/pop3-xoauth2.yaml"
tap_status_is 77 "a revoked refresh token: exits 77"
tap_check "a revoked refresh token: the message names --authorize" \
	grep -q -- '--authorize' "$RUN_ERR"
no_secrets_in "bad-refresh" "$RUN_ERR" "$RUN_OUT"

# libcurl is loaded on the first OAuth2 request, never linked; where it
# cannot be loaded, that request fails with the reason, and exit 69.
if ldd "$YUBIN" | grep -q 'libcurl'; then
	tap_not_ok "yubin does not link libcurl"
else
	tap_ok "yubin does not link libcurl"
fi
rm -f "$work/state/pop3-xoauth2/oauth2.json"
yubin_run no-libcurl YUBIN_TEST_LIBCURL=/nonexistent/libcurl.so.4 -- \
	-c "$work/pop3-xoauth2.yaml"
tap_status_is 69 "without libcurl: exits 69"
tap_check "without libcurl: the message says why" \
	grep -q "OAuth2 needs libcurl (/nonexistent/libcurl.so.4): .*No such file" "$RUN_ERR"

tap_finish
