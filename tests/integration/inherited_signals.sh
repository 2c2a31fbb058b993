#!/bin/bash
# What yubin inherits from whoever starts it must not change what it
# concludes.  Started with SIGCHLD ignored (as some daemons and job
# runners leave it), the kernel reaps yubin's children by itself, and
# how an MDA ended could no longer be asked: a deferring MDA (exit 75)
# was then taken for a delivery, and with keep: false the message was
# deleted on the server, never stored.  Now SIGCHLD is reset at start:
# the deferral is seen, the message stays on the server, and the next
# run delivers it.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 7
harness_start

work=$(harness_dir)/client
mkdir -p "$work/out"
harness_add_messages alice 1 --profile small
on_server() {
	find "$(harness_maildir alice)/new" "$(harness_maildir alice)/cur" \
		-type f 2>/dev/null | wc -l
}
tap_is "$(on_server)" 1 "the server holds one message"

# The MDA reads the message, then defers it (75) or stores it (0).
mda=$work/mda.sh
cat >"$mda" <<'SH'
#!/bin/sh
cat >"${MDA_OUT:?}/msg.$$"
[ -e "$MDA_OUT/accept" ] && exit 0
rm -f "$MDA_OUT/msg.$$"
exit 75
SH
chmod +x "$mda"
harness_write_config "$work/a.yaml" alice pop3 implicit "$(harness_port pop3s)" \
	alice "$(harness_password alice)" "mda:$mda" keep=false

# yubin started with SIGCHLD ignored, as env(1) can leave it.
real_yubin=$YUBIN
YUBIN=$work/ignoring-sigchld.sh
printf '#!/bin/sh\nexec env --ignore-signal=CHLD "%s" "$@"\n' "$real_yubin" >"$YUBIN"
chmod +x "$YUBIN"
yubin_run deferred MDA_OUT="$work/out" -- -c "$work/a.yaml" --json
YUBIN=$real_yubin
tap_check "the MDA deferred the message" test ! -e "$work/out/accept"
tap_is "$(json_get accounts.0.fetched)" 0 "no message counts as delivered"
tap_is "$(on_server)" 1 "the deferred message is still on the server"

touch "$work/out/accept"
yubin_run accepted MDA_OUT="$work/out" -- -c "$work/a.yaml" --json
tap_status_is 0 "the next run exits 0"
tap_is "$(find "$work/out" -name 'msg.*' | wc -l)" 1 "it hands the message over once"
tap_is "$(on_server)" 0 "and only then deletes it on the server"
