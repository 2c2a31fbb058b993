/* flag_merge.c - the three-way merge of a message's flags (flag_merge.h). */
#include "config.h"

#include "flag_merge.h"

struct flag_merge flag_merge(uint32_t base, uint32_t local, uint32_t server)
{
	return flag_merge_with(FLAG_MERGE_PUSHED, base, local, server);
}

struct flag_merge flag_merge_with(uint32_t pushed, uint32_t base, uint32_t local,
				  uint32_t server)
{
	base &= pushed;
	uint32_t local_pushed = local & pushed;
	uint32_t server_pushed = server & pushed;
	/* Where the local side changed, its value wins; elsewhere the
	   server's, which is the base where neither changed. */
	uint32_t local_changed = local_pushed ^ base;
	uint32_t merged = (local_pushed & local_changed) |
			  (server_pushed & ~local_changed);
	struct flag_merge result = {
		.base = merged,
		.local = merged | (server & SINK_FLAG_DELETED & ~pushed),
		.push_add = merged & ~server_pushed,
		.push_remove = server_pushed & ~merged,
	};
	return result;
}

uint32_t flag_merge_resume_base(uint32_t base, uint32_t push_add,
				uint32_t push_remove, uint32_t server)
{
	return flag_merge_resume_base_with(FLAG_MERGE_PUSHED, base, push_add,
					   push_remove, server);
}

uint32_t flag_merge_resume_base_with(uint32_t pushed, uint32_t base,
				     uint32_t push_add, uint32_t push_remove,
				     uint32_t server)
{
	uint32_t added = push_add & server;
	uint32_t removed = push_remove & ~server;
	return ((base | added) & ~removed) & pushed;
}

struct flag_merge flag_merge_removed(uint32_t server)
{
	uint32_t agreed = (server & FLAG_MERGE_DELETIONS) | SINK_FLAG_DELETED;
	struct flag_merge result = {
		.base = agreed,
		.local = agreed,
		.push_add = SINK_FLAG_DELETED & ~server,
		.push_remove = 0,
	};
	return result;
}
