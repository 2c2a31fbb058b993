#!/bin/bash
# The command line: --help, --version, usage errors (64), config errors
# with file:line:column (78), a world-readable account file with a
# password (78), an unknown account (64), a dry run that counts and
# creates nothing (no state directory, no lock file), --json, -q, an
# account named twice (fetched once), a summary that cannot be written
# (74), a lock held by another process (75), and two runs at once on one
# state: one fetches, the other exits 75.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 49
harness_start

work=$(harness_dir)/client
harness_add_messages alice 7 --profile small
server_expected alice "$work/expected"
config=$work/config.yaml
maildir=$work/Maildir
state=$work/state
harness_write_config "$config" main pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "$maildir"

yubin_run help -- --help
tap_status_is 0 "--help exits 0"
tap_check "--help prints a usage line on stdout" grep -qi usage "$RUN_OUT"

yubin_run version -- --version
tap_status_is 0 "--version exits 0"
tap_check "--version prints a version number" grep -qE '[0-9]+\.[0-9]+' "$RUN_OUT"

yubin_run bad-option -- --no-such-option -c "$config"
tap_status_is 64 "an unknown option exits 64"
tap_check "an unknown option is named on stderr" grep -q -- --no-such-option "$RUN_ERR"

yubin_run no-file -- -c "$work/does-not-exist.yaml"
if [ "$RUN_STATUS" -ne 0 ] && [ -s "$RUN_ERR" ]; then
	tap_ok "a missing account file fails with a message (exit $RUN_STATUS)"
else
	tap_not_ok "a missing account file fails with a message" "$(run_summary)"
fi

# An unknown key on line 5, column 5.
cat >"$work/bad.yaml" <<YAML
accounts:
  - name: bad
    protocol: pop3
    host: 127.0.0.1
    no_such_key: 1
    user: alice
    password: x
    deliver:
      maildir: "$work/bad-Maildir"
YAML
chmod 600 "$work/bad.yaml"
yubin_run bad-key -- -c "$work/bad.yaml"
tap_status_is 78 "an unknown key in the account file exits 78"
tap_check "the error names file:line:column (bad.yaml:5:5)" grep -q "bad\.yaml:5:5" "$RUN_ERR"
tap_is "$(maildir_count "$work/bad-Maildir")" 0 "a config error fetches nothing"

# A YAML syntax error on line 3.
printf 'accounts:\n  - name: x\n    protocol: [pop3\n' >"$work/syntax.yaml"
chmod 600 "$work/syntax.yaml"
yubin_run syntax -- -c "$work/syntax.yaml"
tap_status_is 78 "a YAML syntax error exits 78"
tap_check "a YAML syntax error names file:line:column" grep -qE "syntax\.yaml:[0-9]+:[0-9]+" "$RUN_ERR"

# A password in a file others can read.
cp "$config" "$work/open.yaml"
chmod 644 "$work/open.yaml"
yubin_run open -- -c "$work/open.yaml"
tap_status_is 78 "an account file with a password readable by others exits 78"
tap_is "$(maildir_count "$maildir")" 0 "... and fetches nothing"

yubin_run unknown-account -- -c "$config" nosuchaccount
tap_status_is 64 "an unknown account name exits 64"
tap_check "the unknown account is named on stderr" grep -q nosuchaccount "$RUN_ERR"

# Dry run: counts, changes nothing.
yubin_run dry -- -c "$config" -n --json
tap_status_is 0 "-n exits 0"
tap_json_is accounts.0.new 7 "-n reports 7 new messages"
tap_json_is accounts.0.fetched 0 "-n fetches nothing"
tap_check "-n creates no Maildir" test ! -e "$maildir"
tap_check "-n creates no state directory, not even a lock file" test ! -e "$state"
yubin_run dry-text -- -c "$config" --dry-run
tap_check "--dry-run without --json says how many are new" grep -qw 7 "$RUN_OUT" "$RUN_ERR"

# An IMAP dry run on a fresh account creates no Maildir tree either.
imap_config=$work/imap.yaml
harness_write_config "$imap_config" mainimap imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/imap-Maildir" \
	state_dir="$work/imap-state" folders='["INBOX", "*"]'
yubin_run dry-imap -- -c "$imap_config" -n --json
tap_status_is 0 "IMAP -n exits 0"
tap_json_is accounts.0.new 7 "IMAP -n reports 7 new messages"
tap_check "IMAP -n creates no Maildir" test ! -e "$work/imap-Maildir"
tap_check "IMAP -n creates no state directory" test ! -e "$work/imap-state"

# -q on a real fetch prints nothing; --json then says what happened.
yubin_run quiet -- -c "$config" -q
if [ "$RUN_STATUS" -eq 0 ] && [ ! -s "$RUN_OUT" ] && [ ! -s "$RUN_ERR" ]; then
	tap_ok "-q: a successful fetch prints nothing"
else
	tap_not_ok "-q: a successful fetch prints nothing" "$(run_summary)"
fi
tap_delivered_exactly "$work/expected" "$maildir" "the fetch after the dry run delivers all 7"

# The account named on the command line is the one fetched.
yubin_run named -- -c "$config" --json main
tap_json_is accounts.0.name main "--json names the account"

# With a state directory and its lock file there, a dry run still
# writes nothing in it.
before=$(ls -lA --time-style=+%s.%N "$state/main")
yubin_run dry-again -- -c "$config" -n --json
tap_status_is 0 "-n on a fetched account exits 0"
tap_json_is accounts.0.new 0 "-n on a fetched account reports 0 new"
tap_is "$(ls -lA --time-style=+%s.%N "$state/main")" "$before" "-n changes nothing in the state directory"

# A name given twice is fetched once, not twice racing for its lock.
yubin_run twice -- -c "$config" -j 2 --json main main
tap_status_is 0 "-j 2 main main exits 0"
tap_is "$(json_get accounts.1.name)" "<missing accounts.1.name>" "-j 2 main main lists the account once"
yubin_run twice-serial -- -c "$config" --json main main
tap_is "$(json_get accounts.1.name)" "<missing accounts.1.name>" "main main (no -j) lists the account once"

# A summary that cannot be written is an error naming standard output.
timeout -k 5 60 "$YUBIN" -c "$config" --json main >/dev/full 2>"$work/full.err" </dev/null
tap_is "$?" 74 "--json to a full disk exits 74"
tap_check "... saying standard output could not be written" grep -q "standard output" "$work/full.err"
timeout -k 5 60 "$YUBIN" -c "$config" --json main >&- 2>"$work/closed.err" </dev/null
tap_is "$?" 74 "--json to a closed stdout exits 74"
tap_check "... saying standard output could not be written" grep -q "standard output" "$work/closed.err"
timeout -k 5 60 "$YUBIN" --version >/dev/full 2>"$work/version.err" </dev/null
tap_is "$?" 74 "--version to a full disk exits 74"

# A lock held by another process (POSIX lock, as yubin takes it).
mkdir -p "$state/main"
"$PYTHON3" - "$state/main/lock" "$work/locked" <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.lockf(fd, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(60)
PY
holder=$!
harness_at_exit "kill $holder 2>/dev/null"
for ((i = 0; i < 100; i++)); do
	[ -e "$work/locked" ] && break
	sleep 0.1
done
[ -e "$work/locked" ] || tap_bail "the lock holder did not start"
yubin_run locked -- -c "$config"
tap_status_is 75 "a lock held by another run exits 75"
tap_check "the message mentions the lock" grep -qi lock "$RUN_ERR"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# Two yubin runs started at once on one account and one state directory
# (as two hosts sharing it would): the one that takes the lock fetches,
# kept inside it by its password_cmd until the other has ended; the
# other exits 75 saying the lock is held; no message arrives twice.
race=$work/race
mkdir -p "$race"
harness_add_messages bob 5 --profile small
server_expected bob "$race/expected"
harness_write_config "$race/config.yaml" race imap implicit "$(harness_port imaps)" \
	bob "" "$race/Maildir" state_dir="$race/state" \
	"password_cmd=touch $race/past-lock.\$\$; i=0; while [ ! -e $race/release ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done; echo $(harness_password bob)"
race_pids=()
for run in a b; do
	{
		timeout -k 5 120 "$YUBIN" -c "$race/config.yaml" >"$race/$run.out" \
			2>"$race/$run.err" </dev/null
		echo $? >"$race/$run.status.tmp"
		mv "$race/$run.status.tmp" "$race/$run.status"
	} &
	race_pids+=($!)
done
first=
for ((i = 0; i < 300; i++)); do
	for run in a b; do
		[ -e "$race/$run.status" ] && first=$run
	done
	[ -n "$first" ] && break
	sleep 0.1
done
[ -n "$first" ] || tap_bail "neither of two runs on one state ended within 30 s"
second=b
[ "$first" = b ] && second=a
tap_is "$(cat "$race/$first.status")" 75 "of two runs at once on one state, the one without the lock exits 75"
tap_check "... saying the account's lock is held" grep -q "is being fetched by another yubin run (lock .*/race/lock held)" "$race/$first.err"
past=("$race"/past-lock.*)
tap_is "${#past[@]}" 1 "... and only one run went past the lock"
touch "$race/release"
wait "${race_pids[@]}"
tap_is "$(cat "$race/$second.status" 2>/dev/null)" 0 "the run holding the lock fetches and exits 0"
tap_delivered_exactly "$race/expected" "$race/Maildir" "... every message once"
yubin_run race-after -- -c "$race/config.yaml" --json
tap_status_is 0 "a run after them exits 0"
tap_json_is accounts.0.fetched 0 "... and finds nothing left to fetch"

tap_finish
