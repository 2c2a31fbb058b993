#!/bin/bash
# mbox and MDA delivery, end to end: POP3 into one mbox read back with
# Python's mailbox module (byte-identical after mboxrd unquoting), IMAP
# folders into a directory of mbox files, an existing mbox appended to and
# never rewritten, and an MDA that records what it is given: a hostile
# sender reaches it as MAILER-DAEMON and runs nothing, exit 75 leaves mail
# for the next run, a refusal is reported and the message stays on the
# server.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 20
harness_start

work=$(harness_dir)/client
GENMAIL=$top_srcdir/tests/lib/genmail.py
MBOXCHECK=$top_srcdir/tests/lib/mboxcheck.py
mbox_config() { # FILE ACCOUNT PROTO PORT USER TARGET-KEY TARGET [KEY=VALUE...]
	local file=$1 account=$2 proto=$3 port=$4 user=$5 key=$6 target=$7
	shift 7
	harness_write_config "$file" "$account" "$proto" implicit "$port" \
		"$user" "$(harness_password "$user")" "$key:$target" "$@"
}

# POP3 into an existing mbox.
harness_add_messages alice 25 --hostile
"$PYTHON3" "$GENMAIL" expected --port "$(harness_port pop3)" --user alice \
	--password "$(harness_password alice)" --final-newline >"$work/alice-expected"
old='From someone@example.org Mon Jan  1 00:00:00 2024
Message-ID: <already-there@yubin.test>
Subject: written by another program

>From the start
'
printf '%s\n' "$old" >"$work/alice.mbox"
cp "$work/alice.mbox" "$work/alice.before"
mbox_config "$work/alice.yaml" alice-mbox pop3 "$(harness_port pop3s)" alice mbox "$work/alice.mbox"
yubin_run alice1 -- -c "$work/alice.yaml" --json
tap_status_is 0 "POP3 into an mbox exits 0"
tap_json_is accounts.0.fetched 25 "25 messages appended"
prefix_len=$(stat -c %s "$work/alice.before")
tap_check "the mbox's earlier bytes are untouched" cmp -n "$prefix_len" "$work/alice.mbox" "$work/alice.before"
tail -c +"$((prefix_len + 1))" "$work/alice.mbox" >"$work/alice.new.mbox"
if report=$("$PYTHON3" "$MBOXCHECK" "$work/alice-expected" "$work/alice.new.mbox"); then
	tap_ok "Python's mailbox reads back every message byte for byte (mboxrd)"
else
	tap_not_ok "Python's mailbox reads back every message byte for byte (mboxrd)" "$report"
fi
count=$("$PYTHON3" -c 'import mailbox,sys; print(len(mailbox.mbox(sys.argv[1])))' "$work/alice.mbox")
tap_is "$count" 26 "the whole file reads as 26 messages"
yubin_run alice2 -- -c "$work/alice.yaml" --json
tap_json_is accounts.0.fetched 0 "a second run appends nothing"
tap_check "no dotlock is left" test ! -e "$work/alice.mbox.lock"

# IMAP folders into a directory of mbox files.
imaptool bob append --count 5 >/dev/null
imaptool bob append --folder "Archive/2024" --count 3 --batch 2 >/dev/null
imaptool bob expected --final-newline >"$work/bob-inbox"
imaptool bob expected --folder "Archive/2024" --final-newline >"$work/bob-archive"
mbox_config "$work/bob.yaml" bob-mbox imap "$(harness_port imaps)" bob mbox "$work/bob-mail" \
	folders='[INBOX, "Archive/*"]'
yubin_run bob -- -c "$work/bob.yaml" --json
tap_status_is 0 "IMAP folders into mbox files exit 0"
if report=$("$PYTHON3" "$MBOXCHECK" "$work/bob-inbox" "$work/bob-mail/INBOX"); then
	tap_ok "INBOX is the mbox file INBOX in the directory"
else
	tap_not_ok "INBOX is the mbox file INBOX in the directory" "$report"
fi
if report=$("$PYTHON3" "$MBOXCHECK" "$work/bob-archive" "$work/bob-mail/Archive.sbd/2024"); then
	tap_ok "Archive/2024 is Archive.sbd/2024"
else
	tap_not_ok "Archive/2024 is Archive.sbd/2024" "$report"
fi

# The MDA: a script that stores what it is given, named by its arguments.
mda=$work/mda.sh
cat >"$mda" <<'SH'
#!/bin/sh
# args: account sender; MDA_EXIT forces an exit status.
out=${MDA_OUT:?}
[ -n "${MDA_EXIT:-}" ] && exit "$MDA_EXIT"
n=$(ls "$out" | wc -l)
cat >"$out/msg.$n.$$"
printf '%s|%s\n' "$1" "$2" >>"$out/args"
SH
chmod +x "$mda"
mkdir -p "$work/mda-out"
harness_add_messages carol 6 --profile small
# A sender with shell syntax and no spaces: a valid mbox sender, but not
# one an MDA command is given.
evil="x';touch\${IFS}$work/pwned;echo\${IFS}'@evil.example"
printf 'Return-Path: <%s>\nMessage-ID: <evil@yubin.test>\nSubject: evil\n\nbody\n' "$evil" \
	>"$(harness_maildir carol)/new/1700000000.evil.yubin-test"
chown "$HARNESS_MAIL_UID:$HARNESS_MAIL_GID" "$(harness_maildir carol)/new/1700000000.evil.yubin-test"
"$PYTHON3" "$GENMAIL" expected --port "$(harness_port pop3)" --user carol \
	--password "$(harness_password carol)" >"$work/carol-expected"
mda_config() {
	harness_write_config "$work/carol.yaml" carol-mda pop3 implicit "$(harness_port pop3s)" \
		carol "$(harness_password carol)" "mda:$1"
}
# A redirection makes yubin use /bin/sh: the hostile sender goes through it.
mda_config "$mda %a %f 2>&1"
yubin_run mda-temp MDA_OUT="$work/mda-out" MDA_EXIT=75 -- -c "$work/carol.yaml" --json
tap_status_is 75 "an MDA exiting 75 makes the run a temporary failure (75)"
tap_json_is accounts.0.fetched 0 "and nothing counts as delivered"
yubin_run mda-refuse MDA_OUT="$work/mda-out" MDA_EXIT=1 -- -c "$work/carol.yaml" --json
tap_json_is accounts.0.refused 7 "an MDA exiting 1 is reported for each message"
tap_check "a refusal is named in a warning" grep -q 'MDA did not take' "$RUN_ERR"
yubin_run mda-ok MDA_OUT="$work/mda-out" -- -c "$work/carol.yaml" --json
tap_status_is 0 "with a working MDA the run exits 0"
tap_json_is accounts.0.fetched 7 "all 7 are handed over, after the failures"
got=$(cd "$work/mda-out" && for f in msg.*; do sha256sum <"$f" | cut -d' ' -f1; done | sort | tr '\n' ' ')
want=$(cut -d' ' -f1 "$work/carol-expected" | sort | tr '\n' ' ')
tap_is "$got" "$want" "the MDA received each message once, byte for byte"
tap_check "the hostile Return-Path ran no shell code" test ! -e "$work/pwned"
tap_check "%a and %f were expanded, the hostile sender as MAILER-DAEMON" grep -qxF "carol-mda|MAILER-DAEMON" "$work/mda-out/args"
tap_is "$(grep -c '^carol-mda|sender[0-9]*@example.org$' "$work/mda-out/args")" 6 "the other senders came from Return-Path"

tap_finish
