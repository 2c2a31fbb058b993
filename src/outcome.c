/* outcome.c - every account's outcome, kept small until the summary. */
#include "config.h"

#include "outcome.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One account's outcome as kept: its report up to the last folder it
   names (report_len bytes), its message only if it failed. */
struct kept {
	enum yb_status status;
	char *message;           /* owned, or NULL */
	void *report;            /* owned, or NULL: nothing to keep */
	size_t report_len;
};

struct outcomes {
	struct kept *kept;       /* count of them */
	size_t count;
	struct outcome scratch;
};

struct outcomes *outcomes_new(size_t count)
{
	struct outcomes *all = calloc(1, sizeof(*all));
	if (!all)
		return NULL;
	all->kept = calloc(count ? count : 1, sizeof(*all->kept));
	if (!all->kept) {
		free(all);
		return NULL;
	}
	all->count = count;
	return all;
}

static void kept_clear(struct kept *kept)
{
	free(kept->message);
	free(kept->report);
	memset(kept, 0, sizeof(*kept));
}

void outcomes_free(struct outcomes *all)
{
	if (!all)
		return;
	for (size_t i = 0; i < all->count; i++)
		kept_clear(&all->kept[i]);
	free(all->kept);
	free(all);
}

struct outcome *outcomes_scratch(struct outcomes *all)
{
	memset(&all->scratch, 0, sizeof(all->scratch));
	return &all->scratch;
}

/* The bytes of report that say something: all but the folders' room
   past the ones it names (folders is its last member). */
static size_t report_len_of(const struct fetch_report *report)
{
	size_t shown = report->folder_count < FETCH_FOLDERS_SHOWN
			       ? report->folder_count
			       : FETCH_FOLDERS_SHOWN;
	return offsetof(struct fetch_report, folders) +
	       shown * sizeof(report->folders[0]);
}

void outcomes_keep(struct outcomes *all, size_t index,
		   const struct outcome *outcome)
{
	struct kept *kept = &all->kept[index];
	kept_clear(kept);
	kept->status = outcome->status;
	size_t len = report_len_of(&outcome->report);
	kept->report = malloc(len);
	if (kept->report) {
		memcpy(kept->report, &outcome->report, len);
		kept->report_len = len;
	}
	if (outcome->status != YB_OK)
		kept->message = strdup(outcome->message);
	if (!kept->report || (outcome->status != YB_OK && !kept->message)) {
		kept->status = yb_status_worse(kept->status, YB_ERR_INTERNAL);
		free(kept->message);
		kept->message = strdup("out of memory keeping the outcome");
	}
}

enum yb_status outcomes_status(const struct outcomes *all, size_t index)
{
	return all->kept[index].status;
}

const struct outcome *outcomes_get(struct outcomes *all, size_t index)
{
	const struct kept *kept = &all->kept[index];
	struct outcome *whole = outcomes_scratch(all);
	whole->status = kept->status;
	if (kept->report)
		memcpy(&whole->report, kept->report, kept->report_len);
	if (kept->message)
		snprintf(whole->message, sizeof(whole->message), "%s",
			 kept->message);
	return whole;
}

size_t outcomes_kept_bytes(const struct outcomes *all)
{
	size_t bytes = 0;
	for (size_t i = 0; i < all->count; i++) {
		const struct kept *kept = &all->kept[i];
		bytes += kept->report_len;
		if (kept->message)
			bytes += strlen(kept->message) + 1;
	}
	return bytes;
}
