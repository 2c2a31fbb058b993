#!/bin/bash
# demo.sh YUBIN DOVECOT - `make demo`: a private Dovecot on 127.0.0.1 with
# twenty sample messages, fetched by yubin into ./demo/Maildir, twice (the
# second run finds nothing new).  The account file is ./demo/config.yaml.
# Leaves no process behind; the fetched mail stays in ./demo.

YUBIN=${1:?usage: demo.sh YUBIN DOVECOT}
DOVECOT=${2-}
: "${PYTHON3:=python3}"
LIB=$(cd "$(dirname "$0")" && pwd)
. "$LIB/harness.sh"

if [ -z "$DOVECOT" ]; then
	echo "make demo needs Dovecot: install dovecot-core, dovecot-pop3d and dovecot-imapd, then run configure again" >&2
	exit 1
fi
[ -x "$YUBIN" ] || { echo "no yubin binary at $YUBIN" >&2; exit 1; }

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
[ -t 1 ] || say() { printf '\n== %s\n' "$*"; }

demo=$PWD/demo
mkdir -p "$demo" || exit 1
rm -rf -- "$demo/Maildir" "$demo/state" "$demo/config.yaml" "$demo/ca.pem"

harness_start >/dev/null
harness_add_messages demo 20 --profile demo
port=$(harness_port pop3s)
cp "$(harness_ca_file)" "$demo/ca.pem"
harness_write_config "$demo/config.yaml" demo pop3 implicit "$port" \
	demo "$(harness_password demo)" "$demo/Maildir" \
	tls_ca_file="$demo/ca.pem" state_dir="$demo/state"

say "A private Dovecot is listening on 127.0.0.1:$port (POP3 over TLS), with 20 messages for user 'demo'"
say "The account file, demo/config.yaml (mode $(stat -c %a "$demo/config.yaml")):"
sed -e 's/^\(    password: \).*/\1"********"/' -e 's/^/    /' "$demo/config.yaml"

say "First run: yubin -v -c demo/config.yaml"
timeout -k 5 120 "$YUBIN" -v -c "$demo/config.yaml"
status=$?
echo "    (exit status $status)"

say "What arrived in demo/Maildir:"
"$PYTHON3" - "$demo/Maildir" <<'PY'
import email, email.policy, os, sys
root = sys.argv[1]
rows = []
for sub in ("new", "cur"):
    path = os.path.join(root, sub)
    if not os.path.isdir(path):
        continue
    for name in os.listdir(path):
        with open(os.path.join(path, name), "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        rows.append((str(msg.get("Date", "")), str(msg.get("From", "")), str(msg.get("Subject", ""))))
if not rows:
    print("    (nothing)")
for _, sender, subject in sorted(rows, key=lambda r: email.utils.parsedate_to_datetime(r[0]) if r[0] else 0):
    print("    %-40.40s  %s" % (sender, subject))
print("\n    %d messages, each its own file, as any Maildir reader expects." % len(rows))
PY

say "Second run: nothing new on the server, so nothing is fetched"
timeout -k 5 120 "$YUBIN" -v -c "$demo/config.yaml"
status2=$?
echo "    (exit status $status2; still $(ls "$demo/Maildir/new" 2>/dev/null | wc -l) messages in demo/Maildir/new)"

say "Stopping Dovecot. The mail stays in demo/Maildir; run 'make demo' again to start over."
harness_stop
[ "$status" -eq 0 ] && [ "$status2" -eq 0 ]
