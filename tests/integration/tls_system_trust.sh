#!/bin/bash
# The system's trust store (SSL_CERT_FILE, a bundle; SSL_CERT_DIR, a
# hashed directory) vouches for a server as it always has, now that the
# bundle is read only when a chain needs it: a CA in the middle of the
# bundle, or only in the directory, is trusted; tls_ca_file adds to the
# system's trust and does not replace it; a CA in neither is refused
# with exit 69 and nothing delivered.

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
pop3s=$(harness_port pop3s)

# other_ca NAME: a CA that has nothing to do with the server.
other_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$work/$1.key" -out "$work/$1.pem" -days 2 \
		-subj "/CN=$1" >/dev/null 2>&1 || tap_bail "openssl could not make $1"
}
other_ca unrelated-1
other_ca unrelated-2
cat "$work/unrelated-1.pem" "$(harness_ca_file)" "$work/unrelated-2.pem" >"$work/bundle.pem"
mkdir -p "$work/hashed" "$work/empty"
cp "$(harness_ca_file)" "$work/unrelated-1.pem" "$work/hashed/"
openssl rehash "$work/hashed" >/dev/null 2>&1 || tap_bail "openssl rehash failed"

# trust_case NAME STATUS SSL_CERT_FILE SSL_CERT_DIR [KEY=VALUE...]: two checks.
trust_case() {
	local name=$1 status=$2 file=$3 dir=$4
	shift 4
	local maildir=$work/$name/Maildir
	harness_write_config "$work/$name.yaml" "$name" pop3 implicit "$pop3s" \
		alice "$password" "$maildir" state_dir="$work/$name/state" "$@"
	yubin_run "$name" SSL_CERT_FILE="$file" SSL_CERT_DIR="$dir" -- -c "$work/$name.yaml"
	tap_status_is "$status" "$name: exit $status"
	if [ "$status" -eq 0 ]; then
		tap_delivered_exactly "$work/expected" "$maildir" "$name: all 3 delivered, byte-identical"
	else
		tap_is "$(maildir_count "$maildir")" 0 "$name: nothing delivered"
	fi
}

trust_case bundle 0 "$work/bundle.pem" "$work/empty" tls_ca_file=
trust_case hashed-dir 0 "$work/nonexistent.pem" "$work/hashed" tls_ca_file=
trust_case ca-file-adds 0 "$work/bundle.pem" "$work/empty" tls_ca_file="$work/unrelated-1.pem"
trust_case ca-file-alone 0 "$work/unrelated-2.pem" "$work/empty"
trust_case neither 69 "$work/unrelated-2.pem" "$work/empty" tls_ca_file="$work/unrelated-1.pem"
