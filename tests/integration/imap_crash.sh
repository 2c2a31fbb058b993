#!/bin/bash
# Exactly once under kill -9, for IMAP: with keep: true and keep: false,
# for k = 1, 2, 3, ... a fresh Maildir and state, a run that SIGKILLs
# itself at its k-th durability step (YUBIN_TEST_KILL_AT=k), then a clean
# run: every message exactly once, byte for byte, tmp/ empty; with
# keep: false nothing undelivered was expunged, the server ends empty and
# the state keeps no record of a deleted message.
# Then real kill -9 at random moments during a pipelined 1500-message fetch.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"
. "$top_srcdir/tests/lib/crash.sh"

need_yubin
tap_plan 14
harness_start

GENMAIL=$top_srcdir/tests/lib/genmail.py
work=$(harness_dir)/client
MESSAGES=12
yubin_wrapped && MESSAGES=4 # under valgrind each run is slow: fewer steps
batch=10

# The hooks of crash_each_step for keep: $keep as $user.
imap_prepare() {
	local dir=$1
	if [ "$keep" = false ]; then
		batch=$((batch + 1))
		imaptool "$user" append --count "$MESSAGES" --batch "$batch" --hostile >/dev/null
		imaptool "$user" expected >"$work/expected-$keep"
	fi
	harness_write_config "$dir.yaml" "crash-$keep" imap implicit "$(harness_port imaps)" \
		"$user" "$(harness_password "$user")" "$dir/Maildir" keep="$keep" \
		state_dir="$dir/state"
}
imap_killed() {
	local dir=$1 k=$2 report
	[ "$keep" = false ] || return 0
	imaptool "$user" expected >"$work/server"
	if ! report=$("$PYTHON3" "$GENMAIL" invariant "$work/expected-$keep" \
		"$work/server" "$dir/Maildir"); then
		LOST+=("killed at step $k: $report")
	fi
}
imap_check_sink() {
	local dir=$1
	"$PYTHON3" "$GENMAIL" compare "$work/expected-$keep" "$dir/Maildir" || return 1
	if [ -n "$(ls -A "$dir/Maildir/tmp")" ]; then
		echo "left in tmp/: $(ls -A "$dir/Maildir/tmp" | head -n 3 | tr '\n' ' ')"
		return 1
	fi
}
imap_after() {
	local dir=$1 k=$2 left records
	[ "$keep" = false ] || return 0
	left=$(imaptool "$user" count)
	[ "$left" -eq 0 ] || LEFT+=("k=$k: $left left on the server")
	records=$("$PYTHON3" "$top_srcdir/tests/lib/statedump.py" "$dir/state/crash-false" |
		grep '^M ' | head -n 3 | tr '\n' ' ')
	[ -z "$records" ] || STALE+=("k=$k: $records")
}

# crash_loop KEEP USER: the k loop and its checks common to both keeps.
crash_loop() {
	keep=$1
	user=$2
	LOST=()
	LEFT=()
	STALE=()
	crash_each_step imap "$keep" 300
	tap_delivered_exactly "$work/expected-$keep" "$CRASH_LAST_DIR/Maildir" \
		"keep: $keep: the run past its last step delivered everything"
	crash_tap_steps "keep: $keep" "$MESSAGES"
	tap_none "keep: $keep: each killed run died of SIGKILL" ${CRASH_BAD_KILL[@]+"${CRASH_BAD_KILL[@]}"}
	tap_none "keep: $keep: after each kill a clean run delivers every message once, byte-identical, tmp/ empty" \
		${CRASH_BAD_RESUME[@]+"${CRASH_BAD_RESUME[@]}"}
}

imaptool bob append --count "$MESSAGES" --batch 1 --hostile >/dev/null
imaptool bob expected >"$work/expected-true"
crash_loop true bob
crash_loop false carol
tap_none "keep: false: no killed run expunged a message it had not delivered" ${LOST[@]+"${LOST[@]}"}
tap_none "keep: false: after each clean run the server is empty" ${LEFT[@]+"${LEFT[@]}"}
tap_none "keep: false: after each clean run the state holds no record of a deleted message" \
	${STALE[@]+"${STALE[@]}"}

# Real kill -9 during a pipelined fetch, resumed each time.
RANDOM=${CRASH_SEED:-4242}
imaptool alice append --count 1500 --batch 99 --profile small >/dev/null
imaptool alice expected >"$work/expected-big"
harness_write_config "$work/big.yaml" crash-big imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/big/Maildir"
dups=()
for round in 1 2 3 4; do
	if [ "$round" -eq 1 ]; then delay_ms=$((30 + RANDOM % 100)); else delay_ms=$((20 + RANDOM % 800)); fi
	"$YUBIN" -c "$work/big.yaml" >"$work/big-$round.out" 2>"$work/big-$round.err" </dev/null &
	pid=$!
	harness_at_exit "kill -KILL $pid 2>/dev/null"
	sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	tap_diag "kill $round after ${delay_ms} ms: $(maildir_count "$work/big/Maildir") delivered so far"
	if [ -d "$work/big/Maildir" ] &&
		! report=$("$PYTHON3" "$GENMAIL" invariant "$work/expected-big" "$work/expected-big" "$work/big/Maildir"); then
		dups+=("after kill $round: $report")
	fi
done
tap_none "no message delivered twice or corrupt after any kill -9" ${dups[@]+"${dups[@]}"}
yubin_run big-final YUBIN_WRAPPER= -- -c "$work/big.yaml"
tap_status_is 0 "the clean run after the kills exits 0"
tap_delivered_exactly "$work/expected-big" "$work/big/Maildir" "all 1500 delivered exactly once"

tap_finish
