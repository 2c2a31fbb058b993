#!/bin/bash
# A Courier-style server: personal namespace "INBOX." with "." between
# levels.  Folder names in the account file use "/" and leave the prefix
# out ("Archive/*"); yubin asks NAMESPACE, lists "INBOX.Archive.*", and
# stores INBOX.Archive.2024 as Archive/2024 under the Maildir root.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 6
HARNESS_IMAP_SEPARATOR=.
HARNESS_IMAP_PREFIX=INBOX.
harness_start

work=$(harness_dir)/client
alice_imaptool() { imaptool alice "$@"; }
alice_imaptool append --count 4 >/dev/null
alice_imaptool append --folder "INBOX.Archive.2024" --count 3 --batch 2 >/dev/null
alice_imaptool append --folder "INBOX.Archive.2023" --count 2 --batch 3 >/dev/null
alice_imaptool append --folder "INBOX.Sent" --count 2 --batch 4 >/dev/null
alice_imaptool expected >"$work/inbox"
alice_imaptool expected --folder "INBOX.Archive.2024" >"$work/a2024"
alice_imaptool expected --folder "INBOX.Sent" >"$work/sent"
harness_write_config "$work/c.yaml" ns imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/Mail" folders='[INBOX, "Archive/*", Sent]'
yubin_run ns -- -c "$work/c.yaml" --json
tap_status_is 0 "a run against a server with an INBOX. namespace exits 0"
tap_json_is accounts.0.fetched 11 "all 11 messages of the four folders are fetched"
tap_delivered_exactly "$work/inbox" "$work/Mail" "INBOX is the root"
tap_delivered_exactly "$work/a2024" "$work/Mail/Archive/2024" "INBOX.Archive.2024 is stored as Archive/2024"
tap_delivered_exactly "$work/sent" "$work/Mail/Sent" "Sent (INBOX.Sent) is stored as Sent"
yubin_run ns2 -- -c "$work/c.yaml" --json
tap_json_is accounts.0.fetched 0 "a second run fetches nothing"

tap_finish
