#!/bin/bash
# yubin --watch: an IMAP account watched with IDLE on two folders and a
# POP3 account polled, in one process.  Mail appended by another client
# arrives byte for byte in the right Maildir within seconds (the latency
# is printed); after a server restart the watch reconnects by itself,
# says so once, and fetches what came meanwhile; several events deliver
# each message exactly once; SIGTERM ends the watch at once with exit 0
# and a clean state (a one-shot run after it finds nothing new).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"
. "$top_srcdir/tests/lib/watch.sh"

need_yubin
tap_plan 25
# IDLE on each folder: Dovecot is kept from offering NOTIFY, which
# watch_notify.sh tests.
HARNESS_IMAP_NOTIFY=off
harness_start

work=$(harness_dir)/client
root=$work/Mail
pop_root=$work/PopMail
config=$work/config.yaml
alice_imaptool() { imaptool alice "$@"; }

alice_imaptool append --folder INBOX --count 2 >/dev/null
alice_imaptool append --folder Work --count 1 --batch 2 >/dev/null
harness_add_messages bob 1 --profile small

harness_write_config "$work/imap.yaml" mail imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$root" folders='["INBOX", "Work"]'
harness_write_config "$work/pop3.yaml" pop pop3 implicit "$(harness_port pop3s)" \
	bob "$(harness_password bob)" "$pop_root"
{ cat "$work/imap.yaml"; tail -n +2 "$work/pop3.yaml"; } >"$config"
chmod 600 "$config"

YUBIN_TEST_POLL_INTERVAL=1 watch_start "$work/watch.out" "$work/watch.err" \
	--watch -v --json -c "$config"
now_ms() { watch_now_ms; }
wait_count() { watch_wait_count "$@"; }

tap_check "the first fetch delivers INBOX" wait_count "$root" 2
tap_check "and the second folder" wait_count "$root/Work" 1
tap_check "and the POP3 account" wait_count "$pop_root" 1

# Give the notifiers a moment to be in IDLE, then one message at a time.
sleep 0.5
alice_imaptool append --folder INBOX --count 1 --batch 3 >/dev/null
tap_check "a message appended to INBOX is delivered within 10 s" wait_count "$root" 3
tap_diag "latency INBOX (append returned -> in new/): ${LATENCY_MS} ms"
inbox_latency=$LATENCY_MS
alice_imaptool append --folder Work --count 1 --batch 4 >/dev/null
tap_check "a message appended to Work is delivered into Work within 10 s" wait_count "$root/Work" 2
tap_diag "latency Work: ${LATENCY_MS} ms"
tap_is "$(maildir_count "$root")" 3 "the Work message went to Work, not to INBOX"
harness_add_messages bob 1 --profile small --batch 5
tap_check "a new POP3 message is fetched at the (test-shortened) poll interval" \
	wait_count "$pop_root" 2

harness_restart_same_ports
alice_imaptool append --folder INBOX --count 1 --batch 6 >/dev/null
tap_check "after a server restart, new mail is delivered (reconnect)" wait_count "$root" 4
tap_diag "latency after the restart: ${LATENCY_MS} ms"
# The note that it is back comes once the fetch is recorded, a moment
# after its message is in new/.
back_once() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -c 'account mail: 127.0.0.1 answers again' "$work/watch.err")" = 1 ] &&
			return 0
		sleep 0.1
	done
	return 1
}
tap_is "$(grep -c 'account mail: trying again' "$work/watch.err")" 1 \
	"the lost connection is reported once"
tap_check "and that it is back, once" \
	back_once

# Several events in a row, in both folders.
sleep 0.5
for b in 7 8 9; do
	alice_imaptool append --folder INBOX --count 1 --batch "$b" >/dev/null
done
alice_imaptool append --folder Work --count 2 --batch 10 >/dev/null
tap_check "three more in INBOX arrive" wait_count "$root" 7
tap_check "two more in Work arrive" wait_count "$root/Work" 4
sleep 1
alice_imaptool expected --folder INBOX >"$work/inbox.expected"
alice_imaptool expected --folder Work >"$work/work.expected"
tap_delivered_exactly "$work/inbox.expected" "$root" "INBOX: every message once, byte for byte"
tap_delivered_exactly "$work/work.expected" "$root/Work" "Work: every message once, byte for byte"

# The two notifiers' sessions must end with LOGOUT, not a hang-up
# (Dovecot then logs "Disconnected" instead of "Logged out").
logouts() { grep -c 'imap(alice).*Logged out' "$(harness_log)"; }
logouts_before=$(logouts)
start=$(now_ms)
kill -TERM "$watch_pid"
wait "$watch_pid"
status=$?
stop_ms=$(($(now_ms) - start))
tap_is "$status" 0 "SIGTERM ends the watch with exit 0"
tap_check "within 2 s (took ${stop_ms} ms)" test "$stop_ms" -lt 2000
notifiers_logged_out() {
	local i
	for ((i = 0; i < 30; i++)); do
		[ "$(logouts)" -ge $((logouts_before + 2)) ] && return 0
		sleep 0.1
	done
	return 1
}
tap_check "both notifiers logged out" notifiers_logged_out

tap_check "--json: one object a line, each with its trigger" \
	"$PYTHON3" -c 'import json, sys
lines = open(sys.argv[1]).read().splitlines()
objs = [json.loads(l) for l in lines]
assert len(objs) >= 5, len(objs)
# A fetch while the server restarts may fail: then it says why.
for o in objs:
    assert (o["status"] == "ok") == ("error" not in o), o
    assert o["status"] == "ok" or o["exit_code"] in (69, 75, 76), o
assert {"start", "new mail", "reconnect", "poll"} <= {o["trigger"] for o in objs}, objs
' "$work/watch.out"
tap_check "-v: a line per fetch that delivered" \
	grep -q 'account mail: 1 new in INBOX, delivered in' "$work/watch.err"

yubin_run after -- -c "$config" --json
tap_status_is 0 "a one-shot run after the watch succeeds"
tap_json_is accounts.0.fetched 0 "and finds nothing new for IMAP (the state is clean)"
tap_json_is accounts.1.fetched 0 "nor for POP3"
yubin_run dry -- --watch -n -c "$config"
tap_status_is 64 "--watch with -n is a usage error"

# A login only the user can fix stops watching that account; with no
# account left, the watch ends with its code.
harness_write_config "$work/bad.yaml" badpw imap implicit "$(harness_port imaps)" \
	alice wrong-password "$work/BadMail"
yubin_run badpw -- --watch -c "$work/bad.yaml"
tap_status_is 77 "a refused login ends a watch of that one account with 77"
tap_check "saying it no longer watches it" grep -q "no longer watching account badpw" "$RUN_ERR"

tap_diag "inbox latency: ${inbox_latency} ms (Dovecot itself waits 500 ms before it tells an IDLE client)"
tap_diag "$(grep 'delivered in' "$work/watch.err" | head -n 6)"
tap_finish
