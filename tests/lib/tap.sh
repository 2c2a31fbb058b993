# tap.sh - tiny TAP producer for the integration tests (sourced, bash).
#
#   tap_plan N              print the plan "1..N" (call once, first)
#   tap_ok DESC             a passing test
#   tap_not_ok DESC [WHY]   a failing test, with an optional diagnostic
#   tap_check DESC CMD...   run CMD; ok when it exits 0
#   tap_is GOT WANT DESC    ok when the two strings are equal
#   tap_none DESC ITEM...   ok when no ITEM is given (a list of problems)
#   tap_diag TEXT...        a "# " comment line (shown by the TAP driver)
#   tap_todo REASON         the next test is a known failure: its line gets
#                           the "# TODO REASON" directive, so "not ok" is
#                           expected and does not fail the script, while
#                           "ok" shows as an unexpected pass (XPASS), which
#                           make check counts as a failure: the bug is gone
#                           and the TODO must go too
#   tap_bail REASON         "Bail out!" and exit 1: the harness itself broke
#   tap_finish              at the end: exit 1 when the count ran short of
#                           the plan (a failed test is already reported by
#                           its "not ok" line; a non-zero exit on top would
#                           make the TAP driver count an extra ERROR)
#
# Every test is numbered here, so a script cannot get the numbers wrong;
# a script that dies half way leaves the plan short and the driver says so.

# Byte order for sort/comm/grep, whatever the caller's locale.
export LC_ALL=C

TAP_COUNT=0
TAP_FAILED=0
TAP_PLANNED=0
TAP_TODO=

tap_plan() {
	TAP_PLANNED=$1
	printf '1..%s\n' "$1"
}

tap_diag() {
	local line
	# Each line of a multi-line diagnostic gets its own "# ".
	printf '%s\n' "$*" | while IFS= read -r line; do
		printf '# %s\n' "$line"
	done
}

tap_todo() {
	TAP_TODO=$1
}

tap_ok() {
	TAP_COUNT=$((TAP_COUNT + 1))
	printf 'ok %d - %s%s\n' "$TAP_COUNT" "$1" "${TAP_TODO:+ # TODO $TAP_TODO}"
	TAP_TODO=
}

tap_not_ok() {
	TAP_COUNT=$((TAP_COUNT + 1))
	if [ -z "$TAP_TODO" ]; then
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
	printf 'not ok %d - %s%s\n' "$TAP_COUNT" "$1" "${TAP_TODO:+ # TODO $TAP_TODO}"
	TAP_TODO=
	if [ -n "${2-}" ]; then
		tap_diag "$2"
	fi
}

tap_check() {
	local desc=$1
	shift
	if "$@"; then
		tap_ok "$desc"
	else
		tap_not_ok "$desc" "command failed: $*"
	fi
}

tap_is() {
	if [ "$1" = "$2" ]; then
		tap_ok "$3"
	else
		tap_not_ok "$3" "got '$1', expected '$2'"
	fi
}

# tap_none DESC ITEM...: ok when no ITEM is given (a list of problems
# found), else not ok showing the first 15.
tap_none() {
	local desc=$1
	shift
	if [ $# -eq 0 ]; then
		tap_ok "$desc"
	else
		tap_not_ok "$desc" "$(printf '%s\n' "$@" | head -n 15)"
	fi
}

tap_bail() {
	printf 'Bail out! %s\n' "$*"
	exit 1
}

tap_finish() {
	if [ "$TAP_COUNT" -ne "$TAP_PLANNED" ]; then
		tap_diag "planned $TAP_PLANNED tests but ran $TAP_COUNT"
		exit 1
	fi
	if [ "$TAP_FAILED" -ne 0 ]; then
		tap_diag "$TAP_FAILED of $TAP_COUNT tests failed"
	fi
	exit 0
}
