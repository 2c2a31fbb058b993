/* sinktest.c - helpers the sink unit tests share. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sinktest.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

void join(char *out, size_t size, const char *dir, const char *name)
{
	int written = snprintf(out, size, "%s/%s", dir, name);
	assert_true(written > 0 && (size_t)written < size);
}

void make_temp_dir(char *out, size_t size, const char *pattern)
{
	const char *tmpdir = getenv("TMPDIR");
	if (!tmpdir || !*tmpdir)
		tmpdir = "/tmp";
	join(out, size, tmpdir, pattern);
	assert_non_null(mkdtemp(out));
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

void remove_tree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *slurp_maybe(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	char *data = malloc((size_t)st.st_size + 1);
	assert_non_null(data);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	close(fd);
	data[got] = '\0';
	*len = got;
	return data;
}

char *slurp(const char *path, size_t *len)
{
	char *data = slurp_maybe(path, len);
	assert_non_null(data);
	return data;
}

bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

void prepare_ok(struct sink *sink)
{
	struct yb_error err;
	int status = sink_prepare(sink, &err);
	if (status != YB_OK)
		print_error("prepare: %s\n", err.msg);
	assert_int_equal(status, YB_OK);
}

void publish_ok(struct sink *sink)
{
	struct yb_error err;
	int status = sink_publish(sink, &err);
	if (status != YB_OK)
		print_error("publish: %s\n", err.msg);
	assert_int_equal(status, YB_OK);
}
