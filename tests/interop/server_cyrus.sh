# server_cyrus.sh - Cyrus IMAP's imapd and pop3d for the interop matrix
# (sourced, bash; the interface is in tests/interop/README).
#
# QUIRKS (Cyrus IMAP 3.6.1, Debian bookworm):
#   - Run from the unpacked .debs (cyrus-imapd conflicts with Dovecot):
#     every path is set in WORKDIR/imapd.conf, and the commands in
#     cyrus.conf are absolute and carry -C (the master would look in
#     /usr/lib/cyrus/bin).  The master runs as root and its services as
#     cyrus_user (the harness's mail user).
#   - Logs go to syslog only (none here).  The protocol transcripts of a
#     user are written when WORKDIR/config/log/USER exists, so
#     server_start makes it: one file per session, imaps-PID, pop3s-PID.
#   - A user has no mailbox until an admin creates user/NAME; server_start
#     does that over IMAP as the admin named in "admins:".
#   - Upstream's defaults (altnamespace, unixhierarchysep; Debian's own
#     imapd.conf turns both off): a user's folders are siblings of INBOX,
#     "/" between levels, no prefix.
#   - Passwords: SASL auxprop against a sasldb file (saslpasswd2 from
#     sasl2-bin), in the realm of the servername set here.
#   - Stores a message as it was appended: a lone CR and 8-bit body
#     bytes are kept, nothing is added; APPEND's flags are kept.  (8-bit
#     bytes in a header would be made "X": munge8bit, untested here.)
#   - The CAPABILITY in LOGIN's OK names LOGINDISABLED, even over TLS
#     (allowplaintext: no), after the login it refers to; the greeting's
#     does not.
#   - pop3d's greeting carries an APOP timestamp.

CYRUS_PKGS="cyrus-imapd cyrus-pop3d cyrus-common sasl2-bin"
CYRUS_REALM=yubin-test
CYRUS_ADMIN=cyradmin
CYRUS_ADMIN_PASS=cyradmin-Secret-0
CYRUS_DIR=
CYRUS_PID=

cyrus_run() {
	LD_LIBRARY_PATH=$(fetch_debs_libpath "$CYRUS_ROOT") "$@"
}

# The user the services run as and who owns the spool: the harness's
# mail user as root, else whoever runs the test.
cyrus_run_user() {
	if [ "$(id -u)" -eq 0 ]; then
		id -un "$HARNESS_MAIL_UID"
	else
		id -un
	fi
}

cyrus_imapd_conf() {
	local d=$CYRUS_DIR tls
	tls=$(harness_dir)/tls
	cat <<-EOF
	configdirectory: $d/config
	defaultpartition: default
	partition-default: $d/spool
	proc_path: $d/run/proc
	mboxname_lockpath: $d/run/lock
	lmtpsocket: $d/run/socket/lmtp
	idlesocket: $d/run/socket/idle
	notifysocket: $d/run/socket/notify
	cyrus_user: $(cyrus_run_user)
	servername: $CYRUS_REALM
	admins: $CYRUS_ADMIN
	altnamespace: yes
	unixhierarchysep: yes
	hashimapspool: false
	allowplaintext: no
	sasl_pwcheck_method: auxprop
	sasl_auxprop_plugin: sasldb
	sasl_sasldb_path: $d/sasldb2
	sasl_mech_list: PLAIN LOGIN
	tls_server_cert: $tls/server.pem
	tls_server_key: $tls/server.key
	tls_versions: tls1_2 tls1_3
	popminpoll: 0
	syslog_prefix: yubin-test-cyrus
	EOF
}

cyrus_cyrus_conf() {
	local d=$CYRUS_DIR bin=$CYRUS_ROOT/usr/lib/cyrus/bin
	cat <<-EOF
	START {
	  recover cmd="$bin/ctl_cyrusdb -C $d/imapd.conf -r"
	}
	SERVICES {
	  imaps cmd="$bin/imapd -s -C $d/imapd.conf" listen="127.0.0.1:$IMAP_PORT" prefork=0 maxchild=20
	  pop3s cmd="$bin/pop3d -s -C $d/imapd.conf" listen="127.0.0.1:$POP3_PORT" prefork=0 maxchild=20
	}
	EVENTS {
	}
	EOF
}

# cyrus_add_password USER PASSWORD: into the sasldb, in the realm the
# services look users up in (their servername).
cyrus_add_password() {
	printf '%s' "$2" | cyrus_run "$CYRUS_ROOT/usr/sbin/saslpasswd2" -p -c \
		-f "$CYRUS_DIR/sasldb2" -u "$CYRUS_REALM" "$1"
}

cyrus_make_dirs() {
	local sub
	for sub in config/db "config/log/$SERVER_USER" config/proc config/socket \
		config/user config/quota config/sieve config/msg spool \
		run/proc run/lock run/socket; do
		mkdir -p "$CYRUS_DIR/$sub" || return 1
	done
}

# imapclient.py as USER PASSWORD, with yubin's folder names turned into
# this server's.
cyrus_client() {
	local user=$1 password=$2
	shift 2
	"$PYTHON3" "$INTEROP_LIB_DIR/imapclient.py" --port "$IMAP_PORT" --tls "$IMAP_TLS" \
		--ca "$SERVER_CA" --user "$user" --password "$password" \
		--prefix "$SERVER_PREFIX" --sep "$SERVER_SEP" "$@"
}

# The master process and its services, until every port answers.
cyrus_launch() {
	local d=$CYRUS_DIR
	setsid env LD_LIBRARY_PATH="$(fetch_debs_libpath "$CYRUS_ROOT")" \
		"$CYRUS_ROOT/usr/lib/cyrus/bin/master" -C "$d/imapd.conf" -M "$d/cyrus.conf" \
		-p "$d/run/master.pid" -L "$d/master.log" </dev/null >>"$d/master.out" 2>&1 &
	CYRUS_PID=$!
	interop_wait_port "$IMAP_PORT" && interop_wait_port "$POP3_PORT" && return 0
	tail -n 20 "$d/master.out" "$d/master.log"
	return 1
}

server_start() {
	local ports
	CYRUS_DIR=$1
	CYRUS_ROOT=${INTEROP_ROOT:-${top_builddir:-$PWD}/tests/interop/root}/cyrus
	fetch_debs "$CYRUS_ROOT" $CYRUS_PKGS || return 1
	fetch_debs_ldd "$CYRUS_ROOT" "$CYRUS_ROOT/usr/lib/cyrus/bin/imapd" \
		"$CYRUS_ROOT/usr/lib/cyrus/bin/pop3d" "$CYRUS_ROOT/usr/sbin/saslpasswd2" || return 1
	SERVER_USER=alice
	SERVER_PASS=$(harness_password alice)
	SERVER_CA=$(harness_ca_file)
	SERVER_SEP=/
	SERVER_PREFIX=
	IMAP_TLS=implicit
	POP3_TLS=implicit
	ports=$(interop_free_ports 2) || return 1
	read -r IMAP_PORT POP3_PORT <<<"$ports"
	cyrus_make_dirs || return 1
	cyrus_imapd_conf >"$CYRUS_DIR/imapd.conf" && cyrus_cyrus_conf >"$CYRUS_DIR/cyrus.conf" || return 1
	cyrus_add_password "$CYRUS_ADMIN" "$CYRUS_ADMIN_PASS" &&
		cyrus_add_password "$SERVER_USER" "$SERVER_PASS" || return 1
	# The services read the key and the passwords, and own the spool.
	chown -R "$(cyrus_run_user)" "$CYRUS_DIR" "$(harness_dir)/tls/server.key" || return 1
	cyrus_launch || return 1
	cyrus_client "$CYRUS_ADMIN" "$CYRUS_ADMIN_PASS" create "user/$SERVER_USER"
}

server_append() {
	cyrus_client "$SERVER_USER" "$SERVER_PASS" append "$1" "$2" "${3-}"
}

server_count() {
	cyrus_client "$SERVER_USER" "$SERVER_PASS" count "$1"
}

# The master stops its services on SIGTERM; whatever is left of its
# session after 5 s is killed.
server_stop() {
	local pid=$CYRUS_PID i
	[ -n "$pid" ] || return 0
	CYRUS_PID=
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
