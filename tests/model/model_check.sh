#!/bin/bash
# model_check.sh - make check's sample of the model test (see README): the
# kept scenarios (tests/fake/cases/model-*.scenario) replayed, then
# MODEL_CHECK_RUNS seeded scenarios (default 300), as TAP.
#
# Under make check-valgrind (YUBIN_WRAPPER set) yubin still runs natively,
# never under valgrind (a scenario runs yubin five times or so), and only
# MODEL_VALGRIND_RUNS scenarios (default 60): the phase checks a build
# without sanitizers, which the model otherwise meets only in make model.
#
#   MODEL_SEED (default 1), MODEL_JOBS (default 2), MODEL_FAULTS (default:
#   every fault class but the known holes, see scenario.py)

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${PYTHON3:=python3}"
. "$top_srcdir/tests/lib/tap.sh"

[ -n "${YUBIN-}" ] || tap_bail "YUBIN is not set (run through make check)"
[ -x "$YUBIN" ] || tap_bail "YUBIN=$YUBIN is not an executable: build yubin first"
command -v "$PYTHON3" >/dev/null || tap_bail "python3 is missing"

runs=${MODEL_CHECK_RUNS:-300}
[ -n "${YUBIN_WRAPPER-}" ] && runs=${MODEL_VALGRIND_RUNS:-60}
for value in "$runs" "${MODEL_SEED:-1}" "${MODEL_JOBS:-2}"; do
	case $value in
	'' | *[!0-9]*) tap_bail "MODEL_CHECK_RUNS, MODEL_SEED and MODEL_JOBS are numbers" ;;
	esac
done

kept=("$top_srcdir"/tests/fake/cases/model-*.scenario)
[ -e "${kept[0]}" ] || kept=()

# model.py prints the plan, one line per scenario and the diagnostics;
# it shrinks the first failure so that the log shows a small scenario.
exec "$PYTHON3" "$top_srcdir/tests/model/model.py" --tap --yubin "$YUBIN" \
	--seed "${MODEL_SEED:-1}" --runs "$runs" --jobs "${MODEL_JOBS:-2}" --shrink 1 \
	--replay "${kept[@]}"
