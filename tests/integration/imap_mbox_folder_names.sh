#!/bin/bash
# IMAP into a directory of mbox files, with server folders named like the
# files the mbox sink keeps beside a folder's file: "A.lock" beside "A"
# (A's dotlock), "X/Y.lock", "B.sbd" (a subfolder directory).  Each is
# written under an escaped name, so every message lands exactly once in
# its own folder's file, run after run, and no folder's mail is ever taken
# for a dotlock and removed as stale once it is old.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 14
# Dovecot's Maildir++ storage needs listescape for a "." in a name.
HARNESS_MAIL_PLUGINS=listescape
harness_start

work=$(harness_dir)/client
mail=$work/mail
alice_imaptool() { imaptool alice "$@"; }
# folder on the server, and the file it must be stored in
folders=(INBOX A A.lock X/Y.lock B.sbd)
files=(INBOX A 'A\2elock' 'X.sbd/Y\2elock' 'B\2esbd')
batch=1
add_mail() {
	batch=$((batch + 1))
	alice_imaptool append --folder "$1" --count "$2" --batch "$batch" >/dev/null
}
add_mail INBOX 2
add_mail A 2
add_mail A.lock 3
add_mail X/Y.lock 1
add_mail B.sbd 1

# Every file older than a stale dotlock, as if the next run came later.
age_everything() {
	find "$mail" -exec touch -h -d '-10 minutes' {} +
}

check_files() {
	local i report bad=()
	for i in "${!folders[@]}"; do
		alice_imaptool expected --final-newline --folder "${folders[$i]}" >"$work/expected"
		if [ ! -f "$mail/${files[$i]}" ]; then
			bad+=("${folders[$i]}: no file ${files[$i]}")
		elif ! report=$("$PYTHON3" "$top_srcdir/tests/lib/mboxcheck.py" \
			"$work/expected" "$mail/${files[$i]}"); then
			bad+=("${folders[$i]} in ${files[$i]}: $report")
		fi
	done
	tap_none "$1" "${bad[@]}"
}

# Only the folders' files and their parents' .sbd directories, no lock.
check_nothing_else() {
	local got want
	got=$(cd "$mail" && find . -mindepth 1 | sort)
	want=$(printf '%s\n' ./INBOX ./A './A\2elock' ./X.sbd './X.sbd/Y\2elock' './B\2esbd' | sort)
	tap_is "$got" "$want" "$1"
}

harness_write_config "$work/c.yaml" names imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "mbox:$mail" folders='["*"]'

yubin_run first -- -c "$work/c.yaml" --json
tap_status_is 0 "the first run exits 0"
tap_json_is accounts.0.fetched 9 "it fetches the 9 messages of the 5 folders"
check_files "each folder's messages are in its own file, once"
check_nothing_else "the tree holds the 5 folders' files and nothing else"

age_everything
yubin_run second -- -c "$work/c.yaml" --json
tap_status_is 0 "a run 10 minutes later exits 0"
tap_json_is accounts.0.fetched 0 "it fetches nothing"
check_files "nothing was lost or doubled"

# New mail in A (whose dotlock would be A.lock) and in A.lock itself.
add_mail A 1
add_mail A.lock 2
add_mail X/Y.lock 1
age_everything
yubin_run third -- -c "$work/c.yaml" --json
tap_status_is 0 "a run with new mail in A, A.lock and X/Y.lock exits 0"
tap_json_is accounts.0.fetched 4 "it fetches the 4 new messages"
check_files "each message is in its own folder's file exactly once"
check_nothing_else "no dotlock or temporary file is left, nothing else made"

age_everything
yubin_run fourth -- -c "$work/c.yaml" --json
tap_status_is 0 "a last run exits 0"
tap_json_is accounts.0.fetched 0 "it fetches nothing"
check_files "every message is still there exactly once"

tap_finish
