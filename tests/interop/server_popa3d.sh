# server_popa3d.sh - popa3d, a minimal POP3 server, for the interop matrix
# (sourced, bash; the interface is in tests/interop/README).  POP3 only.
#
# QUIRKS (popa3d 1.0.3, Debian bookworm):
#   - No TLS at all: tlsfront.py takes implicit TLS on 127.0.0.1 with the
#     harness's certificate and runs popa3d per connection in inetd mode
#     (its standalone mode, -D, listens on port 110 of every address,
#     which a test must not do).
#   - Paths and users are compiled in: it reads /var/mail/USER (an mbox),
#     chroots into /var/lib/popa3d and runs as the user "popa3d" before
#     login; it logs users in with PAM (service popa3d).  So the front and
#     popa3d run in a private mount namespace (unshare -m, needs root) in
#     which the test's own files are bind-mounted over /etc/passwd,
#     /etc/shadow, /etc/pam.d, /var/mail and /var/lib: the users alice
#     (the harness's mail uid) and popa3d (the harness's login user) exist
#     there only.
#   - USER/PASS only; CAPA is not known ("-ERR"), nor are STLS, AUTH,
#     APOP or PIPELINING.
#   - The mbox is mboxo: "From " separator lines, a blank line after each
#     message; server_append writes it so (a body line starting "From "
#     would have to be quoted, and popa3d would send the ">From ": none of
#     the checks' messages has one).

# The SERVER_*, IMAP_* and POP3_* variables set here are read by checks.sh.
# shellcheck disable=SC2034
POPA3D_DIR=
POPA3D_PID=

popa3d_make_files() {
	local d=$POPA3D_DIR hash login_uid login_gid
	login_uid=$(id -u "$HARNESS_LOGIN_USER") || return 1
	login_gid=$(id -g "$HARNESS_LOGIN_USER") || return 1
	mkdir -p "$d/etc" "$d/pam.d" "$d/mail" "$d/varlib/popa3d" || return 1
	hash=$(openssl passwd -6 "$SERVER_PASS") || return 1
	{
		grep -v -e '^alice:' -e '^popa3d:' /etc/passwd
		printf 'alice:x:%s:%s::/nonexistent:/bin/sh\n' "$HARNESS_MAIL_UID" "$HARNESS_MAIL_GID"
		printf 'popa3d:x:%s:%s::/var/lib/popa3d:/usr/sbin/nologin\n' "$login_uid" "$login_gid"
	} >"$d/etc/passwd" || return 1
	{
		grep -v -e '^alice:' -e '^popa3d:' /etc/shadow
		printf 'alice:%s:19000:0:99999:7:::\n' "$hash"
		printf 'popa3d:!:19000:0:99999:7:::\n'
	} >"$d/etc/shadow" || return 1
	chmod 644 "$d/etc/passwd"
	chmod 600 "$d/etc/shadow"
	printf 'auth required pam_unix.so\naccount required pam_unix.so\n' >"$d/pam.d/popa3d"
	chmod 1777 "$d/mail"
	: >"$d/mail/alice" &&
	chown "$HARNESS_MAIL_UID:$HARNESS_MAIL_GID" "$d/mail/alice" &&
	chmod 600 "$d/mail/alice"
}

# What runs inside the mount namespace: the bind mounts, then the front.
popa3d_namespace_script() {
	local d=$POPA3D_DIR tls
	tls=$(harness_dir)/tls
	cat <<-EOF
	set -e
	mount --bind '$d/etc/passwd' /etc/passwd
	mount --bind '$d/etc/shadow' /etc/shadow
	mount --bind '$d/pam.d' /etc/pam.d
	mount --bind '$d/mail' /var/mail
	mount --bind '$d/varlib' /var/lib
	exec '$PYTHON3' '$INTEROP_LIB_DIR/tlsfront.py' --cert '$tls/server.pem' \\
		--key '$tls/server.key' --port-file '$d/port' --log '$d/front.log' \\
		-- '$POPA3D_ROOT/usr/sbin/popa3d'
	EOF
}

server_start() {
	local i
	POPA3D_DIR=$1
	POPA3D_ROOT=${INTEROP_ROOT:-${top_builddir:-$PWD}/tests/interop/root}/popa3d
	fetch_debs "$POPA3D_ROOT" popa3d || return 1
	fetch_debs_ldd "$POPA3D_ROOT" "$POPA3D_ROOT/usr/sbin/popa3d" || return 1
	[ "$(id -u)" -eq 0 ] || {
		printf 'popa3d needs root here: its paths are compiled in, and only root may bind-mount the test files over them (unshare -m)\n'
		return 1
	}
	command -v unshare >/dev/null || {
		printf 'the unshare command (util-linux) is missing\n'
		return 1
	}
	SERVER_USER=alice
	SERVER_PASS=$(harness_password alice)
	SERVER_CA=$(harness_ca_file)
	SERVER_SEP=
	SERVER_PREFIX=
	IMAP_PORT=
	POP3_PORT=
	POP3_TLS=implicit
	mkdir -p "$POPA3D_DIR" && popa3d_make_files || return 1
	popa3d_namespace_script >"$POPA3D_DIR/namespace.sh" || return 1
	setsid unshare -m --propagation private bash "$POPA3D_DIR/namespace.sh" \
		</dev/null >>"$POPA3D_DIR/front.log" 2>&1 &
	POPA3D_PID=$!
	for ((i = 0; i < 200; i++)); do
		[ -s "$POPA3D_DIR/port" ] && break
		kill -0 "$POPA3D_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -s "$POPA3D_DIR/port" ]; then
		tail -n 20 "$POPA3D_DIR/front.log"
		return 1
	fi
	POP3_PORT=$(cat "$POPA3D_DIR/port")
	interop_wait_port "$POP3_PORT"
}

# server_append INBOX FILE: the message as mboxo stores it: LF line ends,
# a "From " line before it and a blank line after it.
server_append() {
	[ "$1" = INBOX ] || {
		printf 'popa3d has only INBOX (asked for %s)\n' "$1" >&2
		return 1
	}
	"$PYTHON3" - "$2" "$POPA3D_DIR/mail/alice" <<-'EOF'
	import sys
	data = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
	if b"\nFrom " in data:
	    sys.exit("server_append: a body line starts with 'From ': not quoted here")
	if not data.endswith(b"\n"):
	    data += b"\n"
	with open(sys.argv[2], "ab") as f:
	    f.write(b"From sender@example.org Tue Nov 14 22:13:20 2023\n" + data + b"\n")
	EOF
}

server_count() {
	[ "$1" = INBOX ] || return 1
	"$PYTHON3" "$HARNESS_LIB_DIR/genmail.py" stat --port "$POP3_PORT" --tls \
		--ca-file "$SERVER_CA" --user "$SERVER_USER" --password "$SERVER_PASS"
}

server_stop() {
	[ -n "$POPA3D_PID" ] || return 0
	kill -TERM -- "-$POPA3D_PID" 2>/dev/null
	wait "$POPA3D_PID" 2>/dev/null
	POPA3D_PID=
}
