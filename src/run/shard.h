/*
 * shard.h - --shard K/N: which accounts this run of N parallel runs takes.
 *
 * An account belongs to shard K of N when
 *
 *     h = FNV-1a 64 of the bytes of its name (offset basis
 *         0xcbf29ce484222325, prime 0x100000001b3)
 *     (h ^ (h >> 32)) mod N == K
 *
 * with K counted from 0 (0 .. N-1, as Kubernetes' JOB_COMPLETION_INDEX).
 * Account names are ASCII, so the bytes are those of the name in any
 * encoding, and the arithmetic is on integers, not on memory: the same
 * name lands in the same shard on every machine, byte order and version.
 * The fold of the high half into the low one is there because FNV-1a's
 * low bits depend only on the low bits of each byte: without it, names
 * that differ in one letter's case would always share a shard for N = 16.
 *
 * Where K and N come from (shard_parse):
 *   "K/N"   the command line: 0 <= K < N <= SHARD_COUNT_MAX
 *   "auto"  the environment of the job runner:
 *           Kubernetes Indexed Job: K = JOB_COMPLETION_INDEX,
 *             N = YUBIN_SHARD_COUNT (Kubernetes does not export the
 *             Job's completions: set it to the same number)
 *           Slurm job array: K = (SLURM_ARRAY_TASK_ID -
 *             SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP (step 1 when
 *             unset), N = SLURM_ARRAY_TASK_COUNT; when
 *             SLURM_ARRAY_TASK_MAX is set, the array must be the whole
 *             range MIN..MAX by STEP (else some shards would never run)
 *           both or neither set: a usage error.
 * Every value is checked: digits only, no sign or space, no overflow,
 * N >= 1, K < N; an error (YB_ERR_USAGE) names the variable and what to
 * change.
 */
#ifndef YUBIN_SHARD_H
#define YUBIN_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "error.h"

/* More shards than any job runner starts (Slurm's largest array is 4M). */
#define SHARD_COUNT_MAX 4000000u

struct shard {
	uint32_t index;      /* K, 0 .. count-1 */
	uint32_t count;      /* N; 0: no --shard, every account */
	const char *from;    /* "command-line", "kubernetes" or "slurm";
			        static */
};

/* Reads one environment variable: getenv, or a table in the tests. */
typedef const char *(*shard_getenv_fn)(const char *name);

/*
 * Parse the argument of --shard ("K/N" or "auto"; "auto" reads the
 * environment through get_env).  YB_OK and *out filled, or YB_ERR_USAGE
 * with err saying which value is wrong and why.
 */
int shard_parse(const char *arg, shard_getenv_fn get_env, struct shard *out,
		struct yb_error *err);

/* The FNV-1a 64 hash of name, folded as above (before the mod N). */
uint64_t shard_hash(const char *name);

/* Does the account named name belong to shard? (true without --shard) */
bool shard_holds(const struct shard *shard, const char *name);

/*
 * Keep in accounts[] only those shard holds, in their order; returns how
 * many are left.  The array is the caller's, edited in place.
 */
size_t shard_select(const struct shard *shard, const struct account **accounts,
		    size_t count);

#endif
