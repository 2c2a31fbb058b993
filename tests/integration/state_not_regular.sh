#!/bin/bash
# A FIFO, a directory or a symbolic link in place of an account's lock,
# snapshot or journal: the run ends at once with exit 74, naming the
# file, and delivers nothing.  A FIFO used to block the run in open()
# past every timeout; a symbolic link was followed.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 36
harness_start

work=$(harness_dir)/client
harness_add_messages alice 2 --profile small
password=$(harness_password alice)
pop3s=$(harness_port pop3s)

# odd_case NAME KIND: four checks.
odd_case() {
	local name=$1 kind=$2
	local tag=$name-$kind
	local state=$work/$tag/state maildir=$work/$tag/Maildir
	local file=$state/$tag/$name
	harness_write_config "$work/$tag.yaml" "$tag" pop3 implicit "$pop3s" \
		alice "$password" "$maildir" state_dir="$state" timeout=30
	mkdir -p -m 700 "$state/$tag"
	case $kind in
	fifo) mkfifo -m 600 "$file" ;;
	directory) mkdir -m 700 "$file" ;;
	symlink)
		# An empty file: a snapshot that yubin would read as corrupt
		# (78), a journal or lock it would use, if it followed the link.
		: >"$work/$tag/target"
		ln -s "$work/$tag/target" "$file"
		;;
	esac
	local start=$SECONDS
	yubin_run "$tag" -- -c "$work/$tag.yaml"
	local took=$((SECONDS - start))
	tap_status_is 74 "$tag: refused with exit 74"
	tap_check "$tag: at once (took ${took}s)" test "$took" -le 10
	tap_check "$tag: the error names the file" grep -qF "$file" "$RUN_ERR"
	tap_is "$(maildir_count "$maildir")" 0 "$tag: nothing delivered"
}

for name in lock snapshot journal; do
	for kind in fifo directory symlink; do
		odd_case "$name" "$kind"
	done
done
tap_finish
