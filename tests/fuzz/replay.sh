# replay.sh - sourced by the replay_TARGET.sh tests (see README).
#
# fuzz_replay TARGET runs the replay program of TARGET over
# tests/fuzz/corpus/TARGET and tests/fuzz/crashes/TARGET, printing TAP.
# make check exports top_srcdir and top_builddir; run by hand from the
# build directory, the source directory is found from the script's path.

fuzz_replay() {
	target=$1
	here=$(cd "$(dirname "$0")" && pwd) || exit 1
	src=${top_srcdir:-$here/../..}
	build=${top_builddir:-.}
	program=$build/tests/fuzz/replay_$target
	if [ ! -x "$program" ]; then
		echo "Bail out! $program is not built (make check builds it)"
		exit 1
	fi
	exec "$program" "$src/tests/fuzz/corpus/$target" \
		"$src/tests/fuzz/crashes/$target"
}
