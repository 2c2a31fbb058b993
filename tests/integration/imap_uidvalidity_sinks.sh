#!/bin/bash
# A new UIDVALIDITY (the folder deleted and recreated with the same
# messages plus new ones) into an mbox and through an MDA: what was
# delivered before is recognised by its bytes and not delivered again,
# the new messages are delivered, each exactly once; and a message the
# user removed from the mbox is delivered again, not claimed.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 14
harness_start

work=$(harness_dir)/client
MBOXCHECK=$top_srcdir/tests/lib/mboxcheck.py
# Give the folder Lists a new UIDVALIDITY: the same 6 messages, then 2 new.
recreate_with_new() {
	local user=$1 old new
	old=$(imaptool "$user" uidvalidity --folder Lists)
	imaptool "$user" recreate --folder Lists >/dev/null
	imaptool "$user" append --folder Lists --count 6 --batch 1 >/dev/null
	imaptool "$user" append --folder Lists --count 2 --batch 9 >/dev/null
	new=$(imaptool "$user" uidvalidity --folder Lists)
	tap_check "$user: recreating the folder changed its UIDVALIDITY" test "$old" != "$new"
}

# Through an MDA that keeps each message it is given in a file.
mda=$work/mda.sh
cat >"$mda" <<'SH'
#!/bin/sh
out=${MDA_OUT:?}
cat >"$out/msg.$(date +%s%N).$$"
SH
chmod +x "$mda"
mkdir -p "$work/mda-out"
handed() { # the SHA-256 of each message the MDA got, sorted
	(cd "$work/mda-out" && for f in msg.*; do sha256sum <"$f" | cut -d' ' -f1; done | sort)
}
imaptool alice append --folder Lists --count 6 --batch 1 >/dev/null
harness_write_config "$work/alice.yaml" alice-mda imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "mda:$mda" folders='[Lists]'
yubin_run mda1 MDA_OUT="$work/mda-out" -- -c "$work/alice.yaml" --json
tap_json_is accounts.0.fetched 6 "MDA: the first run hands over 6"
recreate_with_new alice
yubin_run mda2 MDA_OUT="$work/mda-out" -- -c "$work/alice.yaml" --json
tap_status_is 0 "MDA: the run after the UIDVALIDITY change exits 0"
tap_check "MDA: the change is reported" grep -q UIDVALIDITY "$RUN_ERR"
tap_json_is accounts.0.fetched 2 "MDA: only the 2 new messages are handed over"
tap_is "$(handed | tr '\n' ' ')" "$(imaptool alice expected --folder Lists | cut -d' ' -f1 | sort | tr '\n' ' ')" \
	"MDA: it got each of the 8 exactly once"
yubin_run mda3 MDA_OUT="$work/mda-out" -- -c "$work/alice.yaml" --json
tap_json_is accounts.0.fetched 0 "MDA: the run after that hands over nothing"

# Into an mbox.
imaptool bob append --folder Lists --count 6 --batch 1 >/dev/null
harness_write_config "$work/bob.yaml" bob-mbox imap implicit "$(harness_port imaps)" \
	bob "$(harness_password bob)" "mbox:$work/bob.mbox" folders='[Lists]'
yubin_run mbox1 -- -c "$work/bob.yaml" --json
tap_json_is accounts.0.fetched 6 "mbox: the first run appends 6"
recreate_with_new bob
yubin_run mbox2 -- -c "$work/bob.yaml" --json
tap_status_is 0 "mbox: the run after the UIDVALIDITY change exits 0"
tap_json_is accounts.0.fetched 2 "mbox: only the 2 new messages are appended"
imaptool bob expected --folder Lists --final-newline >"$work/bob-expected"
if report=$("$PYTHON3" "$MBOXCHECK" "$work/bob-expected" "$work/bob.mbox"); then
	tap_ok "mbox: it holds each of the 8 exactly once, byte for byte"
else
	tap_not_ok "mbox: it holds each of the 8 exactly once, byte for byte" "$report"
fi

# The user removes the first message from the mbox; the folder changes
# UIDVALIDITY again: that message is delivered again, nothing else.
"$PYTHON3" - "$work/bob.mbox" <<'PY'
import mailbox, sys
box = mailbox.mbox(sys.argv[1])
box.lock()
box.remove(next(iter(box.keys())))
box.flush()
box.unlock()
PY
imaptool bob recreate --folder Lists >/dev/null
imaptool bob append --folder Lists --count 6 --batch 1 >/dev/null
imaptool bob append --folder Lists --count 2 --batch 9 >/dev/null
yubin_run mbox3 -- -c "$work/bob.yaml" --json
tap_json_is accounts.0.fetched 1 "mbox: the message the user removed is delivered again"
if report=$("$PYTHON3" "$MBOXCHECK" "$work/bob-expected" "$work/bob.mbox"); then
	tap_ok "mbox: and it holds each of the 8 exactly once again"
else
	tap_not_ok "mbox: and it holds each of the 8 exactly once again" "$report"
fi

tap_finish
