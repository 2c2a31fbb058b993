#!/bin/bash
# --shard: twelve accounts (POP3 and IMAP, three per Dovecot user, each
# with its own Maildir and state) fetched by three runs at once, each
# with --shard K/3: every account by exactly one shard, the one the
# written-down hash puts it in (computed here independently), every
# message of every account exactly once; again with new mail and -j;
# --shard auto from a Kubernetes Indexed Job's and a Slurm job array's
# variables, and the contrib CronJob and Slurm script run as their job
# runner would; a shard with no account (exit 0, said so); named accounts
# with --shard; and hostile values (exit 64, naming the variable).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/harness.sh"
. "$top_srcdir/tests/lib/checks.sh"

need_yubin
tap_plan 72
harness_start

work=$(harness_dir)/client
mkdir -p "$work"
config=$work/config.yaml
users=(alice bob carol demo)
accounts=()

# The shard shard.h writes down, computed apart from yubin's code.
expected_shard() {
	"$PYTHON3" - "$1" "$2" <<-'EOF'
	import sys
	h = 0xcbf29ce484222325
	for byte in sys.argv[1].encode():
	    h = ((h ^ byte) * 0x100000001b3) % 2**64
	print((h ^ (h >> 32)) % int(sys.argv[2]))
	EOF
}

# The accounts a --json output fetched, one a line, sorted.
json_accounts() {
	"$PYTHON3" -c 'import json, sys
for a in json.load(open(sys.argv[1]))["accounts"]:
    print(a["name"])' "$1" 2>/dev/null | sort
}

# The accounts expected in shard K of N, sorted.
accounts_of_shard() {
	local name
	for name in "${accounts[@]}"; do
		[ "$(expected_shard "$name" "$2")" = "$1" ] && printf '%s\n' "$name"
	done | sort
}

# One account file of twelve: USER-1 and USER-3 by POP3, USER-2 by IMAP.
: >"$config"
for user in "${users[@]}"; do
	harness_add_messages "$user" 6 --profile small
	for i in 1 2 3; do
		name=$user-$i
		accounts+=("$name")
		if [ "$i" = 2 ]; then
			harness_write_config "$work/one.yaml" "$name" imap implicit \
				"$(harness_port imaps)" "$user" "$(harness_password "$user")" \
				"$work/mail/$name"
		else
			harness_write_config "$work/one.yaml" "$name" pop3 implicit \
				"$(harness_port pop3s)" "$user" "$(harness_password "$user")" \
				"$work/mail/$name"
		fi
		[ -s "$config" ] || echo "accounts:" >"$config"
		tail -n +2 "$work/one.yaml" >>"$config"
	done
done
chmod 600 "$config"

check_delivered() {
	local user name
	for user in "${users[@]}"; do
		server_expected "$user" "$work/expected-$user"
	done
	for name in "${accounts[@]}"; do
		tap_delivered_exactly "$work/expected-${name%-*}" "$work/mail/$name" \
			"$1: $name holds every message of ${name%-*} exactly once"
	done
}

# run_shards TAG [ARGS...]: shards 0, 1 and 2 of 3 started together.
run_shards() {
	local tag=$1 k
	shift
	local pids=()
	for k in 0 1 2; do
		timeout -k 5 "$YUBIN_TIMEOUT" "$YUBIN" -c "$config" --json --shard "$k/3" "$@" \
			>"$work/$tag-$k.json" 2>"$work/$tag-$k.err" </dev/null &
		pids+=($!)
	done
	for k in 0 1 2; do
		wait "${pids[$k]}"
		printf '%s\n' "$?" >"$work/$tag-$k.status"
	done
}

check_shards() {
	local tag=$1 k all=
	for k in 0 1 2; do
		tap_is "$(cat "$work/$tag-$k.status")" 0 "$tag: shard $k/3 exits 0"
		tap_is "$(json_accounts "$work/$tag-$k.json" | tr '\n' ' ')" \
			"$(accounts_of_shard "$k" 3 | tr '\n' ' ')" \
			"$tag: shard $k/3 fetched exactly the accounts whose hash is $k mod 3"
		all+=$(json_accounts "$work/$tag-$k.json")$'\n'
	done
	tap_is "$(printf '%s' "$all" | sed '/^$/d' | sort | tr '\n' ' ')" \
		"$(printf '%s\n' "${accounts[@]}" | sort | tr '\n' ' ')" \
		"$tag: together the shards fetched each of the 12 accounts once"
}

run_shards first
check_shards first
RUN_OUT=$work/first-1.json
RUN_ERR=$work/first-1.err
RUN_STATUS=$(cat "$work/first-1.status")
tap_json_is shard.index 1 "--json names the shard that ran"
tap_json_is shard.count 3 "... the number of shards"
tap_json_is shard.from command-line "... where K and N came from"
tap_json_is shard.accounts "$(accounts_of_shard 1 3 | wc -l)" "... how many accounts it holds"
tap_json_is shard.of 12 "... and of how many"
check_delivered "three shards at once"

# New mail, and the shards again (one with -j 3): only the new mail.
for user in "${users[@]}"; do
	harness_add_messages "$user" 2 --profile small
done
run_shards again -j 3
check_shards again
tap_is "$("$PYTHON3" -c 'import json, sys
print(sum(a["fetched"] for f in sys.argv[1:] for a in json.load(open(f))["accounts"]))' \
	"$work"/again-[012].json)" 24 "the second round fetches the 2 new messages of each account"
check_delivered "after new mail"

# --shard auto: an Indexed Job's pod, a job array's task (IDs 10 to 12).
yubin_run k8s JOB_COMPLETION_INDEX=1 YUBIN_SHARD_COUNT=3 -- -c "$config" --json --shard auto
tap_status_is 0 "--shard auto in a Kubernetes Indexed Job exits 0"
tap_json_is shard.from kubernetes "... and takes K and N from Kubernetes"
tap_is "$(json_accounts "$RUN_OUT" | tr '\n' ' ')" "$(accounts_of_shard 1 3 | tr '\n' ' ')" \
	"... JOB_COMPLETION_INDEX=1 is shard 1/3"
yubin_run slurm SLURM_ARRAY_TASK_ID=12 SLURM_ARRAY_TASK_MIN=10 SLURM_ARRAY_TASK_MAX=12 \
	SLURM_ARRAY_TASK_COUNT=3 -- -c "$config" --json --shard auto
tap_status_is 0 "--shard auto in a Slurm job array exits 0"
tap_json_is shard.from slurm "... and takes K and N from Slurm"
tap_is "$(json_accounts "$RUN_OUT" | tr '\n' ' ')" "$(accounts_of_shard 2 3 | tr '\n' ' ')" \
	"... task 12 of an array from 10 is shard 2/3"

# The contrib files run as their job runner would: every pod of the
# Kubernetes Indexed Job, every task of the Slurm array; between them,
# each account once.
manifest=$top_srcdir/contrib/kubernetes/yubin-cronjob.yaml
k8s=$("$PYTHON3" - "$manifest" <<-'EOF'
	import sys, yaml
	job = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d["kind"] == "CronJob")
	spec = job["spec"]["jobTemplate"]["spec"]
	container = spec["template"]["spec"]["containers"][0]
	env = {e["name"]: e["value"] for e in container["env"]}
	args = container["args"]
	ok = (spec["completionMode"] == "Indexed" and args[args.index("--shard") + 1] == "auto"
	      and int(env["YUBIN_SHARD_COUNT"]) == spec["completions"] == spec["parallelism"])
	print(spec["completions"] if ok else "inconsistent", " ".join(args[args.index("--shard"):args.index("-c")]))
	EOF
)
k8s_count=${k8s%% *}
tap_check "the CronJob is an Indexed Job with --shard auto and YUBIN_SHARD_COUNT = completions" \
	test "$k8s_count" -gt 0 2>/dev/null
# shellcheck disable=SC2206 # the manifest's arguments, words on purpose
k8s_args=(${k8s#* })
all=
for ((k = 0; k < ${k8s_count:-0}; k++)); do
	yubin_run "k8s-pod-$k" JOB_COMPLETION_INDEX=$k YUBIN_SHARD_COUNT=$k8s_count -- \
		"${k8s_args[@]}" --json -c "$config"
	[ "$RUN_STATUS" = 0 ] || tap_diag "pod $k: $(run_summary)"
	all+=$(json_accounts "$RUN_OUT")$'\n'
done
tap_is "$(printf '%s' "$all" | sed '/^$/d' | sort | tr '\n' ' ')" \
	"$(printf '%s\n' "${accounts[@]}" | sort | tr '\n' ' ')" \
	"the CronJob's $k8s_count pods fetch each of the 12 accounts once"
mkdir -p "$work/bin"
ln -sf "$YUBIN" "$work/bin/yubin"
array=$(sed -n 's/^#SBATCH --array=\([0-9]*\)-\([0-9]*\)$/\1 \2/p' \
	"$top_srcdir/contrib/slurm/yubin-array.sh")
read -r array_min array_max <<<"$array"
tap_check "the Slurm script asks for a plain --array range" test -n "$array_max"
all=
statuses=
for ((id = ${array_min:-0}; id <= ${array_max:--1}; id++)); do
	SLURM_ARRAY_TASK_ID=$id SLURM_ARRAY_TASK_MIN=$array_min SLURM_ARRAY_TASK_MAX=$array_max \
	SLURM_ARRAY_TASK_COUNT=$((array_max - array_min + 1)) SLURM_CPUS_PER_TASK=2 \
	PATH=$work/bin:$PATH timeout -k 5 "$YUBIN_TIMEOUT" \
		sh "$top_srcdir/contrib/slurm/yubin-array.sh" --json -c "$config" \
		>"$work/slurm-$id.json" 2>"$work/slurm-$id.err" </dev/null
	statuses+=$?
	all+=$(json_accounts "$work/slurm-$id.json")$'\n'
done
tap_is "$statuses" "$(printf '0%.0s' $(seq "${array_min:-0}" "${array_max:-0}"))" \
	"every task of the Slurm array exits 0"
tap_is "$(printf '%s' "$all" | sed '/^$/d' | sort | tr '\n' ' ')" \
	"$(printf '%s\n' "${accounts[@]}" | sort | tr '\n' ' ')" \
	"the Slurm array's tasks fetch each of the 12 accounts once"

# Named accounts: only those of the shard; none of them is not an error.
in_shard=$(accounts_of_shard 0 3 | head -n 1)
not_in_shard=$(accounts_of_shard 1 3 | head -n 1)
yubin_run named -- -c "$config" --json --shard 0/3 "$in_shard" "$not_in_shard"
tap_status_is 0 "--shard with named accounts exits 0"
tap_is "$(json_accounts "$RUN_OUT" | tr '\n' ' ')" "$in_shard " \
	"... and fetches only those named that the shard holds"
yubin_run empty -- -c "$config" --json -v --shard 0/3 "$not_in_shard"
tap_status_is 0 "a shard that holds no account exits 0"
tap_json_is shard.accounts 0 "... its --json says it holds none"
tap_check "... and -v says there was nothing to fetch" \
	grep -q "shard 0/3 (from command-line) holds none of the 1 accounts: nothing to fetch" "$RUN_ERR"

# Hostile values: exit 64, naming what to change.
hostile() {
	local desc=$1 says=$2
	shift 2
	yubin_run hostile "$@" -- -c "$config" --shard auto
	tap_status_is 64 "$desc exits 64"
	tap_check "... naming $says" grep -q -- "$says" "$RUN_ERR"
}
hostile "JOB_COMPLETION_INDEX=abc" "JOB_COMPLETION_INDEX: 'abc'" \
	JOB_COMPLETION_INDEX=abc YUBIN_SHARD_COUNT=3
hostile "JOB_COMPLETION_INDEX without YUBIN_SHARD_COUNT" "YUBIN_SHARD_COUNT is not set" \
	JOB_COMPLETION_INDEX=0
hostile "YUBIN_SHARD_COUNT=0" "shard count is 0" JOB_COMPLETION_INDEX=0 YUBIN_SHARD_COUNT=0
hostile "a task ID below SLURM_ARRAY_TASK_MIN" "SLURM_ARRAY_TASK_ID=3 is not in the job array" \
	SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_MIN=5 SLURM_ARRAY_TASK_COUNT=3
hostile "an overflowing SLURM_ARRAY_TASK_COUNT" "SLURM_ARRAY_TASK_COUNT: '18446744073709551616'" \
	SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_COUNT=18446744073709551616
yubin_run hostile-k -- -c "$config" --shard 3/3
tap_status_is 64 "--shard 3/3 exits 64"
tap_check "... saying shards count from 0 to 2" grep -q "shards count from 0 to 2" "$RUN_ERR"

tap_finish
