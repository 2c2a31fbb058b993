/* eol.c - streaming CRLF -> LF. */
#include "config.h"

#include "eol.h"

#include <string.h>

void eol_init(struct eol_filter *filter)
{
	filter->pending_cr = false;
}

size_t eol_convert(struct eol_filter *filter, const char *in, size_t len,
		   char *out)
{
	size_t used = 0;
	size_t i = 0;
	if (len == 0)
		return 0;
	if (filter->pending_cr) {
		filter->pending_cr = false;
		if (in[0] != '\n')
			out[used++] = '\r';
	}
	while (i < len) {
		const char *cr = memchr(in + i, '\r', len - i);
		size_t run = cr ? (size_t)(cr - (in + i)) : len - i;
		memcpy(out + used, in + i, run);
		used += run;
		i += run;
		if (!cr)
			break;
		/* in[i] is a CR: drop it if LF follows, hold it at the end. */
		if (i + 1 == len) {
			filter->pending_cr = true;
			i++;
		} else if (in[i + 1] == '\n') {
			i++;
		} else {
			out[used++] = '\r';
			i++;
		}
	}
	return used;
}

size_t eol_finish(struct eol_filter *filter, char *out)
{
	if (!filter->pending_cr)
		return 0;
	filter->pending_cr = false;
	out[0] = '\r';
	return 1;
}
