#!/bin/bash
# Client certificates against a Dovecot that asks every TLS client for one,
# trusts only the test client CA for it, refuses any login without a valid
# one and offers SASL EXTERNAL (the login is the certificate's CN).
#
# tls_cert_file + tls_key_file with auth: external (and with auth: auto
# and no password) log in with EXTERNAL over IMAP and POP3, implicit TLS
# and STARTTLS, and fetch; the certificate is presented with a password
# login too; a combined cert+key file works.  Refused by the server
# (exit 77, nothing delivered): no client certificate, or one from a CA
# the server does not trust.  Refused before connecting (exit 78, naming
# the file): a key readable by group or others (also when it sits in
# tls_cert_file; checked with the account file, so that no account
# fetches), a key that does not belong to the certificate (naming both),
# auth: external without tls_cert_file.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 50
harness_start

work=$(harness_dir)/client
certs=$(harness_dir)/certs
sh "$top_srcdir/tests/lib/mkcerts.sh" "$certs" || tap_bail "mkcerts.sh failed"
# The oracle logs in with a password: before client certificates are
# required.
harness_add_messages alice 3 --profile small
server_expected alice "$work/expected"
HARNESS_CLIENT_CA=$certs/client-ca.pem
harness_restart
cert=$certs/client.pem
key=$certs/client.key

# write_case NAME TRANSPORT [KEY=VALUE...]: the account file of a fresh
# account, in $work/NAME-TRANSPORT.yaml; sets CASE, CASE_CONFIG,
# CASE_MAILDIR.  Without KEY=VALUEs it logs in with the password.
write_case() {
	local name=$1 transport=$2 protocol tls port
	shift 2
	case $transport in
	imaps) protocol=imap tls=implicit port=$(harness_port imaps) ;;
	pop3s) protocol=pop3 tls=implicit port=$(harness_port pop3s) ;;
	imap-starttls) protocol=imap tls=starttls port=$(harness_port imap) ;;
	pop3-stls) protocol=pop3 tls=starttls port=$(harness_port pop3) ;;
	*) tap_bail "no transport $transport" ;;
	esac
	CASE=$name-$transport
	CASE_CONFIG=$work/$CASE.yaml
	CASE_MAILDIR=$work/$CASE/Maildir
	harness_write_config "$CASE_CONFIG" "$CASE" "$protocol" "$tls" "$port" \
		alice "$(harness_password alice)" "$CASE_MAILDIR" \
		state_dir="$work/$CASE/state" "$@"
}

# The keys of an EXTERNAL login with the test client certificate.
external=(auth=external password= tls_cert_file="$cert" tls_key_file="$key")

# accepted NAME TRANSPORT METHOD [KEY=VALUE...]: three checks.
accepted() {
	local name=$1 transport=$2 method=$3 logins
	shift 3
	write_case "$name" "$transport" "$@"
	logins=$(harness_login_count alice)
	yubin_run "$CASE" -- -c "$CASE_CONFIG"
	tap_status_is 0 "$CASE: accepted"
	tap_delivered_exactly "$work/expected" "$CASE_MAILDIR" \
		"$CASE: the 3 messages delivered, byte-identical"
	tap_is "$(harness_login_method_after alice "$logins")" "$method" \
		"$CASE: Dovecot logged alice in with $method"
}

# refused STATUS WHY NAME TRANSPORT [KEY=VALUE...]: three checks; WHY is an
# extended regular expression for stderr.
refused() {
	local status=$1 why=$2 name=$3 transport=$4
	shift 4
	write_case "$name" "$transport" "$@"
	yubin_run "$CASE" -- -c "$CASE_CONFIG"
	tap_status_is "$status" "$CASE: refused with exit $status"
	tap_is "$(maildir_count "$CASE_MAILDIR")" 0 "$CASE: nothing delivered"
	if grep -qE -- "$why" "$RUN_ERR"; then
		tap_ok "$CASE: stderr says why"
	else
		tap_not_ok "$CASE: stderr says why" "wanted /$why/; $(run_summary)"
	fi
}

# EXTERNAL with the client certificate.
for transport in imaps pop3s imap-starttls pop3-stls; do
	accepted external "$transport" EXTERNAL "${external[@]}"
done
# auth: auto picks EXTERNAL for a certificate and no password.
accepted auto imaps EXTERNAL auth= password= tls_cert_file="$cert" tls_key_file="$key"
# With a password as well, the certificate is still presented.
accepted cert-and-password pop3s PLAIN auth=plain tls_cert_file="$cert" tls_key_file="$key"
# The key in the certificate file.
combined=$work/combined.pem
(umask 077 && cat "$cert" "$key" >"$combined") || tap_bail "cannot write $combined"
accepted combined-file imaps EXTERNAL auth=external password= tls_cert_file="$combined"

# Refused by the server.
no_cert='certificate'
refused 77 "$no_cert" no-client-cert imaps auth=plain
refused 77 "$no_cert" no-client-cert pop3s auth=plain
refused 77 "$no_cert" untrusted-client-cert imaps auth=external password= \
	tls_cert_file="$certs/client-other.pem" tls_key_file="$certs/client-other.key"

# Refused before connecting.
open_key=$work/open.key
cp "$key" "$open_key" && chmod 644 "$open_key" || tap_bail "cannot copy the key"
refused 78 "'tls_key_file' in account [^:]*: $open_key holds a private key" \
	key-readable imaps "${external[@]}" tls_key_file="$open_key"
open_combined=$work/open-combined.pem
cp "$combined" "$open_combined" && chmod 640 "$open_combined" || tap_bail "cannot copy"
refused 78 "$open_combined" combined-readable pop3s auth=external password= \
	tls_cert_file="$open_combined"
refused 78 "$certs/client-other\.key.*$cert|$cert.*$certs/client-other\.key" \
	key-mismatch imaps "${external[@]}" tls_key_file="$certs/client-other.key"
refused 78 'tls_cert_file' external-without-cert imaps auth=external password=

# Before connecting: against a port where nothing listens, a key problem
# is still a configuration error (exit 78), not "cannot connect" (69).
dead_port=$("$PYTHON3" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])') || tap_bail "cannot pick a free port"
refused 78 "'tls_key_file' in account [^:]*: $open_key holds a private key" \
	key-readable-no-server imaps "${external[@]}" tls_key_file="$open_key" \
	port="$dead_port"
refused 78 "$certs/client-other\.key" key-mismatch-no-server pop3s "${external[@]}" \
	tls_key_file="$certs/client-other.key" port="$dead_port"

# The key's file is checked with the account file: a bad key in one
# account stops the run before any account fetches.
write_case first-good imaps "${external[@]}"
good_config=$CASE_CONFIG good_maildir=$CASE_MAILDIR
write_case second-bad pop3s "${external[@]}" tls_key_file="$open_key"
sed -n '/^  - name:/,$p' "$CASE_CONFIG" >>"$good_config"
yubin_run two-accounts -- -c "$good_config"
tap_status_is 78 "a bad key in the second account: exit 78"
tap_is "$(maildir_count "$good_maildir")" 0 \
	"a bad key in the second account: the first account fetches nothing"

tap_finish
