#!/bin/bash
# The interop checks (tests/interop/checks.sh) against Courier's imapd
# (STARTTLS) and pop3d (implicit TLS), unpacked from Debian's packages
# (never installed) and run on 127.0.0.1 in a private mount namespace with
# the harness's certificate.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"
. "$top_srcdir/tests/interop/fetch_debs.sh"
. "$top_srcdir/tests/interop/server_courier.sh"
. "$top_srcdir/tests/interop/checks.sh"

need_yubin
interop_setup
start_log=$(harness_dir)/server/start.log
if ! server_start "$(harness_dir)/server/courier" >"$start_log" 2>&1; then
	sed 's/^/# /' "$start_log"
	tap_bail "Courier did not start (see above)"
fi
interop_checks courier
tap_finish
