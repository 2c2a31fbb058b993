# crash.sh - the kill-at-every-step loop of the crash tests (sourced,
# bash, after tap.sh, harness.sh and checks.sh).
#
# yubin's test hook YUBIN_TEST_KILL_AT=k makes a run SIGKILL itself at
# its k-th durability step.  For k = 1, 2, 3, ... crash_each_step runs
# yubin killed at step k, then a clean run from what the killed one left,
# until a run gets past its last step; what differs between the tests
# (the account and sink, what must hold after each run) is the caller's,
# in functions named after HOOKS:
#
#   crash_each_step HOOKS TAG MAX
#
# For each k <= MAX, with DIR=$HARNESS_DIR/client/TAG-k:
#   HOOKS_prepare DIR K       writes the config DIR.yaml, with a fresh sink
#                             and state in DIR
#   HOOKS_run RUNTAG DIR PHASE [VAR=VALUE...]   (optional) runs yubin with
#                             DIR.yaml as yubin_run does; PHASE is killed
#                             or resume.  Default: yubin_run.
#   the run killed at step K; when it exits 0 instead, CRASH_FINISHED=yes,
#   CRASH_STEPS=K-1, CRASH_LAST_DIR=DIR (kept for the caller's checks),
#   and the loop ends
#   an exit other than 137 goes into CRASH_BAD_KILL
#   HOOKS_killed DIR K        (optional) checks what the killed run left
#   the clean run; an exit other than 0 goes into CRASH_BAD_RESUME, else
#   HOOKS_check_sink DIR K    (optional) prints what is wrong with the sink
#                             and fails; that goes into CRASH_BAD_RESUME
#   HOOKS_after DIR K         (optional) any further checks
#   DIR and DIR.yaml are removed (the disk use stays small).
# Hooks run in this shell (but check_sink, in a subshell): they may add
# to CRASH_BAD_KILL, CRASH_BAD_RESUME or lists of their own.
#
# When no run gets past its last step, CRASH_LAST_DIR names a directory
# that does not exist: the caller's checks of it fail, and the TAP count
# stays the plan's.
#
#   crash_tap_steps LABEL MIN
#                             one TAP check: some run got past its last
#                             step, after at least MIN steps

# crash_hook HOOKS NAME ARG...: HOOKS_NAME ARG... when it is defined.
crash_hook() {
	local fn=$1_$2
	shift 2
	if declare -F "$fn" >/dev/null; then
		"$fn" "$@"
	fi
}

# crash_run HOOKS TAG DIR PHASE [VAR=VALUE...]
crash_run() {
	local hooks=$1 tag=$2 dir=$3 phase=$4
	shift 4
	if declare -F "${hooks}_run" >/dev/null; then
		"${hooks}_run" "$tag" "$dir" "$phase" "$@"
	else
		yubin_run "$tag" "$@" -- -c "$dir.yaml"
	fi
}

crash_each_step() {
	local hooks=$1 tag=$2 max=$3 k dir report
	CRASH_BAD_KILL=()
	CRASH_BAD_RESUME=()
	CRASH_FINISHED=no
	unset CRASH_STEPS
	CRASH_LAST_DIR=$HARNESS_DIR/client/$tag-none
	for ((k = 1; k <= max; k++)); do
		dir=$HARNESS_DIR/client/$tag-$k
		"${hooks}_prepare" "$dir" "$k"
		crash_run "$hooks" "$tag-$k-killed" "$dir" killed YUBIN_TEST_KILL_AT=$k
		if [ "$RUN_STATUS" -eq 0 ]; then
			CRASH_FINISHED=yes
			CRASH_STEPS=$((k - 1))
			CRASH_LAST_DIR=$dir
			return
		fi
		if [ "$RUN_STATUS" -ne 137 ]; then
			CRASH_BAD_KILL+=("k=$k: exit $RUN_STATUS: $(tail -n 2 "$RUN_ERR" | tr '\n' ' ')")
		fi
		crash_hook "$hooks" killed "$dir" "$k"
		crash_run "$hooks" "$tag-$k-resume" "$dir" resume
		if [ "$RUN_STATUS" -ne 0 ]; then
			CRASH_BAD_RESUME+=("k=$k: resume exit $RUN_STATUS: $(tail -n 3 "$RUN_ERR" | tr '\n' ' ')")
		elif ! report=$(crash_hook "$hooks" check_sink "$dir" "$k"); then
			CRASH_BAD_RESUME+=("k=$k: $report")
		fi
		crash_hook "$hooks" after "$dir" "$k"
		rm -rf -- "$dir" "$dir.yaml"
	done
}

crash_tap_steps() {
	local label=${1:+$1: } min=$2
	if [ "$CRASH_FINISHED" = yes ] && [ "$CRASH_STEPS" -ge "$min" ]; then
		tap_ok "${label}killed once at each of $CRASH_STEPS durability steps"
	else
		tap_not_ok "${label}killed once at each durability step (at least $min)" \
			"finished: $CRASH_FINISHED, steps: ${CRASH_STEPS-none}"
	fi
}
