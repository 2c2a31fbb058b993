#!/bin/sh
# mkcerts.sh DIR - the certificates of the TLS tests, made with the openssl
# command alone (EC P-256 keys, so it takes a second or two).
#
# Certificate authorities (NAME.pem, NAME.key):
#   root        the trusted root
#   inter       an intermediate CA signed by root; it signs the leaves
#   other-ca    a root nobody is told to trust
#   client-ca   the root the server trusts for client certificates
#
# Server certificates: LEAF.pem is the certificate alone, LEAF-chain.pem
# the certificate followed by the intermediate (what a server must send),
# LEAF.key its key.  Each is valid for LEAF.example.test unless noted:
#   good        signed by inter, valid from yesterday for 30 days
#   reissued    good's key and names again, another serial and validity
#               (a renewal: another certificate fingerprint, the same
#               public key fingerprint)
#   expired     valid from 30 days ago until yesterday
#   notyet      valid from tomorrow
#   wronghost   valid for other.example.test only
#   wildcard    valid for *.example.test only
#   partial     valid for f*.example.test only (a partial wildcard)
#   unknownca   signed by other-ca
#   selfsigned  signed by its own key (no chain file)
#   ipaddr      valid for the address 127.0.0.1 (an IP SAN) only
#
# Client certificates (NAME.pem, NAME.key, for the test user alice):
#   client        CN=alice, signed by client-ca
#   client-other  CN=alice, signed by other-ca (a server must refuse it)
#
# Every key is mode 600.  The dates come from the openssl ca command
# (-startdate/-enddate), so no clock has to be faked.  On failure the
# openssl output goes to stderr and the exit status is 1.

set -u

dir=${1:?usage: mkcerts.sh DIR}
mkdir -p "$dir/db" || exit 1
cd "$dir" || exit 1
log=$dir/mkcerts.log
: >"$log"
umask 077

fail() {
	printf 'mkcerts.sh: %s\n' "$*" >&2
	cat "$log" >&2
	exit 1
}

# A date N days from now (negative: ago) as openssl ca wants it.
day() {
	date -u -d "$1 days" +%Y%m%d%H%M%SZ
}

new_key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1.key" >>"$log" 2>&1 || fail "cannot make the key $1.key"
}

cat >extensions.cnf <<'EOF'
[ req ]
distinguished_name = subject
[ subject ]

[ ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ intermediate ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# The openssl ca configuration of the CA named $1.
ca_config() {
	: >"db/$1.index"
	printf '1000\n' >"db/$1.serial"
	cat >"db/$1.cnf" <<-EOF
	[ ca ]
	default_ca = this_ca
	[ this_ca ]
	database = $dir/db/$1.index
	serial = $dir/db/$1.serial
	new_certs_dir = $dir/db
	certificate = $dir/$1.pem
	private_key = $dir/$1.key
	default_md = sha256
	policy = any_name
	unique_subject = no
	email_in_dn = no
	copy_extensions = none
	[ any_name ]
	commonName = supplied
	EOF
}

# self_signed_ca NAME CN
self_signed_ca() {
	new_key "$1"
	openssl req -new -x509 -key "$1.key" -out "$1.pem" -days 60 \
		-subj "/CN=$2" -config extensions.cnf -extensions ca \
		>>"$log" 2>&1 || fail "cannot make the CA $1"
	ca_config "$1"
}

# sign CA NAME CN START_DAY END_DAY SECTION [SAN]: NAME.pem from NAME.key.
# SECTION names extensions.cnf's section; a SAN makes a server certificate.
sign() {
	local_ca=$1 name=$2 cn=$3 start=$4 end=$5 section=$6
	if [ -n "${7-}" ]; then
		section=server_$name
		cat >>extensions.cnf <<-EOF

		[ $section ]
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature
		extendedKeyUsage = serverAuth
		subjectAltName = $7
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
		EOF
	fi
	openssl req -new -key "$name.key" -out "db/$name.csr" -subj "/CN=$cn" \
		-config extensions.cnf >>"$log" 2>&1 &&
	openssl ca -batch -notext -config "db/$local_ca.cnf" \
		-in "db/$name.csr" -out "$name.pem" \
		-startdate "$(day "$start")" -enddate "$(day "$end")" \
		-extfile extensions.cnf -extensions "$section" >>"$log" 2>&1 ||
		fail "cannot sign $name with $local_ca"
}

# server NAME SAN [START END [CA [KEY_OF]]]
server() {
	name=$1 san=$2 start=${3:--1} end=${4:-30} ca=${5:-inter} key_of=${6-}
	if [ -n "$key_of" ]; then
		cp "$key_of.key" "$name.key" || fail "cannot copy $key_of.key"
	else
		new_key "$name"
	fi
	sign "$ca" "$name" "${san#*:}" "$start" "$end" - "$san"
	if [ "$ca" = inter ]; then
		cat "$name.pem" inter.pem >"$name-chain.pem" || fail "cannot write $name-chain.pem"
	fi
}

self_signed_ca root "yubin test root CA"
self_signed_ca other-ca "yubin test other CA"
self_signed_ca client-ca "yubin test client CA"

new_key inter
sign root inter "yubin test intermediate CA" -1 60 intermediate
ca_config inter

server good DNS:good.example.test
server reissued DNS:good.example.test 0 40 inter good
server expired DNS:expired.example.test -30 -1
server notyet DNS:notyet.example.test 1 30
server wronghost DNS:other.example.test
server wildcard 'DNS:*.example.test'
server partial 'DNS:f*.example.test'
server unknownca DNS:unknownca.example.test -1 30 other-ca
server ipaddr IP:127.0.0.1

new_key selfsigned
cat >>extensions.cnf <<'EOF'

[ selfsigned ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:selfsigned.example.test
subjectKeyIdentifier = hash
EOF
openssl req -new -x509 -key selfsigned.key -out selfsigned.pem -days 30 \
	-subj "/CN=selfsigned.example.test" -config extensions.cnf \
	-extensions selfsigned >>"$log" 2>&1 ||
	fail "cannot make the self-signed certificate"

new_key client
sign client-ca client alice -1 30 client
new_key client-other
sign other-ca client-other alice -1 30 client

chmod 644 ./*.pem
chmod 600 ./*.key
exit 0
