#!/bin/bash
# Exactly once into an mbox under kill -9: for k = 1, 2, 3, ... a fresh
# mbox (holding one message written by another program) and state, a
# run (POP3, or IMAP with CRASH_PROTOCOL=imap: imap_mbox_crash.sh) that
# SIGKILLs itself at its k-th durability step, then a clean
# run: the mbox reads back (Python's mailbox) as the old message plus
# every server message exactly once, byte for byte; no dotlock is left.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 5
harness_start

work=$(harness_dir)/client
MESSAGES=15
yubin_wrapped && MESSAGES=4 # under valgrind each run is slow: fewer steps
protocol=${CRASH_PROTOCOL:-pop3}
if [ "$protocol" = imap ]; then
	tool=(imaptool.py --port "$(harness_port imap)")
	"$PYTHON3" "$top_srcdir/tests/lib/imaptool.py" append --port "$(harness_port imap)" \
		--user alice --password "$(harness_password alice)" --count "$MESSAGES" --hostile \
		>/dev/null || tap_bail "imaptool append failed"
	server_port=$(harness_port imaps)
else
	tool=(genmail.py --port "$(harness_port pop3)")
	harness_add_messages alice "$MESSAGES" --hostile
	server_port=$(harness_port pop3s)
fi
"$PYTHON3" "$top_srcdir/tests/lib/${tool[0]}" expected "${tool[@]:1}" --user alice \
	--password "$(harness_password alice)" --final-newline >"$work/expected" ||
	tap_bail "the $protocol oracle failed"
old='From someone@example.org Mon Jan  1 00:00:00 2024
Message-ID: <already-there@yubin.test>

kept as it is
'
printf '%s\n' "$old" >"$work/old.mbox"
old_size=$(stat -c %s "$work/old.mbox")

bad_kill=()
bad_resume=()
finished=no
for ((k = 1; k <= 300; k++)); do
	dir=$work/k$k
	mkdir -p "$dir"
	cp "$work/old.mbox" "$dir/mail.mbox"
	harness_write_config "$dir.yaml" crash-mbox "$protocol" implicit "$server_port" \
		alice "$(harness_password alice)" "mbox:$dir/mail.mbox" state_dir="$dir/state"
	yubin_run "k$k-killed" YUBIN_TEST_KILL_AT=$k -- -c "$dir.yaml"
	if [ "$RUN_STATUS" -eq 0 ]; then
		finished=yes
		steps=$((k - 1))
		break
	fi
	[ "$RUN_STATUS" -eq 137 ] || bad_kill+=("k=$k: exit $RUN_STATUS: $(tail -n 2 "$RUN_ERR" | tr '\n' ' ')")
	yubin_run "k$k-resume" -- -c "$dir.yaml"
	if [ "$RUN_STATUS" -ne 0 ]; then
		bad_resume+=("k=$k: resume exit $RUN_STATUS: $(tail -n 3 "$RUN_ERR" | tr '\n' ' ')")
	elif ! cmp -s -n "$old_size" "$work/old.mbox" "$dir/mail.mbox"; then
		bad_resume+=("k=$k: the other program's message was changed")
	else
		tail -c +"$((old_size + 1))" "$dir/mail.mbox" >"$dir/new.mbox"
		if ! report=$("$PYTHON3" "$top_srcdir/tests/lib/mboxcheck.py" "$work/expected" "$dir/new.mbox"); then
			bad_resume+=("k=$k: $report")
		elif [ -e "$dir/mail.mbox.lock" ]; then
			bad_resume+=("k=$k: a dotlock was left behind")
		fi
	fi
	rm -rf -- "$dir" "$dir.yaml"
done

if [ "$finished" = yes ] && [ "$steps" -ge "$MESSAGES" ]; then
	tap_ok "killed once at each of $steps durability steps"
else
	tap_not_ok "killed once at each durability step" "finished: $finished"
fi
if [ ${#bad_kill[@]} -eq 0 ]; then tap_ok "each killed run died of SIGKILL"
else tap_not_ok "each killed run died of SIGKILL" "$(printf '%s\n' "${bad_kill[@]}" | head)"; fi
if [ ${#bad_resume[@]} -eq 0 ]; then
	tap_ok "after each kill a clean run leaves every message exactly once, whole, and the old bytes untouched"
else
	tap_not_ok "after each kill a clean run leaves every message exactly once, whole, and the old bytes untouched" \
		"$(printf '%s\n' "${bad_resume[@]}" | head)"
fi
dir=$work/k$((steps + 1))
tail -c +"$((old_size + 1))" "$dir/mail.mbox" >"$dir/new.mbox"
if report=$("$PYTHON3" "$top_srcdir/tests/lib/mboxcheck.py" "$work/expected" "$dir/new.mbox"); then
	tap_ok "the run that got past its last step delivered everything"
else
	tap_not_ok "the run that got past its last step delivered everything" "$report"
fi
tap_check "and left no dotlock" test ! -e "$dir/mail.mbox.lock"

tap_finish
