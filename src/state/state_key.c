/*
 * state_key.c - a delivered key's values in 24 bytes (state_key.h).
 *
 * head.spare: bits 0-7 the flags byte, bit 8 KEY_HAS_EXTRA, bits 9-31
 * the listed size's code: 0 none, SIZE_IN_EXTRA in the extra, else the
 * size + 1.  fetched and dest hold IN_EXTRA when the extra has them.
 *
 * dest: 0 none; below IN_STORE an M line's offset (never 0: the header
 * comes first); from IN_STORE up the dest store's number dest -
 * IN_STORE.  Both are set only from what state.c made (a line's offset
 * as read, a number as stored), never from a file's field.
 */
#include "config.h"

#include "state_key.h"

#include <stddef.h>

#define FLAGS_MASK 0xffu
#define KEY_HAS_EXTRA 0x100u
#define SIZE_SHIFT 9
#define SIZE_IN_EXTRA (UINT32_MAX >> SIZE_SHIFT)
#define IN_EXTRA UINT32_MAX
#define IN_STORE 0x80000000u

/* What the state of a million keys was made small for. */
_Static_assert(sizeof(void *) != 8 || sizeof(struct key_entry) == 24,
	       "a key's entry is 24 bytes on a 64-bit machine");

void key_extras_init(struct name_set *extras)
{
	name_set_init_entries(extras, sizeof(struct key_extra));
}

/* The key's extra, or NULL when it has none. */
static struct key_extra *find_extra(const struct name_set *extras,
				    const struct key_entry *entry)
{
	if (!(entry->head.spare & KEY_HAS_EXTRA))
		return NULL;
	return (struct key_extra *)name_set_find(extras, entry->head.name,
						 entry->head.len);
}

/* The key's extra, added (zero: nothing in it) if it had none; NULL when
   out of memory.  Valid until extras next changes. */
static struct key_extra *need_extra(struct name_set *extras,
				    struct key_entry *entry)
{
	struct name_entry *head;
	if (name_set_insert(extras, entry->head.name, entry->head.len,
			    &head) < 0)
		return NULL;
	entry->head.spare |= KEY_HAS_EXTRA;
	return (struct key_extra *)head;
}

int64_t key_fetched_at(const struct name_set *extras,
		       const struct key_entry *entry)
{
	if (entry->fetched != IN_EXTRA)
		return entry->fetched;
	const struct key_extra *extra = find_extra(extras, entry);
	return extra ? extra->fetched_at : 0;
}

int key_set_fetched_at(struct name_set *extras, struct key_entry *entry,
		       int64_t fetched_at)
{
	if (fetched_at >= 0 && fetched_at < IN_EXTRA) {
		entry->fetched = (uint32_t)fetched_at;
		return 0;
	}
	struct key_extra *extra = need_extra(extras, entry);
	if (!extra)
		return -1;
	extra->fetched_at = fetched_at;
	entry->fetched = IN_EXTRA;
	return 0;
}

uint64_t key_dest_ref(const struct name_set *extras,
		      const struct key_entry *entry)
{
	if (entry->dest == 0)
		return KEY_DEST_NONE;
	if (entry->dest < IN_STORE)
		return (uint64_t)entry->dest * 2 + 1;
	if (entry->dest != IN_EXTRA)
		return ((uint64_t)(entry->dest - IN_STORE) + 1) * 2;
	const struct key_extra *extra = find_extra(extras, entry);
	return extra ? extra->dest_ref : KEY_DEST_NONE;
}

/* dest_ref as the entry's 32 bits, or IN_EXTRA when they cannot hold it. */
static uint32_t dest_code(uint64_t dest_ref)
{
	if (dest_ref == KEY_DEST_NONE)
		return 0;
	uint64_t half = dest_ref / 2;
	if (dest_ref & 1)
		return half > 0 && half < IN_STORE ? (uint32_t)half : IN_EXTRA;
	/* Even: number half - 1, of which IN_STORE + number < IN_EXTRA. */
	return half - 1 < IN_EXTRA - IN_STORE ? IN_STORE + (uint32_t)(half - 1)
					      : IN_EXTRA;
}

int key_set_dest_ref(struct name_set *extras, struct key_entry *entry,
		     uint64_t dest_ref)
{
	uint32_t code = dest_code(dest_ref);
	if (code != IN_EXTRA) {
		entry->dest = code;
		return 0;
	}
	struct key_extra *extra = need_extra(extras, entry);
	if (!extra)
		return -1;
	extra->dest_ref = dest_ref;
	entry->dest = IN_EXTRA;
	return 0;
}

bool key_listed_size(const struct name_set *extras,
		     const struct key_entry *entry, uint64_t *size)
{
	uint32_t code = entry->head.spare >> SIZE_SHIFT;
	if (code == 0)
		return false;
	if (code != SIZE_IN_EXTRA) {
		*size = code - 1;
		return true;
	}
	const struct key_extra *extra = find_extra(extras, entry);
	*size = extra ? extra->listed_size : 0;
	return extra != NULL;
}

static void set_size_code(struct key_entry *entry, uint32_t code)
{
	entry->head.spare = (entry->head.spare & (FLAGS_MASK | KEY_HAS_EXTRA)) |
			    code << SIZE_SHIFT;
}

int key_set_listed_size(struct name_set *extras, struct key_entry *entry,
			uint64_t size)
{
	if (size < SIZE_IN_EXTRA - 1) {
		set_size_code(entry, (uint32_t)size + 1);
		return 0;
	}
	struct key_extra *extra = need_extra(extras, entry);
	if (!extra)
		return -1;
	extra->listed_size = size;
	set_size_code(entry, SIZE_IN_EXTRA);
	return 0;
}

void key_missing(const struct name_set *extras, const struct key_entry *entry,
		 int64_t *since, uint32_t *runs)
{
	const struct key_extra *extra = find_extra(extras, entry);
	*since = extra ? extra->missing_since : 0;
	*runs = extra ? extra->missing_runs : 0;
}

/* The key's extra for values that are clear (none to keep) or not: NULL
   when it has none and they are clear, as none is needed.  -1: OOM. */
static int extra_for(struct name_set *extras, struct key_entry *entry,
		     bool clear, struct key_extra **extra)
{
	*extra = find_extra(extras, entry);
	if (*extra || clear)
		return 0;
	*extra = need_extra(extras, entry);
	return *extra ? 0 : -1;
}

int key_set_missing(struct name_set *extras, struct key_entry *entry,
		    int64_t since, uint32_t runs)
{
	struct key_extra *extra;
	if (extra_for(extras, entry, runs == 0, &extra) != 0)
		return -1;
	if (!extra)
		return 0;
	extra->missing_since = runs ? since : 0;
	extra->missing_runs = runs;
	return 0;
}

void key_push(const struct name_set *extras, const struct key_entry *entry,
	      unsigned *add, unsigned *remove)
{
	const struct key_extra *extra = find_extra(extras, entry);
	*add = extra ? extra->push_add : 0;
	*remove = extra ? extra->push_remove : 0;
}

int key_set_push(struct name_set *extras, struct key_entry *entry,
		 unsigned add, unsigned remove)
{
	struct key_extra *extra;
	if (extra_for(extras, entry, (add | remove) == 0, &extra) != 0)
		return -1;
	if (!extra)
		return 0;
	extra->push_add = (uint8_t)add;
	extra->push_remove = (uint8_t)remove;
	return 0;
}

unsigned key_flag_base(const struct key_entry *entry)
{
	return entry->head.spare & FLAGS_MASK;
}

void key_set_flag_base(struct key_entry *entry, unsigned flags)
{
	entry->head.spare = (entry->head.spare & ~FLAGS_MASK) |
			    (flags & FLAGS_MASK);
}

void key_drop_extra(struct name_set *extras, struct key_entry *entry)
{
	if (entry->head.spare & KEY_HAS_EXTRA)
		name_set_remove(extras, entry->head.name, entry->head.len);
	entry->head.spare &= ~KEY_HAS_EXTRA;
}
