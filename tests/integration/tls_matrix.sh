#!/bin/bash
# The TLS certificate matrix against a real Dovecot, over IMAP and POP3
# with implicit TLS, and STARTTLS/STLS for some cases.  Dovecot listens on
# 127.0.0.1 only and picks the certificate by the TLS server name (SNI);
# yubin connects to 127.0.0.1 and names the server with tls_server_name,
# which it sends and verifies.
#
# Accepted (exit 0, the three messages delivered byte for byte): a chain
# from a trusted root; a wildcard for a name one label under it; a
# self-signed certificate pinned with tls_verify: false (warned about on
# every run); a certificate pin, a public-key pin (also after the
# certificate is re-issued with the same key), a list of pins of which
# one matches.
#
# Refused (exit 69, nothing delivered, stderr names the server and why):
# self-signed, expired, not yet valid, for another name, a wildcard used
# for two labels or for its own base name, a partial wildcard, signed by
# an unknown CA, the intermediate not sent, a wrong certificate or
# public-key pin, the old certificate pin after a re-issue, a list of
# pins of which none matches, tls_min_version: 1.3 against a server that
# stops at TLS 1.2 (a relay in front of Dovecot, which cannot be capped).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 151
harness_start

work=$(harness_dir)/client
certs=$(harness_dir)/certs
sh "$top_srcdir/tests/lib/mkcerts.sh" "$certs" || tap_bail "mkcerts.sh failed"

# serve_matrix GOOD: the certificate Dovecot presents for each name, with
# GOOD (good or reissued) for good.example.test, from the next start on.
serve_matrix() {
	local c=$certs
	HARNESS_SNI=()
	harness_sni_cert "good.example.test" "$c/$1.pem" "$c/$1.key" "$c/inter.pem"
	harness_sni_cert "leafonly.example.test" "$c/$1.pem" "$c/$1.key"
	harness_sni_cert "selfsigned.example.test" "$c/selfsigned.pem" "$c/selfsigned.key"
	harness_sni_cert "expired.example.test" "$c/expired.pem" "$c/expired.key" "$c/inter.pem"
	harness_sni_cert "notyet.example.test" "$c/notyet.pem" "$c/notyet.key" "$c/inter.pem"
	harness_sni_cert "wronghost.example.test" "$c/wronghost.pem" "$c/wronghost.key" "$c/inter.pem"
	harness_sni_cert "x.example.test a.b.example.test example.test" \
		"$c/wildcard.pem" "$c/wildcard.key" "$c/inter.pem"
	harness_sni_cert "foo.example.test" "$c/partial.pem" "$c/partial.key" "$c/inter.pem"
	harness_sni_cert "unknownca.example.test" "$c/unknownca.pem" "$c/unknownca.key"
}
serve_matrix good
# Without a server name (no SNI for an address), a certificate for the
# address.
HARNESS_CERT_FILE=$certs/ipaddr.pem
HARNESS_KEY_FILE=$certs/ipaddr.key
HARNESS_CHAIN_FILE=$certs/inter.pem
harness_restart

harness_add_messages alice 3 --profile small
server_expected alice "$work/expected"

# cert_pin FILE / key_pin FILE: "sha256:AB:..." of a certificate, and
# "pubkey-sha256:AB:..." of its DER SubjectPublicKeyInfo.
colons() { sed 's/../&:/g; s/:$//' | tr a-f A-F; }
cert_pin() {
	local out
	out=$(openssl x509 -in "$1" -noout -fingerprint -sha256) || tap_bail "cannot read $1"
	printf 'sha256:%s\n' "${out#*=}"
}
key_pin() {
	local hex
	hex=$(openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER |
		openssl dgst -sha256 | sed 's/.*= *//') || tap_bail "cannot hash the key of $1"
	printf 'pubkey-sha256:%s\n' "$(printf '%s' "$hex" | colons)"
}
# The same pin with its last hex digit changed.
wrong() {
	case $1 in
	*0) printf '%s1\n' "${1%?}" ;;
	*) printf '%s0\n' "${1%?}" ;;
	esac
}
# Hex digits only, lower case: to find a fingerprint in any spelling.
bare_hex() { printf '%s' "${1#*:}" | tr -d : | tr A-F a-f; }

good_cert_pin=$(cert_pin "$certs/good.pem")
good_key_pin=$(key_pin "$certs/good.pem")
self_pin=$(cert_pin "$certs/selfsigned.pem")
root=$certs/root.pem

# run_case NAME TRANSPORT SERVER_NAME [KEY=VALUE...]: one yubin run of a
# fresh account (an empty SERVER_NAME: no tls_server_name); sets CASE (the
# account, for messages), CASE_PORT and CASE_MAILDIR.
run_case() {
	local name=$1 transport=$2 server_name=$3 protocol tls
	shift 3
	case $transport in
	imaps) protocol=imap tls=implicit CASE_PORT=$(harness_port imaps) ;;
	pop3s) protocol=pop3 tls=implicit CASE_PORT=$(harness_port pop3s) ;;
	imap-starttls) protocol=imap tls=starttls CASE_PORT=$(harness_port imap) ;;
	pop3-stls) protocol=pop3 tls=starttls CASE_PORT=$(harness_port pop3) ;;
	relay-imaps) protocol=imap tls=implicit CASE_PORT=$RELAY_IMAP_PORT ;;
	relay-pop3s) protocol=pop3 tls=implicit CASE_PORT=$RELAY_POP3_PORT ;;
	*) tap_bail "no transport $transport" ;;
	esac
	CASE=$name-$transport
	CASE_MAILDIR=$work/$CASE/Maildir
	harness_write_config "$work/$CASE.yaml" "$CASE" "$protocol" "$tls" "$CASE_PORT" \
		alice "$(harness_password alice)" "$CASE_MAILDIR" \
		state_dir="$work/$CASE/state" tls_ca_file="$root" \
		tls_server_name="$server_name" "$@"
	yubin_run "$CASE" -- -c "$work/$CASE.yaml"
}

# accepted NAME TRANSPORTS SERVER_NAME [KEY=VALUE...]: two checks a transport.
accepted() {
	local name=$1 transports=$2 server_name=$3 transport
	shift 3
	for transport in $transports; do
		run_case "$name" "$transport" "$server_name" "$@"
		tap_status_is 0 "$CASE: accepted"
		tap_delivered_exactly "$work/expected" "$CASE_MAILDIR" \
			"$CASE: the 3 messages delivered, byte-identical"
	done
}

# refused WHY NAME TRANSPORTS SERVER_NAME [KEY=VALUE...]: three checks a
# transport; WHY is an extended regular expression for the reason.
refused() {
	local why=$1 name=$2 transports=$3 server_name=$4 transport peer
	shift 4
	peer="(127\.0\.0\.1${server_name:+|$server_name}):"
	for transport in $transports; do
		run_case "$name" "$transport" "$server_name" "$@"
		tap_status_is 69 "$CASE: refused with exit 69"
		tap_is "$(maildir_count "$CASE_MAILDIR")" 0 "$CASE: nothing delivered"
		if grep -qE "$peer$CASE_PORT" "$RUN_ERR" &&
			grep -qiE "$why" "$RUN_ERR"; then
			tap_ok "$CASE: stderr names the server and says why"
		else
			tap_not_ok "$CASE: stderr names the server and says why" \
				"wanted 127.0.0.1:$CASE_PORT and /$why/; $(run_summary)"
		fi
	done
}

# stderr_has_pin PIN DESC: the fingerprint of PIN on the last run's
# stderr, in any spelling.
stderr_has_pin() {
	if tr -d : <"$RUN_ERR" | tr A-F a-f | grep -qF "$(bare_hex "$1")"; then
		tap_ok "$2"
	else
		tap_not_ok "$2" "wanted $1; $(run_summary)"
	fi
}

warned() {
	if grep -qi 'warning.*tls_verify' "$RUN_ERR"; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "no tls_verify warning; $(run_summary)"
	fi
}

all4="imaps pop3s imap-starttls pop3-stls"

# The chain: root -> intermediate -> leaf, the intermediate sent along.
accepted trusted "$all4" good.example.test

# Self-signed: refused unless pinned; a matching pin is a trust anchor
# of its own, taken without tls_verify: false and without a warning.
refused 'self.signed' selfsigned "imaps pop3s imap-starttls" selfsigned.example.test
accepted selfsigned-pinned-verified imaps selfsigned.example.test \
	tls_fingerprint="$self_pin"
tap_check "$CASE: a matching pin is no cause for a warning" test ! -s "$RUN_ERR"
for transport in imaps pop3s; do
	accepted selfsigned-pinned "$transport" selfsigned.example.test \
		tls_fingerprint="$self_pin" tls_verify=false tls_ca_file=
	warned "$CASE: tls_verify: false is warned about"
done
yubin_run "$CASE-again" -- -c "$work/$CASE.yaml"
tap_status_is 0 "$CASE: a second run exits 0"
warned "$CASE: and warns again"

# Validity period.
refused 'expired' expired "imaps pop3s pop3-stls" expired.example.test
refused 'not yet valid' notyet "imaps pop3s" notyet.example.test

# Names.
mismatch='hostname mismatch|not valid for|does not match'
refused "$mismatch" wronghost "imaps pop3s imap-starttls" wronghost.example.test
refused "$mismatch" wildcard-two-labels "imaps pop3s" a.b.example.test
refused "$mismatch" wildcard-base-name "imaps pop3s" example.test
accepted wildcard-one-label "imaps pop3s" x.example.test
refused "$mismatch" partial-wildcard "imaps pop3s" foo.example.test

# An address is checked against the certificate's IP addresses.
accepted ip-address "imaps pop3s" ""

# Issuers.
issuer='unable to get local issuer|unable to verify the first certificate'
refused "$issuer" unknown-ca "imaps pop3s" unknownca.example.test
# The same certificate as "trusted", without its intermediate.
refused "$issuer" missing-intermediate "imaps pop3s" leafonly.example.test

# Pins (with the usual checks as well).
accepted cert-pin "imaps pop3s" good.example.test tls_fingerprint="$good_cert_pin"
wrong_cert_pin=$(wrong "$good_cert_pin")
for transport in imaps pop3s; do
	refused 'match' cert-pin-wrong "$transport" good.example.test \
		tls_fingerprint="$wrong_cert_pin"
	stderr_has_pin "$good_cert_pin" "$CASE: the message shows the server's fingerprint"
done
accepted pubkey-pin "imaps pop3s pop3-stls" good.example.test tls_fingerprint="$good_key_pin"
wrong_key_pin=$(wrong "$good_key_pin")
for transport in imaps pop3s; do
	refused 'match' pubkey-pin-wrong "$transport" good.example.test \
		tls_fingerprint="$wrong_key_pin"
	stderr_has_pin "$good_key_pin" "$CASE: the message shows the server's public key fingerprint"
done
# One of several, in other spellings: lower case, with and without colons.
lower_cert_pin=$(printf '%s' "$good_cert_pin" | tr A-F a-f)
accepted pin-list "imaps pop3s" good.example.test \
	tls_fingerprint="[\"$wrong_key_pin\", \"sha256:$(bare_hex "$good_cert_pin")\", \"$(wrong "$lower_cert_pin")\"]"
refused 'match' pin-list-none imaps good.example.test \
	tls_fingerprint="[\"$wrong_cert_pin\", \"$wrong_key_pin\"]"

# The certificate re-issued with the same key: the public-key pin holds,
# the certificate pin does not.
reissued_cert_pin=$(cert_pin "$certs/reissued.pem")
if [ "$reissued_cert_pin" != "$good_cert_pin" ] &&
	[ "$(key_pin "$certs/reissued.pem")" = "$good_key_pin" ]; then
	tap_ok "the re-issued certificate has another fingerprint and the same key"
else
	tap_not_ok "the re-issued certificate has another fingerprint and the same key"
fi
serve_matrix reissued
harness_use_cert "$certs/reissued.pem" "$certs/reissued.key" "$certs/inter.pem"
accepted pubkey-pin-reissued "imaps pop3s" good.example.test tls_fingerprint="$good_key_pin"
refused 'match' cert-pin-reissued "imaps pop3s" good.example.test \
	tls_fingerprint="$good_cert_pin"
stderr_has_pin "$reissued_cert_pin" "$CASE: the message shows the new certificate's fingerprint"
# Reached by its address, the server now presents a certificate for a name.
refused 'IP address mismatch|not valid for' ip-address-not-in-cert "imaps pop3s" ""

# A server that stops at TLS 1.2: Dovecot 2.3 has ssl_min_protocol but no
# maximum, so a relay that speaks TLS 1.2 at most, with the good chain,
# stands in front of Dovecot's plain ports.
# relay_start VAR UPSTREAM_PORT: sets VAR to the relay's port.
relay_start() {
	local portfile=$work/relay-$1.port
	"$PYTHON3" - "$certs/good-chain.pem" "$certs/good.key" "$2" "$portfile" \
		>/dev/null 2>&1 <<-'EOF' &
	import os, select, socket, ssl, sys, threading
	chain, key, upstream, portfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
	ctx.minimum_version = ssl.TLSVersion.TLSv1_2
	ctx.maximum_version = ssl.TLSVersion.TLSv1_2
	ctx.load_cert_chain(chain, key)
	listener = socket.socket()
	listener.bind(("127.0.0.1", 0))
	listener.listen(16)
	with open(portfile + ".new", "w") as f:
	    f.write("%d\n" % listener.getsockname()[1])
	os.rename(portfile + ".new", portfile)

	def serve(raw):
	    raw.settimeout(30)
	    try:
	        tls = ctx.wrap_socket(raw, server_side=True)
	    except (OSError, ssl.SSLError):
	        raw.close()
	        return
	    up = socket.create_connection(("127.0.0.1", upstream), timeout=30)
	    peer = {tls: up, up: tls}
	    try:
	        while True:
	            ready = [tls] if tls.pending() else select.select([tls, up], [], [], 30)[0]
	            if not ready:
	                return
	            for s in ready:
	                data = s.recv(65536)
	                if not data:
	                    return
	                peer[s].sendall(data)
	    except (OSError, ssl.SSLError):
	        pass
	    finally:
	        tls.close()
	        up.close()

	while True:
	    conn, _ = listener.accept()
	    threading.Thread(target=serve, args=(conn,), daemon=True).start()
	EOF
	harness_at_exit "kill $! 2>/dev/null"
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$portfile" ] && break
		sleep 0.1
	done
	[ -s "$portfile" ] || tap_bail "the TLS 1.2 relay did not start"
	printf -v "$1" '%s' "$(cat "$portfile")"
}
relay_start RELAY_IMAP_PORT "$(harness_port imap)"
relay_start RELAY_POP3_PORT "$(harness_port pop3)"
accepted tls12-server "relay-imaps relay-pop3s" good.example.test
refused 'TLS 1\.3' tls12-server-min13 "relay-imaps relay-pop3s" good.example.test \
	tls_min_version=1.3

tap_finish
