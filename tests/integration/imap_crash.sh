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

need_yubin
tap_plan 14
harness_start

GENMAIL=$top_srcdir/tests/lib/genmail.py
work=$(harness_dir)/client
MESSAGES=12
yubin_wrapped && MESSAGES=4 # under valgrind each run is slow: fewer steps
batch=10

step_loop() {
	local keep=$1 user=$2 k dir config report
	BAD_KILL=()
	BAD_RESUME=()
	LOST=()
	LEFT=()
	STALE=()
	FINISHED=no
	for ((k = 1; k <= 300; k++)); do
		dir=$work/$keep-$k
		config=$dir.yaml
		if [ "$keep" = false ]; then
			batch=$((batch + 1))
			imaptool "$user" append --count "$MESSAGES" --batch "$batch" --hostile >/dev/null
			imaptool "$user" expected >"$work/expected-$keep"
		fi
		harness_write_config "$config" "crash-$keep" imap implicit "$(harness_port imaps)" \
			"$user" "$(harness_password "$user")" "$dir/Maildir" keep="$keep" \
			state_dir="$dir/state"
		yubin_run "$keep-$k-killed" YUBIN_TEST_KILL_AT=$k -- -c "$config"
		if [ "$RUN_STATUS" -eq 0 ]; then
			FINISHED=yes
			STEPS=$((k - 1))
			tap_delivered_exactly "$work/expected-$keep" "$dir/Maildir" \
				"keep: $keep: the run past its last step delivered everything"
			return
		fi
		[ "$RUN_STATUS" -eq 137 ] || BAD_KILL+=("k=$k: exit $RUN_STATUS: $(tail -n 2 "$RUN_ERR" | tr '\n' ' ')")
		if [ "$keep" = false ]; then
			imaptool "$user" expected >"$work/server"
			if ! report=$("$PYTHON3" "$GENMAIL" invariant "$work/expected-$keep" \
				"$work/server" "$dir/Maildir"); then
				LOST+=("killed at step $k: $report")
			fi
		fi
		yubin_run "$keep-$k-resume" -- -c "$config"
		if [ "$RUN_STATUS" -ne 0 ]; then
			BAD_RESUME+=("k=$k: resume exit $RUN_STATUS: $(tail -n 3 "$RUN_ERR" | tr '\n' ' ')")
		elif ! report=$("$PYTHON3" "$GENMAIL" compare "$work/expected-$keep" "$dir/Maildir"); then
			BAD_RESUME+=("k=$k: $report")
		elif [ -n "$(ls -A "$dir/Maildir/tmp")" ]; then
			BAD_RESUME+=("k=$k: left in tmp/: $(ls -A "$dir/Maildir/tmp" | head -n 3 | tr '\n' ' ')")
		fi
		if [ "$keep" = false ]; then
			local left
			left=$(imaptool "$user" count)
			[ "$left" -eq 0 ] || LEFT+=("k=$k: $left left on the server")
			local records
			records=$("$PYTHON3" "$top_srcdir/tests/lib/statedump.py" "$dir/state/crash-false" |
				grep '^M ' | head -n 3 | tr '\n' ' ')
			[ -z "$records" ] || STALE+=("k=$k: $records")
		fi
		rm -rf -- "$dir"
	done
	tap_not_ok "keep: $keep: some run got past its last step (k <= 300)"
}

imaptool bob append --count "$MESSAGES" --batch 1 --hostile >/dev/null
imaptool bob expected >"$work/expected-true"
step_loop true bob
if [ "$FINISHED" = yes ] && [ "$STEPS" -ge "$MESSAGES" ]; then
	tap_ok "keep: true: killed once at each of $STEPS durability steps"
else
	tap_not_ok "keep: true: killed once at each durability step" "finished: $FINISHED"
fi
tap_none "keep: true: each killed run died of SIGKILL" ${BAD_KILL[@]+"${BAD_KILL[@]}"}
tap_none "keep: true: after each kill a clean run delivers every message once, byte-identical, tmp/ empty" \
	${BAD_RESUME[@]+"${BAD_RESUME[@]}"}

step_loop false carol
if [ "$FINISHED" = yes ] && [ "$STEPS" -ge "$MESSAGES" ]; then
	tap_ok "keep: false: killed once at each of $STEPS durability steps"
else
	tap_not_ok "keep: false: killed once at each durability step" "finished: $FINISHED"
fi
tap_none "keep: false: each killed run died of SIGKILL" ${BAD_KILL[@]+"${BAD_KILL[@]}"}
tap_none "keep: false: after each kill a clean run delivers every message once, byte-identical, tmp/ empty" \
	${BAD_RESUME[@]+"${BAD_RESUME[@]}"}
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
