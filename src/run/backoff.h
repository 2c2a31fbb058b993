/*
 * backoff.h - how long --watch waits before trying a server again:
 * exponential backoff with jitter.  Pure: the random part comes in as a
 * number, so the schedule is a table test.
 *
 * After the first failure the wait is about 1 s, and it doubles with
 * each failure in a row up to BACKOFF_MAX_MS (5 minutes).  Each wait is
 * drawn from [half of it, all of it] ("equal jitter"), so that many
 * clients a server restart dropped at once do not come back at once,
 * and yet none waits less than half its step.
 */
#ifndef YUBIN_BACKOFF_H
#define YUBIN_BACKOFF_H

#include <stdint.h>

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS (5 * 60 * 1000)

/* The step after `failures` failures in a row (0: none, no wait). */
int64_t backoff_step_ms(unsigned failures);

/* The wait: random (any 32-bit value) picks a point in
   [step / 2, step]. */
int64_t backoff_delay_ms(unsigned failures, uint32_t random);

#endif
