#!/bin/bash
# Secrets stay secret: for every IMAP and POP3 login method and every
# password source, at the highest verbosity (the protocol trace) and with
# --json, successful and refused, neither the password nor any encoding
# of it that crosses the wire appears in yubin's output or in its state
# directory.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 47
harness_start

work=$(harness_dir)/client
harness_add_messages alice 2 --profile small
password=$(harness_password alice)
wrong=wrong-$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')

# forms_of SECRET: the secret, its base64, and the SASL PLAIN response.
forms_of() {
	"$PYTHON3" - "$1" <<-'EOF'
	import base64, sys
	secret = sys.argv[1].encode()
	print(secret.decode())
	print(base64.b64encode(secret).decode())
	print(base64.b64encode(b"\0alice\0" + secret).decode())
	EOF
}

# tap_no_secret LABEL SECRET: no form of SECRET in the run's output or
# anywhere under the state directory.
tap_no_secret() {
	local label=$1 secret=$2 form found=
	while IFS= read -r form; do
		if grep -rqF -- "$form" "$RUN_OUT" "$RUN_ERR" "$work/state" 2>/dev/null; then
			found=$form
		fi
	done < <(forms_of "$secret")
	if [ -z "$found" ]; then
		tap_ok "$label: the secret is nowhere in the output or state"
	else
		tap_not_ok "$label: the secret is nowhere in the output or state" \
			"found: $found"
	fi
}

# secret_case NAME PROTOCOL TLS PORT STATUS SECRET KEY=VALUE...: a run at
# -vvv with --json, its exit status, and the grep.
secret_case() {
	local name=$1 protocol=$2 tls=$3 port=$4 status=$5 secret=$6
	shift 6
	harness_write_config "$work/$name.yaml" "$name" "$protocol" "$tls" \
		"$port" alice "" "$work/$name/Maildir" "$@"
	yubin_run "$name" -- -c "$work/$name.yaml" -vvv --json
	tap_status_is "$status" "$name: exits $status"
	tap_no_secret "$name" "$secret"
}

imaps=$(harness_port imaps)
pop3s=$(harness_port pop3s)

for auth in plain login cram-md5 auto; do
	secret_case "imap-$auth" imap implicit "$imaps" 0 "$password" \
		auth="$auth" password="$password"
	secret_case "imap-$auth-refused" imap implicit "$imaps" 77 "$wrong" \
		auth="$auth" password="$wrong"
done
for auth in user plain login cram-md5; do
	secret_case "pop3-$auth" pop3 implicit "$pop3s" 0 "$password" \
		auth="$auth" password="$password"
	secret_case "pop3-$auth-refused" pop3 implicit "$pop3s" 77 "$wrong" \
		auth="$auth" password="$wrong"
done
secret_case pop3-apop pop3 none "$(harness_port pop3)" 0 "$password" \
	auth=apop password="$password" allow_plaintext=true

# Each password source, right and wrong.
printf '%s\n' "$password" >"$work/right.pw"
printf '%s\n' "$wrong" >"$work/wrong.pw"
chmod 600 "$work/right.pw" "$work/wrong.pw"
secret_case source-cmd imap implicit "$imaps" 0 "$password" \
	password_cmd="cat '$work/right.pw'"
secret_case source-cmd-refused imap implicit "$imaps" 77 "$wrong" \
	password_cmd="cat '$work/wrong.pw'"
secret_case source-file pop3 implicit "$pop3s" 0 "$password" \
	password_file="$work/right.pw"
secret_case source-file-refused pop3 implicit "$pop3s" 77 "$wrong" \
	password_file="$work/wrong.pw"
export YUBIN_TEST_SECRET=$password
secret_case source-env imap implicit "$imaps" 0 "$password" \
	password_env=YUBIN_TEST_SECRET
unset YUBIN_TEST_SECRET

# A password file others can read is refused, naming the file only.
chmod 644 "$work/wrong.pw"
secret_case source-file-unsafe imap implicit "$imaps" 78 "$wrong" \
	password_file="$work/wrong.pw"
tap_check "source-file-unsafe: the message names the file" \
	grep -qF "$work/wrong.pw" "$RUN_ERR"

tap_finish
