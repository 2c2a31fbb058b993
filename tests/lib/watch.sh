# watch.sh - a yubin --watch in the background, for the watch tests.
#
# Sourced after harness.sh and checks.sh.
#
#   watch_start OUT ERR ARG...     yubin ARG... in the background, stdout to
#                                  OUT and stderr to ERR, with SIGINT,
#                                  SIGTERM and SIGHUP at their defaults (as
#                                  a service manager starts it; a shell
#                                  leaves SIGINT ignored in a background
#                                  job); watch_pid is its process, killed
#                                  at exit
#   watch_wait_count DIR N         until the Maildir DIR holds N messages
#                                  (at most 10 s, and while the watch
#                                  runs); LATENCY_MS is how long it took

watch_start() {
	local out=$1 err=$2
	shift 2
	"$PYTHON3" -c 'import os, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$YUBIN" "$@" >"$out" 2>"$err" </dev/null &
	watch_pid=$!
	harness_at_exit "kill -KILL $watch_pid 2>/dev/null"
}

watch_now_ms() { date +%s%3N; }

watch_wait_count() {
	local start i
	start=$(watch_now_ms)
	for ((i = 0; i < 1000; i++)); do
		if [ "$(maildir_count "$1")" -ge "$2" ]; then
			LATENCY_MS=$(($(watch_now_ms) - start))
			return 0
		fi
		kill -0 "$watch_pid" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}
