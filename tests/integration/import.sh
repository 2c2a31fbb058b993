#!/bin/bash
# yubin --import FORMAT FILE: each tool's sample file (tests/import/)
# printed as the account file beside it, exit 0; an unknown format or a
# missing FILE is a usage error (64), a FILE that cannot be read is a
# local error (74), a file the tool would refuse names FILE:LINE (78),
# and an account file that cannot be written to stdout is 74.  No
# server is needed.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"

[ -n "${YUBIN-}" ] && [ -x "$YUBIN" ] || tap_bail "YUBIN is not set (run through make check)"
work=$(mktemp -d "${TMPDIR:-/tmp}/yubin-import.XXXXXX") || tap_bail "no temporary directory"
trap 'chmod -R u+rwx "$work"; rm -rf "$work"' EXIT

tap_plan 15

# run TAG ARGS...: yubin in the samples' directory; RUN_STATUS, $work/TAG.out/.err
run() {
	local tag=$1
	shift
	RUN_OUT=$work/$tag.out
	RUN_ERR=$work/$tag.err
	RUN_STATUS=$(cd "$top_srcdir/tests/import" &&
		LOGNAME=tester "$YUBIN" "$@" >"$RUN_OUT" 2>"$RUN_ERR" </dev/null; echo $?)
}

status_is() {
	if [ "$RUN_STATUS" = "$1" ]; then
		tap_ok "$2"
	else
		tap_not_ok "$2" "expected exit $1, got $RUN_STATUS; stderr: $(head -c 500 "$RUN_ERR")"
	fi
}

for sample in fetchmailrc mbsyncrc mpoprc getmailrc getmailrc-work; do
	format=$sample
	case $sample in getmailrc*) format=getmailrc ;; esac
	run "$sample" --import "$format" "$sample"
	if [ "$RUN_STATUS" = 0 ] && cmp -s "$RUN_OUT" "$top_srcdir/tests/import/$sample.yaml" &&
		[ ! -s "$RUN_ERR" ]; then
		tap_ok "--import $format $sample prints $sample.yaml, nothing else, exit 0"
	else
		tap_not_ok "--import $format $sample prints $sample.yaml" \
			"exit $RUN_STATUS; $(diff "$RUN_OUT" "$top_srcdir/tests/import/$sample.yaml" | head -20)"
	fi
done

run unknown --import offlineimaprc mpoprc
status_is 64 "an unknown format is a usage error (64)"
tap_check "the formats yubin reads are named" grep -q "fetchmailrc, mbsyncrc, mpoprc or getmailrc" "$RUN_ERR"

run no-file --import mpoprc
status_is 64 "--import without FILE is a usage error (64)"

run with-fetch -n --import mpoprc mpoprc
status_is 64 "--import with -n is a usage error (64)"

run missing --import mpoprc "$work/missing"
status_is 74 "a FILE that does not exist is a local error (74)"

run directory --import mpoprc "$work"
status_is 74 "a directory is a local error (74)"

printf 'account a\nhost pop.example.net\naccount b : nowhere\n' >"$work/bad-mpoprc"
run bad --import mpoprc "$work/bad-mpoprc"
status_is 78 "a file mpop would refuse exits 78"
tap_check "the message names FILE:LINE and the reason" \
	grep -q "bad-mpoprc:3: account 'nowhere' is not defined before this line" "$RUN_ERR"
tap_check "nothing is printed on stdout then" test ! -s "$RUN_OUT"

if [ -w /dev/full ]; then
	RUN_STATUS=$(cd "$top_srcdir/tests/import" &&
		"$YUBIN" --import mpoprc mpoprc >/dev/full 2>"$work/full.err"; echo $?)
	RUN_ERR=$work/full.err
	status_is 74 "an account file that cannot be written to stdout exits 74"
else
	tap_ok "# SKIP /dev/full is not writable here"
fi
tap_finish
