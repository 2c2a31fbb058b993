/*
 * list_folders.h - --list-folders ACCOUNT: the folders an IMAP server
 * has, and what a fetch of the account would make of each.
 */
#ifndef YUBIN_LIST_FOLDERS_H
#define YUBIN_LIST_FOLDERS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "account.h"
#include "error.h"
#include "imap.h"

/* One folder of the server, and what a fetch makes of it. */
struct folder_choice {
	const char *name;     /* UTF-8, or sanitized when it is not */
	char delimiter;       /* '\0' for a flat namespace */
	uint32_t attrs;       /* IMAP_MBOX_* */
	bool fetched;         /* the account's folders select it */
	const char *path;     /* where a fetch delivers it, or NULL */
};

/* Called for each folder; the choice is valid during the call only. */
typedef int (*folder_choice_fn)(void *ctx, const struct folder_choice *choice,
				struct yb_error *err);

/*
 * LIST "" "*" on a logged-in session, and fn for each folder with the
 * choice a fetch would make (--list-folders, --check).  A non-OK return
 * of fn stops the listing with that error.
 */
int list_folder_choices(struct imap *imap, const struct account *account,
			folder_choice_fn fn, void *ctx, struct yb_error *err);

/*
 * Log in as a fetch would, send LIST "" "*" and write one line per
 * folder to out, tab-separated: the name (UTF-8), the hierarchy
 * delimiter ("NIL" for a flat namespace), the flags ("-" for none),
 * "fetched" or "not fetched" (the account's folders select it), and the
 * local path a fetch would deliver it to ("-" for none).  Reads no state
 * and writes nothing but out.  YB_ERR_USAGE for a POP3 account; else the
 * status of the session.
 */
int list_folders(const struct account *account, FILE *out, struct yb_error *err);

#endif
