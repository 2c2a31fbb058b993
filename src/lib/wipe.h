/*
 * wipe.h - growing and freeing blocks that may hold a secret (a password
 * on its way to the server, a token, a password_cmd's output).
 *
 * realloc may leave the old bytes in freed memory, where a core dump or
 * a later allocation can find them; these never do: a block is wiped
 * before it is freed, and growing copies into a new block.
 */
#ifndef YUBIN_WIPE_H
#define YUBIN_WIPE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Make *data (a malloc'd block of *cap bytes, len of them used; NULL
 * when *cap is 0) hold at least need bytes: a new block doubling from
 * first, never past limit, zeroed past len; the old one is wiped and
 * freed.  false, with *data and *cap unchanged, when need is over limit
 * or memory runs out.
 */
bool wipe_grow(char **data, size_t len, size_t *cap, size_t need,
	       size_t first, size_t limit);

/* Wipe the cap bytes at data, then free it; NULL is fine. */
void wipe_free(char *data, size_t cap);

#endif
