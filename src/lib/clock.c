/*
 * clock.c - the monotonic clock, deadlines and naps.
 */
#include "config.h"

#include "clock.h"

#include <errno.h>
#include <time.h>

int64_t clock_now_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int64_t clock_deadline_in_ms(uint64_t ms, bool zero_is_never)
{
	if (ms == 0 && zero_is_never)
		return CLOCK_NEVER;
	int64_t now = clock_now_ms();
	if (ms >= (uint64_t)(CLOCK_NEVER - now))
		return CLOCK_NEVER;
	return now + (int64_t)ms;
}

int64_t clock_left_ms(int64_t deadline)
{
	if (deadline == CLOCK_NEVER)
		return CLOCK_NEVER;
	int64_t left = deadline - clock_now_ms();
	return left > 0 ? left : 0;
}

bool clock_passed(int64_t deadline)
{
	return deadline != CLOCK_NEVER && clock_now_ms() >= deadline;
}

int clock_poll_timeout(int64_t deadline, int cap)
{
	if (deadline == CLOCK_NEVER)
		return -1;
	int64_t left = clock_left_ms(deadline);
	return left > cap ? cap : (int)left;
}

void clock_sleep_ms(uint64_t ms)
{
	struct timespec pause = { .tv_sec = (time_t)(ms / 1000),
				  .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
		;
}

void clock_sleep_until(int64_t deadline)
{
	int64_t left = clock_left_ms(deadline);
	if (left > 0 && deadline != CLOCK_NEVER)
		clock_sleep_ms((uint64_t)left);
}
