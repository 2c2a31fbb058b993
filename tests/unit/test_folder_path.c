/*
 * test_folder_path.c - server folder names to local paths: the three
 * layouts, INBOX, escaping, and hostile names that must never name a
 * path outside the root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "folder_path.h"
#include "text.h"

#define S(literal) literal, sizeof(literal) - 1

static const struct folder_path_opts verbatim_root = { FOLDER_LAYOUT_VERBATIM, true };
static const struct folder_path_opts verbatim_sub = { FOLDER_LAYOUT_VERBATIM, false };
static const struct folder_path_opts maildirpp = { FOLDER_LAYOUT_MAILDIRPP, false };
static const struct folder_path_opts mbox = { FOLDER_LAYOUT_MBOX, false };

static const struct folder_path_opts *all_layouts[] = {
	&verbatim_root, &verbatim_sub, &maildirpp, &mbox,
};

static void map_ok_len(const struct folder_path_opts *opts, const char *name,
		       size_t len, char delimiter, const char *expected)
{
	char out[FOLDER_PATH_MAX + 1];
	size_t out_len = 99999;
	struct yb_error err;
	yb_error_clear(&err);
	int rc = folder_path_map(name, len, delimiter, opts, out, sizeof(out),
				 &out_len, &err);
	if (rc != YB_OK)
		fail_msg("refused: %s", err.msg);
	assert_int_equal(out_len, strlen(out));
	if (expected) {
		assert_string_equal(out, expected);
		assert_int_equal(out_len, strlen(expected));
	}
}

static void map_ok(const struct folder_path_opts *opts, const char *name,
		   char delimiter, const char *expected)
{
	map_ok_len(opts, name, strlen(name), delimiter, expected);
}

static void map_bad_len(const struct folder_path_opts *opts, const char *name,
			size_t len, char delimiter, const char *problem)
{
	char out[FOLDER_PATH_MAX + 1];
	size_t out_len = 99999;
	struct yb_error err;
	yb_error_clear(&err);
	memcpy(out, "junk", 5);
	int rc = folder_path_map(name, len, delimiter, opts, out, sizeof(out),
				 &out_len, &err);
	if (rc == YB_OK)
		fail_msg("accepted as \"%s\"", out);
	assert_int_equal(rc, YB_ERR_PROTOCOL);
	assert_int_equal(err.status, YB_ERR_PROTOCOL);
	assert_string_equal(out, "");
	assert_int_equal(out_len, 0);
	assert_non_null(strstr(err.msg, "folder \""));
	if (!strstr(err.msg, problem))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, problem);
	/* the message is safe to print: no control bytes, no 8-bit */
	for (const char *p = err.msg; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

static void map_bad(const struct folder_path_opts *opts, const char *name,
		    char delimiter, const char *problem)
{
	map_bad_len(opts, name, strlen(name), delimiter, problem);
}

/* Refused in every layout. */
static void bad_everywhere(const char *name, size_t len, char delimiter,
			   const char *problem)
{
	for (size_t i = 0; i < sizeof(all_layouts) / sizeof(all_layouts[0]); i++)
		map_bad_len(all_layouts[i], name, len, delimiter, problem);
}

/* --- verbatim --- */

static void test_verbatim_tree(void **state)
{
	(void)state;
	map_ok(&verbatim_root, "Archive/2024", '/', "Archive/2024");
	map_ok(&verbatim_root, "Archive.2024", '.', "Archive/2024");
	map_ok(&verbatim_root, "Archive", '/', "Archive");
	map_ok(&verbatim_root, "a\\b\\c", '\\', "a/b/c");
	map_ok(&verbatim_root, "Sent Items", '/', "Sent Items");
}

static void test_verbatim_inbox(void **state)
{
	(void)state;
	map_ok(&verbatim_root, "INBOX", '/', "");
	map_ok(&verbatim_root, "inbox", '/', "");
	map_ok(&verbatim_sub, "INBOX", '/', "INBOX");
	map_ok(&verbatim_sub, "InBox", '.', "INBOX");
	map_ok(&verbatim_root, "inbox/Sub", '/', "INBOX/Sub");
	map_ok(&verbatim_sub, "INBOX.Sub", '.', "INBOX/Sub");
	/* only the first component is INBOX */
	map_ok(&verbatim_root, "a/inbox", '/', "a/inbox");
	map_ok(&verbatim_root, "INBOXES", '/', "INBOXES");
}

static void test_verbatim_utf8_names(void **state)
{
	(void)state;
	map_ok(&verbatim_root, "Entw\xc3\xbcrfe", '/', "Entw\xc3\xbcrfe");
	map_ok(&verbatim_root, "\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80", '/',
	       "\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80");
}

static void test_verbatim_odd_but_safe_names(void **state)
{
	(void)state;
	map_ok(&verbatim_root, ".hidden", '/', ".hidden");
	map_ok(&verbatim_root, "...", '/', "...");
	map_ok(&verbatim_root, "~", '/', "~");
	map_ok(&verbatim_root, "a..b", '/', "a..b");
	map_ok(&verbatim_root, " lead and trail ", '/', " lead and trail ");
	map_ok(&verbatim_root, "-rf", '/', "-rf");
	map_ok(&verbatim_root, "New/Cur", '/', "New/Cur");
}

static void test_verbatim_maildir_dirs_escaped(void **state)
{
	(void)state;
	map_ok(&verbatim_root, "cur", '/', "\\63ur");
	map_ok(&verbatim_sub, "Archive/new", '/', "Archive/\\6eew");
	map_ok(&verbatim_root, "tmp.x", '.', "\\74mp/x");
	map_ok(&verbatim_root, "INBOX/tmp", '/', "INBOX/\\74mp");
	map_ok(&verbatim_root, "tmp/new/cur", '/', "\\74mp/\\6eew/\\63ur");
	/* only the exact names: the others keep the paths they had */
	map_ok(&verbatim_root, "tmpx/xcur/New", '/', "tmpx/xcur/New");
	/* the escape's own "\" is escaped where it would read as one */
	map_ok(&verbatim_root, "\\74mp", '/', "\\5c74mp");
	map_ok(&verbatim_root, "\\2E", '/', "\\5c2E");
	map_ok(&verbatim_root, "a\\b", '/', "a\\b");
	map_ok(&verbatim_root, "a\\", '/', "a\\");
	map_ok(&verbatim_root, "\\7", '/', "\\7");
	map_ok(&verbatim_root, "\\\\74", '/', "\\\\5c74");
	/* the other layouts need no escape for them */
	map_ok(&maildirpp, "cur", '/', ".cur");
	map_ok(&mbox, "tmp/new", '/', "tmp.sbd/new");
}

static void test_flat_namespace(void **state)
{
	(void)state;
	map_ok(&verbatim_root, "a.b", '\0', "a.b");
	map_ok(&mbox, "a.b", '\0', "a.b");
	map_ok(&maildirpp, "a.b", '\0', ".a\\2eb");
	bad_everywhere(S("a/b"), '\0', "holds a \"/\"");
}

/* --- maildir++ --- */

static void test_maildirpp_layout(void **state)
{
	(void)state;
	map_ok(&maildirpp, "INBOX", '/', "");
	map_ok(&maildirpp, "inbox", '.', "");
	map_ok(&maildirpp, "Archive", '/', ".Archive");
	map_ok(&maildirpp, "Archive/2024", '/', ".Archive.2024");
	map_ok(&maildirpp, "Archive.2024", '.', ".Archive.2024");
	map_ok(&maildirpp, "INBOX/Sub", '/', ".INBOX.Sub");
	map_ok(&maildirpp, "inbox.Sub", '.', ".INBOX.Sub");
}

static void test_maildirpp_escapes(void **state)
{
	(void)state;
	map_ok(&maildirpp, "a.b", '/', ".a\\2eb");
	map_ok(&maildirpp, "v1.2/x.y", '/', ".v1\\2e2.x\\2ey");
	map_ok(&maildirpp, "a\\b", '/', ".a\\5cb");
	map_ok(&maildirpp, "~x", '/', ".\\7ex");
	map_ok(&maildirpp, "x/~y", '/', ".x.~y");
	map_ok(&maildirpp, "x~", '/', ".x~");
	/* "." and "/" delimiters give the same directory for the same tree */
	map_ok(&maildirpp, "A/B", '/', ".A.B");
	map_ok(&maildirpp, "A.B", '.', ".A.B");
	map_ok(&maildirpp, "A\\B", '\\', ".A.B");
}

static void test_maildirpp_modified_utf7(void **state)
{
	(void)state;
	map_ok(&maildirpp, "Entw\xc3\xbcrfe", '/', ".Entw&APw-rfe");
	map_ok(&maildirpp, "\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	       '/', ".&U,BTFw-.&ZeVnLIqe-");
	map_ok(&maildirpp, "R&D", '/', ".R&-D");
}

static void test_maildirpp_directory_name_length(void **state)
{
	(void)state;
	char name[600], expected[600];
	memset(name, 'a', 254);
	expected[0] = '.';
	memset(expected + 1, 'a', 254);
	expected[255] = '\0';
	map_ok_len(&maildirpp, name, 254, '/', expected);
	/* one byte more and the directory name is too long */
	name[254] = 'a';
	map_bad_len(&maildirpp, name, 255, '/',
		    "Maildir++ directory name would be longer than 255");
	/* escaping counts: "x" and 85 dots become 1 + 1 + 255 bytes */
	memset(name, '.', 86);
	name[0] = 'x';
	map_bad_len(&maildirpp, name, 86, '\0', "longer than 255");
	map_ok_len(&maildirpp, name, 85, '\0', NULL);
}

/* --- mbox --- */

static void test_mbox_layout(void **state)
{
	(void)state;
	map_ok(&mbox, "INBOX", '/', "INBOX");
	map_ok(&mbox, "inbox", '/', "INBOX");
	map_ok(&mbox, "Archive", '/', "Archive");
	map_ok(&mbox, "Archive/2024", '/', "Archive.sbd/2024");
	map_ok(&mbox, "a.b.c", '.', "a.sbd/b.sbd/c");
	map_ok(&mbox, "INBOX/x", '/', "INBOX.sbd/x");
	map_ok(&mbox, "Entw\xc3\xbcrfe", '/', "Entw\xc3\xbcrfe");
}

static void test_mbox_sink_names_escaped(void **state)
{
	(void)state;
	/* a folder's children's directory */
	map_ok(&mbox, "x.sbd", '/', "x\\2esbd");
	map_ok(&mbox, "X.SBD/y", '/', "X\\2eSBD.sbd/y");
	map_ok(&mbox, "a/b.Sbd", '/', "a.sbd/b\\2eSbd");
	map_ok(&mbox, ".sbd", '/', "\\2esbd");
	/* a folder's dotlock */
	map_ok(&mbox, "A.lock", '/', "A\\2elock");
	map_ok(&mbox, "INBOX.lock", '/', "INBOX\\2elock");
	map_ok(&mbox, "X/Y.lock", '/', "X.sbd/Y\\2elock");
	map_ok(&mbox, "X.lock/Y", '/', "X\\2elock.sbd/Y");
	map_ok(&mbox, "a.LOCK", '/', "a\\2eLOCK");
	map_ok(&mbox, ".lock", '/', "\\2elock");
	/* the sink's temporary files */
	map_ok(&mbox, ".yubin-spool.abc", '/', "\\2eyubin-spool.abc");
	map_ok(&mbox, ".YUBIN-dotlock.1.2.3", '/', "\\2eYUBIN-dotlock.1.2.3");
	map_ok(&mbox, ".yubin-x.lock", '/', "\\2eyubin-x\\2elock");
	/* and the escape's own "\" */
	map_ok(&mbox, "A\\2elock", '/', "A\\5c2elock");
	map_ok(&mbox, "A\\.lock", '/', "A\\\\2elock");
	/* names that collide with nothing keep their paths */
	map_ok(&mbox, "x.sbdx", '/', "x.sbdx");
	map_ok(&mbox, "lock", '/', "lock");
	map_ok(&mbox, "x.locks", '/', "x.locks");
	map_ok(&mbox, "Alock", '/', "Alock");
	map_ok(&mbox, ".yubin", '/', ".yubin");
	map_ok(&mbox, "a.b.lock", '.', "a.sbd/b.sbd/lock");
	/* the Maildir layouts have no such files */
	map_ok(&verbatim_root, "x.sbd", '/', "x.sbd");
	map_ok(&verbatim_root, "A.lock", '/', "A.lock");
}

static void test_mbox_dotlock_name_fits(void **state)
{
	(void)state;
	char name[300];
	/* 250 + ".lock" is 255: fits */
	memset(name, 'm', 251);
	map_ok_len(&mbox, name, 250, '/', NULL);
	map_bad_len(&mbox, name, 251, '/', "plus \".lock\" is longer than 255");
	/* escaping counts: 246 + "\2elock" is 252, plus ".lock" 257 */
	memcpy(name + 246, ".lock", 5);
	map_bad_len(&mbox, name, 251, '/', "plus \".lock\"");
	map_ok_len(&verbatim_root, name, 251, '/', NULL);
}

/* --- hostile names --- */

static void test_dot_dot_escapes(void **state)
{
	(void)state;
	bad_everywhere(S("../../etc"), '/', "component \"..\" could leave");
	bad_everywhere(S("a/../../b"), '/', "component \"..\"");
	bad_everywhere(S("INBOX/../x"), '/', "component \"..\"");
	bad_everywhere(S(".."), '/', "component \"..\"");
	bad_everywhere(S("."), '/', "component \".\"");
	bad_everywhere(S("a/./b"), '/', "component \".\"");
	bad_everywhere(S(".."), '\0', "component \"..\"");
	bad_everywhere(S("..\\x"), '\\', "component \"..\"");
}

static void test_absolute_and_empty_components(void **state)
{
	(void)state;
	bad_everywhere(S("/etc/passwd"), '/', "empty component 1");
	bad_everywhere(S("/"), '/', "empty component 1");
	bad_everywhere(S("a//b"), '/', "empty component 2");
	bad_everywhere(S("a/"), '/', "empty component 2");
	bad_everywhere(S(""), '/', "empty name");
	bad_everywhere(S(".hidden"), '.', "empty component 1");
	bad_everywhere(S("a..b"), '.', "empty component 2");
	bad_everywhere(S("../x"), '.', "empty component 1");
}

static void test_slash_inside_component(void **state)
{
	(void)state;
	bad_everywhere(S("Archive/2024"), '.', "component 1 holds a \"/\"");
	bad_everywhere(S("a.b/c"), '.', "component 2 holds a \"/\"");
	bad_everywhere(S("a\\/etc"), '\\', "component 2 holds a \"/\"");
	bad_everywhere(S("C:/x"), '\\', "holds a \"/\"");
}

static void test_terminal_escapes_and_controls(void **state)
{
	(void)state;
	bad_everywhere(S("\x1b]0;pwned\x07"), '/', "control character U+001B at byte 0");
	bad_everywhere(S("ok\x1b[2J"), '/', "control character U+001B at byte 2");
	bad_everywhere(S("a\nb"), '/', "control character U+000A");
	bad_everywhere(S("a\rb"), '/', "control character U+000D");
	bad_everywhere(S("a\tb"), '/', "control character U+0009");
	bad_everywhere(S("a\x7f"), '/', "control character U+007F");
	bad_everywhere(S("a\xc2\x9b" "31m"), '/', "control character U+009B");
	bad_everywhere(S("\xc2\x85"), '/', "control character U+0085");
	bad_everywhere(S("a\0b"), '/', "control character U+0000 at byte 1");
	/* the message shows the name escaped */
	char out[FOLDER_PATH_MAX + 1];
	size_t out_len;
	struct yb_error err;
	assert_int_equal(folder_path_map(S("x\x1b[2Jy"), '/', &verbatim_root, out,
					 sizeof(out), &out_len, &err),
			 YB_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "folder \"x\\x1b[2Jy\" refused"));
	assert_null(strchr(err.msg, '\x1b'));
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	bad_everywhere(S("\xff"), '/', "invalid UTF-8 at byte 0");
	bad_everywhere(S("a\xc0\xaf"), '/', "invalid UTF-8 at byte 1"); /* overlong / */
	bad_everywhere(S("\xe0\x80\xaf"), '/', "invalid UTF-8");
	bad_everywhere(S("\xed\xa0\x80"), '/', "invalid UTF-8");       /* surrogate */
	bad_everywhere(S("\xf4\x90\x80\x80"), '/', "invalid UTF-8");
	bad_everywhere(S("ab\xe6\x97"), '/', "invalid UTF-8 at byte 2");
	bad_everywhere(S("\x80"), '/', "invalid UTF-8");
	/* modified UTF-7 that was not decoded is plain ASCII and allowed */
	map_ok(&verbatim_root, "&AOk-", '/', "&AOk-");
}

static void test_bad_delimiters(void **state)
{
	(void)state;
	bad_everywhere(S("a"), '\x01', "hierarchy delimiter 0x01");
	bad_everywhere(S("a"), ' ', "hierarchy delimiter 0x20");
	bad_everywhere(S("a"), '\x7f', "hierarchy delimiter 0x7f");
	bad_everywhere(S("a"), (char)0xc3, "hierarchy delimiter 0xc3");
}

static void test_component_length(void **state)
{
	(void)state;
	char name[600];
	memset(name, 'a', 255);
	name[255] = '\0';
	map_ok(&verbatim_root, name, '/', name);
	memset(name, 'a', 256);
	name[256] = '\0';
	bad_everywhere(name, 256, '/', "component 1 is longer than 255 bytes");
	/* mbox: a parent needs room for ".sbd" */
	memset(name, 'b', 252);
	memcpy(name + 252, "/x", 3);
	map_bad(&mbox, name, '/', "plus \".sbd\" is longer than 255");
	memset(name, 'b', 251);
	memcpy(name + 251, "/x", 3);
	map_ok(&verbatim_root, name, '/', name);
	/* maildir++: the whole ".A.B" is one directory */
	memset(name, 'c', 200);
	name[200] = '/';
	memset(name + 201, 'd', 200);
	name[401] = '\0';
	map_bad(&maildirpp, name, '/', "Maildir++ directory name would be longer");
	map_ok_len(&verbatim_root, name, 401, '/', name);
}

static void test_path_length(void **state)
{
	(void)state;
	/* 20 components of 200 and a last one filling exactly 4096 */
	char name[FOLDER_PATH_MAX + 64];
	size_t n = 0;
	for (int i = 0; i < 20; i++) {
		memset(name + n, 'a' + i, 200);
		n += 200;
		name[n++] = '/';
	}
	size_t last = FOLDER_PATH_MAX - n;
	memset(name + n, 'z', last);
	n += last;
	name[n] = '\0';
	assert_int_equal(n, FOLDER_PATH_MAX);
	map_ok(&verbatim_root, name, '/', name);
	name[n++] = 'z';
	name[n] = '\0';
	map_bad(&verbatim_root, name, '/', "longer than 4096 bytes");
	map_bad(&mbox, name, '/', "longer than 4096 bytes");
}

static void test_bad_arguments(void **state)
{
	(void)state;
	char out[FOLDER_PATH_MAX];
	size_t out_len;
	struct yb_error err;
	assert_int_equal(folder_path_map(S("a"), '/', &verbatim_root, out,
					 sizeof(out), &out_len, &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(folder_path_map(NULL, 0, '/', &verbatim_root, out,
					 sizeof(out), &out_len, &err),
			 YB_ERR_INTERNAL);
	char big[FOLDER_PATH_MAX + 1];
	assert_int_equal(folder_path_map(S("a"), '/', NULL, big, sizeof(big),
					 &out_len, &err),
			 YB_ERR_INTERNAL);
	struct folder_path_opts odd = { (enum folder_layout)42, false };
	assert_int_equal(folder_path_map(S("a"), '/', &odd, big, sizeof(big),
					 &out_len, &err),
			 YB_ERR_INTERNAL);
}

/* Whatever is accepted stays inside the root: no absolute path, no "",
   "." or ".." component, no control byte, within the length limits. */
static void check_path_is_contained(const char *path, size_t len)
{
	assert_int_equal(strlen(path), len);
	assert_true(len <= FOLDER_PATH_MAX);
	if (len == 0)
		return;
	assert_true(path[0] != '/');
	const char *start = path;
	while (true) {
		const char *slash = strchr(start, '/');
		size_t clen = slash ? (size_t)(slash - start) : strlen(start);
		assert_true(clen > 0);
		assert_true(clen <= FOLDER_COMPONENT_MAX);
		assert_false(clen == 1 && start[0] == '.');
		assert_false(clen == 2 && start[0] == '.' && start[1] == '.');
		if (!slash)
			break;
		start = slash + 1;
	}
	for (size_t i = 0; i < len; i++)
		assert_true((unsigned char)path[i] >= 0x20 && path[i] != 0x7f);
}

static void test_random_hostile_names_stay_inside(void **state)
{
	(void)state;
	static const char *pieces[] = { "/",   ".",     "..",    "a",  "\\",
					"~",   "\xc3\xa9", "cur", "INBOX", "\x1b",
					".sbd", "&",   " ",     "\xff", "b" };
	static const char delimiters[] = { '/', '.', '\\', '\0' };
	srand(42);
	size_t accepted = 0;
	for (int round = 0; round < 50000; round++) {
		char name[64];
		size_t n = 0;
		int count = rand() % 8 + 1;
		for (int i = 0; i < count; i++) {
			const char *p = pieces[rand() % (int)(sizeof(pieces) /
							       sizeof(pieces[0]))];
			size_t plen = strlen(p);
			memcpy(name + n, p, plen);
			n += plen;
		}
		char delimiter = delimiters[rand() % 4];
		const struct folder_path_opts *opts = all_layouts[rand() % 4];
		char out[FOLDER_PATH_MAX + 1];
		size_t out_len;
		struct yb_error err;
		int rc = folder_path_map(name, n, delimiter, opts, out, sizeof(out),
					 &out_len, &err);
		if (rc != YB_OK) {
			assert_int_equal(rc, YB_ERR_PROTOCOL);
			assert_string_equal(out, "");
			continue;
		}
		accepted++;
		check_path_is_contained(out, out_len);
		if (opts->layout == FOLDER_LAYOUT_MAILDIRPP && out_len) {
			/* one hidden directory, ASCII only */
			assert_int_equal(out[0], '.');
			assert_null(strchr(out, '/'));
			for (size_t i = 0; i < out_len; i++)
				assert_true((unsigned char)out[i] < 0x7f);
		}
	}
	assert_true(accepted > 1000);
}

/* --- the escape is injective and avoids the sink's own names --- */

/* One accepted name: the name as the layout sees it, and its path. */
struct mapped {
	char name[96];
	char path[FOLDER_PATH_MAX + 1];
};

static int by_path(const void *a, const void *b)
{
	const struct mapped *x = a, *y = b;
	int order = strcmp(x->path, y->path);
	return order ? order : strcmp(x->name, y->name);
}

static bool ends_with_ci(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

/* A file or directory name the layout's sink makes itself. */
static bool is_reserved(const struct folder_path_opts *opts, const char *c,
			size_t len, bool last)
{
	bool maildir_dir = (len == 3 && (memcmp(c, "tmp", 3) == 0 ||
					 memcmp(c, "new", 3) == 0 ||
					 memcmp(c, "cur", 3) == 0));
	if (opts->layout != FOLDER_LAYOUT_MBOX)
		return maildir_dir;
	if (!last) {
		/* a subfolder directory: what comes before ".sbd" is a
		   folder's own name, which must not be reserved either */
		if (!ends_with_ci(c, len, ".sbd"))
			return true;
		len -= 4;
	}
	return ends_with_ci(c, len, ".lock") || ends_with_ci(c, len, ".sbd") ||
	       (len >= 7 && strncasecmp(c, ".yubin-", 7) == 0);
}

static void check_no_reserved_component(const struct folder_path_opts *opts,
					const char *path)
{
	const char *start = path;
	while (*path) {
		const char *slash = strchr(start, '/');
		size_t len = slash ? (size_t)(slash - start) : strlen(start);
		if (is_reserved(opts, start, len, !slash))
			fail_msg("\"%s\": component \"%.*s\" is the sink's own",
				 path, (int)len, start);
		if (!slash)
			break;
		start = slash + 1;
	}
}

/*
 * The documented way back (yubin.yaml.5): drop MBOX's ".sbd" of every
 * parent, read "\HH" as the byte 0xHH and any other "\" as itself, and
 * join the parts with the delimiter ("/" here, for any delimiter).
 */
static void unescape_path(const struct folder_path_opts *opts,
			  const char *path, char *out, size_t size)
{
	size_t n = 0;
	if (*path == '\0') {
		snprintf(out, size, "INBOX");
		return;
	}
	const char *start = path;
	while (true) {
		const char *slash = strchr(start, '/');
		size_t len = slash ? (size_t)(slash - start) : strlen(start);
		if (opts->layout == FOLDER_LAYOUT_MBOX && slash) {
			assert_true(ends_with_ci(start, len, ".sbd"));
			len -= 4;
		}
		for (size_t i = 0; i < len; i++) {
			if (start[i] == '\\' && len - i >= 3 &&
			    text_hex_value(start[i + 1]) >= 0 &&
			    text_hex_value(start[i + 2]) >= 0) {
				out[n++] = (char)(text_hex_value(start[i + 1]) * 16 +
						  text_hex_value(start[i + 2]));
				i += 2;
			} else {
				out[n++] = start[i];
			}
			assert_true(n < size);
		}
		if (!slash)
			break;
		out[n++] = '/';
		start = slash + 1;
	}
	out[n] = '\0';
}

/* The name as every layout treats it: INBOX in one spelling, "/" between
   parts whatever the delimiter (an accepted part holds no "/"). */
static void canonical_name(const char *name, char delimiter, char *out,
			   size_t size)
{
	snprintf(out, size, "%s", name);
	size_t first = delimiter && strchr(out, delimiter) ?
		       (size_t)(strchr(out, delimiter) - out) : strlen(out);
	if (first == 5 && strncasecmp(out, "INBOX", 5) == 0)
		memcpy(out, "INBOX", 5);
	for (char *p = out; delimiter && *p; p++)
		if (*p == delimiter)
			*p = '/';
}

/* A name of 1..6 pieces from an alphabet rich in what collides. */
static size_t random_name(char *name, size_t size)
{
	static const char *pieces[] = {
		".",     "/",    "lock", "cur",  "new",   "tmp",    "sbd",
		"\\",    "\\2e", "\\5c", "2e",   "5C",    "LOCK",   "Cur",
		"New",   "TMP",  "SBD",  ".yubin-", "INBOX", "inbox", "a",
		"A",     "~",    "&",    "\xc3\xa9", ".lock", ".sbd", "\\74",
	};
	size_t n = 0;
	int count = rand() % 6 + 1;
	for (int i = 0; i < count; i++) {
		const char *p = pieces[rand() % (int)(sizeof(pieces) /
						      sizeof(pieces[0]))];
		size_t plen = strlen(p);
		assert_true(n + plen < size);
		memcpy(name + n, p, plen);
		n += plen;
	}
	name[n] = '\0';
	return n;
}

static void check_layout_property(const struct folder_path_opts *opts,
				  char delimiter, unsigned seed)
{
	enum { ROUNDS = 3000 };
	struct mapped *all = calloc(ROUNDS, sizeof(*all));
	assert_non_null(all);
	size_t count = 0;
	srand(seed);
	for (int round = 0; round < ROUNDS; round++) {
		char name[96];
		size_t len = random_name(name, sizeof(name));
		struct mapped *m = &all[count];
		size_t out_len;
		struct yb_error err;
		if (folder_path_map(name, len, delimiter, opts, m->path,
				    sizeof(m->path), &out_len, &err) != YB_OK)
			continue;
		canonical_name(name, delimiter, m->name, sizeof(m->name));
		check_no_reserved_component(opts, m->path);
		if (opts->layout != FOLDER_LAYOUT_MAILDIRPP) {
			char back[FOLDER_PATH_MAX + 1];
			unescape_path(opts, m->path, back, sizeof(back));
			if (strcmp(back, m->name) != 0 &&
			    !(strcmp(back, "INBOX") == 0 && *m->path == '\0'))
				fail_msg("\"%s\" -> \"%s\" reads back as \"%s\"",
					 name, m->path, back);
		}
		count++;
	}
	assert_true(count > ROUNDS / 4);
	/* Injective: sorted by path, equal paths must be equal names. */
	qsort(all, count, sizeof(*all), by_path);
	for (size_t i = 1; i < count; i++) {
		if (strcmp(all[i - 1].path, all[i].path) == 0 &&
		    strcmp(all[i - 1].name, all[i].name) != 0)
			fail_msg("\"%s\" and \"%s\" both map to \"%s\"",
				 all[i - 1].name, all[i].name, all[i].path);
	}
	free(all);
}

static void test_mapping_injective_and_clear_of_sink_names(void **state)
{
	(void)state;
	static const char delimiters[] = { '/', '.', '\0' };
	unsigned seed = 20240601;
	for (size_t l = 0; l < sizeof(all_layouts) / sizeof(all_layouts[0]); l++)
		for (size_t d = 0; d < sizeof(delimiters); d++)
			check_layout_property(all_layouts[l], delimiters[d],
					      seed++);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbatim_tree),
		cmocka_unit_test(test_verbatim_inbox),
		cmocka_unit_test(test_verbatim_utf8_names),
		cmocka_unit_test(test_verbatim_odd_but_safe_names),
		cmocka_unit_test(test_verbatim_maildir_dirs_escaped),
		cmocka_unit_test(test_flat_namespace),
		cmocka_unit_test(test_maildirpp_layout),
		cmocka_unit_test(test_maildirpp_escapes),
		cmocka_unit_test(test_maildirpp_modified_utf7),
		cmocka_unit_test(test_maildirpp_directory_name_length),
		cmocka_unit_test(test_mbox_layout),
		cmocka_unit_test(test_mbox_sink_names_escaped),
		cmocka_unit_test(test_mbox_dotlock_name_fits),
		cmocka_unit_test(test_dot_dot_escapes),
		cmocka_unit_test(test_absolute_and_empty_components),
		cmocka_unit_test(test_slash_inside_component),
		cmocka_unit_test(test_terminal_escapes_and_controls),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_bad_delimiters),
		cmocka_unit_test(test_component_length),
		cmocka_unit_test(test_path_length),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_random_hostile_names_stay_inside),
		cmocka_unit_test(test_mapping_injective_and_clear_of_sink_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
