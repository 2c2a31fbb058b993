#!/bin/bash
# sync_flags: both with 200 messages changed locally at once: the pushes
# go out as one UID STORE per (sign, flags) group over a UID set, all
# sent before the first answer is read (one round trip), each
# conditional on the folder's HIGHESTMODSEQ; both sides end as merged,
# and the next run sends nothing.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 5
harness_start

work=$(harness_dir)/client
mkdir -p "$work"
imaptool alice append --folder Groups --count 200 --seed groups >/dev/null
# 20 messages the server already holds \Answered: cleared locally below.
imaptool alice store --folder Groups --uids 181:200 --flags '(\Answered)'
harness_write_config "$work/groups.yaml" groups imap implicit "$(harness_port imaps)" \
	alice "$(harness_password alice)" "$work/Maildir" sync_flags=both \
	'folders=["Groups"]' state_dir="$work/state"
yubin_run groups-1 -- -c "$work/groups.yaml"
yubin_run groups-2 -- -c "$work/groups.yaml"
[ "$RUN_STATUS" = 0 ] || tap_bail "the runs before the change failed: $(run_summary)"

# letters FILE LETTERS: the file's info becomes exactly LETTERS.
letters() {
	mv -- "$1" "$work/Maildir/cur/$(basename "${1%%:2,*}"):2,$2"
}
mapfile -t files < <(find "$work/Maildir/cur" "$work/Maildir/new" -type f | sort)
[ "${#files[@]}" = 200 ] || tap_bail "expected 200 files, found ${#files[@]}"
# The groups, in Message-ID order: of the 180 others, 100 +\Seen, 60
# +\Flagged, 20 +(\Seen \Flagged); the 20 \Answered lose it (-\Answered).
for f in "${files[@]}"; do
	mid=$(grep -m 1 -i '^Message-ID:' "$f")
	printf '%s\t%s\n' "$mid" "$f"
done | sort >"$work/by-mid"
i=0
while IFS=$'\t' read -r _ f; do
	case $f in *:2,*R*) letters "$f" ""; continue ;; esac
	if [ "$i" -lt 100 ]; then letters "$f" S
	elif [ "$i" -lt 160 ]; then letters "$f" F
	else letters "$f" FS
	fi
	i=$((i + 1))
done <"$work/by-mid"

yubin_run groups-3 -- -c "$work/groups.yaml" -vvv
stores=$(grep -E 'C: [^ ]+ UID STORE' "$RUN_ERR")
store_count=$(printf '%s\n' "$stores" | grep -c .)
shapes=$(printf '%s\n' "$stores" | sed -E 's/.*UID STORE [0-9:,]+ (\(UNCHANGEDSINCE [0-9]+\) )?//' | sort)
want_shapes=$(printf '%s\n' '+FLAGS.SILENT (\Flagged)' '+FLAGS.SILENT (\Seen \Flagged)' \
	'+FLAGS.SILENT (\Seen)' '-FLAGS.SILENT (\Answered)' | sort)
if [ "$RUN_STATUS" = 0 ] && [ "$store_count" = 4 ] && [ "$shapes" = "$want_shapes" ]; then
	tap_ok "200 local changes in 4 groups: 4 UID STOREs, one per (sign, flags)"
else
	tap_not_ok "200 local changes: one UID STORE per group" "$(run_summary); stores: $stores"
fi
# One round trip: every STORE is sent before the answer to the first.
first_tag=$(printf '%s\n' "$stores" | head -n 1 | sed -E 's/.*C: ([^ ]+) UID STORE.*/\1/')
last_store_line=$(grep -nE 'C: [^ ]+ UID STORE' "$RUN_ERR" | tail -n 1 | cut -d: -f1)
first_answer_line=$(grep -nE "S: $first_tag (OK|NO|BAD)" "$RUN_ERR" | head -n 1 | cut -d: -f1)
if [ -n "$last_store_line" ] && [ -n "$first_answer_line" ] &&
	[ "$last_store_line" -lt "$first_answer_line" ]; then
	tap_ok "all 4 STOREs are sent before the first answer is read (one round trip)"
else
	tap_not_ok "all STOREs sent before the first answer" "last STORE at line $last_store_line, first answer at $first_answer_line"
fi
if printf '%s\n' "$stores" | grep -qv 'UNCHANGEDSINCE'; then
	tap_not_ok "each grouped STORE is conditional (UNCHANGEDSINCE)" "$stores"
else
	tap_ok "each grouped STORE is conditional (UNCHANGEDSINCE)"
fi
flags=$(imaptool alice flags --folder Groups)
seen=$(printf '%s\n' "$flags" | grep -c '\\Seen')
flagged=$(printf '%s\n' "$flags" | grep -c '\\Flagged')
answered=$(printf '%s\n' "$flags" | grep -c '\\Answered')
local_s=$(find "$work/Maildir/cur" -name '*:2,*S*' | wc -l)
if [ "$seen" = 120 ] && [ "$flagged" = 80 ] && [ "$answered" = 0 ] && [ "$local_s" = 120 ]; then
	tap_ok "the server holds 120 \\Seen, 80 \\Flagged, no \\Answered, as the Maildir"
else
	tap_not_ok "the server holds the merged flags" "seen $seen, flagged $flagged, answered $answered, local S $local_s"
fi
yubin_run groups-4 -- -c "$work/groups.yaml" -vvv
if [ "$RUN_STATUS" = 0 ] && ! grep -qE 'C: [^ ]+ UID STORE' "$RUN_ERR"; then
	tap_ok "the next run sends no STORE"
else
	tap_not_ok "the next run sends no STORE" "$(run_summary)"
fi

tap_finish
