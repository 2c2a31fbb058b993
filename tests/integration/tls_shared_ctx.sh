#!/bin/bash
# Accounts of one run share a TLS context when their TLS settings match,
# and only then: in one account file, accounts that trust the server
# (its CA in tls_ca_file, or a pin of its certificate) fetch, and
# accounts between them that do not (no tls_ca_file and a system store
# without that CA, a pin of another certificate) are refused, whatever
# the order and with or without -j.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 26
harness_start

work=$(harness_dir)/client
harness_add_messages alice 3 --profile small
server_expected alice "$work/expected"
password=$(harness_password alice)
pop3s=$(harness_port pop3s)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$work/other.key" -out "$work/other.pem" -days 2 \
	-subj "/CN=other" >/dev/null 2>&1 || tap_bail "openssl could not make a CA"
other_pin=$(openssl x509 -in "$work/other.pem" -noout -fingerprint -sha256) ||
	tap_bail "openssl could not read that CA"
other_pin=sha256:${other_pin#*=}
mkdir -p "$work/empty"

# The accounts, in this order; "yes" fetches, "no" is refused.
accounts=(ca1:yes system1:no ca2:yes wrongpin:no pin:yes system2:no)

# account_keys NAME: the TLS keys of account NAME.
account_keys() {
	case $1 in
	ca*) echo "tls_ca_file=$(harness_ca_file)" ;;
	system*) echo "tls_ca_file=" ;;
	wrongpin) echo "tls_ca_file= tls_fingerprint=$other_pin" ;;
	pin) echo "tls_ca_file= tls_fingerprint=$(harness_fingerprint)" ;;
	esac
}

# shared_case JOBS: one run of every account with -j JOBS; 1 + 2 checks
# an account.
shared_case() {
	local jobs=$1 dir=$work/j$1 entry name want
	mkdir -p "$dir"
	echo 'accounts:' >"$dir/all.yaml"
	for entry in "${accounts[@]}"; do
		name=${entry%%:*}
		# shellcheck disable=SC2046 # the keys are words
		harness_write_config "$dir/one.yaml" "$name" pop3 implicit "$pop3s" \
			alice "$password" "$dir/$name/Maildir" \
			state_dir="$dir/$name/state" $(account_keys "$name")
		tail -n +2 "$dir/one.yaml" >>"$dir/all.yaml"
	done
	chmod 600 "$dir/all.yaml"
	yubin_run "j$jobs" SSL_CERT_FILE="$work/other.pem" SSL_CERT_DIR="$work/empty" \
		-- -c "$dir/all.yaml" -j "$jobs"
	tap_status_is 69 "-j $jobs: exit 69, for the accounts refused"
	for entry in "${accounts[@]}"; do
		name=${entry%%:*} want=${entry#*:}
		if [ "$want" = yes ]; then
			tap_delivered_exactly "$work/expected" "$dir/$name/Maildir" \
				"-j $jobs: $name trusts the server: all 3 delivered"
			tap_check "-j $jobs: $name: no error" \
				bash -c '! grep -q "^yubin: $1: error" "$2"' _ "$name" "$RUN_ERR"
		else
			tap_is "$(maildir_count "$dir/$name/Maildir")" 0 \
				"-j $jobs: $name does not: nothing delivered"
			tap_check "-j $jobs: $name: the certificate is named as the reason" \
				grep -q "^yubin: $name: error: TLS certificate" "$RUN_ERR"
		fi
	done
}

shared_case 1
shared_case 3
tap_finish
