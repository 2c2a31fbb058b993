# tools.sh - how `make bench` sets up and runs each tool (sourced by run.sh).
#
#   tool_setup TOOL DIR    a fresh DIR with TOOL's configuration for the
#                          group in G_PROTO, G_USER, G_FOLDERS, G_SOURCES
#   tool_cmd TOOL DIR      CMD=(the command that fetches once)
#   tool_count TOOL DIR    messages delivered so far (stream: from stdout)
#
# Every tool delivers under DIR/mail (a Maildir, or a tree of them), and
# keeps its own state under DIR: tools never share what they know.
# fetchmail has no Maildir delivery: it goes through a small sh MDA (no
# fsync), or in the 100,000-message groups (G_FETCHMAIL_BSMTP=yes) into
# one BSMTP file, so that priming it does not fork 300,000 processes.

tool_port() {
	if [ "$G_PROTO" = pop3 ]; then harness_port pop3s; else harness_port imaps; fi
}

# A tool's last Maildir is moved aside, not removed: on an ext4 without a
# journal an inode freed a minute or so ago is passed over one by one when
# a file is made, so removing 10,000 files just before a tool runs would
# make its file creation, not its fetch, the figure (bench/README).  The
# harness removes the lot at exit.
tool_setup() {
	local tool=$1 dir=$2
	if [ -e "$dir" ]; then
		mkdir -p "$work/trash" &&
			mv -- "$dir" "$(mktemp -d "$work/trash/old.XXXXXX")/" ||
			{ echo "bench: cannot move $dir aside" >&2; exit 1; }
	fi
	mkdir -p "$dir/mail/tmp" "$dir/mail/new" "$dir/mail/cur"
	case $tool in
	yubin) setup_yubin "$dir" ;;
	mbsync) setup_mbsync "$dir" ;;
	mpop) setup_mpop "$dir" ;;
	fetchmail) setup_fetchmail "$dir" ;;
	stream | floor) ;;
	*) echo "bench: unknown tool $tool" >&2; exit 1 ;;
	esac
}

tool_cmd() {
	local tool=$1 dir=$2
	case $tool in
	yubin) CMD=("$YUBIN" -q -c "$dir/yubin.yaml" ${G_JOBS:+-j "$G_JOBS"}) ;;
	mbsync) CMD=(mbsync -q -c "$dir/mbsyncrc" bench) ;;
	mpop)
		CMD=(mpop -q -C "$dir/mpoprc")
		if [ -n "${G_ACCOUNTS-}" ]; then CMD+=(-a); else CMD+=(bench); fi ;;
	fetchmail) CMD=(env HOME="$dir" FETCHMAILHOME="$dir" fetchmail --nodetach
		--silent -f "$dir/fetchmailrc" --idfile "$dir/fetchids"
		--pidfile "$dir/pid") ;;
	stream) stream_cmd ;;
	floor) CMD=("$DISK_FLOOR" "$dir/mail" "${G_SOURCES[@]}") ;;
	esac
}

tool_count() {
	local tool=$1 dir=$2
	case $tool in
	stream) awk 'NR == 1 { print $1 }' "$dir/stdout" ;;
	fetchmail)
		if [ -f "$dir/bsmtp" ]; then
			grep -c '^MAIL FROM:' "$dir/bsmtp"
		else
			count_maildirs "$dir/mail"
		fi ;;
	*) count_maildirs "$dir/mail" ;;
	esac
}

count_maildirs() {
	find "$1" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l
}

stream_cmd() {
	local password
	password=$(harness_password "$G_USER")
	if [ "$G_PROTO" = pop3 ]; then
		CMD=("$PYTHON3" "$BENCH/pop3_stream.py")
	else
		CMD=("$PYTHON3" "$BENCH/imap_stream.py")
	fi
	CMD+=(--port "$(tool_port)" --ca-file "$(harness_ca_file)"
		--user "$G_USER" --password "$password")
	if [ "$G_PROTO" = imap ]; then
		CMD+=("${G_FOLDER_NAMES[@]}")
	fi
}

# yubin: one account, or G_ACCOUNTS accounts of the same maildrop, each
# with its own state directory and Maildir.
setup_yubin() {
	local dir=$1 password port i one=$1/one.yaml
	password=$(harness_password "$G_USER")
	port=$(tool_port)
	if [ -z "${G_ACCOUNTS-}" ]; then
		harness_write_config "$dir/yubin.yaml" bench "$G_PROTO" implicit "$port" \
			"$G_USER" "$password" "$dir/mail" state_dir="$dir/state" \
			timeout=600 ${G_FOLDERS:+folders="$G_FOLDERS"}
		return
	fi
	(umask 077 && echo 'accounts:' >"$dir/yubin.yaml")
	for ((i = 1; i <= G_ACCOUNTS; i++)); do
		harness_write_config "$one" "a$i" "$G_PROTO" implicit "$port" \
			"$G_USER" "$password" "$dir/mail/a$i" state_dir="$dir/state/a$i" \
			timeout=600
		tail -n +2 "$one" >>"$dir/yubin.yaml"
	done
	rm -f -- "$one"
}

setup_mbsync() {
	local dir=$1 password
	password=$(harness_password "$G_USER")
	(
		umask 077
		cat >"$dir/mbsyncrc" <<-EOF
		IMAPAccount bench
		Host localhost
		Port $(tool_port)
		User $G_USER
		Pass $password
		SSLType IMAPS
		CertificateFile $(harness_ca_file)

		IMAPStore remote
		Account bench

		MaildirStore local
		Path $dir/mail/
		Inbox $dir/mail
		SubFolders Verbatim

		Channel bench
		Far :remote:
		Near :local:
		Patterns ${G_FOLDERS_MBSYNC:-INBOX}
		Sync Pull
		Create Near
		SyncState $dir/
		EOF
	)
}

# mpop: one account, or G_ACCOUNTS accounts (run with -a, one after the
# other: mpop has no parallel mode).
setup_mpop() {
	local dir=$1 password i
	password=$(harness_password "$G_USER")
	(
		umask 077
		cat >"$dir/mpoprc" <<-EOF
		defaults
		host 127.0.0.1
		port $(tool_port)
		tls on
		tls_starttls off
		tls_trust_file $(harness_ca_file)
		user $G_USER
		password $password
		keep on
		EOF
		if [ -z "${G_ACCOUNTS-}" ]; then
			printf 'account bench\nuidls_file %s\ndelivery maildir %s\n' \
				"$dir/uidls" "$dir/mail" >>"$dir/mpoprc"
			exit 0
		fi
		for ((i = 1; i <= G_ACCOUNTS; i++)); do
			mkdir -p "$dir/mail/a$i/tmp" "$dir/mail/a$i/new" "$dir/mail/a$i/cur"
			printf 'account a%s\nuidls_file %s\ndelivery maildir %s\n' \
				"$i" "$dir/uidls-a$i" "$dir/mail/a$i"
		done >>"$dir/mpoprc"
	)
}

setup_fetchmail() {
	local dir=$1 password delivery
	password=$(harness_password "$G_USER")
	if [ "${G_FETCHMAIL_BSMTP-}" = yes ]; then
		: >"$dir/bsmtp"
		delivery="bsmtp \"$dir/bsmtp\""
	else
		cat >"$dir/mda.sh" <<-EOF
		#!/bin/sh
		f=\$(date +%s%N).\$\$
		cat >"$dir/mail/tmp/\$f" && mv "$dir/mail/tmp/\$f" "$dir/mail/new/\$f"
		EOF
		chmod 755 "$dir/mda.sh"
		delivery="mda \"$dir/mda.sh\""
	fi
	(
		umask 077
		cat >"$dir/fetchmailrc" <<-EOF
		set no syslog
		poll localhost via 127.0.0.1 protocol pop3 port $(tool_port) uidl
		  user "$G_USER" password "$password"
		  ssl sslcertck sslcertfile "$(harness_ca_file)" sslcommonname localhost
		  keep $delivery
		EOF
	)
}
