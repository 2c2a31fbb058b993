/*
 * list_folders.c - --list-folders: a LIST of the whole server, each
 * folder with the choice a fetch would make for it, like mbsync -l.
 */
#include "config.h"

#include "list_folders.h"

#include <stdlib.h>
#include <string.h>

#include "folder_ns.h"
#include "folder_path.h"
#include "imap.h"
#include "imap_resp.h"
#include "imap_utf7.h"
#include "log.h"
#include "secret.h"
#include "session.h"
#include "text.h"

static const struct { uint32_t attr; const char *name; } attr_names[] = {
	{ IMAP_MBOX_NOINFERIORS, "\\Noinferiors" },
	{ IMAP_MBOX_NOSELECT, "\\Noselect" },
	{ IMAP_MBOX_NONEXISTENT, "\\NonExistent" },
	{ IMAP_MBOX_HASCHILDREN, "\\HasChildren" },
	{ IMAP_MBOX_HASNOCHILDREN, "\\HasNoChildren" },
	{ IMAP_MBOX_MARKED, "\\Marked" },
	{ IMAP_MBOX_UNMARKED, "\\Unmarked" },
	{ IMAP_MBOX_SUBSCRIBED, "\\Subscribed" },
	{ IMAP_MBOX_REMOTE, "\\Remote" },
	{ IMAP_MBOX_ALL, "\\All" },
	{ IMAP_MBOX_ARCHIVE, "\\Archive" },
	{ IMAP_MBOX_DRAFTS, "\\Drafts" },
	{ IMAP_MBOX_FLAGGED, "\\Flagged" },
	{ IMAP_MBOX_JUNK, "\\Junk" },
	{ IMAP_MBOX_SENT, "\\Sent" },
	{ IMAP_MBOX_TRASH, "\\Trash" },
	{ IMAP_MBOX_IMPORTANT, "\\Important" },
};

static void print_flags(FILE *out, uint32_t attrs)
{
	const char *sep = "";
	for (size_t i = 0; i < sizeof(attr_names) / sizeof(attr_names[0]); i++)
		if (attrs & attr_names[i].attr) {
			fprintf(out, "%s%s", sep, attr_names[i].name);
			sep = " ";
		}
	if (!*sep)
		fputs("-", out);
}

/* How the server names folders, and to whom list_folder_choices hands
   each folder's choice. */
struct listing {
	const struct account *account;
	struct folder_ns ns;
	bool utf8_accepted; /* names are UTF-8 on the wire (RFC 6855) */
	folder_choice_fn fn;
	void *ctx;
};

/* One configured folder (UTF-8, may hold * or %) against a LIST name, as
   a fetch sends it: with the namespace's prefix (folder_ns.h). */
static int pattern_selects(const struct listing *listing, const char *configured,
			   const struct imap_list_entry *entry, bool *selects,
			   struct yb_error *err)
{
	if (imap_mailbox_is_inbox(entry->name, entry->name_len)) {
		int rc = folder_ns_takes_inbox(&listing->ns, configured, selects, err);
		if (rc != YB_OK || *selects)
			return rc;
	}
	char *wanted = folder_ns_server_name(&listing->ns, configured);
	if (!wanted)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	char *wire = NULL;
	size_t wire_len = 0;
	int rc = imap_mailbox_from_utf8(wanted, strlen(wanted), listing->utf8_accepted,
					&wire, &wire_len, err);
	if (rc == YB_OK)
		rc = imap_list_match(wire, wire_len, entry->name, entry->name_len,
				     entry->delimiter, selects, err);
	free(wire);
	free(wanted);
	return rc;
}

/* Would a fetch take this folder?  Its folders, or INBOX alone, say. */
static int is_fetched(const struct listing *listing, const struct imap_list_entry *entry,
		      bool *fetched, struct yb_error *err)
{
	const struct account *account = listing->account;
	*fetched = false;
	if (entry->attrs & (IMAP_MBOX_NOSELECT | IMAP_MBOX_NONEXISTENT))
		return YB_OK;
	if (account->folder_count == 0) {
		*fetched = imap_mailbox_is_inbox(entry->name, entry->name_len);
		return YB_OK;
	}
	int rc = YB_OK;
	for (size_t i = 0; rc == YB_OK && !*fetched && i < account->folder_count; i++)
		rc = pattern_selects(listing, account->folders[i], entry, fetched, err);
	return rc;
}

/*
 * Where a fetch would put the folder, malloc'd, or NULL for nowhere (an
 * MDA; a folder a one-folder account does not fetch; a name the layout
 * refuses, which a fetch would skip with this same warning).
 */
static char *local_path(const struct account *account, const char *utf8,
			char delimiter, bool fetched)
{
	bool single = folder_path_single(account);
	if (account->deliver == DELIVER_MDA || (single && !fetched))
		return NULL;
	if (single)
		return strdup(account->deliver_target);
	struct folder_path_opts opts = folder_path_opts_for(account);
	char relative[FOLDER_PATH_MAX + 1];
	size_t len = 0;
	struct yb_error err;
	if (folder_path_map(utf8, strlen(utf8), delimiter, &opts, relative,
			    sizeof(relative), &len, &err) != YB_OK) {
		log_warn("%s", err.msg);
		return NULL;
	}
	size_t size = strlen(account->deliver_target) + len + 2;
	char *path = malloc(size);
	if (path)
		snprintf(path, size, len ? "%s/%s" : "%s", account->deliver_target,
			 relative);
	return path;
}

/* Any C0 or C1 control character, or DEL, that a terminal would obey? */
static bool has_control(const char *utf8)
{
	for (const unsigned char *p = (const unsigned char *)utf8; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return true;
	return false;
}

/* The folder's UTF-8 name, malloc'd: INBOX in any case is "INBOX". */
static char *decoded_name(const struct listing *listing,
			  const struct imap_list_entry *entry, struct yb_error *err)
{
	if (imap_mailbox_is_inbox(entry->name, entry->name_len))
		return strdup("INBOX");
	char *utf8 = NULL;
	size_t utf8_len = 0;
	imap_mailbox_to_utf8(entry->name, entry->name_len, listing->utf8_accepted,
			     &utf8, &utf8_len, err);
	return utf8;
}

static int choose_folder(void *ctx, const struct imap_list_entry *entry,
			 struct yb_error *err)
{
	const struct listing *listing = ctx;
	bool fetched = false;
	int rc = is_fetched(listing, entry, &fetched, err);
	if (rc != YB_OK)
		return rc;
	char *utf8 = decoded_name(listing, entry, err);
	char shown[1024];
	/* UTF-8 as it is, so a non-ASCII name reads as itself. */
	if (utf8 && !has_control(utf8))
		snprintf(shown, sizeof(shown), "%s", utf8);
	else if (utf8)
		text_sanitize(shown, sizeof(shown), utf8, strlen(utf8));
	else
		text_sanitize(shown, sizeof(shown), entry->name, entry->name_len);
	if (!utf8) /* a fetch skips it, with this same warning */
		log_warn("skipping folder %s: %s", shown, err->msg);
	fetched = fetched && utf8;
	char *path = utf8 && !(entry->attrs & IMAP_MBOX_NOSELECT)
		     ? local_path(listing->account, folder_ns_local_name(&listing->ns, utf8),
				  entry->delimiter, fetched)
		     : NULL;
	yb_error_clear(err);
	struct folder_choice choice = { .name = shown, .delimiter = entry->delimiter,
					.attrs = entry->attrs, .fetched = fetched,
					.path = path };
	rc = listing->fn(listing->ctx, &choice, err);
	free(path);
	free(utf8);
	return rc;
}

int list_folder_choices(struct imap *imap, const struct account *account,
			folder_choice_fn fn, void *ctx, struct yb_error *err)
{
	struct listing listing = { .account = account, .fn = fn, .ctx = ctx,
				   .utf8_accepted = imap_utf8_accepted(imap) };
	int rc = folder_ns_ask(imap, &listing.ns, err);
	if (rc == YB_OK)
		rc = imap_list(imap, "\"*\"", choose_folder, &listing, err);
	return rc;
}

static int print_folder(void *ctx, const struct folder_choice *choice,
			struct yb_error *err)
{
	(void)err;
	FILE *out = ctx;
	fprintf(out, "%s\t", choice->name);
	if (choice->delimiter)
		fprintf(out, "%c\t", choice->delimiter);
	else
		fputs("NIL\t", out);
	print_flags(out, choice->attrs);
	fprintf(out, "\t%s\t%s\n", choice->fetched ? "fetched" : "not fetched",
		choice->path ? choice->path : "-");
	return YB_OK;
}

/* Takes *secret: wiped and freed once the login is over (session.h). */
static int list_with_secret(void *ctx, const struct account *account,
			    char **secret, struct yb_error *err)
{
	FILE *out = ctx;
	struct imap *imap = NULL;
	int rc = imap_connect(account, *secret, &imap, err);
	secret_free(*secret);
	*secret = NULL;
	if (rc == YB_OK)
		rc = list_folder_choices(imap, account, print_folder, out, err);
	if (rc == YB_OK)
		rc = imap_logout(imap, err);
	imap_close(imap);
	return rc;
}

int list_folders(const struct account *account, FILE *out, struct yb_error *err)
{
	if (account->protocol != PROTOCOL_IMAP)
		return yb_fail(err, YB_ERR_USAGE, "--list-folders: account '%s' is POP3, "
			       "which has no folders", account->name);
	return session_run(account, list_with_secret, out, NULL, err);
}
