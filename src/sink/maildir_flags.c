/*
 * maildir_flags.c - renaming delivered files for flag changes; hashing a
 * Maildir's messages.
 */
#include "config.h"

#include "maildir_flags.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fileio.h"
#include "grow.h"
#include "maildir_index.h"
#include "text.h"

#define IMAP_LETTERS "DFRST"

/* How often a file a mail reader keeps renaming is looked up again. */
#define RENAME_ATTEMPTS 3

/* The info letters IMAP flags have, in ASCII order, as the Maildir
   specification wants them. */
static const struct { char letter; uint32_t flag; } letter_table[] = {
	{ 'D', SINK_FLAG_DRAFT },    { 'F', SINK_FLAG_FLAGGED },
	{ 'R', SINK_FLAG_ANSWERED }, { 'S', SINK_FLAG_SEEN },
	{ 'T', SINK_FLAG_DELETED },
};

#define LETTER_COUNT (sizeof(letter_table) / sizeof(letter_table[0]))

bool maildir_letters(uint32_t flags, char letters[MAILDIR_LETTERS_SIZE])
{
	size_t used = 0;
	letters[0] = '\0';
	if (flags & ~(uint32_t)SINK_FLAGS_ALL)
		return false;
	for (size_t i = 0; i < LETTER_COUNT; i++)
		if (flags & letter_table[i].flag)
			letters[used++] = letter_table[i].letter;
	letters[used] = '\0';
	return true;
}

uint32_t maildir_dest_flags(const char *dest)
{
	uint32_t flags = 0;
	const char *info = strstr(dest, ":2,");
	for (const char *p = info ? info + 3 : ""; *p; p++)
		for (size_t i = 0; i < LETTER_COUNT; i++)
			if (*p == letter_table[i].letter)
				flags |= letter_table[i].flag;
	return flags;
}

size_t maildir_unique_len(const char *name)
{
	const char *info = strstr(name, ":2,");
	return info ? (size_t)(info - name) : strlen(name);
}

/* The base name of a dest: after "new/" or "cur/", up to ":2," if any. */
static bool split_dest(const char *dest, char *base, size_t base_size)
{
	if (strncmp(dest, "new/", 4) != 0 && strncmp(dest, "cur/", 4) != 0)
		return false;
	const char *name = dest + 4;
	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	size_t len = maildir_unique_len(name);
	if (len == 0 || len >= base_size)
		return false;
	memcpy(base, name, len);
	base[len] = '\0';
	return true;
}

/* new/BASE, if it is there. */
static void locate_in_new(const char *maildir_path, const char *base,
			  char *found, size_t found_size)
{
	char path[4096];
	struct stat st;
	if (text_format(path, sizeof(path), "%s/new/%s", maildir_path, base) &&
	    lstat(path, &st) == 0)
		snprintf(found, found_size, "new/%s", base);
}

/*
 * Find the file now: where dest says, else cur/BASE:2,* or new/BASE.
 * index (may be NULL) answers for cur/ when it can be sure; else cur/ is
 * read here.
 */
static int locate(const char *maildir_path, struct maildir_index *index,
		  const char *dest, const char *base, char *found,
		  size_t found_size, struct yb_error *err)
{
	char path[4096];
	if (!text_format(path, sizeof(path), "%s/%s", maildir_path, dest))
		return yb_fail(err, YB_ERR_IO, "path too long in %s", maildir_path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		snprintf(found, found_size, "%s", dest);
		return YB_OK;
	}
	found[0] = '\0';
	bool sure = false;
	if (index) {
		int rc = maildir_index_find(index, maildir_path, base, found,
					    found_size, &sure, err);
		if (rc != YB_OK || found[0])
			return rc;
		if (sure) {
			locate_in_new(maildir_path, base, found, found_size);
			return YB_OK;
		}
	}
	if (!text_format(path, sizeof(path), "%s/cur", maildir_path))
		return yb_fail(err, YB_ERR_IO, "path too long in %s", maildir_path);
	DIR *dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? YB_OK
				       : yb_fail_errno(err, YB_ERR_IO, errno,
						       "cannot read %s", path);
	size_t base_len = strlen(base);
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL) {
		if (strncmp(entry->d_name, base, base_len) == 0 &&
		    (entry->d_name[base_len] == ':' || entry->d_name[base_len] == '\0')) {
			snprintf(found, found_size, "cur/%s", entry->d_name);
			break;
		}
	}
	closedir(dir);
	if (!found[0])
		locate_in_new(maildir_path, base, found, found_size);
	return YB_OK;
}

int maildir_read_flags(const char *maildir_path, struct maildir_index *index,
		       const char *dest, uint32_t *flags, char *found,
		       struct yb_error *err)
{
	char base[MAILDIR_DEST_MAX];
	*flags = 0;
	found[0] = '\0';
	if (!split_dest(dest, base, sizeof(base)))
		return yb_fail(err, YB_ERR_INTERNAL, "bad maildir dest %s", dest);
	int rc = locate(maildir_path, index, dest, base, found, MAILDIR_DEST_MAX, err);
	if (rc == YB_OK && found[0])
		*flags = maildir_dest_flags(found);
	return rc;
}

/* IMAP letters from the server, plus the reader's own letters it kept. */
static void merge_letters(const char *found, const char *letters, char *out,
			  size_t out_size)
{
	bool want[128] = { false };
	for (const char *p = letters; *p; p++)
		if ((unsigned char)*p < 128)
			want[(unsigned char)*p] = true;
	const char *info = strstr(found, ":2,");
	if (info)
		for (const char *p = info + 3; *p; p++)
			if ((unsigned char)*p < 128 && !strchr(IMAP_LETTERS, *p))
				want[(unsigned char)*p] = true;
	size_t used = 0;
	for (int c = 'A'; c <= 'z' && used + 1 < out_size; c++)
		if (want[c] && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			out[used++] = (char)c;
	out[used] = '\0';
}

static int sync_dir(const char *maildir_path, const char *sub, struct yb_error *err)
{
	char path[4096];
	if (!text_format(path, sizeof(path), "%s/%s", maildir_path, sub))
		return yb_fail(err, YB_ERR_IO, "path too long in %s", maildir_path);
	int rc = fsync_dir_path(path);
	return rc ? yb_fail_errno(err, YB_ERR_IO, rc, "cannot sync %s", path) : YB_OK;
}

/*
 * Rename found to carry letters.  *gone: found no longer exists (a mail
 * reader renamed or deleted it since it was looked up).
 */
static int rename_once(const char *maildir_path, const char *found,
		       const char *base, const char *letters, char *new_dest,
		       bool *gone, struct yb_error *err)
{
	*gone = false;
	char merged[64];
	merge_letters(found, letters, merged, sizeof(merged));
	char target[MAILDIR_DEST_MAX];
	if (!text_format(target, sizeof(target), "cur/%s:2,%s", base, merged))
		return yb_fail(err, YB_ERR_IO, "name too long in %s", maildir_path);
	bool in_new = strncmp(found, "new/", 4) == 0;
	if ((in_new && !merged[0]) || strcmp(found, target) == 0) {
		/* Nothing to change: new/ without flags, or the name is right. */
		snprintf(new_dest, MAILDIR_DEST_MAX, "%s", found);
		return YB_OK;
	}
	char from[4096], to[4096];
	if (!text_format(from, sizeof(from), "%s/%s", maildir_path, found) ||
	    !text_format(to, sizeof(to), "%s/%s", maildir_path, target))
		return yb_fail(err, YB_ERR_IO, "path too long in %s", maildir_path);
	if (rename(from, to) != 0) {
		if (errno == ENOENT) {
			*gone = true;
			return YB_OK;
		}
		return yb_fail_errno(err, YB_ERR_IO, errno, "cannot rename %s", from);
	}
	int rc = sync_dir(maildir_path, "cur", err);
	if (rc == YB_OK && in_new)
		rc = sync_dir(maildir_path, "new", err);
	if (rc == YB_OK)
		snprintf(new_dest, MAILDIR_DEST_MAX, "%s", target);
	return rc;
}

int maildir_rename_flags(const char *maildir_path, const char *found,
			 const char *letters, char *new_dest,
			 struct yb_error *err)
{
	char base[MAILDIR_DEST_MAX];
	char current[MAILDIR_DEST_MAX];
	new_dest[0] = '\0';
	if (!split_dest(found, base, sizeof(base)))
		return yb_fail(err, YB_ERR_INTERNAL, "bad maildir dest %s", found);
	snprintf(current, sizeof(current), "%s", found);
	/* A mail reader renames files at will (new/ to cur/, its own flag
	   changes): a name that went stale is looked up again by the unique
	   part before ":2,".  A file that keeps moving is left for the next
	   run; losing a flag change for now is no error. */
	for (int attempt = 0; attempt < RENAME_ATTEMPTS; attempt++) {
		bool gone = false;
		int rc = rename_once(maildir_path, current, base, letters, new_dest,
				     &gone, err);
		if (rc != YB_OK || !gone)
			return rc;
		char relocated[MAILDIR_DEST_MAX];
		rc = locate(maildir_path, NULL, current, base, relocated,
			    sizeof(relocated), err);
		if (rc != YB_OK || !relocated[0])
			return rc; /* deleted meanwhile: nothing to flag */
		if (strcmp(relocated, current) == 0)
			return yb_fail_errno(err, YB_ERR_IO, ENOENT,
					     "cannot rename %s/%s", maildir_path,
					     current);
		snprintf(current, sizeof(current), "%s", relocated);
	}
	new_dest[0] = '\0';
	return YB_OK;
}

int maildir_apply_flags(const char *maildir_path, const char *dest,
			const char *letters, char *new_dest,
			struct yb_error *err)
{
	char base[MAILDIR_DEST_MAX];
	char found[MAILDIR_DEST_MAX];
	new_dest[0] = '\0';
	if (!split_dest(dest, base, sizeof(base)))
		return yb_fail(err, YB_ERR_INTERNAL, "bad maildir dest in state");
	int rc = locate(maildir_path, NULL, dest, base, found, sizeof(found), err);
	if (rc != YB_OK || !found[0])
		return rc;
	return maildir_rename_flags(maildir_path, found, letters, new_dest, err);
}

static int hash_file(int dir_fd, const char *name, unsigned char out[32],
		     struct yb_error *err, const char *dir_path)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? -1
				       : yb_fail_errno(err, YB_ERR_IO, errno,
						       "cannot read %s/%s", dir_path, name);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = YB_OK;
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		rc = yb_fail(err, YB_ERR_INTERNAL, "cannot start SHA-256");
		goto out;
	}
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = yb_fail_errno(err, YB_ERR_IO, errno, "cannot read %s/%s",
					   dir_path, name);
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != 32)
		rc = yb_fail(err, YB_ERR_INTERNAL, "SHA-256 failed");
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return rc;
}

struct digest_list {
	struct sink_digest *items;
	size_t count, cap;
};

static int add_digests(const char *maildir_path, const char *sub,
		       struct digest_list *list, struct yb_error *err)
{
	char path[4096];
	if (!text_format(path, sizeof(path), "%s/%s", maildir_path, sub))
		return yb_fail(err, YB_ERR_IO, "path too long in %s", maildir_path);
	DIR *dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? YB_OK
				       : yb_fail_errno(err, YB_ERR_IO, errno,
						       "cannot read %s", path);
	int rc = YB_OK;
	struct dirent *entry;
	while (rc == YB_OK && (entry = readdir(dir)) != NULL) {
		if (entry->d_name[0] == '.')
			continue;
		struct sink_digest *grown = grow_array(list->items, &list->cap,
						       list->count + 1,
						       sizeof(*grown), 256);
		if (!grown) {
			rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory");
			break;
		}
		list->items = grown;
		struct sink_digest *item = &list->items[list->count];
		if (!text_format(item->dest, sizeof(item->dest), "%s/%s", sub,
				 entry->d_name))
			continue;
		int hashed = hash_file(dirfd(dir), entry->d_name, item->digest, err, path);
		if (hashed == -1)
			continue; /* gone meanwhile */
		rc = hashed;
		if (rc == YB_OK)
			list->count++;
	}
	closedir(dir);
	return rc;
}

static int compare_digests(const void *a, const void *b)
{
	return memcmp(((const struct sink_digest *)a)->digest,
		      ((const struct sink_digest *)b)->digest, 32);
}

int maildir_digests(const char *maildir_path, struct sink_digest **out,
		    size_t *count, struct yb_error *err)
{
	struct digest_list list = { 0 };
	int rc = add_digests(maildir_path, "new", &list, err);
	if (rc == YB_OK)
		rc = add_digests(maildir_path, "cur", &list, err);
	if (rc != YB_OK) {
		free(list.items);
		return rc;
	}
	if (list.count > 1)
		qsort(list.items, list.count, sizeof(*list.items), compare_digests);
	*out = list.items;
	*count = list.count;
	return YB_OK;
}
