/* deletion_guard.c - may a folder's local deletions go (deletion_guard.h). */
#include "config.h"

#include "deletion_guard.h"

#include <stdint.h>

enum deletion_verdict deletion_guard(const struct deletion_counts *counts,
				     bool force)
{
	if (counts->deleting == 0)
		return DELETIONS_GO;
	/* Nothing the state knows is there: the Maildir is not the one
	   the messages went to, or it was wiped, or the user deleted every
	   message; only --force says which. */
	if (counts->known > 0 && counts->present == 0 && !force)
		return DELETIONS_WIPED;
	/* deleting * SHARE > known, without overflow: both are at most a
	   listing's size, far below SIZE_MAX / SHARE, but a count is
	   input and is not trusted to be. */
	uint64_t deleting = counts->deleting, known = counts->known;
	bool over_share = deleting > UINT64_MAX / DELETION_GUARD_SHARE ||
			  deleting * DELETION_GUARD_SHARE > known;
	if (deleting > DELETION_GUARD_MIN && over_share && !force)
		return DELETIONS_TOO_MANY;
	return DELETIONS_GO;
}
