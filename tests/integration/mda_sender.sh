#!/bin/bash
# What an MDA command is given, end to end.  The sender (%f) reaches a
# second shell through "sh -c ..." in the MDA line (as su -c or ssh would
# hand it on): a Return-Path carrying shell syntax, or one that starts
# with '-', must reach it as MAILER-DAEMON and run nothing, while an
# ordinary address passes through both shells unchanged; an account name
# that starts with '-' is refused where %a would expand it.  And the
# variables of every account's password_env are read by yubin but kept
# from every command it starts: the MDA of one account and the
# password_cmd of another.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 18
harness_start

work=$(harness_dir)/client
mkdir -p "$work/out"

# The MDA: "record.sh TAG -f SENDER" stores the sender it got, one line a
# message, and its whole environment.
record=$work/record.sh
cat >"$record" <<'SH'
#!/bin/sh
out=${RECORD_OUT:?}
cat >/dev/null
printf '%s\n' "$3" >>"$out/senders.$1"
env >"$out/env.$1.$$"
SH
chmod +x "$record"

# Three messages for alice, written as the server's own files.
pwned=$work/PWNED
add_message() { # NAME RETURN-PATH
	local file
	file=$(harness_maildir alice)/new/1700000000.$1.yubin-test
	printf 'Return-Path: <%s>\nMessage-ID: <%s@yubin.test>\nSubject: %s\n\nbody\n' \
		"$2" "$1" "$1" >"$file"
	chown "$HARNESS_MAIL_UID:$HARNESS_MAIL_GID" "$file"
}
mkdir -p "$(harness_maildir alice)/new"
add_message evil "x;touch\${IFS}$pwned;#@evil"
add_message option "--help@evil.example"
add_message plain "bob+tag=x@example.org"

# The MDA line as written in the file: the whole "..." is one argument to
# sh -c, so the sender meets a shell yubin's quoting does not reach.
# Without a redirection yubin runs it without a shell of its own; with
# one, its own shell expands "${YUBIN_SENDER}" into the inner command.
run_form() { # TAG MDA-LINE
	harness_write_config "$work/$1.yaml" "alice-$1" pop3 implicit \
		"$(harness_port pop3s)" alice "$(harness_password alice)" "mda:$2"
	yubin_run "$1" RECORD_OUT="$work/out" -- -c "$work/$1.yaml" --json -v
}
for form in direct shell; do
	rm -f "$pwned"
	case $form in
	direct) run_form direct "sh -c \"$record direct -f %f\"" ;;
	shell) run_form shell "sh -c \"$record shell -f %f\" 2>&1" ;;
	esac
	tap_status_is 0 "$form: the run exits 0"
	tap_json_is accounts.0.fetched 3 "$form: all three messages are handed over"
	tap_check "$form: the hostile Return-Path ran no shell code" test ! -e "$pwned"
	tap_is "$(sort "$work/out/senders.$form" | tr '\n' ' ')" \
		"MAILER-DAEMON MAILER-DAEMON bob+tag=x@example.org " \
		"$form: shell syntax and a leading '-' give MAILER-DAEMON, the plain address passes"
	tap_check "$form: -v names the sender that was replaced" \
		grep -q 'gets MAILER-DAEMON' "$RUN_ERR"
done

# %a comes from the file, but passes the same filter: a name that starts
# with '-' is refused where the command would expand it.
harness_write_config "$work/dash.yaml" "-alice" pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "mda:$record dash -f %a"
yubin_run dash RECORD_OUT="$work/out" -- -c "$work/dash.yaml" --json
tap_status_is 78 "an MDA command expanding %a to '-alice' fails the account (78)"
tap_check "the error names %a" grep -q '%a would expand to the account.s name' "$RUN_ERR"
tap_check "the command never ran" test ! -e "$work/out/senders.dash"

# Password variables: three accounts in one file.  alice and carol read
# theirs from the environment (carol through yubin's shell: 2>&1); bob's
# password_cmd records its environment before it prints the password.
account_file() { # FILE ACCOUNT USER MDA-TAG KEY=VALUE...
	local file=$1 account=$2 user=$3 tag=$4
	shift 4
	harness_write_config "$file" "$account" pop3 implicit "$(harness_port pop3s)" \
		"$user" "" "mda:$record $tag -f %f 2>&1" "$@"
}
harness_add_messages bob 1 --profile small
harness_add_messages carol 1 --profile small
account_file "$work/a.yaml" alice-env alice env-alice password_env=YUBIN_PW_ALICE
account_file "$work/b.yaml" bob-cmd bob env-bob \
	"password_cmd=env >$work/out/cmd-env; echo $(harness_password bob)"
account_file "$work/c.yaml" carol-env carol env-carol password_env=YUBIN_PW_CAROL
{
	cat "$work/a.yaml"
	tail -n +2 "$work/b.yaml"
	tail -n +2 "$work/c.yaml"
} >"$work/all.yaml"
chmod 600 "$work/all.yaml"
yubin_run secrets RECORD_OUT="$work/out" YUBIN_TEST_KEPT=kept \
	YUBIN_PW_ALICE="$(harness_password alice)" YUBIN_PW_CAROL="$(harness_password carol)" \
	-- -c "$work/all.yaml" --json
tap_status_is 0 "three accounts, two password_env: yubin still reads both (exit 0)"
tap_is "$(json_get accounts.0.fetched)+$(json_get accounts.1.fetched)+$(json_get accounts.2.fetched)" \
	"3+1+1" "each account fetched its messages"
leaks=()
dumps=("$work/out/cmd-env" "$work/out"/env.env-*)
for dump in "${dumps[@]}"; do
	grep -q '^YUBIN_PW_' "$dump" && leaks+=("$(basename "$dump"): $(grep -o '^YUBIN_PW_[A-Z]*' "$dump" | tr '\n' ' ')")
done
tap_is "${#dumps[@]}" 6 "the password_cmd and five MDA runs recorded their environment"
tap_none "no command saw YUBIN_PW_ALICE or YUBIN_PW_CAROL" ${leaks[@]+"${leaks[@]}"}
missing=()
for dump in "${dumps[@]}"; do
	grep -qx 'YUBIN_TEST_KEPT=kept' "$dump" || missing+=("$(basename "$dump")")
done
tap_none "every command still got the rest of the environment" ${missing[@]+"${missing[@]}"}

tap_finish
