/*
 * config.c - the account file: YAML (libyaml events) -> struct config.
 *
 * The file is read whole (it is small, and its size is capped), turned
 * into a small tree of nodes that remember where they start, and then
 * checked key by key, so every complaint can say FILE:LINE:COLUMN.
 *
 * We build our own tree from parser events rather than use
 * yaml_parser_load() so that aliases and anchors are refused where they
 * appear, and so that nesting depth, node count and mapping sizes are
 * bounded before a hostile file can make us spend much time or memory.
 */
#include "config.h"

#include "account.h"
#include "grow.h"
#include "oauth2_preset.h"
#include "secret.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <yaml.h>

/* Limits for hostile input; a real account file is far below each. */
#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_ACCOUNTS 1000
#define CONFIG_MAX_DEPTH 16
#define CONFIG_MAX_NODES 100000
#define CONFIG_MAX_MAP_KEYS 256
#define CONFIG_MAX_SEQ_ITEMS 10000

#define ACCOUNT_NAME_MAX 64
#define TIMEOUT_DEFAULT 60
#define TIMEOUT_MAX 3600
/* --watch: how often a polled account is fetched (seconds). */
#define POLL_INTERVAL_DEFAULT 300
#define POLL_INTERVAL_MIN 10
#define POLL_INTERVAL_MAX 86400
#define DELETE_AFTER_DAYS_MAX 36500

/* How much of a bad value a message quotes (sanitized). */
#define SHOWN_MAX 64

/* ------------------------------------------------------------------ */
/* The node tree                                                       */

enum ynode_kind { YNODE_SCALAR, YNODE_SEQUENCE, YNODE_MAPPING };

struct ynode {
	enum ynode_kind kind;
	unsigned line;          /* 1-based start position */
	unsigned column;        /* 1-based */
	char *text;             /* scalar bytes plus a NUL; owned */
	size_t len;             /* scalar length (may hold NUL bytes) */
	bool plain;             /* plain style: "", "~" and "null" mean null */
	struct ynode **items;   /* sequence items, or mapping key and value
				   alternately; the array and nodes are owned */
	size_t count;
	size_t cap;
	struct ynode *parent;   /* innermost enclosing collection */
};

static void ynode_free(struct ynode *node)
{
	if (!node)
		return;
	for (size_t i = 0; i < node->count; i++)
		ynode_free(node->items[i]); /* depth is capped */
	free(node->items);
	if (node->text) /* a scalar may be a password */
		OPENSSL_cleanse(node->text, node->len);
	free(node->text);
	free(node);
}

static size_t map_size(const struct ynode *map)
{
	return map->count / 2;
}

static const struct ynode *map_key(const struct ynode *map, size_t i)
{
	return map->items[2 * i];
}

static const struct ynode *map_value(const struct ynode *map, size_t i)
{
	return map->items[2 * i + 1];
}

static bool scalar_is(const struct ynode *node, const char *word)
{
	size_t wlen = strlen(word);
	return node->kind == YNODE_SCALAR && node->len == wlen &&
	       memcmp(node->text, word, wlen) == 0;
}

/* The value for key in a mapping, or NULL. */
static const struct ynode *map_get(const struct ynode *map, const char *key)
{
	for (size_t i = 0; i < map_size(map); i++)
		if (scalar_is(map_key(map, i), key))
			return map_value(map, i);
	return NULL;
}

static bool scalar_is_ci(const struct ynode *node, const char *word)
{
	size_t wlen = strlen(word);
	return node->kind == YNODE_SCALAR && node->len == wlen &&
	       strncasecmp(node->text, word, wlen) == 0;
}

/* ---- "did you mean": the known word nearest to a misspelt one ---- */

/* Longer words are not compared: no key or value is this long. */
#define NEAR_WORD_MAX 40

static int lower(char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;
	return m < c ? m : c;
}

/*
 * Edits (insert, delete, replace, swap two neighbours) from a to b,
 * ignoring case; both at most NEAR_WORD_MAX bytes.
 */
static size_t edit_distance(const char *a, size_t alen, const char *b,
			    size_t blen)
{
	size_t rows[3][NEAR_WORD_MAX + 1]; /* rows i-2, i-1 and i */
	for (size_t j = 0; j <= blen; j++)
		rows[1][j] = j;
	for (size_t i = 1; i <= alen; i++) {
		size_t *two_up = rows[0], *up = rows[1], *row = rows[2];
		row[0] = i;
		for (size_t j = 1; j <= blen; j++) {
			size_t cost = lower(a[i - 1]) != lower(b[j - 1]);
			row[j] = min3(up[j] + 1, row[j - 1] + 1,
				      up[j - 1] + cost);
			if (i > 1 && j > 1 &&
			    lower(a[i - 1]) == lower(b[j - 2]) &&
			    lower(a[i - 2]) == lower(b[j - 1]) &&
			    two_up[j - 2] + 1 < row[j])
				row[j] = two_up[j - 2] + 1;
		}
		memcpy(rows[0], rows[1], sizeof(rows[0]));
		memcpy(rows[1], rows[2], sizeof(rows[1]));
	}
	return rows[1][blen];
}

/* One is the start of the other, and the shorter is no mere letter. */
static bool is_prefix_pair(const char *text, size_t len, const char *word,
			   size_t wlen)
{
	size_t shorter = len < wlen ? len : wlen;
	return shorter >= 3 && strncasecmp(text, word, shorter) == 0;
}

/*
 * The word of words[] nearest to text, or NULL when none is near: at
 * most two edits away (fewer than text has letters), or one the start
 * of the other ("hostname" and "host").
 */
static const char *nearest_word(const char *text, size_t len,
				const char *const words[], size_t count)
{
	const char *best = NULL;
	size_t best_distance = SIZE_MAX;
	if (len > NEAR_WORD_MAX)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		size_t wlen = strlen(words[i]);
		if (wlen > NEAR_WORD_MAX)
			continue;
		size_t distance = edit_distance(text, len, words[i], wlen);
		bool near = (distance <= 2 && distance < len) ||
			    is_prefix_pair(text, len, words[i], wlen);
		if (near && distance < best_distance) {
			best = words[i];
			best_distance = distance;
		}
	}
	return best;
}

/* " (did you mean 'WORD'?)" for the nearest word, or "". */
static const char *did_you_mean(char *buf, size_t size, const struct ynode *node,
				const char *const words[], size_t count)
{
	const char *word = nearest_word(node->text, node->len, words, count);
	if (!word)
		return "";
	snprintf(buf, size, " (did you mean '%s'?)", word);
	return buf;
}

static const struct ynode *map_get_key(const struct ynode *map,
				       const char *key)
{
	for (size_t i = 0; i < map_size(map); i++)
		if (scalar_is(map_key(map, i), key))
			return map_key(map, i);
	return NULL;
}

/* YAML's null: an empty plain scalar, "~" or "null" (core schema). */
static bool ynode_is_null(const struct ynode *node)
{
	if (node->kind != YNODE_SCALAR || !node->plain)
		return false;
	return node->len == 0 || scalar_is(node, "~") ||
	       scalar_is(node, "null") || scalar_is(node, "Null") ||
	       scalar_is(node, "NULL");
}

static const char *ynode_kind_name(const struct ynode *node)
{
	switch (node->kind) {
	case YNODE_SCALAR:   return "a string";
	case YNODE_SEQUENCE: return "a sequence";
	case YNODE_MAPPING:  return "a mapping";
	}
	return "a node";
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */

struct loader {
	const char *path;        /* as given, for messages */
	struct yb_error *err;
	char *default_state_dir; /* computed on first need; owned */
};

static int fail_pos(struct loader *ld, unsigned line, unsigned column,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_pos(struct loader *ld, unsigned line, unsigned column,
		    const char *fmt, ...)
{
	char text[YB_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	int written = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (written < 0)
		text[0] = '\0';
	/* yb_fail marks a message cut short with "...". */
	return yb_fail(ld->err, YB_ERR_CONFIG, "%s:%u:%u: %s", ld->path, line,
		       column, text);
}

#define fail_at(ld, node, ...) \
	fail_pos((ld), (node)->line, (node)->column, __VA_ARGS__)

static int fail_oom(struct loader *ld)
{
	return yb_fail(ld->err, YB_ERR_INTERNAL, "%s: out of memory", ld->path);
}

/* Bytes from the file, made safe to print and cut to a sensible size. */
static const char *shown(char buf[SHOWN_MAX], const char *text, size_t len)
{
	text_sanitize(buf, SHOWN_MAX, text, len);
	return buf;
}

static unsigned mark_number(size_t zero_based)
{
	return zero_based >= UINT_MAX ? UINT_MAX : (unsigned)zero_based + 1;
}

/* ------------------------------------------------------------------ */
/* Building the tree from parser events                                */

struct tree_builder {
	struct loader *ld;
	struct ynode *root;  /* owned until handed out */
	struct ynode *open;  /* innermost unfinished collection */
	unsigned depth;
	size_t nodes;
	bool seen_document;
	bool done;
};

static int check_new_key(struct tree_builder *tb, const struct ynode *map,
			 const struct ynode *key)
{
	struct loader *ld = tb->ld;
	char buf[SHOWN_MAX];
	if (key->kind != YNODE_SCALAR)
		return fail_at(ld, key, "a mapping key must be a string, not %s",
			       ynode_kind_name(key));
	if (map_size(map) >= CONFIG_MAX_MAP_KEYS)
		return fail_at(ld, key, "more than %d keys in one mapping",
			       CONFIG_MAX_MAP_KEYS);
	for (size_t i = 0; i < map_size(map); i++) {
		const struct ynode *other = map_key(map, i);
		if (other->len == key->len &&
		    memcmp(other->text, key->text, key->len) == 0)
			return fail_at(ld, key,
				       "duplicate key '%s' (first at line %u)",
				       shown(buf, key->text, key->len),
				       other->line);
	}
	return YB_OK;
}

/* Hang a new node under the open collection; takes ownership of node. */
static int tree_attach(struct tree_builder *tb, struct ynode *node)
{
	struct ynode *parent = tb->open;
	if (!parent) {
		tb->root = node;
		return YB_OK;
	}
	int status = YB_OK;
	if (parent->kind == YNODE_MAPPING && parent->count % 2 == 0)
		status = check_new_key(tb, parent, node);
	else if (parent->kind == YNODE_SEQUENCE &&
		 parent->count >= CONFIG_MAX_SEQ_ITEMS)
		status = fail_at(tb->ld, node, "more than %d items in one sequence",
				 CONFIG_MAX_SEQ_ITEMS);
	if (status == YB_OK) {
		struct ynode **items = grow_array(parent->items, &parent->cap,
						  parent->count + 1,
						  sizeof(*items), 8);
		if (!items)
			status = fail_oom(tb->ld);
		else
			parent->items = items;
	}
	if (status != YB_OK) {
		ynode_free(node);
		return status;
	}
	parent->items[parent->count++] = node;
	node->parent = parent;
	return YB_OK;
}

static int tree_refuse_anchor(struct tree_builder *tb, const yaml_event_t *ev,
			      const yaml_char_t *anchor)
{
	char buf[SHOWN_MAX];
	const char *name = (const char *)anchor;
	return fail_pos(tb->ld, mark_number(ev->start_mark.line),
			mark_number(ev->start_mark.column),
			"YAML anchors (&%s) are not supported; write the value out",
			shown(buf, name, strlen(name)));
}

static int tree_new_node(struct tree_builder *tb, const yaml_event_t *ev,
			 enum ynode_kind kind, struct ynode **out)
{
	if (tb->nodes >= CONFIG_MAX_NODES)
		return fail_pos(tb->ld, mark_number(ev->start_mark.line),
				mark_number(ev->start_mark.column),
				"more than %d values in the file", CONFIG_MAX_NODES);
	struct ynode *node = calloc(1, sizeof(*node));
	if (!node)
		return fail_oom(tb->ld);
	node->kind = kind;
	node->line = mark_number(ev->start_mark.line);
	node->column = mark_number(ev->start_mark.column);
	tb->nodes++;
	*out = node;
	return YB_OK;
}

static int tree_add_scalar(struct tree_builder *tb, const yaml_event_t *ev)
{
	if (ev->data.scalar.anchor)
		return tree_refuse_anchor(tb, ev, ev->data.scalar.anchor);
	struct ynode *node;
	int status = tree_new_node(tb, ev, YNODE_SCALAR, &node);
	if (status != YB_OK)
		return status;
	size_t len = ev->data.scalar.length;
	node->text = malloc(len + 1);
	if (!node->text) {
		ynode_free(node);
		return fail_oom(tb->ld);
	}
	memcpy(node->text, ev->data.scalar.value, len);
	node->text[len] = '\0';
	node->len = len;
	node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	return tree_attach(tb, node);
}

static int tree_open(struct tree_builder *tb, const yaml_event_t *ev,
		     enum ynode_kind kind, const yaml_char_t *anchor)
{
	if (anchor)
		return tree_refuse_anchor(tb, ev, anchor);
	if (tb->depth >= CONFIG_MAX_DEPTH)
		return fail_pos(tb->ld, mark_number(ev->start_mark.line),
				mark_number(ev->start_mark.column),
				"nested more than %d levels deep", CONFIG_MAX_DEPTH);
	struct ynode *node;
	int status = tree_new_node(tb, ev, kind, &node);
	if (status == YB_OK)
		status = tree_attach(tb, node);
	if (status != YB_OK)
		return status;
	tb->open = node;
	tb->depth++;
	return YB_OK;
}

static void tree_close(struct tree_builder *tb)
{
	/* libyaml pairs every start with an end, so open is never NULL. */
	if (tb->open) {
		tb->open = tb->open->parent;
		tb->depth--;
	}
}

static int tree_add_event(struct tree_builder *tb, const yaml_event_t *ev)
{
	char buf[SHOWN_MAX];
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (tb->seen_document)
			return fail_pos(tb->ld, mark_number(ev->start_mark.line),
					mark_number(ev->start_mark.column),
					"a second YAML document; the account file holds one");
		tb->seen_document = true;
		return YB_OK;
	case YAML_ALIAS_EVENT:
		return fail_pos(tb->ld, mark_number(ev->start_mark.line),
				mark_number(ev->start_mark.column),
				"YAML aliases (*%s) are not supported; write the value out",
				shown(buf, (const char *)ev->data.alias.anchor,
				      strlen((const char *)ev->data.alias.anchor)));
	case YAML_SCALAR_EVENT:
		return tree_add_scalar(tb, ev);
	case YAML_SEQUENCE_START_EVENT:
		return tree_open(tb, ev, YNODE_SEQUENCE,
				 ev->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		return tree_open(tb, ev, YNODE_MAPPING,
				 ev->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		tree_close(tb);
		return YB_OK;
	case YAML_STREAM_END_EVENT:
		tb->done = true;
		return YB_OK;
	default:
		return YB_OK;
	}
}

/* Line and column (in characters, as libyaml counts) of a byte offset. */
static void position_of_offset(const char *buf, size_t len, size_t offset,
			       unsigned *line, unsigned *column)
{
	size_t lines = 0, columns = 0;
	for (size_t i = 0; i < offset && i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c == '\n') {
			lines++;
			columns = 0;
		} else if ((c & 0xc0) != 0x80) {
			columns++;
		}
	}
	*line = mark_number(lines);
	*column = mark_number(columns);
}

static int syntax_error(struct loader *ld, const yaml_parser_t *parser,
			const char *buf, size_t len)
{
	if (parser->error == YAML_MEMORY_ERROR)
		return fail_oom(ld);
	const char *problem = parser->problem ? parser->problem : "unknown error";
	unsigned line, column;
	if (parser->error == YAML_READER_ERROR) {
		position_of_offset(buf, len, parser->problem_offset, &line,
				   &column);
		return fail_pos(ld, line, column, "YAML syntax error: %s",
				problem);
	}
	line = mark_number(parser->problem_mark.line);
	column = mark_number(parser->problem_mark.column);
	if (!parser->context)
		return fail_pos(ld, line, column, "YAML syntax error: %s",
				problem);
	return fail_pos(ld, line, column,
			"YAML syntax error: %s (%s at line %u, column %u)", problem,
			parser->context, mark_number(parser->context_mark.line),
			mark_number(parser->context_mark.column));
}

/* Parse buf into a tree; *root is NULL for a file without a document. */
static int build_tree(struct loader *ld, const char *buf, size_t len,
		      struct ynode **root)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return fail_oom(ld);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	struct tree_builder tb = { .ld = ld };
	int status = YB_OK;
	while (status == YB_OK && !tb.done) {
		yaml_event_t event;
		if (!yaml_parser_parse(&parser, &event)) {
			status = syntax_error(ld, &parser, buf, len);
			break;
		}
		status = tree_add_event(&tb, &event);
		yaml_event_delete(&event);
	}
	yaml_parser_delete(&parser);
	if (status != YB_OK) {
		ynode_free(tb.root);
		return status;
	}
	*root = tb.root;
	return YB_OK;
}

/* ------------------------------------------------------------------ */
/* Reading the file                                                    */

struct file_bytes {
	char *data;   /* owned */
	size_t len;
	mode_t mode;
};

static int read_all(struct loader *ld, int fd, struct file_bytes *file)
{
	size_t cap = 4096, len = 0;
	char *data = malloc(cap);
	if (!data)
		return fail_oom(ld);
	for (;;) {
		if (len == cap) {
			if (cap > CONFIG_MAX_BYTES) {
				free(data);
				return yb_fail(ld->err, YB_ERR_CONFIG,
					       "%s: larger than %d bytes; is this the account file?",
					       ld->path, CONFIG_MAX_BYTES);
			}
			char *grown = realloc(data, cap * 2);
			if (!grown) {
				free(data);
				return fail_oom(ld);
			}
			data = grown;
			cap *= 2;
		}
		ssize_t got = read(fd, data + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int saved = errno;
			free(data);
			return yb_fail_errno(ld->err, YB_ERR_CONFIG, saved,
					     "%s: cannot read", ld->path);
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len > CONFIG_MAX_BYTES) {
		free(data);
		return yb_fail(ld->err, YB_ERR_CONFIG,
			       "%s: larger than %d bytes; is this the account file?",
			       ld->path, CONFIG_MAX_BYTES);
	}
	file->data = data;
	file->len = len;
	return YB_OK;
}

static int read_config_file(struct loader *ld, struct file_bytes *file)
{
	/* O_NONBLOCK: a FIFO put in the file's place must not hang us. */
	int fd = open(ld->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return yb_fail_errno(ld->err, YB_ERR_CONFIG, errno,
				     "%s: cannot open", ld->path);
	struct stat st;
	int status = YB_OK;
	if (fstat(fd, &st) != 0)
		status = yb_fail_errno(ld->err, YB_ERR_CONFIG, errno,
				       "%s: cannot stat", ld->path);
	else if (!S_ISREG(st.st_mode))
		status = yb_fail(ld->err, YB_ERR_CONFIG,
				 "%s: not a regular file", ld->path);
	else if (st.st_size > CONFIG_MAX_BYTES)
		status = yb_fail(ld->err, YB_ERR_CONFIG,
				 "%s: larger than %d bytes; is this the account file?",
				 ld->path, CONFIG_MAX_BYTES);
	else {
		file->mode = st.st_mode;
		status = read_all(ld, fd, file);
	}
	close(fd);
	return status;
}

/* ------------------------------------------------------------------ */
/* Paths                                                               */

/* dir + rest, where rest is empty or starts with '/'; malloc'd or NULL. */
static char *join_path(const char *dir, const char *rest)
{
	size_t dlen = strlen(dir);
	while (dlen > 0 && dir[dlen - 1] == '/')
		dlen--; /* "/" + "/x" must not become "//x" */
	if (dlen == 0 && rest[0] == '\0')
		rest = "/";
	size_t rlen = strlen(rest);
	if (dlen > SIZE_MAX - rlen - 1)
		return NULL;
	char *joined = malloc(dlen + rlen + 1);
	if (!joined)
		return NULL;
	memcpy(joined, dir, dlen);
	memcpy(joined + dlen, rest, rlen + 1);
	return joined;
}

/* An XDG base directory variable, if set to an absolute path. */
static const char *xdg_dir(const char *variable)
{
	const char *value = getenv(variable);
	/* The XDG spec says relative values are invalid and to be ignored. */
	return value && value[0] == '/' ? value : NULL;
}

static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	return home && home[0] ? home : NULL;
}

char *config_default_path(struct yb_error *err)
{
	const char *config_home = xdg_dir("XDG_CONFIG_HOME");
	const char *home = home_dir();
	char *path = NULL;
	if (config_home)
		path = join_path(config_home, "/yubin/config.yaml");
	else if (home)
		path = join_path(home, "/.config/yubin/config.yaml");
	else {
		yb_fail(err, YB_ERR_CONFIG,
			"no account file given and neither XDG_CONFIG_HOME nor HOME is set; use -c FILE");
		return NULL;
	}
	if (!path)
		yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	return path;
}

/* ------------------------------------------------------------------ */
/* Typed values                                                        */

/* One key's value, with what messages about it need. */
struct field {
	const struct ynode *node;
	const char *key;    /* "port" */
	const char *scope;  /* "account 'work'", "defaults", "deliver of ..." */
};

static int want_kind(struct loader *ld, const struct field *f,
		     enum ynode_kind kind, const char *expected)
{
	if (ynode_is_null(f->node) && kind != YNODE_SCALAR)
		return fail_at(ld, f->node, "'%s' in %s has no value; expected %s",
			       f->key, f->scope, expected);
	if (f->node->kind != kind)
		return fail_at(ld, f->node, "'%s' in %s must be %s, not %s",
			       f->key, f->scope, expected,
			       ynode_kind_name(f->node));
	if (ynode_is_null(f->node))
		return fail_at(ld, f->node, "'%s' in %s has no value; expected %s",
			       f->key, f->scope, expected);
	return YB_OK;
}

enum string_rules {
	STR_ANY = 0,
	STR_NO_CONTROL = 1, /* no bytes below 0x20 and no DEL */
	STR_NO_SPACE = 2,
};

static bool has_control(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

/* Check a scalar's text against rules; messages never quote it. */
static int check_text(struct loader *ld, const struct ynode *node,
		      const char *what, unsigned rules)
{
	if (node->len == 0)
		return fail_at(ld, node, "%s must not be empty", what);
	if (memchr(node->text, '\0', node->len))
		return fail_at(ld, node, "%s must not contain a NUL byte", what);
	if ((rules & STR_NO_CONTROL) && has_control(node->text, node->len))
		return fail_at(ld, node, "%s must not contain control characters",
			       what);
	if ((rules & STR_NO_SPACE) && memchr(node->text, ' ', node->len))
		return fail_at(ld, node, "%s must not contain spaces", what);
	return YB_OK;
}

static int field_string(struct loader *ld, const struct field *f,
			unsigned rules, char **out)
{
	int status = want_kind(ld, f, YNODE_SCALAR, "a string");
	if (status != YB_OK)
		return status;
	char what[160];
	snprintf(what, sizeof(what), "'%s' in %s", f->key, f->scope);
	status = check_text(ld, f->node, what, rules);
	if (status != YB_OK)
		return status;
	char *copy = strdup(f->node->text);
	if (!copy)
		return fail_oom(ld);
	free(*out); /* a field parsed for defaults and then an account */
	*out = copy;
	return YB_OK;
}

/* "~" and "~/x" become $HOME and $HOME/x; other paths stay as written. */
static int expand_tilde(struct loader *ld, const struct field *f,
			const char *path, char **out)
{
	if (path[0] != '~') {
		*out = strdup(path);
		return *out ? YB_OK : fail_oom(ld);
	}
	if (path[1] != '\0' && path[1] != '/')
		return fail_at(ld, f->node,
			       "'%s' in %s uses ~user, which is not supported; write the full path",
			       f->key, f->scope);
	const char *home = home_dir();
	if (!home)
		return fail_at(ld, f->node,
			       "'%s' in %s starts with ~ but HOME is not set",
			       f->key, f->scope);
	*out = join_path(home, path + 1);
	return *out ? YB_OK : fail_oom(ld);
}

static int field_path(struct loader *ld, const struct field *f, char **out)
{
	char *raw = NULL;
	int status = field_string(ld, f, STR_NO_CONTROL, &raw);
	if (status != YB_OK)
		return status;
	char *expanded = NULL;
	status = expand_tilde(ld, f, raw, &expanded);
	free(raw);
	if (status != YB_OK)
		return status;
	free(*out);
	*out = expanded;
	return YB_OK;
}

static int field_bool(struct loader *ld, const struct field *f, bool *out)
{
	int status = want_kind(ld, f, YNODE_SCALAR, "true or false");
	if (status != YB_OK)
		return status;
	const struct ynode *node = f->node;
	if (scalar_is_ci(node, "true") || scalar_is_ci(node, "yes")) {
		*out = true;
		return YB_OK;
	}
	if (scalar_is_ci(node, "false") || scalar_is_ci(node, "no")) {
		*out = false;
		return YB_OK;
	}
	char buf[SHOWN_MAX];
	return fail_at(ld, node, "'%s' in %s must be true or false, not '%s'",
		       f->key, f->scope, shown(buf, node->text, node->len));
}

static int field_uint(struct loader *ld, const struct field *f,
		      unsigned long long min, unsigned long long max,
		      unsigned long long *out)
{
	char expected[96];
	snprintf(expected, sizeof(expected), "an integer from %llu to %llu",
		 min, max);
	int status = want_kind(ld, f, YNODE_SCALAR, expected);
	if (status != YB_OK)
		return status;
	unsigned long long value;
	if (text_parse_u64(f->node->text, f->node->len, max, &value) &&
	    value >= min) {
		*out = value;
		return YB_OK;
	}
	char buf[SHOWN_MAX];
	return fail_at(ld, f->node, "'%s' in %s must be %s, not '%s'", f->key,
		       f->scope, expected,
		       shown(buf, f->node->text, f->node->len));
}

/* One of a fixed list of words (case-insensitive); *out is its index. */
static int field_choice(struct loader *ld, const struct field *f,
			const char *const words[], size_t count,
			const char *listed, int *out)
{
	int status = want_kind(ld, f, YNODE_SCALAR, listed);
	if (status != YB_OK)
		return status;
	for (size_t i = 0; i < count; i++) {
		if (scalar_is_ci(f->node, words[i])) {
			*out = (int)i;
			return YB_OK;
		}
	}
	char buf[SHOWN_MAX];
	return fail_at(ld, f->node, "'%s' in %s must be %s, not '%s'", f->key,
		       f->scope, listed, shown(buf, f->node->text, f->node->len));
}

/* "1048576", "512k", "10M", "1g": bytes, with 1024-based suffixes. */
static bool parse_size(const char *text, size_t len, uint64_t *out)
{
	uint64_t multiplier = 1;
	if (len > 0) {
		switch (text[len - 1]) {
		case 'k': case 'K': multiplier = 1024; break;
		case 'm': case 'M': multiplier = 1024 * 1024; break;
		case 'g': case 'G': multiplier = 1024 * 1024 * 1024; break;
		default: break;
		}
	}
	size_t digits = multiplier == 1 ? len : len - 1;
	unsigned long long number;
	if (!text_parse_u64(text, digits, UINT64_MAX, &number))
		return false;
	if (number > UINT64_MAX / multiplier)
		return false;
	*out = (uint64_t)number * multiplier;
	return true;
}


/*
 * "sha256:" (the certificate) or "pubkey-sha256:" (its public key) and 32
 * hex bytes, each pair optionally after a colon.
 */
static bool parse_fingerprint(const char *text, struct tls_pin *out)
{
	const char *p;
	if (strncasecmp(text, "sha256:", 7) == 0) {
		out->kind = PIN_CERTIFICATE;
		p = text + 7;
	} else if (strncasecmp(text, "pubkey-sha256:", 14) == 0) {
		out->kind = PIN_PUBLIC_KEY;
		p = text + 14;
	} else {
		return false;
	}
	for (size_t i = 0; i < 32; i++) {
		if (i > 0 && *p == ':')
			p++;
		int high = text_hex_value(p[0]);
		if (high < 0)
			return false;
		int low = text_hex_value(p[1]); /* p[1] is at worst the final NUL */
		if (low < 0)
			return false;
		out->sha256[i] = (unsigned char)(high * 16 + low);
		p += 2;
	}
	return *p == '\0';
}

/* ------------------------------------------------------------------ */
/* Account keys                                                        */

enum account_key {
	AK_NAME,
	AK_PROTOCOL,
	AK_HOST,
	AK_PORT,
	AK_TLS,
	AK_TLS_VERIFY,
	AK_TLS_CA_FILE,
	AK_TLS_FINGERPRINT,
	AK_ALLOW_PLAINTEXT,
	AK_USER,
	AK_AUTH,
	AK_PASSWORD,
	AK_PASSWORD_CMD,
	AK_PASSWORD_ENV,
	AK_PASSWORD_FILE,
	AK_OAUTH2,
	AK_FOLDERS,
	AK_KEEP,
	AK_DELETE_AFTER_DAYS,
	AK_MAX_SIZE,
	AK_DELIVER,
	AK_STATE_DIR,
	AK_TIMEOUT,
	AK_PIPELINING,
	AK_LAYOUT,
	AK_INBOX,
	AK_SYNC_FLAGS,
	AK_EXPUNGE,
	AK_TLS_MIN_VERSION,
	AK_TLS_SERVER_NAME,
	AK_TLS_CERT_FILE,
	AK_TLS_KEY_FILE,
	AK_POLL_INTERVAL,
	AK_PUSH_DELETIONS,
	AK_COUNT
};

typedef int (*key_parser)(struct loader *ld, const struct field *f,
			  struct account *account);

struct account_key_spec {
	const char *name;
	key_parser parse;
};

/* Where each of an account's keys comes from: the account or defaults. */
struct resolved {
	const struct ynode *node[AK_COUNT];
	const char *scope[AK_COUNT];
};

static bool is_password_key(enum account_key key)
{
	return key >= AK_PASSWORD && key <= AK_PASSWORD_FILE;
}

static bool valid_account_name(const char *name, size_t len)
{
	/* The name is a directory under state_dir: "." and ".." escape it. */
	return text_is_segment_name(name, len, ACCOUNT_NAME_MAX);
}

static int parse_name(struct loader *ld, const struct field *f,
		      struct account *a)
{
	int status = want_kind(ld, f, YNODE_SCALAR, "a string");
	if (status != YB_OK)
		return status;
	if (!valid_account_name(f->node->text, f->node->len)) {
		char buf[SHOWN_MAX];
		return fail_at(ld, f->node,
			       "'name' in %s must be 1 to %d of A-Z a-z 0-9 . _ - (not '.' or '..'), not '%s'",
			       f->scope, ACCOUNT_NAME_MAX,
			       shown(buf, f->node->text, f->node->len));
	}
	return field_string(ld, f, STR_NO_CONTROL, &a->name);
}

static int parse_protocol(struct loader *ld, const struct field *f,
			  struct account *a)
{
	static const char *const words[] = { "imap", "pop3" };
	static const enum protocol values[] = { PROTOCOL_IMAP, PROTOCOL_POP3 };
	int index;
	int status = field_choice(ld, f, words, 2, "imap or pop3", &index);
	if (status == YB_OK)
		a->protocol = values[index];
	return status;
}

static int parse_host(struct loader *ld, const struct field *f,
		      struct account *a)
{
	return field_string(ld, f, STR_NO_CONTROL | STR_NO_SPACE, &a->host);
}

static int parse_port(struct loader *ld, const struct field *f,
		      struct account *a)
{
	unsigned long long port;
	int status = field_uint(ld, f, 1, 65535, &port);
	if (status == YB_OK)
		a->port = (uint16_t)port;
	return status;
}

static int parse_tls(struct loader *ld, const struct field *f,
		     struct account *a)
{
	static const char *const words[] = { "implicit", "starttls", "none" };
	static const enum tls_mode values[] = { TLS_IMPLICIT, TLS_STARTTLS,
						TLS_NONE };
	int index;
	int status = field_choice(ld, f, words, 3, "implicit, starttls or none",
				  &index);
	if (status == YB_OK)
		a->tls = values[index];
	return status;
}

static int parse_tls_verify(struct loader *ld, const struct field *f,
			    struct account *a)
{
	return field_bool(ld, f, &a->tls_verify);
}

static int parse_tls_ca_file(struct loader *ld, const struct field *f,
			     struct account *a)
{
	return field_path(ld, f, &a->tls_ca_file);
}

static int parse_one_pin(struct loader *ld, const struct field *f,
			 const struct ynode *node, struct tls_pin *out)
{
	int status = node->kind == YNODE_SCALAR
			     ? YB_OK
			     : fail_at(ld, node, "'tls_fingerprint' in %s must be "
				       "a string or a sequence of strings",
				       f->scope);
	if (status == YB_OK && (node->len != strlen(node->text) ||
				!parse_fingerprint(node->text, out)))
		status = fail_at(ld, node,
				 "'tls_fingerprint' in %s must be \"sha256:\" (the certificate) or \"pubkey-sha256:\" (its public key) and 32 hex bytes (colons optional)",
				 f->scope);
	return status;
}

/* One pin, or a list of them (old and new key during a rollover). */
static int parse_tls_fingerprint(struct loader *ld, const struct field *f,
				 struct account *a)
{
	if (f->node->kind != YNODE_SEQUENCE) {
		a->tls_pin_count = 0;
		int status = parse_one_pin(ld, f, f->node, &a->tls_pins[0]);
		if (status == YB_OK)
			a->tls_pin_count = 1;
		return status;
	}
	if (f->node->count == 0 || f->node->count > TLS_PINS_MAX)
		return fail_at(ld, f->node, "'tls_fingerprint' in %s must hold "
			       "1 to %d fingerprints", f->scope, TLS_PINS_MAX);
	a->tls_pin_count = 0;
	for (size_t i = 0; i < f->node->count; i++) {
		int status = parse_one_pin(ld, f, f->node->items[i],
					   &a->tls_pins[i]);
		if (status != YB_OK)
			return status;
	}
	a->tls_pin_count = f->node->count;
	return YB_OK;
}

static int parse_tls_server_name(struct loader *ld, const struct field *f,
				 struct account *a)
{
	free(a->tls_server_name);
	a->tls_server_name = NULL;
	return field_string(ld, f, STR_NO_CONTROL | STR_NO_SPACE,
			    &a->tls_server_name);
}

static int parse_tls_cert_file(struct loader *ld, const struct field *f,
			       struct account *a)
{
	return field_path(ld, f, &a->tls_cert_file);
}

static int parse_tls_key_file(struct loader *ld, const struct field *f,
			      struct account *a)
{
	return field_path(ld, f, &a->tls_key_file);
}

static int parse_allow_plaintext(struct loader *ld, const struct field *f,
				 struct account *a)
{
	return field_bool(ld, f, &a->allow_plaintext);
}

static int parse_user(struct loader *ld, const struct field *f,
		      struct account *a)
{
	/* Control characters would let a user name inject protocol lines. */
	return field_string(ld, f, STR_NO_CONTROL, &a->user);
}

static int parse_auth(struct loader *ld, const struct field *f,
		      struct account *a)
{
	static const char *const words[] = { "auto", "plain", "login",
					     "cram-md5", "xoauth2",
					     "oauthbearer", "apop", "user",
					     "external" };
	static const enum auth_mech values[] = {
		AUTH_AUTO, AUTH_PLAIN, AUTH_LOGIN, AUTH_CRAM_MD5,
		AUTH_XOAUTH2, AUTH_OAUTHBEARER, AUTH_APOP, AUTH_USER,
		AUTH_EXTERNAL,
	};
	int index;
	int status = field_choice(ld, f, words, 9,
				  "auto, plain, login, cram-md5, xoauth2, oauthbearer, apop, user or external",
				  &index);
	if (status == YB_OK)
		a->auth = values[index];
	return status;
}

static int parse_password(struct loader *ld, const struct field *f,
			  struct account *a)
{
	/* No control characters: a CR or LF would inject protocol lines. */
	int status = field_string(ld, f, STR_NO_CONTROL, &a->password);
	if (status == YB_OK)
		a->password_source = PASSWORD_VALUE;
	return status;
}

static int parse_password_cmd(struct loader *ld, const struct field *f,
			      struct account *a)
{
	int status = field_string(ld, f, STR_ANY, &a->password);
	if (status == YB_OK)
		a->password_source = PASSWORD_CMD;
	return status;
}

static bool valid_env_name(const char *name, size_t len)
{
	if (len == 0 || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '_';
		if (!ok)
			return false;
	}
	return true;
}

static int parse_password_env(struct loader *ld, const struct field *f,
			      struct account *a)
{
	int status = want_kind(ld, f, YNODE_SCALAR, "a string");
	if (status != YB_OK)
		return status;
	if (!valid_env_name(f->node->text, f->node->len)) {
		char buf[SHOWN_MAX];
		return fail_at(ld, f->node,
			       "'password_env' in %s must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*), not '%s'",
			       f->scope, shown(buf, f->node->text, f->node->len));
	}
	status = field_string(ld, f, STR_NO_CONTROL, &a->password);
	if (status == YB_OK)
		a->password_source = PASSWORD_ENV;
	return status;
}

static int parse_password_file(struct loader *ld, const struct field *f,
			       struct account *a)
{
	int status = field_path(ld, f, &a->password);
	if (status == YB_OK)
		a->password_source = PASSWORD_FILE;
	return status;
}

/* Report the first key of map not in names[]. */
static int check_known_keys(struct loader *ld, const struct ynode *map,
			    const char *const names[], size_t count,
			    const char *scope)
{
	for (size_t i = 0; i < map_size(map); i++) {
		const struct ynode *key = map_key(map, i);
		bool known = false;
		for (size_t j = 0; j < count && !known; j++)
			known = scalar_is(key, names[j]);
		if (!known) {
			char buf[SHOWN_MAX], hint[SHOWN_MAX];
			return fail_at(ld, key, "unknown key '%s' in %s%s",
				       shown(buf, key->text, key->len), scope,
				       did_you_mean(hint, sizeof(hint), key,
						    names, count));
		}
	}
	return YB_OK;
}

/* Report a second key of map from a group that allows only one. */
static int check_at_most_one(struct loader *ld, const struct ynode *map,
			     const char *const names[], size_t count,
			     const char *what, const char *scope)
{
	const struct ynode *first = NULL;
	for (size_t i = 0; i < map_size(map); i++) {
		const struct ynode *key = map_key(map, i);
		for (size_t j = 0; j < count; j++) {
			if (!scalar_is(key, names[j]))
				continue;
			if (first)
				return fail_at(ld, key,
					       "two %s in %s: '%s' and '%s'; keep only one",
					       what, scope, first->text, key->text);
			first = key;
		}
	}
	return YB_OK;
}

/* The field for key in a nested mapping (deliver, oauth2), if present. */
static bool sub_field(const struct ynode *map, const char *key,
		      const char *scope, struct field *out)
{
	out->node = map_get(map, key);
	out->key = key;
	out->scope = scope;
	return out->node != NULL;
}

/*
 * The oauth2: keys.  Each is a string stored at offset in struct
 * oauth2_settings; kind says which checks it gets.
 */
enum oauth2_key_kind {
	O2_WORD,   /* provider, tenant: checked against a list or charset */
	O2_URL,    /* https:// only, no spaces */
	O2_TEXT,   /* client_id, scope: no control characters */
	O2_SECRET, /* client_secret: the secret itself */
	O2_CMD,    /* a shell command */
	O2_PATH,   /* ~ expanded */
};

struct oauth2_key {
	const char *name;
	enum oauth2_key_kind kind;
	size_t offset;
};

#define O2_AT(member) offsetof(struct oauth2_settings, member)

static const struct oauth2_key oauth2_keys[] = {
	{ "provider", O2_WORD, O2_AT(provider) },
	{ "tenant", O2_WORD, O2_AT(tenant) },
	{ "token_url", O2_URL, O2_AT(token_url) },
	{ "auth_url", O2_URL, O2_AT(auth_url) },
	{ "device_auth_url", O2_URL, O2_AT(device_auth_url) },
	{ "scope", O2_TEXT, O2_AT(scope) },
	{ "client_id", O2_TEXT, O2_AT(client_id) },
	{ "client_secret", O2_SECRET, O2_AT(client_secret) },
	{ "client_secret_cmd", O2_CMD, O2_AT(client_secret_cmd) },
	{ "refresh_token_cmd", O2_CMD, O2_AT(refresh_token_cmd) },
	{ "refresh_token_file", O2_PATH, O2_AT(refresh_token_file) },
	{ "ca_file", O2_PATH, O2_AT(ca_file) },
};

#define O2_KEY_COUNT (sizeof(oauth2_keys) / sizeof(oauth2_keys[0]))

static char **oauth2_slot(struct oauth2_settings *oauth2,
			  const struct oauth2_key *key)
{
	return (char **)(void *)((char *)oauth2 + key->offset);
}

static int parse_oauth2_key(struct loader *ld, const struct field *f,
			    const struct oauth2_key *key,
			    struct oauth2_settings *oauth2)
{
	char **slot = oauth2_slot(oauth2, key);
	switch (key->kind) {
	case O2_WORD:
	case O2_URL:
		return field_string(ld, f, STR_NO_CONTROL | STR_NO_SPACE, slot);
	case O2_TEXT:
	case O2_SECRET:
		return field_string(ld, f, STR_NO_CONTROL, slot);
	case O2_CMD:
		return field_string(ld, f, STR_ANY, slot);
	case O2_PATH:
		return field_path(ld, f, slot);
	}
	return fail_at(ld, f->node, "'%s' in %s: unknown kind", f->key,
		       f->scope);
}

/* provider: is one we know; its canonical (lower-case) name is kept. */
static int check_oauth2_provider(struct loader *ld, const struct ynode *map,
				 const char *scope,
				 struct oauth2_settings *oauth2,
				 const struct oauth2_preset **preset)
{
	*preset = NULL;
	if (!oauth2->provider)
		return YB_OK;
	*preset = oauth2_preset_find(oauth2->provider);
	if (!*preset) {
		char buf[SHOWN_MAX];
		const char *name = oauth2->provider;
		return fail_at(ld, map_get(map, "provider"),
			       "'provider' in %s must be %s, not '%s'", scope,
			       oauth2_preset_names(),
			       shown(buf, name, strlen(name)));
	}
	char *canonical = strdup((*preset)->name);
	if (!canonical)
		return fail_oom(ld);
	free(oauth2->provider);
	oauth2->provider = canonical;
	return YB_OK;
}

static int check_oauth2_tenant(struct loader *ld, const struct ynode *map,
			       const char *scope,
			       const struct oauth2_preset *preset,
			       struct oauth2_settings *oauth2)
{
	const struct ynode *node = map_get(map, "tenant");
	if (node && (!preset || !preset->has_tenant))
		return fail_at(ld, node,
			       "'tenant' in %s is for 'provider: microsoft' only",
			       scope);
	if (node && !oauth2_preset_valid_tenant(oauth2->tenant))
		return fail_at(ld, node,
			       "'tenant' in %s must be 1 to 64 of A-Z a-z 0-9 . _ - (a tenant name or ID)",
			       scope);
	if (!node && preset && preset->default_tenant) {
		oauth2->tenant = strdup(preset->default_tenant);
		if (!oauth2->tenant)
			return fail_oom(ld);
	}
	return YB_OK;
}

/* Keys the file left out come from the preset; explicit ones win. */
static int fill_oauth2_preset(struct loader *ld,
			      const struct oauth2_preset *preset,
			      struct oauth2_settings *oauth2)
{
	const char *templates[] = { preset->token_url, preset->auth_url,
				    preset->device_auth_url, preset->scope };
	char **slots[] = { &oauth2->token_url, &oauth2->auth_url,
			   &oauth2->device_auth_url, &oauth2->scope };
	for (size_t i = 0; i < 4; i++) {
		if (*slots[i] || !templates[i])
			continue;
		*slots[i] = oauth2_preset_url(templates[i], oauth2->tenant);
		if (!*slots[i])
			return fail_oom(ld);
	}
	return YB_OK;
}

static int check_oauth2_urls(struct loader *ld, const struct ynode *map,
			     const char *scope, struct oauth2_settings *oauth2)
{
	for (size_t i = 0; i < O2_KEY_COUNT; i++) {
		const struct oauth2_key *key = &oauth2_keys[i];
		const char *url = *oauth2_slot(oauth2, key);
		if (key->kind != O2_URL || !url)
			continue;
		/* The endpoints see client secrets and tokens. */
		if (strncasecmp(url, "https://", 8) != 0 || url[8] == '\0')
			return fail_at(ld, map_get(map, key->name),
				       "'%s' in %s must start with https://",
				       key->name, scope);
	}
	return YB_OK;
}

static int check_oauth2_required(struct loader *ld, const struct ynode *map,
				 const char *scope,
				 const struct oauth2_settings *oauth2)
{
	if (!oauth2->token_url)
		return fail_at(ld, map,
			       "missing required key 'token_url' in %s (or set 'provider')",
			       scope);
	if (!oauth2->client_id)
		return fail_at(ld, map, "missing required key 'client_id' in %s",
			       scope);
	return YB_OK;
}

static int check_oauth2_groups(struct loader *ld, const struct ynode *map,
			       const char *scope)
{
	static const char *const secrets[] = { "client_secret",
					       "client_secret_cmd" };
	static const char *const refresh[] = { "refresh_token_cmd",
					       "refresh_token_file" };
	int status = check_at_most_one(ld, map, secrets, 2,
				       "client secret sources", scope);
	if (status == YB_OK)
		status = check_at_most_one(ld, map, refresh, 2,
					   "refresh token sources", scope);
	return status;
}

static int parse_oauth2_value(struct loader *ld, const struct field *f,
			      struct oauth2_settings *oauth2)
{
	const char *names[O2_KEY_COUNT];
	for (size_t i = 0; i < O2_KEY_COUNT; i++)
		names[i] = oauth2_keys[i].name;
	char scope[160];
	snprintf(scope, sizeof(scope), "oauth2 of %s", f->scope);
	int status = check_known_keys(ld, f->node, names, O2_KEY_COUNT, scope);
	if (status == YB_OK)
		status = check_oauth2_groups(ld, f->node, scope);
	for (size_t i = 0; i < O2_KEY_COUNT && status == YB_OK; i++) {
		struct field sub;
		if (sub_field(f->node, names[i], scope, &sub))
			status = parse_oauth2_key(ld, &sub, &oauth2_keys[i],
						  oauth2);
	}
	/* Explicit URLs are checked before the preset fills the rest. */
	if (status == YB_OK)
		status = check_oauth2_urls(ld, f->node, scope, oauth2);
	const struct oauth2_preset *preset = NULL;
	if (status == YB_OK)
		status = check_oauth2_provider(ld, f->node, scope, oauth2,
					       &preset);
	if (status == YB_OK)
		status = check_oauth2_tenant(ld, f->node, scope, preset, oauth2);
	if (status == YB_OK && preset)
		status = fill_oauth2_preset(ld, preset, oauth2);
	if (status == YB_OK)
		status = check_oauth2_required(ld, f->node, scope, oauth2);
	oauth2->refresh_source = oauth2->refresh_token_cmd ? OAUTH2_REFRESH_CMD :
				 oauth2->refresh_token_file ? OAUTH2_REFRESH_FILE :
				 OAUTH2_REFRESH_CACHE;
	return status;
}

static void oauth2_free(struct oauth2_settings *oauth2)
{
	if (oauth2->client_secret)
		OPENSSL_cleanse(oauth2->client_secret,
				strlen(oauth2->client_secret));
	for (size_t i = 0; i < O2_KEY_COUNT; i++)
		free(*oauth2_slot(oauth2, &oauth2_keys[i]));
	memset(oauth2, 0, sizeof(*oauth2));
}

static int parse_oauth2(struct loader *ld, const struct field *f,
			struct account *a)
{
	int status = want_kind(ld, f, YNODE_MAPPING, "a mapping");
	if (status != YB_OK)
		return status;
	oauth2_free(&a->oauth2);
	status = parse_oauth2_value(ld, f, &a->oauth2);
	if (status == YB_OK)
		a->has_oauth2 = true;
	return status;
}

static void folders_free(struct account *a)
{
	for (size_t i = 0; i < a->folder_count; i++)
		free(a->folders[i]);
	free(a->folders);
	a->folders = NULL;
	a->folder_count = 0;
}

static int parse_folder_item(struct loader *ld, const struct field *f,
			     const struct ynode *item, char **out)
{
	char what[160];
	snprintf(what, sizeof(what), "entries of '%s' in %s", f->key,
		 f->scope);
	if (item->kind != YNODE_SCALAR)
		return fail_at(ld, item, "%s must be strings, not %s", what,
			       ynode_kind_name(item));
	/* Control characters in a folder name would inject IMAP lines. */
	int status = check_text(ld, item, what, STR_NO_CONTROL);
	if (status != YB_OK)
		return status;
	*out = strdup(item->text);
	return *out ? YB_OK : fail_oom(ld);
}

static int parse_folders(struct loader *ld, const struct field *f,
			 struct account *a)
{
	int status = want_kind(ld, f, YNODE_SEQUENCE,
			       "a sequence of folder names");
	if (status != YB_OK)
		return status;
	if (f->node->count == 0)
		return fail_at(ld, f->node,
			       "'folders' in %s must name at least one folder",
			       f->scope);
	folders_free(a);
	a->folders = calloc(f->node->count, sizeof(*a->folders));
	if (!a->folders)
		return fail_oom(ld);
	for (size_t i = 0; i < f->node->count; i++) {
		status = parse_folder_item(ld, f, f->node->items[i],
					   &a->folders[i]);
		if (status != YB_OK)
			return status;
		a->folder_count++;
	}
	return YB_OK;
}

static int parse_keep(struct loader *ld, const struct field *f,
		      struct account *a)
{
	return field_bool(ld, f, &a->keep);
}

static int parse_delete_after_days(struct loader *ld, const struct field *f,
				   struct account *a)
{
	unsigned long long days;
	int status = field_uint(ld, f, 0, DELETE_AFTER_DAYS_MAX, &days);
	if (status == YB_OK)
		a->delete_after_days = (unsigned)days;
	return status;
}

static int parse_max_size(struct loader *ld, const struct field *f,
			  struct account *a)
{
	const char *expected =
		"a number of bytes with an optional k, m or g suffix";
	int status = want_kind(ld, f, YNODE_SCALAR, expected);
	if (status != YB_OK)
		return status;
	if (!parse_size(f->node->text, f->node->len, &a->max_size)) {
		char buf[SHOWN_MAX];
		return fail_at(ld, f->node, "'max_size' in %s must be %s, not '%s'",
			       f->scope, expected,
			       shown(buf, f->node->text, f->node->len));
	}
	return YB_OK;
}

static int parse_deliver(struct loader *ld, const struct field *f,
			 struct account *a)
{
	static const char *const keys[] = { "maildir", "mbox", "mda" };
	static const enum deliver_kind kinds[] = { DELIVER_MAILDIR,
						   DELIVER_MBOX, DELIVER_MDA };
	int status = want_kind(ld, f, YNODE_MAPPING, "a mapping");
	if (status != YB_OK)
		return status;
	char scope[160];
	snprintf(scope, sizeof(scope), "deliver of %s", f->scope);
	status = check_known_keys(ld, f->node, keys, 3, scope);
	if (status == YB_OK)
		status = check_at_most_one(ld, f->node, keys, 3,
					   "delivery targets", scope);
	if (status != YB_OK)
		return status;
	for (size_t i = 0; i < 3; i++) {
		struct field sub;
		if (!sub_field(f->node, keys[i], scope, &sub))
			continue;
		a->deliver = kinds[i];
		if (kinds[i] == DELIVER_MDA)
			return field_string(ld, &sub, STR_ANY,
					    &a->deliver_target);
		return field_path(ld, &sub, &a->deliver_target);
	}
	return fail_at(ld, f->node, "'deliver' in %s needs one of maildir, mbox or mda",
		       f->scope);
}

static int parse_state_dir(struct loader *ld, const struct field *f,
			   struct account *a)
{
	return field_path(ld, f, &a->state_dir);
}

static int parse_timeout(struct loader *ld, const struct field *f,
			 struct account *a)
{
	unsigned long long seconds;
	int status = field_uint(ld, f, 1, TIMEOUT_MAX, &seconds);
	if (status == YB_OK)
		a->timeout = (unsigned)seconds;
	return status;
}

static int parse_poll_interval(struct loader *ld, const struct field *f,
			       struct account *a)
{
	unsigned long long seconds;
	int status = field_uint(ld, f, POLL_INTERVAL_MIN, POLL_INTERVAL_MAX,
				&seconds);
	if (status == YB_OK)
		a->poll_interval = (unsigned)seconds;
	return status;
}

static int parse_pipelining(struct loader *ld, const struct field *f,
			    struct account *a)
{
	return field_bool(ld, f, &a->pipelining);
}

const char *auth_mech_name(enum auth_mech mech)
{
	switch (mech) {
	case AUTH_AUTO:        return "auto";
	case AUTH_PLAIN:       return "plain";
	case AUTH_LOGIN:       return "login";
	case AUTH_CRAM_MD5:    return "cram-md5";
	case AUTH_XOAUTH2:     return "xoauth2";
	case AUTH_OAUTHBEARER: return "oauthbearer";
	case AUTH_APOP:        return "apop";
	case AUTH_USER:        return "user";
	case AUTH_EXTERNAL:    return "external";
	}
	return "unknown";
}

static int parse_layout(struct loader *ld, const struct field *f,
			struct account *a)
{
	static const char *const words[] = { "verbatim", "maildir++" };
	static const enum maildir_layout values[] = { LAYOUT_VERBATIM,
						      LAYOUT_MAILDIRPP };
	int index;
	int status = field_choice(ld, f, words, 2, "verbatim or maildir++", &index);
	if (status == YB_OK)
		a->layout = values[index];
	return status;
}

static int parse_inbox(struct loader *ld, const struct field *f,
		       struct account *a)
{
	static const char *const words[] = { "root", "folder" };
	int index;
	int status = field_choice(ld, f, words, 2, "root or folder", &index);
	if (status == YB_OK)
		a->inbox_at_root = index == 0;
	return status;
}

static int parse_sync_flags(struct loader *ld, const struct field *f,
			    struct account *a)
{
	static const char *const words[] = { "auto", "full", "off", "both" };
	static const enum sync_flags_mode values[] = { SYNC_FLAGS_AUTO,
						       SYNC_FLAGS_FULL,
						       SYNC_FLAGS_OFF,
						       SYNC_FLAGS_BOTH };
	int index;
	int status = field_choice(ld, f, words, 4, "auto, full, off or both",
				  &index);
	if (status == YB_OK)
		a->sync_flags = values[index];
	return status;
}

static int parse_expunge(struct loader *ld, const struct field *f,
			 struct account *a)
{
	static const char *const words[] = { "uid", "all" };
	int index;
	int status = field_choice(ld, f, words, 2, "uid or all", &index);
	if (status == YB_OK)
		a->expunge_all = index == 1;
	return status;
}

static int parse_push_deletions(struct loader *ld, const struct field *f,
				struct account *a)
{
	return field_bool(ld, f, &a->push_deletions);
}

static int parse_tls_min_version(struct loader *ld, const struct field *f,
				 struct account *a)
{
	static const char *const words[] = { "1.2", "1.3" };
	int index;
	int status = field_choice(ld, f, words, 2, "1.2 or 1.3", &index);
	if (status == YB_OK)
		a->tls_min_version = index == 0 ? 12 : 13;
	return status;
}

static const struct account_key_spec account_keys[AK_COUNT] = {
	[AK_NAME] = { "name", parse_name },
	[AK_PROTOCOL] = { "protocol", parse_protocol },
	[AK_HOST] = { "host", parse_host },
	[AK_PORT] = { "port", parse_port },
	[AK_TLS] = { "tls", parse_tls },
	[AK_TLS_VERIFY] = { "tls_verify", parse_tls_verify },
	[AK_TLS_CA_FILE] = { "tls_ca_file", parse_tls_ca_file },
	[AK_TLS_FINGERPRINT] = { "tls_fingerprint", parse_tls_fingerprint },
	[AK_ALLOW_PLAINTEXT] = { "allow_plaintext", parse_allow_plaintext },
	[AK_USER] = { "user", parse_user },
	[AK_AUTH] = { "auth", parse_auth },
	[AK_PASSWORD] = { "password", parse_password },
	[AK_PASSWORD_CMD] = { "password_cmd", parse_password_cmd },
	[AK_PASSWORD_ENV] = { "password_env", parse_password_env },
	[AK_PASSWORD_FILE] = { "password_file", parse_password_file },
	[AK_OAUTH2] = { "oauth2", parse_oauth2 },
	[AK_FOLDERS] = { "folders", parse_folders },
	[AK_KEEP] = { "keep", parse_keep },
	[AK_DELETE_AFTER_DAYS] = { "delete_after_days", parse_delete_after_days },
	[AK_MAX_SIZE] = { "max_size", parse_max_size },
	[AK_DELIVER] = { "deliver", parse_deliver },
	[AK_STATE_DIR] = { "state_dir", parse_state_dir },
	[AK_TIMEOUT] = { "timeout", parse_timeout },
	[AK_PIPELINING] = { "pipelining", parse_pipelining },
	[AK_LAYOUT] = { "layout", parse_layout },
	[AK_INBOX] = { "inbox", parse_inbox },
	[AK_SYNC_FLAGS] = { "sync_flags", parse_sync_flags },
	[AK_EXPUNGE] = { "expunge", parse_expunge },
	[AK_TLS_MIN_VERSION] = { "tls_min_version", parse_tls_min_version },
	[AK_TLS_SERVER_NAME] = { "tls_server_name", parse_tls_server_name },
	[AK_TLS_CERT_FILE] = { "tls_cert_file", parse_tls_cert_file },
	[AK_TLS_KEY_FILE] = { "tls_key_file", parse_tls_key_file },
	[AK_POLL_INTERVAL] = { "poll_interval", parse_poll_interval },
	[AK_PUSH_DELETIONS] = { "push_deletions", parse_push_deletions },
};

/* ------------------------------------------------------------------ */
/* One account                                                         */

static void account_free(struct account *a)
{
	free(a->name);
	free(a->host);
	free(a->tls_ca_file);
	free(a->tls_server_name);
	free(a->tls_cert_file);
	free(a->tls_key_file);
	free(a->user);
	if (a->password) /* may be the secret itself */
		OPENSSL_cleanse(a->password, strlen(a->password));
	free(a->password);
	oauth2_free(&a->oauth2);
	folders_free(a);
	free(a->deliver_target);
	free(a->state_dir);
	memset(a, 0, sizeof(*a));
}

/* Check a mapping that holds account keys: the account or defaults. */
static int check_account_map(struct loader *ld, const struct ynode *map,
			     const char *scope, bool is_defaults)
{
	const char *names[AK_COUNT];
	for (size_t i = 0; i < AK_COUNT; i++)
		names[i] = account_keys[i].name;
	int status = check_known_keys(ld, map, names, AK_COUNT, scope);
	if (status == YB_OK && is_defaults) {
		const struct ynode *name_key = map_get_key(map, "name");
		if (name_key)
			status = fail_at(ld, name_key,
					 "'name' cannot be set in defaults; each account has its own");
	}
	if (status == YB_OK)
		status = check_at_most_one(ld, map, names + AK_PASSWORD, 4,
					   "password sources", scope);
	return status;
}

/*
 * Each key from the account if it sets it, else from defaults.  The
 * password keys go as a group: an account's own password source replaces
 * whichever one defaults has, rather than clashing with it.
 */
static void resolve_keys(const struct ynode *account_map, const char *scope,
			 const struct ynode *defaults, struct resolved *r)
{
	bool own_password = false;
	for (int k = AK_PASSWORD; k <= AK_PASSWORD_FILE; k++)
		if (map_get(account_map, account_keys[k].name))
			own_password = true;
	for (int k = 0; k < AK_COUNT; k++) {
		const char *name = account_keys[k].name;
		const struct ynode *node = map_get(account_map, name);
		bool inherit = is_password_key((enum account_key)k) ?
				       !own_password : !node;
		if (inherit && defaults) {
			node = map_get(defaults, name);
			r->node[k] = node;
			r->scope[k] = "defaults";
		} else {
			r->node[k] = node;
			r->scope[k] = scope;
		}
	}
}

static int parse_resolved(struct loader *ld, const struct resolved *r,
			  struct account *a)
{
	for (int k = 0; k < AK_COUNT; k++) {
		if (k == AK_NAME || !r->node[k])
			continue;
		struct field f = { r->node[k], account_keys[k].name,
				   r->scope[k] };
		int status = account_keys[k].parse(ld, &f, a);
		if (status != YB_OK)
			return status;
	}
	return YB_OK;
}

static void set_unset_defaults(struct account *a)
{
	a->tls = TLS_IMPLICIT;
	a->tls_verify = true;
	a->allow_plaintext = false;
	a->auth = AUTH_AUTO;
	a->password_source = PASSWORD_NONE;
	a->keep = true;
	a->timeout = TIMEOUT_DEFAULT;
	a->poll_interval = POLL_INTERVAL_DEFAULT;
	a->pipelining = true;
	a->layout = LAYOUT_VERBATIM;
	a->inbox_at_root = true;
	a->sync_flags = SYNC_FLAGS_AUTO;
	a->expunge_all = false;
	a->push_deletions = false;
	a->tls_min_version = 12;
}

static uint16_t default_port(enum protocol protocol, enum tls_mode tls)
{
	if (protocol == PROTOCOL_IMAP)
		return tls == TLS_IMPLICIT ? 993 : 143;
	return tls == TLS_IMPLICIT ? 995 : 110;
}

static int check_required(struct loader *ld, const struct ynode *map,
			  const struct resolved *r, const char *scope)
{
	static const enum account_key required[] = { AK_PROTOCOL, AK_HOST,
						     AK_USER, AK_DELIVER };
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!r->node[required[i]])
			return fail_at(ld, map, "missing required key '%s' in %s",
				       account_keys[required[i]].name, scope);
	return YB_OK;
}

static int check_auth(struct loader *ld, const struct resolved *r,
		      const struct account *a, const char *scope)
{
	const struct ynode *auth = r->node[AK_AUTH];
	bool oauth = a->auth == AUTH_XOAUTH2 || a->auth == AUTH_OAUTHBEARER;
	if (oauth && !a->has_oauth2)
		return fail_at(ld, auth,
			       "auth '%s' in %s needs an 'oauth2' mapping",
			       auth->text, scope);
	if (a->auth == AUTH_EXTERNAL && !a->tls_cert_file)
		return fail_at(ld, auth, "auth 'external' in %s needs a client "
			       "certificate ('tls_cert_file')", scope);
	if (a->tls_key_file && !a->tls_cert_file)
		return fail_at(ld, r->node[AK_TLS_KEY_FILE], "'tls_key_file' in "
			       "%s needs 'tls_cert_file'", scope);
	if (a->tls_cert_file && a->tls == TLS_NONE)
		return fail_at(ld, r->node[AK_TLS_CERT_FILE], "'tls_cert_file' "
			       "in %s needs TLS ('tls: none' is set)", scope);
	bool pop3_only = a->auth == AUTH_APOP || a->auth == AUTH_USER;
	if (pop3_only && a->protocol != PROTOCOL_POP3)
		return fail_at(ld, auth, "auth '%s' in %s is for pop3 only",
			       auth->text, scope);
	return YB_OK;
}

/*
 * The client key is a secret, like a password file: ours alone.  Checked
 * here, with the rest of the file, so that a bad key stops the whole run
 * before any account fetches (the TLS layer checks again when it loads
 * the key, and there also whether it matches the certificate).
 */
static int check_client_key(struct loader *ld, const struct resolved *r,
			    const struct account *a, const char *scope)
{
	if (!a->tls_cert_file)
		return YB_OK;
	bool separate = a->tls_key_file != NULL;
	const char *key = separate ? "tls_key_file" : "tls_cert_file";
	const char *path = separate ? a->tls_key_file : a->tls_cert_file;
	const struct ynode *node = r->node[separate ? AK_TLS_KEY_FILE
						    : AK_TLS_CERT_FILE];
	struct stat st;
	if (stat(path, &st) != 0)
		return fail_at(ld, node, "'%s' in %s: cannot read %s: %s", key,
			       scope, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail_at(ld, node, "'%s' in %s: %s is not a regular file",
			       key, scope, path);
	if (st.st_uid != geteuid() || (st.st_mode & (S_IRWXG | S_IRWXO)))
		return fail_at(ld, node, "'%s' in %s: %s holds a private key "
			       "and must be the user's own and unreadable by "
			       "group and others (chmod 600 it)", key, scope,
			       path);
	return YB_OK;
}

static int check_combinations(struct loader *ld, const struct resolved *r,
			      struct account *a, const char *scope)
{
	if (a->tls == TLS_NONE && !a->allow_plaintext)
		return fail_at(ld, r->node[AK_TLS],
			       "'tls: none' in %s needs 'allow_plaintext: true'",
			       scope);
	int status = check_auth(ld, r, a, scope);
	if (status == YB_OK)
		status = check_client_key(ld, r, a, scope);
	if (status != YB_OK)
		return status;
	if (a->protocol == PROTOCOL_POP3 && a->folder_count > 0 &&
	    (a->folder_count != 1 || strcasecmp(a->folders[0], "INBOX") != 0))
		return fail_at(ld, r->node[AK_FOLDERS],
			       "'folders' in %s must be [INBOX] or absent: pop3 has only the INBOX",
			       scope);
	if (a->sync_flags == SYNC_FLAGS_BOTH && a->protocol == PROTOCOL_POP3)
		return fail_at(ld, r->node[AK_SYNC_FLAGS],
			       "'sync_flags: both' in %s needs imap: pop3 has no flags",
			       scope);
	if (a->sync_flags == SYNC_FLAGS_BOTH && a->deliver != DELIVER_MAILDIR)
		return fail_at(ld, r->node[AK_SYNC_FLAGS],
			       "'sync_flags: both' in %s needs 'deliver: maildir': "
			       "an %s keeps no flags per message to push",
			       scope, a->deliver == DELIVER_MBOX ? "mbox" : "MDA");
	if (a->push_deletions && a->sync_flags != SYNC_FLAGS_BOTH)
		return fail_at(ld, r->node[AK_PUSH_DELETIONS],
			       "'push_deletions: true' in %s needs 'sync_flags: both': "
			       "deletions are pushed with the other flags", scope);
	if (!a->keep && a->delete_after_days > 0)
		return fail_at(ld, r->node[AK_DELETE_AFTER_DAYS],
			       "'delete_after_days' in %s conflicts with 'keep: false', which deletes mail as soon as it is delivered",
			       scope);
	return YB_OK;
}

static int default_state_dir(struct loader *ld, const struct ynode *map,
			     const char *scope, char **out)
{
	if (!ld->default_state_dir) {
		const char *state_home = xdg_dir("XDG_STATE_HOME");
		const char *home = home_dir();
		if (state_home)
			ld->default_state_dir = join_path(state_home, "/yubin");
		else if (home)
			ld->default_state_dir =
				join_path(home, "/.local/state/yubin");
		else
			return fail_at(ld, map,
				       "%s has no 'state_dir' and neither XDG_STATE_HOME nor HOME is set",
				       scope);
		if (!ld->default_state_dir)
			return fail_oom(ld);
	}
	*out = strdup(ld->default_state_dir);
	return *out ? YB_OK : fail_oom(ld);
}

static int fill_defaults(struct loader *ld, const struct ynode *map,
			 struct account *a, const char *scope)
{
	if (a->folder_count == 0) {
		a->folders = calloc(1, sizeof(*a->folders));
		if (!a->folders)
			return fail_oom(ld);
		a->folders[0] = strdup("INBOX");
		if (!a->folders[0])
			return fail_oom(ld);
		a->folder_count = 1;
	} else if (a->protocol == PROTOCOL_POP3) {
		char *inbox = strdup("INBOX"); /* "inbox" -> canonical "INBOX" */
		if (!inbox)
			return fail_oom(ld);
		free(a->folders[0]);
		a->folders[0] = inbox;
	}
	if (a->port == 0)
		a->port = default_port(a->protocol, a->tls);
	if (!a->state_dir)
		return default_state_dir(ld, map, scope, &a->state_dir);
	return YB_OK;
}

/* What we need from an account's nodes after it is parsed. */
struct account_origin {
	const struct ynode *name;    /* the name's value node */
	const struct ynode *target;  /* maildir/mbox/mda value node */
};

static int parse_account(struct loader *ld, const struct ynode *map,
			 const struct ynode *defaults, size_t index,
			 struct account *a, struct account_origin *origin)
{
	char scope[96];
	snprintf(scope, sizeof(scope), "account #%zu", index + 1);
	if (map->kind != YNODE_MAPPING)
		return fail_at(ld, map, "%s must be a mapping, not %s", scope,
			       ynode_kind_name(map));
	/* The name first, so every other message can use it. */
	struct field name = { map_get(map, "name"), "name", scope };
	if (!name.node)
		return fail_at(ld, map, "missing required key 'name' in %s",
			       scope);
	int status = parse_name(ld, &name, a);
	if (status != YB_OK)
		return status;
	snprintf(scope, sizeof(scope), "account '%s'", a->name);
	status = check_account_map(ld, map, scope, false);
	if (status != YB_OK)
		return status;
	a->mark.line = map->line;
	a->mark.column = map->column;
	set_unset_defaults(a);

	struct resolved r;
	resolve_keys(map, scope, defaults, &r);
	status = check_required(ld, map, &r, scope);
	if (status == YB_OK)
		status = parse_resolved(ld, &r, a);
	if (status == YB_OK)
		status = check_combinations(ld, &r, a, scope);
	if (status == YB_OK)
		status = fill_defaults(ld, map, a, scope);
	origin->name = name.node;
	const struct ynode *deliver = r.node[AK_DELIVER];
	origin->target = deliver && deliver->kind == YNODE_MAPPING &&
				 map_size(deliver) == 1 ?
			 map_value(deliver, 0) : NULL;
	return status;
}

/* ------------------------------------------------------------------ */
/* Across accounts                                                     */

/* Equal as paths, ignoring repeated and trailing slashes. */
static bool same_path(const char *a, const char *b)
{
	if ((a[0] == '/') != (b[0] == '/'))
		return false;
	for (;;) {
		while (*a == '/')
			a++;
		while (*b == '/')
			b++;
		size_t alen = strcspn(a, "/");
		size_t blen = strcspn(b, "/");
		if (alen != blen || memcmp(a, b, alen) != 0)
			return false;
		if (alen == 0)
			return true;
		a += alen;
		b += blen;
	}
}

static bool has_sink_path(const struct account *a)
{
	return a->deliver == DELIVER_MAILDIR || a->deliver == DELIVER_MBOX;
}

static int check_against_earlier(struct loader *ld,
				 const struct config *config,
				 const struct account_origin *origins,
				 size_t index)
{
	const struct account *a = &config->accounts[index];
	for (size_t i = 0; i < index; i++) {
		const struct account *earlier = &config->accounts[i];
		if (strcmp(a->name, earlier->name) == 0)
			return fail_at(ld, origins[index].name,
				       "duplicate account name '%s' (first defined at line %u)",
				       a->name, origins[i].name->line);
		/* Case-insensitive file systems would share their state. */
		if (strcasecmp(a->name, earlier->name) == 0)
			return fail_at(ld, origins[index].name,
				       "account name '%s' differs from '%s' (line %u) only in case",
				       a->name, earlier->name,
				       origins[i].name->line);
		if (has_sink_path(a) && has_sink_path(earlier) &&
		    same_path(a->deliver_target, earlier->deliver_target)) {
			char buf[SHOWN_MAX];
			const char *path = a->deliver_target;
			return fail_at(ld, origins[index].target,
				       "account '%s' delivers to '%s', as account '%s' (line %u) does; two accounts never share a mailbox",
				       a->name, shown(buf, path, strlen(path)),
				       earlier->name, earlier->mark.line);
		}
	}
	return YB_OK;
}

/* ------------------------------------------------------------------ */
/* The whole file                                                      */

/* Validate defaults on their own, so a bad default is reported even
   when every account overrides it. */
static int check_defaults(struct loader *ld, const struct ynode *defaults)
{
	int status = check_account_map(ld, defaults, "defaults", true);
	if (status != YB_OK)
		return status;
	struct resolved r;
	resolve_keys(defaults, "defaults", NULL, &r);
	struct account scratch = { 0 };
	status = parse_resolved(ld, &r, &scratch);
	account_free(&scratch);
	return status;
}

static int find_defaults(struct loader *ld, const struct ynode *root,
			 const struct ynode **out)
{
	const struct ynode *defaults = map_get(root, "defaults");
	*out = NULL;
	if (!defaults || ynode_is_null(defaults))
		return YB_OK; /* an empty "defaults:" is harmless */
	struct field f = { defaults, "defaults", "the file" };
	int status = want_kind(ld, &f, YNODE_MAPPING, "a mapping");
	if (status == YB_OK)
		status = check_defaults(ld, defaults);
	if (status == YB_OK)
		*out = defaults;
	return status;
}

static int find_accounts(struct loader *ld, const struct ynode *root,
			 const struct ynode **out)
{
	const struct ynode *accounts = map_get(root, "accounts");
	if (!accounts)
		return fail_at(ld, root, "missing required key 'accounts'");
	struct field f = { accounts, "accounts", "the file" };
	int status = want_kind(ld, &f, YNODE_SEQUENCE,
			       "a sequence of accounts");
	if (status != YB_OK)
		return status;
	if (accounts->count == 0)
		return fail_at(ld, accounts,
			       "'accounts' must list at least one account");
	if (accounts->count > CONFIG_MAX_ACCOUNTS)
		return fail_at(ld, accounts->items[CONFIG_MAX_ACCOUNTS],
			       "more than %d accounts", CONFIG_MAX_ACCOUNTS);
	*out = accounts;
	return YB_OK;
}

static int load_accounts(struct loader *ld, const struct ynode *accounts,
			 const struct ynode *defaults, struct config *config)
{
	struct account_origin *origins =
		calloc(accounts->count, sizeof(*origins));
	config->accounts = calloc(accounts->count, sizeof(*config->accounts));
	if (!origins || !config->accounts) {
		free(origins);
		return fail_oom(ld);
	}
	int status = YB_OK;
	for (size_t i = 0; i < accounts->count && status == YB_OK; i++) {
		struct account *a = &config->accounts[i];
		config->account_count++; /* so config_free frees a partial one */
		status = parse_account(ld, accounts->items[i], defaults, i, a,
				       &origins[i]);
		a->mark.file = config->path;
		if (status == YB_OK)
			status = check_against_earlier(ld, config, origins, i);
	}
	free(origins);
	return status;
}

static int load_root(struct loader *ld, const struct ynode *root,
		     struct config *config)
{
	if (!root || ynode_is_null(root))
		return fail_pos(ld, root ? root->line : 1, root ? root->column : 1,
				"the file holds no settings; it needs an 'accounts' list");
	if (root->kind != YNODE_MAPPING)
		return fail_at(ld, root,
			       "the top level must be a mapping with 'accounts', not %s",
			       ynode_kind_name(root));
	static const char *const top_keys[] = { "defaults", "accounts" };
	for (size_t i = 0; i < map_size(root); i++) {
		const struct ynode *key = map_key(root, i);
		if (!scalar_is(key, "defaults") && !scalar_is(key, "accounts")) {
			char buf[SHOWN_MAX], hint[SHOWN_MAX];
			return fail_at(ld, key, "unknown top-level key '%s'%s",
				       shown(buf, key->text, key->len),
				       did_you_mean(hint, sizeof(hint), key,
						    top_keys, 2));
		}
	}
	const struct ynode *defaults = NULL, *accounts = NULL;
	int status = find_defaults(ld, root, &defaults);
	if (status == YB_OK)
		status = find_accounts(ld, root, &accounts);
	if (status == YB_OK)
		status = load_accounts(ld, accounts, defaults, config);
	return status;
}

/*
 * The key of a secret written inline in a mapping of account keys (an
 * account or defaults): password, or an oauth2 key of kind O2_SECRET.
 * NULL when there is none.  Commands, variable names and paths that
 * lead to a secret are not secrets themselves.
 */
static const struct ynode *inline_secret_key(const struct ynode *map)
{
	if (!map || map->kind != YNODE_MAPPING)
		return NULL;
	const struct ynode *key = map_get_key(map, "password");
	if (key)
		return key;
	const struct ynode *oauth2 = map_get(map, "oauth2");
	if (!oauth2 || oauth2->kind != YNODE_MAPPING)
		return NULL;
	for (size_t i = 0; i < O2_KEY_COUNT && !key; i++)
		if (oauth2_keys[i].kind == O2_SECRET)
			key = map_get_key(oauth2, oauth2_keys[i].name);
	return key;
}

/* The first inline secret wherever it can take effect, or NULL. */
static const struct ynode *first_inline_secret(const struct ynode *root)
{
	if (!root || root->kind != YNODE_MAPPING)
		return NULL;
	const struct ynode *key = inline_secret_key(map_get(root, "defaults"));
	const struct ynode *accounts = map_get(root, "accounts");
	if (key || !accounts || accounts->kind != YNODE_SEQUENCE)
		return key;
	for (size_t i = 0; i < accounts->count && !key; i++)
		key = inline_secret_key(accounts->items[i]);
	return key;
}

/* Like fetchmail: a file that others can read must not hold a secret. */
static int check_permissions(struct loader *ld, const struct ynode *root,
			     mode_t mode)
{
	if (!(mode & (S_IRGRP | S_IROTH)))
		return YB_OK;
	const struct ynode *key = first_inline_secret(root);
	if (!key)
		return YB_OK;
	char buf[SHOWN_MAX];
	return fail_at(ld, key, "'%s' holds a secret and the file is readable "
		       "by group or others (mode %04o); run chmod 600 %s",
		       shown(buf, key->text, key->len),
		       (unsigned)(mode & 07777), ld->path);
}

void config_free(struct config *config)
{
	if (!config)
		return;
	for (size_t i = 0; i < config->account_count; i++)
		account_free(&config->accounts[i]);
	free(config->accounts);
	free(config->path);
	memset(config, 0, sizeof(*config));
}

int config_load(const char *path, struct config *out, struct yb_error *err)
{
	memset(out, 0, sizeof(*out));
	yb_error_clear(err);
	struct loader ld = { .path = path, .err = err };
	struct config config = { 0 };
	struct file_bytes file = { 0 };
	struct ynode *root = NULL;

	int status = read_config_file(&ld, &file);
	if (status == YB_OK)
		status = build_tree(&ld, file.data, file.len, &root);
	if (status == YB_OK)
		status = check_permissions(&ld, root, file.mode);
	if (status == YB_OK) {
		config.path = strdup(path);
		status = config.path ? YB_OK : fail_oom(&ld);
	}
	if (status == YB_OK)
		status = load_root(&ld, root, &config);
	/* Its password variables are for yubin only, not for its children. */
	if (status == YB_OK)
		status = secret_withhold_variables(&config, err);

	ynode_free(root);
	if (file.data) /* it may hold a password */
		OPENSSL_cleanse(file.data, file.len);
	free(file.data);
	free(ld.default_state_dir);
	if (status != YB_OK) {
		config_free(&config);
		return status;
	}
	*out = config;
	return YB_OK;
}

const struct account *config_find_account(const struct config *config,
					  const char *name)
{
	for (size_t i = 0; i < config->account_count; i++)
		if (strcmp(config->accounts[i].name, name) == 0)
			return &config->accounts[i];
	return NULL;
}
