/*
 * eol.h - CRLF to LF as a stream, for message bodies.
 *
 * A delivered message holds the server's bytes with each CRLF turned into
 * LF; a bare CR or a bare LF is kept.  The filter remembers a CR that ends
 * one chunk until it sees the next byte.  Pure: no I/O, no allocation.
 */
#ifndef YUBIN_EOL_H
#define YUBIN_EOL_H

#include <stdbool.h>
#include <stddef.h>

struct eol_filter {
	bool pending_cr; /* the last byte seen was a CR not yet written */
};

void eol_init(struct eol_filter *filter);

/*
 * Convert in[0..len) into out, which must hold len + 1 bytes (a CR held
 * from the last chunk may come out first).  Returns the bytes written.
 */
size_t eol_convert(struct eol_filter *filter, const char *in, size_t len,
		   char *out);

/* At the end of a message: write a held CR (out holds 1 byte); returns 0 or 1. */
size_t eol_finish(struct eol_filter *filter, char *out);

#endif
