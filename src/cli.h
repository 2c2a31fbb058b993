/*
 * cli.h - the command line.
 */
#ifndef YUBIN_CLI_H
#define YUBIN_CLI_H

#include <stdbool.h>

#include "error.h"
#include "shard.h"

/* The most -j takes: parallel accounts each hold a process and a pipe. */
#define JOBS_MAX 64

struct cli_options {
	const char *config_path;  /* -c; NULL: the default path */
	int verbosity;            /* -1 with -q, +1 per -v */
	bool dry_run;             /* -n */
	bool force;               /* --force: push_deletions past its share */
	bool json;                /* --json */
	bool use_syslog;          /* --syslog */
	int progress;             /* --progress 1, --no-progress 0, else -1 */
	unsigned jobs;            /* -j N; 1 by default */
	bool show_help;
	bool show_version;
	bool show_cert;           /* --show-cert: print certificates, fetch nothing */
	bool ask_password;        /* --ask-password: prompt on the terminal for
				     accounts without a password source */
	const char *authorize;    /* --authorize ACCOUNT: obtain an OAuth2
				     refresh token, fetch nothing; or NULL */
	const char *accept_new_uidls; /* --accept-new-uidls ACCOUNT: that
				     POP3 account may take a renumbered
				     maildrop in this run; or NULL */
	const char *import_format; /* --import FORMAT FILE: print FILE (of
				     fetchmailrc, mbsyncrc, mpoprc or
				     getmailrc) as an account file; or NULL */
	const char *import_file;
	const char *list_folders; /* --list-folders ACCOUNT: print the
				     folders of that IMAP account, fetch
				     nothing; or NULL */
	bool check;               /* --check: walk each account's setup,
				     fetch nothing */
	bool watch;               /* --watch: fetch, then again as new mail
				     arrives, until stopped */
	struct shard shard;       /* --shard K/N or auto; count 0 without */
	char **accounts;          /* the ACCOUNT arguments (points into argv) */
	int account_count;
};

/*
 * Parse argv.  Returns YB_OK or YB_ERR_USAGE with err saying what was
 * wrong.  Strings point into argv.
 */
int cli_parse(int argc, char **argv, struct cli_options *out,
	      struct yb_error *err);

/* The --help text. */
void cli_print_help(void);

#endif
