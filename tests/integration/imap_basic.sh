#!/bin/bash
# IMAP over implicit TLS into a tree of Maildirs: INBOX (with every hostile
# message of genmail.py), a nested folder and a non-ASCII one arrive byte
# for byte; flags become Maildir letters; a second run fetches nothing;
# new mail is fetched alone; a flag set on the server later is mirrored;
# a folder deleted and recreated with the same messages plus new ones
# (a new UIDVALIDITY) gives each message exactly once.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 26
harness_start

work=$(harness_dir)/client
root=$work/Mail
config=$work/config.yaml
alice_imaptool() { imaptool alice "$@"; }
expect_folder() { alice_imaptool expected --folder "$1" >"$2"; }

alice_imaptool append --folder INBOX --count 20 --hostile >/dev/null
alice_imaptool append --folder "Archive/2024" --count 10 --batch 2 >/dev/null
alice_imaptool append --folder "Entwürfe" --count 4 --batch 3 --flags '(\Seen \Flagged)' >/dev/null
expect_folder INBOX "$work/inbox1"
expect_folder "Archive/2024" "$work/archive1"
expect_folder "Entwürfe" "$work/drafts1"
harness_write_config "$config" mail imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$root" \
	folders='["INBOX", "Archive/*", "Entw*"]'

yubin_run first -- -c "$config" --json
tap_status_is 0 "first run exits 0"
tap_json_is accounts.0.fetched 34 "first run fetches 34 messages from three folders"
tap_delivered_exactly "$work/inbox1" "$root" "INBOX (the root Maildir) holds the server's bytes, CRLF -> LF"
tap_delivered_exactly "$work/archive1" "$root/Archive/2024" "Archive/2024 is a nested Maildir with its messages"
tap_delivered_exactly "$work/drafts1" "$root/Entwürfe" "the non-ASCII folder is stored under its UTF-8 name"
tap_tmp_empty "$root" "tmp/ of INBOX is empty"
flagged=$(find "$root/Entwürfe/cur" -name '*:2,FS' | wc -l)
tap_is "$flagged" 4 "\\Seen \\Flagged became Maildir flags FS in cur/"
tap_is "$(find "$root/new" -type f | wc -l)" 20 "unflagged INBOX messages are in new/"

yubin_run second -- -c "$config" --json
tap_status_is 0 "second run exits 0"
tap_json_is accounts.0.fetched 0 "second run fetches nothing"
if [ ! -s "$RUN_ERR" ]; then
	tap_ok "second run prints nothing on stderr"
else
	tap_not_ok "second run prints nothing on stderr" "$(head -c 500 "$RUN_ERR")"
fi

alice_imaptool append --folder INBOX --count 3 --batch 4 >/dev/null
expect_folder INBOX "$work/inbox2"
yubin_run third -- -c "$config" --json
tap_status_is 0 "third run exits 0"
tap_json_is accounts.0.fetched 3 "third run fetches the 3 new messages"
tap_delivered_exactly "$work/inbox2" "$root" "INBOX now holds all 23, each once"

# A flag set on the server is mirrored onto the message fetched before.
alice_imaptool store --folder INBOX --uids 1 --flags '(\Flagged)' >/dev/null
yubin_run flags -- -c "$config" --json
tap_status_is 0 "run after a flag change exits 0"
tap_json_is accounts.0.fetched 0 "a flag change fetches nothing"
mid=$(sed -n 1p "$work/inbox1" | cut -d' ' -f2)
file=$(grep -lF -- "$mid" "$root"/new/* "$root"/cur/* 2>/dev/null | head -n 1)
case $file in
*/cur/*:2,F) tap_ok "the server's \\Flagged is mirrored as F" ;;
*) tap_not_ok "the server's \\Flagged is mirrored as F" "file is '$file'" ;;
esac
tap_delivered_exactly "$work/inbox2" "$root" "renaming for flags lost nothing"

# UIDVALIDITY change: the same 10 messages plus 2 new in a recreated folder.
old_validity=$(alice_imaptool uidvalidity --folder "Archive/2024")
alice_imaptool recreate --folder "Archive/2024" >/dev/null
alice_imaptool append --folder "Archive/2024" --count 10 --batch 2 >/dev/null
alice_imaptool append --folder "Archive/2024" --count 2 --batch 5 >/dev/null
new_validity=$(alice_imaptool uidvalidity --folder "Archive/2024")
tap_check "recreating the folder changed its UIDVALIDITY" test "$old_validity" != "$new_validity"
expect_folder "Archive/2024" "$work/archive2"
yubin_run validity -- -c "$config" --json
tap_status_is 0 "run after the UIDVALIDITY change exits 0"
tap_check "the UIDVALIDITY change is reported" grep -q UIDVALIDITY "$RUN_ERR"
tap_json_is accounts.0.fetched 2 "only the 2 new messages are delivered"
tap_delivered_exactly "$work/archive2" "$root/Archive/2024" "Archive/2024 holds each of the 12 exactly once"
yubin_run after-validity -- -c "$config" --json
tap_json_is accounts.0.fetched 0 "the run after that fetches nothing"
tap_delivered_exactly "$work/archive2" "$root/Archive/2024" "and still holds each exactly once"
tap_is "$(alice_imaptool count --folder INBOX)" 23 "keep (the default) left INBOX on the server"

tap_finish
