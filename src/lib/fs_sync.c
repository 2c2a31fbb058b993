/* fs_sync.c - when and how one syncfs stands in for a batch's fsyncs. */
#include "config.h"

#include "fs_sync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "text.h"

/*
 * Unwritten bytes beyond the batch's own that a syncfs may have to write
 * too.  A busy desktop or server often has tens of MiB waiting, which the
 * kernel would write within half a minute anyway; a large copy under way
 * has far more, and would make every syncfs wait for it.
 */
#define OTHER_UNWRITTEN_MAX (256u << 20)

/* /proc/meminfo is a few KiB; Dirty and Writeback come early in it. */
#define MEMINFO_READ_MAX 8192

/* A mountinfo line longer than this is skipped (and so not trusted). */
#define MOUNTINFO_LINE_MAX 4096

/* Filesystem type names are short ("ext4"); longer ones are not ours. */
#define TYPE_NAME_MAX 32

/* The next space-separated field of [*pos, len): false at the end. */
static bool next_field(const char *line, size_t len, size_t *pos,
		       const char **field, size_t *field_len)
{
	size_t at = *pos;
	while (at < len && line[at] == ' ')
		at++;
	if (at == len)
		return false;
	size_t end = at;
	while (end < len && line[end] != ' ')
		end++;
	*field = line + at;
	*field_len = end - at;
	*pos = end;
	return true;
}

static bool parse_number(const char *text, size_t len, unsigned max,
			 unsigned *out)
{
	unsigned long long value;
	if (!text_parse_u64(text, len, max, &value))
		return false;
	*out = (unsigned)value;
	return true;
}

bool fs_sync_kernel_reports_errors(const char *release)
{
	size_t major_len = strspn(release, "0123456789");
	const char *minor_text = release + major_len;
	if (*minor_text != '.')
		return false;
	minor_text++;
	size_t minor_len = strspn(minor_text, "0123456789");
	unsigned major, minor;
	if (!parse_number(release, major_len, 100000, &major) ||
	    !parse_number(minor_text, minor_len, 100000, &minor))
		return false;
	return major > 5 || (major == 5 && minor >= 8);
}

static bool device_matches(const char *field, size_t len, unsigned major,
			   unsigned minor)
{
	const char *colon = memchr(field, ':', len);
	if (!colon)
		return false;
	size_t major_len = (size_t)(colon - field);
	unsigned got_major, got_minor;
	return parse_number(field, major_len, ~0u, &got_major) &&
	       parse_number(colon + 1, len - major_len - 1, ~0u, &got_minor) &&
	       got_major == major && got_minor == minor;
}

bool fs_sync_mount_type(const char *line, size_t len, unsigned major,
			unsigned minor, char *type, size_t type_size)
{
	size_t pos = 0;
	const char *field;
	size_t field_len;
	/* ID, parent ID, then MAJOR:MINOR. */
	for (int skip = 0; skip < 2; skip++)
		if (!next_field(line, len, &pos, &field, &field_len))
			return false;
	if (!next_field(line, len, &pos, &field, &field_len) ||
	    !device_matches(field, field_len, major, minor))
		return false;
	/* Root, mount point, options, optional fields up to "-", then type. */
	bool separator_seen = false;
	while (!separator_seen) {
		if (!next_field(line, len, &pos, &field, &field_len))
			return false;
		separator_seen = field_len == 1 && field[0] == '-';
	}
	if (!next_field(line, len, &pos, &field, &field_len) ||
	    field_len >= type_size)
		return false;
	memcpy(type, field, field_len);
	type[field_len] = '\0';
	return true;
}

bool fs_sync_trusted_type(const char *type)
{
	static const char *const trusted[] = { "ext4", "xfs", "btrfs" };
	for (size_t i = 0; i < sizeof(trusted) / sizeof(trusted[0]); i++)
		if (strcmp(type, trusted[i]) == 0)
			return true;
	return false;
}

/* Drop the rest of a line that did not fit the buffer. */
static void skip_line_rest(FILE *file)
{
	int c;
	do
		c = getc(file);
	while (c != EOF && c != '\n');
}

/* The kernel's name for the type of the filesystem of device dev. */
static bool mounted_type(dev_t dev, char *type, size_t type_size)
{
	FILE *file = fopen("/proc/self/mountinfo", "re");
	if (!file)
		return false;
	char line[MOUNTINFO_LINE_MAX];
	bool found = false;
	while (!found && fgets(line, sizeof(line), file)) {
		size_t len = strlen(line);
		if (len == 0 || line[len - 1] != '\n') {
			skip_line_rest(file);
			continue;
		}
		found = fs_sync_mount_type(line, len - 1, major(dev), minor(dev),
					   type, type_size);
	}
	fclose(file);
	return found;
}

static bool kernel_qualifies(void)
{
	static int known = -1;
	if (known < 0) {
		struct utsname name;
		known = uname(&name) == 0 &&
			fs_sync_kernel_reports_errors(name.release);
	}
	return known;
}

bool fs_sync_usable(int dir_fd)
{
#ifdef HAVE_SYNCFS
	/* A run's mailboxes are mostly on one filesystem: ask once for it. */
	static dev_t last_dev;
	static int last_usable = -1;
	struct stat st;
	if (!kernel_qualifies() || fstat(dir_fd, &st) != 0)
		return false;
	if (last_usable < 0 || st.st_dev != last_dev) {
		char type[TYPE_NAME_MAX];
		last_dev = st.st_dev;
		last_usable = mounted_type(st.st_dev, type, sizeof(type)) &&
			      fs_sync_trusted_type(type);
	}
	return last_usable;
#else
	(void)dir_fd;
	return false;
#endif
}

/* The value in kB of the line "KEY:   N kB" in meminfo, in bytes. */
static bool meminfo_bytes(const char *meminfo, size_t len, const char *key,
			  uint64_t *bytes)
{
	size_t key_len = strlen(key);
	for (size_t at = 0; at < len;) {
		const char *end = memchr(meminfo + at, '\n', len - at);
		if (!end)
			return false; /* a line cut by the read */
		size_t line_len = (size_t)(end - meminfo) - at;
		const char *line = meminfo + at;
		at += line_len + 1;
		if (line_len <= key_len || memcmp(line, key, key_len) != 0)
			continue;
		size_t pos = key_len;
		const char *field;
		size_t field_len;
		unsigned long long kib;
		if (!next_field(line, line_len, &pos, &field, &field_len) ||
		    !text_parse_u64(field, field_len, UINT64_MAX / 1024, &kib))
			return false;
		*bytes = (uint64_t)kib * 1024;
		return true;
	}
	return false;
}

bool fs_sync_unwritten_bytes(const char *meminfo, size_t len,
			     uint64_t *bytes)
{
	uint64_t dirty, writeback;
	if (!meminfo_bytes(meminfo, len, "Dirty:", &dirty) ||
	    !meminfo_bytes(meminfo, len, "Writeback:", &writeback) ||
	    dirty > UINT64_MAX - writeback)
		return false;
	*bytes = dirty + writeback;
	return true;
}

bool fs_sync_cheap(uint64_t batch_bytes)
{
	char text[MEMINFO_READ_MAX];
	int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t got;
	do
		got = read(fd, text, sizeof(text));
	while (got < 0 && errno == EINTR);
	close(fd);
	uint64_t unwritten;
	if (got <= 0 || !fs_sync_unwritten_bytes(text, (size_t)got, &unwritten))
		return false;
	uint64_t allowed = batch_bytes > UINT64_MAX - OTHER_UNWRITTEN_MAX ?
			   UINT64_MAX : batch_bytes + OTHER_UNWRITTEN_MAX;
	return unwritten <= allowed;
}

int fs_sync(int fd)
{
#ifdef HAVE_SYNCFS
	int rc;
	do
		rc = syncfs(fd);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? errno : 0;
#else
	(void)fd;
	return ENOSYS;
#endif
}
