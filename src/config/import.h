/*
 * import.h - yubin --import: another tool's configuration file turned
 * into yubin's account file, with a YAML comment for each thing that
 * does not carry over.
 */
#ifndef YUBIN_IMPORT_H
#define YUBIN_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

enum import_format {
	IMPORT_FETCHMAILRC,
	IMPORT_MBSYNCRC,
	IMPORT_MPOPRC,
	IMPORT_GETMAILRC,
};

/* The format named on the command line ("mbsyncrc"); false if none. */
bool import_format_from_name(const char *name, enum import_format *out);

/*
 * The account file for text (len bytes of the file named source, which
 * only names it in messages and comments).  login is the user's login
 * name, for a source that leaves the user out, or NULL.  On YB_OK
 * *yaml is a malloc'd string the caller frees.  Errors: YB_ERR_CONFIG
 * (a file that cannot be read as the format, "SOURCE:LINE: what"),
 * YB_ERR_INTERNAL (out of memory).
 */
int import_convert(enum import_format format, const char *source,
		   const char *text, size_t len, const char *login,
		   char **yaml, struct yb_error *err);

/*
 * import_convert for the file at path.  YB_ERR_IO when it cannot be
 * read, is not a regular file, or is over 1 MiB.
 */
int import_file(enum import_format format, const char *path,
		const char *login, char **yaml, struct yb_error *err);

#endif
