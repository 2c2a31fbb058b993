#!/bin/bash
# A Courier-style server: personal namespace "INBOX." with "." between
# levels.  Folder names in the account file use "/" and leave the prefix
# out ("Archive/*"); yubin asks NAMESPACE, lists "INBOX.Archive.*", and
# stores INBOX.Archive.2024 as Archive/2024 under the Maildir root.
# A pattern that matches everything ("*") takes INBOX too, though INBOX
# is outside the prefix (LIST "" "INBOX.*" does not list it), and no
# layout puts an INBOX level the user did not ask for in front of the
# other folders; --list-folders says the same.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 16
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

harness_write_config "$work/all.yaml" all imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/All" folders='["*"]'
yubin_run all -- -c "$work/all.yaml" --json
tap_status_is 0 "folders: [\"*\"] exits 0"
tap_json_is accounts.0.fetched 11 "folders: [\"*\"] fetches INBOX's 4 as well as the other 7"
tap_delivered_exactly "$work/inbox" "$work/All" "INBOX is the root, not left out"
tap_delivered_exactly "$work/a2024" "$work/All/Archive/2024" "INBOX.Archive.2024 is Archive/2024, no INBOX level"
tap_check "no INBOX directory was made" test ! -e "$work/All/INBOX"

harness_write_config "$work/pp.yaml" pp imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/PP" folders='["*"]' layout=maildir++
yubin_run pp -- -c "$work/pp.yaml" --json
tap_json_is accounts.0.fetched 11 "layout: maildir++ with [\"*\"] fetches all 11"
tap_delivered_exactly "$work/a2024" "$work/PP/.Archive.2024" "INBOX.Archive.2024 is .Archive.2024, as Courier lays it out"
tap_delivered_exactly "$work/inbox" "$work/PP" "and INBOX is the root"

T=$'\t'
yubin_run list -- -c "$work/all.yaml" --list-folders all
tap_is "$(grep "^INBOX$T" "$RUN_OUT")" "INBOX$T.$T\\HasChildren${T}fetched$T$work/All" \
	"--list-folders: INBOX is fetched, into the root"
tap_is "$(grep "^INBOX.Sent$T" "$RUN_OUT" | cut -f 4-)" "fetched$T$work/All/Sent" \
	"--list-folders: INBOX.Sent is fetched, into Sent"

tap_finish
