#!/bin/bash
# Exactly once under kill -9.
#
# 1. keep: true and keep: false, 30 messages: for k = 1, 2, 3, ... (until a
#    run gets past its last step; at most 500), a fresh Maildir and state,
#    a run that SIGKILLs itself at its k-th durability step
#    (YUBIN_TEST_KILL_AT=k), then a clean run: it must exit 0 with every
#    message delivered exactly once, byte for byte, and tmp/ empty.  With
#    keep: false the killed run must not have deleted anything it had not
#    delivered, and the clean run must leave the server empty (the server
#    is refilled with new messages for each k).
# 2. A 2000-message mailbox and five real `kill -9` at random moments
#    (seeded: CRASH_SEED), each run resuming the state of the one before;
#    then a clean run delivers every message exactly once.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"
. "$top_srcdir/tests/lib/crash.sh"

need_yubin
tap_plan 17
harness_start

GENMAIL=$top_srcdir/tests/lib/genmail.py
work=$(harness_dir)/client
MESSAGES=30
yubin_wrapped && MESSAGES=4 # under valgrind each run is slow: fewer steps

# The hooks of crash_each_step for keep: $keep as $user.
pop3_prepare() {
	local dir=$1
	if [ "$keep" = false ]; then
		harness_add_messages "$user" "$MESSAGES" --profile small --hostile
		server_expected "$user" "$work/expected-$keep"
	fi
	harness_write_config "$dir.yaml" "crash-$keep" pop3 implicit "$(harness_port pop3s)" \
		"$user" "$(harness_password "$user")" "$dir/Maildir" keep="$keep" \
		state_dir="$dir/state"
}
pop3_killed() {
	local dir=$1 k=$2 report
	[ "$keep" = false ] || return 0
	server_expected "$user" "$work/server"
	if ! report=$("$PYTHON3" "$GENMAIL" invariant "$work/expected-$keep" \
		"$work/server" "$dir/Maildir"); then
		STEP_LOST+=("killed at step $k: $report")
	fi
}
pop3_check_sink() {
	"$PYTHON3" "$GENMAIL" compare "$work/expected-$keep" "$1/Maildir"
}
pop3_after() {
	local dir=$1 k=$2 left
	if [ -n "$(ls -A "$dir/Maildir/tmp" 2>/dev/null)" ]; then
		STEP_TMP+=("k=$k: $(ls -A "$dir/Maildir/tmp" | head -n 3 | tr '\n' ' ')")
	fi
	if [ "$keep" = false ]; then
		left=$(server_stat "$user")
		[ "$left" -eq 0 ] || STEP_SERVER+=("k=$k: $left left on the server")
	fi
}

for keep in true false; do
	if [ "$keep" = true ]; then
		user=bob
		harness_add_messages bob "$MESSAGES" --profile small --hostile
		server_expected bob "$work/expected-true"
	else
		user=carol
	fi
	STEP_LOST=()
	STEP_TMP=()
	STEP_SERVER=()
	crash_each_step pop3 "$keep" 500
	tap_delivered_exactly "$work/expected-$keep" "$CRASH_LAST_DIR/Maildir" \
		"keep: $keep: the run that got past its last step delivered everything"
	crash_tap_steps "keep: $keep" "$MESSAGES"
	tap_none "keep: $keep: each killed run died of SIGKILL (exit 137)" ${CRASH_BAD_KILL[@]+"${CRASH_BAD_KILL[@]}"}
	tap_none "keep: $keep: after each kill a clean run exits 0 and delivers every message once, byte-identical" \
		${CRASH_BAD_RESUME[@]+"${CRASH_BAD_RESUME[@]}"}
	tap_none "keep: $keep: after each clean run tmp/ is empty" ${STEP_TMP[@]+"${STEP_TMP[@]}"}
	if [ "$keep" = false ]; then
		tap_none "keep: false: no killed run deleted a message it had not delivered" \
			${STEP_LOST[@]+"${STEP_LOST[@]}"}
		tap_none "keep: false: after each clean run the server is empty" \
			${STEP_SERVER[@]+"${STEP_SERVER[@]}"}
	fi
done
tap_is "$(server_stat carol)" 0 "the keep: false runs left the server empty"

# Part 2: real kill -9 at random moments in a 2000-message mailbox.
seed=${CRASH_SEED:-4242}
RANDOM=$seed
tap_diag "kill -9 moments seeded with CRASH_SEED=$seed"
harness_add_messages alice 2000 --profile small
server_expected alice "$work/expected-big"
harness_write_config "$work/big.yaml" crash-big pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "$work/big/Maildir"
interrupted=0
dups=()
for round in 1 2 3 4 5; do
	# The first kill comes early enough to land inside any build's fetch.
	if [ "$round" -eq 1 ]; then
		delay_ms=$((20 + RANDOM % 100))
	else
		delay_ms=$((20 + RANDOM % 1500))
	fi
	"$YUBIN" -c "$work/big.yaml" >"$work/big-$round.out" 2>"$work/big-$round.err" </dev/null &
	pid=$!
	harness_at_exit "kill -KILL $pid 2>/dev/null"
	sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
	if kill -KILL "$pid" 2>/dev/null; then
		interrupted=$((interrupted + 1))
	fi
	wait "$pid" 2>/dev/null
	delivered=$(maildir_count "$work/big/Maildir")
	tap_diag "kill $round after ${delay_ms} ms: $delivered delivered so far"
	if [ -d "$work/big/Maildir" ] &&
		! report=$("$PYTHON3" "$GENMAIL" invariant "$work/expected-big" "$work/expected-big" "$work/big/Maildir"); then
		dups+=("after kill $round: $report")
	fi
done
tap_none "no message delivered twice or corrupt after any kill -9" ${dups[@]+"${dups[@]}"}
if [ "$interrupted" -ge 1 ]; then
	tap_ok "$interrupted of 5 kills interrupted a running fetch"
else
	tap_not_ok "at least one kill interrupted a running fetch" "every run had finished before its kill"
fi
yubin_run big-clean YUBIN_WRAPPER= -- -c "$work/big.yaml" --json
tap_status_is 0 "the clean run after the kills exits 0"
tap_delivered_exactly "$work/expected-big" "$work/big/Maildir" "all 2000 messages delivered exactly once, byte-identical"

tap_finish
