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
. "$top_srcdir/tests/lib/crash.sh"

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

# The hooks of crash_each_step: the sink is an mbox that already holds
# the other program's message.
mbox_prepare() {
	local dir=$1
	mkdir -p "$dir"
	cp "$work/old.mbox" "$dir/mail.mbox"
	harness_write_config "$dir.yaml" crash-mbox "$protocol" implicit "$server_port" \
		alice "$(harness_password alice)" "mbox:$dir/mail.mbox" state_dir="$dir/state"
}
# mbox_check_sink DIR: the old bytes untouched, every server message
# once after them, no dotlock.
mbox_check_sink() {
	local dir=$1
	if ! cmp -s -n "$old_size" "$work/old.mbox" "$dir/mail.mbox"; then
		echo "the other program's message was changed"
		return 1
	fi
	tail -c +"$((old_size + 1))" "$dir/mail.mbox" >"$dir/new.mbox"
	"$PYTHON3" "$top_srcdir/tests/lib/mboxcheck.py" "$work/expected" "$dir/new.mbox" || return 1
	if [ -e "$dir/mail.mbox.lock" ]; then
		echo "a dotlock was left behind"
		return 1
	fi
}

crash_each_step mbox mbox 300
crash_tap_steps "" "$MESSAGES"
tap_none "each killed run died of SIGKILL" ${CRASH_BAD_KILL[@]+"${CRASH_BAD_KILL[@]}"}
tap_none "after each kill a clean run leaves every message exactly once, whole, and the old bytes untouched" \
	${CRASH_BAD_RESUME[@]+"${CRASH_BAD_RESUME[@]}"}
dir=$CRASH_LAST_DIR
tail -c +"$((old_size + 1))" "$dir/mail.mbox" >"$dir/new.mbox"
if report=$("$PYTHON3" "$top_srcdir/tests/lib/mboxcheck.py" "$work/expected" "$dir/new.mbox"); then
	tap_ok "the run that got past its last step delivered everything"
else
	tap_not_ok "the run that got past its last step delivered everything" "$report"
fi
tap_check "and left no dotlock" test ! -e "$dir/mail.mbox.lock"

tap_finish
