#!/bin/bash
# run.sh YUBIN DOVECOT DISK_FLOOR - `make bench` and `make bench-check`:
# yubin beside its peers (mbsync, mpop, fetchmail: each one installed) on
# one private Dovecot on 127.0.0.1 over TLS, with the raw stream and the
# disk floor as yardsticks.  See bench/README for the rows and the sizes.
#
# BENCH_OUT       where results.md and results.json go (bench-results)
# BENCH_CHECK=1   a check of the bench itself: every peer must be there,
#                 every run must deliver what it should, the JSON must
#                 have every row; the timings are never judged.
set -uo pipefail

YUBIN=${1:?usage: run.sh YUBIN DOVECOT DISK_FLOOR}
DOVECOT=${2-}
DISK_FLOOR=${3-}
: "${PYTHON3:=python3}"
BENCH=$(cd "$(dirname "$0")" && pwd)
OUT=${BENCH_OUT:-bench-results}
CHECK=${BENCH_CHECK-}
PEERS="mbsync mpop fetchmail"

note() { printf 'bench: %s\n' "$*" >&2; }
fail() { note "$*"; exit 1; }

number() {
	local name=$1 default=$2 value
	value=${!name:-$default}
	case $value in
	'' | *[!0-9]* | 0*) fail "$name must be a whole number above 0, not '$value'" ;;
	esac
	printf '%s\n' "$value"
}
MESSAGES=$(number BENCH_MESSAGES 10000) || exit 1
BIG=$(number BENCH_BIG 100000) || exit 1
HUGE_MB=$(number BENCH_HUGE_MB 200) || exit 1
ACCOUNTS=$(number BENCH_ACCOUNTS 1000) || exit 1
ROUNDS=$(number BENCH_ROUNDS 3) || exit 1
FOLDER_MESSAGES=$(number BENCH_FOLDER_MESSAGES 20) || exit 1
TIMEOUT=$(number BENCH_TIMEOUT 3600) || exit 1
LATENCY=$(number BENCH_LATENCY 20) || exit 1
ACCOUNT_MESSAGES=3
FOLDERS=50

[ -n "$DOVECOT" ] || fail "no dovecot binary (install dovecot-core, dovecot-pop3d, dovecot-imapd and run configure again)"
[ -x "$YUBIN" ] || fail "no yubin binary at $YUBIN"
[ -x "$DISK_FLOOR" ] || fail "no disk_floor binary at $DISK_FLOOR (make bench builds it)"
[ -x /usr/bin/time ] || fail "GNU time (/usr/bin/time) is missing: run bench/setup, or install the package time"

present=()
for peer in $PEERS; do
	if command -v "$peer" >/dev/null; then
		present+=("$peer")
	elif [ -n "$CHECK" ]; then
		fail "$peer is not installed: bench-check needs every peer (run bench/setup)"
	else
		note "$peer is not installed: no $peer column (bench/setup installs it)"
	fi
done
has() { [[ " ${present[*]} " == *" $1 "* ]]; }

. "$BENCH/../tests/lib/harness.sh"
. "$BENCH/tools.sh"

mkdir -p "$OUT" || fail "cannot make $OUT"
raw=$OUT/raw.tsv
rows=$OUT/rows.tsv
: >"$raw" && : >"$rows" || fail "cannot write in $OUT"

if ldd "$YUBIN" 2>/dev/null | grep -q libasan; then
	note "NOTE: $YUBIN is built with sanitizers; its numbers are not representative."
fi

harness_start >/dev/null
work=$(harness_dir)/client

# measure ROW TOOL ROUND WANT DIR: run TOOL once in DIR; one line of
# $raw: wall, user and system seconds, peak RSS (KB), exit status,
# messages delivered and wanted.
measure() {
	local row=$1 tool=$2 round=$3 want=$4 dir=$5 wall user sys rss code got
	tool_cmd "$tool" "$dir"
	/usr/bin/time -f '%e %U %S %M %x' -o "$dir/time" \
		timeout "$TIMEOUT" "${CMD[@]}" >"$dir/stdout" 2>"$dir/stderr" </dev/null
	# GNU time puts "Command exited with non-zero status N" first then.
	read -r wall user sys rss code < <(tail -n 1 "$dir/time")
	got=$(tool_count "$tool" "$dir")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$tool" "$round" \
		"$wall" "$user" "$sys" "$rss" "$code" "${got:-0}" "$want" >>"$raw"
	note "$(printf '%-16s %-9s round %s  %8s s  %s/%s messages  exit %s' \
		"$row" "$tool" "$round" "$wall" "${got:-0}" "$want" "$code")"
	if [ "${got:-0}" != "$want" ] || ! exit_ok "$tool" "$code"; then
		sed 's/^/    /' "$dir/stderr" | tail -n 5 >&2
	fi
}

# fetchmail's 1 means "no mail": its normal answer when nothing is new.
exit_ok() { [ "$2" = 0 ] || { [ "$1" = fetchmail ] && [ "$2" = 1 ]; }; }

# use_group NAME: the mailbox and the protocol the next rows fetch.
use_group() {
	GROUP=$1 G_FOLDERS='' G_FOLDERS_MBSYNC='' G_FOLDER_NAMES=(INBOX)
	G_ACCOUNTS='' G_JOBS='' G_FETCHMAIL_BSMTP=
	case $1 in
	pop3 | imap) G_USER=alice ;;
	pop3-big | imap-big) G_USER=bob G_FETCHMAIL_BSMTP=yes ;;
	huge-pop3 | huge-imap) G_USER=carol ;;
	folders)
		G_USER=demo G_FOLDERS='["f*"]' G_FOLDERS_MBSYNC='f*'
		G_FOLDER_NAMES=($(printf 'f%02d ' $(seq "$FOLDERS"))) ;;
	accounts-j*) G_USER=demo G_ACCOUNTS=$ACCOUNTS G_JOBS=${1#accounts-j} ;;
	esac
	case $1 in
	*pop3* | accounts-*) G_PROTO=pop3 ;;
	*) G_PROTO=imap ;;
	esac
	local maildir
	maildir=$(harness_maildir "$G_USER")
	G_SOURCES=("$maildir")
	if [ "$1" = folders ]; then
		G_SOURCES=($(printf "$maildir/.%s " "${G_FOLDER_NAMES[@]}"))
	fi
}

# tools_for KIND: the tools of the current group for a row of KIND
# ("full" rows also run the two yardsticks).
tools_for() {
	local tools=(yubin)
	if [ "$G_PROTO" = pop3 ]; then
		has mpop && tools+=(mpop)
		has fetchmail && tools+=(fetchmail)
	else
		has mbsync && tools+=(mbsync)
	fi
	[ "$1" = full ] && tools+=(stream floor)
	printf '%s\n' "${tools[*]}"
}

ROUND_FROM=1
# row ROW KIND WANT TITLE [TOOLS]: ROUNDS rounds of every tool in turn
# (A B C A B C ...).  A "full" row starts each tool from nothing each
# round; an "again" row fetches again with what the group's last row left.
row() {
	local id=$1 kind=$2 want=$3 title=$4 tools=${5:-$(tools_for "$2")} r tool dir
	printf '%s\t%s\t%s\t%s\n' "$id" "$title" "$GROUP" "$tools" >>"$rows"
	for ((r = ROUND_FROM; r < ROUND_FROM + ROUNDS; r++)); do
		for tool in $tools; do
			dir=$work/$GROUP/$tool
			[ "$kind" = full ] && tool_setup "$tool" "$dir"
			measure "$id" "$tool" "$r" "$want" "$dir"
		done
	done
}

corpus() {
	local user=$1
	shift
	"$PYTHON3" "$BENCH/corpus.py" "$(harness_maildir "$user")" "$@" \
		--uid "$HARNESS_MAIL_UID" --gid "$HARNESS_MAIL_GID" >/dev/null ||
		fail "corpus.py failed for $user"
}

# warm GROUP: one untimed stream, so that Dovecot has indexed the
# mailbox and the page cache holds it before the first timed run.
warm() {
	use_group "$1"
	mkdir -p "$work/warm"
	tool_cmd stream "$work/warm"
	timeout "$TIMEOUT" "${CMD[@]}" >/dev/null || fail "the warm-up stream of $1 failed"
}

note "filling the mailboxes: $MESSAGES + $BIG messages, one of $HUGE_MB MiB, $FOLDERS folders ..."
corpus alice "$MESSAGES" --profile bench --seed n
corpus bob "$BIG" --profile small --seed big
corpus carol 1 --profile huge --huge-mb "$HUGE_MB" --seed huge
corpus demo "$ACCOUNT_MESSAGES" --profile bench --seed accounts
for f in $(seq -f 'f%02g' "$FOLDERS"); do
	corpus demo "$FOLDER_MESSAGES" --profile small --folder "$f" --seed "$f"
done
for g in pop3 imap pop3-big imap-big huge-pop3 huge-imap folders; do
	warm "$g"
done

use_group imap
row imap-full full "$MESSAGES" "IMAP, all $MESSAGES new, into a Maildir"
row imap-none again "$MESSAGES" "IMAP, nothing new ($MESSAGES known)"
use_group pop3
row pop3-full full "$MESSAGES" "POP3, all $MESSAGES new, into a Maildir"
row pop3-none again "$MESSAGES" "POP3, nothing new ($MESSAGES known)"

# The big mailbox: each tool learns it once (one round), then fetches
# nothing new; then each round 10 messages arrive and every tool, POP3
# and IMAP alike, fetches those 10.
ROUNDS_WANTED=$ROUNDS
ROUNDS=1
use_group pop3-big
row pop3-big-full full "$BIG" "POP3, all $BIG new (one round: it primes the rows below)" \
	"$(tools_for again)"
use_group imap-big
row imap-big-full full "$BIG" "IMAP, all $BIG new (one round: it primes the rows below)" \
	"$(tools_for again)"
ROUNDS=$ROUNDS_WANTED
use_group pop3-big
row pop3-big-none again "$BIG" "POP3, nothing new ($BIG known)"
use_group imap-big
row imap-big-none again "$BIG" "IMAP, nothing new ($BIG known)"
ROUNDS_WANTED=$ROUNDS
for ((round = 1; round <= ROUNDS_WANTED; round++)); do
	corpus bob 10 --profile small --seed "new$round"
	ROUNDS=1 ROUND_FROM=$round
	use_group pop3-big
	row pop3-big-new10 again $((BIG + 10 * round)) "POP3, 10 new of $BIG"
	use_group imap-big
	row imap-big-new10 again $((BIG + 10 * round)) "IMAP, 10 new of $BIG"
done
ROUNDS=$ROUNDS_WANTED ROUND_FROM=1

use_group huge-pop3
row huge-pop3 full 1 "POP3, one message of $HUGE_MB MiB"
use_group huge-imap
row huge-imap full 1 "IMAP, one message of $HUGE_MB MiB"

use_group folders
row folders-full full $((FOLDERS * FOLDER_MESSAGES)) \
	"IMAP, $FOLDERS folders, all $((FOLDERS * FOLDER_MESSAGES)) new"
row folders-none again $((FOLDERS * FOLDER_MESSAGES)) "IMAP, $FOLDERS folders, nothing new"

for jobs in 1 2 4 8; do
	use_group "accounts-j$jobs"
	tools=yubin
	[ "$jobs" = 1 ] && has mpop && tools="yubin mpop"
	row "accounts-j$jobs" full $((ACCOUNTS * ACCOUNT_MESSAGES)) \
		"POP3, $ACCOUNTS accounts of $ACCOUNT_MESSAGES messages, yubin -j $jobs" "$tools"
done

# latency MODE: yubin --watch on demo's INBOX and f01, LATENCY messages
# appended one at a time, alternately, by another client; how soon each
# is in new/ and recorded (bench/latency.py): one line of latency.jsonl.
latency() {
	local dir=$work/latency-$1 result
	mkdir -p "$dir" || fail "cannot make $dir"
	harness_write_config "$dir/config.yaml" lat imap implicit "$(harness_port imaps)" \
		demo "$(harness_password demo)" "$dir/Mail" folders='["INBOX", "f01"]' \
		state_dir="$dir/state"
	result=$("$PYTHON3" "$BENCH/latency.py" --yubin "$YUBIN" --config "$dir/config.yaml" \
		--root "$dir/Mail" --folders INBOX,f01 --port "$(harness_port imap)" \
		--user demo --password "$(harness_password demo)" --mode "$1" \
		--count "$LATENCY" --log "$dir/stderr") ||
		fail "the $1 latency run failed: $(tail -n 5 "$dir/stderr")"
	# The mode is what the watch said it did (-v), not what was hoped.
	local watched=idle
	grep -q 'offers NOTIFY' "$dir/stderr" && watched=notify
	[ "$watched" = "$1" ] || fail "the $1 latency run watched with $watched"
	printf '%s\n' "$result" >>"$OUT/latency.jsonl"
	note "latency $1: $("$PYTHON3" -c 'import json, sys
r = json.loads(sys.argv[1])
print("%d of %d delivered, median %s ms to new/, %s ms recorded" % (r["delivered"],
      r["appended"], r["median_renamed_ms"], r["median_recorded_ms"]))' "$result")"
}
: >"$OUT/latency.jsonl"
# Dovecot offers NOTIFY with its mailbox list index, on by default;
# without the index it offers none, and the watch uses IDLE per folder.
latency notify
HARNESS_IMAP_NOTIFY=off
harness_restart >/dev/null
latency idle

dovecot_version=$("$DOVECOT" --version | cut -d' ' -f1)
harness_stop

"$PYTHON3" "$BENCH/report.py" --raw "$raw" --rows "$rows" --out "$OUT" \
	--rounds "$ROUNDS" --peers "${present[*]}" --dovecot "$dovecot_version" \
	--sizes "messages=$MESSAGES big=$BIG huge_mb=$HUGE_MB accounts=$ACCOUNTS folders=$FOLDERS folder_messages=$FOLDER_MESSAGES" \
	--latency "$OUT/latency.jsonl" \
	--machine "$("$BENCH/machine.sh")" ${CHECK:+--check}
