#!/bin/bash
# full_pair.sh COUNT -- COMMAND [ARG...]
#
# A private Dovecot (tests/lib/harness.sh) with COUNT messages of the
# bench profile (bench/corpus.py, as make bench's "all new" rows), warmed
# by one untimed stream, and then COMMAND, run with these in its
# environment, each one command line that fetches everything anew (its
# Maildir and state moved aside first, inside the command):
#
#   PAIR_POP3, PAIR_IMAP                 yubin (YUBIN)
#   PAIR_POP3_OTHER, PAIR_IMAP_OTHER     a second yubin (YUBIN_OTHER,
#                                        default YUBIN), to pair two builds
#   PAIR_POP3_STREAM, PAIR_IMAP_STREAM   the raw TLS stream yardstick
#   PAIR_FLOOR                           the disk floor yardstick
#
# Each is one shell command line, quotes included (run it with eval).
# Every command clears its own directory alike, so that a pair compares
# the fetch.  Everything lives in the harness's directory, removed at exit.
set -eu
BENCH=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$BENCH/..}"
: "${YUBIN:=$top_srcdir/yubin}"
: "${YUBIN_OTHER:=$YUBIN}"
yubin_one=$YUBIN
: "${DISK_FLOOR:=$top_srcdir/bench/disk_floor}"
: "${PYTHON3:=python3}"
: "${DOVECOT:=$(command -v dovecot || echo /usr/sbin/dovecot)}"
export PYTHON3 DOVECOT
count=${1:?usage: full_pair.sh COUNT -- COMMAND...}
shift
[ "${1-}" = -- ] || { echo "usage: full_pair.sh COUNT -- COMMAND..." >&2; exit 64; }
shift

. "$top_srcdir/tests/lib/harness.sh"
. "$BENCH/tools.sh"
harness_start >/dev/null
work=$(harness_dir)/client
# shellcheck disable=SC2034 # tools.sh reads the G_ variables
G_USER=alice G_FOLDERS='' G_FOLDER_NAMES=(INBOX) G_ACCOUNTS='' G_JOBS=''
# shellcheck disable=SC2034
G_SOURCES=("$(harness_maildir alice)")
"$PYTHON3" "$BENCH/corpus.py" "$(harness_maildir alice)" "$count" \
	--profile bench --seed n --uid "$HARNESS_MAIL_UID" \
	--gid "$HARNESS_MAIL_GID" >/dev/null

# fresh DIR: the shell words that give DIR an empty Maildir and state.
# The old ones are moved aside, not removed: removing 10,000 files would
# be timed with the fetch.  They go when the harness's directory does.
# shellcheck disable=SC2016 # $t and $$ are for the command's own shell
fresh() {
	printf 't=%s/old.$$ && mkdir %s && mv %s/mail %s/state %s 2>/dev/null; ' \
		"$1" '$t' "$1" "$1" '$t'
	printf 'mkdir -p %s/mail/tmp %s/mail/new %s/mail/cur' "$1" "$1" "$1"
}

for G_PROTO in pop3 imap; do
	P=${G_PROTO^^}
	tool_setup stream "$work/stream-$G_PROTO"
	tool_cmd stream "$work/stream-$G_PROTO"
	"${CMD[@]}" >/dev/null </dev/null # the warm-up: Dovecot indexes
	export "PAIR_${P}_STREAM=sh -c '$(fresh "$work/stream-$G_PROTO") && exec ${CMD[*]}'"
	for side in one other; do
		dir=$work/yubin-$G_PROTO-$side
		tool_setup yubin "$dir"
		YUBIN=$([ $side = one ] && echo "$yubin_one" || echo "$YUBIN_OTHER")
		tool_cmd yubin "$dir"
		name=PAIR_$P
		[ $side = other ] && name=PAIR_${P}_OTHER
		export "$name=sh -c '$(fresh "$dir") && exec ${CMD[*]}'"
		"${CMD[@]}" </dev/null
		[ "$(count_maildirs "$dir/mail")" = "$count" ] ||
			{ echo "full_pair: yubin ($G_PROTO) did not fetch $count messages" >&2; exit 1; }
	done
done
tool_setup floor "$work/floor"
tool_cmd floor "$work/floor"
export "PAIR_FLOOR=sh -c '$(fresh "$work/floor") && exec ${CMD[*]}'"
"$@"
