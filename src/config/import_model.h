/*
 * import_model.h - what the --import parsers build from another tool's
 * file: accounts as yubin's own keys, notes for what does not carry
 * over, and the YAML written from them.
 *
 * Every string is malloc'd and owned by the account or document that
 * holds it; import_doc_free() frees them all.  Running out of memory
 * is sticky (doc->out_of_memory) rather than returned by every setter,
 * so that a parser reads as the mapping it is; import_finish() reports
 * it.  Nothing here reads a file or the environment.
 */
#ifndef YUBIN_IMPORT_MODEL_H
#define YUBIN_IMPORT_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Longest line any parser takes, and largest file (as config.c). */
#define IMPORT_LINE_MAX 4096
#define IMPORT_FILE_MAX (1024 * 1024)
#define IMPORT_ACCOUNTS_MAX 1000
#define IMPORT_FOLDERS_MAX 256
/* Notes in a whole document: a hostile file could make every account
   inherit thousands.  And the largest account file written. */
#define IMPORT_NOTES_MAX 20000
#define IMPORT_YAML_MAX (16 * 1024 * 1024)

/* The account keys an import can set, in the order they are written. */
enum import_key {
	IK_PROTOCOL, IK_HOST, IK_PORT, IK_TLS, IK_ALLOW_PLAINTEXT,
	IK_TLS_VERIFY, IK_TLS_MIN_VERSION, IK_TLS_CA_FILE, IK_TLS_FINGERPRINT,
	IK_TLS_SERVER_NAME, IK_TLS_CERT_FILE, IK_TLS_KEY_FILE, IK_USER,
	IK_AUTH, IK_PASSWORD, IK_PASSWORD_CMD, IK_PASSWORD_FILE, IK_TIMEOUT,
	IK_PIPELINING, IK_LAYOUT, IK_INBOX, IK_KEEP, IK_DELETE_AFTER_DAYS,
	IK_MAX_SIZE, IK_MAILDIR, IK_MBOX, IK_MDA, IK_COUNT
};

struct import_note {
	unsigned line; /* 0: about the file as a whole */
	char *text;    /* printable ASCII, never a secret */
};

struct import_notes {
	struct import_note *items;
	size_t count, cap;
};

struct import_account {
	char *name;                 /* as the source named it; cleaned on writing */
	unsigned line;              /* where the source defines it */
	char *values[IK_COUNT];     /* NULL: not set */
	unsigned lines[IK_COUNT];   /* where each value came from */
	char **folders;
	size_t folder_count, folder_cap;
	struct import_notes notes;
	/* Scratch of a parser whose TLS words combine (mpop's tls and
	   tls_starttls, fetchmail's ssl): -1 unset, 0 off, 1 on. */
	int wants_tls, wants_starttls;
};

struct import_doc {
	const char *source;         /* the file's name, for notes */
	const char *format;         /* "fetchmailrc", ... */
	const char *tool;           /* "fetchmail", ... */
	const char *login;          /* the user's login name, or NULL */
	struct import_account **accounts;
	size_t account_count, account_cap;
	struct import_notes notes;  /* about the file as a whole */
	size_t note_total;          /* in the document, up to IMPORT_NOTES_MAX */
	bool notes_left_out;        /* more than that were made */
	bool out_of_memory;
};

/* A new, empty account (NULL when out of memory, which doc records). */
struct import_account *import_account_new(struct import_doc *doc,
					  const char *name, size_t name_len,
					  unsigned line);

/* A deep copy of template under another name, notes and all. */
struct import_account *import_account_copy(struct import_doc *doc,
					   const struct import_account *template,
					   const char *name, size_t name_len,
					   unsigned line);

/* Set on account whatever from sets (inheritance), notes added. */
void import_account_merge(struct import_doc *doc, struct import_account *account,
			  const struct import_account *from);

void import_account_free(struct import_account *account);

/* Hand account to doc (which frees it), or free it when doc is full. */
void import_doc_add(struct import_doc *doc, struct import_account *account);

void import_doc_free(struct import_doc *doc);

/*
 * Set a key to a copy of value[0..len).  The password keys replace one
 * another, as the delivery keys do: an account has one of each.
 */
void import_set(struct import_doc *doc, struct import_account *account,
		enum import_key key, const char *value, size_t len, unsigned line);
void import_set_str(struct import_doc *doc, struct import_account *account,
		    enum import_key key, const char *value, unsigned line);
void import_unset(struct import_account *account, enum import_key key);
const char *import_get(const struct import_account *account,
		       enum import_key key);

void import_clear_folders(struct import_account *account);
void import_add_folder(struct import_doc *doc, struct import_account *account,
		       const char *folder, size_t len);

/*
 * A note (printf format) on account, or on the whole file when account
 * is NULL.  Never pass a secret: notes are printed as they are.
 */
void import_note(struct import_doc *doc, struct import_account *account,
		 unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A short printable copy of source bytes, for notes ("procmail -d ..."). */
void import_quote(char *out, size_t size, const char *text, size_t len);

/*
 * The user's password, written inline in the source: carried over as
 * `password:`, with a note that says where it came from and what to use
 * instead.
 */
void import_set_inline_password(struct import_doc *doc,
				struct import_account *account,
				const char *value, size_t len, unsigned line);

/* Whether text[0..len) is a decimal number from 1 to max. */
bool import_is_number(const char *text, size_t len, unsigned long max);

/*
 * A pin as tls_fingerprint takes it ("sha256:AB:..") from a hex SHA-256
 * digest with or without colons and an optional "sha256:" prefix; false
 * for anything else (an MD5 or SHA-1 pin cannot be carried over).
 */
bool import_sha256_pin(const char *text, size_t len, char *out, size_t size);

/* Whether text is a size max_size takes: digits, then k, m or g. */
bool import_is_size(const char *text, size_t len);

/* A tool's expansion in an MDA command and yubin's for it (NULL: none). */
struct import_expansion {
	const char *source; /* "%F" */
	const char *yubin;  /* "%f" */
};

/*
 * Set the account's mda: to command, its expansions turned into
 * yubin's by map (ended by a NULL source); any other % is written %%,
 * and an expansion yubin lacks is kept as text, with a note.
 */
void import_set_mda(struct import_doc *doc, struct import_account *account,
		    const char *command, size_t len, unsigned line,
		    const struct import_expansion *map);

/*
 * Fill in what every account needs and the source left out (a user, a
 * delivery), give accounts names yubin takes, unique without regard to
 * case, and check the document is complete.  YB_ERR_CONFIG when there
 * is no account, YB_ERR_INTERNAL when memory ran out.
 */
int import_finish(struct import_doc *doc, struct yb_error *err);

/*
 * The account file for doc as a malloc'd, NUL-terminated string the
 * caller frees; NULL when out of memory or over IMPORT_YAML_MAX bytes.
 */
char *import_write_yaml(const struct import_doc *doc);

/*
 * The parsers, one file each: the accounts of text into doc.
 * YB_ERR_CONFIG, "SOURCE:LINE: what", for what the tool itself would
 * refuse to read and nothing could be made of.
 */
int import_parse_fetchmailrc(struct import_doc *doc, const char *text,
			     size_t len, struct yb_error *err);
int import_parse_mbsyncrc(struct import_doc *doc, const char *text,
			  size_t len, struct yb_error *err);
int import_parse_mpoprc(struct import_doc *doc, const char *text,
			size_t len, struct yb_error *err);
int import_parse_getmailrc(struct import_doc *doc, const char *text,
			   size_t len, struct yb_error *err);

#endif
