# server_courier.sh - Courier's imapd and pop3d (with authdaemond and a
# userdb) for the interop matrix (sourced, bash; the interface is in
# tests/interop/README).
#
# QUIRKS (Courier-IMAP 5.0.13, courier-authlib 0.71, Debian bookworm):
#   - Its paths are compiled in (/etc/courier, /run/courier,
#     /usr/lib/courier, /usr/lib/courier-authlib): it runs in a private
#     mount namespace (unshare -m, so as root only) where read-only
#     overlays put the unpacked .debs over /usr/lib and /usr/libexec and
#     WORKDIR/etc over /etc, WORKDIR/etc/courier is bound (writable) on
#     /etc/courier and a tmpfs on /run holds authdaemond's socket.
#     Nothing changes outside it.
#   - Every login goes through authdaemond; here its userdb module, the
#     userdb made by makeuserdb from a crypt(3) SHA-512 hash.  imapd and
#     pop3d take their settings from the environment (WORKDIR/env), not
#     from files.
#   - imaplogin runs couriertls for STARTTLS as the user "courier" (which
#     the package would make) and fails with "500 Error starting
#     couriertls" without it: the namespace's /etc/passwd gives that name
#     the harness's mail user, who may read the key.  couriertls is built
#     with GnuTLS and wants the key and the certificate in one file.
#   - IMAP: STARTTLS on a plain port (LOGINDISABLED before it), here with
#     IMAP_TLS_REQUIRED; pop3d: implicit TLS (couriertls -server in front
#     of pop3login).
#   - NAMESPACE: personal "INBOX." with ".", shared "#shared." and
#     "shared."; a folder is the Maildir++ directory .NAME under the
#     user's Maildir (modified UTF-7 on disk too).
#   - A CR not before an LF in an APPENDed message is dropped: the stored
#     file and what IMAP and POP3 send have "beforeafter" for
#     "before\rafter" (SERVER_LONE_CR=drop).  APPEND's flags are kept.
#   - A message whose last line has no line end is stored with one: IMAP
#     then serves it ending in CRLF (SERVER_FINAL_NEWLINE=add).  Hidden
#     while yubin missed INBOX under this namespace: the message is in INBOX.
#   - courier-imap depends on gamin: without a gam_server each login and
#     each mailbox opened waits about a second and brings "* OK [ALERT]
#     Filesystem notification initialization error".  gamin is unpacked
#     too and /usr/libexec overlaid, so imapd starts gam_server (as the
#     mail user, in a session of its own).
#   - couriertcpd makes itself a process group: server_stop ends every
#     process of the mount namespace instead.

COURIER_PKGS="courier-imap courier-pop courier-base courier-authdaemon courier-authlib courier-authlib-userdb gamin"
COURIER_DIR=
COURIER_PID=
COURIER_NS=

# WORKDIR/etc/courier: the shipped files, then the test's: authdaemond
# with the userdb module, the user, the certificate.
courier_write_etc() {
	local d=$COURIER_DIR home=$COURIER_DIR/home/alice hash sub
	mkdir -p "$d/etc" "$home" || return 1
	cp -a "$COURIER_ROOT/etc/courier" "$d/etc/" || return 1
	cat >"$d/etc/courier/authdaemonrc" <<-EOF
	authmodulelist="authuserdb"
	daemons=1
	authdaemonvar=/run/courier/authdaemon
	DEBUG_LOGIN=0
	DEFAULTOPTIONS=""
	LOGGEROPTS=""
	EOF
	hash=$(openssl passwd -6 "$SERVER_PASS") || return 1
	printf '%s\tuid=%s|gid=%s|home=%s|mail=%s|systempw=%s\n' "$SERVER_USER" \
		"$HARNESS_MAIL_UID" "$HARNESS_MAIL_GID" "$home" "$home/Maildir" "$hash" \
		>"$d/etc/courier/userdb" || return 1
	chmod 600 "$d/etc/courier/userdb"
	for sub in new cur tmp; do
		mkdir -p "$home/Maildir/$sub" || return 1
	done
	chown -R "$HARNESS_MAIL_UID:$HARNESS_MAIL_GID" "$home" || return 1
	chmod 755 "$d/home"
	chmod -R 700 "$home"
	# imaplogin runs couriertls for STARTTLS as the user "courier": in the
	# namespace that name is the mail user.
	{ cat /etc/passwd; printf 'courier:x:%s:%s::/nonexistent:/usr/sbin/nologin\n' \
		"$HARNESS_MAIL_UID" "$HARNESS_MAIL_GID"; } >"$d/etc/passwd" &&
	{ cat /etc/group; printf 'courier:x:%s:\n' "$HARNESS_MAIL_GID"; } >"$d/etc/group" || return 1
	# The key and the certificate in one file, as couriertls reads them.
	cat "$(harness_dir)/tls/server.key" "$(harness_dir)/tls/server.pem" \
		>"$d/etc/courier/server.pem" &&
		chmod 600 "$d/etc/courier/server.pem" &&
		chown "$HARNESS_MAIL_UID:$HARNESS_MAIL_GID" "$d/etc/courier/server.pem"
}

# The settings imapd and pop3d take from their environment (what the
# init scripts read from /etc/courier/imapd, imapd-ssl, pop3d...).
courier_write_env() {
	cat >"$COURIER_DIR/env" <<-EOF
	IMAP_CAPABILITY="IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE"
	IMAP_CAPABILITY_TLS="\$IMAP_CAPABILITY AUTH=PLAIN"
	IMAP_KEYWORDS=1
	IMAP_ACL=1
	IMAP_STARTTLS=YES
	IMAP_TLS_REQUIRED=1
	IMAP_EMPTYTRASH=
	IMAP_IDLE_TIMEOUT=60
	IMAP_MAILBOX_SANITY_CHECK=1
	IMAP_UMASK=022
	IMAP_USELOCKS=1
	IMAP_TRASHFOLDERNAME=Trash
	IMAP_ENHANCEDIDLE=0
	IMAP_SHAREDINDEXFILE=/etc/courier/shared/index
	POP3AUTH="PLAIN LOGIN"
	POP3AUTH_TLS="PLAIN LOGIN"
	POP3_PROXY=0
	COURIERTLS=$COURIER_ROOT/usr/bin/couriertls
	TLS_PROTOCOL=TLS1_2:TLS1_3
	TLS_STARTTLS_PROTOCOL=TLS1_2:TLS1_3
	TLS_CERTFILE=/etc/courier/server.pem
	TLS_VERIFYPEER=NONE
	TLS_CACHEFILE=
	MAILDIRPATH=Maildir
	EOF
}

# Runs inside the private mount namespace (handed to bash -c with
# declare -f): puts Courier's compiled-in paths in place, builds the
# userdb, then runs authdaemond and the two listeners until killed.
courier_inside() {
	local d=$1 root=$2 imap_port=$3 pop3_port=$4 tcpd=$2/usr/sbin/couriertcpd
	set -e
	mount -t overlay overlay -o "lowerdir=$root/usr/lib:/usr/lib" /usr/lib
	mount -t overlay overlay -o "lowerdir=$root/usr/libexec:/usr/libexec" /usr/libexec
	mount -t overlay overlay -o "lowerdir=$d/etc:/etc" /etc
	mount --bind "$d/etc/courier" /etc/courier
	mount -t tmpfs -o mode=755 tmpfs /run
	mkdir -p /run/courier/authdaemon
	export LD_LIBRARY_PATH=$5
	perl "$root/usr/sbin/makeuserdb"
	set -a
	. "$d/env"
	set +a
	/usr/lib/courier/courier-authlib/authdaemond >>"$d/authdaemond.log" 2>&1 &
	"$tcpd" -address=127.0.0.1 -nodnslookup -noidentlookup -maxprocs=40 \
		-maxperip=40 "$imap_port" /usr/lib/courier/courier/imaplogin \
		"$root/usr/bin/imapd" Maildir >>"$d/imapd.log" 2>&1 &
	POP3_TLS=1 "$tcpd" -address=127.0.0.1 -nodnslookup -noidentlookup \
		-maxprocs=40 -maxperip=40 "$pop3_port" "$COURIERTLS" -server -tcpd \
		/usr/lib/courier/courier/courierpop3login \
		/usr/lib/courier/courier/courierpop3d Maildir >>"$d/pop3d.log" 2>&1 &
	wait
}

courier_client() {
	"$PYTHON3" "$INTEROP_LIB_DIR/imapclient.py" --port "$IMAP_PORT" --tls "$IMAP_TLS" \
		--ca "$SERVER_CA" --user "$SERVER_USER" --password "$SERVER_PASS" \
		--prefix "$SERVER_PREFIX" --sep "$SERVER_SEP" "$@"
}

# The processes in the namespace: couriertcpd makes itself a process
# group and gam_server a session, so neither the group nor the session
# of the first one reaches them all; their mount namespace does.
courier_pids() {
	local proc
	for proc in /proc/[0-9]*; do
		if [ "$(readlink "$proc/ns/mnt" 2>/dev/null)" = "$COURIER_NS" ]; then
			printf '%s\n' "${proc#/proc/}"
		fi
	done
}

courier_launch() {
	local d=$COURIER_DIR
	setsid unshare -m --propagation private bash -c \
		"$(declare -f courier_inside); courier_inside \"\$@\"" courier \
		"$d" "$COURIER_ROOT" "$IMAP_PORT" "$POP3_PORT" \
		"$(fetch_debs_libpath "$COURIER_ROOT")" </dev/null >>"$d/namespace.log" 2>&1 &
	COURIER_PID=$!
	interop_wait_port "$IMAP_PORT" && interop_wait_port "$POP3_PORT"
	local listening=$?
	COURIER_NS=$(readlink "/proc/$COURIER_PID/ns/mnt")
	# Never this shell's own namespace: stopping would kill far more.
	if [ "$COURIER_NS" = "$(readlink /proc/self/ns/mnt)" ]; then
		COURIER_NS=
		printf 'courier: not in a mount namespace of its own\n' >&2
		listening=1
	fi
	[ "$listening" -eq 0 ] && return 0
	tail -n 20 "$d"/*.log
	return 1
}

server_start() {
	local ports
	COURIER_DIR=$1
	COURIER_ROOT=${INTEROP_ROOT:-${top_builddir:-$PWD}/tests/interop/root}/courier
	if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
		printf 'courier: needs root and unshare (util-linux): its paths are compiled in, it runs in a private mount namespace\n' >&2
		return 1
	fi
	fetch_debs "$COURIER_ROOT" $COURIER_PKGS || return 1
	SERVER_USER=alice
	SERVER_PASS=$(harness_password alice)
	SERVER_CA=$(harness_ca_file)
	SERVER_SEP=.
	SERVER_PREFIX=INBOX.
	IMAP_TLS=starttls
	POP3_TLS=implicit
	SERVER_LONE_CR=drop
	SERVER_FINAL_NEWLINE=add
	ports=$(interop_free_ports 2) || return 1
	read -r IMAP_PORT POP3_PORT <<<"$ports"
	mkdir -p "$COURIER_DIR" && courier_write_etc && courier_write_env || return 1
	courier_launch
}

server_append() {
	courier_client append "$1" "$2" "${3-}"
}

server_count() {
	courier_client count "$1"
}

# Everything in the namespace, TERM then (after 5 s) KILL; the namespace
# goes with its last process.
server_stop() {
	local pid=$COURIER_PID i pids
	[ -n "$pid" ] || return 0
	COURIER_PID=
	if [ -z "$COURIER_NS" ]; then
		kill -KILL -- "-$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 0
	fi
	for ((i = 0; i < 50; i++)); do
		pids=$(courier_pids)
		[ -n "$pids" ] || break
		# shellcheck disable=SC2086 # one pid a word
		kill -TERM $pids 2>/dev/null
		sleep 0.1
	done
	pids=$(courier_pids)
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
	wait "$pid" 2>/dev/null
	COURIER_NS=
	return 0
}
