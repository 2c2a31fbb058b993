#!/bin/bash
# The mistakes every POP3/IMAP setup guide lists, made against a real
# Dovecot: each is told in the time it takes to notice, with the exit code
# that says whether to try again, and a message that names what to change.
#
#   a host name that does not resolve         69, "check the host name (host)"
#   a closed port                             69, "a wrong port"
#   tls: starttls on the implicit-TLS port    69 well under the timeout,
#                                             "use tls: implicit"
#   tls: implicit on the plain port           69, "use tls: starttls"
#   a wrong password                          77, the method and the password key
#   a self-signed certificate                 69, tls_ca_file, tls_fingerprint
#                                             and yubin --show-cert ACCOUNT
#   the same certificate pinned               0, without a warning

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 46
harness_start

work=$(harness_dir)/client
mkdir -p "$work" || tap_bail "cannot make $work"
harness_add_messages alice 2 --profile small
password=$(harness_password alice)

# mistake NAME PROTOCOL TLS PORT [KEY=VALUE...]: one run of a fresh account
# with timeout 60 unless given; RUN_SECONDS is how long it took.
mistake() {
	local name=$1 protocol=$2 tls=$3 port=$4
	shift 4
	harness_write_config "$work/$name.yaml" "$name" "$protocol" "$tls" "$port" \
		alice "$password" "$work/$name/Maildir" state_dir="$work/$name/state" \
		timeout=60 "$@"
	local start end
	start=$(date +%s%N)
	yubin_run "$name" -- -c "$work/$name.yaml"
	end=$(date +%s%N)
	RUN_SECONDS=$(( (end - start) / 1000000000 ))
}

# told NAME STATUS SECONDS REGEX...: three checks: the exit status, the
# time bound, and every REGEX (extended, case-sensitive) on stderr.
told() {
	local name=$1 status=$2 bound=$3 regex missing=
	shift 3
	tap_status_is "$status" "$name: exit $status"
	if [ "$RUN_SECONDS" -lt "$bound" ]; then
		tap_ok "$name: told within ${bound} s"
	else
		tap_not_ok "$name: told within ${bound} s" "took ${RUN_SECONDS} s"
	fi
	for regex in "$@"; do
		grep -qE -- "$regex" "$RUN_ERR" || missing="$missing /$regex/"
	done
	[ -s "$RUN_ERR" ] && tap_diag "$name: $(head -c 1000 "$RUN_ERR")"
	if [ -z "$missing" ]; then
		tap_ok "$name: the message says what to change"
	else
		tap_not_ok "$name: the message says what to change" "missing$missing; $(run_summary)"
	fi
}

pop3=$(harness_port pop3)
pop3s=$(harness_port pop3s)
imap=$(harness_port imap)
imaps=$(harness_port imaps)

# The server's name.
mistake wrong-host pop3 implicit "$pop3s" host=nonexistent.invalid
told wrong-host 69 10 'cannot resolve nonexistent\.invalid' 'check the host name \(host\)'

# A closed port: one just let go of.
closed=$("$PYTHON3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mistake closed-port pop3 implicit "$closed" host=localhost
told closed-port 69 10 "cannot connect to localhost:$closed" 'address' \
	'Connection refused' 'a wrong port'

# The TLS setting against the port.
for proto in pop3 imap; do
	if [ "$proto" = pop3 ]; then plain=$pop3 tls_port=$pop3s; else plain=$imap tls_port=$imaps; fi
	mistake "$proto-starttls-on-implicit" "$proto" starttls "$tls_port"
	told "$proto-starttls-on-implicit" 69 10 "127\.0\.0\.1:$tls_port" \
		'this port speaks TLS from the first byte: use tls: implicit \(or port 143/110 for STARTTLS\)'
	mistake "$proto-none-on-implicit" "$proto" none "$tls_port" allow_plaintext=true
	told "$proto-none-on-implicit" 69 10 'use tls: implicit'
	mistake "$proto-implicit-on-plain" "$proto" implicit "$plain"
	told "$proto-implicit-on-plain" 69 10 "127\.0\.0\.1:$plain" \
		'this port does not speak TLS from the first byte: use tls: starttls \(or port 993/995 for implicit TLS\)'
done

# The password.
mistake pop3-wrong-password pop3 implicit "$pop3s" password=not-the-password
told pop3-wrong-password 77 10 'login as alice refused' 'auth: auto' \
	'check user and the password \(password\)'
mistake imap-wrong-password imap implicit "$imaps" password=not-the-password
told imap-wrong-password 77 10 'login as alice refused' 'tried (LOGIN|AUTHENTICATE [A-Z-]+)' \
	'check user and the password \(password\)'

# An address that does not answer at all (a firewall dropping packets) is
# not made here: the tests talk to 127.0.0.1 alone, which always answers.
# test_conn.c checks that hint's words.

# A self-signed certificate (Dovecot restarts: the ports change).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$work/self.key" -out "$work/self.pem" -days 2 -subj "/CN=localhost" \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1 ||
	tap_bail "openssl could not make a self-signed certificate"
chmod 600 "$work/self.key"
harness_use_cert "$work/self.pem" "$work/self.key"
pop3s=$(harness_port pop3s)
imaps=$(harness_port imaps)
pin=$(harness_fingerprint)
last=${pin: -1}
if [ "$last" = 0 ]; then wrong_pin=${pin%?}1; else wrong_pin=${pin%?}0; fi

mistake self-signed pop3 implicit "$pop3s" tls_ca_file=
told self-signed 69 10 'not trusted: self.signed' 'tls_ca_file' 'tls_fingerprint' \
	'yubin --show-cert self-signed'

# A pin alone is a trust anchor: no tls_verify: false, no warning.
for proto in pop3 imap; do
	if [ "$proto" = pop3 ]; then port=$pop3s; else port=$imaps; fi
	mistake "$proto-pinned" "$proto" implicit "$port" tls_ca_file= tls_fingerprint="$pin"
	told "$proto-pinned" 0 10
	tap_is "$(maildir_count "$work/$proto-pinned/Maildir")" 2 "$proto-pinned: both messages delivered"
	tap_is "$(cat "$RUN_ERR")" "" "$proto-pinned: nothing on stderr (no warning)"
done

mistake wrong-pin pop3 implicit "$pop3s" tls_ca_file= tls_fingerprint="$wrong_pin"
told wrong-pin 69 10 'does not match tls_fingerprint' "the server presented $pin" \
	'nor does a CA vouch for it'

tap_finish
