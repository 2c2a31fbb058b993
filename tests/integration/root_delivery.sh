#!/bin/bash
# yubin run as root (as cron jobs often run fetchers) must not be led by
# another user into writing where that user could not.  A Maildir or mbox
# that belongs to someone else is refused (exit 74) naming its owner; a
# symbolic link at tmp/, new/ or cur/, at the mbox file or at its dotlock
# is never followed; and each time nothing is written and the messages
# stay on the server (keep: false).  Root delivering into its own tree
# still gets every message byte for byte.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
if [ "$(id -u)" -ne 0 ]; then
	# Counted as a failure where root is expected (CI), never a silent pass.
	printf '1..0 # SKIP only a run as root is refused; this needs root\n'
	exit 0
fi
tap_plan 42
harness_start

work=$(harness_dir)/client
nobody=65534
password=$(harness_password alice)
pop3s=$(harness_port pop3s)

# Three messages on the server before each run, whatever the run before
# did, so that no case passes only because an earlier one took the mail.
top_up() {
	local have
	have=$(server_stat alice)
	if [ "$have" -lt 3 ]; then
		harness_add_messages alice $((3 - have)) --profile small
	fi
}

# run_as_root TAG DEST [KEY=VALUE...]: one keep: false run into DEST.
run_as_root() {
	local tag=$1 dest=$2
	shift 2
	top_up
	harness_write_config "$work/$tag.yaml" "$tag" pop3 implicit "$pop3s" \
		alice "$password" "$dest" keep=false "$@"
	yubin_run "$tag" -- -c "$work/$tag.yaml"
}

# files_under DIR: how many files (not directories) there are below DIR.
files_under() {
	find "$1" -mindepth 1 ! -type d | wc -l
}

# refused TAG NEEDLE...: exit 74, stderr holding each needle, mail kept.
refused() {
	local tag=$1 needle
	shift
	tap_status_is 74 "$tag: refused with exit 74"
	for needle in "$@"; do
		tap_check "$tag: the error says \"$needle\"" grep -qF -- "$needle" "$RUN_ERR"
	done
	tap_is "$(server_stat alice)" 3 "$tag: the messages are still on the server"
}

# (a) A Maildir of another user's.
maildir=$work/a/Maildir
mkdir -p "$maildir"/{tmp,new,cur}
chown -R "$nobody:$nobody" "$work/a"
run_as_root foreign-maildir "$maildir"
refused foreign-maildir "$maildir" "uid $nobody" "setpriv"
tap_is "$(files_under "$maildir")" 0 "foreign-maildir: nothing written into it"

# (b) A Maildir of root's whose tmp/, new/ or cur/ is a symbolic link.
for sub in tmp new cur; do
	maildir=$work/b-$sub/Maildir
	target=$work/b-$sub/elsewhere
	mkdir -p "$maildir"/{tmp,new,cur} "$target"
	rmdir "$maildir/$sub"
	ln -s "$target" "$maildir/$sub"
	run_as_root "linked-$sub" "$maildir"
	refused "linked-$sub" "$maildir/$sub is a symbolic link"
	# tmp/ would pass files on to new/: count the whole Maildir and target.
	tap_is "$(files_under "$work/b-$sub")" 1 "linked-$sub: nothing written, through the link or not"
done

# (c) An mbox of another user's, and an mbox directory of another user's.
mkdir -p "$work/c"
: >"$work/c/box"
chown "$nobody:$nobody" "$work/c/box"
run_as_root foreign-mbox "mbox:$work/c/box"
refused foreign-mbox "$work/c/box" "uid $nobody"
tap_is "$(stat -c %s "$work/c/box")" 0 "foreign-mbox: nothing appended"
mkdir -p "$work/c2"
chown "$nobody:$nobody" "$work/c2"
run_as_root foreign-mbox-dir "mbox:$work/c2/box"
refused foreign-mbox-dir "$work/c2/box" "uid $nobody"
tap_check "foreign-mbox-dir: no file created there" test ! -e "$work/c2/box"

# (d) In a directory anyone may write in (sticky, like /tmp), another
# user plants a symbolic link at the mbox, or at its dotlock, pointing at
# a file of root's.
mkdir -m 1777 "$work/d"
: >"$work/root-only"
chmod 600 "$work/root-only"
setpriv --reuid=$nobody --regid=$nobody --clear-groups ln -s "$work/root-only" "$work/d/box" ||
	tap_bail "cannot plant a link as uid $nobody"
run_as_root linked-mbox "mbox:$work/d/box"
refused linked-mbox "$work/d/box is a symbolic link"
tap_is "$(stat -c %s "$work/root-only")" 0 "linked-mbox: nothing written through the link"
mkdir -m 1777 "$work/d2"
: >"$work/d2/box"
setpriv --reuid=$nobody --regid=$nobody --clear-groups ln -s "$work/root-lock" "$work/d2/box.lock" ||
	tap_bail "cannot plant a link as uid $nobody"
start=$SECONDS
run_as_root linked-dotlock "mbox:$work/d2/box"
took=$((SECONDS - start))
refused linked-dotlock "$work/d2/box.lock is a symbolic link"
tap_check "linked-dotlock: refused at once, not waited for (${took}s)" test "$took" -le 10
tap_check "linked-dotlock: no file made through the link" test ! -e "$work/root-lock"
tap_is "$(stat -c %s "$work/d2/box")" 0 "linked-dotlock: nothing appended"

# (e) Root into its own Maildir and mbox: every message, byte for byte.
top_up
server_expected alice "$work/expected"
"$PYTHON3" "$CHECKS_GENMAIL" expected --port "$(harness_port pop3)" --user alice \
	--password "$password" --final-newline >"$work/expected-mbox" ||
	tap_bail "the POP3 oracle could not fetch alice's mail"
run_as_root own-maildir "$work/e/Maildir" keep=true
tap_status_is 0 "own-maildir: root into its own Maildir exits 0"
tap_delivered_exactly "$work/expected" "$work/e/Maildir" "own-maildir: every message once, byte for byte"
run_as_root own-mbox "mbox:$work/e/box" keep=true
tap_status_is 0 "own-mbox: root into its own mbox exits 0"
if report=$("$PYTHON3" "$top_srcdir/tests/lib/mboxcheck.py" "$work/expected-mbox" "$work/e/box"); then
	tap_ok "own-mbox: every message once, byte for byte"
else
	tap_not_ok "own-mbox: every message once, byte for byte" "$report"
fi
tap_finish
