#!/bin/bash
# keep: true with delete_after_days: 3.  A message stays on the server
# until 3 days after yubin first fetched it, then a run deletes it (and
# delivers nothing again).  Later runs are run at a shifted clock with
# faketime; messages that arrive later wait for their own 3 days.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
command -v faketime >/dev/null || tap_bail "the faketime command is missing (Debian package faketime)"
tap_plan 22
harness_start

GENMAIL=$top_srcdir/tests/lib/genmail.py
work=$(harness_dir)/client
maildir=$work/Maildir
config=$work/config.yaml

harness_add_messages bob 10
server_expected bob "$work/expected-1"
harness_write_config "$config" aging pop3 implicit "$(harness_port pop3s)" \
	bob "$(harness_password bob)" "$maildir" keep=true delete_after_days=3

# Day 0: everything is fetched and kept.
yubin_run day0 -- -c "$config" --json
tap_status_is 0 "day 0: exits 0"
tap_json_is accounts.0.fetched 10 "day 0: 10 fetched"
tap_json_is accounts.0.deleted 0 "day 0: nothing deleted"
tap_delivered_exactly "$work/expected-1" "$maildir" "day 0: all 10 delivered, byte-identical"
tap_is "$(server_stat bob)" 10 "day 0: the server keeps all 10"

# Day 2: five more arrive and are fetched; nothing is old enough yet.
harness_add_messages bob 5
server_expected bob "$work/expected-all"
comm -13 "$work/expected-1" "$work/expected-all" | cut -d' ' -f2 | sort >"$work/ids-2"
yubin_run_faketime day2 +2d -- -c "$config" --json
tap_status_is 0 "day 2: exits 0"
tap_json_is accounts.0.fetched 5 "day 2: the 5 new messages are fetched"
tap_json_is accounts.0.deleted 0 "day 2: nothing deleted (2 days < 3)"
tap_is "$(server_stat bob)" 15 "day 2: the server keeps all 15"

# Day 4: the first 10 are 4 days old and go; the later 5 are 2 days old.
yubin_run_faketime day4 +4d -- -c "$config" --json
tap_status_is 0 "day 4: exits 0"
tap_json_is accounts.0.fetched 0 "day 4: nothing fetched again"
tap_json_is accounts.0.deleted 10 "day 4: the first 10 deleted"
server_expected bob "$work/left-4"
tap_is "$(cut -d' ' -f2 "$work/left-4" | sort | tr '\n' ' ')" "$(tr '\n' ' ' <"$work/ids-2")" \
	"day 4: exactly the 5 later messages are still on the server"
tap_delivered_exactly "$work/expected-all" "$maildir" "day 4: the Maildir still holds all 15 once"

# Day 4 again: nothing changes.
yubin_run_faketime day4b +4d -- -c "$config" --json
tap_json_is accounts.0.deleted 0 "day 4, second run: nothing more deleted"
tap_is "$(server_stat bob)" 5 "day 4, second run: 5 still on the server"

# Day 6: the later 5 are 4 days old and go too.
yubin_run_faketime day6 +6d -- -c "$config" --json
tap_status_is 0 "day 6: exits 0"
tap_json_is accounts.0.deleted 5 "day 6: the later 5 deleted"
tap_is "$(server_stat bob)" 0 "day 6: the server is empty"
tap_delivered_exactly "$work/expected-all" "$maildir" "day 6: the Maildir holds all 15 once, byte-identical"
tap_tmp_empty "$maildir" "day 6: tmp/ is empty"

# Back at the real date: nothing to fetch, nothing to delete.
yubin_run day0b -- -c "$config" --json
tap_status_is 0 "a run at the real date afterwards exits 0"

tap_finish
