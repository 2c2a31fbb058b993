/*
 * account.h - the account file (YAML) as yubin sees it after validation.
 *
 * Every string in these structs is owned by the struct config that holds
 * the account and is freed by config_free().  Paths are already expanded
 * ("~" and XDG defaults); nothing here needs checking again.
 */
#ifndef YUBIN_ACCOUNT_H
#define YUBIN_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "tls_settings.h"

enum protocol { PROTOCOL_IMAP, PROTOCOL_POP3 };

enum auth_mech {
	AUTH_AUTO,
	AUTH_PLAIN,
	AUTH_LOGIN,
	AUTH_CRAM_MD5,
	AUTH_XOAUTH2,
	AUTH_OAUTHBEARER,
	AUTH_APOP,
	AUTH_USER,
	AUTH_EXTERNAL,
};

enum password_source {
	PASSWORD_NONE,  /* no password configured */
	PASSWORD_VALUE, /* password: the secret itself */
	PASSWORD_CMD,   /* password_cmd: a shell command printing it */
	PASSWORD_ENV,   /* password_env: an environment variable's name */
	PASSWORD_FILE,  /* password_file: a file holding it (owner-only) */
};

enum deliver_kind { DELIVER_MAILDIR, DELIVER_MBOX, DELIVER_MDA };

/* IMAP folders in a Maildir tree (layout:). */
enum maildir_layout { LAYOUT_VERBATIM, LAYOUT_MAILDIRPP };

/* Mirroring server flag changes onto fetched messages, and with both
   local ones onto the server (sync_flags:). */
enum sync_flags_mode {
	SYNC_FLAGS_AUTO, /* with CONDSTORE/QRESYNC when offered, else not */
	SYNC_FLAGS_FULL, /* also without them, by one FLAGS listing */
	SYNC_FLAGS_OFF,
	SYNC_FLAGS_BOTH, /* also push local changes (Maildir only) */
};

/* Where an account's OAuth2 refresh token is read (and written back). */
enum oauth2_refresh_source {
	OAUTH2_REFRESH_CACHE, /* neither key: the token cache in the state
				 directory, written by --authorize */
	OAUTH2_REFRESH_CMD,   /* refresh_token_cmd: a command printing it */
	OAUTH2_REFRESH_FILE,  /* refresh_token_file: a file holding it */
};

/*
 * The oauth2: mapping, with a provider's preset already filled in where
 * the file did not set a key.  URLs are https:// only.
 */
struct oauth2_settings {
	char *provider;            /* "google", "microsoft" or NULL */
	char *tenant;              /* microsoft only; default "common" */
	char *token_url;           /* always set */
	char *auth_url;            /* NULL: no authorization-code flow */
	char *device_auth_url;     /* NULL: no device flow */
	char *scope;               /* NULL: none asked for */
	char *client_id;           /* always set */
	char *client_secret;       /* a secret (wiped); NULL if none */
	char *client_secret_cmd;   /* NULL if none; at most one of the two */
	enum oauth2_refresh_source refresh_source;
	char *refresh_token_cmd;   /* set for OAUTH2_REFRESH_CMD only */
	char *refresh_token_file;  /* set for OAUTH2_REFRESH_FILE only */
	char *ca_file;             /* extra trust anchor for the endpoints */
};

/* Where an account's definition starts, for messages about it. */
struct source_mark {
	const char *file; /* points at struct config's path */
	unsigned line;    /* 1-based */
	unsigned column;  /* 1-based */
};

struct account {
	char *name;
	struct source_mark mark;
	enum protocol protocol;
	char *host;
	uint16_t port;            /* filled from protocol and tls if absent */
	enum tls_mode tls;
	bool tls_verify;
	char *tls_ca_file;        /* NULL: the system trust store only */
	struct tls_pin tls_pins[TLS_PINS_MAX]; /* any one matching will do */
	size_t tls_pin_count;
	char *tls_server_name;    /* verified and sent as SNI; NULL: host */
	char *tls_cert_file;      /* client certificate (PEM chain), or NULL */
	char *tls_key_file;       /* its private key, owner-only; NULL: in
				     tls_cert_file */
	unsigned tls_min_version; /* 12 (TLS 1.2, the default) or 13 */
	bool allow_plaintext;
	char *user;
	enum auth_mech auth;
	enum password_source password_source;
	char *password;           /* value, command, variable name or path */
	bool has_oauth2;
	struct oauth2_settings oauth2;
	char **folders;           /* default: one entry, "INBOX" */
	size_t folder_count;
	bool keep;                /* default true */
	unsigned delete_after_days; /* 0: never */
	uint64_t max_size;        /* 0: no limit */
	enum deliver_kind deliver;
	char *deliver_target;     /* expanded path, or the MDA command */
	char *state_dir;          /* expanded; the account's state is in state_dir/name */
	unsigned timeout;         /* seconds; default 60 */
	unsigned poll_interval;   /* --watch: seconds between fetches of a
				     polled account or folder; default 300 */
	bool pipelining;          /* pipelining: default true (used when the
				     server offers it); false sends one
				     command at a time */
	enum maildir_layout layout;   /* imap: default verbatim */
	bool inbox_at_root;       /* imap, verbatim: inbox: root (default) or folder */
	enum sync_flags_mode sync_flags; /* imap: default auto */
	bool expunge_all;         /* imap: expunge: all allows a plain EXPUNGE
				     when the server lacks UIDPLUS */
	bool push_deletions;      /* sync_flags: both: local deletions go to
				     the server as \Deleted; default false */
};

struct config {
	char *path;
	struct account *accounts;
	size_t account_count;
};

/*
 * Load and validate the whole file.  On failure *out is left empty and
 * err holds "FILE:LINE:COLUMN: message" (YB_ERR_CONFIG) or an I/O error.
 * A file that holds a secret inline (`password:`, oauth2 `client_secret:`)
 * and is readable by group or others is refused.  The caller frees a loaded config with config_free().
 */
int config_load(const char *path, struct config *out, struct yb_error *err);

void config_free(struct config *config);

/*
 * The default account file path: $XDG_CONFIG_HOME/yubin/config.yaml, else
 * $HOME/.config/yubin/config.yaml.  Returns a malloc'd string the caller
 * frees, or NULL with err set when neither variable helps.
 */
char *config_default_path(struct yb_error *err);

/* The account file's word for a mechanism ("cram-md5"). */
const char *auth_mech_name(enum auth_mech mech);

/* Find an account by name; NULL if there is none. */
const struct account *config_find_account(const struct config *config,
					  const char *name);

#endif
