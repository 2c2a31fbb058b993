#!/bin/bash
# pop3_pair.sh COUNT [NEW] -- COMMAND [ARG...]
#
# A private Dovecot (tests/lib/harness.sh) with COUNT small messages
# (bench/corpus.py), yubin and mpop each taught the whole maildrop by an
# untimed first fetch, and then COMMAND, run with these in its
# environment, each one command line to time, nothing-new runs:
#
#   PAIR_YUBIN   yubin fetching again (nothing new)
#   PAIR_MPOP    mpop fetching again (nothing new)
#
# With NEW, NEW more messages arrive after the first fetches, and
#
#   PAIR_YUBIN_NEW   yubin fetching those NEW, from the state that
#                    knows COUNT, restored before each run
#   PAIR_YUBIN_OLD   the same restore, then yubin with nothing new
#
# so that a pair of the two compares the NEW fetched with the run that
# fetches nothing, restores alike.  Everything lives in the harness's
# directory, removed at exit.  YUBIN (the binary) defaults to the build
# directory's.
set -eu
BENCH=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$BENCH/..}"
: "${YUBIN:=$top_srcdir/yubin}"
: "${PYTHON3:=python3}"
: "${DOVECOT:=$(command -v dovecot || echo /usr/sbin/dovecot)}"
export PYTHON3 DOVECOT
count=${1:?usage: pop3_pair.sh COUNT [NEW] -- COMMAND...}
shift
new=0
if [ "${1-}" != -- ]; then
	new=$1
	shift
fi
[ "${1-}" = -- ] || { echo "usage: pop3_pair.sh COUNT [NEW] -- COMMAND..." >&2; exit 64; }
shift

. "$top_srcdir/tests/lib/harness.sh"
. "$BENCH/tools.sh"
harness_start >/dev/null
work=$(harness_dir)/client
G_PROTO=pop3 G_USER=bob
fill() {
	"$PYTHON3" "$BENCH/corpus.py" "$(harness_maildir bob)" "$@" \
		--profile small --uid "$HARNESS_MAIL_UID" \
		--gid "$HARNESS_MAIL_GID" >/dev/null
}
fill "$count" --seed pair

for tool in yubin mpop; do
	tool_setup "$tool" "$work/$tool"
	tool_cmd "$tool" "$work/$tool"
	"${CMD[@]}" </dev/null
	[ "$(tool_count "$tool" "$work/$tool")" = "$count" ] ||
		{ echo "pop3_pair: $tool did not fetch $count messages" >&2; exit 1; }
done
tool_cmd yubin "$work/yubin"
PAIR_YUBIN="${CMD[*]}"
tool_cmd mpop "$work/mpop"
PAIR_MPOP="${CMD[*]}"
export PAIR_YUBIN PAIR_MPOP

if [ "$new" -gt 0 ]; then
	known=$work/yubin/state.known
	cp -a "$work/yubin/state" "$known"
	fill "$new" --seed "pair-new"
	# The state that also knows the NEW, for the nothing-new side.
	tool_cmd yubin "$work/yubin"
	"${CMD[@]}" </dev/null
	cp -a "$work/yubin/state" "$work/yubin/state.all"
	restore="rm -rf $work/yubin/state && cp -a"
	PAIR_YUBIN_NEW="sh -c '$restore $known $work/yubin/state && exec ${CMD[*]}'"
	PAIR_YUBIN_OLD="sh -c '$restore $work/yubin/state.all $work/yubin/state && exec ${CMD[*]}'"
	export PAIR_YUBIN_NEW PAIR_YUBIN_OLD
fi
"$@"
