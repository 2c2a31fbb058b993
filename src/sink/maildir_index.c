/* maildir_index.c - the files of cur/ by unique part (maildir_index.h). */
#include "config.h"

#include "maildir_index.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "grow.h"
#include "maildir_flags.h"
#include "text.h"

void maildir_index_init(struct maildir_index *index)
{
	memset(index, 0, sizeof(*index));
	name_set_init(&index->names);
}

void maildir_index_free(struct maildir_index *index)
{
	for (size_t i = 0; i < index->file_count; i++)
		free(index->files[i]);
	free(index->files);
	name_set_free(&index->names);
	maildir_index_init(index);
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Keep name (copied) under its unique part; false when out of memory. */
static bool index_add(struct maildir_index *index, const char *name)
{
	char **grown = grow_array(index->files, &index->file_cap,
				  index->file_count + 1, sizeof(*grown), 256);
	if (!grown)
		return false;
	index->files = grown;
	char *copy = strdup(name);
	if (!copy)
		return false;
	index->files[index->file_count++] = copy;
	return name_set_insert(&index->names, copy, maildir_unique_len(copy), NULL) >= 0;
}

/* List cur/ afresh.  Its mtime is taken before the listing, so a change
   during it shows as a changed mtime at the next look-up. */
static int index_list(struct maildir_index *index, const char *cur_path,
		      const struct stat *before, struct yb_error *err)
{
	maildir_index_free(index);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	index->mtime = before->st_mtim;
	index->settled = before->st_mtim.tv_sec < now.tv_sec - 1;
	DIR *dir = opendir(cur_path);
	if (!dir)
		return yb_fail_errno(err, YB_ERR_IO, errno, "cannot read %s", cur_path);
	int rc = YB_OK;
	struct dirent *entry;
	errno = 0;
	while (rc == YB_OK && (entry = readdir(dir)) != NULL) {
		if (entry->d_name[0] != '.' && !index_add(index, entry->d_name))
			rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory");
		errno = 0;
	}
	if (rc == YB_OK && errno != 0)
		rc = yb_fail_errno(err, YB_ERR_IO, errno, "cannot read %s", cur_path);
	closedir(dir);
	index->listed = rc == YB_OK;
	return rc;
}

int maildir_index_find(struct maildir_index *index, const char *maildir_path,
		       const char *base, char *found, size_t found_size,
		       bool *sure, struct yb_error *err)
{
	char cur_path[4096], path[4096];
	found[0] = '\0';
	*sure = false;
	if (!text_format(cur_path, sizeof(cur_path), "%s/cur", maildir_path))
		return yb_fail(err, YB_ERR_IO, "path too long in %s", maildir_path);
	struct stat st;
	if (stat(cur_path, &st) != 0)
		return YB_OK; /* the caller's own look-up says why */
	if (!index->listed || !same_time(&st.st_mtim, &index->mtime)) {
		int rc = index_list(index, cur_path, &st, err);
		if (rc != YB_OK)
			return rc;
	}
	const struct name_entry *entry = name_set_find(&index->names, base,
						       strlen(base));
	if (!entry) {
		*sure = index->settled;
		return YB_OK;
	}
	/* Renamed since within the same tick: the caller looks again. */
	if (!text_format(path, sizeof(path), "%s/%s", cur_path, entry->name) ||
	    lstat(path, &st) != 0)
		return YB_OK;
	if (!text_format(found, found_size, "cur/%s", entry->name))
		found[0] = '\0';
	*sure = found[0] != '\0';
	return YB_OK;
}
