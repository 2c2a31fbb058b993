/* pop3_plan.c - the POP3 engine's decisions over a listing (pop3_plan.h). */
#include "config.h"

#include "pop3_plan.h"

#define SECONDS_PER_DAY 86400LL
#define MISSING_RUNS_MAX 0xffffffffUL

void pop3_missing_once_more(bool was_missing, time_t since, unsigned long runs,
			    time_t now, time_t *next_since,
			    unsigned long *next_runs)
{
	if (!was_missing || runs == 0) {
		*next_since = now;
		*next_runs = 1;
		return;
	}
	*next_since = since;
	*next_runs = runs >= MISSING_RUNS_MAX ? MISSING_RUNS_MAX : runs + 1;
}

bool pop3_grace_is_over(unsigned long runs, time_t since, time_t now)
{
	/* A clock set back makes this negative: not over. */
	long long missing_for = (long long)now - (long long)since;
	return runs >= POP3_FORGET_AFTER_LISTINGS &&
	       missing_for >= POP3_FORGET_AFTER_DAYS * SECONDS_PER_DAY;
}

size_t pop3_count_size_matches(const uint64_t *a, size_t a_len,
			       const uint64_t *b, size_t b_len)
{
	size_t i = 0, j = 0, matched = 0;
	while (i < a_len && j < b_len) {
		if (a[i] == b[j]) {
			matched++;
			i++;
			j++;
		} else if (a[i] < b[j]) {
			i++;
		} else {
			j++;
		}
	}
	return matched;
}

bool pop3_renumbering_suspected(const struct pop3_listing_counts *counts)
{
	/* Halves compared by division, so no count can overflow:
	   2g <= p exactly when g <= p / 2 (integer division). */
	if (counts->gone_now < POP3_RENUMBER_MIN_GONE ||
	    counts->gone_now <= counts->present / 2)
		return false;
	bool most_sized = counts->sized >= counts->gone_now - counts->gone_now / 2;
	if (most_sized)
		return counts->matched > counts->sized / 2;
	return counts->fresh >= counts->gone_now;
}
