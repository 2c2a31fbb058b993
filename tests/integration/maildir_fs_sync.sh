#!/bin/bash
# A batch of Maildir files made durable by one sync of their filesystem:
# where yubin trusts that (ext4, XFS or Btrfs, on Linux 5.8 or later)
# fetches of 300 messages over POP3 and over IMAP make every batch of two
# or more files durable with it, and deliver each message byte for byte;
# with those syncs used up (YUBIN_TEST_FS_SYNCS), or anywhere else, each
# file is synced alone with the same result; a batch of one file is always
# synced alone.  YUBIN_TEST_FS_SYNC_LOOK=0 leaves out the look at the
# system's unwritten bytes, so that a busy machine does not change the
# counts.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 20
harness_start

work=$(harness_dir)/client
mkdir -p "$work"
fstype=$(findmnt -n -o FSTYPE --target "$work") || tap_bail "findmnt cannot name the filesystem of $work"
kernel=$(uname -r)
trusted=no
case $fstype in
ext4 | xfs | btrfs)
	major=${kernel%%.*} rest=${kernel#*.} minor=${rest%%[!0-9]*}
	if [ "$major" -gt 5 ] || { [ "$major" -eq 5 ] && [ "$minor" -ge 8 ]; }; then
		trusted=yes
	fi ;;
esac
tap_diag "filesystem $fstype, kernel $kernel: one sync of the filesystem expected: $trusted"

# fs_synced ERR: the messages the run's batches made durable by syncfs.
fs_synced() {
	sed -n 's/.*: \([0-9][0-9]*\) messages made durable by one sync of the filesystem$/\1/p' "$1" |
		awk '{ n += $1 } END { print n + 0 }'
}

# fs_syncs ERR: how many batches were.
fs_syncs() {
	grep -c 'made durable by one sync of the filesystem$' "$1"
}

harness_add_messages alice 300 --profile small
server_expected alice "$work/expected-pop3"
imaptool bob append --count 300 --profile small >/dev/null

check_run() { # TAG MAILDIR EXPECTED FS_SYNCED BATCHES WHAT
	tap_status_is 0 "$6: exits 0"
	tap_delivered_exactly "$3" "$2" "$6: every message delivered once, byte for byte"
	tap_tmp_empty "$2" "$6: tmp/ is empty"
	tap_is "$(fs_synced "$RUN_ERR")/$(fs_syncs "$RUN_ERR")" "$4/$5" \
		"$6: messages made durable by one sync of the filesystem / batches"
}

if [ $trusted = yes ]; then all=300 batches=3 one=128; else all=0 batches=0 one=0; fi

config=$work/pop3.yaml
harness_write_config "$config" fs-pop3 pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "$work/pop3/Mail"
yubin_run pop3 YUBIN_TEST_FS_SYNC_LOOK=0 -- -c "$config" -v -v
check_run pop3 "$work/pop3/Mail" "$work/expected-pop3" $all $batches "POP3, 300 new"

config=$work/imap.yaml
harness_write_config "$config" fs-imap imap implicit "$(harness_port imaps)" \
	bob "$(harness_password bob)" "$work/imap/Mail"
yubin_run imap YUBIN_TEST_FS_SYNC_LOOK=0 -- -c "$config" -v -v
tap_status_is 0 "IMAP, 300 new: exits 0"
tap_is "$(maildir_count "$work/imap/Mail")" 300 "IMAP, 300 new: 300 delivered"
tap_tmp_empty "$work/imap/Mail" "IMAP, 300 new: tmp/ is empty"
tap_is "$(fs_synced "$RUN_ERR")/$(fs_syncs "$RUN_ERR")" "$all/$batches" \
	"IMAP, 300 new: messages made durable by one sync of the filesystem / batches"

config=$work/none.yaml
harness_write_config "$config" fs-none pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "$work/none/Mail"
yubin_run none YUBIN_TEST_FS_SYNC_LOOK=0 YUBIN_TEST_FS_SYNCS=0 -- -c "$config" -v -v
check_run none "$work/none/Mail" "$work/expected-pop3" 0 0 "no filesystem syncs left"

config=$work/first.yaml
harness_write_config "$config" fs-first pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "$work/first/Mail"
yubin_run first YUBIN_TEST_FS_SYNC_LOOK=0 YUBIN_TEST_FS_SYNCS=1 -- -c "$config" -v -v
if [ $trusted = yes ]; then b=1; else b=0; fi
check_run first "$work/first/Mail" "$work/expected-pop3" $one $b "one filesystem sync, then file by file"

harness_add_messages alice 1 --profile small
server_expected alice "$work/expected-pop3-301"
config=$work/pop3.yaml
harness_write_config "$config" fs-pop3 pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "$work/pop3/Mail"
yubin_run pop3-one YUBIN_TEST_FS_SYNC_LOOK=0 -- -c "$config" -v -v
check_run pop3-one "$work/pop3/Mail" "$work/expected-pop3-301" 0 0 "a batch of one"

tap_finish
