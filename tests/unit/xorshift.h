/*
 * xorshift.h - the generator of the unit tests that draw their inputs
 * (xorshift64, Marsaglia): each test keeps its own state from its own
 * seed, so that a failure repeats with the same inputs.  The state must
 * not start at 0.
 */
#ifndef YUBIN_TEST_XORSHIFT_H
#define YUBIN_TEST_XORSHIFT_H

#include <stdint.h>

static inline uint64_t xorshift_next(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

#endif
