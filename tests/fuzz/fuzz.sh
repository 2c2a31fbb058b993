#!/bin/sh
# fuzz.sh - build and run the libFuzzer targets (make fuzz; see README).
#
#   fuzz.sh build   compile the library and the targets with
#                   -fsanitize=fuzzer into $FUZZ_OUT (clang only)
#   fuzz.sh run     run each target for $FUZZ_SECONDS over a copy of its
#                   seed corpus kept in $FUZZ_OUT/work/TARGET/corpus
#
# make fuzz passes everything through the environment:
#   FUZZ_CC, FUZZ_CPPFLAGS, FUZZ_CFLAGS, FUZZ_LIBS   as make check builds
#   FUZZ_SRCDIR      the source tree's top
#   FUZZ_OUT         where binaries and work files go (build tree)
#   FUZZ_LIB_SOURCES the library's sources (headers are skipped)
#   FUZZ_TARGETS     which targets
#   FUZZ_SECONDS     per target
#   FUZZ_SANITIZERS  besides fuzzer (default address,undefined)
#   FUZZ_ARGS        extra libFuzzer options, e.g. -jobs=2 -workers=2
#   FUZZ_TMPDIR      scratch for the targets' files (default /dev/shm when
#                    writable, for fast fsync; else TMPDIR or /tmp)

set -u

die() {
	echo "fuzz: $*" >&2
	exit 1
}

# The largest input each target gets: past every limit it has to check.
max_len_of() {
	case $1 in
	imap_parse) echo 16384 ;;   # lines, atoms, literals, depth
	pop3_parse) echo 16384 ;;   # POP3_LINE_MAX is 8192
	utf7) echo 8192 ;;          # FOLDER_PATH_MAX is 4096
	config) echo 16384 ;;
	state) echo 70000 ;;        # STATE_LINE_MAX 32 KiB, reader buffer 64 KiB
	pop3_session) echo 140000 ;; # CONN_LINE_MAX 64 KiB, body scratch 128 KiB
	imap_session) echo 140000 ;; # CONN_LINE_MAX 64 KiB, literals streamed past it
	oauth2_json) echo 70000 ;;  # OAUTH2_JSON_MAX_BYTES is 64 KiB
	*) echo 4096 ;;
	esac
}

# Check once that $FUZZ_CC can make a libFuzzer binary at all.
check_compiler() {
	probe_dir=$(mktemp -d) || die "mktemp failed"
	cat >"$probe_dir/probe.c" <<-'EOF'
	#include <stddef.h>
	#include <stdint.h>
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
	{
		(void)data;
		(void)size;
		return 0;
	}
	EOF
	if ! $FUZZ_CC -fsanitize=fuzzer "$probe_dir/probe.c" \
		-o "$probe_dir/probe" >/dev/null 2>&1; then
		rm -rf "$probe_dir"
		die "make fuzz needs clang with libFuzzer, and '$FUZZ_CC' cannot link -fsanitize=fuzzer; configure a build directory with CC=clang (e.g. CC=clang ./configure --enable-sanitizers) and run make fuzz there"
	fi
	rm -rf "$probe_dir"
}

# Is OBJ older than anything it was built from (its .d file lists it all)?
out_of_date() {
	obj=$1
	[ -f "$obj" ] && [ -f "$obj.d" ] || return 0
	for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$obj.d"); do
		[ "$dep" -nt "$obj" ] && return 0
	done
	return 1
}

# compile SRC OBJ, unless OBJ is up to date.
compile() {
	src=$1
	obj=$2
	out_of_date "$obj" || return 0
	echo "  CC (fuzz) ${src#"$FUZZ_SRCDIR"/}"
	# shellcheck disable=SC2086
	$FUZZ_CC $FUZZ_CPPFLAGS $CFLAGS_ALL -MMD -MF "$obj.d" -c "$src" \
		-o "$obj" || die "cannot compile $src"
}

build() {
	check_compiler
	sanitizers=${FUZZ_SANITIZERS:-address,undefined}
	CFLAGS_ALL="$FUZZ_CFLAGS -g -fsanitize=fuzzer-no-link,$sanitizers -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
	obj_dir=$FUZZ_OUT/obj
	mkdir -p "$obj_dir" || die "cannot make $obj_dir"
	# Other flags: start over.
	if [ "$(cat "$obj_dir/flags" 2>/dev/null)" != "$FUZZ_CC $CFLAGS_ALL" ]; then
		rm -f "$obj_dir"/*.o "$obj_dir"/*.o.d
		printf '%s\n' "$FUZZ_CC $CFLAGS_ALL" >"$obj_dir/flags"
	fi
	lib_objs=
	for source in $FUZZ_LIB_SOURCES; do
		case $source in
		*.c) ;;
		*) continue ;;
		esac
		obj=$obj_dir/lib_$(basename "$source" .c).o
		compile "$FUZZ_SRCDIR/$source" "$obj"
		lib_objs="$lib_objs $obj"
	done
	compile "$FUZZ_SRCDIR/tests/fuzz/fuzz_util.c" "$obj_dir/fuzz_util.o"
	for target in $FUZZ_TARGETS; do
		compile "$FUZZ_SRCDIR/tests/fuzz/fuzz_$target.c" \
			"$obj_dir/fuzz_$target.o"
		binary=$FUZZ_OUT/fuzz_$target
		objs="$obj_dir/fuzz_$target.o $obj_dir/fuzz_util.o $lib_objs"
		stale=
		for obj in $objs; do
			[ "$obj" -nt "$binary" ] && stale=yes
		done
		[ -x "$binary" ] && [ -z "$stale" ] && continue
		echo "  CCLD (fuzz) fuzz_$target"
		# shellcheck disable=SC2086
		$FUZZ_CC $CFLAGS_ALL -fsanitize=fuzzer -pthread -o "$binary" \
			$objs $FUZZ_LIBS || die "cannot link fuzz_$target"
	done
}

scratch_dir() {
	if [ -n "${FUZZ_TMPDIR:-}" ]; then
		echo "$FUZZ_TMPDIR"
	elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
		echo /dev/shm
	else
		echo "${TMPDIR:-/tmp}"
	fi
}

# run_one TARGET: 0 when it ran its time without finding anything.
run_one() {
	target=$1
	work=$FUZZ_OUT/work/$target
	seeds=$FUZZ_SRCDIR/tests/fuzz/corpus/$target
	crashes=$FUZZ_SRCDIR/tests/fuzz/crashes/$target
	mkdir -p "$work/corpus" "$work/artifacts" || die "cannot make $work"
	# The seeds join the work corpus; the source tree is only read.
	cp "$seeds"/* "$work/corpus/" 2>/dev/null
	dirs=$work/corpus
	[ -d "$crashes" ] && dirs="$dirs $crashes"
	dict=
	[ -f "$FUZZ_SRCDIR/tests/fuzz/$target.dict" ] &&
		dict=-dict=$FUZZ_SRCDIR/tests/fuzz/$target.dict
	echo "fuzz: $target for ${FUZZ_SECONDS}s (log: $work/log)"
	# shellcheck disable=SC2086
	TMPDIR=$(scratch_dir) "$FUZZ_OUT/fuzz_$target" \
		-max_total_time="$FUZZ_SECONDS" -max_len="$(max_len_of "$target")" \
		-timeout=30 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" $dict ${FUZZ_ARGS:-} \
		$dirs >"$work/log" 2>&1
	status=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
	if [ "$status" -ne 0 ]; then
		echo "fuzz: $target FAILED after ${execs:-?} executions (exit $status); the end of $work/log:"
		tail -n 40 "$work/log"
		echo "fuzz: the input is in $work/artifacts/; see tests/fuzz/README to add it to tests/fuzz/crashes/$target/"
		return 1
	fi
	echo "fuzz: $target: ${execs:-?} executions, nothing found"
	return 0
}

run() {
	failed=
	for target in $FUZZ_TARGETS; do
		[ -x "$FUZZ_OUT/fuzz_$target" ] || die "fuzz_$target is not built"
		run_one "$target" || failed="$failed $target"
	done
	if [ -n "$failed" ]; then
		echo "fuzz: found something in:$failed"
		exit 1
	fi
}

case ${1-} in
build) build ;;
run) run ;;
*) die "usage: fuzz.sh build|run (see tests/fuzz/README)" ;;
esac
