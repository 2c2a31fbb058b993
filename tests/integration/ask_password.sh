#!/bin/bash
# --ask-password: an account without a password source is asked for one on
# the terminal (a pseudo-terminal here), with echo off, and fetches; with
# no terminal the run fails at once with exit 78 instead of waiting, and
# without --ask-password the error says how to give a password.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 10
harness_start

work=$(harness_dir)/client
harness_add_messages alice 3 --profile small
server_expected alice "$work/expected"
password=$(harness_password alice)
harness_write_config "$work/ask.yaml" ask imap implicit "$(harness_port imaps)" \
	alice "" "$work/ask/Maildir"

# On a pseudo-terminal: wait for the prompt, type the password, collect
# everything the terminal showed.  Prints the exit status, then the
# transcript.
"$PYTHON3" - "$YUBIN" "$work/ask.yaml" "$password" >"$work/pty.out" <<-'EOF'
import os, pty, select, sys, time
yubin, config, password = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execv(yubin, [yubin, "--ask-password", "--no-progress", "-c", config])
seen = b""
typed = False
deadline = time.time() + 60
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.5)
    if ready:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        seen += data
    if not typed and b"Password for" in seen:
        os.write(fd, password.encode() + b"\n")
        typed = True
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
sys.stdout.write(seen.decode("utf-8", "replace"))
EOF
tap_is "$(head -n 1 "$work/pty.out")" 0 "--ask-password on a terminal: exits 0"
tap_check "the prompt names the user, host and account" \
	grep -q 'Password for alice on 127.0.0.1 (account ask)' "$work/pty.out"
if grep -qF -- "$password" "$work/pty.out"; then
	tap_not_ok "the typed password is not echoed"
else
	tap_ok "the typed password is not echoed"
fi
tap_delivered_exactly "$work/expected" "$work/ask/Maildir" \
	"--ask-password: all 3 delivered, byte-identical"

# No terminal at all (as under cron): an immediate, clear error.
start=$(date +%s)
setsid timeout -k 5 30 "$YUBIN" --ask-password -c "$work/ask.yaml" \
	</dev/null >"$work/notty.out" 2>"$work/notty.err"
status=$?
tap_is "$status" 78 "--ask-password without a terminal: exits 78"
tap_check "without a terminal: the message says there is none to ask on" \
	grep -q 'no terminal to ask on' "$work/notty.err"
tap_check "without a terminal: it does not wait" test $(($(date +%s) - start)) -lt 10

# No --ask-password: the login is not tried, and the error says what to do.
setsid timeout -k 5 30 "$YUBIN" -c "$work/ask.yaml" \
	</dev/null >"$work/nopw.out" 2>"$work/nopw.err"
status=$?
tap_is "$status" 78 "no password source: exits 78"
tap_check "no password source: the message names --ask-password" \
	grep -q -- '--ask-password' "$work/nopw.err"
tap_check "no password source: the message names the account" \
	grep -q '^yubin: ask: ' "$work/nopw.err"

tap_finish
