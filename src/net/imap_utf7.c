/*
 * imap_utf7.c - IMAP modified UTF-7 <-> UTF-8 (see imap_utf7.h).
 *
 * Strict both ways so that a mailbox name has one spelling: whatever the
 * decoder accepts, the encoder gives back byte for byte, and the encoder
 * never writes what the decoder would refuse.
 */
#include "config.h"

#include "imap_utf7.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* RFC 3501 modified base64: "," instead of "/", no padding. */
static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Room for the sanitized name quoted in a message. */
#define SHOWN_MAX 160

static bool is_printable_ascii(uint32_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

static int bad_input(const char *in, size_t len, size_t at, const char *problem,
		     struct yb_error *err)
{
	char shown[SHOWN_MAX];
	text_sanitize(shown, sizeof(shown), in, len);
	return yb_fail(err, YB_ERR_PROTOCOL, "mailbox name \"%s\": %s at byte %zu",
		       shown, problem, at);
}

/* A malloc'd output buffer for at most len * factor + 1 bytes. */
static char *alloc_output(size_t len, size_t factor, struct yb_error *err)
{
	if (len > (SIZE_MAX - 1) / factor) {
		yb_fail(err, YB_ERR_INTERNAL, "mailbox name too long to convert");
		return NULL;
	}
	char *buf = malloc(len * factor + 1);
	if (!buf)
		yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	return buf;
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* --- modified UTF-7 to UTF-8 --- */

struct utf16_state {
	uint32_t high; /* a high surrogate waiting for its low half, or 0 */
};

/* One UTF-16 unit from a base64 run; returns the problem or NULL. */
static const char *take_unit(struct utf16_state *st, uint32_t unit, char *out,
			     size_t *out_len)
{
	uint32_t cp;
	if (st->high) {
		if (unit < 0xdc00 || unit > 0xdfff)
			return "unpaired high surrogate";
		cp = 0x10000 + ((st->high - 0xd800) << 10) + (unit - 0xdc00);
		st->high = 0;
	} else if (unit >= 0xd800 && unit <= 0xdbff) {
		st->high = unit;
		return NULL;
	} else if (unit >= 0xdc00 && unit <= 0xdfff) {
		return "unpaired low surrogate";
	} else {
		cp = unit;
	}
	if (cp == 0)
		return "U+0000 encoded";
	if (is_printable_ascii(cp))
		return "printable ASCII encoded in base64";
	*out_len += put_utf8(out + *out_len, cp);
	return NULL;
}

/*
 * Decode the base64 run starting at in[*pos] (just after "&") up to and
 * including its "-".  Returns the problem or NULL; *pos is where it
 * stopped.
 */
static const char *decode_run(const char *in, size_t len, size_t *pos,
			      char *out, size_t *out_len)
{
	struct utf16_state st = { 0 };
	uint32_t bits = 0;
	unsigned nbits = 0;
	size_t i = *pos;
	for (; i < len && in[i] != '-'; i++) {
		int v = text_base64_value((unsigned char)in[i], ',');
		if (v < 0) {
			*pos = i;
			return "bad character in a base64 run";
		}
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits >= 16) {
			nbits -= 16;
			const char *problem =
				take_unit(&st, (bits >> nbits) & 0xffff, out, out_len);
			if (problem) {
				*pos = i;
				return problem;
			}
			bits &= (1u << nbits) - 1;
		}
	}
	*pos = i;
	if (i == len)
		return "base64 run not ended by \"-\"";
	*pos = i + 1;
	/* What is left must be fewer than 6 bits, all zero: anything else
	   is padding a shortest encoding would not have. */
	if (nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0)
		return "bad padding at the end of a base64 run";
	if (st.high)
		return "unpaired high surrogate";
	return NULL;
}

int imap_utf7_to_utf8(const char *in, size_t len, char **out, size_t *out_len,
		      struct yb_error *err)
{
	*out = NULL;
	*out_len = 0;
	/* 8 base64 characters carry 3 UTF-16 units, at most 9 UTF-8 bytes;
	   twice the input is enough in every case. */
	char *buf = alloc_output(len, 2, err);
	if (!buf)
		return YB_ERR_INTERNAL;
	size_t n = 0, i = 0;
	bool after_run = false;
	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		const char *problem = NULL;
		size_t at = i;
		if (!is_printable_ascii(c)) {
			problem = "byte not allowed in modified UTF-7";
		} else if (c != '&') {
			buf[n++] = (char)c;
			i++;
			after_run = false;
		} else if (i + 1 < len && in[i + 1] == '-') {
			buf[n++] = '&';
			i += 2;
			after_run = false;
		} else if (after_run) {
			problem = "a base64 run right after another";
		} else {
			i++;
			if (i < len && in[i] == '-')
				problem = "empty base64 run";
			else
				problem = decode_run(in, len, &i, buf, &n);
			at = i;
			after_run = true;
		}
		if (problem) {
			free(buf);
			return bad_input(in, len, at, problem, err);
		}
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return YB_OK;
}

/* --- UTF-8 to modified UTF-7 --- */

/* The code point at in[*pos], strictly (text_utf8_next), and never NUL. */
static bool next_code_point(const char *in, size_t len, size_t *pos,
			    uint32_t *cp)
{
	size_t at = *pos;
	if (!text_utf8_next(in, len, &at, cp) || *cp == 0)
		return false;
	*pos = at;
	return true;
}

struct run_writer {
	char *buf;
	size_t n;
	bool open;
	uint32_t bits;
	unsigned nbits;
};

static void run_unit(struct run_writer *w, uint32_t unit)
{
	w->bits = (w->bits << 16) | unit;
	w->nbits += 16;
	while (w->nbits >= 6) {
		w->nbits -= 6;
		w->buf[w->n++] = b64_chars[(w->bits >> w->nbits) & 0x3f];
	}
	w->bits &= (1u << w->nbits) - 1;
}

static void run_put(struct run_writer *w, uint32_t cp)
{
	if (!w->open) {
		w->buf[w->n++] = '&';
		w->open = true;
	}
	if (cp >= 0x10000) {
		cp -= 0x10000;
		run_unit(w, 0xd800 | (cp >> 10));
		run_unit(w, 0xdc00 | (cp & 0x3ff));
	} else {
		run_unit(w, cp);
	}
}

static void run_close(struct run_writer *w)
{
	if (!w->open)
		return;
	if (w->nbits)
		w->buf[w->n++] = b64_chars[(w->bits << (6 - w->nbits)) & 0x3f];
	w->buf[w->n++] = '-';
	w->open = false;
	w->bits = 0;
	w->nbits = 0;
}

int imap_utf8_to_utf7(const char *in, size_t len, char **out, size_t *out_len,
		      struct yb_error *err)
{
	*out = NULL;
	*out_len = 0;
	/* The worst case is a lone control character between ASCII ones:
	   1 byte -> "&AAE-", five times the input. */
	struct run_writer w = { 0 };
	w.buf = alloc_output(len, 5, err);
	if (!w.buf)
		return YB_ERR_INTERNAL;
	size_t pos = 0;
	while (pos < len) {
		size_t at = pos;
		uint32_t cp;
		if (!next_code_point(in, len, &pos, &cp)) {
			free(w.buf);
			return bad_input(in, len, at,
					 in[at] == '\0' ? "NUL byte"
							: "invalid UTF-8",
					 err);
		}
		if (!is_printable_ascii(cp)) {
			run_put(&w, cp);
			continue;
		}
		run_close(&w);
		w.buf[w.n++] = (char)cp;
		if (cp == '&')
			w.buf[w.n++] = '-';
	}
	run_close(&w);
	w.buf[w.n] = '\0';
	*out = w.buf;
	*out_len = w.n;
	return YB_OK;
}

/* UTF-8 as it is: checked as imap_utf8_to_utf7 checks it, then copied. */
static int copy_checked_utf8(const char *in, size_t len, char **out,
			     size_t *out_len, struct yb_error *err)
{
	char *encoded = NULL;
	size_t encoded_len = 0;
	*out = NULL;
	int rc = imap_utf8_to_utf7(in, len, &encoded, &encoded_len, err);
	free(encoded);
	if (rc != YB_OK)
		return rc;
	*out = malloc(len + 1);
	if (!*out)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	memcpy(*out, in, len);
	(*out)[len] = '\0';
	*out_len = len;
	return YB_OK;
}

int imap_mailbox_to_utf8(const char *in, size_t len, bool utf8_accept,
			 char **out, size_t *out_len, struct yb_error *err)
{
	if (utf8_accept)
		return copy_checked_utf8(in, len, out, out_len, err);
	return imap_utf7_to_utf8(in, len, out, out_len, err);
}

int imap_mailbox_from_utf8(const char *in, size_t len, bool utf8_accept,
			   char **out, size_t *out_len, struct yb_error *err)
{
	if (utf8_accept)
		return copy_checked_utf8(in, len, out, out_len, err);
	return imap_utf8_to_utf7(in, len, out, out_len, err);
}
