#!/bin/bash
# run.sh - the hostile-server cases (tests/fake/cases/*.case) as TAP.
#
# Each case file is played by fakerun.py: fakeserver.py (on 127.0.0.1,
# a port the kernel picks) plays the hostile server, yubin fetches from
# it, then from a healthy server with the same mailbox, then once more;
# every check of the case becomes one TAP line here (see README for the
# list).  Cases run a few at a time (FAKE_JOBS, default 4); their results
# are printed in file order.
#
#   FAKE_CASES="pop3-stall imap-bye"   only these cases (names or globs)
#   FAKE_JOBS=N                        cases run at the same time
#   FAKE_KEEP=1 (or HARNESS_KEEP=1)    keep the work directory (each run's
#                                      stdout, stderr, server report)

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${PYTHON3:=python3}"
. "$top_srcdir/tests/lib/tap.sh"

FAKE_DIR=$top_srcdir/tests/fake
FAKE_JOBS=${FAKE_JOBS:-4}

[ -n "${YUBIN-}" ] || tap_bail "YUBIN is not set (run through make check)"
[ -x "$YUBIN" ] || tap_bail "YUBIN=$YUBIN is not an executable: build yubin first"
command -v "$PYTHON3" >/dev/null || tap_bail "python3 is missing"
command -v openssl >/dev/null || tap_bail "the openssl command is missing"
case $FAKE_JOBS in
'' | *[!0-9]* | 0) tap_bail "FAKE_JOBS must be a positive number" ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/yubin-fake.XXXXXX") || tap_bail "mktemp failed"
PIDS=()

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	if [ -n "${FAKE_KEEP-}${HARNESS_KEEP-}" ]; then
		printf '# kept %s\n' "$WORK"
	else
		rm -rf -- "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# A CA; server.pem for 127.0.0.1 and wrong-host.pem for another name,
# both signed by it; self-signed.pem for 127.0.0.1, signed by nobody.
make_certs() {
	local tls=$WORK/tls
	mkdir -p "$tls" || return 1
	(
		cd "$tls" &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout ca.key -out ca.pem -days 2 \
			-subj "/CN=yubin fake-server CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" &&
		make_server_cert server "DNS:localhost, IP:127.0.0.1" &&
		make_server_cert wrong-host "DNS:other.example" &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout self-signed.key -out self-signed.pem -days 2 \
			-subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1"
	) >"$tls/openssl.log" 2>&1
}

# make_server_cert NAME SAN: NAME.pem and NAME.key, signed by the CA.
make_server_cert() {
	printf '%s\n' 'basicConstraints = critical, CA:FALSE' \
		'keyUsage = critical, digitalSignature, keyEncipherment' \
		'extendedKeyUsage = serverAuth' "subjectAltName = $2" >"$1.ext" &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" &&
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key \
		-CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext"
}

# The case files to run, in name order.
pick_cases() {
	local all=("$FAKE_DIR"/cases/*.case) f name pattern
	if [ -z "${FAKE_CASES-}" ]; then
		CASES=("${all[@]}")
		return
	fi
	CASES=()
	for f in "${all[@]}"; do
		name=${f##*/}
		name=${name%.case}
		for pattern in $FAKE_CASES; do
			# shellcheck disable=SC2053 # a glob on purpose
			if [[ $name == $pattern ]]; then
				CASES+=("$f")
				break
			fi
		done
	done
}

# Replay case I's result lines as TAP; missing ones (the runner died)
# fail, so the plan always adds up.
report_case() {
	local i=$1 want=${COUNTS[$1]} got=0 status desc why
	while IFS=$'\t' read -r status desc why; do
		got=$((got + 1))
		if [ "$status" = ok ]; then
			tap_ok "$desc"
		else
			tap_not_ok "$desc" "$(printf '%b' "$why")"
		fi
	done <"$WORK/results.$i"
	if [ "$got" -lt "$want" ] || [ -s "$WORK/runner.$i.log" ]; then
		tap_diag "fakerun.py for ${CASES[$i]##*/}:" "$(tail -n 20 "$WORK/runner.$i.log")"
	fi
	while [ "$got" -lt "$want" ]; do
		got=$((got + 1))
		tap_not_ok "${CASES[$i]##*/}: check $got of $want was never made"
	done
}

launch_case() {
	local i=$1
	"$PYTHON3" "$FAKE_DIR/fakerun.py" run "${CASES[$i]}" --workdir "$WORK/cases" \
		--yubin "$YUBIN" --tls-dir "$WORK/tls" \
		>"$WORK/results.$i" 2>"$WORK/runner.$i.log" </dev/null &
	PIDS[i]=$!
}

make_certs || tap_bail "could not make the test certificates: $(tail -n 5 "$WORK/tls/openssl.log")"
pick_cases
[ "${#CASES[@]}" -gt 0 ] || tap_bail "no case matches FAKE_CASES=$FAKE_CASES"

# How many checks each case makes: the plan.
COUNTS=()
total=0
counted=$("$PYTHON3" "$FAKE_DIR/fakerun.py" count "${CASES[@]}") ||
	tap_bail "a case file cannot be read: $(printf '%s\n' "$counted" | awk '$2 == 0' | head -n 3)"
while read -r _ n; do
	COUNTS+=("$n")
	total=$((total + n))
done <<<"$counted"
tap_plan "$total"

mkdir -p "$WORK/cases"
next=0
for ((i = 0; i < ${#CASES[@]}; i++)); do
	while [ "$next" -lt "${#CASES[@]}" ] && [ "$next" -lt $((i + FAKE_JOBS)) ]; do
		launch_case "$next"
		next=$((next + 1))
	done
	wait "${PIDS[$i]}" 2>/dev/null
	report_case "$i"
done
PIDS=()
tap_finish
