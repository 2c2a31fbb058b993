#!/bin/bash
# yubin --watch with NOTIFY (RFC 5465): where Dovecot offers it, one
# connection waits for news of all three folders; mail appended by
# another client to each arrives byte for byte in the right Maildir
# within seconds; after a server restart the watch reconnects, sets
# NOTIFY again, and fetches what came while it was away.  Where Dovecot
# offers NOTIFY and then refuses NOTIFY SET, the watch says so once and
# waits with IDLE on each folder, one connection each.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"
. "$top_srcdir/tests/lib/watch.sh"

need_yubin
command -v ss >/dev/null || tap_bail "ss (iproute2) is missing: it counts the watch's connections"
tap_plan 25
HARNESS_IMAP_NOTIFY=1
harness_start

work=$(harness_dir)/client
root=$work/Mail
folders='["INBOX", "Work", "Archive/2024"]'
alice_imaptool() { imaptool alice "$@"; }

batch=0
append() {
	batch=$((batch + 1))
	alice_imaptool append --folder "$1" --count "${2:-1}" --batch "$batch" >/dev/null
}
append INBOX
append Work
append Archive/2024

# start_watch CONFIG NAME: yubin --watch -vv, its output in NAME.out/.err.
start_watch() { watch_start "$work/$2.out" "$work/$2.err" --watch -vv -c "$1"; }
wait_count() { watch_wait_count "$@"; }

# The watch's established connections to the IMAPS port.
connections() {
	ss -Htnp state established "( dport = :$(harness_port imaps) )" |
		grep -c "pid=$watch_pid,"
}

# wait_connections N: until the watch holds exactly N (at most 10 s),
# between fetches (a fetch adds one for a moment).
wait_connections() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(connections)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# wait_log FILE TEXT: until FILE holds TEXT (at most 10 s).
wait_log() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -qF "$2" "$1" && return 0
		sleep 0.1
	done
	return 1
}

harness_write_config "$work/config.yaml" mail imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$root" folders="$folders"
start_watch "$work/config.yaml" notify

tap_check "the first fetch delivers INBOX" wait_count "$root" 1
tap_check "and Work" wait_count "$root/Work" 1
tap_check "and Archive/2024" wait_count "$root/Archive/2024" 1
tap_check "-v says the server offers NOTIFY" \
	wait_log "$work/notify.err" "account mail: 127.0.0.1 offers NOTIFY"
tap_check "one connection waits for all three folders" wait_connections 1

# Dovecot watches its list index a moment after NOTIFY SET.
sleep 1
append Work
tap_check "a message appended to Work arrives within 10 s" wait_count "$root/Work" 2
tap_diag "latency Work with NOTIFY (append returned -> in new/): ${LATENCY_MS} ms"
append Archive/2024
tap_check "one appended to Archive/2024 arrives within 10 s" wait_count "$root/Archive/2024" 2
tap_diag "latency Archive/2024: ${LATENCY_MS} ms"
append INBOX
tap_check "one appended to INBOX arrives within 10 s" wait_count "$root" 2
tap_diag "latency INBOX: ${LATENCY_MS} ms"
tap_check "the news came as STATUS on the NOTIFY connection" \
	grep -q "account mail: new mail in 3 folders (NOTIFY)" "$work/notify.err"
tap_check "still one waiting connection after the fetches" wait_connections 1

# The server goes away; mail comes while the watch waits to reconnect.
harness_stop
HARNESS_KEEP_PORTS=1 harness_launch_retrying
append Work 2
append INBOX
tap_check "after a server restart, what came meanwhile in Work arrives" \
	wait_count "$root/Work" 4
tap_check "and in INBOX" wait_count "$root" 3
tap_check "NOTIFY again: one connection" wait_connections 1
sleep 1
append Archive/2024
tap_check "and news after the reconnect still arrives" wait_count "$root/Archive/2024" 3
tap_is "$(grep -c 'offers NOTIFY' "$work/notify.err")" 1 "the NOTIFY note was made once"

sleep 1
alice_imaptool expected --folder INBOX >"$work/inbox.expected"
alice_imaptool expected --folder Work >"$work/work.expected"
alice_imaptool expected --folder Archive/2024 >"$work/archive.expected"
tap_delivered_exactly "$work/inbox.expected" "$root" "INBOX: every message once, byte for byte"
tap_delivered_exactly "$work/work.expected" "$root/Work" "Work: every message once, byte for byte"
tap_delivered_exactly "$work/archive.expected" "$root/Archive/2024" \
	"Archive/2024: every message once, byte for byte"

kill -TERM "$watch_pid"
wait "$watch_pid"
tap_is "$?" 0 "SIGTERM ends the NOTIFY watch with exit 0"

# NOTIFY offered, NOTIFY SET refused: IDLE per folder.
HARNESS_IMAP_NOTIFY=refuse
harness_restart
refused_root=$work/Refused
harness_write_config "$work/refused.yaml" mail imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$refused_root" folders="$folders" \
	state_dir="$work/refused-state"
start_watch "$work/refused.yaml" refused
tap_check "refused: the first fetch delivers Archive/2024" \
	wait_count "$refused_root/Archive/2024" 3
tap_check "-v notes the refusal with the server's reason" \
	wait_log "$work/refused.err" "refused NOTIFY (NOTIFY not supported for these mailboxes"
tap_check "one IDLE connection per folder instead" wait_connections 3
sleep 1
append Work
tap_check "a message appended to Work arrives through its IDLE" \
	wait_count "$refused_root/Work" 5
tap_diag "latency Work with IDLE per folder: ${LATENCY_MS} ms"
harness_restart_same_ports
append INBOX
tap_check "after a restart, IDLE per folder again and mail arrives" \
	wait_count "$refused_root" 4
tap_is "$(grep -c 'refused NOTIFY (' "$work/refused.err")" 1 "the refusal was noted once, not at each reconnect"
kill -TERM "$watch_pid"
wait "$watch_pid"
tap_finish
