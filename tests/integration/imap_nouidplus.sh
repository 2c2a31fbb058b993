#!/bin/bash
# keep: false on a server without UIDPLUS: a plain EXPUNGE would also
# remove what another client marked, so with the default expunge: uid
# yubin marks its own messages \Deleted (and nothing else), leaves them
# there and says so; expunge: all lets it remove them.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 10
HARNESS_IMAP_CAPABILITY="IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ NAMESPACE UNSELECT CHILDREN"
harness_start

work=$(harness_dir)/client
imaptool alice append --count 3 >/dev/null
imaptool alice expected >"$work/expected"
harness_write_config "$work/uid.yaml" nouidplus imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/Mail" keep=false
yubin_run first -- -c "$work/uid.yaml" --json
tap_status_is 0 "keep: false without UIDPLUS exits 0"
tap_delivered_exactly "$work/expected" "$work/Mail" "all 3 delivered byte for byte"
tap_check "the warning says UIDPLUS is missing and names expunge: all" \
	grep -q "lacks UIDPLUS.*marked .Deleted.*expunge: all" "$RUN_ERR"
tap_is "$(imaptool alice count)" 3 "the 3 messages are still on the server"
tap_is "$(imaptool alice flags | grep -c '\\Deleted')" 3 "each is marked \\Deleted there"

# A message another client reads later is not touched by yubin's STORE.
imaptool alice append --count 1 --batch 2 >/dev/null
yubin_run second -- -c "$work/uid.yaml" --json
tap_json_is accounts.0.fetched 1 "a second run fetches only the new message"
tap_is "$(imaptool alice flags | grep -c '\\Deleted')" 4 "and marks it too"

harness_write_config "$work/all.yaml" nouidplus imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/Mail" keep=false expunge=all
imaptool alice append --count 1 --batch 3 >/dev/null
imaptool alice expected >"$work/expected-all"
yubin_run third -- -c "$work/all.yaml" --json
tap_status_is 0 "expunge: all exits 0"
tap_is "$(imaptool alice count)" 0 "and empties the folder with a plain EXPUNGE"
tap_is "$(maildir_count "$work/Mail")" 5 "the Maildir holds all 5, once each"

tap_finish
