# checks.sh - the checks every server family of the interop matrix runs
# (sourced, bash, after tests/lib/tap.sh, tests/lib/harness.sh,
# tests/lib/checks.sh, tests/interop/fetch_debs.sh and the family's
# tests/interop/server_FAMILY.sh).  See tests/interop/README.
#
#   interop_setup                 a fresh test directory (harness_dir), the
#                                 harness's CA and server certificate
#                                 (tls/ca.pem, tls/server.pem, server.key
#                                 in it), the harness's mail uid/gid
#                                 (HARNESS_MAIL_UID...), server_stop on exit
#   interop_free_ports N          N distinct free ports on 127.0.0.1
#   interop_wait_port PORT [SECONDS]
#                                 wait until 127.0.0.1:PORT accepts
#   interop_checks FAMILY         plan and run every check the family
#                                 serves: the IMAP ones when IMAP_PORT is
#                                 set, the POP3 ones when POP3_PORT is set
#
# Folder names given to server_append are yubin's: "/" between levels, no
# personal namespace prefix, UTF-8 ("INBOX", "Entwürfe", "Old Mail",
# "Archive/2024"); the family turns them into its own (prefix, separator,
# modified UTF-7).
#
# What a family may declare, before interop_checks (each difference named
# exactly, so a check never becomes broader than the server needs):
#   SERVER_ADDED_HEADERS="X-UID Status"
#                     header fields the server adds to a message: dropped
#                     from the delivered copy before the byte comparison,
#                     only these names and only when the message sent in
#                     had no such field
#   SERVER_LONE_CR=drop|newline
#                     the server cannot keep a CR that is not before an
#                     LF: it drops it, or makes it a line end; the
#                     expected bytes follow (default: keep)
#   SERVER_FINAL_NEWLINE=add
#                     the server stores a message whose last line has no
#                     line end with one (IMAP too; POP3 always needs one)
#   SERVER_TODO[CHECK]="bug..."
#                     a check yubin fails against this server (a real
#                     interop bug in yubin): reported "not ok # TODO bug";
#                     CHECK is one of the names in INTEROP_IMAP_CHECKS and
#                     INTEROP_POP3_CHECKS below

#
# The family file may be sourced before or after this one, and may set
# these in server_start (SERVER_TODO there with declare -gA): nothing set
# is overwritten here.
if ! declare -p SERVER_TODO >/dev/null 2>&1; then
	declare -A SERVER_TODO=()
fi
: "${SERVER_ADDED_HEADERS:=}"
: "${SERVER_LONE_CR:=keep}"
: "${SERVER_FINAL_NEWLINE:=}"
INTEROP_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INTEROP_IMAP_CHECKS=(imap-run imap-fetched imap-inbox imap-nonascii imap-space
	imap-nested imap-flags imap-new imap-second imap-tmp)
INTEROP_POP3_CHECKS=(pop3-run pop3-bytes pop3-second pop3-delete-run
	pop3-delete-bytes pop3-delete-empty)

interop_setup() {
	local parent=${TMPDIR:-/tmp}
	# As root, server processes running as the mail user must reach it.
	if [ "$(id -u)" -eq 0 ]; then
		parent=/tmp
	fi
	HARNESS_DIR=$(mktemp -d "$parent/yubin-interop.XXXXXX") || tap_bail "mktemp failed"
	trap harness_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	chmod 755 "$HARNESS_DIR"
	mkdir -p "$HARNESS_DIR/client" "$HARNESS_DIR/server" || tap_bail "mkdir failed"
	harness_pick_users
	harness_make_certs || tap_bail "could not make the test certificates"
	harness_at_exit server_stop
}

interop_free_ports() {
	"$PYTHON3" - "$1" <<-'EOF'
	import socket, sys
	socks = []
	for _ in range(int(sys.argv[1])):
	    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	    s.bind(("127.0.0.1", 0))
	    socks.append(s)
	print(" ".join(str(s.getsockname()[1]) for s in socks))
	EOF
}

interop_wait_port() {
	"$PYTHON3" - "$1" "${2:-20}" <<-'EOF'
	import socket, sys, time
	deadline = time.monotonic() + float(sys.argv[2])
	while True:
	    try:
	        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
	        break
	    except OSError:
	        if time.monotonic() > deadline:
	            sys.exit("127.0.0.1:%s never accepted a connection" % sys.argv[1])
	        time.sleep(0.05)
	EOF
}

# interop_todo CHECK: the family's known failure for CHECK, if any, for
# the next TAP line.
interop_todo() {
	if [ -n "${SERVER_TODO[$1]-}" ]; then
		tap_todo "${SERVER_TODO[$1]}"
	fi
}

# interop_write_messages DIR: the messages of each folder, in DIR/FOLDER/
# (INBOX: the hard cases; the others: a few plain ones).
interop_write_messages() {
	local dir=$1 m=$INTEROP_LIB_DIR/messages.py
	if ! "$PYTHON3" "$m" write "$dir/inbox" --tag inbox ||
		! "$PYTHON3" "$m" write "$dir/drafts" --tag drafts --simple 3 ||
		! "$PYTHON3" "$m" write "$dir/oldmail" --tag oldmail --simple 2 ||
		! "$PYTHON3" "$m" write "$dir/archive" --tag archive --simple 2; then
		tap_bail "messages.py could not write the messages"
	fi
}

# interop_fill FOLDER DIR [FLAGS]: append every message of DIR to FOLDER
# and make sure the server holds them all.
interop_fill() {
	local folder=$1 dir=$2 flags=${3-} file want got
	for file in "$dir"/*.eml; do
		server_append "$folder" "$file" "$flags" ||
			tap_bail "server_append $folder ${file##*/} failed"
	done
	want=$(find "$dir" -name '*.eml' | wc -l)
	got=$(server_count "$folder") || tap_bail "server_count $folder failed"
	[ "$got" = "$want" ] ||
		tap_bail "the server holds $got messages in $folder after $want were appended"
}

# interop_compare DIR MAILDIR DESC CHECK [--pop3]: the byte comparison,
# with the family's declared differences.
interop_compare() {
	local dir=$1 maildir=$2 desc=$3 check=$4 report
	shift 4
	local opts=("$@")
	if [ -n "$SERVER_ADDED_HEADERS" ]; then
		opts+=(--drop-headers "$SERVER_ADDED_HEADERS")
	fi
	opts+=(--lone-cr "$SERVER_LONE_CR")
	[ "$SERVER_FINAL_NEWLINE" != add ] || opts+=(--final-newline)
	interop_todo "$check"
	if report=$("$PYTHON3" "$INTEROP_LIB_DIR/messages.py" compare \
		${opts[@]+"${opts[@]}"} "$dir" "$maildir" 2>&1); then
		tap_ok "$desc"
	else
		tap_not_ok "$desc" "$report"
	fi
}

# interop_status_is WANT DESC CHECK / interop_json_is PATH WANT DESC CHECK:
# tap_status_is and tap_json_is with the family's known failure.
interop_status_is() {
	interop_todo "$3"
	tap_status_is "$1" "$2"
}

interop_json_is() {
	interop_todo "$4"
	tap_json_is "$1" "$2" "$3"
}

interop_is() {
	interop_todo "$4"
	tap_is "$1" "$2" "$3"
}

# interop_config FILE ACCOUNT PROTOCOL TLS PORT DEST [KEY=VALUE...]
interop_config() {
	local file=$1 account=$2 protocol=$3 tls=$4 port=$5 dest=$6
	shift 6
	harness_write_config "$file" "$account" "$protocol" "$tls" "$port" \
		"$SERVER_USER" "$SERVER_PASS" "$dest" tls_ca_file="$SERVER_CA" "$@"
}

interop_imap_checks() {
	local family=$1 msgs=$2 work root config
	work=$(harness_dir)/client
	root=$work/imap
	config=$work/imap.yaml
	interop_fill "Entwürfe" "$msgs/drafts" '\Seen \Flagged'
	interop_fill "Old Mail" "$msgs/oldmail"
	interop_fill "Archive/2024" "$msgs/archive"
	interop_config "$config" "$family-imap" imap "$IMAP_TLS" "$IMAP_PORT" "$root" \
		folders='["*"]'
	yubin_run imap-first -- -c "$config" --json
	interop_status_is 0 "$family imap: a run with folders [\"*\"] exits 0" imap-run
	interop_json_is accounts.0.fetched 15 "$family imap: it fetches the 15 messages of four folders" imap-fetched
	interop_compare "$msgs/inbox" "$root" "$family imap: INBOX byte for byte (CRLF -> LF): 8-bit, long line, no final newline, lone CR, empty body, dot lines, 300 KB" imap-inbox
	interop_compare "$msgs/drafts" "$root/Entwürfe" "$family imap: the non-ASCII folder Entwürfe into its own Maildir" imap-nonascii
	interop_compare "$msgs/oldmail" "$root/Old Mail" "$family imap: the folder with a space, Old Mail, into its own Maildir" imap-space
	interop_compare "$msgs/archive" "$root/Archive/2024" "$family imap: the nested folder Archive/2024 into Archive/2024" imap-nested
	interop_is "$(find "$root/Entwürfe/cur" -name '*:2,FS' 2>/dev/null | wc -l)" 3 \
		"$family imap: \\Seen \\Flagged on the server became Maildir flags FS in cur/" imap-flags
	interop_is "$(find "$root/new" -type f 2>/dev/null | wc -l)" 8 \
		"$family imap: the 8 INBOX messages without flags are in new/" imap-new
	yubin_run imap-second -- -c "$config" --json
	interop_todo imap-second
	if [ "$RUN_STATUS" = 0 ] && [ "$(json_get accounts.0.fetched)" = 0 ]; then
		tap_ok "$family imap: a second run exits 0 and fetches nothing"
	else
		tap_not_ok "$family imap: a second run exits 0 and fetches nothing" \
			"fetched $(json_get accounts.0.fetched); $(run_summary)"
	fi
	interop_todo imap-tmp
	tap_tmp_empty "$root" "$family imap: tmp/ of INBOX is empty"
}

interop_pop3_checks() {
	local family=$1 msgs=$2 work count
	work=$(harness_dir)/client
	count=$(find "$msgs/inbox" -name '*.eml' | wc -l)
	interop_config "$work/pop3.yaml" "$family-pop3" pop3 "$POP3_TLS" "$POP3_PORT" \
		"$work/pop3"
	yubin_run pop3-first -- -c "$work/pop3.yaml" --json
	interop_status_is 0 "$family pop3: a run (keep: true) exits 0" pop3-run
	interop_compare "$msgs/inbox" "$work/pop3" "$family pop3: every message byte for byte (CRLF -> LF; dot-unstuffed; a last line without an end gets one)" pop3-bytes --pop3
	yubin_run pop3-second -- -c "$work/pop3.yaml" --json
	interop_todo pop3-second
	if [ "$RUN_STATUS" = 0 ] && [ "$(json_get accounts.0.fetched)" = 0 ]; then
		tap_ok "$family pop3: a second run exits 0 and fetches nothing"
	else
		tap_not_ok "$family pop3: a second run exits 0 and fetches nothing" \
			"fetched $(json_get accounts.0.fetched); $(run_summary)"
	fi
	interop_config "$work/nokeep.yaml" "$family-nokeep" pop3 "$POP3_TLS" "$POP3_PORT" \
		"$work/nokeep" keep=false
	yubin_run pop3-nokeep -- -c "$work/nokeep.yaml" --json
	interop_status_is 0 "$family pop3: a run with keep: false exits 0" pop3-delete-run
	interop_compare "$msgs/inbox" "$work/nokeep" "$family pop3: keep: false delivered all $count, byte for byte" pop3-delete-bytes --pop3
	interop_is "$(server_count INBOX)" 0 "$family pop3: after keep: false the server's INBOX is empty" pop3-delete-empty
}

interop_checks() {
	local family=$1 planned=0 msgs
	[ -z "${IMAP_PORT-}" ] || planned=$((planned + ${#INTEROP_IMAP_CHECKS[@]}))
	[ -z "${POP3_PORT-}" ] || planned=$((planned + ${#INTEROP_POP3_CHECKS[@]}))
	[ "$planned" -gt 0 ] || tap_bail "$family: server_start set neither IMAP_PORT nor POP3_PORT"
	if [ -z "${SERVER_CA-}" ] || [ -z "${SERVER_USER-}" ] || [ -z "${SERVER_PASS-}" ]; then
		tap_bail "$family: server_start must set SERVER_CA, SERVER_USER and SERVER_PASS"
	fi
	tap_plan "$planned"
	[ -z "$SERVER_ADDED_HEADERS" ] ||
		tap_diag "$family adds header fields, dropped before comparing: $SERVER_ADDED_HEADERS"
	[ "$SERVER_LONE_CR" = keep ] ||
		tap_diag "$family cannot keep a lone CR (SERVER_LONE_CR=$SERVER_LONE_CR): the expected bytes follow"
	[ "$SERVER_FINAL_NEWLINE" != add ] ||
		tap_diag "$family ends a last line that had no line end (SERVER_FINAL_NEWLINE=add)"
	msgs=$(harness_dir)/messages
	interop_write_messages "$msgs"
	interop_fill INBOX "$msgs/inbox"
	# IMAP first: the POP3 keep: false check empties INBOX.
	[ -z "${IMAP_PORT-}" ] || interop_imap_checks "$family" "$msgs"
	[ -z "${POP3_PORT-}" ] || interop_pop3_checks "$family" "$msgs"
}
