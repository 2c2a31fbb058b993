#!/bin/bash
# TLS verification fails closed: an untrusted certificate (no tls_ca_file
# for the private test CA, another CA, a certificate for another name) is
# refused with exit 69, nothing is delivered and no state is recorded.
# Certificate pinning (tls_fingerprint): the right pin with the CA works,
# a wrong pin is refused even with the CA or with tls_verify: false, and
# the right pin with tls_verify: false needs no CA.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 25
harness_start

work=$(harness_dir)/client
harness_add_messages alice 5 --profile small
server_expected alice "$work/expected"
password=$(harness_password alice)
pin=$(harness_fingerprint)
# The same pin with its last hex digit changed.
last=${pin: -1}
if [ "$last" = 0 ]; then wrong_pin=${pin%?}1; else wrong_pin=${pin%?}0; fi

# refused_case NAME TLS PORT [KEY=VALUE...]: three checks.
refused_case() {
	local name=$1 tls=$2 port=$3
	shift 3
	local maildir=$work/$name/Maildir state=$work/$name/state
	harness_write_config "$work/$name.yaml" "$name" pop3 "$tls" "$port" \
		alice "$password" "$maildir" state_dir="$state" "$@"
	yubin_run "$name" -- -c "$work/$name.yaml"
	tap_status_is 69 "$name: refused with exit 69"
	tap_is "$(maildir_count "$maildir")" 0 "$name: nothing delivered"
	# The lock file may be there; a snapshot or journal may not.
	tap_is "$(ls -A "$state/$name" 2>/dev/null | grep -vx lock)" "" "$name: no state recorded"
}

# accepted_case NAME TLS PORT [KEY=VALUE...]: two checks.
accepted_case() {
	local name=$1 tls=$2 port=$3
	shift 3
	local maildir=$work/$name/Maildir
	harness_write_config "$work/$name.yaml" "$name" pop3 "$tls" "$port" \
		alice "$password" "$maildir" state_dir="$work/$name/state" "$@"
	yubin_run "$name" -- -c "$work/$name.yaml"
	tap_status_is 0 "$name: accepted, exit 0"
	tap_delivered_exactly "$work/expected" "$maildir" "$name: all 5 delivered, byte-identical"
}

pop3s=$(harness_port pop3s)
pop3=$(harness_port pop3)

refused_case implicit-no-ca implicit "$pop3s" tls_ca_file=
refused_case starttls-no-ca starttls "$pop3" tls_ca_file=
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$work/other-ca.key" -out "$work/other-ca.pem" -days 2 \
	-subj "/CN=another CA" >/dev/null 2>&1 || tap_bail "openssl could not make a second CA"
refused_case implicit-other-ca implicit "$pop3s" tls_ca_file="$work/other-ca.pem"

accepted_case pin-and-ca implicit "$pop3s" tls_fingerprint="$pin"
refused_case wrong-pin-and-ca implicit "$pop3s" tls_fingerprint="$wrong_pin"
accepted_case pin-no-verify implicit "$pop3s" tls_fingerprint="$pin" tls_verify=false tls_ca_file=
refused_case wrong-pin-no-verify implicit "$pop3s" tls_fingerprint="$wrong_pin" tls_verify=false tls_ca_file=

# tls_verify: false without a pin works, and says so on stderr.
accepted_case no-verify implicit "$pop3s" tls_verify=false tls_ca_file=
if [ -s "$RUN_ERR" ]; then
	tap_ok "tls_verify: false is warned about on stderr"
else
	tap_not_ok "tls_verify: false is warned about on stderr" "stderr was empty"
fi

# A certificate from the trusted CA, but for another name.
harness_reissue_cert "DNS:other.example"
refused_case wrong-name implicit "$(harness_port pop3s)"

tap_finish
