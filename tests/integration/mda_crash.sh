#!/bin/bash
# The MDA sink under kill -9, for POP3 and IMAP (two folders), with
# keep: true and keep: false.  The MDA is the test's own script: it stores
# each message in a Maildir of its own (tmp/, then a rename into new/) and
# logs "RUN SHA256" for it.
#
# First an uninterrupted run from a fresh state: its delivery and its state
# (statedump.py) are the reference.  Then for k = 1, 2, 3, ... (until a
# run gets past its last step) a fresh state and MDA Maildir, the same
# server mailbox (restored from a copy for keep: false), a run that
# SIGKILLs itself at its k-th durability step (YUBIN_TEST_KILL_AT=k), then
# a clean run.  After it: every message is delivered, byte for byte; the
# state is the reference's; with keep: false the server is empty and the
# killed run deleted nothing it had not delivered.
#
# Duplicates, as yubin-failures(7) and mda.h say: a message is handed to
# the MDA again only when yubin died after the MDA took it and before the
# journal recorded that (the batch's commit).  The test hook kills only
# between commands, so a kill at the i-th "publish" step of a batch (just
# after the i-th command of the batch exited 0) must give exactly those i
# messages twice, and a kill at any other step none.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"
. "$top_srcdir/tests/lib/crash.sh"

need_yubin
if yubin_wrapped; then tap_plan 20; else tap_plan 36; fi
harness_start

GENMAIL=$top_srcdir/tests/lib/genmail.py
STATEDUMP=$top_srcdir/tests/lib/statedump.py
work=$(harness_dir)/client
POP3_MESSAGES=10
INBOX_MESSAGES=6
WORK_MESSAGES=4
# Under valgrind (make check-valgrind) each run is slow: fewer steps.
if yubin_wrapped; then
	POP3_MESSAGES=3
	INBOX_MESSAGES=2
	WORK_MESSAGES=2
fi

mda=$work/mda.sh
cat >"$mda" <<'SH'
#!/bin/sh
# Store stdin in $MDA_MAILDIR atomically, then log "$MDA_RUN SHA256".
set -e
name=$(date +%s.%N).$$
tmp=$MDA_MAILDIR/tmp/$name
cat >"$tmp"
sum=$(sha256sum <"$tmp")
mv "$tmp" "$MDA_MAILDIR/new/$name"
printf '%s %s\n' "$MDA_RUN" "${sum%% *}" >>"$MDA_LOG"
SH
chmod +x "$mda"


# check_delivery EXPECTED DIR EXTRA: does the MDA's Maildir DIR/md hold
# every expected message, byte for byte, and nothing else?  Exit 1 when
# one is missing or corrupt, tmp/ is not empty or DIR/mda.log disagrees;
# else exit 2 when the messages delivered twice are not exactly those
# listed (by SHA256) in the file EXTRA; else 0.  Prints what is wrong.
check_delivery() {
	"$PYTHON3" - "$GENMAIL" "$1" "$2" "$3" <<-'EOF'
	import collections, os, sys
	sys.path.insert(0, os.path.dirname(sys.argv[1]))
	import genmail
	expected, d, extra_file = sys.argv[2:5]
	want = set(genmail.read_digest_file(expected))
	got = collections.Counter(genmail.maildir_digests(d + "/md"))
	problems = ["lost: %s %s" % item for item in sorted(want - set(got))]
	problems += ["corrupt or unexpected: %s %s" % item for item in sorted(set(got) - want)]
	with open(d + "/mda.log") as f:
	    logged = sum(1 for line in f if line.strip())
	if logged != sum(got.values()):
	    problems.append("the MDA logged %d deliveries, its Maildir holds %d"
	                    % (logged, sum(got.values())))
	if os.listdir(d + "/md/tmp"):
	    problems.append("left in the MDA's tmp/: %s" % os.listdir(d + "/md/tmp")[:3])
	if problems:
	    print("\n".join(problems[:10]))
	    sys.exit(1)
	twice = collections.Counter({s: n - 1 for (s, _), n in got.items() if n > 1})
	with open(extra_file) as f:
	    allowed = collections.Counter(f.read().split())
	if twice != allowed:
	    ids = dict(want)
	    print("delivered more than once: %s; expected twice: %s" % (
	        ", ".join("%s x%d" % (ids[s], n + 1) for s, n in sorted(twice.items())) or "none",
	        ", ".join(ids.get(s, s) for s in sorted(allowed)) or "none"))
	    sys.exit(2)
	EOF
}

# dump_state DIR KEEP FILE: statedump.py of the account's state.  With
# keep: false the server's HIGHESTMODSEQ, which yubin records, moves with
# each EXPUNGE, so it depends on where the killed run stopped: left out.
dump_state() {
	local dump
	dump=$("$PYTHON3" "$STATEDUMP" "$1") || tap_bail "statedump.py failed for $1"
	if [ "$2" = false ]; then
		dump=$(grep -v '^V [^ ]* highestmodseq ' <<<"$dump")
	fi
	printf '%s\n' "$dump" >"$3"
}

# fresh_dir DIR: an empty MDA Maildir and log, no state.
fresh_dir() {
	rm -rf -- "$1"
	mkdir -p "$1/md/tmp" "$1/md/new" "$1/md/cur" && : >"$1/mda.log" ||
		tap_bail "cannot make $1"
}

# write_mda_config FILE PROTO USER KEEP DIR
write_mda_config() {
	local file=$1 proto=$2 user=$3 keep=$4 dir=$5 port extra=()
	if [ "$proto" = imap ]; then
		port=$(harness_port imaps)
		extra=(folders='[INBOX, Work]')
	else
		port=$(harness_port pop3s)
	fi
	harness_write_config "$file" "mda-$proto-$keep" "$proto" implicit "$port" \
		"$user" "$(harness_password "$user")" "mda:$mda" keep="$keep" \
		state_dir="$dir/state" "${extra[@]}"
}

# restore_server USER: the server mailbox as saved by save_server.
save_server() {
	rm -rf -- "$work/server-$1"
	cp -a "$(harness_maildir "$1")" "$work/server-$1" || tap_bail "cannot copy $1's mailbox"
}
restore_server() {
	rm -rf -- "$(harness_maildir "$1")"
	cp -a "$work/server-$1" "$(harness_maildir "$1")" || tap_bail "cannot restore $1's mailbox"
}

# server_count PROTO USER: messages left on the server (every folder).
server_count() {
	if [ "$1" = pop3 ]; then
		server_stat "$2"
	else
		echo $(($(imaptool "$2" count) + $(imaptool "$2" count --folder Work)))
	fi
}

# run_mda TAG DIR RUN CONFIG [VAR=VALUE...]: yubin with the MDA's settings.
run_mda() {
	local tag=$1 dir=$2 run=$3 config=$4
	shift 4
	yubin_run "$tag" MDA_MAILDIR="$dir/md" MDA_LOG="$dir/mda.log" MDA_RUN="$run" "$@" \
		-- -c "$config"
}

# expected_duplicates K: how many messages the kill at step K may (and
# must) give twice: i when step K is the i-th "publish" in a row.
expected_duplicates() {
	local k=$1 n=0
	while [ "$k" -ge 1 ] && [ "${STEPS[$k]}" = publish ]; do
		n=$((n + 1))
		k=$((k - 1))
	done
	printf '%s\n' "$n"
}

# The hooks of crash_each_step.  They run inside crash_loop and use its
# locals (bash scoping is dynamic): proto, user, keep, name and the lists
# of problems.
mda_prepare() {
	fresh_dir "$1"
	write_mda_config "$1.yaml" "$proto" "$user" "$keep" "$1"
}
mda_run() {
	local tag=$1 dir=$2 phase=$3
	shift 3
	run_mda "$tag" "$dir" "$phase" "$dir.yaml" "$@"
}
# mda_check_finished DIR: the run that got past its last step, in DIR.
mda_check_finished() {
	local dir=$1 report
	local desc="$proto, keep: $keep: the run past its last step delivered each message once, state as uninterrupted"
	if [ ! -d "$dir" ]; then
		tap_not_ok "$desc" "no run got past its last step"
		return
	fi
	report=$(check_delivery "$work/expected-$name" "$dir" "$work/no-extra")
	dump_state "$dir/state/mda-$proto-$keep" "$keep" "$dir/state.dump"
	if [ -z "$report" ] && cmp -s "$dir/state.dump" "$work/state-$name-ref"; then
		tap_ok "$desc"
	else
		tap_not_ok "$desc" "$report$(diff "$work/state-$name-ref" "$dir/state.dump" | head -n 5)"
	fi
}
# mda_killed DIR K: the step the run was killed at, by name (a SIGKILL
# that names none did not come from the test hook); what it deleted.
mda_killed() {
	local dir=$1 k=$2 step report
	step=$(sed -n 's/^yubin: test hook: killed at step [0-9]* (\(.*\))$/\1/p' "$RUN_ERR")
	STEPS[k]=${step:-unknown}
	if [ "$RUN_STATUS" -eq 137 ] && [ -z "$step" ]; then
		CRASH_BAD_KILL+=("k=$k: exit $RUN_STATUS: $(tail -n 2 "$RUN_ERR" | tr '\n' ' ')")
	fi
	if [ "$keep" = false ]; then
		imaptool_or_pop3_expected "$proto" "$user" >"$work/server"
		if ! report=$("$PYTHON3" "$GENMAIL" invariant "$work/expected-$name" \
			"$work/server" "$dir/md"); then
			lost+=("killed at step $k ($step): $report")
		fi
	fi
	cp "$dir/mda.log" "$dir/killed.log"
}
# mda_after DIR K: after the clean run, the MDA's deliveries (twice only
# where expected_duplicates says), its warnings, the state, the server.
mda_after() {
	local dir=$1 k=$2 dups report warned left
	dups=$(expected_duplicates "$k")
	if [ "$dups" -gt 0 ]; then
		total_dups=$((total_dups + dups))
		kills_with_dups=$((kills_with_dups + 1))
	fi
	# The i messages the killed run's MDA took last: those may come twice.
	tail -n "$dups" "$dir/killed.log" | cut -d' ' -f2 >"$dir/extra"
	[ "$dups" -gt 0 ] || : >"$dir/extra"
	report=$(check_delivery "$work/expected-$name" "$dir" "$dir/extra")
	case $? in
	0) ;;
	2) bad_dups+=("k=$k (${STEPS[k]}): $report") ;;
	*) CRASH_BAD_RESUME+=("k=$k: $report") ;;
	esac
	warned=$(grep -c 'may arrive twice' "$RUN_ERR")
	WARNINGS+=("$dups:$warned")
	if [ "$warned" -lt "$dups" ]; then
		unwarned+=("k=$k: $dups twice, $warned warned")
	fi
	dump_state "$dir/state/mda-$proto-$keep" "$keep" "$dir/state.dump"
	if ! cmp -s "$dir/state.dump" "$work/state-$name-ref"; then
		bad_state+=("k=$k: $(diff "$work/state-$name-ref" "$dir/state.dump" | head -n 4 | tr '\n' ' ')")
	fi
	if [ "$keep" = false ]; then
		left=$(server_count "$proto" "$user")
		[ "$left" -eq 0 ] || left_over+=("k=$k: $left left on the server")
		restore_server "$user"
	fi
}

# crash_loop PROTO USER KEEP MESSAGES
crash_loop() {
	local proto=$1 user=$2 keep=$3 messages=$4
	local name=$proto-$keep dir report
	local bad_dups=() bad_state=() lost=() left_over=()
	local unwarned=() total_dups=0 kills_with_dups=0
	STEPS=()
	WARNINGS=()

	dir=$work/$name-ref
	fresh_dir "$dir"
	write_mda_config "$dir.yaml" "$proto" "$user" "$keep" "$dir"
	run_mda "$name-ref" "$dir" ref "$dir.yaml"
	: >"$work/no-extra"
	if [ "$RUN_STATUS" -eq 0 ] &&
		report=$(check_delivery "$work/expected-$name" "$dir" "$work/no-extra"); then
		tap_ok "$proto, keep: $keep: an uninterrupted run hands every message to the MDA once"
	else
		tap_not_ok "$proto, keep: $keep: an uninterrupted run hands every message to the MDA once" \
			"$(run_summary)${report:+
$report}"
	fi
	dump_state "$dir/state/mda-$proto-$keep" "$keep" "$work/state-$name-ref"
	[ "$keep" = true ] || restore_server "$user"

	crash_each_step mda "$name" 300
	mda_check_finished "$CRASH_LAST_DIR"
	crash_tap_steps "$proto, keep: $keep" "$messages"
	tap_diag "$proto, keep: $keep: steps: $(printf '%s\n' "${STEPS[@]}" | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep = ", "}')"
	tap_diag "$proto, keep: $keep: $total_dups messages twice after $kills_with_dups kills;" \
		"(twice:warned) per kill: ${WARNINGS[*]}"
	tap_none "$proto, keep: $keep: each killed run died of SIGKILL at a named step" \
		${CRASH_BAD_KILL[@]+"${CRASH_BAD_KILL[@]}"}
	tap_none "$proto, keep: $keep: after each kill a clean run exits 0 and every message reached the MDA, byte-identical" \
		${CRASH_BAD_RESUME[@]+"${CRASH_BAD_RESUME[@]}"}
	if [ "$kills_with_dups" -gt 0 ]; then
		tap_none "$proto, keep: $keep: twice only the messages the MDA took after the last commit ($total_dups over $kills_with_dups kills), else once" \
			${bad_dups[@]+"${bad_dups[@]}"}
	else
		tap_not_ok "$proto, keep: $keep: some kill fell between an MDA's exit and the commit"
	fi
	tap_none "$proto, keep: $keep: each clean run warned about every message that may arrive twice" \
		${unwarned[@]+"${unwarned[@]}"}
	tap_none "$proto, keep: $keep: after each clean run the state is the uninterrupted run's" \
		${bad_state[@]+"${bad_state[@]}"}
	if [ "$keep" = false ]; then
		tap_none "$proto, keep: false: no killed run deleted a message the MDA had not taken" \
			${lost[@]+"${lost[@]}"}
		tap_none "$proto, keep: false: after each clean run the server is empty" \
			${left_over[@]+"${left_over[@]}"}
	fi
}

# imaptool_or_pop3_expected PROTO USER: the oracle for what is on the
# server now (every folder).
imaptool_or_pop3_expected() {
	if [ "$1" = pop3 ]; then
		"$PYTHON3" "$GENMAIL" expected --port "$(harness_port pop3)" --user "$2" \
			--password "$(harness_password "$2")" || tap_bail "the POP3 oracle failed"
	else
		imaptool "$2" expected
		imaptool "$2" expected --folder Work
	fi
}

# POP3: bob keeps his mail, carol does not.
harness_add_messages bob "$POP3_MESSAGES" --hostile
harness_add_messages carol "$POP3_MESSAGES" --hostile
# IMAP: INBOX and Work, a batch each; alice keeps, demo does not.
for user in alice demo; do
	imaptool "$user" append --count "$INBOX_MESSAGES" --batch 11 --hostile >/dev/null
	imaptool "$user" append --folder Work --count "$WORK_MESSAGES" --batch 12 >/dev/null
done
imaptool_or_pop3_expected pop3 bob >"$work/expected-pop3-true"
imaptool_or_pop3_expected pop3 carol >"$work/expected-pop3-false"
imaptool_or_pop3_expected imap alice >"$work/expected-imap-true"
imaptool_or_pop3_expected imap demo >"$work/expected-imap-false"
# Saved after the oracles' sessions, so Dovecot's UIDs and UIDVALIDITY
# are part of the copy: each restored mailbox is the same to yubin.
save_server carol
save_server demo

# Under valgrind keep: true is left out: keep: false runs the same steps
# and more.
for keep in true false; do
	[ "$keep" = true ] && yubin_wrapped && continue
	if [ "$keep" = true ]; then users=(bob alice); else users=(carol demo); fi
	crash_loop pop3 "${users[0]}" "$keep" "$POP3_MESSAGES"
	crash_loop imap "${users[1]}" "$keep" $((INBOX_MESSAGES + WORK_MESSAGES))
done

tap_finish
