#!/bin/bash
# POP3 with STARTTLS (STLS) on the plain port, and with pipelining: false
# (one command at a time), over both STARTTLS and implicit TLS: each
# delivers the same 50 messages exactly once and byte for byte, and a
# second run fetches nothing.  Through a watching proxy on a plain
# connection: pipelining: false never sends a command before the previous
# response is complete, and the default pipelines (Dovecot offers
# PIPELINING).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 24
harness_start

work=$(harness_dir)/client
harness_add_messages alice 50 --hostile
server_expected alice "$work/expected"

# fetch_case NAME TLS PORT [KEY=VALUE...]: six checks.
fetch_case() {
	local name=$1 tls=$2 port=$3
	shift 3
	local maildir=$work/$name/Maildir config=$work/$name.yaml
	harness_write_config "$config" "$name" pop3 "$tls" "$port" \
		alice "$(harness_password alice)" "$maildir" "$@"
	yubin_run "$name-1" -- -c "$config" --json
	tap_status_is 0 "$name: first run exits 0"
	tap_json_is accounts.0.fetched 50 "$name: 50 fetched"
	tap_delivered_once "$work/expected" "$maildir" "$name: every message exactly once"
	tap_delivered_exactly "$work/expected" "$maildir" "$name: byte-identical to the server's"
	tap_tmp_empty "$maildir" "$name: tmp/ is empty"
	yubin_run "$name-2" -- -c "$config" --json
	if [ "$RUN_STATUS" -eq 0 ] && [ "$(json_get accounts.0.fetched)" = 0 ] &&
		[ "$(maildir_count "$maildir")" -eq 50 ]; then
		tap_ok "$name: second run exits 0 and delivers nothing"
	else
		tap_not_ok "$name: second run exits 0 and delivers nothing" \
			"fetched $(json_get accounts.0.fetched), Maildir holds $(maildir_count "$maildir"); $(run_summary)"
	fi
}

fetch_case starttls starttls "$(harness_port pop3)"
fetch_case starttls-nopipe starttls "$(harness_port pop3)" pipelining=false
fetch_case implicit-nopipe implicit "$(harness_port pop3s)" pipelining=false

# watch_case NAME [KEY=VALUE...]: a plain-text run through the proxy.
watch_case() {
	local name=$1
	shift
	local maildir=$work/$name/Maildir config=$work/$name.yaml
	proxy_start "$name"
	harness_write_config "$config" "$name" pop3 none "$PROXY_PORT" \
		alice "$(harness_password alice)" "$maildir" allow_plaintext=true auth=user "$@"
	yubin_run "$name" -- -c "$config" --json
	proxy_finish
	tap_status_is 0 "$name: plain-text run through the proxy exits 0"
	tap_delivered_exactly "$work/expected" "$maildir" "$name: byte-identical to the server's"
}

watch_case plain-nopipe pipelining=false
overlapped=$(proxy_get overlapped)
retrs=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["verbs"].get("RETR", 0))' "$PROXY_REPORT" 2>/dev/null)
if [ "$overlapped" = 0 ] && [ "$retrs" = 50 ]; then
	tap_ok "pipelining: false sends each command only after the previous response"
else
	tap_not_ok "pipelining: false sends each command only after the previous response" \
		"overlapped commands: $overlapped, RETRs: $retrs; report: $(cat "$PROXY_REPORT")"
fi

watch_case plain-pipe
in_flight=$(proxy_get max_in_flight)
if [ "$in_flight" -gt 1 ] 2>/dev/null; then
	tap_ok "by default commands are pipelined (up to $in_flight in flight)"
else
	tap_not_ok "by default commands are pipelined" "report: $(cat "$PROXY_REPORT")"
fi

tap_finish
