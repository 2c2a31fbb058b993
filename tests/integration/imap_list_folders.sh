#!/bin/bash
# --list-folders ACCOUNT: one tab-separated line per folder on the server
# (name decoded from modified UTF-7, delimiter, flags, whether the
# account's folders select it, the local path), and nothing written: no
# state, no Maildir.  A POP3 account has no folders: a usage error.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 14
# Special use (RFC 6154) as a server configures it: Dovecot's LIST shows
# each flag on its mailbox.
HARNESS_IMAP_SPECIAL_USE='Sent:\Sent Drafts:\Drafts Trash:\Trash Junk:\Junk Archive:\Archive'
harness_start

work=$(harness_dir)/client
root=$work/Mail
config=$work/config.yaml
alice_imaptool() { imaptool alice "$@"; }

alice_imaptool append --folder INBOX --count 1 >/dev/null
alice_imaptool append --folder "Archive/2024" --count 1 --batch 2 >/dev/null
alice_imaptool append --folder "Entwürfe" --count 1 --batch 3 >/dev/null
alice_imaptool append --folder "My Notes" --count 1 --batch 4 >/dev/null
for folder in Sent Drafts Trash Junk; do
	alice_imaptool append --folder "$folder" --count 1 --batch 5 >/dev/null
done
harness_write_config "$config" mail imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$root" \
	folders='["INBOX", "Archive/*", "Entw*"]'

line_of() { grep -F -- "$1	" "$RUN_OUT" | head -n 1; }
T=$'\t'

yubin_run list -- -c "$config" --list-folders mail
tap_status_is 0 "--list-folders exits 0"
tap_is "$(wc -l <"$RUN_OUT" | tr -d ' ')" 9 "one line for each of the 9 folders"
tap_is "$(line_of INBOX)" "INBOX$T/$T\\HasNoChildren${T}fetched$T$root" \
	"INBOX: fetched, into the root Maildir"
tap_is "$(line_of Archive)" "Archive$T/$T\\Noselect \\HasChildren \\Archive${T}not fetched$T-" \
	"Archive: \\Noselect and its special use \\Archive, not fetched, no path"
tap_is "$(line_of Archive/2024)" \
	"Archive/2024$T/$T\\HasNoChildren${T}fetched$T$root/Archive/2024" \
	"Archive/2024: selected by Archive/*, a nested Maildir"
tap_is "$(line_of Entwürfe)" "Entwürfe$T/$T\\HasNoChildren${T}fetched$T$root/Entwürfe" \
	"the non-ASCII name is decoded to UTF-8, its path too"
tap_is "$(line_of 'My Notes')" \
	"My Notes$T/$T\\HasNoChildren${T}not fetched$T$root/My Notes" \
	"a name with a space: not fetched, with the path it would have"
tap_is "$(line_of Sent)" "Sent$T/$T\\HasNoChildren \\Sent${T}not fetched$T$root/Sent" \
	"Sent: its special use \\Sent"
tap_is "$(line_of Drafts | cut -f3) $(line_of Trash | cut -f3) $(line_of Junk | cut -f3)" \
	"\\HasNoChildren \\Drafts \\HasNoChildren \\Trash \\HasNoChildren \\Junk" \
	"Drafts, Trash and Junk: their special use"
tap_check "a folder without special use has none" \
	bash -c '! grep -E "^INBOX	.*\\\\(Sent|Drafts|Trash|Junk|Archive)" "$1"' _ "$RUN_OUT"
if [ ! -e "$root" ] && [ ! -e "$work/state" ]; then
	tap_ok "nothing was written: no Maildir, no state directory"
else
	tap_not_ok "nothing was written: $(find "$root" "$work/state" 2>/dev/null | head)"
fi

harness_write_config "$work/pop3.yaml" box pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "$root"
yubin_run pop3 -- -c "$work/pop3.yaml" --list-folders box
tap_status_is 64 "a POP3 account is a usage error (64)"

tap_check "the message says why" grep -q "is POP3, which has no folders" "$RUN_ERR"

yubin_run unknown -- -c "$config" --list-folders nosuch
tap_status_is 64 "an unknown account is a usage error (64)"
tap_finish
