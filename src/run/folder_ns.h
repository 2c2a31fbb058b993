/*
 * folder_ns.h - the server's personal namespace (RFC 2342) and what it
 * makes of a configured folder: the name to LIST on the server, the
 * name to lay out locally, and whether a pattern takes INBOX too.
 *
 * Folder names in the account file use "/" between levels and leave the
 * personal namespace's prefix out, whatever the server: on a server
 * whose folders are all "INBOX.Something" (Courier, older Cyrus),
 * "Archive/2024" is "INBOX.Archive.2024" there, and is stored as
 * Archive/2024.  INBOX itself is outside that prefix, so a pattern that
 * would match INBOX ("*", "%") selects INBOX as well, as it does on a
 * server without a prefix.  The fetch and --list-folders share this, so
 * that what one lists is what the other fetches.
 */
#ifndef YUBIN_FOLDER_NS_H
#define YUBIN_FOLDER_NS_H

#include <stdbool.h>

#include "error.h"
#include "imap.h"

struct folder_ns {
	char prefix[256]; /* UTF-8 (RFC 2342 sends modified UTF-7; any
			     prefix seen in practice is ASCII), e.g. "INBOX." */
	char delimiter;
	bool known;       /* the server answered NAMESPACE */
};

/* Ask the server (if it offers NAMESPACE) and fill *ns; a server that
   does not say leaves ns->known false, and names are taken as they are.
   Errors: those of imap_command. */
int folder_ns_ask(struct imap *imap, struct folder_ns *ns, struct yb_error *err);

/* The configured name (UTF-8) as the server spells it: the prefix put in
   front and "/" turned into the namespace's delimiter, unless it is
   INBOX or already starts with the prefix.  Returns a malloc'd string,
   or NULL when out of memory. */
char *folder_ns_server_name(const struct folder_ns *ns, const char *configured);

/* The name for the local side: utf8 without the prefix, pointing into
   utf8 (INBOX.Archive -> Archive); utf8 itself when it lacks it. */
const char *folder_ns_local_name(const struct folder_ns *ns, const char *utf8);

/* Was the prefix put in front of this configured pattern, and would the
   pattern match INBOX without it?  Then INBOX must be listed on its own.
   YB_ERR_INTERNAL when out of memory. */
int folder_ns_takes_inbox(const struct folder_ns *ns, const char *configured,
			  bool *takes, struct yb_error *err);

#endif
