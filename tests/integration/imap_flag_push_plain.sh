#!/bin/bash
# sync_flags: both with a server that hides CONDSTORE and QRESYNC: the
# same cases as imap_flag_push.sh, pushed with plain +FLAGS/-FLAGS.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
FLAG_PUSH_PLAIN=1
. "$top_srcdir/tests/integration/imap_flag_push.sh"
