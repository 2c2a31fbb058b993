#!/bin/bash
# Authentication: a wrong password is refused with exit 77 and nothing is
# delivered; each mechanism (user, plain, login, cram-md5, apop, auto)
# logs in and fetches; plain text without allow_plaintext is a config
# error; with several accounts the worst outcome decides the exit code
# while the good account still fetches.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 38
harness_start

work=$(harness_dir)/client
harness_add_messages alice 5 --profile small --hostile
server_expected alice "$work/expected"
pop3s=$(harness_port pop3s)
pop3=$(harness_port pop3)
password=$(harness_password alice)

# Wrong password.
harness_write_config "$work/wrong.yaml" wrong pop3 implicit "$pop3s" \
	alice not-the-password "$work/wrong/Maildir"
yubin_run wrong -- -c "$work/wrong.yaml" --json
tap_status_is 77 "a wrong password exits 77"
tap_json_is accounts.0.status auth "a wrong password: --json status is auth"
tap_is "$(maildir_count "$work/wrong/Maildir")" 0 "a wrong password delivers nothing"
if grep -q not-the-password "$RUN_ERR" "$RUN_OUT"; then
	tap_not_ok "the password does not appear in the output"
else
	tap_ok "the password does not appear in the output"
fi
yubin_run wrong-v -- -c "$work/wrong.yaml" -vvv
if grep -q not-the-password "$RUN_ERR" "$RUN_OUT"; then
	tap_not_ok "the password does not appear in the output, even with -vvv"
else
	tap_ok "the password does not appear in the output, even with -vvv"
fi

# mech_case NAME TLS PORT AUTH DOVECOT_METHOD [KEY=VALUE...]: four checks;
# Dovecot's log names the method the login really used (USER/PASS shows
# as PLAIN; "any" accepts whatever auth: auto chose).
mech_case() {
	local name=$1 tls=$2 port=$3 auth=$4 method=$5
	shift 5
	local maildir=$work/$name/Maildir logins
	harness_write_config "$work/$name.yaml" "$name" pop3 "$tls" "$port" \
		alice "$password" "$maildir" auth="$auth" "$@"
	logins=$(harness_login_count alice)
	yubin_run "$name" -- -c "$work/$name.yaml" --json -vvv
	tap_status_is 0 "$name: exits 0"
	local seen
	seen=$(harness_login_method_after alice "$logins")
	if [ "$method" = any ] && [ -n "$seen" ]; then
		tap_ok "$name: Dovecot saw a login ($seen)"
	else
		tap_is "$seen" "$method" "$name: Dovecot saw a $method login"
	fi
	tap_delivered_exactly "$work/expected" "$maildir" "$name: all 5 delivered, byte-identical"
	if grep -q -- "$password" "$RUN_ERR" "$RUN_OUT"; then
		tap_not_ok "$name: the password is not in the -vvv output"
	else
		tap_ok "$name: the password is not in the -vvv output"
	fi
}

mech_case auth-user implicit "$pop3s" user PLAIN
mech_case auth-plain implicit "$pop3s" plain PLAIN
mech_case auth-login implicit "$pop3s" login LOGIN
mech_case auth-cram implicit "$pop3s" cram-md5 CRAM-MD5
mech_case auth-apop none "$pop3" apop APOP allow_plaintext=true
mech_case auth-cram-plaintext none "$pop3" cram-md5 CRAM-MD5 allow_plaintext=true
mech_case auth-auto starttls "$pop3" auto any

# tls: none without allow_plaintext: refused before anything is sent.
harness_write_config "$work/clear.yaml" clear pop3 none "$pop3" \
	alice "$password" "$work/clear/Maildir" auth=user
yubin_run clear -- -c "$work/clear.yaml"
tap_status_is 78 "tls: none without allow_plaintext: true is a config error (78)"
tap_is "$(maildir_count "$work/clear/Maildir")" 0 "tls: none without allow_plaintext delivers nothing"

# Two accounts, one refused: exit 77, the other still fetches.
cat >"$work/two.yaml" <<YAML
accounts:
  - name: good
    protocol: pop3
    host: 127.0.0.1
    port: $pop3s
    tls_ca_file: "$(harness_ca_file)"
    user: alice
    password: "$password"
    state_dir: "$work/two-state"
    deliver:
      maildir: "$work/two-good/Maildir"
  - name: bad
    protocol: pop3
    host: 127.0.0.1
    port: $pop3s
    tls_ca_file: "$(harness_ca_file)"
    user: bob
    password: "wrong"
    state_dir: "$work/two-state"
    deliver:
      maildir: "$work/two-bad/Maildir"
YAML
chmod 600 "$work/two.yaml"
yubin_run two -- -c "$work/two.yaml" --json
tap_status_is 77 "two accounts, one refused: exit 77 (the worst wins)"
tap_delivered_exactly "$work/expected" "$work/two-good/Maildir" "two accounts: the good one still delivers everything"
tap_is "$(json_get accounts.1.status)/$(json_get accounts.1.exit_code)" auth/77 "two accounts: --json reports the refused one"

tap_finish
