#!/bin/bash
# Flags without CONDSTORE/QRESYNC: the server hides both; sync_flags: full
# mirrors a flag change with one FLAGS listing, and the default (auto)
# leaves fetched messages alone.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 8
HARNESS_IMAP_CAPABILITY="IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ NAMESPACE UIDPLUS UNSELECT CHILDREN"
harness_start

work=$(harness_dir)/client
alice_imaptool() { imaptool alice "$@"; }
file_of() { grep -lF -- "$1" "$2"/new/* "$2"/cur/* 2>/dev/null | head -n 1; }

alice_imaptool append --count 5 >/dev/null
alice_imaptool expected >"$work/expected"
mid2=$(sed -n 2p "$work/expected" | cut -d' ' -f2)
mid3=$(sed -n 3p "$work/expected" | cut -d' ' -f2)
harness_write_config "$work/full.yaml" full imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/full/Mail" sync_flags=full
harness_write_config "$work/auto.yaml" auto imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/auto/Mail"
yubin_run full1 -- -c "$work/full.yaml" --json
tap_status_is 0 "sync_flags: full, first run exits 0"
yubin_run auto1 -- -c "$work/auto.yaml" --json
tap_status_is 0 "sync_flags: auto, first run exits 0"
tap_delivered_exactly "$work/expected" "$work/full/Mail" "all 5 delivered byte for byte"

alice_imaptool store --uids 2 --flags '(\Seen)' >/dev/null
alice_imaptool store --uids 3 --flags '(\Answered \Flagged)' >/dev/null
yubin_run full2 -- -c "$work/full.yaml" --json
tap_status_is 0 "sync_flags: full, second run exits 0"
case $(file_of "$mid2" "$work/full/Mail") in
*/cur/*:2,S) tap_ok "\\Seen set on the server became S" ;;
*) tap_not_ok "\\Seen set on the server became S" "$(file_of "$mid2" "$work/full/Mail")" ;;
esac
case $(file_of "$mid3" "$work/full/Mail") in
*/cur/*:2,FR) tap_ok "\\Answered \\Flagged became FR" ;;
*) tap_not_ok "\\Answered \\Flagged became FR" "$(file_of "$mid3" "$work/full/Mail")" ;;
esac
yubin_run auto2 -- -c "$work/auto.yaml" --json
case $(file_of "$mid2" "$work/auto/Mail") in
*/new/*) tap_ok "without CONDSTORE, sync_flags: auto leaves fetched messages alone" ;;
*) tap_not_ok "without CONDSTORE, sync_flags: auto leaves fetched messages alone" "$(file_of "$mid2" "$work/auto/Mail")" ;;
esac
tap_delivered_exactly "$work/expected" "$work/full/Mail" "renaming for flags lost nothing"

tap_finish
