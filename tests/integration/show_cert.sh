#!/bin/bash
# yubin --show-cert: the chain and its sha256 fingerprint are shown even
# for a certificate yubin would refuse (so it can be checked and pinned),
# over implicit TLS and after STARTTLS/STLS, and nothing is fetched.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 9
harness_start

work=$(harness_dir)/client
pin=$(harness_fingerprint)
harness_add_messages alice 2
harness_write_config "$work/untrusted.yaml" pops pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "$work/Maildir" tls_ca_file=
yubin_run untrusted -- --show-cert -c "$work/untrusted.yaml"
tap_status_is 0 "--show-cert exits 0 for a certificate it would refuse"
tap_check "it prints the certificate's sha256 fingerprint as tls_fingerprint wants it" \
	grep -qF "tls_fingerprint: \"$pin\"" "$RUN_OUT"
tap_check "and says it is not trusted, and why" grep -q 'NOT trusted: unable to get local issuer' "$RUN_OUT"
tap_check "nothing was fetched" test ! -e "$work/Maildir"

harness_write_config "$work/starttls.yaml" imapst imap starttls "$(harness_port imap)" \
	alice "$(harness_password alice)" "$work/Maildir"
yubin_run starttls -- --show-cert -c "$work/starttls.yaml"
tap_status_is 0 "--show-cert works after IMAP STARTTLS"
tap_check "with the test CA the chain is trusted for the host name" \
	grep -q 'verification: trusted' "$RUN_OUT"
harness_write_config "$work/stls.yaml" stls pop3 starttls "$(harness_port pop3)" \
	alice "$(harness_password alice)" "$work/Maildir"
yubin_run stls -- --show-cert -c "$work/stls.yaml"
tap_check "and after POP3 STLS" grep -qF "$pin" "$RUN_OUT"

harness_write_config "$work/none.yaml" none pop3 none "$(harness_port pop3)" \
	alice "$(harness_password alice)" "$work/Maildir" allow_plaintext=true
yubin_run none -- --show-cert -c "$work/none.yaml"
tap_status_is 64 "an account without TLS is a usage error (64)"
tap_check "saying so" grep -q 'does not use TLS' "$RUN_ERR"

tap_finish
