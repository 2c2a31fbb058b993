#!/bin/bash
# sync_flags: both against the test Dovecot, with a second IMAP client
# and a mail reader changing flags: every combination of base, local and
# server for S, R, F and D ends as the rule table says on both sides,
# and stays so on the next run, each push +FLAGS or -FLAGS of what
# changed (with UNCHANGEDSINCE under CONDSTORE); a run killed at each of
# its durability steps, then a clean run, converges to the same (a
# reader's change made after the kill included); a reader renaming a
# file all through a run fails nothing; mbox and MDA refuse the key.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"
. "$top_srcdir/tests/lib/crash.sh"

need_yubin
tap_plan 15
# imap_flag_push_plain.sh runs it all again without CONDSTORE.
[ -z "${FLAG_PUSH_PLAIN-}" ] ||
	HARNESS_IMAP_CAPABILITY="IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ NAMESPACE UIDPLUS UNSELECT CHILDREN"
harness_start

work=$(harness_dir)/client
FLAGCASE=$top_srcdir/tests/lib/flagcase.py

# flagcase USER COMMAND ARG...: seed and change must work; check's
# status is the answer.
flagcase() {
	local user=$1 command=$2
	shift 2
	"$PYTHON3" "$FLAGCASE" "$command" --port "$(harness_port imap)" \
		--user "$user" --password "$(harness_password "$user")" "$@" && return 0
	[ "$command" = check ] && return 1
	tap_bail "flagcase.py $command failed"
}

every_case=()
for flag in S R F D; do
	for combo in 0:0:0 0:0:1 0:1:0 0:1:1 1:0:0 1:0:1 1:1:0 1:1:1; do
		every_case+=("$flag:$combo")
	done
done

# write_both DIR USER FOLDER [KEY=VALUE...]: an account with sync_flags:
# both into DIR/Maildir, its state in DIR/state.
write_both() {
	local dir=$1 user=$2 folder=$3
	shift 3
	harness_write_config "$dir.yaml" "flags" imap implicit "$(harness_port imaps)" \
		"$user" "$(harness_password "$user")" "$dir/Maildir" sync_flags=both \
		"folders=[\"$folder\"]" state_dir="$dir/state" "$@"
}

# --- every combination ---
dir=$work/all
flagcase alice seed --folder Flags --cases-file "$work/all.json" "${every_case[@]}"
write_both "$dir" alice Flags
maildir=$dir/Maildir
yubin_run all-1 -- -c "$dir.yaml"
tap_status_is 0 "the first run delivers the 32 messages"
yubin_run all-2 -- -c "$dir.yaml"
tap_check "a run with nothing changed pushes nothing: both sides hold the base" \
	flagcase alice check --before --folder Flags --maildir "$maildir" --cases-file "$work/all.json"
flagcase alice change --folder Flags --maildir "$maildir" --cases-file "$work/all.json"
yubin_run all-3 -- -c "$dir.yaml" -vvv
tap_status_is 0 "the run after local and server changes exits 0"
# The pushes as the server got them: only what changed, conditional on
# the message's MODSEQ when the server has CONDSTORE.
stores=$(grep -E 'C: [^ ]+ UID STORE' "$RUN_ERR" | sed 's/.*C: [^ ]* //')
if [ -n "${FLAG_PUSH_PLAIN-}" ]; then
	store_shape='^UID STORE [0-9]+ [+-]FLAGS\.SILENT \([^)]*\)$'
	store_how=" (no CONDSTORE)"
else
	store_how=" with UNCHANGEDSINCE"
	store_shape='^UID STORE [0-9]+ \(UNCHANGEDSINCE [0-9]+\) [+-]FLAGS\.SILENT \([^)]*\)$'
fi
if [ "$(printf '%s\n' "$stores" | grep -c .)" -eq 8 ] &&
	! printf '%s\n' "$stores" | grep -qvE "$store_shape"; then
	tap_ok "8 pushes (S, R, F, D set or cleared locally alone), each +FLAGS or -FLAGS of the changed flag$store_how"
else
	tap_not_ok "8 pushes (S, R, F, D set or cleared locally alone), each +FLAGS or -FLAGS of the changed flag" "$stores"
fi
tap_check "all 32 cases (S, R, F, D; base, local, server) hold the rule table's result on both sides" \
	flagcase alice check --folder Flags --maildir "$maildir" --cases-file "$work/all.json"
yubin_run all-4 -- -c "$dir.yaml"
tap_check "a second run changes nothing on either side (no flip-flop)" \
	flagcase alice check --folder Flags --maildir "$maildir" --cases-file "$work/all.json"

# Two changes to one message: S cleared and F set by the reader on the
# message that had S on both sides.  Both go out, the second STORE on
# the MODSEQ the first left, so the server never answers [MODIFIED].
two_mid=$("$PYTHON3" -c 'import json, sys
print([c["mid"] for c in json.load(open(sys.argv[1]))
       if (c["flag"], c["base"], c["local"], c["server"]) == ("S", 1, 1, 1)][0])' "$work/all.json")
two_file=$(grep -lF -- "$two_mid" "$maildir"/cur/* | head -n 1)
mv -- "$two_file" "${two_file%%:2,*}:2,F"
yubin_run all-5 -- -c "$dir.yaml" -vv
two_now=$(grep -lF -- "$two_mid" "$maildir"/cur/* | head -n 1)
two_uid=$("$PYTHON3" -c 'import json, sys
print(1 + [(c["flag"], c["base"], c["local"], c["server"]) for c in json.load(open(sys.argv[1]))].index(("S", 1, 1, 1)))' "$work/all.json")
two_server=$(imaptool alice flags --folder Flags | awk -v uid="$two_uid" '$1 == uid { $1 = ""; print substr($0, 2) }')
if [ "$RUN_STATUS" = 0 ] && [ "$two_server" = '\Flagged' ] && [ "${two_now##*:2,}" = F ] &&
	! grep -q "changed on the server meanwhile" "$RUN_ERR"; then
	tap_ok "a message with one flag cleared and one set locally: both pushed in one run"
else
	tap_not_ok "a message with one flag cleared and one set locally: both pushed in one run" \
		"server '$two_server', local ${two_now##*/}; $(run_summary)"
fi

# --- mbox and MDA keep no flags per message ---
harness_write_config "$work/mbox.yaml" mboxflags imap implicit "$(harness_port imaps)" \
	bob "$(harness_password bob)" "mbox:$work/bob.mbox" sync_flags=both
yubin_run mbox -- -c "$work/mbox.yaml"
if [ "$RUN_STATUS" = 78 ] && grep -q "'sync_flags: both'.*needs 'deliver: maildir'.*mbox keeps no flags" "$RUN_ERR" &&
	[ ! -e "$work/bob.mbox" ]; then
	tap_ok "mbox with sync_flags: both: exit 78 naming the key and why, nothing fetched"
else
	tap_not_ok "mbox with sync_flags: both: exit 78 naming the key and why" "$(run_summary)"
fi
harness_write_config "$work/mda.yaml" mdaflags imap implicit "$(harness_port imaps)" \
	bob "$(harness_password bob)" "mda:cat >/dev/null" sync_flags=both
yubin_run mda -- -c "$work/mda.yaml"
if [ "$RUN_STATUS" = 78 ] && grep -q "MDA keeps no flags" "$RUN_ERR"; then
	tap_ok "MDA with sync_flags: both: exit 78"
else
	tap_not_ok "MDA with sync_flags: both: exit 78" "$(run_summary)"
fi

# --- a reader renaming a file all through a run ---
dir=$work/reader
reader_cases=(S:0:1:0 F:0:0:1 R:1:0:1 D:1:1:0 S:1:1:1)
flagcase carol seed --folder Reader --cases-file "$work/reader.json" "${reader_cases[@]}"
write_both "$dir" carol Reader
maildir=$dir/Maildir
yubin_run reader-1 -- -c "$dir.yaml"
yubin_run reader-2 -- -c "$dir.yaml"
flagcase carol change --folder Reader --maildir "$maildir" --cases-file "$work/reader.json"
# The reader toggles its own letter P (passed) on the last message as
# fast as it can: a new name under yubin at every moment.
victim=$(grep -l "^Message-ID: <b1.m4.sflags@yubin.test>" "$maildir"/cur/* "$maildir"/new/* 2>/dev/null | head -n 1)
(
	unique=$(basename "${victim%%:2,*}")
	while :; do
		mv -f "$maildir/cur/$unique:2,S" "$maildir/cur/$unique:2,PS" 2>/dev/null
		mv -f "$maildir/cur/$unique:2,PS" "$maildir/cur/$unique:2,S" 2>/dev/null
	done
) &
renamer=$!
yubin_run reader-3 -- -c "$dir.yaml"
kill "$renamer"
wait "$renamer" 2>/dev/null
tap_status_is 0 "a mail reader renaming a file all through the run: the run exits 0"
yubin_run reader-4 -- -c "$dir.yaml"
tap_check "after it, a quiet run leaves both sides as the rule table says" \
	flagcase carol check --folder Reader --maildir "$maildir" --cases-file "$work/reader.json"

# --- a kill at every step ---
crash_cases=(S:0:1:0 S:1:0:1 F:0:0:1 F:1:1:0 R:0:1:1 R:1:0:1 D:0:1:0 D:1:0:0)
flags_prepare() {
	local dir=$1
	flagcase demo seed --folder Crash --cases-file "$work/crash.json" "${crash_cases[@]}"
	write_both "$dir" demo Crash
	yubin_run "prep-1" -- -c "$dir.yaml"
	yubin_run "prep-2" -- -c "$dir.yaml"
	flagcase demo change --folder Crash --maildir "$dir/Maildir" --cases-file "$work/crash.json"
}
# After the kill the reader marks S:0:1:0 unread again: whether or not
# its +\Seen reached the server, the reader's last word must win.
flags_killed() {
	local dir=$1
	flagcase demo undo --folder Crash --maildir "$dir/Maildir" --cases-file "$work/crash.json" \
		--case S:0:1:0
}
flags_check_sink() {
	local dir=$1
	flagcase demo check --folder Crash --maildir "$dir/Maildir" --cases-file "$work/crash.json" || return 1
	yubin_run "again" -- -c "$dir.yaml"
	[ "$RUN_STATUS" = 0 ] || { echo "the run after the resume: exit $RUN_STATUS"; return 1; }
	flagcase demo check --folder Crash --maildir "$dir/Maildir" --cases-file "$work/crash.json" ||
		{ echo "(after one more run)"; return 1; }
}
crash_each_step flags crash 60
crash_tap_steps "flag push" 4
tap_none "flag push: each killed run died of SIGKILL" ${CRASH_BAD_KILL[@]+"${CRASH_BAD_KILL[@]}"}
tap_none "flag push: after each kill a clean run converges to the rule table's result, and stays" \
	${CRASH_BAD_RESUME[@]+"${CRASH_BAD_RESUME[@]}"}
tap_check "the run past its last step converged too" \
	flagcase demo check --folder Crash --maildir "$CRASH_LAST_DIR/Maildir" --cases-file "$work/crash.json"

tap_finish
