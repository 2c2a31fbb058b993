#!/bin/bash
# push_deletions with a server that hides CONDSTORE and QRESYNC: the same
# cases as imap_push_deletions.sh, marked with plain +FLAGS.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
PUSH_DELETIONS_PLAIN=1
. "$top_srcdir/tests/integration/imap_push_deletions.sh"
