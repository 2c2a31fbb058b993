/*
 * list_folders.h - --list-folders ACCOUNT: the folders an IMAP server
 * has, and what a fetch of the account would make of each.
 */
#ifndef YUBIN_LIST_FOLDERS_H
#define YUBIN_LIST_FOLDERS_H

#include <stdio.h>

#include "account.h"
#include "error.h"

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
