/*
 * fuzz_utf7.c - modified UTF-7 both ways, and folder names to paths.
 *
 * Input: one parameter byte, then a mailbox name.
 *   byte 0  the hierarchy delimiter for folder_path_map: '0' stands for
 *           NIL (a flat namespace), any other byte for itself (so
 *           invalid delimiters are tried too)
 *
 * Checked (imap_utf7.h: "a name has exactly one spelling in each form"):
 *   - utf7 -> utf8 that succeeds gives NUL-free text which converts back
 *     to exactly the input;
 *   - utf8 -> utf7 that succeeds gives printable ASCII which converts
 *     back to exactly the input;
 *   - failures are YB_ERR_PROTOCOL with a sanitized message and *out
 *     NULL;
 *   - the name (as UTF-8 when the input is valid modified UTF-7, and
 *     raw) maps in every folder layout to a path inside the root.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "imap_utf7.h"

#define PROTOCOL_ONLY FUZZ_STATUS(YB_ERR_PROTOCOL)

typedef int convert_fn(const char *in, size_t len, char **out,
		       size_t *out_len, struct yb_error *err);

/* Convert; on failure check the error and return NULL. */
static char *convert(convert_fn *fn, const char *what, const char *in,
		     size_t len, size_t *out_len)
{
	/* Any pointer but NULL: a failure must set *out to NULL. */
	static char sentinel;
	char *out = &sentinel;
	struct yb_error err;
	*out_len = SIZE_MAX;
	int rc = fn(in, len, &out, out_len, &err);
	fuzz_check_error(what, rc, &err, PROTOCOL_ONLY);
	if (rc != YB_OK) {
		FUZZ_CHECK(out == NULL);
		return NULL;
	}
	FUZZ_CHECK(out != NULL && out[*out_len] == '\0');
	return out;
}

static void check_round_trip(convert_fn *there, const char *there_name,
			     convert_fn *back, const char *back_name,
			     const char *in, size_t len, bool ascii_out)
{
	size_t mid_len;
	char *mid = convert(there, there_name, in, len, &mid_len);
	if (!mid)
		return;
	FUZZ_CHECK(!memchr(mid, '\0', mid_len));
	if (ascii_out)
		FUZZ_CHECK(fuzz_printable(mid, mid_len));
	size_t again_len;
	char *again = convert(back, back_name, mid, mid_len, &again_len);
	if (!again)
		fuzz_fail("%s made \"%s\", which %s refuses", there_name,
			  ascii_out ? mid : "(UTF-8)", back_name);
	if (again_len != len || memcmp(again, in, len) != 0)
		fuzz_fail("%s then %s does not give back the input (%zu bytes "
			  "in, %zu out)", there_name, back_name, len, again_len);
	free(again);
	free(mid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t delimiter_byte = fuzz_take_byte(&in);
	char delimiter = delimiter_byte == '0' ? '\0' : (char)delimiter_byte;
	const char *name = (const char *)in.data;

	check_round_trip(imap_utf7_to_utf8, "imap_utf7_to_utf8",
			 imap_utf8_to_utf7, "imap_utf8_to_utf7", name, in.len,
			 false);
	check_round_trip(imap_utf8_to_utf7, "imap_utf8_to_utf7",
			 imap_utf7_to_utf8, "imap_utf7_to_utf8", name, in.len,
			 true);

	size_t utf8_len;
	struct yb_error err;
	char *utf8 = NULL;
	if (imap_utf7_to_utf8(name, in.len, &utf8, &utf8_len, &err) == YB_OK) {
		fuzz_check_folder_paths(utf8, utf8_len, delimiter);
		free(utf8);
	}
	fuzz_check_folder_paths(name, in.len, delimiter);
	return 0;
}
