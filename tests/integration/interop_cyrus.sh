#!/bin/bash
# The interop checks (tests/interop/checks.sh) against Cyrus IMAP's imapd
# and pop3d, unpacked from Debian's packages (never installed) and run on
# 127.0.0.1 over implicit TLS with the harness's certificate.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"
. "$top_srcdir/tests/interop/fetch_debs.sh"
. "$top_srcdir/tests/interop/server_cyrus.sh"
. "$top_srcdir/tests/interop/checks.sh"

need_yubin
interop_setup
start_log=$(harness_dir)/server/start.log
if ! server_start "$(harness_dir)/server/cyrus" >"$start_log" 2>&1; then
	sed 's/^/# /' "$start_log"
	tap_bail "Cyrus IMAP did not start (see above)"
fi
interop_checks cyrus
tap_finish
