/*
 * outcome.h - what one account's run ended with, and how a run keeps
 * every account's until its summary.
 *
 * A struct outcome is also the record a -j child writes to its parent,
 * so it holds no pointer.  Most of its 38 KB is room for the names of
 * FETCH_FOLDERS_SHOWN folders, which few accounts have: kept whole, the
 * outcomes of 10,000 accounts would take 380 MB.  struct outcomes keeps
 * each one's status, its error and its report cut after the folders it
 * names, and puts the whole record together again when it is read.
 */
#ifndef YUBIN_OUTCOME_H
#define YUBIN_OUTCOME_H

#include <stddef.h>

#include "error.h"
#include "fetch_report.h"

struct outcome {
	enum yb_status status;
	struct fetch_report report;
	char message[YB_ERROR_MSG_MAX];
};

struct outcomes;

/* Room for count accounts' outcomes, each YB_OK with an empty report
   until kept; NULL when out of memory.  Freed with outcomes_free. */
struct outcomes *outcomes_new(size_t count);
void outcomes_free(struct outcomes *all);

/* The one record to run an account into, zeroed; it belongs to all and
   is the same one outcomes_get fills. */
struct outcome *outcomes_scratch(struct outcomes *all);

/* Keep outcome as that of account index (index < count), replacing what
   was kept.  Out of memory, the report is lost and the status is at
   least YB_ERR_INTERNAL, with a message saying so. */
void outcomes_keep(struct outcomes *all, size_t index,
		   const struct outcome *outcome);

enum yb_status outcomes_status(const struct outcomes *all, size_t index);

/* Account index's outcome whole again, in the scratch record: valid
   until the next call that takes all. */
const struct outcome *outcomes_get(struct outcomes *all, size_t index);

/* The bytes the kept reports and messages take (without the allocator's
   own), to check that they are what this file says. */
size_t outcomes_kept_bytes(const struct outcomes *all);

#endif
