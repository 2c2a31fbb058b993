#!/bin/bash
# A full disk: the Maildir, then an mbox, on a small tmpfs.  The run fails
# with 74 (local I/O error), nothing torn is visible (every delivered
# message is whole), and once there is room again the next run completes
# the fetch with every message exactly once.  Needs root, or a kernel
# that lets unshare(1) mount in a user namespace.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
if [ "$(id -u)" -ne 0 ] && [ -z "${DISK_FULL_IN_NS-}" ]; then
	# Re-run this script inside a private user and mount namespace.
	command -v unshare >/dev/null || { echo "1..1"; echo "not ok 1 - disk_full.sh needs root or unshare"; exit 1; }
	DISK_FULL_IN_NS=1 exec unshare -rm --propagation private bash "$0"
fi
tap_plan 10
harness_start

work=$(harness_dir)/client
small=$work/small
mkdir -p "$small"
mount -t tmpfs -o size=600k tmpfs "$small" || tap_bail "cannot mount a tmpfs on $small"
harness_at_exit "umount -l '$small' 2>/dev/null"

harness_add_messages alice 30 --profile mixed
"$PYTHON3" "$top_srcdir/tests/lib/genmail.py" expected --port "$(harness_port pop3)" \
	--user alice --password "$(harness_password alice)" >"$work/expected"
"$PYTHON3" "$top_srcdir/tests/lib/genmail.py" expected --port "$(harness_port pop3)" \
	--user alice --password "$(harness_password alice)" --final-newline >"$work/expected-mbox"

# Maildir.
harness_write_config "$work/md.yaml" full-md pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "$small/Maildir" state_dir="$work/state"
yubin_run md1 -- -c "$work/md.yaml"
tap_status_is 74 "Maildir: a full disk is a local I/O error (74)"
tap_check "the error names the file system's complaint" grep -qi 'no space' "$RUN_ERR"
if report=$("$PYTHON3" "$top_srcdir/tests/lib/genmail.py" invariant "$work/expected" \
	"$work/expected" "$small/Maildir"); then
	tap_ok "Maildir: what was delivered is whole and delivered once"
else
	tap_not_ok "Maildir: what was delivered is whole and delivered once" "$report"
fi
mount -o remount,size=64m "$small" || tap_bail "cannot grow the tmpfs"
yubin_run md2 -- -c "$work/md.yaml"
tap_status_is 0 "Maildir: with room again the next run exits 0"
tap_delivered_exactly "$work/expected" "$small/Maildir" "Maildir: every message exactly once"

# mbox.
rm -rf "$small/Maildir"
mount -o remount,size=600k "$small" || tap_bail "cannot shrink the tmpfs"
harness_write_config "$work/mb.yaml" full-mb pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "mbox:$small/mail.mbox" state_dir="$work/state"
: >"$small/filler"
dd if=/dev/zero of="$small/filler" bs=1k count=300 2>/dev/null
yubin_run mb1 -- -c "$work/mb.yaml"
tap_status_is 74 "mbox: a full disk is a local I/O error (74)"
count=$("$PYTHON3" -c 'import mailbox,sys; print(len(mailbox.mbox(sys.argv[1])))' "$small/mail.mbox" 2>&1)
whole=$("$PYTHON3" - "$small/mail.mbox" "$work/expected-mbox" <<'PY'
import hashlib, mailbox, re, sys
want = {line.split(" ", 1)[0] for line in open(sys.argv[2])}
box = mailbox.mbox(sys.argv[1])
bad = 0
for key in box.keys():
    data = re.sub(rb"^>(>*From )", rb"\1", box.get_bytes(key), flags=re.M)
    if hashlib.sha256(data).hexdigest() not in want:
        bad += 1
print(bad)
PY
)
tap_is "$whole" 0 "mbox: every message in the file is whole ($count after the failure)"
rm -f "$small/filler"
mount -o remount,size=64m "$small" || tap_bail "cannot grow the tmpfs"
yubin_run mb2 -- -c "$work/mb.yaml"
tap_status_is 0 "mbox: with room again the next run exits 0"
if report=$("$PYTHON3" "$top_srcdir/tests/lib/mboxcheck.py" "$work/expected-mbox" "$small/mail.mbox"); then
	tap_ok "mbox: every message exactly once, byte for byte"
else
	tap_not_ok "mbox: every message exactly once, byte for byte" "$report"
fi
tap_check "mbox: no dotlock left" test ! -e "$small/mail.mbox.lock"

tap_finish
