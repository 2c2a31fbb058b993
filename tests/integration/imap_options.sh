#!/bin/bash
# IMAP options: a dry run counts and changes nothing; STARTTLS with
# keep: false empties the folder only of what was delivered; layout:
# maildir++ lays folders out as Dovecot does; inbox: folder puts INBOX in
# its own Maildir.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 19
harness_start

work=$(harness_dir)/client

# Dry run.
imaptool alice append --count 6 >/dev/null
imaptool alice append --folder "Archive/2024" --count 3 --batch 2 >/dev/null
harness_write_config "$work/dry.yaml" dry imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/dry/Mail"
yubin_run dry -- -c "$work/dry.yaml" -n --json
tap_status_is 0 "a dry run exits 0"
tap_json_is accounts.0.new 6 "a dry run counts 6 new in INBOX"
tap_check "a dry run creates no Maildir" test ! -e "$work/dry/Mail"
tap_is "$(ls -A "$work/state/dry" 2>/dev/null | grep -vx lock)" "" "a dry run records no state"

# STARTTLS and keep: false.
imaptool bob append --count 8 --hostile >/dev/null
imaptool bob expected >"$work/bob-expected"
harness_write_config "$work/bob.yaml" bob imap starttls "$(harness_port imap)" \
	bob "$(harness_password bob)" "$work/bob/Mail" keep=false
yubin_run bob -- -c "$work/bob.yaml" --json
tap_status_is 0 "STARTTLS with keep: false exits 0"
tap_json_is accounts.0.deleted 8 "8 messages deleted on the server"
tap_delivered_exactly "$work/bob-expected" "$work/bob/Mail" "all 8 delivered byte for byte"
tap_is "$(imaptool bob count)" 0 "the folder on the server is empty"
imaptool bob append --count 2 --batch 7 >/dev/null
yubin_run bob2 -- -c "$work/bob.yaml" --json
tap_json_is accounts.0.fetched 2 "new mail after that is fetched"
tap_is "$(maildir_count "$work/bob/Mail")" 10 "and the Maildir holds 10"

# layout: maildir++ and inbox: folder.
harness_write_config "$work/pp.yaml" pp imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/pp/Mail" \
	folders='[INBOX, "Archive/*"]' layout=maildir++
yubin_run pp -- -c "$work/pp.yaml" --json
tap_status_is 0 "layout: maildir++ exits 0"
tap_is "$(maildir_count "$work/pp/Mail/.Archive.2024")" 3 "Archive/2024 is .Archive.2024 under the root"
tap_is "$(maildir_count "$work/pp/Mail")" 6 "INBOX is the root"
harness_write_config "$work/vb.yaml" vb imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/vb/Mail" \
	folders='[INBOX, "Archive/*"]' inbox=folder
yubin_run vb -- -c "$work/vb.yaml" --json
tap_is "$(maildir_count "$work/vb/Mail/INBOX")" 6 "inbox: folder puts INBOX in INBOX/"
tap_is "$(maildir_count "$work/vb/Mail/Archive/2024")" 3 "and Archive/2024 beside it"

# delete_after_days: kept at first, expunged once old enough.
imaptool carol append --count 4 --batch 8 >/dev/null
harness_write_config "$work/aged.yaml" aged imap implicit "$(harness_port imaps)" \
	carol "$(harness_password carol)" "$work/aged/Mail" delete_after_days=3
yubin_run aged1 -- -c "$work/aged.yaml" --json
tap_json_is accounts.0.fetched 4 "delete_after_days: the first run fetches 4"
tap_is "$(imaptool carol count)" 4 "and keeps them on the server"
yubin_run_faketime aged2 +4d -- -c "$work/aged.yaml" --json
tap_json_is accounts.0.deleted 4 "four days later they are deleted"
tap_is "$(imaptool carol count)" 0 "and the folder on the server is empty"

tap_finish
