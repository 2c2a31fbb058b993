/*
 * folder_path.c - server folder name -> relative local path (see
 * folder_path.h).
 *
 * The folder name comes from the server and is hostile: every byte is
 * checked before any of it is copied, every component is checked on its
 * own, and the result is built in a bounded buffer.  Nothing here can
 * name a path outside the root: no component is empty, "." or "..", none
 * holds a "/", and the result never starts with "/".
 */
#include "config.h"

#include "folder_path.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_utf7.h"
#include "text.h"

/* Room for the sanitized folder name in a message. */
#define SHOWN_MAX 200

struct component {
	const char *text;
	size_t len;
	size_t index;
	bool last;
};

/* The path being built: out[0..len), NUL-terminated, len <= max. */
struct path_buf {
	char *out;
	size_t len;
	size_t max;
};

__attribute__((format(printf, 4, 5)))
static int refuse(const char *name, size_t name_len, struct yb_error *err,
		  const char *fmt, ...)
{
	char shown[SHOWN_MAX];
	char reason[256];
	va_list ap;
	text_sanitize(shown, sizeof(shown), name, name_len);
	/* The reasons are short; cutting one would lose words, not safety. */
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return yb_fail(err, YB_ERR_PROTOCOL, "folder \"%s\" refused: %s", shown,
		       reason);
}

static bool path_append(struct path_buf *path, const char *s, size_t len)
{
	if (len > path->max - path->len)
		return false;
	memcpy(path->out + path->len, s, len);
	path->len += len;
	path->out[path->len] = '\0';
	return true;
}

/* --- the bytes of the whole name --- */

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
}

/* Valid UTF-8 without control characters (C0, DEL, C1). */
static int check_bytes(const char *name, size_t len, struct yb_error *err)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t pos = 0;
	while (pos < len) {
		size_t at = pos;
		uint32_t cp;
		if (!text_utf8_next((const char *)s, len, &pos, &cp))
			return refuse(name, len, err, "invalid UTF-8 at byte %zu",
				      at);
		if (is_control(cp))
			return refuse(name, len, err,
				      "control character U+%04X at byte %zu",
				      (unsigned)cp, at);
	}
	return YB_OK;
}

/* IMAP's one case-insensitive name. */
static bool is_inbox(const char *s, size_t len)
{
	return len == 5 && strncasecmp(s, "INBOX", 5) == 0;
}

/* --- one component --- */

static bool has_suffix_ci(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

static bool has_prefix_ci(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && strncasecmp(s, prefix, n) == 0;
}

static bool equals(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* What every layout refuses. */
static int check_component(const char *name, size_t name_len,
			   const struct component *c, struct yb_error *err)
{
	if (c->len == 0)
		return refuse(name, name_len, err,
			      "empty component %zu (a leading, trailing or "
			      "doubled delimiter)", c->index + 1);
	if (equals(c->text, c->len, ".") || equals(c->text, c->len, ".."))
		return refuse(name, name_len, err,
			      "component \"%.*s\" could leave the folder root",
			      (int)c->len, c->text);
	if (memchr(c->text, '/', c->len))
		return refuse(name, name_len, err,
			      "component %zu holds a \"/\"", c->index + 1);
	if (c->len > FOLDER_COMPONENT_MAX)
		return refuse(name, name_len, err,
			      "component %zu is longer than %d bytes",
			      c->index + 1, FOLDER_COMPONENT_MAX);
	return YB_OK;
}

/* --- the layouts --- */

static int too_long(const char *name, size_t len, struct yb_error *err)
{
	return refuse(name, len, err, "its path would be longer than %d bytes",
		      FOLDER_PATH_MAX);
}

/* --- the escape of the VERBATIM and MBOX layouts (see folder_path.h) --- */

/* The byte as "\HH", the escape every layout reads back. */
static bool append_hex_escape(struct path_buf *path, char byte)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char value = (unsigned char)byte;
	char hex[3] = { '\\', digits[value >> 4], digits[value & 15] };
	return path_append(path, hex, sizeof(hex));
}

/* A "\" that a reader would take for the start of an escape "\HH". */
static bool reads_as_escape(const struct component *c, size_t i)
{
	return c->text[i] == '\\' && c->len - i >= 3 &&
	       text_hex_value(c->text[i + 1]) >= 0 && text_hex_value(c->text[i + 2]) >= 0;
}

/* A Maildir's own directories, compared exactly as before (see .h). */
static bool is_maildir_dir(const struct component *c)
{
	return equals(c->text, c->len, "tmp") || equals(c->text, c->len, "new") ||
	       equals(c->text, c->len, "cur");
}

/*
 * The byte of an mbox component that must be escaped so that the file
 * cannot be taken for one the sink makes beside it: the "." of a ".lock"
 * (a dotlock) or ".sbd" (a subfolder directory) ending, and the leading
 * "." of ".yubin-" (its temporary files).  Case-insensitive, as the
 * ".sbd" refusal was: on a case-insensitive file system "A.LOCK" is
 * "A.lock".
 */
static bool mbox_byte_collides(const struct component *c, size_t i)
{
	if (i == 0 && has_prefix_ci(c->text, c->len, ".yubin-"))
		return true;
	if (i + 5 == c->len && has_suffix_ci(c->text, c->len, ".lock"))
		return true;
	return i + 4 == c->len && has_suffix_ci(c->text, c->len, ".sbd");
}

static bool must_escape(const struct component *c, size_t i,
			enum folder_layout layout)
{
	if (reads_as_escape(c, i))
		return true;
	if (layout == FOLDER_LAYOUT_VERBATIM)
		return i == 0 && is_maildir_dir(c);
	return mbox_byte_collides(c, i);
}

/*
 * Append c with the bytes that would collide written "\HH" (lowercase
 * hex).  A "\" is escaped only where it would read as an escape, so
 * that names without one keep the path they always had; decoding "\HH"
 * (either case) back to its byte and leaving any other "\" as it is
 * gives the name again, so two names never share a path.
 */
static bool append_sink_escaped(struct path_buf *path, const struct component *c,
				enum folder_layout layout)
{
	for (size_t i = 0; i < c->len; i++) {
		bool ok;
		if (must_escape(c, i, layout)) {
			ok = append_hex_escape(path, c->text[i]);
		} else {
			ok = path_append(path, c->text + i, 1);
		}
		if (!ok)
			return false;
	}
	return true;
}

static int append_verbatim(struct path_buf *path, const struct component *c,
			   const char *name, size_t name_len,
			   struct yb_error *err)
{
	if (c->index > 0 && !path_append(path, "/", 1))
		return too_long(name, name_len, err);
	size_t start = path->len;
	if (!append_sink_escaped(path, c, FOLDER_LAYOUT_VERBATIM))
		return too_long(name, name_len, err);
	if (path->len - start > FOLDER_COMPONENT_MAX)
		return refuse(name, name_len, err,
			      "component %zu is longer than %d bytes once "
			      "escaped", c->index + 1, FOLDER_COMPONENT_MAX);
	return YB_OK;
}

static int append_mbox(struct path_buf *path, const struct component *c,
		       const char *name, size_t name_len, struct yb_error *err)
{
	size_t start = path->len;
	if (!append_sink_escaped(path, c, FOLDER_LAYOUT_MBOX))
		return too_long(name, name_len, err);
	/* A parent's mbox file and its children's directory sit side by
	   side: "A" and "A.sbd/"; a folder's file and its dotlock too:
	   "A" and "A.lock".  Both names must fit. */
	size_t escaped_len = path->len - start;
	if (!c->last && escaped_len + 4 > FOLDER_COMPONENT_MAX)
		return refuse(name, name_len, err,
			      "component %zu plus \".sbd\" is longer than %d "
			      "bytes", c->index + 1, FOLDER_COMPONENT_MAX);
	if (c->last && escaped_len + 5 > FOLDER_COMPONENT_MAX)
		return refuse(name, name_len, err,
			      "component %zu plus \".lock\" is longer than %d "
			      "bytes", c->index + 1, FOLDER_COMPONENT_MAX);
	if (!c->last && !path_append(path, ".sbd/", 5))
		return too_long(name, name_len, err);
	return YB_OK;
}

/* Dovecot's listescape with "\" as the escape character. */
static bool append_escaped(struct path_buf *path, const char *s, size_t len,
			   bool name_start)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool escape = c == '.' || c == '\\' || (name_start && i == 0 && c == '~');
		if (escape) {
			if (!append_hex_escape(path, c))
				return false;
		} else if (!path_append(path, &c, 1)) {
			return false;
		}
	}
	return true;
}

static int append_maildirpp(struct path_buf *path, const struct component *c,
			    const char *name, size_t name_len,
			    struct yb_error *err)
{
	char *utf7;
	size_t utf7_len;
	int rc = imap_utf8_to_utf7(c->text, c->len, &utf7, &utf7_len, err);
	if (rc != YB_OK)
		return rc;
	bool ok = path_append(path, ".", 1) &&
		  append_escaped(path, utf7, utf7_len, c->index == 0);
	free(utf7);
	if (!ok)
		return too_long(name, name_len, err);
	/* The whole ".A.B" is one directory name. */
	if (path->len > FOLDER_COMPONENT_MAX)
		return refuse(name, name_len, err,
			      "its Maildir++ directory name would be longer "
			      "than %d bytes", FOLDER_COMPONENT_MAX);
	return YB_OK;
}

static int append_component(struct path_buf *path, const struct component *c,
			    const struct folder_path_opts *opts,
			    const char *name, size_t name_len,
			    struct yb_error *err)
{
	switch (opts->layout) {
	case FOLDER_LAYOUT_VERBATIM:
		return append_verbatim(path, c, name, name_len, err);
	case FOLDER_LAYOUT_MAILDIRPP:
		return append_maildirpp(path, c, name, name_len, err);
	case FOLDER_LAYOUT_MBOX:
		return append_mbox(path, c, name, name_len, err);
	}
	return yb_fail(err, YB_ERR_INTERNAL, "unknown folder layout %d",
		       (int)opts->layout);
}

/* INBOX alone: the root itself, or its own name. */
static const char *inbox_path(const struct folder_path_opts *opts)
{
	if (opts->layout == FOLDER_LAYOUT_MAILDIRPP ||
	    (opts->layout == FOLDER_LAYOUT_VERBATIM && opts->inbox_at_root))
		return "";
	return "INBOX";
}

/* Split at the delimiter, check each component, append it. */
static int map_components(const char *name, size_t len, char delimiter,
			  const struct folder_path_opts *opts,
			  struct path_buf *path, struct yb_error *err)
{
	size_t start = 0, index = 0;
	while (true) {
		const char *end = delimiter ? memchr(name + start, delimiter,
						     len - start)
					    : NULL;
		size_t stop = end ? (size_t)(end - name) : len;
		struct component c = { name + start, stop - start, index, !end };
		int rc = check_component(name, len, &c, err);
		if (rc != YB_OK)
			return rc;
		/* IMAP's INBOX is case-insensitive; spell it one way. */
		if (index == 0 && is_inbox(c.text, c.len))
			c.text = "INBOX";
		rc = append_component(path, &c, opts, name, len, err);
		if (rc != YB_OK || !end)
			return rc;
		start = stop + 1;
		index++;
	}
}

int folder_path_map(const char *name, size_t len, char delimiter,
		    const struct folder_path_opts *opts, char *out,
		    size_t out_size, size_t *out_len, struct yb_error *err)
{
	if (!name || !opts || !out || !out_len || out_size < FOLDER_PATH_MAX + 1)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "folder_path_map called with bad arguments");
	out[0] = '\0';
	*out_len = 0;
	if (len == 0)
		return refuse(name, len, err, "empty name");
	unsigned char delim = (unsigned char)delimiter;
	if (delim != 0 && (delim <= 0x20 || delim >= 0x7f))
		return refuse(name, len, err,
			      "hierarchy delimiter 0x%02x is not a printable "
			      "character", delim);
	int rc = check_bytes(name, len, err);
	if (rc != YB_OK)
		return rc;
	if (is_inbox(name, len)) {
		const char *inbox = inbox_path(opts);
		size_t n = strlen(inbox);
		memcpy(out, inbox, n + 1);
		*out_len = n;
		return YB_OK;
	}
	struct path_buf path = { out, 0, FOLDER_PATH_MAX };
	rc = map_components(name, len, delimiter, opts, &path, err);
	if (rc != YB_OK) {
		out[0] = '\0';
		return rc;
	}
	*out_len = path.len;
	return YB_OK;
}

bool folder_is_pattern(const char *configured)
{
	return strpbrk(configured, "*%") != NULL;
}

bool folder_path_single(const struct account *account)
{
	return account->folder_count == 0 ||
	       (account->folder_count == 1 &&
		!folder_is_pattern(account->folders[0]));
}

struct folder_path_opts folder_path_opts_for(const struct account *account)
{
	struct folder_path_opts opts = {
		.layout = account->deliver == DELIVER_MBOX ? FOLDER_LAYOUT_MBOX
			  : account->layout == LAYOUT_MAILDIRPP ? FOLDER_LAYOUT_MAILDIRPP
			  : FOLDER_LAYOUT_VERBATIM,
		.inbox_at_root = account->inbox_at_root,
	};
	return opts;
}
