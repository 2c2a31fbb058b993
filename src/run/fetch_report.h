/*
 * fetch_report.h - what a run is asked to do and what it did: plain data
 * shared by the run (fetch.c) and the protocol engines (fetch_pop3.c,
 * fetch_imap.c), so that the engines need not know the run.
 */
#ifndef YUBIN_FETCH_REPORT_H
#define YUBIN_FETCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fetch_options {
	bool dry_run;   /* connect and count; change nothing anywhere */
	bool accept_new_uidls; /* POP3: take a renumbered maildrop */
	bool force;     /* --force: push_deletions past its share */
};

/* How many skipped folders' names a report keeps (for --json). */
#define FETCH_SKIPPED_SHOWN 8

/* How many folders' own figures a report keeps (for --json); a -j
   child sends its report whole through a pipe, so it holds no pointer. */
#define FETCH_FOLDERS_SHOWN 128

/* What a run did in one folder (POP3: the one, "INBOX"). */
struct fetch_folder_report {
	char name[256];        /* UTF-8 as the state names it; cut (between
				  characters) if longer */
	size_t fetched;        /* delivered and recorded by this run */
	uint64_t bytes;        /* their size as delivered */
};

/* What a run did, for the summary line and --json. */
struct fetch_report {
	size_t on_server;      /* messages the server listed */
	size_t new_messages;   /* not yet delivered when the run started */
	size_t fetched;        /* delivered and recorded by this run */
	uint64_t fetched_bytes;
	size_t too_large;      /* skipped because of max_size */
	size_t refused;        /* the server would not send them */
	size_t deleted;        /* removed from the server by this run */
	size_t recovered;      /* intents of a crashed run committed */
	size_t folders_skipped; /* IMAP folders not fetched: the server would
				   not open them, or their names cannot be
				   stored here */
	char skipped_folders[FETCH_SKIPPED_SHOWN][256]; /* the first ones,
							   sanitized */
	size_t folder_count;   /* folders opened and fetched from */
	struct fetch_folder_report folders[FETCH_FOLDERS_SHOWN]; /* the first
							   ones */
};

/*
 * The entry of a folder now opened, counted in folder_count; NULL past
 * the first FETCH_FOLDERS_SHOWN, whose figures are then in the totals
 * alone.  The entry lives as long as the report.
 */
static inline struct fetch_folder_report *
fetch_report_add_folder(struct fetch_report *report, const char *name)
{
	size_t index = report->folder_count++;
	if (index >= FETCH_FOLDERS_SHOWN)
		return NULL;
	struct fetch_folder_report *folder = &report->folders[index];
	size_t len = strlen(name);
	if (len >= sizeof(folder->name)) {
		/* Cut where a character begins, not inside one. */
		len = sizeof(folder->name) - 1;
		while (len > 0 && ((unsigned char)name[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(folder->name, name, len);
	folder->name[len] = '\0';
	folder->fetched = 0;
	folder->bytes = 0;
	return folder;
}

#endif
