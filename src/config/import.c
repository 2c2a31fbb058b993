/*
 * import.c - yubin --import: read the file, hand it to its format's
 * parser, complete the accounts and write them as YAML.
 */
#include "config.h"

#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import_lex.h"
#include "import_model.h"

typedef int parse_fn(struct import_doc *doc, const char *text, size_t len,
		     struct yb_error *err);

static const struct {
	const char *name, *tool;
	parse_fn *parse;
} formats[] = {
	[IMPORT_FETCHMAILRC] = { "fetchmailrc", "fetchmail", import_parse_fetchmailrc },
	[IMPORT_MBSYNCRC] = { "mbsyncrc", "mbsync", import_parse_mbsyncrc },
	[IMPORT_MPOPRC] = { "mpoprc", "mpop", import_parse_mpoprc },
	[IMPORT_GETMAILRC] = { "getmailrc", "getmail", import_parse_getmailrc },
};

bool import_format_from_name(const char *name, enum import_format *out)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (strcmp(name, formats[i].name) == 0) {
			*out = (enum import_format)i;
			return true;
		}
	}
	return false;
}

int import_convert(enum import_format format, const char *source,
		   const char *text, size_t len, const char *login,
		   char **yaml, struct yb_error *err)
{
	*yaml = NULL;
	int status = import_check_text(source, text, len, err);
	if (status != YB_OK)
		return status;
	struct import_doc doc = {
		.source = source, .format = formats[format].name,
		.tool = formats[format].tool, .login = login,
	};
	status = formats[format].parse(&doc, text, len, err);
	if (status == YB_OK)
		status = import_finish(&doc, err);
	if (status == YB_OK) {
		*yaml = import_write_yaml(&doc);
		if (!*yaml)
			status = yb_fail(err, YB_ERR_CONFIG,
					 "%s: the account file would be over %d bytes (or memory "
					 "ran out); is this a configuration file?", source,
					 IMPORT_YAML_MAX);
	}
	import_doc_free(&doc);
	return status;
}

/* The whole file into a malloc'd buffer the caller frees. */
static int read_source(const char *path, char **text, size_t *len,
		       struct yb_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return yb_fail_errno(err, YB_ERR_IO, errno, "%s: cannot open", path);
	struct stat st;
	int status = YB_OK;
	if (fstat(fd, &st) != 0)
		status = yb_fail_errno(err, YB_ERR_IO, errno, "%s: cannot stat", path);
	else if (!S_ISREG(st.st_mode))
		status = yb_fail(err, YB_ERR_IO, "%s: not a regular file", path);
	else if (st.st_size > IMPORT_FILE_MAX)
		status = yb_fail(err, YB_ERR_IO, "%s: larger than %d bytes", path,
				 IMPORT_FILE_MAX);
	*text = status == YB_OK ? malloc((size_t)st.st_size + 1) : NULL;
	if (status == YB_OK && !*text)
		status = yb_fail(err, YB_ERR_INTERNAL, "%s: out of memory", path);
	size_t got = 0;
	while (status == YB_OK && got < (size_t)st.st_size) {
		ssize_t n = read(fd, *text + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			status = yb_fail_errno(err, YB_ERR_IO, errno, "%s: cannot read", path);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (status != YB_OK) {
		free(*text);
		*text = NULL;
		return status;
	}
	*len = got;
	return YB_OK;
}

int import_file(enum import_format format, const char *path,
		const char *login, char **yaml, struct yb_error *err)
{
	char *text = NULL;
	size_t len = 0;
	*yaml = NULL;
	int status = read_source(path, &text, &len, err);
	if (status != YB_OK)
		return status;
	status = import_convert(format, path, text, len, login, yaml, err);
	free(text);
	return status;
}
