#!/bin/bash
# yubin --check against a real Dovecot: a good IMAP and a good POP3
# account pass every step, with nothing written; each common mistake stops
# its account at the step that failed, with the exit code a run would
# give, a hint naming the key to change, and in bounded time.
#
#   a host name that does not resolve    resolve, 69, host
#   a closed port                        connect, 69, host, port, tls
#   tls: starttls on the implicit port   greeting, 69, use tls: implicit
#   tls: implicit on the STARTTLS port   tls, 69, use tls: starttls
#   a wrong password                     login, 77, Dovecot's reason
#   a certificate no CA vouches for      tls, 69, tls_ca_file and the
#                                        tls_fingerprint value
#   a destination under a regular file   destination, 74, deliver
#   a state_dir under a regular file     state_dir, 74, state_dir
#   the lock held by another process     lock, 75
#   several accounts                     each checked; the first failure's code
#   --json                               the same steps as objects

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 54
harness_start

work=$(harness_dir)/client
mkdir -p "$work" || tap_bail "cannot make $work"
imaptool alice append --folder INBOX --count 2 >/dev/null
imaptool alice append --folder "Archive/2024" --count 1 --batch 2 >/dev/null
harness_add_messages bob 3 --profile small
alice=$(harness_password alice)
bob=$(harness_password bob)
pop3=$(harness_port pop3)
pop3s=$(harness_port pop3s)
imap=$(harness_port imap)
imaps=$(harness_port imaps)

# account NAME PROTOCOL TLS PORT USER PASSWORD [KEY=VALUE...]: an account
# file NAME.yaml delivering under $work/NAME.
account() {
	local name=$1 protocol=$2 tls=$3 port=$4 user=$5 password=$6
	shift 6
	harness_write_config "$work/$name.yaml" "$name" "$protocol" "$tls" "$port" \
		"$user" "$password" "$work/$name/Mail" state_dir="$work/$name/state" "$@"
}

# check NAME [OPTION...]: yubin --check of NAME.yaml; SECONDS_TAKEN.
check() {
	local name=$1 start end
	shift
	start=$(date +%s%N)
	yubin_run "$name" -- -c "$work/$name.yaml" --check "$@"
	end=$(date +%s%N)
	SECONDS_TAKEN=$(( (end - start) / 1000000000 ))
}

# line MARK STEP: the output line of that step with that mark.
has_line() {
	grep -qE "^  $1 +$2 " "$RUN_OUT"
}

# steps_told: "MARK:STEP" of each step told, in order; every_ok STEP...:
# the same for steps that all passed.
steps_told() {
	grep -E '^  (ok|warn|FAIL) ' "$RUN_OUT" | awk '{ printf "%s:%s ", $1, $2 }'
}
every_ok() {
	printf 'ok:%s ' "$@"
}

# failed NAME STEP STATUS BOUND REGEX...: the step failed, nothing after
# it, the exit status, within BOUND seconds, each REGEX in the output.
failed() {
	local name=$1 step=$2 status=$3 bound=$4 regex missing=
	shift 4
	tap_status_is "$status" "$name: exit $status"
	if has_line FAIL "$step" &&
		grep -E '^  (ok|warn|FAIL) ' "$RUN_OUT" | tail -n 1 | grep -qE "^  FAIL +$step "; then
		tap_ok "$name: fails at $step, the last step told"
	else
		tap_not_ok "$name: fails at $step, the last step told" "$(cat "$RUN_OUT")"
	fi
	if [ "$SECONDS_TAKEN" -lt "$bound" ]; then
		tap_ok "$name: told within $bound s"
	else
		tap_not_ok "$name: told within $bound s" "took $SECONDS_TAKEN s"
	fi
	for regex in "$@"; do
		grep -qE -- "$regex" "$RUN_OUT" || missing="$missing /$regex/"
	done
	if [ -z "$missing" ]; then
		tap_ok "$name: says what to change"
	else
		tap_not_ok "$name: says what to change" "missing$missing in: $(cat "$RUN_OUT")"
	fi
}

# --- the good accounts ---

account good-imap imap implicit "$imaps" alice "$alice" folders='["INBOX", "Archive/*"]'
check good-imap
tap_status_is 0 "good IMAP account: exit 0"
tap_is "$(steps_told)" "$(every_ok account secret resolve connect tls certificate \
	greeting capabilities mechanisms login folders destination state_dir lock)" \
	"good IMAP account: every step ok, in order"
tap_check "good IMAP account: the folders and their paths" \
	bash -c 'grep -qF "INBOX -> $1/Mail" "$2" && grep -qF "Archive/2024 -> $1/Mail/Archive/2024" "$2"' \
	_ "$work/good-imap" "$RUN_OUT"
tap_check "good IMAP account: the TLS version and the certificate's fingerprint" \
	grep -qE "ok +tls +TLSv1\.[23], .*tls_fingerprint: \"sha256:" <(tr '\n' ' ' <"$RUN_OUT")
tap_check "good IMAP account: the destination can be made, on a named filesystem" \
	grep -qE "ok +destination +$work/good-imap/Mail can be made \($work is writable on " "$RUN_OUT"
tap_check "good IMAP account: the password is never shown" \
	bash -c '! grep -qF -- "$1" "$2" "$3"' _ "$alice" "$RUN_OUT" "$RUN_ERR"
tap_check "good IMAP account: nothing written (no Maildir, no state directory)" \
	test ! -e "$work/good-imap"

account good-pop3 pop3 starttls "$pop3" bob "$bob" password= password_cmd="printf %s '$bob'"
check good-pop3
tap_status_is 0 "good POP3 account (STARTTLS, password_cmd): exit 0"
tap_is "$(steps_told)" "$(every_ok account secret resolve connect greeting tls \
	certificate capabilities mechanisms login maildrop destination state_dir lock)" \
	"good POP3 account: every step ok, in order (greeting before STARTTLS)"
tap_check "good POP3 account: the message count and UIDL" \
	grep -qE "ok +maildrop +3 messages on the server; UIDL offered" "$RUN_OUT"
tap_check "good POP3 account: the password source is named, not the password" \
	grep -qE "ok +secret +the password, from password_cmd" "$RUN_OUT"
tap_check "good POP3 account: nothing written" test ! -e "$work/good-pop3"

# --- mistakes ---

account wrong-host pop3 implicit "$pop3s" bob "$bob" host=nonexistent.invalid
check wrong-host
failed wrong-host resolve 69 10 'cannot resolve nonexistent\.invalid' 'change: host$'

closed=$("$PYTHON3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
account closed-port imap implicit "$closed" alice "$alice"
check closed-port
failed closed-port connect 69 10 'Connection refused' 'a wrong port' 'change: host, port, tls'

account starttls-on-implicit imap starttls "$imaps" alice "$alice" timeout=60
check starttls-on-implicit
failed starttls-on-implicit greeting 69 20 'use tls: implicit'

account implicit-on-starttls pop3 implicit "$pop3" bob "$bob" timeout=60
check implicit-on-starttls
failed implicit-on-starttls tls 69 20 'plain text' 'use tls: starttls'

account wrong-password imap implicit "$imaps" alice "not-$alice"
check wrong-password
failed wrong-password login 77 20 'refused: \[AUTHENTICATIONFAILED\] Authentication failed\.' \
	'tried AUTHENTICATE PLAIN' 'change: user, password'

fingerprint=$(harness_fingerprint)
account untrusted pop3 implicit "$pop3s" bob "$bob" tls_ca_file=
check untrusted
failed untrusted tls 69 10 'not trusted' "tls_ca_file" "tls_fingerprint: \"$fingerprint\""

echo "a file" >"$work/plain-file"
account bad-destination imap implicit "$imaps" alice "$alice"
sed -i "s|maildir: \".*\"|maildir: \"$work/plain-file/Mail\"|" "$work/bad-destination.yaml"
check bad-destination
failed bad-destination destination 74 10 "$work/plain-file is not a directory" 'change: deliver'

account bad-state pop3 implicit "$pop3s" bob "$bob" state_dir="$work/plain-file/state"
check bad-state
failed bad-state state_dir 74 10 "$work/plain-file is not a directory" 'change: state_dir'

# The lock: a run holds it while --check looks.
account locked pop3 implicit "$pop3s" bob "$bob"
mkdir -p -m 700 "$work/locked/state/locked"
: >"$work/locked/state/locked/lock"
chmod 600 "$work/locked/state/locked/lock"
"$PYTHON3" - "$work/locked/state/locked/lock" "$work/locked.ready" <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
open(sys.argv[2], "w").close()
time.sleep(60)
PY
holder=$!
harness_at_exit "kill $holder 2>/dev/null"
for _ in $(seq 100); do [ -e "$work/locked.ready" ] && break; sleep 0.1; done
check locked
failed locked lock 75 10 'being fetched by another yubin run' 'wait for the other run'
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
tap_check "the lock is free again once its holder is gone" \
	bash -c '"$1" -c "$2" --check >/dev/null' _ "$YUBIN" "$work/locked.yaml"

# --- several accounts: each is checked, the first failure decides ---

{
	cat "$work/good-pop3.yaml"
	sed -n '/^  - name:/,$p' "$work/wrong-password.yaml"
	sed -n '/^  - name:/,$p' "$work/closed-port.yaml"
} >"$work/several.yaml"
chmod 600 "$work/several.yaml"
check several
tap_status_is 77 "several accounts: the first failing account's code (77)"
tap_is "$(grep -c '^account ' "$RUN_OUT")" 3 "several accounts: every account checked"

# --- --json ---

check several --json
tap_status_is 77 "--json: exit 77"
"$PYTHON3" - "$RUN_OUT" >"$work/json.check" 2>&1 <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["exit_code"] == 77, doc["exit_code"]
assert [a["name"] for a in doc["accounts"]] == ["good-pop3", "wrong-password", "closed-port"]
assert [a["exit_code"] for a in doc["accounts"]] == [0, 77, 69]
for account in doc["accounts"]:
    for step in account["steps"]:
        assert set(step) >= {"account", "step", "status", "detail", "hint", "ms", "exit_code"}, step
        assert step["account"] == account["name"]
        assert step["status"] in ("ok", "warn", "FAIL")
        assert isinstance(step["ms"], int) and step["ms"] >= 0
        assert (step["hint"] is None) == (step["status"] == "ok")
    fails = [s for s in account["steps"] if s["status"] == "FAIL"]
    assert len(fails) == (account["exit_code"] != 0)
    if fails:
        assert account["steps"][-1] is fails[0]
login = [s for s in doc["accounts"][1]["steps"] if s["step"] == "login"][0]
assert "Authentication failed." in login["detail"], login
assert "version" in doc and "duration" in doc
print("ok")
PY
tap_is "$(cat "$work/json.check")" ok "--json: the steps as objects, each account's status"

# --- usage ---

yubin_run check-usage -- -c "$work/good-pop3.yaml" --check -n
tap_status_is 64 "--check -n is a usage error"
tap_finish
