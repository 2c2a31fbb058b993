# server_mailutils.sh - GNU Mailutils imap4d and pop3d for the interop
# matrix (sourced, bash; the interface is in tests/interop/README).
#
# QUIRKS (GNU Mailutils 3.15, Debian bookworm):
#   - Test users without system accounts: a virtual domain (virtdomain, a
#     passwd-format file named after the domain, crypt(3) passwords); the
#     login name is then user@domain, and the user's INBOX is the Maildir
#     HOME/INBOX whatever mailbox-pattern says.  APPEND to that INBOX
#     fails with [TRYCREATE] until it exists, so it is made beforehand.
#   - APPEND ignores its flag list: the message arrives with \Recent only.
#     Flags are set with UID STORE after the APPEND (imapclient.py).
#   - A CR not followed by LF is kept as it was appended (python's
#     imaplib.append() would have turned it into CRLF on the way in:
#     imapclient.py sends the literal itself).
#   - pop3d's RETR adds a header field "X-UIDL: <the UIDL>" after the
#     message's own (SERVER_ADDED_HEADERS=X-UIDL); imap4d sends the
#     message as it was appended.
#   - Advertises AUTH=GSSAPI, SCRAM, DIGEST-MD5, SAML20, OPENID20... (every
#     mechanism GNU SASL knows), whether or not anything is set up for
#     them; PLAIN and LOGIN are what works here.
#   - LIST shows INBOX as (\NoInferiors) NIL: no separator for INBOX;
#     other folders have "/".  Folders live in the personal namespace's
#     directory (HOME/Mail here), one Maildir each, names in modified
#     UTF-7 on disk.
#   - Both daemons run as root (they must switch to the user after
#     login) and serve each session as the mail user (HARNESS_MAIL_UID).
#   - tls-mode connection is implicit TLS (993/995 style).
#   - pop3d locks the mailbox in /var/lock/subsys/mail unless told
#     otherwise; without that directory every login gets "-ERR [IN-USE]
#     Mailbox in use".  The lock directory here is the test's own.

# The SERVER_*, IMAP_* and POP3_* variables set here are read by checks.sh.
# shellcheck disable=SC2034
MAILUTILS_DIR=
MAILUTILS_PIDS=()

mailutils_run() {
	LD_LIBRARY_PATH=$(fetch_debs_libpath "$MAILUTILS_ROOT") "$@"
}

# mailutils_conf PROGRAM PORT: the configuration file of imap4d or pop3d.
mailutils_conf() {
	local prog=$1 port=$2 d=$MAILUTILS_DIR
	cat <<-EOF
	logging { syslog no; severity info; }
	virtdomain { passwd-dir "$d/virtdomain"; }
	auth { authorization virtdomain; authentication generic; }
	mailbox { mailbox-type maildir; }
	tls-file-checks { key-file none; cert-file none; ca-file none; }
	mandatory-locking { enable yes; lock-directory "$d/lock"; }
	mode daemon;
	foreground yes;
	pidfile "$d/$prog.pid";
	tls {
	  ssl-certificate-file "$(harness_dir)/tls/server.pem";
	  ssl-key-file "$(harness_dir)/tls/server.key";
	}
	server 127.0.0.1:$port {
	  tls-mode connection;
	  transcript yes;
	}
	EOF
	if [ "$prog" = imap4d ]; then
		cat <<-EOF
		namespace personal {
		  prefix "" {
		    directory "$d/home/alice/Mail";
		    delimiter "/";
		    mailbox-type maildir;
		  }
		}
		EOF
	fi
}

mailutils_make_user() {
	local d=$MAILUTILS_DIR home=$MAILUTILS_DIR/home/alice hash sub
	mkdir -p "$d/virtdomain" "$d/lock" "$home/Mail" || return 1
	for sub in new cur tmp; do
		mkdir -p "$home/INBOX/$sub" || return 1
	done
	chown -R "$HARNESS_MAIL_UID:$HARNESS_MAIL_GID" "$d/home" "$d/lock" || return 1
	chmod 755 "$d/home"
	chmod -R 700 "$home"
	hash=$(openssl passwd -6 "$SERVER_PASS") || return 1
	printf 'alice:%s:%s:%s::%s:/bin/sh\n' "$hash" "$HARNESS_MAIL_UID" \
		"$HARNESS_MAIL_GID" "$home" >"$d/virtdomain/yubin.test"
	chmod 644 "$d/virtdomain/yubin.test"
	# The key is read by the daemons as root only.
	chmod 600 "$(harness_dir)/tls/server.key"
}

server_start() {
	local prog port ports
	MAILUTILS_DIR=$1
	MAILUTILS_ROOT=${INTEROP_ROOT:-${top_builddir:-$PWD}/tests/interop/root}/mailutils
	fetch_debs "$MAILUTILS_ROOT" mailutils-imap4d mailutils-pop3d || return 1
	fetch_debs_ldd "$MAILUTILS_ROOT" "$MAILUTILS_ROOT/usr/sbin/imap4d" \
		"$MAILUTILS_ROOT/usr/sbin/pop3d" || return 1
	if [ "$(id -u)" -ne 0 ]; then
		printf 'GNU Mailutils imap4d and pop3d need root here: they switch to the mail user after each login\n'
		return 1
	fi
	SERVER_USER=alice@yubin.test
	SERVER_PASS=$(harness_password alice)
	SERVER_CA=$(harness_ca_file)
	SERVER_SEP=/
	SERVER_PREFIX=
	SERVER_LONE_CR=keep
	SERVER_ADDED_HEADERS=X-UIDL
	IMAP_TLS=implicit
	POP3_TLS=implicit
	mkdir -p "$MAILUTILS_DIR" && mailutils_make_user || return 1
	ports=$(interop_free_ports 2) || return 1
	read -r IMAP_PORT POP3_PORT <<<"$ports"
	for prog in imap4d pop3d; do
		port=$IMAP_PORT
		[ "$prog" = imap4d ] || port=$POP3_PORT
		mailutils_conf "$prog" "$port" >"$MAILUTILS_DIR/$prog.conf" || return 1
		mailutils_run "$MAILUTILS_ROOT/usr/sbin/$prog" \
			--config-file="$MAILUTILS_DIR/$prog.conf" --config-lint || return 1
		setsid env LD_LIBRARY_PATH="$(fetch_debs_libpath "$MAILUTILS_ROOT")" \
			"$MAILUTILS_ROOT/usr/sbin/$prog" --config-file="$MAILUTILS_DIR/$prog.conf" \
			</dev/null >>"$MAILUTILS_DIR/$prog.log" 2>&1 &
		MAILUTILS_PIDS+=($!)
		interop_wait_port "$port" || {
			tail -n 20 "$MAILUTILS_DIR/$prog.log"
			return 1
		}
	done
}

mailutils_imap() {
	"$PYTHON3" "$INTEROP_LIB_DIR/imapclient.py" --port "$IMAP_PORT" --tls "$IMAP_TLS" \
		--ca "$SERVER_CA" --user "$SERVER_USER" --password "$SERVER_PASS" \
		--prefix "$SERVER_PREFIX" --sep "$SERVER_SEP" "$@"
}

server_append() {
	mailutils_imap append "$1" "$2" "${3-}"
}

server_count() {
	mailutils_imap count "$1"
}

# Each daemon leads its own session: its children (one per connection)
# go with it.
server_stop() {
	local pid
	for pid in ${MAILUTILS_PIDS[@]+"${MAILUTILS_PIDS[@]}"}; do
		kill -TERM -- "-$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	MAILUTILS_PIDS=()
}
