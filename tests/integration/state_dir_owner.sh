#!/bin/bash
# A state directory another local user made or can change is refused:
# with state_dir in a shared place, whoever creates the account's
# directory first could fill it with links to the victim's files (a
# snapshot.new opened with O_TRUNC, a journal cut as a "torn tail" and
# appended to, a lock created where the link points).  The run exits 78
# naming the directory and why, the victim file is byte-identical, and
# nothing is created through the links.  In a directory of our own, a
# planted snapshot.new is replaced by a new file (the run succeeds) and
# a planted lock link is refused (exit 74), neither followed.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 30
harness_start

work=$(harness_dir)/client
harness_add_messages alice 2 --profile small
password=$(harness_password alice)
pop3s=$(harness_port pop3s)

victim=$work/victim/authorized_keys
mkdir -p -m 700 "$work/victim"
printf 'ssh-ed25519 AAAA precious\n' >"$victim"
cp "$victim" "$work/victim.orig"
# Where a followed lock link would create a file.
nowhere=$work/victim/created-through-a-link

# setup TAG: config at $work/TAG.yaml, state_dir $work/TAG/state (ours,
# 0700), account directory $dir (not created).
setup() {
	local tag=$1
	state=$work/$tag/state
	dir=$state/$tag
	maildir=$work/$tag/Maildir
	harness_write_config "$work/$tag.yaml" "$tag" pop3 implicit "$pop3s" \
		alice "$password" "$maildir" state_dir="$state" timeout=30
	mkdir -p -m 700 "$state"
}

# plant [lock]: the account's directory as an attacker leaves it.  The
# journal is a hard link to the victim (a bad header: "torn", so cut to
# nothing and appended to when used), snapshot.new a symbolic link to
# it; with "lock", lock is a link to where nothing is yet.  Without it,
# a run that used the directory would create its lock there.
plant() {
	mkdir -m 700 "$dir"
	ln "$victim" "$dir/journal"
	ln -s "$victim" "$dir/snapshot.new"
	lock_link=${1-}
	if [ -n "$lock_link" ]; then
		ln -s "$nowhere" "$dir/lock"
	fi
}

# Nothing created through the lock link, or no lock created at all.
no_lock_made() {
	if [ -n "$lock_link" ]; then
		test ! -e "$nowhere"
	else
		test ! -e "$dir/lock"
	fi
}

# refused TAG WHY [ARGS...]: six checks.
refused() {
	local tag=$1 why=$2
	shift 2
	yubin_run "$tag" -- -c "$work/$tag.yaml" "$@"
	tap_status_is 78 "$tag: refused with exit 78"
	tap_check "$tag: the error names the directory" grep -qF "$dir " "$RUN_ERR"
	tap_check "$tag: the error says why ($why)" grep -qF "$why" "$RUN_ERR"
	tap_check "$tag: the victim file is byte-identical" cmp -s "$victim" "$work/victim.orig"
	if [ -n "$lock_link" ]; then
		tap_check "$tag: nothing created through the lock link" no_lock_made
	else
		tap_check "$tag: no lock file created in the directory" no_lock_made
	fi
	tap_is "$(maildir_count "$maildir")" 0 "$tag: nothing delivered"
}

# Another user's directory (uid 65534), as if they made it first.
setup foreign
if [ "$(id -u)" -eq 0 ]; then
	plant
	chown -h 65534:65534 "$dir" "$dir/snapshot.new"
	refused foreign "uid 65534"
	refused foreign "uid 65534" --dry-run
else
	for i in $(seq 12); do
		tap_ok "foreign: check $i # SKIP not root: cannot give a directory to uid 65534"
	done
fi

# Ours, but writable by others: they could plant the same links.
setup open
plant lock
chmod 0777 "$dir"
refused open "mode 0777"

# The directory holding it writable by others (no sticky bit): they
# could rename the account's directory away and put theirs in its place.
setup parent
mkdir -m 700 "$dir"
chmod 0777 "$state"
yubin_run parent -- -c "$work/parent.yaml"
tap_status_is 78 "parent: refused with exit 78"
tap_check "parent: the error names state_dir" grep -qF "$state, which holds" "$RUN_ERR"
tap_check "parent: the error gives the mode" grep -qF "mode 0777" "$RUN_ERR"

# Our own directory with a snapshot.new planted: replaced, not followed.
setup leftover
mkdir -m 700 "$dir"
ln -s "$victim" "$dir/snapshot.new"
yubin_run leftover -- -c "$work/leftover.yaml"
tap_status_is 0 "leftover snapshot.new link: the run succeeds"
tap_check "leftover snapshot.new link: the victim file is byte-identical" \
	cmp -s "$victim" "$work/victim.orig"
tap_check "leftover snapshot.new link: the snapshot was written (compaction ran)" \
	test -f "$dir/snapshot" -a ! -L "$dir/snapshot"
tap_check "leftover snapshot.new link: the link is gone" test ! -L "$dir/snapshot.new" -a ! -e "$dir/snapshot.new"
tap_is "$(maildir_count "$maildir")" 2 "leftover snapshot.new link: both messages delivered"

# Our own directory with a lock link planted: refused, not followed.
setup lock
mkdir -m 700 "$dir"
ln -s "$nowhere" "$dir/lock"
yubin_run lock -- -c "$work/lock.yaml"
tap_status_is 74 "lock link: refused with exit 74"
tap_check "lock link: the error names the lock" grep -qF "$dir/lock" "$RUN_ERR"
tap_check "lock link: nothing created through it" test ! -e "$nowhere"
tap_is "$(maildir_count "$maildir")" 0 "lock link: nothing delivered"
tap_finish
