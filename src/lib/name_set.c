/*
 * name_set.c - a set of names: open addressing, linear probing,
 * backward-shift deletion, keyed SipHash-1-3 (see name_set.h).
 *
 * The table holds 8-byte slots (a hash and an entry's index), the
 * entries themselves one after the other in a block of their own.  A
 * probe runs over slots, eight to a cache line, and touches an entry
 * only when its hash matches; and the empty quarter or more of the table
 * costs 8 bytes a slot, not a whole entry (56 bytes for a state key): a
 * state of 1,000,000 keys took 112 MiB of table, and 56 MiB more while
 * it grew.
 */
#include "config.h"

#include "name_set.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MIN_CAPACITY 16
/* A set may not grow past this many slots (the hash kept is 32 bits),
   nor past this many entries (a slot holds an index + 1 of 32 bits). */
#define MAX_CAPACITY ((size_t)1 << 31)
#define MAX_ENTRIES ((size_t)UINT32_MAX - 1)

/* ---- SipHash-1-3 ------------------------------------------------------- */

static uint64_t rotl64(uint64_t value, int bits)
{
	return (value << bits) | (value >> (64 - bits));
}

static void sip_round(uint64_t v[4])
{
	v[0] += v[1]; v[1] = rotl64(v[1], 13); v[1] ^= v[0]; v[0] = rotl64(v[0], 32);
	v[2] += v[3]; v[3] = rotl64(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = rotl64(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = rotl64(v[1], 17); v[1] ^= v[2]; v[2] = rotl64(v[2], 32);
}

static uint64_t load_le64(const unsigned char *p)
{
	uint64_t value = 0;
	for (int i = 7; i >= 0; i--)
		value = (value << 8) | p[i];
	return value;
}

static uint64_t siphash13(const uint64_t key[2], const char *data, size_t len)
{
	const unsigned char *in = (const unsigned char *)data;
	uint64_t v[4] = {
		0x736f6d6570736575ULL ^ key[0], 0x646f72616e646f6dULL ^ key[1],
		0x6c7967656e657261ULL ^ key[0], 0x7465646279746573ULL ^ key[1],
	};
	size_t whole = len - len % 8;
	for (size_t i = 0; i < whole; i += 8) {
		uint64_t m = load_le64(in + i);
		v[3] ^= m;
		sip_round(v);
		v[0] ^= m;
	}
	uint64_t last = (uint64_t)len << 56;
	for (size_t i = 0; i < len % 8; i++)
		last |= (uint64_t)in[whole + i] << (8 * i);
	v[3] ^= last;
	sip_round(v);
	v[0] ^= last;
	v[2] ^= 0xff;
	sip_round(v);
	sip_round(v);
	sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/*
 * A random hash key.  Without the kernel's randomness the key is merely
 * unpredictable-ish; lookups stay correct, only collision resistance
 * against a hostile server weakens.
 */
static void random_hash_key(uint64_t key[2])
{
	if (getrandom(key, 2 * sizeof(key[0]), GRND_NONBLOCK) ==
	    (ssize_t)(2 * sizeof(key[0])))
		return;
	struct timespec now = { 0, 0 };
	clock_gettime(CLOCK_MONOTONIC, &now);
	key[0] = (uint64_t)now.tv_nsec * 0x9e3779b97f4a7c15ULL ^
		 (uint64_t)(uintptr_t)key;
	key[1] = (uint64_t)now.tv_sec ^ ((uint64_t)getpid() << 32);
}

static uint32_t hash_name(const struct name_set *set, const char *name,
			  size_t len)
{
	return (uint32_t)siphash13(set->hash_key, name, len);
}

/* ---- the table --------------------------------------------------------- */

void name_set_init_entries(struct name_set *set, size_t entry_size)
{
	memset(set, 0, sizeof(*set));
	set->entry_size = entry_size;
}

void name_set_init(struct name_set *set)
{
	name_set_init_entries(set, sizeof(struct name_entry));
}

static struct name_entry *entry_at(const struct name_set *set, size_t i)
{
	return (struct name_entry *)(void *)(set->entries + i * set->entry_size);
}

static size_t home_of(const struct name_set *set, uint32_t hash)
{
	return hash & (set->capacity - 1);
}

/* The slot holding name, or the free slot where it would go. */
static size_t probe(const struct name_set *set, const char *name, size_t len,
		    uint32_t hash, size_t *comparisons)
{
	size_t mask = set->capacity - 1;
	for (size_t i = home_of(set, hash);; i = (i + 1) & mask) {
		const struct name_slot *slot = &set->slots[i];
		if (slot->index == 0)
			return i;
		if (slot->hash != hash)
			continue;
		const struct name_entry *entry = entry_at(set, slot->index - 1);
		if (entry->len != len)
			continue;
		++*comparisons;
		if (memcmp(entry->name, name, len) == 0)
			return i;
	}
}

struct name_entry *name_set_find(const struct name_set *set, const char *name,
				 size_t len)
{
	if (set->count == 0 || len > UINT32_MAX)
		return NULL;
	size_t comparisons = 0;
	const struct name_slot *slot = &set->slots[probe(
		set, name, len, hash_name(set, name, len), &comparisons)];
	return slot->index ? entry_at(set, slot->index - 1) : NULL;
}

void name_set_prefetch(const struct name_set *set, const char *name,
		       size_t len)
{
	if (set->count == 0 || len > UINT32_MAX)
		return;
	__builtin_prefetch(&set->slots[home_of(set, hash_name(set, name, len))]);
}

/* Slot arrays from this size on are asked for huge pages: a look-up of a
   big set touches a random slot, and a TLB miss would cost as much as
   the cache miss. */
#define HUGE_SLOTS_BYTES ((size_t)4 << 20)

static void advise_huge(void *slots, size_t bytes)
{
#ifdef MADV_HUGEPAGE
	if (bytes < HUGE_SLOTS_BYTES)
		return;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)slots & ~(page - 1);
	/* Advice only: a kernel without it changes nothing. */
	(void)madvise((void *)start, (uintptr_t)slots + bytes - start,
		      MADV_HUGEPAGE);
#else
	(void)slots;
	(void)bytes;
#endif
}

/* The slots anew for capacity, pointing at every entry; -1: no memory. */
static int rebuild_slots(struct name_set *set, size_t capacity)
{
	struct name_slot *slots = calloc(capacity, sizeof(*slots));
	if (!slots)
		return -1;
	advise_huge(slots, capacity * sizeof(*slots));
	size_t mask = capacity - 1;
	for (size_t j = 0; j < set->capacity; j++) {
		struct name_slot old = set->slots[j];
		if (old.index == 0)
			continue;
		size_t i = old.hash & mask;
		while (slots[i].index)
			i = (i + 1) & mask;
		slots[i] = old;
	}
	free(set->slots);
	set->slots = slots;
	set->capacity = capacity;
	return 0;
}

static int reserve_one(struct name_set *set)
{
	if (set->count >= MAX_ENTRIES)
		return -1;
	if (set->count == set->entry_cap) {
		size_t cap = set->entry_cap ? set->entry_cap * 2 : MIN_CAPACITY;
		if (cap > SIZE_MAX / set->entry_size)
			return -1;
		/* realloc: a large block moves by remapping, not copying. */
		unsigned char *grown = realloc(set->entries, cap * set->entry_size);
		if (!grown)
			return -1;
		set->entries = grown;
		set->entry_cap = cap;
	}
	if (set->capacity && (set->count + 1) * 4 <= set->capacity * 3)
		return 0;
	size_t capacity = set->capacity ? set->capacity * 2 : MIN_CAPACITY;
	if (capacity > MAX_CAPACITY)
		return -1;
	return rebuild_slots(set, capacity);
}

/*
 * Before the first slot: a zeroed set holds bare names, and a new key is
 * drawn whenever the set starts empty, as nothing was hashed with the
 * old one.
 */
static void prepare_first_add(struct name_set *set)
{
	if (set->entry_size == 0)
		set->entry_size = sizeof(struct name_entry);
	random_hash_key(set->hash_key);
}

int name_set_insert(struct name_set *set, const char *name, size_t len,
		    struct name_entry **entry)
{
	if (len > UINT32_MAX)
		return -1;
	if (set->capacity == 0)
		prepare_first_add(set);
	uint32_t hash = hash_name(set, name, len);
	size_t i = 0;
	if (set->count > 0) {
		i = probe(set, name, len, hash, &set->comparisons);
		if (set->slots[i].index) {
			if (entry)
				*entry = entry_at(set, set->slots[i].index - 1);
			return 0;
		}
	}
	/* The free slot found stays right unless the slots are rebuilt. */
	size_t capacity = set->capacity;
	if (reserve_one(set) != 0)
		return -1;
	if (set->count == 0 || set->capacity != capacity)
		i = probe(set, name, len, hash, &set->comparisons);
	size_t j = set->count++;
	struct name_entry *added = entry_at(set, j);
	memset(added, 0, set->entry_size);
	*added = (struct name_entry){ name, (uint32_t)len, 0 };
	set->slots[i] = (struct name_slot){ hash, (uint32_t)(j + 1) };
	if (entry)
		*entry = added;
	return 1;
}

/* Is slot `at`, whose entry belongs at `home`, reachable past `hole`? */
static bool probe_passes(size_t home, size_t hole, size_t at)
{
	if (hole <= at)
		return home <= hole || home > at;
	return home <= hole && home > at;
}

/* Empty slot hole, shifting back the slots whose probe passed it. */
static void free_slot(struct name_set *set, size_t hole)
{
	/* Backward-shift deletion: no tombstones, probes stay short. */
	size_t mask = set->capacity - 1;
	for (size_t at = (hole + 1) & mask; set->slots[at].index;
	     at = (at + 1) & mask) {
		size_t home = home_of(set, set->slots[at].hash);
		if (probe_passes(home, hole, at)) {
			set->slots[hole] = set->slots[at];
			hole = at;
		}
	}
	set->slots[hole] = (struct name_slot){ 0, 0 };
}

/* The last entry moves into the hole at j, its slot following it. */
static void fill_entry_hole(struct name_set *set, size_t j)
{
	size_t last = set->count - 1;
	if (j != last) {
		const struct name_entry *moved = entry_at(set, last);
		size_t mask = set->capacity - 1;
		size_t i = home_of(set, hash_name(set, moved->name, moved->len));
		memcpy(entry_at(set, j), moved, set->entry_size);
		while (set->slots[i].index != last + 1)
			i = (i + 1) & mask;
		set->slots[i].index = (uint32_t)(j + 1);
	}
	set->count--;
}

bool name_set_remove(struct name_set *set, const char *name, size_t len)
{
	if (set->count == 0 || len > UINT32_MAX)
		return false;
	size_t comparisons = 0;
	size_t i = probe(set, name, len, hash_name(set, name, len), &comparisons);
	size_t index = set->slots[i].index;
	if (index == 0)
		return false;
	free_slot(set, i);
	fill_entry_hole(set, index - 1);
	return true;
}

struct name_entry *name_set_next(const struct name_set *set, size_t *cursor)
{
	if (*cursor >= set->count)
		return NULL;
	return entry_at(set, (*cursor)++);
}

int name_set_add(struct name_set *set, const char *name)
{
	return name_set_insert(set, name, strlen(name), NULL);
}

bool name_set_contains(const struct name_set *set, const char *name)
{
	return name_set_find(set, name, strlen(name)) != NULL;
}

void name_set_free(struct name_set *set)
{
	free(set->slots);
	free(set->entries);
	set->slots = NULL;
	set->entries = NULL;
	set->capacity = 0;
	set->entry_cap = 0;
	set->count = 0;
	set->comparisons = 0;
}
