# harness.sh - a private Dovecot on 127.0.0.1 for the integration tests.
#
# Sourced by bash scripts.  Needs DOVECOT (the dovecot binary) and openssl;
# PYTHON3 defaults to python3.  Everything lives in one fresh temporary
# directory, removed by harness_cleanup (installed as the EXIT trap by
# harness_start; add your own clean-up with harness_at_exit "command").
#
#   harness_start                  start Dovecot (imap, pop3; plain and TLS)
#   harness_stop                   stop it (bounded; SIGKILL as a last resort)
#   harness_dir                    the temporary directory of this test
#   harness_port pop3|pop3s|imap|imaps
#   harness_ca_file                the test CA (for tls_ca_file)
#   harness_fingerprint            "sha256:AB:CD:..." of the server certificate
#   harness_password USER          alice, bob, carol and demo have fixed passwords
#   harness_maildir USER           the user's Maildir on the server side
#   harness_add_messages USER COUNT [genmail.py add options...]
#   harness_write_config FILE ACCOUNT PROTOCOL TLS PORT USER PASSWORD DEST
#                        [KEY=VALUE...]
#                                  a yubin account file, mode 600; DEST is
#                                  a Maildir path, or mbox:PATH or
#                                  mda:COMMAND; KEY=VALUE pairs add or
#                                  override account keys, and KEY= (empty)
#                                  removes one; a tls_fingerprint that
#                                  starts with [ is written as a YAML list,
#                                  unquoted
#   harness_log                    path of Dovecot's log
#   HARNESS_OAUTH2_INTROSPECTION_URL
#                                  if set before harness_start: Dovecot
#                                  also takes XOAUTH2 and OAUTHBEARER,
#                                  checking tokens at this RFC 7662 URL
#   harness_reissue_cert SAN       restart with a new server certificate
#                                  from the harness's CA
#   harness_use_cert CERT KEY [CHAIN]
#                                  restart presenting CERT (followed by the
#                                  PEM certificates of CHAIN) with KEY
#   harness_sni_cert "NAME..." CERT KEY [CHAIN]
#                                  present CERT [+ CHAIN] to a client whose
#                                  TLS server name (SNI) is one of NAMEs;
#                                  from the next harness_start or
#                                  harness_restart on
#   harness_restart                stop and start again (new ports: ask
#                                  harness_port again)
#   harness_restart_same_ports     stop and start again on the same ports
#                                  (a server restart a client that stays
#                                  connected must live through)
#   HARNESS_CERT_FILE, HARNESS_KEY_FILE, HARNESS_CHAIN_FILE
#                                  if set before harness_start: the server
#                                  certificate, its key and the chain sent
#                                  after it, instead of the harness's own
#                                  (for a name no harness_sni_cert matches)
#   HARNESS_CLIENT_CA              if set before harness_start (or a
#                                  restart): Dovecot asks for a client
#                                  certificate, trusts this CA for it,
#                                  refuses every login without a valid one,
#                                  takes the user name from its CN and
#                                  offers SASL EXTERNAL (which needs no
#                                  password)
#   HARNESS_IMAP_CAPABILITY        if set before harness_start: the IMAP
#                                  capabilities Dovecot offers after login
#                                  (to hide CONDSTORE and QRESYNC, say)
#   HARNESS_IMAP_SEPARATOR, HARNESS_IMAP_PREFIX
#                                  if set before harness_start: the IMAP
#                                  hierarchy separator (default /) and
#                                  personal namespace prefix (default none)
#   HARNESS_IMAP_SPECIAL_USE       if set before harness_start: "NAME:FLAG..."
#                                  (e.g. "Sent:\\Sent Trash:\\Trash"): the
#                                  special-use flag Dovecot's LIST gives
#                                  each mailbox NAME (RFC 6154)
#   HARNESS_MAIL_PLUGINS           if set before harness_start: Dovecot's
#                                  mail_plugins (listescape lets folder
#                                  names hold a ".")
#   HARNESS_IMAP_NOTIFY            if set before harness_start: 1,
#                                  mailbox_list_index = yes, with which
#                                  Dovecot offers NOTIFY (RFC 5465; its
#                                  default, said outright); off, the list
#                                  index off: no NOTIFY offered; refuse,
#                                  NOTIFY offered without the list index,
#                                  so that Dovecot answers NOTIFY SET
#                                  with NO (do not combine with
#                                  HARNESS_IMAP_CAPABILITY)
#   harness_login_count USER       logins of USER in Dovecot's log so far
#   harness_login_method_after USER N
#                                  the SASL method of USER's login N+1
#
# HARNESS_KEEP=1 in the environment keeps the temporary directory (with
# Dovecot's log and every yubin output) for a look after a failure.
#
# Dovecot only ever listens on 127.0.0.1, on ports the kernel picked as
# free a moment before.  Run as root, mail is owned by "nobody" (mail
# processes must not run as root) and the login/internal users are those
# of the dovecot package when it made them; run as an ordinary user,
# Dovecot runs rootless with every process as that user.

: "${PYTHON3:=python3}"

HARNESS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HARNESS_DIR=
HARNESS_PID=
HARNESS_AT_EXIT=()
HARNESS_SNI=()
declare -A HARNESS_PORTS=()
declare -A HARNESS_PASSWORDS=(
	[alice]='alice-Secret-1'
	[bob]='bob-Secret-2'
	[carol]='carol-Secret-3'
	[demo]='demo-Secret-4'
)

harness_die() {
	printf 'Bail out! harness: %s\n' "$*"
	exit 1
}

harness_dir() { printf '%s\n' "$HARNESS_DIR"; }
harness_log() { printf '%s\n' "$HARNESS_DIR/dovecot/dovecot.log"; }
harness_ca_file() { printf '%s\n' "$HARNESS_DIR/tls/ca.pem"; }
harness_maildir() { printf '%s\n' "$HARNESS_DIR/home/$1/Maildir"; }

harness_port() {
	local port=${HARNESS_PORTS[$1]-}
	[ -n "$port" ] || harness_die "no port named '$1'"
	printf '%s\n' "$port"
}

harness_password() {
	local password=${HARNESS_PASSWORDS[$1]-}
	[ -n "$password" ] || harness_die "no user named '$1'"
	printf '%s\n' "$password"
}

harness_fingerprint() {
	local out
	out=$(openssl x509 -in "${HARNESS_CERT_FILE:-$HARNESS_DIR/tls/server.pem}" -noout \
		-fingerprint -sha256) || harness_die "cannot read the server certificate"
	printf 'sha256:%s\n' "${out#*=}"
}

harness_at_exit() {
	HARNESS_AT_EXIT+=("$1")
}

harness_cleanup() {
	local status=$? cmd
	for cmd in "${HARNESS_AT_EXIT[@]}"; do
		eval "$cmd" || true
	done
	harness_stop
	if [ -n "$HARNESS_DIR" ] && [ -d "$HARNESS_DIR" ] && [ -z "${HARNESS_KEEP-}" ]; then
		rm -rf -- "$HARNESS_DIR"
	fi
	return "$status"
}

# The uid/gid that owns mail, and the users Dovecot's own processes run as.
harness_pick_users() {
	if [ "$(id -u)" -eq 0 ]; then
		HARNESS_MAIL_UID=$(id -u nobody 2>/dev/null) || harness_die "no user 'nobody'"
		HARNESS_MAIL_GID=$(getent group nogroup | cut -d: -f3)
		[ -n "$HARNESS_MAIL_GID" ] || HARNESS_MAIL_GID=$(id -g nobody)
		HARNESS_INTERNAL_USER=nobody
		HARNESS_LOGIN_USER=nobody
		if id dovecot >/dev/null 2>&1; then
			HARNESS_INTERNAL_USER=dovecot
		fi
		if id dovenull >/dev/null 2>&1; then
			HARNESS_LOGIN_USER=dovenull
		fi
		HARNESS_INTERNAL_GROUP=$(id -gn "$HARNESS_INTERNAL_USER")
	else
		HARNESS_MAIL_UID=$(id -u)
		HARNESS_MAIL_GID=$(id -g)
		HARNESS_INTERNAL_USER=$(id -un)
		HARNESS_LOGIN_USER=$HARNESS_INTERNAL_USER
		HARNESS_INTERNAL_GROUP=$(id -gn)
	fi
}

# A CA, and a certificate for SAN (default localhost and 127.0.0.1) signed
# by it.
harness_make_certs() {
	local tls=$HARNESS_DIR/tls
	mkdir -p "$tls" || return 1
	(
		cd "$tls" &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout ca.key -out ca.pem -days 30 \
			-subj "/CN=yubin test CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign"
	) >"$tls/openssl.log" 2>&1 || {
		cat "$tls/openssl.log" >&2
		return 1
	}
	chmod 644 "$tls/ca.pem"
	chmod 600 "$tls/ca.key"
	harness_make_server_cert "DNS:localhost, IP:127.0.0.1"
}

harness_make_server_cert() {
	local tls=$HARNESS_DIR/tls
	cat >"$tls/server.ext" <<-EOF
	basicConstraints = critical, CA:FALSE
	keyUsage = critical, digitalSignature, keyEncipherment
	extendedKeyUsage = serverAuth
	subjectAltName = $1
	EOF
	(
		cd "$tls" &&
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout server.key -out server.csr \
			-subj "/CN=${1#DNS:}" &&
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
			-CAcreateserial -out server.pem -days 30 \
			-extfile server.ext
	) >"$tls/openssl.log" 2>&1 || {
		cat "$tls/openssl.log" >&2
		return 1
	}
	chmod 644 "$tls/server.pem"
	chmod 600 "$tls/server.key"
}

# harness_reissue_cert SAN: restart Dovecot with a new server certificate
# from the same CA, e.g. "DNS:other.example" for a name that does not match.
# The ports change: ask harness_port again.
harness_reissue_cert() {
	harness_stop
	unset HARNESS_CERT_FILE HARNESS_KEY_FILE HARNESS_CHAIN_FILE
	harness_make_server_cert "$1" || harness_die "could not make a certificate for $1"
	harness_launch_retrying
}

# harness_use_cert CERT KEY [CHAIN]: restart Dovecot presenting CERT, then
# the certificates in CHAIN, with KEY.  The ports change.
harness_use_cert() {
	harness_stop
	HARNESS_CERT_FILE=$1
	HARNESS_KEY_FILE=$2
	HARNESS_CHAIN_FILE=${3-}
	harness_launch_retrying
}

# harness_sni_cert "NAME..." CERT KEY [CHAIN]: a certificate for clients
# that ask for one of these server names; from the next start on.
harness_sni_cert() {
	HARNESS_SNI+=("$1|$2|$3|${4-}")
}

harness_restart() {
	harness_stop
	harness_launch_retrying
}

harness_restart_same_ports() {
	harness_stop
	HARNESS_KEEP_PORTS=1 harness_launch_retrying
}

# A certificate and its chain in the one file Dovecot's ssl_cert wants.
harness_cert_with_chain() {
	local out=$1 cert=$2 chain=${3-}
	cat "$cert" ${chain:+"$chain"} >"$out" || return 1
	chmod 644 "$out"
}

# The ssl_cert/ssl_key settings, and a local_name block for each
# harness_sni_cert.
harness_ssl_conf() {
	local tls=$HARNESS_DIR/tls entry names cert key chain i=0
	if [ -n "${HARNESS_CERT_FILE-}" ]; then
		[ -n "${HARNESS_KEY_FILE-}" ] || harness_die "HARNESS_CERT_FILE without HARNESS_KEY_FILE"
		harness_cert_with_chain "$tls/served.pem" "$HARNESS_CERT_FILE" \
			"${HARNESS_CHAIN_FILE-}" || return 1
		printf 'ssl_cert = <%s\nssl_key = <%s\n' "$tls/served.pem" "$HARNESS_KEY_FILE"
	else
		printf 'ssl_cert = <%s\nssl_key = <%s\n' "$tls/server.pem" "$tls/server.key"
	fi
	for entry in ${HARNESS_SNI[@]+"${HARNESS_SNI[@]}"}; do
		IFS='|' read -r names cert key chain <<<"$entry"
		i=$((i + 1))
		harness_cert_with_chain "$tls/sni-$i.pem" "$cert" "$chain" || return 1
		printf 'local_name "%s" {\n  ssl_cert = <%s\n  ssl_key = <%s\n}\n' \
			"$names" "$tls/sni-$i.pem" "$key"
	done
}

# Client certificates (HARNESS_CLIENT_CA): asked for and verified on every
# TLS connection, required for every login, the user name taken from the
# certificate's CN; EXTERNAL logs in with no password, through a passdb
# that answers for that mechanism only.
harness_client_cert_conf() {
	[ -n "${HARNESS_CLIENT_CA-}" ] || return 0
	cat <<-EOF
	ssl_ca = <$HARNESS_CLIENT_CA
	ssl_verify_client_cert = yes
	ssl_require_crl = no
	auth_ssl_require_client_cert = yes
	auth_ssl_username_from_cert = yes
	passdb {
	  driver = static
	  args = nopassword=y
	  mechanisms = external
	}
	EOF
}

# OAuth2 (HARNESS_OAUTH2_INTROSPECTION_URL): XOAUTH2 and OAUTHBEARER
# logins whose bearer tokens Dovecot checks with that RFC 7662
# introspection endpoint, the user being the "username" it answers.
harness_oauth2_conf() {
	[ -n "${HARNESS_OAUTH2_INTROSPECTION_URL-}" ] || return 0
	cat >"$HARNESS_DIR/dovecot/oauth2.conf.ext" <<-EOF
	introspection_mode = post
	introspection_url = $HARNESS_OAUTH2_INTROSPECTION_URL
	username_attribute = username
	active_attribute = active
	active_value = true
	EOF
	cat <<-EOF
	passdb {
	  driver = oauth2
	  mechanisms = xoauth2 oauthbearer
	  args = $HARNESS_DIR/dovecot/oauth2.conf.ext
	}
	EOF
}

harness_make_users() {
	local user home
	: >"$HARNESS_DIR/passwd"
	for user in alice bob carol demo; do
		home=$HARNESS_DIR/home/$user
		mkdir -p "$home/Maildir/new" "$home/Maildir/cur" "$home/Maildir/tmp" || return 1
		chown -R "$HARNESS_MAIL_UID:$HARNESS_MAIL_GID" "$home" || return 1
		chmod -R 700 "$home"
		# user:password:uid:gid:gecos:home:shell
		printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$user" \
			"${HARNESS_PASSWORDS[$user]}" "$HARNESS_MAIL_UID" \
			"$HARNESS_MAIL_GID" "$home" >>"$HARNESS_DIR/passwd"
	done
	# Dovecot's auth process (not root) reads it; test passwords only.
	chmod 644 "$HARNESS_DIR/passwd"
}

# Four distinct free ports on 127.0.0.1: bound together, so they differ,
# then released for Dovecot to take.  Taken below the kernel's ephemeral
# range where there is room: a port in it can become the source port of
# any outgoing connection on the machine while Dovecot is down for a
# harness_restart_same_ports, and the restart then cannot bind it.
harness_pick_ports() {
	local ports
	ports=$("$PYTHON3" - <<-'EOF'
	import random, socket
	try:
	    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
	        low = int(f.read().split()[0])
	except (OSError, ValueError, IndexError):
	    low = 0
	span = (10000, low - 1) if low > 12000 else None
	socks = []
	for _ in range(400):
	    if len(socks) == 4:
	        break
	    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	    try:
	        s.bind(("127.0.0.1", random.randint(*span) if span else 0))
	    except OSError:
	        s.close()
	        continue
	    socks.append(s)
	if len(socks) < 4:
	    raise SystemExit("no four free ports on 127.0.0.1")
	print(" ".join(str(s.getsockname()[1]) for s in socks))
	for s in socks:
	    s.close()
	EOF
	) || return 1
	read -r 'HARNESS_PORTS[pop3]' 'HARNESS_PORTS[pop3s]' \
		'HARNESS_PORTS[imap]' 'HARNESS_PORTS[imaps]' <<<"$ports"
}

# The namespace's mailbox blocks for HARNESS_IMAP_SPECIAL_USE; nothing
# when it is unset, so other tests' configuration stays as it was.
harness_special_use_conf() {
	local pair
	for pair in ${HARNESS_IMAP_SPECIAL_USE:-}; do
		printf '  mailbox "%s" {\n    special_use = %s\n  }\n' "${pair%%:*}" "${pair#*:}"
	done
}

# HARNESS_IMAP_NOTIFY: NOTIFY offered and working, not offered, or
# offered and refused.
harness_notify_conf() {
	case ${HARNESS_IMAP_NOTIFY-} in
	'') ;;
	1) printf 'mailbox_list_index = yes\n' ;;
	off) printf 'mailbox_list_index = no\n' ;;
	refuse) printf 'mailbox_list_index = no\nimap_capability = +NOTIFY\n' ;;
	*) harness_die "HARNESS_IMAP_NOTIFY must be 1, off or refuse, not '$HARNESS_IMAP_NOTIFY'" ;;
	esac
}

harness_write_dovecot_conf() {
	local d=$HARNESS_DIR/dovecot ssl_conf client_conf oauth2_conf
	ssl_conf=$(harness_ssl_conf) || return 1
	client_conf=$(harness_client_cert_conf)
	oauth2_conf=$(harness_oauth2_conf) || return 1
	cat >"$d/dovecot.conf" <<-EOF
	# Generated by the yubin test harness; nothing here is system-wide.
	base_dir = $d/run
	state_dir = $d/state
	instance_name = yubin-test-$$-$RANDOM
	log_path = $d/dovecot.log
	info_log_path = $d/dovecot.log
	debug_log_path = $d/dovecot.log
	protocols = imap pop3
	listen = 127.0.0.1
	shutdown_clients = yes

	default_internal_user = $HARNESS_INTERNAL_USER
	default_internal_group = $HARNESS_INTERNAL_GROUP
	default_login_user = $HARNESS_LOGIN_USER
	first_valid_uid = $HARNESS_MAIL_UID
	first_valid_gid = $HARNESS_MAIL_GID

	ssl = yes
	$ssl_conf
	ssl_min_protocol = TLSv1.2

	# Tests log in with every mechanism, in clear text too (loopback only).
	disable_plaintext_auth = no
	auth_mechanisms = plain login cram-md5 apop${HARNESS_CLIENT_CA:+ external}${HARNESS_OAUTH2_INTROSPECTION_URL:+ xoauth2 oauthbearer}
	auth_failure_delay = 0

	$client_conf
	$oauth2_conf
	passdb {
	  driver = passwd-file
	  args = scheme=PLAIN username_format=%u $HARNESS_DIR/passwd
	}
	userdb {
	  driver = passwd-file
	  args = username_format=%u $HARNESS_DIR/passwd
	}

	mail_location = maildir:~/Maildir
	namespace inbox {
	  inbox = yes
	  separator = ${HARNESS_IMAP_SEPARATOR:-/}
	  prefix = ${HARNESS_IMAP_PREFIX:-}
	$(harness_special_use_conf)
	}
	${HARNESS_IMAP_CAPABILITY:+imap_capability = $HARNESS_IMAP_CAPABILITY}
	${HARNESS_MAIL_PLUGINS:+mail_plugins = $HARNESS_MAIL_PLUGINS}
	$(harness_notify_conf)
	mail_fsync = never
	mail_max_userip_connections = 200

	# Login processes are not chrooted: a rootless Dovecot cannot chroot.
	service anvil {
	  chroot =
	  # Nobody may connect: the auth process then gives up the penalty
	  # (a growing delay after failed logins from one IP) that would
	  # slow every later test after a wrong-password one.
	  unix_listener anvil-auth-penalty {
	    mode = 0
	  }
	}
	service imap-login {
	  chroot =
	  inet_listener imap {
	    address = 127.0.0.1
	    port = ${HARNESS_PORTS[imap]}
	  }
	  inet_listener imaps {
	    address = 127.0.0.1
	    port = ${HARNESS_PORTS[imaps]}
	    ssl = yes
	  }
	}
	service pop3-login {
	  chroot =
	  inet_listener pop3 {
	    address = 127.0.0.1
	    port = ${HARNESS_PORTS[pop3]}
	  }
	  inet_listener pop3s {
	    address = 127.0.0.1
	    port = ${HARNESS_PORTS[pop3s]}
	    ssl = yes
	  }
	}
	EOF
}

# Wait (at most 20 s) until every listener accepts a connection.
harness_wait_ports() {
	"$PYTHON3" - "${HARNESS_PORTS[@]}" <<-'EOF'
	import socket, sys, time
	deadline = time.monotonic() + 20
	for port in sys.argv[1:]:
	    while True:
	        try:
	            socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
	            break
	        except OSError:
	            if time.monotonic() > deadline:
	                sys.exit("port %s never accepted a connection" % port)
	            time.sleep(0.05)
	EOF
}

harness_launch() {
	local d=$HARNESS_DIR/dovecot
	if [ -z "${HARNESS_KEEP_PORTS-}" ]; then
		harness_pick_ports || return 1
	fi
	harness_write_dovecot_conf || return 1
	if ! "$DOVECOT" -c "$d/dovecot.conf" -n >"$d/doveconf.out" 2>&1; then
		cat "$d/doveconf.out" >&2
		return 1
	fi
	# Its own session (process group), so that stopping it can reach every
	# child even if the master died first.
	setsid "$DOVECOT" -F -c "$d/dovecot.conf" </dev/null >>"$d/dovecot.out" 2>&1 &
	HARNESS_PID=$!
	if harness_wait_ports; then
		return 0
	fi
	harness_stop
	return 1
}

harness_start() {
	[ -n "${DOVECOT-}" ] || harness_die "DOVECOT is not set: configure found no dovecot binary (install dovecot-core, dovecot-imapd, dovecot-pop3d)"
	[ -x "$DOVECOT" ] || harness_die "DOVECOT=$DOVECOT is not an executable"
	command -v openssl >/dev/null || harness_die "the openssl command is missing"
	command -v "$PYTHON3" >/dev/null || harness_die "python3 is missing"

	local parent=${TMPDIR:-/tmp}
	# As root the mail user must be able to reach its home: use /tmp,
	# whose parents everyone can traverse.
	if [ "$(id -u)" -eq 0 ]; then
		parent=/tmp
	fi
	HARNESS_DIR=$(mktemp -d "$parent/yubin-test.XXXXXX") || harness_die "mktemp failed"
	trap harness_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	chmod 755 "$HARNESS_DIR"
	mkdir -p "$HARNESS_DIR/dovecot" "$HARNESS_DIR/client" || harness_die "mkdir failed"
	printf '0\n' >"$HARNESS_DIR/batch"

	harness_pick_users
	harness_make_certs || harness_die "could not make the test certificates"
	harness_make_users || harness_die "could not make the test users"

	harness_launch_retrying
}

# A port taken between picking and binding makes Dovecot fail: retry.
harness_launch_retrying() {
	local try tries=3
	# Same ports: a port still held a moment (by a process of the old
	# server that is going away) is waited for, not given up on.
	[ -n "${HARNESS_KEEP_PORTS-}" ] && tries=10
	for ((try = 1; try <= tries; try++)); do
		if harness_launch; then
			return 0
		fi
		printf '# harness: Dovecot did not come up (try %s)\n' "$try"
		[ -n "${HARNESS_KEEP_PORTS-}" ] && sleep 1
	done
	printf '# %s\n' "--- dovecot log ---"
	sed 's/^/# /' "$HARNESS_DIR/dovecot/dovecot.log" "$HARNESS_DIR/dovecot/dovecot.out" 2>/dev/null | tail -n 40
	harness_die "Dovecot did not start"
}

# Live (not zombie) processes whose process group is $1, from /proc.
harness_group_alive() {
	local stat rest
	for stat in /proc/[0-9]*/stat; do
		rest=$(cat "$stat" 2>/dev/null) || continue
		rest=${rest##*) }
		# shellcheck disable=SC2086 # split into fields on purpose
		set -- "$1" $rest
		# After the command: state ppid pgrp ...
		if [ "$4" = "$1" ] && [ "$2" != Z ]; then
			return 0
		fi
	done
	return 1
}

harness_stop() {
	local pid=$HARNESS_PID i
	[ -n "$pid" ] || return 0
	HARNESS_PID=
	kill -TERM "$pid" 2>/dev/null || true
	# The master stops its children; its log process lingers a moment to
	# write the last lines.
	for ((i = 0; i < 100; i++)); do
		harness_group_alive "$pid" || break
		sleep 0.1
	done
	# Anything still there after 10 s is stuck: kill the whole group.
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# harness_add_messages USER COUNT [genmail.py add options...]
# Each call is a new batch: its Message-IDs never repeat an earlier one.
harness_add_messages() {
	local user=$1 count=$2 batch
	shift 2
	batch=$(($(cat "$HARNESS_DIR/batch") + 1))
	printf '%s\n' "$batch" >"$HARNESS_DIR/batch"
	"$PYTHON3" "$HARNESS_LIB_DIR/genmail.py" add \
		--maildir "$(harness_maildir "$user")" --count "$count" \
		--batch "$batch" --uid "$HARNESS_MAIL_UID" --gid "$HARNESS_MAIL_GID" \
		"$@" >/dev/null || harness_die "genmail.py add failed for $user"
}

# harness_write_config FILE ACCOUNT PROTOCOL TLS PORT USER PASSWORD DEST [KEY=VALUE...]
harness_write_config() {
	local file=$1 account=$2 protocol=$3 tls=$4 port=$5 user=$6 password=$7 dest=$8
	shift 8
	local sink=maildir
	case $dest in
	mbox:* | mda:*)
		sink=${dest%%:*}
		dest=${dest#*:}
		;;
	esac
	local -A keys=(
		[protocol]=$protocol
		[host]=127.0.0.1
		[port]=$port
		[tls]=$tls
		[tls_ca_file]=$(harness_ca_file)
		[user]=$user
		[password]=$password
		[state_dir]=$HARNESS_DIR/client/state
		[timeout]=30
	)
	local order=(protocol host port tls tls_ca_file user password state_dir timeout)
	local pair key value
	for pair in "$@"; do
		key=${pair%%=*}
		value=${pair#*=}
		if [ -z "${keys[$key]+set}" ]; then
			order+=("$key")
		fi
		keys[$key]=$value
	done
	(
		umask 077
		{
			printf 'accounts:\n'
			printf '  - name: %s\n' "$account"
			for key in "${order[@]}"; do
				value=${keys[$key]}
				[ -n "$value" ] || continue
				case $key in
				port | timeout | keep | tls_verify | allow_plaintext | \
				delete_after_days | max_size | pipelining | folders | \
				layout | inbox | sync_flags | expunge)
					printf '    %s: %s\n' "$key" "$value" ;;
				tls_fingerprint)
					# A YAML list of pins as it is; one pin quoted.
					case $value in
					\[*) printf '    %s: %s\n' "$key" "$value" ;;
					*) printf '    %s: "%s"\n' "$key" "$(harness_yaml_escape "$value")" ;;
					esac ;;
				*)
					printf '    %s: "%s"\n' "$key" "$(harness_yaml_escape "$value")" ;;
				esac
			done
			printf '    deliver:\n'
			printf '      %s: "%s"\n' "$sink" "$(harness_yaml_escape "$dest")"
		} >"$file"
	) || harness_die "cannot write $file"
	chmod 600 "$file"
}

# Escape for a YAML double-quoted scalar.
harness_yaml_escape() {
	local s=${1//\\/\\\\}
	printf '%s' "${s//\"/\\\"}"
}

# harness_login_count USER: how many logins of USER Dovecot has logged.
harness_login_count() {
	grep -c "Login: user=<$1>," "$(harness_log)" 2>/dev/null
}

# harness_login_method_after USER N: the method of USER's login number
# N+1 in Dovecot's log (e.g. PLAIN, LOGIN, CRAM-MD5, APOP), waiting up to
# 3 s for Dovecot's log process to write it; empty if there is none.
harness_login_method_after() {
	local i line
	for ((i = 0; i < 30; i++)); do
		line=$(grep "Login: user=<$1>," "$(harness_log)" 2>/dev/null | sed -n "$(($2 + 1))p")
		if [ -n "$line" ]; then
			line=${line#*method=}
			printf '%s\n' "${line%%,*}"
			return 0
		fi
		sleep 0.1
	done
}
