#!/bin/bash
# POP3 over implicit TLS into a new Maildir: 50 messages including every
# hostile case of genmail.py arrive exactly once and byte for byte as the
# contract says (server bytes, CRLF -> LF); a second run fetches nothing;
# five new messages are exactly what a third run fetches; keep (the
# default) leaves everything on the server.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 21
harness_start

work=$(harness_dir)/client
maildir=$work/Maildir
config=$work/config.yaml
harness_add_messages alice 50 --hostile
server_expected alice "$work/expected1"
harness_write_config "$config" basic pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "$maildir"

# First run: everything is new.
yubin_run first -- -c "$config" --json
tap_status_is 0 "first run exits 0"
tap_json_is accounts.0.status ok "first run: --json status is ok"
tap_json_is accounts.0.on_server 50 "first run: 50 messages on the server"
tap_json_is accounts.0.new 50 "first run: 50 new"
tap_json_is accounts.0.fetched 50 "first run: 50 fetched"
tap_json_is exit_code 0 "first run: --json exit_code is 0"
tap_delivered_once "$work/expected1" "$maildir" "every message delivered exactly once"
tap_delivered_exactly "$work/expected1" "$maildir" "every message byte-identical to the server's (CRLF -> LF)"
tap_tmp_empty "$maildir" "tmp/ is empty after the first run"
"$PYTHON3" "$top_srcdir/tests/lib/genmail.py" hashes "$maildir" >"$work/after1"

# Second run, without --json: nothing new, and nothing printed (cron).
yubin_run second -- -c "$config"
tap_status_is 0 "second run exits 0"
if [ ! -s "$RUN_OUT" ] && [ ! -s "$RUN_ERR" ]; then
	tap_ok "a successful run prints nothing when stderr is not a terminal"
else
	tap_not_ok "a successful run prints nothing when stderr is not a terminal" \
		"stdout: $(head -c 500 "$RUN_OUT"); stderr: $(head -c 500 "$RUN_ERR")"
fi
"$PYTHON3" "$top_srcdir/tests/lib/genmail.py" hashes "$maildir" >"$work/after2"
if cmp -s "$work/after1" "$work/after2"; then
	tap_ok "second run delivers nothing"
else
	tap_not_ok "second run delivers nothing" "$(diff "$work/after1" "$work/after2" | head -n 10)"
fi

# Same again with --json, to see the counts.
yubin_run second-json -- -c "$config" --json
tap_json_is accounts.0.new 0 "a run with nothing new reports new 0"

# Five more on the server: exactly those five arrive.
harness_add_messages alice 5
server_expected alice "$work/expected2"
yubin_run third -- -c "$config" --json
tap_status_is 0 "third run exits 0"
tap_json_is accounts.0.fetched 5 "third run fetches 5"
tap_delivered_exactly "$work/expected2" "$maildir" "after the third run the Maildir matches all 55 server messages"
"$PYTHON3" "$top_srcdir/tests/lib/genmail.py" hashes "$maildir" >"$work/after3"
new_ids=$(comm -13 "$work/after2" "$work/after3" | cut -d' ' -f2 | sort | tr '\n' ' ')
want_ids=$(comm -13 "$work/expected1" "$work/expected2" | cut -d' ' -f2 | sort | tr '\n' ' ')
if [ "$new_ids" = "$want_ids" ] && [ -n "$want_ids" ]; then
	tap_ok "the third run delivered exactly the 5 new messages"
else
	tap_not_ok "the third run delivered exactly the 5 new messages" "delivered: $new_ids; expected: $want_ids"
fi
tap_tmp_empty "$maildir" "tmp/ is empty after the third run"

# keep defaults to true.
tap_is "$(server_stat alice)" 55 "the server still holds all 55 messages"
tap_check "the state is in state_dir/ACCOUNT" test -d "$work/state/basic"
# Nothing written beside the Maildir and the state (this directory holds
# only those and the test's own files).
stray=$(cd "$work" && ls -A | grep -vxE 'Maildir|state|config\.yaml|[a-z0-9-]+\.(out|err)|expected[12]|after[123]')
tap_is "$stray" "" "yubin wrote nothing outside its Maildir and state_dir"

tap_finish
