#!/bin/bash
# The test harness itself: the private Dovecot listens on 127.0.0.1 only,
# speaks TLS with the test CA, logs users in with every mechanism the
# yubin tests use, and the POP3 oracle agrees with the documented model of
# what Dovecot sends (tests/lib/genmail.py, dovecot_pop3_form).  Needs no
# yubin binary: when this fails, the other integration tests cannot be
# trusted either way.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

tap_plan 18
harness_start
GENMAIL=$top_srcdir/tests/lib/genmail.py
work=$(harness_dir)/client

# 1. Every listening socket of this Dovecot is on 127.0.0.1 and nothing of
# it listens on a wildcard address.
listeners=$("$PYTHON3" - "$HARNESS_PID" <<'EOF'
import os, sys
master = int(sys.argv[1])
# Our Dovecot's processes: the master and its children.
pids = {master}
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            with open("/proc/%s/stat" % entry) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                    pids.add(int(entry))
        except OSError:
            pass
inodes = set()
for pid in pids:
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
for table, family in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
    try:
        rows = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for row in rows:
        cols = row.split()
        if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
            continue
        addr, port = cols[1].split(":")
        if family == 4:
            ip = ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
        else:
            ip = "v6:" + addr
        print("%s:%d" % (ip, int(port, 16)))
EOF
)
bad=$(printf '%s\n' "$listeners" | grep -v '^127\.0\.0\.1:' | grep -v '^$')
count=$(printf '%s\n' "$listeners" | grep -c '^127\.0\.0\.1:')
if [ -z "$bad" ] && [ "$count" -eq 4 ]; then
	tap_ok "Dovecot listens on exactly 4 ports, all on 127.0.0.1"
else
	tap_not_ok "Dovecot listens on exactly 4 ports, all on 127.0.0.1" "listeners: $listeners"
fi

# 2-5. TLS with the test CA: implicit (pop3s, imaps) and STARTTLS (pop3),
# by name and by address; and refused without the CA.
tls_probe() {
	"$PYTHON3" - "$@" <<'EOF'
import poplib, imaplib, socket, ssl, sys
kind, port, cafile, host = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile or None)
if not cafile:
    ctx.load_default_certs()
try:
    if kind == "pop3s":
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        tls = ctx.wrap_socket(sock, server_hostname=host)
        assert tls.recv(100).startswith(b"+OK")
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    elif kind == "imaps":
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        tls = ctx.wrap_socket(sock, server_hostname=host)
        assert tls.recv(100).startswith(b"* OK")
    elif kind == "stls":
        p = poplib.POP3("127.0.0.1", port, timeout=10)
        p._tls_established = False
        p.stls(context=ctx)
        p.user("alice")
        p.pass_("alice-Secret-1")
        p.quit()
except ssl.SSLCertVerificationError as e:
    sys.exit("verify failed: %s" % e)
EOF
}
ca=$(harness_ca_file)
tap_check "pop3s verifies with the test CA for 'localhost'" \
	tls_probe pop3s "$(harness_port pop3s)" "$ca" localhost
tap_check "imaps verifies with the test CA for '127.0.0.1'" \
	tls_probe imaps "$(harness_port imaps)" "$ca" 127.0.0.1
tap_check "STLS on the plain POP3 port upgrades and logs in" \
	tls_probe stls "$(harness_port pop3)" "$ca" localhost
if tls_probe pop3s "$(harness_port pop3s)" "" localhost 2>/dev/null; then
	tap_not_ok "pop3s is not trusted without the test CA"
else
	tap_ok "pop3s is not trusted without the test CA"
fi

# 6-7. Logins: USER/PASS for each user; wrong password refused.
login_probe() {
	"$PYTHON3" - "$(harness_port pop3)" "$@" <<'EOF'
import base64, hmac, hashlib, poplib, sys
port, mech, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
p = poplib.POP3("127.0.0.1", port, timeout=10)
try:
    if mech == "user":
        p.user(user)
        p.pass_(password)
    elif mech == "apop":
        p.apop(user, password)
    elif mech == "plain":
        p._shortcmd("AUTH PLAIN " + base64.b64encode(
            ("\0%s\0%s" % (user, password)).encode()).decode())
    elif mech == "login":
        p._shortcmd("AUTH LOGIN")
        p._shortcmd(base64.b64encode(user.encode()).decode())
        p._shortcmd(base64.b64encode(password.encode()).decode())
    elif mech == "cram-md5":
        challenge = base64.b64decode(p._shortcmd("AUTH CRAM-MD5")[2:])
        digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
        p._shortcmd(base64.b64encode(("%s %s" % (user, digest)).encode()).decode())
    p.stat()
    p.quit()
except poplib.error_proto as e:
    sys.exit("login refused: %s" % e)
EOF
}
if login_probe user alice "$(harness_password alice)" &&
	login_probe user bob "$(harness_password bob)"; then
	tap_ok "alice and bob log in with USER/PASS"
else
	tap_not_ok "alice and bob log in with USER/PASS"
fi
if login_probe user alice wrong-password 2>/dev/null; then
	tap_not_ok "a wrong password is refused"
else
	tap_ok "a wrong password is refused"
fi

# 8-11. The SASL mechanisms and APOP that the yubin tests use.
for mech in plain login cram-md5 apop; do
	tap_check "alice logs in with $mech" login_probe "$mech" alice "$(harness_password alice)"
done

# 12. genmail is deterministic: the same seed and batch give the same bytes.
"$PYTHON3" "$GENMAIL" add --maildir "$work/gen1" --count 25 --hostile --seed s1 --batch 7 >/dev/null
"$PYTHON3" "$GENMAIL" add --maildir "$work/gen2" --count 25 --hostile --seed s1 --batch 7 >/dev/null
if cmp -s <("$PYTHON3" "$GENMAIL" hashes "$work/gen1") <("$PYTHON3" "$GENMAIL" hashes "$work/gen2"); then
	tap_ok "genmail gives the same messages for the same seed"
else
	tap_not_ok "genmail gives the same messages for the same seed"
fi

# 13. Hostile and mixed mail on the server, every Message-ID unique.
harness_add_messages alice 50 --hostile
maildir=$(harness_maildir alice)
ids=$("$PYTHON3" "$GENMAIL" hashes "$maildir" | cut -d' ' -f2)
total=$(printf '%s\n' "$ids" | wc -l)
unique=$(printf '%s\n' "$ids" | sort -u | wc -l)
if [ "$total" -eq 50 ] && [ "$unique" -eq 50 ]; then
	tap_ok "50 messages with 50 distinct Message-IDs in alice's Maildir"
else
	tap_not_ok "50 messages with 50 distinct Message-IDs in alice's Maildir" "total $total, unique $unique"
fi

# 14. The messages span 200 bytes to a few MB and include the hard cases.
sizes=$(find "$maildir/new" "$maildir/cur" -type f -printf '%s\n' | sort -n)
smallest=$(printf '%s\n' "$sizes" | head -n 1)
largest=$(printf '%s\n' "$sizes" | tail -n 1)
hard=0
grep -lqx '\.' -r "$maildir" && hard=$((hard + 1))
grep -lq '^From ' -r "$maildir" && hard=$((hard + 1))
grep -lqP '\r$' -r "$maildir" && hard=$((hard + 1))
if [ "$smallest" -le 400 ] && [ "$largest" -ge 2000000 ] && [ "$hard" -eq 3 ]; then
	tap_ok "sizes from $smallest to $largest bytes, with dot, From and CRLF lines"
else
	tap_not_ok "sizes span 200 B to MBs with hard cases" "smallest $smallest, largest $largest, hard $hard/3"
fi

# 15. The oracle (a POP3 client of its own) agrees with the model of what
# Dovecot sends, message by message: the model is what the comments in
# genmail.py document.
"$PYTHON3" "$GENMAIL" stored "$maildir" >"$work/stored"
server_expected alice "$work/expected"
if diff=$(diff "$work/stored" "$work/expected"); then
	tap_ok "the POP3 oracle agrees with the documented Dovecot model"
else
	tap_not_ok "the POP3 oracle agrees with the documented Dovecot model" "$diff"
fi

# 16. The oracle over implicit TLS gives the same as over plain POP3.
"$PYTHON3" "$GENMAIL" expected --tls --ca-file "$ca" --port "$(harness_port pop3s)" \
	--user alice --password "$(harness_password alice)" >"$work/expected-tls"
if cmp -s "$work/expected" "$work/expected-tls"; then
	tap_ok "the oracle gives the same over pop3s"
else
	tap_not_ok "the oracle gives the same over pop3s"
fi

# 17. harness_write_config: mode 600 and the keys asked for.
harness_write_config "$work/config.yaml" acct pop3 implicit 995 alice 'pa"ss' "$work/Maildir" \
	keep=false tls_ca_file=
mode=$(stat -c %a "$work/config.yaml")
if [ "$mode" = 600 ] && grep -q '^    keep: false$' "$work/config.yaml" &&
	grep -q '^    password: "pa\\"ss"$' "$work/config.yaml" &&
	! grep -q tls_ca_file "$work/config.yaml"; then
	tap_ok "harness_write_config writes a private file with the keys asked for"
else
	tap_not_ok "harness_write_config writes a private file with the keys asked for" "$(cat "$work/config.yaml")"
fi

# 18. Stopping leaves no process of this Dovecot behind.
master=$HARNESS_PID
harness_stop
if ! harness_group_alive "$master"; then
	tap_ok "harness_stop leaves no Dovecot process behind"
else
	tap_not_ok "harness_stop leaves no Dovecot process behind" "$(ps -o pid,stat,cmd -g "$master")"
fi

tap_finish
