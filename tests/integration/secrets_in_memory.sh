#!/bin/bash
# Secrets do not outlive their use, and no other process of the user can
# read yubin's memory.
#
# Once the login is over, the password is gone from yubin's memory: an
# MDA (run by yubin for each message, so after the login) reads its
# parent's memory through /proc/PPID/mem and looks for the password, its
# base64 and the SASL PLAIN response, for IMAP and POP3 and several login
# methods.  The password comes from password_cmd: an inline password:
# stays in the loaded account file for the whole run, as documented.
# A marker (the account name) must be found, or the scan saw nothing.
#
# yubin is not dumpable (prctl PR_SET_DUMPABLE): run as nobody, its
# password_cmd (a process of the same user) finds yubin's /proc files
# owned by root, which is how Linux marks a process that is not dumpable,
# and cannot read its /proc/PID/environ (nor mem, nor ptrace it).  As root
# every process can read everything, so that part needs root to switch
# to nobody; so does reading a non-dumpable yubin's memory.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 12
harness_start

work=$(harness_dir)/client
password=$(harness_password alice)
harness_add_messages alice 2 --profile small

# What the scan looks for, in a file of its own: on the MDA's command line
# it would be in yubin's memory as part of the account.
"$PYTHON3" - "$password" >"$work/forms" <<-'EOF'
	import base64, sys
	secret = sys.argv[1].encode()
	print(secret.decode())
	print(base64.b64encode(secret).decode())
	print(base64.b64encode(b"\0alice\0" + secret).decode())
	EOF
chmod 600 "$work/forms"
printf '%s\n' "$password" >"$work/password"
chmod 600 "$work/password"

cat >"$work/memscan.py" <<-'EOF'
	# An MDA: take the message, then search the memory of yubin (our
	# parent) for each line of FORMS and for MARKER; append one report
	# line per form found ("found N in REGION"), and "marker" and
	# "scanned N regions" to REPORT.  A mapping of more than 1 GiB is a
	# reservation, not memory yubin wrote (AddressSanitizer's shadow maps
	# terabytes): skipped.  The marker shows the heap was still scanned.
	import os, sys
	forms_path, marker, report_path = sys.argv[1:4]
	sys.stdin.buffer.read()
	forms = [l.encode() for l in open(forms_path).read().split("\n") if l]
	needles = [marker.encode()] + forms
	overlap = max(len(n) for n in needles)
	pid = os.getppid()
	lines, seen_marker, regions = [], False, 0
	CHUNK, LARGEST = 16 << 20, 1 << 30
	with open("/proc/%d/maps" % pid) as maps, \
	     open("/proc/%d/mem" % pid, "rb", 0) as mem:
	    for entry in maps:
	        fields = entry.split()
	        start, end = (int(x, 16) for x in fields[0].split("-"))
	        name = fields[5] if len(fields) > 5 else "anonymous"
	        # Writable memory: heap, stack, anonymous mappings, data.
	        if not fields[1].startswith("rw") or name.startswith("[v"):
	            continue
	        if end - start > LARGEST:
	            continue
	        tail, read_any = b"", False
	        for at in range(start, end, CHUNK):
	            try:
	                mem.seek(at)
	                data = tail + mem.read(min(CHUNK, end - at))
	            except OSError:
	                break
	            read_any = True
	            seen_marker = seen_marker or needles[0] in data
	            for i, form in enumerate(forms):
	                if form in data:
	                    lines.append("found form %d in %s" % (i, name))
	            tail = data[-overlap:]
	        regions += read_any
	with open(report_path, "a") as report:
	    for line in lines:
	        report.write(line + "\n")
	    if seen_marker:
	        report.write("marker\n")
	    report.write("scanned %d regions\n" % regions)
	EOF

# memory_case NAME PROTOCOL PORT KEY=VALUE...: log in with password_cmd,
# deliver the two messages to the scanning MDA, and check its reports.
memory_case() {
	local name=$1 protocol=$2 port=$3
	shift 3
	local account=memscan-$name report=$work/$name.report
	harness_write_config "$work/$name.yaml" "$account" "$protocol" implicit \
		"$port" alice "" \
		"mda:$PYTHON3 $work/memscan.py $work/forms $account $report" \
		password_cmd="cat $work/password" "$@"
	yubin_run "$name" -- -c "$work/$name.yaml"
	tap_status_is 0 "$name: exits 0"
	local found scans marks
	found=$(grep '^found' "$report" 2>/dev/null | sort -u)
	scans=$(grep -c '^scanned [1-9]' "$report" 2>/dev/null)
	marks=$(grep -c '^marker' "$report" 2>/dev/null)
	if [ -z "$found" ] && [ "$scans" = 2 ] && [ "$marks" = 2 ]; then
		tap_ok "$name: after the login the password is nowhere in yubin's memory"
	else
		tap_not_ok "$name: after the login the password is nowhere in yubin's memory" \
			"scans: $scans, markers seen: $marks (of 2); $found"
	fi
}

# nobody_case: a whole run as nobody, whose password_cmd looks at yubin
# (its parent, through exec) as any process of that user could.  Not run
# under a wrapper such as valgrind: the parent must be yubin itself.
nobody_case() {
	local dir
	dir=$(mktemp -d "$(harness_dir)/nobody.XXXXXX") || tap_bail "mktemp failed"
	cat >"$dir/peek.sh" <<-EOF
		#!/bin/sh
		stat -c %u /proc/\$PPID/status >$dir/owner
		stat -c %u /proc/\$\$/status >$dir/own-owner
		if cat /proc/\$PPID/environ >/dev/null 2>&1; then
			echo readable
		else
			echo unreadable
		fi >$dir/environ
		cat $dir/password
		EOF
	chmod 755 "$dir/peek.sh"
	cp "$work/password" "$dir/password"
	harness_write_config "$dir/config.yaml" nobody pop3 implicit \
		"$(harness_port pop3s)" alice "" "$dir/Maildir" \
		password_cmd="exec $dir/peek.sh" state_dir="$dir/state"
	chown -R 65534:65534 "$dir"
	local status
	status=$(timeout -k 5 "$YUBIN_TIMEOUT" setpriv --reuid=65534 \
		--regid=65534 --clear-groups env HOME="$dir" "$YUBIN" \
		-c "$dir/config.yaml" >"$work/nobody.out" 2>"$work/nobody.err"
		echo $?)
	tap_is "$status" 0 "as nobody: the run exits 0"
	tap_is "$(cat "$dir/own-owner" 2>&1)" 65534 \
		"as nobody: a dumpable process's /proc files are nobody's (the check works)"
	tap_is "$(cat "$dir/owner" 2>&1)" 0 \
		"as nobody: yubin's /proc files belong to root: it is not dumpable"
	tap_is "$(cat "$dir/environ" 2>&1)" unreadable \
		"as nobody: another process of the user cannot read yubin's /proc/PID/environ"
}

if [ "$(id -u)" -ne 0 ]; then
	for _ in $(seq 12); do
		tap_ok "# SKIP switching to nobody and reading a non-dumpable process's memory need root"
	done
else
	imaps=$(harness_port imaps)
	pop3s=$(harness_port pop3s)
	memory_case imap-auto imap "$imaps" auth=auto
	memory_case imap-plain imap "$imaps" auth=plain
	memory_case pop3-user pop3 "$pop3s" auth=user
	memory_case pop3-login pop3 "$pop3s" auth=login
	nobody_case
fi

tap_finish
