/* backoff.c - the wait before trying a server again (see backoff.h). */
#include "config.h"

#include "backoff.h"

int64_t backoff_step_ms(unsigned failures)
{
	if (failures == 0)
		return 0;
	int64_t step = BACKOFF_FIRST_MS;
	/* Doubling stops at the cap, so the shift never overflows. */
	for (unsigned i = 1; i < failures && step < BACKOFF_MAX_MS; i++)
		step *= 2;
	return step < BACKOFF_MAX_MS ? step : BACKOFF_MAX_MS;
}

int64_t backoff_delay_ms(unsigned failures, uint32_t random)
{
	int64_t step = backoff_step_ms(failures);
	int64_t half = step / 2;
	return half + (int64_t)(random % (uint32_t)(step - half + 1));
}
