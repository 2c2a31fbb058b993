#!/bin/bash
# SIGTERM, SIGINT and SIGHUP while an MDA runs stop the run in order:
# no new message is started, the running MDA is waited for and its
# message recorded, and yubin exits 128 + the signal (143, 130, 129).
# The next run hands over only what was not handed over before (the MDA
# invocations are counted), for POP3 and for IMAP.  With -j 2 the parent
# passes SIGTERM on to its children.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 40
harness_start

work=$(harness_dir)/client
harness_add_messages alice 3 --profile small

# An MDA that takes a second: it notes its start and its end, so the
# test sees that the one running when the signal came finished.
mda=$work/slow-mda.sh
cat >"$mda" <<SH
#!/bin/sh
echo started >>"\$1/starts"
sleep 1
cat >"\$1/out/\$\$.\$(date +%s%N)" || exit 75
echo finished >>"\$1/finishes"
SH
chmod 755 "$mda"

lines() { # FILE: its number of lines, 0 when missing
	if [ -e "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

# A shell leaves SIGINT ignored in a background job, and yubin keeps
# an ignored signal ignored: start it with the default dispositions.
start_yubin() { # OUT ERR ARGS...
	local out=$1 err=$2
	shift 2
	"$PYTHON3" -c 'import os, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$YUBIN" "$@" >"$out" 2>"$err" </dev/null &
	YUBIN_PID=$!
}

# wait_for_line FILE N: until FILE has N lines (at most 30 s).
wait_for_line() {
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(lines "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# case PROTO SIGNAL CODE
signal_case() {
	local proto=$1 sig=$2 code=$3 dir=$work/$1-$2 port extra=()
	mkdir -p "$dir/out"
	if [ "$proto" = imap ]; then port=$(harness_port imaps); else port=$(harness_port pop3s); fi
	harness_write_config "$dir/config.yaml" "sig-$proto" "$proto" implicit "$port" \
		alice "$(harness_password alice)" "mda:$mda $dir" state_dir="$dir/state"
	start_yubin "$dir/run1.out" "$dir/run1.err" -c "$dir/config.yaml"
	if ! wait_for_line "$dir/starts" 1; then
		kill -KILL "$YUBIN_PID" 2>/dev/null
		tap_bail "$proto: the MDA never started: $(tail -n 5 "$dir/run1.err")"
	fi
	kill -s "$sig" "$YUBIN_PID"
	wait "$YUBIN_PID"
	local status=$?
	local started=$(lines "$dir/starts") finished=$(lines "$dir/finishes")
	tap_is "$status" "$code" "$proto, SIG$sig while the MDA runs: exit $code"
	tap_is "$started" 1 "$proto, SIG$sig: no MDA is started after the signal"
	tap_is "$finished" 1 "$proto, SIG$sig: the running MDA finished before yubin exited"
	tap_check "$proto, SIG$sig: the stop is explained on stderr" grep -q "stopped by SIG$sig" "$dir/run1.err"
	yubin_run "$proto-$sig-again" -- -c "$dir/config.yaml" --json
	tap_status_is 0 "$proto, SIG$sig: the next run succeeds"
	tap_is "$(lines "$dir/starts")" 3 "$proto, SIG$sig: the next run hands over only the 2 others (3 MDA runs in all)"
	tap_is "$(ls "$dir/out" | wc -l | tr -d ' ')" 3 "$proto, SIG$sig: 3 messages delivered in all"
}

signal_case pop3 TERM 143
signal_case pop3 INT 130
signal_case pop3 HUP 129
signal_case imap TERM 143
signal_case imap INT 130

# -j 2: SIGTERM to the parent alone reaches the child, which stops in order.
dir=$work/parallel
mkdir -p "$dir/out"
cat >"$dir/config.yaml" <<YAML
accounts:
  - name: par-pop3
    protocol: pop3
    host: 127.0.0.1
    port: $(harness_port pop3s)
    tls_ca_file: "$(harness_ca_file)"
    user: alice
    password: "$(harness_password alice)"
    state_dir: "$dir/state"
    deliver:
      mda: "$mda $dir"
YAML
chmod 600 "$dir/config.yaml"
start_yubin "$dir/run1.out" "$dir/run1.err" -c "$dir/config.yaml" -j 2 par-pop3 --json
wait_for_line "$dir/starts" 1 || tap_bail "-j 2: the MDA never started"
kill -s TERM "$YUBIN_PID"
wait "$YUBIN_PID"
status=$?
tap_is "$status" 143 "-j 2, SIGTERM to the parent: exit 143"
tap_is "$(lines "$dir/starts")" 1 "-j 2: the child starts no MDA after the signal"
tap_is "$(lines "$dir/finishes")" 1 "-j 2: the running MDA finished"
RUN_OUT=$dir/run1.out
tap_json_is exit_code 143 "-j 2: --json says exit_code 143"
yubin_run parallel-again -- -c "$dir/config.yaml"
tap_is "$(lines "$dir/starts")" 3 "-j 2: the next run hands over only the 2 others"

tap_finish
