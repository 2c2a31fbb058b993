/* testhook.c - die on demand at the N-th durability step (tests only). */
#include "config.h"

#include "testhook.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "text.h"

#ifdef YUBIN_TEST_HOOKS
static unsigned long long kill_at;
static unsigned long long steps_seen;
static int kill_at_loaded;

static void load_kill_at(void)
{
	kill_at_loaded = 1;
	const char *value = getenv("YUBIN_TEST_KILL_AT");
	if (!value)
		return;
	unsigned long long parsed;
	size_t len = 0;
	while (value[len])
		len++;
	if (text_parse_u64(value, len, ~0ULL, &parsed))
		kill_at = parsed;
}

void testhook_step(const char *step)
{
	if (!kill_at_loaded)
		load_kill_at();
	if (kill_at == 0)
		return;
	if (++steps_seen == kill_at) {
		fprintf(stderr, "yubin: test hook: killed at step %llu (%s)\n",
			steps_seen, step);
		kill(getpid(), SIGKILL);
	}
}

size_t testhook_limit(const char *env_name, size_t limit)
{
	const char *value = getenv(env_name);
	unsigned long long parsed;
	size_t len = 0;
	if (!value)
		return limit;
	while (value[len])
		len++;
	if (text_parse_u64(value, len, ~0ULL, &parsed) && parsed < limit)
		return (size_t)parsed;
	return limit;
}
#else
void testhook_step(const char *step)
{
	(void)step;
}

size_t testhook_limit(const char *env_name, size_t limit)
{
	(void)env_name;
	return limit;
}
#endif
