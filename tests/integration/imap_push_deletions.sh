#!/bin/bash
# push_deletions against the test Dovecot: a message deleted locally (its
# file removed, or its T letter set) reaches the server as \Deleted, and
# is expunged there only when the account expunges (delete_after_days
# here) and its file is gone; nothing is fetched again.  The guard: a
# Maildir removed, emptied or unreadable deletes nothing and exits 74; a
# run over the share (more than 10 and more than a quarter) deletes
# nothing and exits 74 until --force.  A run killed at each step of a
# deletion push, then a clean run, converges.  Each check looks at both
# sides: the server's flags and messages, and the local files.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"
. "$top_srcdir/tests/lib/crash.sh"

need_yubin
tap_plan 30
# imap_push_deletions_plain.sh runs it all again without CONDSTORE.
[ -z "${PUSH_DELETIONS_PLAIN-}" ] ||
	HARNESS_IMAP_CAPABILITY="IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ NAMESPACE UIDPLUS UNSELECT CHILDREN"
harness_start

work=$(harness_dir)/client
mkdir -p "$work"

# setup FOLDER COUNT [KEY=VALUE...]: COUNT messages in FOLDER on the
# server, an account with sync_flags: both for it into $work/FOLDER
# (Maildir, state), fetched once and given its bases by a second run.
setup() {
	local folder=$1 count=$2
	shift 2
	imaptool alice append --folder "$folder" --count "$count" --seed "$folder" >/dev/null
	harness_write_config "$work/$folder.yaml" dels imap implicit "$(harness_port imaps)" \
		alice "$(harness_password alice)" "$work/$folder/Maildir" sync_flags=both \
		"folders=[\"$folder\"]" state_dir="$work/$folder/state" "$@"
	yubin_run "$folder-setup-1" -- -c "$work/$folder.yaml"
	[ "$RUN_STATUS" = 0 ] || tap_bail "the first run into $folder failed: $(run_summary)"
	yubin_run "$folder-setup-2" -- -c "$work/$folder.yaml"
	[ "$RUN_STATUS" = 0 ] || tap_bail "the second run into $folder failed: $(run_summary)"
}

# The local files of a folder, sorted by name.
local_files() {
	find "$work/$1/Maildir/cur" "$work/$1/Maildir/new" -type f 2>/dev/null | sort
}

mid_of() {
	grep -m 1 -i '^Message-ID:' "$1" | sed 's/^[^:]*: *//'
}

# server FOLDER: "MESSAGE-ID FLAGS" of every message on the server.
server() {
	imaptool alice midflags --folder "$1"
}

# server_deleted FOLDER: the Message-IDs the server holds \Deleted.
server_deleted() {
	server "$1" | awk '/\\Deleted/ { print $1 }' | sort
}

# local_mids FOLDER: the Message-IDs of the local files, sorted.
local_mids() {
	local f
	for f in $(local_files "$1"); do
		mid_of "$f"
	done | sort
}

# set_letter FILE LETTER: a mail reader adds LETTER to the file's info.
set_letter() {
	local file=$1 letter=$2 info
	case $file in
	*:2,*) info=${file##*:2,} ;;
	*) info= ;;
	esac
	local target
	target=$(dirname "$(dirname "$file")")/cur/$(basename "${file%%:2,*}"):2,$(printf '%s%s' "$info" "$letter" | fold -w1 | sort -u | tr -d '\n')
	mv -- "$file" "$target"
	printf '%s\n' "$target"
}

# --- push_deletions: false (the default) pushes nothing ---
setup Off 5
mapfile -t files < <(local_files Off)
rm -- "${files[0]}"
set_letter "${files[1]}" T >/dev/null
yubin_run off-1 -- -c "$work/Off.yaml"
if [ "$RUN_STATUS" = 0 ] && [ -z "$(server_deleted Off)" ] &&
	[ "$(imaptool alice count --folder Off)" = 5 ] && [ "$(local_files Off | wc -l)" = 4 ]; then
	tap_ok "without push_deletions: a removed file and a T letter leave the server untouched (5 messages, none \\Deleted)"
else
	tap_not_ok "without push_deletions: nothing pushed" "$(run_summary); server: $(server Off)"
fi

# --- the config key alone ---
harness_write_config "$work/nokey.yaml" nokey imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/nokey/Maildir" sync_flags=auto push_deletions=true
yubin_run nokey -- -c "$work/nokey.yaml"
if [ "$RUN_STATUS" = 78 ] && grep -q "'push_deletions: true'.*needs 'sync_flags: both'" "$RUN_ERR" &&
	[ ! -e "$work/nokey/Maildir" ]; then
	tap_ok "push_deletions without sync_flags: both: exit 78 naming both keys, nothing fetched"
else
	tap_not_ok "push_deletions without sync_flags: both: exit 78" "$(run_summary)"
fi

# --- keep: true: marked, never expunged ---
setup Mark 6 push_deletions=true
mapfile -t files < <(local_files Mark)
t_mid=$(mid_of "${files[0]}")
t_file=$(set_letter "${files[0]}" T)
yubin_run mark-1 -- -c "$work/Mark.yaml"
if [ "$RUN_STATUS" = 0 ] && [ "$(server_deleted Mark)" = "$t_mid" ] &&
	[ "$(imaptool alice count --folder Mark)" = 6 ] && [ -e "$t_file" ]; then
	tap_ok "a T letter: the message is \\Deleted on the server, alone, and stays there (keep: true); the file stays"
else
	tap_not_ok "a T letter: \\Deleted on the server" "$(run_summary); server: $(server Mark)"
fi
rm_mid=$(mid_of "${files[1]}")
rm -- "${files[1]}"
yubin_run mark-2 -- -c "$work/Mark.yaml"
want=$(printf '%s\n' "$t_mid" "$rm_mid" | sort)
if [ "$RUN_STATUS" = 0 ] && [ "$(server_deleted Mark)" = "$want" ] &&
	[ "$(imaptool alice count --folder Mark)" = 6 ]; then
	tap_ok "a removed file: its message is \\Deleted on the server, and left there (keep: true)"
else
	tap_not_ok "a removed file: \\Deleted on the server" "$(run_summary); server: $(server Mark)"
fi
before=$(local_mids Mark)
yubin_run mark-3 -- -c "$work/Mark.yaml"
if [ "$RUN_STATUS" = 0 ] && [ "$(local_mids Mark)" = "$before" ] &&
	! local_mids Mark | grep -qxF -- "$rm_mid" && [ "$(server_deleted Mark)" = "$want" ]; then
	tap_ok "the next run fetches the removed message not again, and changes nothing on either side"
else
	tap_not_ok "the next run fetches nothing again" "$(run_summary); local: $(local_mids Mark | tr '\n' ' ')"
fi
# Another client takes the \Deleted of the T-marked message back: the
# side that changed wins, the letter goes.
t_uid=$(imaptool alice midflags --folder Mark | awk -v m="$t_mid" '$1 == m { print NR }')
t_uid=$(imaptool alice flags --folder Mark | sed -n "${t_uid}p" | awk '{ print $1 }')
imaptool alice store --folder Mark --uids "$t_uid" --flags '(\Deleted)' --remove
yubin_run mark-4 -- -c "$work/Mark.yaml"
t_now=$(grep -lF -- "$t_mid" "$work"/Mark/Maildir/cur/* | head -n 1)
if [ "$RUN_STATUS" = 0 ] && [ "$(server_deleted Mark)" = "$rm_mid" ] &&
	[ -n "$t_now" ] && ! printf '%s' "${t_now##*:2,}" | grep -q T; then
	tap_ok "undeleted on the server: the T letter goes locally, the removed message stays \\Deleted"
else
	tap_not_ok "undeleted on the server: the T letter goes" "$(run_summary); server: $(server Mark); local: $t_now"
fi

# --- delete_after_days: the account expunges ---
setup Expunge 6 push_deletions=true delete_after_days=3650
mapfile -t files < <(local_files Expunge)
t_mid=$(mid_of "${files[0]}")
t_file=$(set_letter "${files[0]}" T)
rm_mid=$(mid_of "${files[1]}")
rm -- "${files[1]}"
yubin_run expunge-1 -- -c "$work/Expunge.yaml"
if [ "$RUN_STATUS" = 0 ] && [ "$(imaptool alice count --folder Expunge)" = 5 ] &&
	! server Expunge | grep -qF -- "$rm_mid" && [ "$(server_deleted Expunge)" = "$t_mid" ]; then
	tap_ok "an account that expunges: the removed file's message is expunged, the T-marked one only marked"
else
	tap_not_ok "an account that expunges: expunged and marked" "$(run_summary); server: $(server Expunge)"
fi
before=$(local_mids Expunge)
yubin_run expunge-2 -- -c "$work/Expunge.yaml"
if [ "$RUN_STATUS" = 0 ] && [ "$(local_mids Expunge)" = "$before" ] &&
	[ "$(imaptool alice count --folder Expunge)" = 5 ]; then
	tap_ok "the next run fetches nothing again and expunges nothing more"
else
	tap_not_ok "the next run fetches nothing again" "$(run_summary)"
fi
# The reader purges the T-marked file: now it goes from the server too.
rm -- "$t_file"
yubin_run expunge-3 -- -c "$work/Expunge.yaml"
if [ "$RUN_STATUS" = 0 ] && [ "$(imaptool alice count --folder Expunge)" = 4 ] &&
	! server Expunge | grep -qF -- "$t_mid" && [ "$(local_files Expunge | wc -l)" = 4 ] &&
	[ -z "$(server_deleted Expunge)" ]; then
	tap_ok "the T-marked file purged locally: its message is expunged on the next run"
else
	tap_not_ok "the T-marked file purged: expunged" "$(run_summary); server: $(server Expunge)"
fi

# --- the guard: a Maildir gone, emptied, unreadable ---
# guard_case TAG FOLDER WHAT: the run after WHAT deletes nothing, warns
# naming the account, folder and path, and exits 74.
guard_case() {
	local tag=$1 folder=$2 what=$3
	yubin_run "$tag" -- -c "$work/$folder.yaml"
	tap_status_is 74 "$what: exit 74"
	if [ -z "$(server_deleted "$folder")" ] && [ "$(imaptool alice count --folder "$folder")" = 8 ] &&
		grep -q "account dels: folder $folder: skipped, and nothing in it deleted on the server: its Maildir $work/$folder/Maildir" "$RUN_ERR"; then
		tap_ok "$what: nothing deleted on the server (8 messages, none \\Deleted); the warning names account, folder and path"
	else
		tap_not_ok "$what: nothing deleted on the server, warned" "$(run_summary); server: $(server "$folder")"
	fi
}
setup Gone 8 push_deletions=true delete_after_days=3650
rm -rf -- "$work/Gone/Maildir"
guard_case gone Gone "the Maildir removed (rm -rf)"
if [ ! -e "$work/Gone/Maildir" ]; then
	tap_ok "the Maildir removed: it is not made again"
else
	tap_not_ok "the Maildir removed: it is not made again" "$(find "$work/Gone/Maildir" | head)"
fi
setup Empty 8 push_deletions=true delete_after_days=3650
find "$work/Empty/Maildir/cur" "$work/Empty/Maildir/new" -type f -delete
guard_case empty Empty "the Maildir emptied"
# The user who did delete every message says so once with --force (the
# account expunges: delete_after_days).
yubin_run empty-force -- -c "$work/Empty.yaml" --force
if [ "$RUN_STATUS" = 0 ] && [ "$(imaptool alice count --folder Empty)" = 0 ]; then
	tap_ok "the emptied Maildir with --force: all 8 deleted on the server, exit 0"
else
	tap_not_ok "the emptied Maildir with --force: all 8 deleted" "$(run_summary); server: $(server Empty)"
fi
yubin_run empty-after -- -c "$work/Empty.yaml"
if [ "$RUN_STATUS" = 0 ] && [ -z "$(local_files Empty)" ]; then
	tap_ok "the run after the forced one, without --force: exit 0, nothing fetched back"
else
	tap_not_ok "the run after the forced one: exit 0" "$(run_summary)"
fi
setup Unread 8 push_deletions=true delete_after_days=3650
rm -rf -- "$work/Unread/Maildir/cur"
echo "not a directory" >"$work/Unread/Maildir/cur"
guard_case unreadable Unread "the Maildir's cur/ a regular file (unreadable)"

# Every deletion agreed run by run: an empty Maildir is then still
# trusted.  New mail fetched and its files removed all at once is what
# a wipe looks like: refused.
setup Agreed 3 push_deletions=true
mapfile -t files < <(local_files Agreed)
rm -- "${files[0]}"
set_letter "${files[1]}" T >/dev/null
set_letter "${files[2]}" T >/dev/null
yubin_run agreed-1 -- -c "$work/Agreed.yaml"
first=$RUN_STATUS
rm -f -- "$work"/Agreed/Maildir/cur/*
yubin_run agreed-2 -- -c "$work/Agreed.yaml"
if [ "$first" = 0 ] && [ "$RUN_STATUS" = 0 ] && [ "$(server_deleted Agreed | wc -l)" = 3 ] &&
	[ "$(imaptool alice count --folder Agreed)" = 3 ] && [ "$(local_files Agreed | wc -l)" = 0 ]; then
	tap_ok "all 3 deletions agreed (1 removed, 2 T): the emptied Maildir is trusted, exit 0, 3 \\Deleted kept on the server"
else
	tap_not_ok "all deletions agreed: the emptied Maildir is trusted" "first run exit $first; $(run_summary); server: $(server Agreed)"
fi
imaptool alice append --folder Agreed --count 2 --seed Agreed-new >/dev/null
yubin_run agreed-3 -- -c "$work/Agreed.yaml"
first=$RUN_STATUS
rm -f -- "$work"/Agreed/Maildir/cur/* "$work"/Agreed/Maildir/new/*
yubin_run agreed-4 -- -c "$work/Agreed.yaml"
if [ "$first" = 0 ] && [ "$RUN_STATUS" = 74 ] && [ "$(server_deleted Agreed | wc -l)" = 3 ] &&
	grep -q "folder Agreed: skipped.*holds none of the 5 files" "$RUN_ERR"; then
	tap_ok "2 new messages fetched, then their files removed at once: refused as a wipe (exit 74, still 3 \\Deleted)"
else
	tap_not_ok "new files removed at once: refused" "first run exit $first; $(run_summary); server: $(server Agreed)"
fi

# --- the guard: over the share ---
setup Many 40 push_deletions=true delete_after_days=3650
mapfile -t files < <(local_files Many)
rm -- "${files[@]:0:11}"
set_letter "${files[20]}" T >/dev/null
s_file=$(set_letter "${files[30]}" S)
yubin_run many-1 -- -c "$work/Many.yaml"
tap_status_is 74 "12 of 40 deleted locally (more than 10 and a quarter): exit 74"
if [ -z "$(server_deleted Many)" ] && [ "$(imaptool alice count --folder Many)" = 40 ] &&
	! server Many | grep -q '\\Seen' &&
	grep -q "folder Many: 12 of the 40 messages.*run again with --force" "$RUN_ERR"; then
	tap_ok "over the share: nothing sent to the server in the folder (no \\Deleted, no \\Seen), and the message names account, folder, counts and --force"
else
	tap_not_ok "over the share: nothing sent" "$(run_summary); server: $(server Many | head)"
fi
yubin_run many-2 -- -c "$work/Many.yaml" --force
if [ "$RUN_STATUS" = 0 ] && [ "$(imaptool alice count --folder Many)" = 29 ] &&
	[ "$(server_deleted Many | wc -l)" = 1 ] && server Many | grep -q '\\Seen'; then
	tap_ok "over the share with --force: the 11 removed are expunged, the T one marked, the S pushed"
else
	tap_not_ok "over the share with --force: deleted" "$(run_summary); server: $(server Many | head)"
fi
yubin_run many-3 -- -c "$work/Many.yaml"
if [ "$RUN_STATUS" = 0 ] && [ "$(local_files Many | wc -l)" = 29 ] &&
	[ "$(imaptool alice count --folder Many)" = 29 ]; then
	tap_ok "after --force, a plain run fetches nothing again and deletes nothing more"
else
	tap_not_ok "after --force, a plain run changes nothing" "$(run_summary)"
fi
# Under the share (10 of 40): no --force needed.
setup Few 40 push_deletions=true
mapfile -t files < <(local_files Few)
rm -- "${files[@]:0:10}"
yubin_run few-1 -- -c "$work/Few.yaml"
if [ "$RUN_STATUS" = 0 ] && [ "$(server_deleted Few | wc -l)" = 10 ]; then
	tap_ok "10 of 40 deleted locally (not more than 10): marked without --force"
else
	tap_not_ok "10 of 40: marked without --force" "$(run_summary)"
fi

# --- --force alone changes nothing else; refused with --watch ---
yubin_run force-watch -- -c "$work/Few.yaml" --force --watch
if [ "$RUN_STATUS" = 64 ] && grep -q -- "--force" "$RUN_ERR"; then
	tap_ok "--force with --watch: exit 64 naming it"
else
	tap_not_ok "--force with --watch: exit 64" "$(run_summary)"
fi

# --- a kill at every step ---
# Each k: a fresh folder of 6; locally one file removed, one T letter,
# one S letter; the account expunges.  After the kill and a clean run:
# the removed one expunged, the T one \Deleted, the S one \Seen, 5 files
# locally, each Message-ID once on each side; one more run changes
# nothing.
crash_expect() {
	local folder=$1 problems=()
	[ "$(imaptool alice count --folder "$folder")" = 5 ] || problems+=("server holds $(imaptool alice count --folder "$folder"), not 5")
	server "$folder" | grep -qF -- "$(cat "$work/$folder.rm")" && problems+=("the removed message is still on the server")
	[ "$(server_deleted "$folder")" = "$(cat "$work/$folder.t")" ] || problems+=("\\Deleted on the server: $(server_deleted "$folder" | tr '\n' ' ')")
	server "$folder" | grep -F -- "$(cat "$work/$folder.s")" | grep -q '\\Seen' || problems+=("the S message is not \\Seen on the server")
	[ "$(local_files "$folder" | wc -l)" = 5 ] || problems+=("$(local_files "$folder" | wc -l) local files, not 5")
	[ -z "$(local_mids "$folder" | uniq -d)" ] || problems+=("a message twice locally")
	local_mids "$folder" | grep -qxF -- "$(cat "$work/$folder.rm")" && problems+=("the removed message came back")
	[ ${#problems[@]} -eq 0 ] || { printf '%s; ' "${problems[@]}"; return 1; }
}
dels_prepare() {
	local dir=$1 k=$2 folder=Crash$2
	setup "$folder" 6 push_deletions=true delete_after_days=3650
	cp -- "$work/$folder.yaml" "$dir.yaml"
	mapfile -t files < <(local_files "$folder")
	mid_of "${files[0]}" >"$work/$folder.rm"
	rm -- "${files[0]}"
	mid_of "${files[1]}" >"$work/$folder.t"
	set_letter "${files[1]}" T >/dev/null
	mid_of "${files[2]}" >"$work/$folder.s"
	set_letter "${files[2]}" S >/dev/null
	mkdir -p "$dir"
}
dels_check_sink() {
	local folder=Crash$2
	crash_expect "$folder" || return 1
	yubin_run "again" -- -c "$work/$folder.yaml"
	[ "$RUN_STATUS" = 0 ] || { echo "the run after the resume: exit $RUN_STATUS"; return 1; }
	crash_expect "$folder" || { echo "(after one more run)"; return 1; }
}
crash_each_step dels dels 40
crash_tap_steps "deletion push" 4
tap_none "deletion push: each killed run died of SIGKILL" ${CRASH_BAD_KILL[@]+"${CRASH_BAD_KILL[@]}"}
tap_none "deletion push: after each kill a clean run converges (expunged, marked, pushed; nothing fetched twice), and stays" \
	${CRASH_BAD_RESUME[@]+"${CRASH_BAD_RESUME[@]}"}
last=$((CRASH_STEPS + 1))
tap_check "the run past its last step converged too" crash_expect "Crash$last"

tap_finish
