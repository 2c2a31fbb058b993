# checks.sh - running yubin and checking what it delivered (sourced, bash).
# Needs tap.sh and harness.sh sourced first, and YUBIN set.
#
#   need_yubin                    bail out unless $YUBIN is an executable
#   yubin_run TAG [VAR=VALUE...] -- ARGS...
#                                 run yubin (bounded by timeout), stdout in
#                                 $RUN_OUT, stderr in $RUN_ERR, exit status
#                                 in $RUN_STATUS
#   yubin_run_faketime TAG OFFSET [VAR=VALUE...] -- ARGS...
#                                 the same under `faketime -f OFFSET`
#   YUBIN_WRAPPER                 if set (make check-valgrind sets it to a
#                                 valgrind command): both run yubin under
#                                 it, with valgrind's report in
#                                 valgrind/TAG.PID; a run whose report is
#                                 not empty is one more failed test (which
#                                 also breaks the plan)
#   yubin_wrapped                 true when YUBIN_WRAPPER is set (a test
#                                 may then do less: each run is slower)
#   run_summary                   "exit N; stderr: ..." for diagnostics
#   tap_status_is WANT DESC       ok when the last run exited WANT
#   json_get PATH                 a field of the last run's --json output,
#                                 e.g. json_get accounts.0.fetched
#   tap_json_is PATH WANT DESC    ok when that field equals WANT
#   server_expected USER FILE     the oracle: what yubin must deliver for
#                                 every message now on the server
#   server_stat USER              how many messages the server holds
#   imaptool USER COMMAND ARGS... tests/lib/imaptool.py as USER against the
#                                 harness's IMAP port (bails out if it fails)
#   tap_delivered_once EXPECTED MAILDIR DESC
#   tap_delivered_exactly EXPECTED MAILDIR DESC
#   tap_tmp_empty MAILDIR DESC
#   maildir_count MAILDIR         messages in new/ and cur/ (0 if absent)

: "${YUBIN_TIMEOUT:=120}"
# Under valgrind a run is many times slower.
if [ -n "${YUBIN_WRAPPER-}" ] && [ "$YUBIN_TIMEOUT" -lt 600 ]; then
	YUBIN_TIMEOUT=600
fi
CHECKS_GENMAIL="$HARNESS_LIB_DIR/genmail.py"
RUN_STATUS=
RUN_OUT=
RUN_ERR=

need_yubin() {
	[ -n "${YUBIN-}" ] || tap_bail "YUBIN is not set (run through make check)"
	[ -x "$YUBIN" ] || tap_bail "YUBIN=$YUBIN is not an executable: build yubin first"
	command -v timeout >/dev/null || tap_bail "the timeout command is missing"
	if yubin_wrapped; then
		command -v "${YUBIN_WRAPPER%% *}" >/dev/null ||
			tap_bail "YUBIN_WRAPPER=$YUBIN_WRAPPER: no such command"
	fi
}

yubin_wrapped() {
	[ -n "${YUBIN_WRAPPER-}" ]
}

# The wrapper's words (none without one) and what it needs in the
# environment: valgrind's report for run TAG goes to valgrind/TAG.PID
# (VALGRIND_OPTS; other wrappers ignore it).  A run that kills itself at a
# durability step (YUBIN_TEST_KILL_AT among the VAR=VALUE) is not wrapped:
# it dies before valgrind's checks at exit, what it runs until then the
# other runs run too, and the crash tests have many of them.  Nor is a
# run given YUBIN_WRAPPER= (empty) among them: one that fetches thousands
# of messages, say.  OpenSSL's default trust
# store is one unrelated certificate instead of the system's bundle,
# whose ~140 certificates take seconds to parse under valgrind on each
# run; the test CA is trusted through tls_ca_file as always, and nothing
# the tests use is trusted by default either way.
wrapper_words() {
	local tag=$1 var
	shift
	WRAPPER=()
	WRAPPER_ENV=()
	yubin_wrapped || return 0
	for var in "$@"; do
		case $var in YUBIN_TEST_KILL_AT=* | YUBIN_WRAPPER=) return 0 ;; esac
	done
	local dir=$HARNESS_DIR/valgrind
	if [ ! -s "$dir/trust.pem" ]; then
		mkdir -p "$dir" &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$dir/trust.key" -out "$dir/trust.pem" -days 2 \
			-subj "/CN=trusted by nothing in the tests" >/dev/null 2>&1 ||
			tap_bail "cannot make $dir/trust.pem"
	fi
	# shellcheck disable=SC2206 # a command line, split into words on purpose
	WRAPPER=($YUBIN_WRAPPER)
	rm -f -- "$dir/$tag".*
	WRAPPER_ENV=("VALGRIND_OPTS=${VALGRIND_OPTS:+$VALGRIND_OPTS }--log-file=$dir/$tag.%p"
		"SSL_CERT_FILE=$dir/trust.pem")
}

# After a wrapped run: any error in valgrind's report is a failed test,
# with the report.  Only its "==PID==" lines are errors ("--PID--" lines
# are valgrind's notes, such as a syscall it cannot follow).  A run killed
# on purpose (SIGKILL: exit 137; or stopped by timeout: 124) frees nothing,
# so the leaks valgrind lists when it dies are not errors; every other
# error still is.
wrapper_check() {
	local report killed=0
	yubin_wrapped || return 0
	case $RUN_STATUS in 124 | 137) killed=1 ;; esac
	report=$(cat -- "$HARNESS_DIR/valgrind/$1".* 2>/dev/null | awk -v killed="$killed" '
		/^==[0-9]+== *$/ { skip = 0; next }
		!/^==[0-9]+==/ { next }
		skip { next }
		killed && / lost in loss record / { skip = 1; next }
		killed && / Process terminating with default action of signal / { skip = 1; next }
		{ print }')
	if [ -n "$report" ]; then
		tap_not_ok "yubin ($1) under $YUBIN_WRAPPER: no memory error or leak (exit $RUN_STATUS)" \
			"$(printf '%s\n' "$report" | head -n 60)"
	fi
}

yubin_run() {
	local tag=$1
	shift
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		envs+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	RUN_OUT=$HARNESS_DIR/client/$tag.out
	RUN_ERR=$HARNESS_DIR/client/$tag.err
	wrapper_words "$tag" ${envs[@]+"${envs[@]}"}
	# In a subshell whose stderr is closed off, so that the shell's own
	# "Killed" notice for a run that SIGKILLed itself stays out of the log.
	RUN_STATUS=$({
		timeout -k 5 "$YUBIN_TIMEOUT" env ${WRAPPER_ENV[@]+"${WRAPPER_ENV[@]}"} \
			${envs[@]+"${envs[@]}"} ${WRAPPER[@]+"${WRAPPER[@]}"} "$YUBIN" "$@" \
			>"$RUN_OUT" 2>"$RUN_ERR" </dev/null
		echo $?
	} 2>/dev/null)
	if [ "$RUN_STATUS" -eq 124 ]; then
		tap_diag "yubin ($tag) was still running after ${YUBIN_TIMEOUT}s and was stopped"
	fi
	wrapper_check "$tag"
}

# faketime preloads a library; an ASan build refuses a preload that comes
# before its runtime unless told not to check.
yubin_run_faketime() {
	local tag=$1 offset=$2
	shift 2
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		envs+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	RUN_OUT=$HARNESS_DIR/client/$tag.out
	RUN_ERR=$HARNESS_DIR/client/$tag.err
	wrapper_words "$tag" ${envs[@]+"${envs[@]}"}
	# The wrapper inside faketime: valgrind runs yubin with the preload.
	RUN_STATUS=$({
		timeout -k 5 "$YUBIN_TIMEOUT" env \
			ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
			${WRAPPER_ENV[@]+"${WRAPPER_ENV[@]}"} ${envs[@]+"${envs[@]}"} \
			faketime -f "$offset" ${WRAPPER[@]+"${WRAPPER[@]}"} "$YUBIN" "$@" \
			>"$RUN_OUT" 2>"$RUN_ERR" </dev/null
		echo $?
	} 2>/dev/null)
	wrapper_check "$tag"
}

run_summary() {
	printf 'exit %s; stderr:\n%s' "$RUN_STATUS" "$(tail -n 15 "$RUN_ERR" 2>/dev/null)"
}

tap_status_is() {
	if [ "$RUN_STATUS" = "$1" ]; then
		tap_ok "$2"
	else
		tap_not_ok "$2" "expected exit $1; $(run_summary)"
	fi
}

json_get() {
	"$PYTHON3" - "$RUN_OUT" "$1" <<-'EOF'
	import json, sys
	try:
	    with open(sys.argv[1]) as f:
	        value = json.load(f)
	except (OSError, ValueError) as e:
	    print("<no JSON: %s>" % e)
	    sys.exit(0)
	for part in sys.argv[2].split("."):
	    try:
	        value = value[int(part)] if isinstance(value, list) else value[part]
	    except (KeyError, IndexError, ValueError, TypeError):
	        print("<missing %s>" % sys.argv[2])
	        sys.exit(0)
	print(json.dumps(value) if not isinstance(value, str) else value)
	EOF
}

tap_json_is() {
	local got
	got=$(json_get "$1")
	if [ "$got" = "$2" ]; then
		tap_ok "$3"
	else
		tap_not_ok "$3" "--json $1 is '$got', expected '$2'; $(run_summary)"
	fi
}

imaptool() {
	local user=$1 command=$2
	shift 2
	"$PYTHON3" "$HARNESS_LIB_DIR/imaptool.py" "$command" --port "$(harness_port imap)" \
		--user "$user" --password "$(harness_password "$user")" "$@" ||
		tap_bail "imaptool.py $command failed"
}

server_expected() {
	"$PYTHON3" "$CHECKS_GENMAIL" expected --port "$(harness_port pop3)" \
		--user "$1" --password "$(harness_password "$1")" >"$2" ||
		tap_bail "the POP3 oracle could not fetch $1's mail"
}

server_stat() {
	"$PYTHON3" "$CHECKS_GENMAIL" stat --port "$(harness_port pop3)" \
		--user "$1" --password "$(harness_password "$1")" ||
		tap_bail "STAT failed for $1"
}

maildir_count() {
	local n=0 sub f
	for sub in new cur; do
		[ -d "$1/$sub" ] || continue
		for f in "$1/$sub"/*; do
			[ -e "$f" ] && n=$((n + 1))
		done
	done
	printf '%s\n' "$n"
}

tap_delivered_once() {
	local report
	if [ ! -d "$2" ]; then
		tap_not_ok "$3" "no Maildir at $2"
		return
	fi
	if report=$("$PYTHON3" "$CHECKS_GENMAIL" compare --ids-only "$1" "$2"); then
		tap_ok "$3"
	else
		tap_not_ok "$3" "$report"
	fi
}

tap_delivered_exactly() {
	local report
	if [ ! -d "$2" ]; then
		tap_not_ok "$3" "no Maildir at $2"
		return
	fi
	if report=$("$PYTHON3" "$CHECKS_GENMAIL" compare "$1" "$2"); then
		tap_ok "$3"
	else
		tap_not_ok "$3" "$report"
	fi
}

tap_tmp_empty() {
	local left
	if [ ! -d "$1/tmp" ]; then
		tap_not_ok "$2" "no $1/tmp"
		return
	fi
	left=$(ls -A "$1/tmp")
	if [ -z "$left" ]; then
		tap_ok "$2"
	else
		tap_not_ok "$2" "left in tmp/: $(printf '%s' "$left" | head -n 5 | tr '\n' ' ')"
	fi
}

# proxy_start TAG: a watching proxy (pop3proxy.py) in front of the plain
# POP3 port, for one connection; sets PROXY_PORT and PROXY_REPORT.
# proxy_finish: wait for it (bounded) after the client is done.
proxy_start() {
	local portfile=$HARNESS_DIR/client/$1.proxyport i
	PROXY_REPORT=$HARNESS_DIR/client/$1.proxy.json
	"$PYTHON3" "$HARNESS_LIB_DIR/pop3proxy.py" --server-port "$(harness_port pop3)" \
		--port-file "$portfile" --report "$PROXY_REPORT" --limit 60 &
	PROXY_PID=$!
	harness_at_exit "kill $PROXY_PID 2>/dev/null"
	for ((i = 0; i < 100; i++)); do
		[ -s "$portfile" ] && break
		sleep 0.1
	done
	[ -s "$portfile" ] || tap_bail "pop3proxy.py did not start"
	PROXY_PORT=$(cat "$portfile")
}

proxy_finish() {
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$PROXY_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill "$PROXY_PID" 2>/dev/null
	wait "$PROXY_PID" 2>/dev/null
}

# proxy_get KEY: a field of the proxy's report.
proxy_get() {
	"$PYTHON3" -c 'import json, sys
try:
    print(json.load(open(sys.argv[1])).get(sys.argv[2], "<missing>"))
except (OSError, ValueError) as e:
    print("<no report: %s>" % e)' "$PROXY_REPORT" "$1"
}
