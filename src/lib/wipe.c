/*
 * wipe.c - growing and freeing blocks that may hold a secret.
 */
#include "config.h"

#include "wipe.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

bool wipe_grow(char **data, size_t len, size_t *cap, size_t need,
	       size_t first, size_t limit)
{
	if (need <= *cap)
		return true;
	if (need > limit || first == 0)
		return false;
	size_t grown_cap = *cap ? *cap : first;
	while (grown_cap < need)
		grown_cap = grown_cap > limit / 2 ? limit : grown_cap * 2;
	if (grown_cap > limit)
		grown_cap = limit;
	char *grown = calloc(1, grown_cap);
	if (!grown)
		return false;
	if (len > 0)
		memcpy(grown, *data, len);
	wipe_free(*data, *cap);
	*data = grown;
	*cap = grown_cap;
	return true;
}

void wipe_free(char *data, size_t cap)
{
	if (!data)
		return;
	OPENSSL_cleanse(data, cap);
	free(data);
}
