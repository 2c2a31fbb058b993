/* shard.c - --shard K/N: the hash of an account's name, and K and N from
   the command line or a job runner's environment (see shard.h). */
#include "config.h"

#include "shard.h"

#include <string.h>

#include "text.h"

#define FNV64_OFFSET_BASIS 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull

/* What a number is read from, for the error: an argument or a variable. */
struct number_source {
	const char *what;    /* "--shard" or the variable's name */
	const char *advice;  /* what to change */
};

uint64_t shard_hash(const char *name)
{
	uint64_t hash = FNV64_OFFSET_BASIS;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		hash ^= *p;
		hash *= FNV64_PRIME;
	}
	return hash ^ (hash >> 32);
}

bool shard_holds(const struct shard *shard, const char *name)
{
	if (shard->count == 0)
		return true;
	return shard_hash(name) % shard->count == shard->index;
}

size_t shard_select(const struct shard *shard, const struct account **accounts,
		    size_t count)
{
	size_t kept = 0;
	for (size_t i = 0; i < count; i++)
		if (shard_holds(shard, accounts[i]->name))
			accounts[kept++] = accounts[i];
	return kept;
}

/* A decimal number of len bytes at text, at most max; else a usage error
   naming where it came from (the text shown sanitized: it is hostile). */
static int parse_number(const char *text, size_t len, uint32_t max,
			const struct number_source *source, uint32_t *out,
			struct yb_error *err)
{
	unsigned long long value;
	if (text_parse_u64(text, len, max, &value)) {
		*out = (uint32_t)value;
		return YB_OK;
	}
	char shown[64];
	text_sanitize(shown, sizeof(shown), text, len);
	return yb_fail(err, YB_ERR_USAGE,
		       "%s: '%s' is not a whole number from 0 to %u; %s",
		       source->what, shown, (unsigned)max, source->advice);
}

/* A variable that must be set, as a number up to max. */
static int env_number(shard_getenv_fn get_env, const char *name, uint32_t max,
		      const char *advice, uint32_t *out, struct yb_error *err)
{
	const char *text = get_env(name);
	if (!text)
		return yb_fail(err, YB_ERR_USAGE, "--shard auto: %s is not set; %s",
			       name, advice);
	struct number_source source = { name, advice };
	return parse_number(text, strlen(text), max, &source, out, err);
}

/* K < N and N >= 1, whatever they came from. */
static int check_range(const struct shard *shard, const char *what,
		       struct yb_error *err)
{
	if (shard->count == 0)
		return yb_fail(err, YB_ERR_USAGE,
			       "%s: the shard count is 0; it must be at least 1", what);
	if (shard->index >= shard->count)
		return yb_fail(err, YB_ERR_USAGE,
			       "%s: shard %u does not exist among %u (shards count from "
			       "0 to %u)", what, (unsigned)shard->index,
			       (unsigned)shard->count, (unsigned)shard->count - 1);
	return YB_OK;
}

static int parse_k_of_n(const char *arg, struct shard *out, struct yb_error *err)
{
	static const struct number_source source = {
		"--shard", "write --shard K/N with 0 <= K < N, or --shard auto"
	};
	const char *slash = strchr(arg, '/');
	if (!slash) {
		char shown[64];
		text_sanitize(shown, sizeof(shown), arg, strlen(arg));
		return yb_fail(err, YB_ERR_USAGE, "--shard: '%s' is not K/N; %s",
			       shown, source.advice);
	}
	if (parse_number(arg, (size_t)(slash - arg), SHARD_COUNT_MAX, &source,
			 &out->index, err) != YB_OK ||
	    parse_number(slash + 1, strlen(slash + 1), SHARD_COUNT_MAX, &source,
			 &out->count, err) != YB_OK)
		return YB_ERR_USAGE;
	out->from = "command-line";
	return check_range(out, "--shard", err);
}

static int from_kubernetes(shard_getenv_fn get_env, struct shard *out,
			   struct yb_error *err)
{
	if (env_number(get_env, "JOB_COMPLETION_INDEX", SHARD_COUNT_MAX,
		       "it is the Indexed Job's completion index", &out->index,
		       err) != YB_OK ||
	    env_number(get_env, "YUBIN_SHARD_COUNT", SHARD_COUNT_MAX,
		       "set it to the Job's completions (the number of shards)",
		       &out->count, err) != YB_OK)
		return YB_ERR_USAGE;
	out->from = "kubernetes";
	return check_range(out, "--shard auto (JOB_COMPLETION_INDEX, YUBIN_SHARD_COUNT)",
			   err);
}

/* SLURM_ARRAY_TASK_STEP: 1 when unset, never 0. */
static int slurm_step(shard_getenv_fn get_env, uint32_t *step, struct yb_error *err)
{
	*step = 1;
	if (!get_env("SLURM_ARRAY_TASK_STEP"))
		return YB_OK;
	if (env_number(get_env, "SLURM_ARRAY_TASK_STEP", SHARD_COUNT_MAX,
		       "it is the job array's step", step, err) != YB_OK)
		return YB_ERR_USAGE;
	if (*step == 0)
		return yb_fail(err, YB_ERR_USAGE,
			       "--shard auto: SLURM_ARRAY_TASK_STEP is 0; a job array's "
			       "step is at least 1");
	return YB_OK;
}

/* With SLURM_ARRAY_TASK_MAX set: MIN..MAX by STEP is exactly COUNT tasks,
   so that every shard has its task. */
static int slurm_whole_range(shard_getenv_fn get_env, uint32_t min, uint32_t step,
			     uint32_t count, struct yb_error *err)
{
	uint32_t max;
	if (!get_env("SLURM_ARRAY_TASK_MAX"))
		return YB_OK;
	if (env_number(get_env, "SLURM_ARRAY_TASK_MAX", SHARD_COUNT_MAX,
		       "it is the job array's last task ID", &max, err) != YB_OK)
		return YB_ERR_USAGE;
	if (max < min || (max - min) % step != 0 || (max - min) / step + 1 != count)
		return yb_fail(err, YB_ERR_USAGE,
			       "--shard auto: the Slurm job array (IDs %u to %u by %u) does "
			       "not hold exactly SLURM_ARRAY_TASK_COUNT=%u tasks; give "
			       "sbatch a plain range, such as --array=0-%u",
			       (unsigned)min, (unsigned)max, (unsigned)step,
			       (unsigned)count, count ? (unsigned)count - 1 : 0u);
	return YB_OK;
}

static int from_slurm(shard_getenv_fn get_env, struct shard *out,
		      struct yb_error *err)
{
	uint32_t id, min, step;
	if (env_number(get_env, "SLURM_ARRAY_TASK_ID", SHARD_COUNT_MAX,
		       "it is the job array's task ID", &id, err) != YB_OK ||
	    env_number(get_env, "SLURM_ARRAY_TASK_MIN", SHARD_COUNT_MAX,
		       "it is the job array's first task ID", &min, err) != YB_OK ||
	    env_number(get_env, "SLURM_ARRAY_TASK_COUNT", SHARD_COUNT_MAX,
		       "it is the number of tasks in the job array", &out->count,
		       err) != YB_OK ||
	    slurm_step(get_env, &step, err) != YB_OK ||
	    slurm_whole_range(get_env, min, step, out->count, err) != YB_OK)
		return YB_ERR_USAGE;
	if (id < min || (id - min) % step != 0)
		return yb_fail(err, YB_ERR_USAGE,
			       "--shard auto: SLURM_ARRAY_TASK_ID=%u is not in the job "
			       "array that starts at SLURM_ARRAY_TASK_MIN=%u by "
			       "SLURM_ARRAY_TASK_STEP=%u", (unsigned)id, (unsigned)min,
			       (unsigned)step);
	out->index = (id - min) / step;
	out->from = "slurm";
	return check_range(out, "--shard auto (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT)",
			   err);
}

static int parse_auto(shard_getenv_fn get_env, struct shard *out,
		      struct yb_error *err)
{
	bool kubernetes = get_env("JOB_COMPLETION_INDEX") != NULL;
	bool slurm = get_env("SLURM_ARRAY_TASK_ID") != NULL;
	if (kubernetes && slurm)
		return yb_fail(err, YB_ERR_USAGE,
			       "--shard auto: both JOB_COMPLETION_INDEX (Kubernetes) and "
			       "SLURM_ARRAY_TASK_ID (Slurm) are set; give --shard K/N instead");
	if (kubernetes)
		return from_kubernetes(get_env, out, err);
	if (slurm)
		return from_slurm(get_env, out, err);
	return yb_fail(err, YB_ERR_USAGE,
		       "--shard auto: neither JOB_COMPLETION_INDEX (a Kubernetes Indexed "
		       "Job) nor SLURM_ARRAY_TASK_ID (a Slurm job array) is set; "
		       "give --shard K/N instead");
}

int shard_parse(const char *arg, shard_getenv_fn get_env, struct shard *out,
		struct yb_error *err)
{
	memset(out, 0, sizeof(*out));
	int rc = strcmp(arg, "auto") == 0 ? parse_auto(get_env, out, err)
					   : parse_k_of_n(arg, out, err);
	if (rc != YB_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}
