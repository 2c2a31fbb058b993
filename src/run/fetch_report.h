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

struct fetch_options {
	bool dry_run;   /* connect and count; change nothing anywhere */
	bool accept_new_uidls; /* POP3: take a renumbered maildrop */
};

/* How many skipped folders' names a report keeps (for --json). */
#define FETCH_SKIPPED_SHOWN 8

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
};

#endif
