#!/bin/bash
# yubin-timer (contrib/systemd), what yubin.service runs: exit 75 is
# forgiven (exit 0) until YUBIN_TEMPFAIL_LIMIT runs in a row have ended
# so, then passed on (75) every run until a run ends otherwise; any other
# status is passed on and starts the count again; the arguments reach
# yubin; yubin@.service's instances (YUBIN_TIMER_INSTANCE) count apart.  A stand-in yubin gives the statuses, so no server is needed.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/yubin-timer.XXXXXX") || tap_bail "no temporary directory"
trap 'rm -rf "$work"' EXIT

tap_plan 13

mkdir -p "$work/bin" "$work/state"
cat >"$work/bin/yubin" <<'SH'
#!/bin/sh
printf '%s\n' "$*" >"$(dirname "$0")/args"
exit "$(cat "$(dirname "$0")/status")"
SH
chmod +x "$work/bin/yubin"
sed -e "s|@bindir@|$work/bin|g" "$top_srcdir/contrib/systemd/yubin-timer.in" >"$work/yubin-timer"
chmod +x "$work/yubin-timer"

# run STATUS: the timer's exit status when yubin exits STATUS.
run() {
	echo "$1" >"$work/bin/status"
	XDG_STATE_HOME=$work/state YUBIN_TEMPFAIL_LIMIT=3 "$work/yubin-timer" -q home 2>/dev/null
	echo $?
}

tap_is "$(run 0)" 0 "success is success"
tap_is "$(cat "$work/bin/args")" "-q home" "the arguments reach yubin"
tap_is "$(run 75)" 0 "a first 75 is forgiven"
tap_is "$(run 75)" 0 "a second 75 in a row is forgiven"
tap_is "$(run 75)" 75 "the third 75 in a row (the limit) fails"
tap_is "$(run 75)" 75 "and every 75 after it"
tap_is "$(run 0)$(run 75)" 00 "a success starts the count again"
tap_is "$(run 69)$(run 75)" 690 "another failure is passed on and starts the count again"
tap_is "$(cat "$work/state/yubin-timer/tempfail-count")" 1 \
	"the count lives in \$XDG_STATE_HOME/yubin-timer"

# yubin@ACCOUNT.service: a count per account, and no path in the name.
instance() {
	echo "$2" >"$work/bin/status"
	XDG_STATE_HOME=$work/state YUBIN_TEMPFAIL_LIMIT=3 YUBIN_TIMER_INSTANCE=$1 \
		"$work/yubin-timer" -- "$1" 2>"$work/instance.err"
	echo $?
}
tap_is "$(instance work 75)$(instance work 75)$(instance home 75)" 000 \
	"an instance's 75s are counted apart from another's"
tap_is "$(cat "$work/state/yubin-timer/tempfail-count.work") $(cat "$work/state/yubin-timer/tempfail-count.home")" \
	"2 1" "... in tempfail-count.ACCOUNT"
tap_is "$(cat "$work/bin/args")" "-- home" "... and the instance reaches yubin as its account"
tap_is "$(instance ../x 0)" 64 "an instance name with a / is refused (exit 64)"

tap_finish
