#!/bin/bash
# torture.sh - yubin killed with a real `kill -9` at random moments, over
# and over; every message must still end up delivered exactly once.
#
# Each iteration takes a fresh server mailbox (POP3: INBOX; IMAP: INBOX,
# Archive/2024 and Work; mostly small messages and some of 1 to 3 MB), a
# fresh state and destination, and one of the six protocol and sink pairs
# in turn (pop3 or imap; maildir, mbox or mda), keep true or false at
# random.  A first run with keep: true into a scratch destination and
# state measures how long the whole fetch takes on this machine (T).
# Then yubin runs 1 to 3 times and is sent SIGKILL after a random
# fraction of T each time (each run resumes from the one before), then
# runs to the end.  Then:
#   - that run exits 0; every message of the server is in the destination
#     exactly once, byte for byte, and nothing else is there (checked by
#     SHA256 and Message-ID); with the MDA, a message may be there once
#     more for each kill that hit after the MDA took it and before its
#     commit (yubin-failures(7), LIMITS), and never otherwise;
#   - after each kill, with keep: false, nothing is gone from the server
#     that is not delivered whole;
#   - a further run exits 0, fetches nothing and changes nothing; the
#     state holds no open intent, and with keep: true a record of every
#     message; with keep: false the server is empty and the state
#     records none.
#
# Environment: TORTURE_ITERATIONS (default 200), TORTURE_SEED (default 1),
# TORTURE_START (the number of the first iteration, default 1),
# TORTURE_FAIL_EXIT=1 (exit 1 when an iteration failed: make torture; the
# TAP driver of make check reads the "not ok" lines instead).
# Iteration I draws everything from TORTURE_SEED and I, so
#   TORTURE_SEED=S TORTURE_START=I TORTURE_ITERATIONS=1
# plays iteration I again (the moment a signal lands still varies with
# the machine).  HARNESS_KEEP=1 keeps the work directory.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

ITERATIONS=${TORTURE_ITERATIONS:-200}
SEED=${TORTURE_SEED:-1}
START=${TORTURE_START:-1}
for value in "$ITERATIONS" "$SEED" "$START"; do
	case $value in
	'' | *[!0-9]*) tap_bail "TORTURE_ITERATIONS, TORTURE_SEED and TORTURE_START are numbers" ;;
	esac
done
command -v flock >/dev/null || tap_bail "the flock command is missing"

need_yubin
tap_plan $((ITERATIONS + 1))
harness_start
tap_diag "TORTURE_SEED=$SEED TORTURE_START=$START TORTURE_ITERATIONS=$ITERATIONS"

TORTURE=$top_srcdir/tests/torture/torture.py
STATEDUMP=$top_srcdir/tests/lib/statedump.py
GENMAIL=$top_srcdir/tests/lib/genmail.py
work=$(harness_dir)/client
USERS=(alice bob carol demo)
PAIRS=("pop3 maildir" "imap maildir" "pop3 mbox" "imap mbox" "pop3 mda" "imap mda")
FOLDERS=(INBOX Archive/2024 Work)

# The MDA: stores the message in $MDA_MAILDIR (tmp/, then a rename) and
# logs "$MDA_RUN SHA256".  It holds a shared lock on $MDA_LOCK while it
# runs: an MDA left running by a killed yubin is waited for with an
# exclusive one.
MDA=$work/mda.sh
cat >"$MDA" <<'SH'
#!/bin/sh
set -e
exec 9>>"$MDA_LOCK"
flock -s 9
name=$(date +%s.%N).$$
tmp=$MDA_MAILDIR/tmp/$name
cat >"$tmp"
sum=$(sha256sum <"$tmp")
mv "$tmp" "$MDA_MAILDIR/new/$name"
printf '%s %s\n' "$MDA_RUN" "${sum%% *}" >>"$MDA_LOG"
SH
chmod +x "$MDA"

# Totals for the summary.
KILLS=0
HITS=0
COUNTED=0
MDA_TWICE=0
MDA_RISK=0

# fill USER PROTO: an empty mailbox, then new messages (batches never
# repeat a Message-ID).
fill() {
	local user=$1 proto=$2 maildir folder dir count
	maildir=$(harness_maildir "$user")
	rm -rf -- "$maildir"
	mkdir -p "$maildir"/{new,cur,tmp} || tap_bail "cannot make $maildir"
	for folder in "${FOLDERS[@]}"; do
		if [ "$folder" = INBOX ]; then
			dir=$maildir
			count=$((15 + RANDOM % 50))
			[ "$proto" = imap ] && count=$((10 + RANDOM % 30))
		else
			[ "$proto" = imap ] || continue
			dir=$maildir/.${folder//\//.}
			mkdir -p "$dir"/{new,cur,tmp} || tap_bail "cannot make $dir"
			count=$((3 + RANDOM % 20))
		fi
		BATCH=$((BATCH + 1))
		"$PYTHON3" "$GENMAIL" add --maildir "$dir" --count "$count" --batch "$BATCH" \
			--seed "t$SEED" --profile mixed >/dev/null || tap_bail "genmail.py add failed"
	done
	chown -R "$HARNESS_MAIL_UID:$HARNESS_MAIL_GID" "$maildir"
	chmod -R go-rwx "$maildir"
}

# server USER PROTO SUBCOMMAND: torture.py oracle or keys for the mailbox.
server() {
	local user=$1 proto=$2 command=$3 port folders=()
	if [ "$proto" = imap ]; then
		port=$(harness_port imap)
		folders=(--folder INBOX --folder Archive/2024 --folder Work)
	else
		port=$(harness_port pop3)
	fi
	"$PYTHON3" "$TORTURE" "$command" "$proto" --port "$port" --user "$user" \
		--password "$(harness_password "$user")" "${folders[@]}"
}

# config FILE USER PROTO SINK KEEP DIR: the account; the destination is
# DIR/dest (for the MDA: the MDA's Maildir).  Sets MDA_ENV, the MDA's
# environment for runs of it, and RISK, the arguments of torture.py
# check for it (both empty but for the MDA, whose DIR/risk starts empty).
config() {
	local file=$1 user=$2 proto=$3 sink=$4 keep=$5 dir=$6 port dest extra=()
	if [ "$proto" = imap ]; then
		port=$(harness_port imaps)
		extra=(folders='[INBOX, "Archive/*", Work]')
	else
		port=$(harness_port pop3s)
	fi
	case $sink in
	maildir) dest=$dir/dest ;;
	mbox) dest=mbox:$dir/dest ;;
	mda)
		dest=mda:$MDA
		mkdir -p "$dir/dest"/{new,cur,tmp}
		: >"$dir/mda.log"
		: >"$dir/risk"
		;;
	esac
	MDA_ENV=()
	RISK=()
	if [ "$sink" = mda ]; then
		MDA_ENV=(MDA_MAILDIR="$dir/dest" MDA_LOG="$dir/mda.log" MDA_LOCK="$dir/mda.lock")
		RISK=(--risk "$dir/risk" --mda-log "$dir/mda.log")
	fi
	harness_write_config "$file" torture "$proto" implicit "$port" "$user" \
		"$(harness_password "$user")" "$dest" keep="$keep" \
		state_dir="$dir/state" "${extra[@]}"
}

# now_ms: milliseconds since the epoch.
now_ms() {
	local ns
	ns=$(date +%s%N)
	echo $((ns / 1000000))
}

# measure DIR USER PROTO SINK: FULL_MS, how long a whole fetch of the
# mailbox takes here, timed on a run with keep: true into DIR/measure
# (the server is left as it was).  A fixed delay would miss on a fast
# machine (every run over before its kill) and hit only the connection
# on a slow one.
measure() {
	local dir=$1 user=$2 proto=$3 sink=$4 start status
	mkdir -p "$dir/measure"
	config "$dir/measure.yaml" "$user" "$proto" "$sink" true "$dir/measure"
	start=$(now_ms)
	env ${MDA_ENV[@]+"${MDA_ENV[@]}"} MDA_RUN=measure "$YUBIN" -c "$dir/measure.yaml" \
		>"$dir/measure.out" 2>"$dir/measure.err" </dev/null
	status=$?
	FULL_MS=$(($(now_ms) - start))
	if [ "$status" -ne 0 ]; then
		PROBLEMS+=("the measuring run exited $status: $(tail -n 3 "$dir/measure.err" | tr '\n' ' ')")
	else
		"$PYTHON3" "$TORTURE" check "$dir/oracle" "$sink" "$dir/measure/dest" \
			${RISK[@]+"${RISK[@]}"} \
			>/dev/null || PROBLEMS+=("the measuring run (not killed) did not deliver each message once")
	fi
	[ "$FULL_MS" -ge 1 ] || FULL_MS=1
}

# pick_delay: DELAY, a wait in milliseconds before a kill: a random
# fraction of FULL_MS, often early (the connection, the listing).
pick_delay() {
	local permille
	if [ $((RANDOM % 4)) -eq 0 ]; then
		permille=$((RANDOM % 150))
	else
		permille=$((RANDOM % 1000))
	fi
	DELAY=$((FULL_MS * permille / 1000))
}

# iteration I: one scenario; PROBLEMS lists what went wrong, SUMMARY
# says what it was.
iteration() {
	local i=$1 user proto sink keep kills dir r pid status n report counted
	PROBLEMS=()
	RANDOM=$(((SEED * 7919 + i) % 1000003))
	BATCH=$((i * 10))
	user=${USERS[$((i % 4))]}
	read -r proto sink <<<"${PAIRS[$(((i - 1) % 6))]}"
	keep=true
	[ $((RANDOM % 2)) -eq 0 ] && keep=false
	kills=$((1 + RANDOM % 3))
	dir=$work/it$i
	rm -rf -- "$dir"
	mkdir -p "$dir" || tap_bail "cannot make $dir"
	fill "$user" "$proto"
	server "$user" "$proto" oracle >"$dir/oracle" || tap_bail "the oracle failed"
	measure "$dir" "$user" "$proto" "$sink"
	config "$dir/config.yaml" "$user" "$proto" "$sink" "$keep" "$dir"
	SUMMARY="$proto $sink keep: $keep, $(wc -l <"$dir/oracle") messages in ${FULL_MS} ms"

	local hits=0 delays=()
	for ((r = 1; r <= kills; r++)); do
		pick_delay
		delays+=("$DELAY")
		env ${MDA_ENV[@]+"${MDA_ENV[@]}"} MDA_RUN=$r "$YUBIN" -c "$dir/config.yaml" \
			>"$dir/run$r.out" 2>"$dir/run$r.err" </dev/null &
		pid=$!
		sleep "$(printf '%d.%03d' $((DELAY / 1000)) $((DELAY % 1000)))"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		status=$?
		KILLS=$((KILLS + 1))
		if [ "$status" -eq 137 ]; then
			hits=$((hits + 1))
		elif [ "$status" -ne 0 ]; then
			PROBLEMS+=("run $r (killed after ${DELAY} ms) exited $status: $(tail -n 3 "$dir/run$r.err" | tr '\n' ' ')")
		fi
		if [ "$sink" = mda ]; then
			# An MDA the kill left running finishes on its own.
			flock -x -w 120 "$dir/mda.lock" true || PROBLEMS+=("an MDA of run $r never finished")
			"$PYTHON3" "$TORTURE" risk "$dir/oracle" "$dir/state/torture" "$dir/mda.log" "$r" \
				>>"$dir/risk" || PROBLEMS+=("torture.py risk failed after run $r")
		fi
		if [ "$keep" = false ]; then
			server "$user" "$proto" keys >"$dir/keys" || tap_bail "listing the server failed"
			report=$("$PYTHON3" "$TORTURE" lost "$dir/oracle" "$dir/keys" "$sink" "$dir/dest") ||
				PROBLEMS+=("after kill $r (${DELAY} ms): $report")
		fi
	done
	HITS=$((HITS + hits))
	SUMMARY+=", $kills kills after ${delays[*]} ms ($hits mid-run)"

	yubin_run "it$i-final" ${MDA_ENV[@]+"${MDA_ENV[@]}"} MDA_RUN=final -- -c "$dir/config.yaml"
	[ "$RUN_STATUS" -eq 0 ] || PROBLEMS+=("the run after the kills: $(run_summary)")
	if counted=$("$PYTHON3" "$TORTURE" check "$dir/oracle" "$sink" "$dir/dest" ${RISK[@]+"${RISK[@]}"}); then
		read -r n twice <<<"$counted"
		COUNTED=$((COUNTED + n))
		if [ "$sink" = mda ]; then
			MDA_TWICE=$((MDA_TWICE + twice))
			MDA_RISK=$((MDA_RISK + $(wc -l <"$dir/risk")))
			SUMMARY+=", $twice again of $(wc -l <"$dir/risk") that may"
		fi
	else
		PROBLEMS+=("$counted")
	fi

	local before
	before=$("$PYTHON3" "$TORTURE" check "$dir/oracle" "$sink" "$dir/dest" ${RISK[@]+"${RISK[@]}"} 2>&1)
	yubin_run "it$i-again" ${MDA_ENV[@]+"${MDA_ENV[@]}"} MDA_RUN=again -- -c "$dir/config.yaml" --json
	if [ "$RUN_STATUS" -ne 0 ] || [ "$(json_get accounts.0.fetched)" != 0 ]; then
		PROBLEMS+=("a further run fetched $(json_get accounts.0.fetched): $(run_summary)")
	fi
	[ "$("$PYTHON3" "$TORTURE" check "$dir/oracle" "$sink" "$dir/dest" ${RISK[@]+"${RISK[@]}"} 2>&1)" = "$before" ] ||
		PROBLEMS+=("a further run changed the destination")
	"$PYTHON3" "$STATEDUMP" "$dir/state/torture" >"$dir/state.dump" ||
		PROBLEMS+=("the state cannot be read")
	grep -q '^I ' "$dir/state.dump" &&
		PROBLEMS+=("open intents left: $(grep '^I ' "$dir/state.dump" | head -n 3 | tr '\n' ' ')")
	if [ "$keep" = true ]; then
		n=$(grep -c '^M ' "$dir/state.dump")
		[ "$n" -eq "$(wc -l <"$dir/oracle")" ] ||
			PROBLEMS+=("the state records $n messages, the server holds $(wc -l <"$dir/oracle")")
	else
		server "$user" "$proto" keys >"$dir/keys" || tap_bail "listing the server failed"
		[ ! -s "$dir/keys" ] || PROBLEMS+=("$(wc -l <"$dir/keys") messages left on the server")
		n=$(grep -c '^M ' "$dir/state.dump")
		[ "$n" -eq 0 ] || PROBLEMS+=("the state still records $n deleted messages")
	fi
	if [ ${#PROBLEMS[@]} -eq 0 ] && [ -z "${HARNESS_KEEP-}" ]; then
		rm -rf -- "$dir"
	fi
}

for ((i = START; i < START + ITERATIONS; i++)); do
	iteration "$i"
	if [ ${#PROBLEMS[@]} -eq 0 ]; then
		tap_ok "iteration $i: $SUMMARY: each message once"
	else
		tap_not_ok "iteration $i: $SUMMARY" \
			"$(printf '%s\n' "${PROBLEMS[@]}" | head -n 20)
reproduce: TORTURE_SEED=$SEED TORTURE_START=$i TORTURE_ITERATIONS=1"
	fi
done

tap_diag "$KILLS kills, $HITS of them mid-run; $COUNTED Message-IDs counted;" \
	"MDA: $MDA_TWICE delivered again, of $MDA_RISK that the kills left at risk"
if [ "$HITS" -ge 1 ]; then
	tap_ok "kills interrupted a running yubin ($HITS of $KILLS)"
else
	tap_not_ok "kills interrupted a running yubin" "every run had finished before its kill"
fi

if [ -n "${TORTURE_FAIL_EXIT-}" ] && [ "$TAP_FAILED" -ne 0 ]; then
	tap_diag "$TAP_FAILED of $TAP_COUNT failed (TORTURE_SEED=$SEED)"
	exit 1
fi
tap_finish
