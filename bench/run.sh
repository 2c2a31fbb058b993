#!/bin/bash
# run.sh YUBIN DOVECOT - `make bench`: fetch speed and memory of yubin and
# its peers from a private Dovecot on 127.0.0.1, over TLS.  See bench/README.
#
# BENCH_MESSAGES (default 10000) messages of about 15 KB on average
# (deterministic, ~150 MB for 10,000) are put in a fresh Dovecot; then:
#   stream     the floor: a tiny pipelined POP3 RETR client that discards
#   yubin      POP3 into a fresh Maildir
#   yubin      again, nothing new
#   yubin      after 10 new messages
#   yubin      IMAP: all new, nothing new, 10 new
#   yubin      POP3 into an mbox; POP3 through the sh MDA fetchmail gets
#   fetchmail  POP3, keep + uidl, through an MDA writing a Maildir (if installed)
#   mbsync     IMAP into a Maildir (if installed)
# and a table of wall seconds, peak RSS and messages delivered is printed.
# Not a test: a tool that is missing is reported as skipped.

YUBIN=${1:?usage: run.sh YUBIN DOVECOT}
DOVECOT=${2-}
MESSAGES=${BENCH_MESSAGES:-10000}
: "${PYTHON3:=python3}"
BENCH=$(cd "$(dirname "$0")" && pwd)
. "$BENCH/../tests/lib/harness.sh"

if [ -z "$DOVECOT" ]; then
	echo "bench: no dovecot binary (install dovecot-core, dovecot-pop3d, dovecot-imapd and run configure again)" >&2
	exit 1
fi
[ -x "$YUBIN" ] || { echo "bench: no yubin binary at $YUBIN" >&2; exit 1; }
case $MESSAGES in
'' | *[!0-9]*) echo "bench: BENCH_MESSAGES must be a number" >&2; exit 1 ;;
esac

harness_start >/dev/null
work=$(harness_dir)/client
results=$work/results
RSS_FLOOR=
: >"$results"
ca=$(harness_ca_file)
password=$(harness_password alice)

note() { printf 'bench: %s\n' "$*" >&2; }

# measure LABEL COUNT CMD...: run CMD; record its wall time, its peak RSS
# and how many messages it handled.  COUNT is a Maildir to count messages
# in (new/ and cur/), "mbox:FILE" for an mbox, or "stdout" for a command
# that prints the number first on its standard output.
#
# Peak RSS comes from GNU time when it is installed (package "time"):
# Linux reports a child's peak as at least the RSS of the process that
# forked it, so measuring from python would put python's ~15 MB under
# every tool.  Without GNU time that happens, and the table says so.
measure() {
	local label=$1 count=$2 stats=$work/stats out=$work/stdout
	shift 2
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f '%e %M %x' -o "$stats" "$@" >"$out" </dev/null
	else
		RSS_FLOOR=yes
		"$PYTHON3" - "$stats" "$@" >"$out" <<-'EOF'
		import os, subprocess, sys, time
		start = time.monotonic()
		proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL)
		_, status, usage = os.wait4(proc.pid, 0)
		with open(sys.argv[1], "w") as f:
		    f.write("%.2f %d %d\n" % (time.monotonic() - start, usage.ru_maxrss,
		                               os.waitstatus_to_exitcode(status)))
		EOF
	fi
	local seconds rss_kb code messages
	# GNU time puts "Command exited with non-zero status N" first then.
	read -r seconds rss_kb code < <(tail -n 1 "$stats")
	if [ "$count" = stdout ]; then
		messages=$(awk 'NR == 1 { print $1 }' "$out")
	elif [ "${count#mbox:}" != "$count" ]; then
		messages=$(grep -c '^From ' "${count#mbox:}" 2>/dev/null)
	else
		messages=$(find "$count/new" "$count/cur" -type f 2>/dev/null | wc -l)
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$seconds" \
		"$(awk -v kb="$rss_kb" 'BEGIN { printf "%.1f", kb / 1024 }')" \
		"${messages:--}" "$code" >>"$results"
	note "$(printf '%-30s %7s s  %s messages  exit %s' "$label" "$seconds" "${messages:--}" "$code")"
}

if ldd "$YUBIN" 2>/dev/null | grep -q libasan; then
	note "NOTE: $YUBIN is built with sanitizers; its numbers are not representative."
	note "      Configure a build without --enable-sanitizers for real numbers."
fi

note "generating $MESSAGES messages (deterministic) ..."
harness_add_messages alice "$MESSAGES" --profile bench --seed bench
total_mb=$(du -sm "$(harness_maildir alice)" | cut -f1)
note "mailbox: $MESSAGES messages, about $total_mb MB on disk"

# 1. The floor.  Run twice: the first pass also builds Dovecot's indexes
# and warms the page cache, for every tool after it.
measure "stream (warm-up)" stdout "$PYTHON3" "$BENCH/pop3_stream.py" --port "$(harness_port pop3s)" \
	--ca-file "$ca" --user alice --password "$password"
measure "stream: POP3 RETR, discard" stdout "$PYTHON3" "$BENCH/pop3_stream.py" --port "$(harness_port pop3s)" \
	--ca-file "$ca" --user alice --password "$password"

# 2-4. yubin.
harness_write_config "$work/yubin.yaml" bench pop3 implicit "$(harness_port pop3s)" \
	alice "$password" "$work/yubin/Maildir" timeout=300
measure "yubin: POP3, all new" "$work/yubin/Maildir" "$YUBIN" -q -c "$work/yubin.yaml"
measure "yubin: nothing new" "$work/yubin/Maildir" "$YUBIN" -q -c "$work/yubin.yaml"
harness_add_messages alice 10 --profile bench --seed bench-more
measure "yubin: 10 new" "$work/yubin/Maildir" "$YUBIN" -q -c "$work/yubin.yaml"
rm -rf -- "$work/yubin"

# yubin over IMAP, the same mailbox.
harness_write_config "$work/yubin-imap.yaml" bench-imap imap implicit "$(harness_port imaps)" \
	alice "$password" "$work/yubin-imap/Maildir" timeout=300
measure "yubin: IMAP, all new" "$work/yubin-imap/Maildir" "$YUBIN" -q -c "$work/yubin-imap.yaml"
measure "yubin: IMAP, nothing new" "$work/yubin-imap/Maildir" "$YUBIN" -q -c "$work/yubin-imap.yaml"
harness_add_messages alice 10 --profile bench --seed bench-imap-more
measure "yubin: IMAP, 10 new" "$work/yubin-imap/Maildir" "$YUBIN" -q -c "$work/yubin-imap.yaml"
rm -rf -- "$work/yubin-imap"

# make_mda DIR: DIR/mda.sh, a small sh MDA that writes each message to
# DIR/Maildir/tmp/ and renames it into new/ (no fsync).  fetchmail has
# no Maildir delivery of its own; yubin is timed through the same one.
make_mda() {
	mkdir -p "$1/Maildir/tmp" "$1/Maildir/new" "$1/Maildir/cur"
	cat >"$1/mda.sh" <<-EOF
	#!/bin/sh
	f=\$(date +%s%N).\$\$
	cat >"$1/Maildir/tmp/\$f" && mv "$1/Maildir/tmp/\$f" "$1/Maildir/new/\$f"
	EOF
	chmod 755 "$1/mda.sh"
}

# yubin into an mbox, and through the MDA (one process and two journal
# syncs per message: the cost of knowing what each MDA took).
harness_write_config "$work/yubin-mbox.yaml" bench-mbox pop3 implicit "$(harness_port pop3s)" \
	alice "$password" "mbox:$work/yubin.mbox" timeout=300
measure "yubin: POP3 into mbox" "mbox:$work/yubin.mbox" "$YUBIN" -q -c "$work/yubin-mbox.yaml"
rm -f -- "$work/yubin.mbox"
make_mda "$work/yubin-mda"
harness_write_config "$work/yubin-mda.yaml" bench-mda pop3 implicit "$(harness_port pop3s)" \
	alice "$password" "mda:$work/yubin-mda/mda.sh" timeout=300
measure "yubin: POP3 through an MDA" "$work/yubin-mda/Maildir" "$YUBIN" -q -c "$work/yubin-mda.yaml"
rm -rf -- "$work/yubin-mda"

# 5. fetchmail: POP3 with keep and UIDL tracking, through the sh MDA.
if command -v fetchmail >/dev/null; then
	fm=$work/fetchmail
	make_mda "$fm"
	(
		umask 077
		cat >"$fm/fetchmailrc" <<-EOF
		set no syslog
		poll localhost via 127.0.0.1 protocol pop3 port $(harness_port pop3s) uidl
		  user "alice" password "$password"
		  ssl sslcertck sslcertfile "$ca" sslcommonname localhost
		  keep mda "$fm/mda.sh"
		EOF
	)
	# fetchmail refuses to run as root without a warning and wants its own
	# home for its state: give it both explicitly.
	fm_cmd=(env HOME="$fm" FETCHMAILHOME="$fm" fetchmail --nodetach --silent
		-f "$fm/fetchmailrc" --idfile "$fm/fetchids" --pidfile "$fm/pid")
	if [ "$(id -u)" -eq 0 ]; then
		note "fetchmail runs as root here: it warns about that, harmlessly"
	fi
	measure "fetchmail: POP3, all new" "$fm/Maildir" "${fm_cmd[@]}"
	measure "fetchmail: nothing new" "$fm/Maildir" "${fm_cmd[@]}"
	rm -rf -- "$fm"
else
	note "fetchmail is not installed: skipped (Debian package fetchmail)"
	printf 'fetchmail\tskipped\t-\t-\t-\n' >>"$results"
fi

# 6. mbsync: IMAP over TLS into a Maildir.
if command -v mbsync >/dev/null; then
	mb=$work/mbsync
	mkdir -p "$mb/Maildir" "$mb/state"
	(
		umask 077
		cat >"$mb/mbsyncrc" <<-EOF
		IMAPAccount bench
		Host localhost
		Port $(harness_port imaps)
		User alice
		Pass $password
		SSLType IMAPS
		CertificateFile $ca

		IMAPStore remote
		Account bench

		MaildirStore local
		Path $mb/
		Inbox $mb/Maildir

		Channel bench
		Far :remote:
		Near :local:
		Patterns INBOX
		Sync Pull
		Create Near
		SyncState $mb/state/
		EOF
	)
	measure "mbsync: IMAP, all new" "$mb/Maildir" mbsync -q -c "$mb/mbsyncrc" bench
	measure "mbsync: nothing new" "$mb/Maildir" mbsync -q -c "$mb/mbsyncrc" bench
	harness_add_messages alice 10 --profile bench --seed bench-mbsync-more
	measure "mbsync: 10 new" "$mb/Maildir" mbsync -q -c "$mb/mbsyncrc" bench
	rm -rf -- "$mb"
else
	note "mbsync is not installed: skipped (Debian package isync)"
	printf 'mbsync\tskipped\t-\t-\t-\n' >>"$results"
fi

harness_stop

printf '\n%-34s %9s %13s %10s %6s\n' tool seconds "peak RSS MB" messages exit
printf '%-34s %9s %13s %10s %6s\n' ---- ------- ----------- -------- ----
while IFS=$'\t' read -r label seconds rss count code; do
	printf '%-34s %9s %13s %10s %6s\n' "$label" "$seconds" "$rss" "$count" "$code"
done <"$results"
printf '\n%s messages (%s MB on disk) on Dovecot %s, 127.0.0.1, TLS.\n' \
	"$MESSAGES" "$total_mb" "$("$DOVECOT" --version | cut -d' ' -f1)"
if [ -n "${RSS_FLOOR-}" ]; then
	printf 'GNU time is not installed: each peak RSS includes the measuring python (~15 MB).\n'
fi
