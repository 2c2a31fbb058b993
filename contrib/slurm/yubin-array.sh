#!/bin/sh
# yubin as a Slurm job array: each task fetches its shard of the
# accounts.  --shard auto takes the shard from SLURM_ARRAY_TASK_ID (less
# SLURM_ARRAY_TASK_MIN, by SLURM_ARRAY_TASK_STEP) and the number of
# shards from SLURM_ARRAY_TASK_COUNT, so every account is fetched by
# exactly one task.  Submit it with
#   sbatch yubin-array.sh [YUBIN OPTION]...
# and change the number of shards with --array alone (e.g.
# sbatch --array=0-15 yubin-array.sh).  The array must be a plain range
# (0-3, 1-8, 0-30:2); a list such as 1,5,7 is refused with exit 64, as it
# would leave shards without a task.
#
# The accounts' state directories and mail must be on a file system all
# nodes share, with what yubin(1) asks of a shared state directory (STATE
# ON A NETWORK FILE SYSTEM): POSIX (fcntl) locks that hold across hosts,
# an atomic rename and an fsync that reaches the disk.
#
# The task's exit status is yubin's: 0 when each of its accounts was
# fetched (or it held none), else the worst account's (75: try again
# later, e.g. another run held an account's lock).
#SBATCH --job-name=yubin
#SBATCH --array=0-3
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --mem=256M
#SBATCH --time=00:50:00
#SBATCH --output=yubin-%A_%a.out

# -j: this task's accounts two at a time, one per CPU asked for.
exec yubin --shard auto -j "${SLURM_CPUS_PER_TASK:-2}" "$@"
