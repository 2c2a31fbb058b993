/*
 * replay.c - run a fuzz target over stored inputs, without libFuzzer.
 *
 *   replay_TARGET PATH...
 *
 * Every PATH that is a file, and every regular file in each PATH that is
 * a directory (sorted by name; a PATH that does not exist is skipped, so
 * a target with no crash inputs needs no empty directory), goes once
 * through LLVMFuzzerTestOneInput, and the result is
 * printed as TAP: "ok N - DIR/FILE".  A crash or a broken promise aborts
 * the process, which the TAP driver reports with the last input named
 * by the "# replaying" line before it.  Each input is copied into a
 * buffer of exactly its size, so reading past its end is caught by the
 * sanitizers or valgrind.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* Inputs bigger than this are not test inputs; refuse them. */
#define REPLAY_INPUT_MAX (16u * 1024 * 1024)

struct input_list {
	char **paths;   /* owned, each malloc'd */
	size_t count;
	size_t cap;
};

static int list_add(struct input_list *list, const char *dir, const char *name)
{
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		char **paths = realloc(list->paths, cap * sizeof(*paths));
		if (!paths)
			return -1;
		list->paths = paths;
		list->cap = cap;
	}
	/* name NULL: dir is the file itself. */
	size_t size = strlen(dir) + 1 + (name ? strlen(name) : 0) + 1;
	char *path = malloc(size);
	if (!path)
		return -1;
	int written = name ? snprintf(path, size, "%s/%s", dir, name)
			   : snprintf(path, size, "%s", dir);
	if (written < 0 || (size_t)written >= size) {
		free(path);
		return -1;
	}
	list->paths[list->count++] = path;
	return 0;
}

static int is_regular(const char *dir, const char *name)
{
	char path[4096];
	int written = snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct stat st;
	return written > 0 && (size_t)written < sizeof(path) &&
	       stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * Add path: a regular file itself, or every regular file of a directory,
 * sorted; a path that does not exist adds nothing.
 */
static int list_dir(struct input_list *list, const char *dir)
{
	struct stat st;
	if (stat(dir, &st) == 0 && S_ISREG(st.st_mode)) {
		if (list_add(list, dir, NULL) == 0)
			return 0;
		printf("Bail out! out of memory\n");
		return -1;
	}
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		printf("Bail out! cannot read %s: %s\n", dir, strerror(errno));
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		if (rc == 0 && name[0] != '.' && is_regular(dir, name) &&
		    list_add(list, dir, name) != 0) {
			printf("Bail out! out of memory\n");
			rc = -1;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* Read path into a malloc'd buffer of exactly its size (1 byte if empty). */
static uint8_t *read_input(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	uint8_t *data = NULL;
	if (fstat(fd, &st) == 0 && st.st_size >= 0 &&
	    (uint64_t)st.st_size <= REPLAY_INPUT_MAX)
		data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	size_t got = 0;
	while (data && got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(data);
			data = NULL;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return data;
}

static int replay(const struct input_list *list)
{
	int failed = 0;
	printf("1..%zu\n", list->count);
	for (size_t i = 0; i < list->count; i++) {
		const char *path = list->paths[i];
		printf("# replaying %s\n", path);
		fflush(stdout);
		size_t len;
		uint8_t *data = read_input(path, &len);
		if (!data) {
			printf("not ok %zu - %s (cannot read it)\n", i + 1, path);
			failed = 1;
			continue;
		}
		int rc = LLVMFuzzerTestOneInput(data, len);
		free(data);
		/* libFuzzer allows 0 and -1 (do not add to the corpus). */
		if (rc != 0 && rc != -1) {
			printf("not ok %zu - %s (returned %d)\n", i + 1, path, rc);
			failed = 1;
			continue;
		}
		printf("ok %zu - %s\n", i + 1, path);
	}
	return failed;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH...\n", argv[0]);
		return 64;
	}
	struct input_list list = { NULL, 0, 0 };
	int rc = 0;
	for (int i = 1; i < argc && rc == 0; i++)
		rc = list_dir(&list, argv[i]);
	if (rc == 0 && list.count == 0) {
		printf("Bail out! no inputs in %s\n", argv[1]);
		rc = -1;
	}
	int failed = rc == 0 ? replay(&list) : 1;
	for (size_t i = 0; i < list.count; i++)
		free(list.paths[i]);
	free(list.paths);
	return failed;
}
