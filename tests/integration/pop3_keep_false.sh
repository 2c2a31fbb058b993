#!/bin/bash
# keep: false: every message is delivered and then deleted on the server,
# which ends empty.  Killed at each durability step in turn (the state and
# the Maildir carried from one killed run to the next, so the runs move
# forward), the server never lacks a message that is not delivered, no
# message is delivered twice, and the run that finally completes leaves
# the server empty and everything delivered once.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 15
harness_start

GENMAIL=$top_srcdir/tests/lib/genmail.py
work=$(harness_dir)/client

# Part 1: one plain keep: false run.
harness_add_messages alice 20 --hostile
server_expected alice "$work/expected-a"
harness_write_config "$work/a.yaml" nokeep pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "$work/a/Maildir" keep=false
yubin_run a -- -c "$work/a.yaml" --json
tap_status_is 0 "keep: false run exits 0"
tap_json_is accounts.0.fetched 20 "keep: false: 20 fetched"
tap_json_is accounts.0.deleted 20 "keep: false: 20 deleted"
tap_delivered_exactly "$work/expected-a" "$work/a/Maildir" "keep: false: every message delivered once, byte-identical"
tap_is "$(server_stat alice)" 0 "keep: false: the server maildrop is empty"
tap_tmp_empty "$work/a/Maildir" "keep: false: tmp/ is empty"

# Part 2: killed at step k = 1, 2, 3, ... until a run gets past its last
# step; after every killed run, check that nothing is lost.
harness_add_messages alice 12 --profile small --hostile
server_expected alice "$work/expected-b"
harness_write_config "$work/b.yaml" nokeep-crash pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "$work/b/Maildir" keep=false
not_killed=()
broken=()
finished=no
for ((k = 1; k <= 500; k++)); do
	yubin_run "b-$k" YUBIN_TEST_KILL_AT=$k -- -c "$work/b.yaml"
	if [ "$RUN_STATUS" -eq 0 ]; then
		finished=yes
		break
	fi
	[ "$RUN_STATUS" -eq 137 ] || not_killed+=("k=$k: exit $RUN_STATUS: $(tail -n 2 "$RUN_ERR" | tr '\n' ' ')")
	server_expected alice "$work/server-b"
	if ! report=$("$PYTHON3" "$GENMAIL" invariant "$work/expected-b" "$work/server-b" "$work/b/Maildir"); then
		broken+=("after the run killed at step $k: $report")
	fi
done
steps=$((k - 1))
tap_is "$finished" yes "a run with YUBIN_TEST_KILL_AT=k completes for some k <= 500 (k=$k)"
if [ "$steps" -ge 12 ]; then
	tap_ok "the runs went through $steps durability steps (at least one per message)"
else
	tap_not_ok "the runs went through at least one durability step per message" "only $steps steps: is YUBIN_TEST_KILL_AT honoured?"
fi
if [ ${#not_killed[@]} -eq 0 ]; then
	tap_ok "every run with a kill step ahead died of SIGKILL (exit 137)"
else
	tap_not_ok "every run with a kill step ahead died of SIGKILL (exit 137)" "$(printf '%s\n' "${not_killed[@]}" | head -n 10)"
fi
if [ ${#broken[@]} -eq 0 ]; then
	tap_ok "after every killed run, each message is on the server or delivered, none twice"
else
	tap_not_ok "after every killed run, each message is on the server or delivered, none twice" \
		"$(printf '%s\n' "${broken[@]}" | head -n 20)"
fi
tap_delivered_exactly "$work/expected-b" "$work/b/Maildir" "after the completed run every message is delivered once, byte-identical"
tap_is "$(server_stat alice)" 0 "after the completed run the server is empty"
tap_tmp_empty "$work/b/Maildir" "after the completed run tmp/ is empty"

# A last clean run finds nothing and changes nothing.
yubin_run b-final -- -c "$work/b.yaml" --json
tap_status_is 0 "a further run exits 0"
tap_json_is accounts.0.on_server 0 "a further run sees an empty server"

tap_finish
