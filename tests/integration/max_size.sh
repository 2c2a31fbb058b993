#!/bin/bash
# max_size, POP3 and IMAP: a message over the limit is not fetched, is
# reported on every run, stays on the server, and is fetched once the
# limit allows it; smaller ones are fetched meanwhile.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 14
harness_start

work=$(harness_dir)/client
harness_add_messages alice 6 --profile small
"$PYTHON3" "$top_srcdir/tests/lib/imaptool.py" append --port "$(harness_port imap)" \
	--user bob --password "$(harness_password bob)" --count 3 --profile small >/dev/null ||
	tap_bail "imaptool append failed"
big=$(printf 'Message-ID: <big@yubin.test>\nSubject: big\n\n%s\n' "$(head -c 300000 /dev/zero | tr '\0' 'x')")
printf '%s' "$big" >"$work/big.eml"
"$PYTHON3" - "$(harness_maildir alice)" "$work/big.eml" "$HARNESS_MAIL_UID" "$HARNESS_MAIL_GID" <<'PY'
import os, shutil, sys
dst = os.path.join(sys.argv[1], "new", "1700000999.big.yubin-test")
shutil.copy(sys.argv[2], dst)
os.chown(dst, int(sys.argv[3]), int(sys.argv[4]))
PY
"$PYTHON3" - "$(harness_port imap)" bob "$(harness_password bob)" "$work/big.eml" <<'PY' || tap_bail "IMAP APPEND of the big message failed"
import imaplib, sys
imap = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
imap.login(sys.argv[2], sys.argv[3])
data = open(sys.argv[4], "rb").read().replace(b"\n", b"\r\n")
typ, _ = imap.append("INBOX", None, None, data)
sys.exit(0 if typ == "OK" else 1)
PY

for proto in pop3 imap; do
	if [ "$proto" = pop3 ]; then user=alice port=$(harness_port pop3s) total=7; else user=bob port=$(harness_port imaps) total=4; fi
	config=$work/$proto.yaml
	harness_write_config "$config" "ms-$proto" "$proto" implicit "$port" \
		"$user" "$(harness_password "$user")" "$work/$proto/Mail" max_size=100k
	yubin_run "$proto-1" -- -c "$config" --json
	tap_json_is accounts.0.too_large 1 "$proto: the message over max_size is reported"
	tap_json_is accounts.0.fetched $((total - 1)) "$proto: the others are fetched"
	tap_check "$proto: a warning names max_size" grep -q max_size "$RUN_ERR"
	yubin_run "$proto-2" -- -c "$config" --json
	tap_json_is accounts.0.too_large 1 "$proto: the next run reports it again"
	harness_write_config "$config" "ms-$proto" "$proto" implicit "$port" \
		"$user" "$(harness_password "$user")" "$work/$proto/Mail" max_size=1m
	yubin_run "$proto-3" -- -c "$config" --json
	tap_json_is accounts.0.fetched 1 "$proto: with a higher limit it is fetched"
	tap_is "$(grep -l '<big@yubin.test>' "$work/$proto/Mail"/new/* "$work/$proto/Mail"/cur/* 2>/dev/null | wc -l)" 1 \
		"$proto: and delivered once"
	tap_is "$(maildir_count "$work/$proto/Mail")" "$total" "$proto: all $total are delivered"
done

tap_finish
