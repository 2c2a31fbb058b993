#!/bin/bash
# The interop checks (tests/interop/checks.sh) against popa3d, a minimal
# POP3 server without TLS, unpacked from Debian's package (never
# installed), run per connection behind a TLS front on 127.0.0.1 in a
# private mount namespace (see tests/interop/server_popa3d.sh).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"
. "$top_srcdir/tests/interop/fetch_debs.sh"
. "$top_srcdir/tests/interop/server_popa3d.sh"
. "$top_srcdir/tests/interop/checks.sh"

need_yubin
interop_setup
start_log=$(harness_dir)/server/start.log
if ! server_start "$(harness_dir)/server/popa3d" >"$start_log" 2>&1; then
	sed 's/^/# /' "$start_log"
	tap_bail "popa3d did not start (see above)"
fi
interop_checks popa3d
tap_finish
