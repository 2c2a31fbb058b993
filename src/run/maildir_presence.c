/* maildir_presence.c - does a Maildir hold its known files (maildir_presence.h). */
#include "config.h"

#include "maildir_presence.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "maildir_flags.h"
#include "name_set.h"
#include "text.h"

/* The unique names of the dests, borrowed from them. */
static bool known_names(const char *const *dests, size_t count,
			struct name_set *names)
{
	for (size_t i = 0; i < count; i++) {
		const char *slash = strchr(dests[i], '/');
		const char *name = slash ? slash + 1 : dests[i];
		if (name_set_insert(names, name, maildir_unique_len(name), NULL) < 0)
			return false;
	}
	return true;
}

/* Does the directory sub of path list a known name?  Else why says. */
static enum maildir_presence scan_sub(const char *path, const char *sub,
				      const struct name_set *names, char *why,
				      size_t why_size)
{
	char dir_path[4096];
	if (!text_format(dir_path, sizeof(dir_path), "%s/%s", path, sub)) {
		snprintf(why, why_size, "the path %s/%s is too long", path, sub);
		return MAILDIR_UNREADABLE;
	}
	DIR *dir = opendir(dir_path);
	if (!dir) {
		int saved = errno;
		snprintf(why, why_size, "%s: %s", dir_path, strerror(saved));
		return saved == ENOENT ? MAILDIR_MISSING : MAILDIR_UNREADABLE;
	}
	enum maildir_presence presence = MAILDIR_HOLDS_NONE;
	struct dirent *entry;
	errno = 0;
	while (presence == MAILDIR_HOLDS_NONE && (entry = readdir(dir)) != NULL)
		if (name_set_find(names, entry->d_name, maildir_unique_len(entry->d_name)))
			presence = MAILDIR_HOLDS_SOME;
	if (presence == MAILDIR_HOLDS_NONE && errno != 0) {
		snprintf(why, why_size, "%s: %s", dir_path, strerror(errno));
		presence = MAILDIR_UNREADABLE;
	}
	closedir(dir);
	return presence;
}

enum maildir_presence maildir_presence(const char *path, const char *const *dests,
				       size_t count, char *why, size_t why_size)
{
	why[0] = '\0';
	if (count == 0)
		return MAILDIR_HOLDS_SOME;
	struct stat st;
	if (stat(path, &st) != 0) {
		int saved = errno;
		snprintf(why, why_size, "%s: %s", path, strerror(saved));
		return saved == ENOENT ? MAILDIR_MISSING : MAILDIR_UNREADABLE;
	}
	struct name_set names;
	name_set_init(&names);
	enum maildir_presence presence = MAILDIR_UNREADABLE;
	if (!known_names(dests, count, &names))
		snprintf(why, why_size, "out of memory");
	else
		presence = scan_sub(path, "cur", &names, why, why_size);
	/* new/ is read even when cur/ answered: a new/ that is gone or
	   unreadable is a Maildir no mail reader would use either. */
	if (presence == MAILDIR_HOLDS_SOME || presence == MAILDIR_HOLDS_NONE) {
		enum maildir_presence in_new = scan_sub(path, "new", &names, why,
							why_size);
		if (in_new != MAILDIR_HOLDS_NONE && in_new != MAILDIR_HOLDS_SOME)
			presence = in_new;
		else if (in_new == MAILDIR_HOLDS_SOME)
			presence = MAILDIR_HOLDS_SOME;
	}
	if (presence == MAILDIR_HOLDS_NONE)
		snprintf(why, why_size, "%s holds none of the %zu files yubin "
			 "delivered there", path, count);
	name_set_free(&names);
	return presence;
}
