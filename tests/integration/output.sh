#!/bin/bash
# What a user and a script read: --json's run fields (version, start,
# duration) and per-folder figures, for three IMAP folders (names with
# quotes, a backslash, non-ASCII), POP3's one and both with -j; an error
# message in --json; the progress line's byte count after an IMAP and a
# POP3 fetch (--progress, stderr not a terminal); and --syslog with no
# syslog to reach still telling the error on stderr.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 21
harness_start

work=$(harness_dir)/client
mkdir -p "$work"
imaptool alice append --folder INBOX --count 5 >/dev/null
imaptool alice append --folder "Entwürfe" --count 3 --batch 2 >/dev/null
odd='Say "hi" \'
imaptool alice append --folder "$odd" --count 2 --batch 3 >/dev/null
imap_config=$work/imap.yaml
harness_write_config "$imap_config" mail imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/imap-Maildir" \
	state_dir="$work/imap-state" folders='["INBOX", "Entw*", "Say*"]'

# json_check NAME PYTHON: ok when the Python expression, over the last
# run's --json output as `j`, is true.
json_check() {
	local why
	why=$("$PYTHON3" - "$RUN_OUT" "$2" <<-'PY'
	import datetime, json, re, sys
	try:
	    with open(sys.argv[1], encoding="utf-8") as f:
	        j = json.load(f)
	    ok = eval(sys.argv[2])
	except Exception as e:
	    print("%s: %s" % (type(e).__name__, e))
	    sys.exit(1)
	if not ok:
	    print("false")
	    sys.exit(1)
	PY
	) && tap_ok "$1" || tap_not_ok "$1" "$why; $(head -c 2000 "$RUN_OUT"); $(run_summary)"
}

before=$(date -u +%s)
yubin_run imap -- -c "$imap_config" --json --progress
tap_status_is 0 "an IMAP fetch of three folders exits 0"
json_check "--json keeps its fields (fetched 10)" \
	'j["exit_code"] == 0 and j["accounts"][0]["fetched"] == 10 and j["accounts"][0]["status"] == "ok" and j["accounts"][0]["skipped_folders"] == []'
version=$("$YUBIN" --version | awk '{ print $2 }')
json_check "--json names the version" "j['version'] == '$version'"
json_check "--json gives the start, RFC 3339 in UTC, of this run" \
	"re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z', j['started']) and abs(datetime.datetime.strptime(j['started'], '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc).timestamp() - $before) < 120"
json_check "--json gives the duration in seconds" \
	'isinstance(j["duration"], float) and 0 <= j["duration"] < 120'
json_check "--json lists the three folders, each with its messages" \
	'j["accounts"][0]["folder_count"] == 3 and sorted((f["name"], f["fetched"]) for f in j["accounts"][0]["folders"]) == [("Entwürfe", 3), ("INBOX", 5), ("Say \"hi\" \\", 2)]'
json_check "... and its bytes, adding up to the account's" \
	'all(isinstance(f["bytes"], int) and f["bytes"] > 0 for f in j["accounts"][0]["folders"]) and sum(f["bytes"] for f in j["accounts"][0]["folders"]) == j["accounts"][0]["bytes"]'
tap_check "the IMAP progress line counts the bytes received" \
	grep -qE "mail: INBOX: 5/5 messages, [1-9][0-9]* (bytes|kB|MB)" "$RUN_ERR"

# Nothing new: the folders are there, with nothing fetched.
yubin_run imap-again -- -c "$imap_config" --json
json_check "a run with nothing new lists the folders with 0 fetched" \
	'j["accounts"][0]["folder_count"] == 3 and all(f["fetched"] == 0 and f["bytes"] == 0 for f in j["accounts"][0]["folders"])'

# POP3: one folder, INBOX; the progress line knows the total from LIST.
pop3_config=$work/pop3.yaml
harness_write_config "$pop3_config" drop pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "$work/pop3-Maildir" \
	state_dir="$work/pop3-state"
yubin_run pop3 -- -c "$pop3_config" --json --progress
tap_status_is 0 "a POP3 fetch exits 0"
json_check "POP3's --json has one folder, INBOX, with all of it" \
	'(a := j["accounts"][0])["folder_count"] == 1 and a["folders"] == [{"name": "INBOX", "fetched": 5, "bytes": a["bytes"]}] and a["bytes"] > 0'
tap_check "the POP3 progress line counts the bytes received of the total" \
	grep -qE "drop: 5/5 messages, [1-9][0-9]* (bytes|kB|MB) of [1-9][0-9]* (bytes|kB|MB)" "$RUN_ERR"

# -j: each account's figures come whole from its own process (the two
# new INBOX messages are seen by both accounts, which fetch the same user).
both_config=$work/both.yaml
imaptool alice append --folder "Entwürfe" --count 1 --batch 4 >/dev/null
harness_add_messages alice 2
{ cat "$imap_config"; tail -n +2 "$pop3_config"; } >"$both_config"
chmod 600 "$both_config"
yubin_run parallel -- -c "$both_config" --json -j 2
tap_status_is 0 "-j 2 with an IMAP and a POP3 account exits 0"
json_check "-j 2: each account has its own folders" \
	'[(a["name"], [(f["name"], f["fetched"]) for f in a["folders"] if f["fetched"]]) for a in j["accounts"]] == [("mail", [("INBOX", 2), ("Entwürfe", 1)]), ("drop", [("INBOX", 2)])]'

# A refused login: the message, not only its kind, is in --json.
bad_config=$work/bad.yaml
harness_write_config "$bad_config" wrong imap implicit "$(harness_port imaps)" \
	alice "not-the-password" "$work/bad-Maildir" state_dir="$work/bad-state"
yubin_run wrong -- -c "$bad_config" --json
tap_status_is 77 "a wrong password exits 77"
json_check "--json gives the error message of a refused login" \
	'(a := j["accounts"][0])["status"] != "ok" and a["exit_code"] == 77 and isinstance(a["error"], str) and "127.0.0.1" in a["error"] and a["error"] in open(sys.argv[1].replace(".out", ".err")).read()'
json_check "... with the run's fields, and no folder" \
	'j["exit_code"] == 77 and j["version"] and j["accounts"][0]["folders"] == []'

# An error before any account: "error" stays the kind, "message" says what.
yubin_run unknown -- -c "$imap_config" --json nosuchaccount
json_check "an early error keeps its kind in error and says what in message" \
	'j["error"] == "usage" and "nosuchaccount" in j["message"] and j["accounts"] == [] and "duration" in j'

# --syslog with nothing listening: said once, then the error on stderr.
yubin_run syslog YUBIN_TEST_SYSLOG_SOCKET="$work/no-syslog-here" -- -c "$bad_config" --syslog
tap_status_is 77 "--syslog without syslog still exits 77 for a wrong password"
tap_is "$(grep -c "syslog is not available ($work/no-syslog-here: .*); logging to stderr" "$RUN_ERR")" 1 \
	"--syslog without syslog says so once"
tap_check "... and the error reaches stderr" grep -q "error: .*127\.0\.0\.1" "$RUN_ERR"

tap_finish
