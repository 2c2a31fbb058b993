#!/bin/sh
# lint.sh - keeps the source as the style says (run by make lint):
#   warnings    every source and unit test compiles with -Werror under
#               gcc and clang (the flags configure chose, no sanitizers)
#   funclen     no function in src/ over FUNCLEN_MAX lines
#   forbidden   none of sprintf, strcpy, strcat, strtok, atoi, atol, gets
#               in src/, and no exit() below main (only main.c may exit)
#   dupes       no run of lines written twice in src/ beyond those the
#               baseline (tests/lint/dupes.baseline) accepts
# Prints "lint: PART: ok" or "lint: PART: FAILED" for each part and
# exits 1 if any failed.  Needs: top_srcdir, LINT_CFLAGS (include paths
# and package flags), CMOCKA_CFLAGS, FUNCLEN_MAX (default 80).
set -u
srcdir=${top_srcdir:-.}
funclen_max=${FUNCLEN_MAX:-80}
status=0

part() {
	if [ "$2" -eq 0 ]; then
		echo "lint: $1: ok"
	else
		echo "lint: $1: FAILED"
		status=1
	fi
}

# compile_all CC: every file with -Werror; prints the failing ones.
compile_all() {
	failed=0
	for file in "$srcdir"/src/*.c "$srcdir"/src/*/*.c "$srcdir"/tests/unit/*.c; do
		# shellcheck disable=SC2086
		if ! "$1" -c -o /dev/null -O2 -Werror $LINT_CFLAGS \
			${CMOCKA_CFLAGS:-} "$file"; then
			echo "lint: $1 warns about $file"
			failed=1
		fi
	done
	return $failed
}

for cc in gcc clang; do
	if ! command -v "$cc" >/dev/null 2>&1; then
		echo "lint: $cc is not installed"
		part "warnings ($cc)" 1
		continue
	fi
	compile_all "$cc"
	part "warnings ($cc)" $?
done

python3 "$srcdir/tests/lint/funclen.py" --limit "$funclen_max" "$srcdir"/src/*.c \
	"$srcdir"/src/*/*.c
part "funclen (at most $funclen_max lines)" $?

forbidden=$(grep -nE '(^|[^_[:alnum:]])(v?sprintf|strcpy|strcat|strtok|atoi|atol|gets)[[:space:]]*\(' \
	"$srcdir"/src/*.c "$srcdir"/src/*/*.[ch])
below_main=$(grep -nE '(^|[^_[:alnum:]])exit[[:space:]]*\(' "$srcdir"/src/*.c \
	"$srcdir"/src/*/*.c |
	grep -v "^$srcdir/src/main.c:")
[ -n "$forbidden" ] && echo "$forbidden"
[ -n "$below_main" ] && echo "exit() below main:" && echo "$below_main"
[ -z "$forbidden$below_main" ]
part "forbidden functions" $?

(cd "$srcdir" && python3 tests/lint/dupes.py --baseline tests/lint/dupes.baseline \
	src/*.c src/*.h src/*/*.c src/*/*.h)
part "dupes" $?

exit $status
