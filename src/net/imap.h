/*
 * imap.h - one IMAP session (RFC 3501/9051 with STARTTLS, SASL-IR,
 * ENABLE, CONDSTORE/QRESYNC, UIDPLUS, NAMESPACE).
 *
 * imap_connect goes from TCP to the authenticated state: greeting (OK,
 * PREAUTH, or BYE), CAPABILITY (from the greeting's code or asked for),
 * STARTTLS when the account asks (fails closed: not offered, a NO/BAD
 * reply, or a PREAUTH greeting before TLS all abort; capabilities are
 * read again after TLS), LOGIN or AUTHENTICATE, then ENABLE QRESYNC (or
 * CONDSTORE) when offered.
 *
 * Commands can be pipelined: imap_send queues one (the session adds the
 * tag), imap_wait reads responses until the oldest outstanding command
 * completes.  Untagged responses met meanwhile go to the handler given to
 * imap_wait; a literal the handler wants streamed goes to it piece by
 * piece without being buffered (message bodies).  The session itself
 * tracks capability updates ([CAPABILITY] codes) and BYE.
 *
 * Errors name the host: YB_ERR_AUTH (credentials refused), YB_ERR_TEMP
 * (timeouts, [UNAVAILABLE], [INUSE]), YB_ERR_PROTOCOL (malformed or
 * unexpected data, BYE, STARTTLS missing), YB_ERR_UNAVAILABLE and the
 * other conn errors.  After an error the session is good only for
 * imap_close().  The protocol trace (-vvv) never shows a password: LOGIN
 * and AUTHENTICATE payloads appear as "<redacted>".
 */
#ifndef YUBIN_IMAP_H
#define YUBIN_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "error.h"
#include "imap_parse.h"
#include "imap_resp.h"

struct imap;

/* What a command's handler is told about; every member may be NULL. */
struct imap_handler {
	/* An untagged response other than the ones the session consumes
	   itself (CAPABILITY, BYE is fatal).  resp is valid during the
	   call only.  A non-OK return aborts imap_wait with that error. */
	int (*untagged)(void *ctx, const struct imap_response *resp,
			struct yb_error *err);
	/* A literal inside an untagged data response: true to stream it
	   to stream_data (see imap_want_stream_fn for what partial shows). */
	bool (*want_stream)(void *ctx, const struct imap_response *partial,
			    uint64_t size);
	/* The streamed literal's bytes, in order, as many calls as needed;
	   then stream_end once all `size` bytes were passed. */
	int (*stream_data)(void *ctx, const char *data, size_t len,
			   struct yb_error *err);
	int (*stream_end)(void *ctx, struct yb_error *err);
	void *ctx;
};

/* How a command completed. */
struct imap_result {
	enum imap_status status;        /* OK, NO or BAD */
	struct imap_code_info code;     /* its [CODE], IMAP_CODE_NONE if none */
	char text[512];                 /* its text, sanitized for printing */
};

/*
 * Connect and log in as account->user with secret: the password, or the
 * OAuth2 access token when account_credential() says so (NULL only
 * for PREAUTH or EXTERNAL).  On success *out is freed with imap_close().
 */
int imap_connect(const struct account *account, const char *password,
		 struct imap **out, struct yb_error *err);

/* Current capabilities (enum imap_capa_bit). */
uint64_t imap_capabilities(const struct imap *imap);

/* Was QRESYNC (and so CONDSTORE) enabled?  Was CONDSTORE (alone or so)? */
bool imap_qresync_enabled(const struct imap *imap);
bool imap_condstore_enabled(const struct imap *imap);

/* Was UTF8=ACCEPT enabled (RFC 6855)?  Mailbox names are then UTF-8 on
   the wire both ways, not modified UTF-7 (imap_mailbox_to_utf8). */
bool imap_utf8_accepted(const struct imap *imap);

/* The host, for messages. */
const char *imap_host(const struct imap *imap);

/*
 * Queue a command: "TAG " + command + CRLF.  command is the caller's,
 * already quoted (imap_quote_mailbox); it must not contain CR, LF or NUL
 * (YB_ERR_INTERNAL) and may not need literals.  Sent before the next read.
 */
int imap_send(struct imap *imap, const char *command, struct yb_error *err);

/*
 * Read until the oldest outstanding command completes.  YB_OK whatever
 * the command's status (see *result); an error return means the session
 * is broken (protocol error, BYE, timeout, a handler's error).
 */
int imap_wait(struct imap *imap, const struct imap_handler *handler,
	      struct imap_result *result, struct yb_error *err);

/* imap_send + imap_wait, and a NO or BAD becomes YB_ERR_PROTOCOL naming
   what (e.g. "SELECT Archive") with the server's text. */
int imap_command(struct imap *imap, const char *command, const char *what,
		 const struct imap_handler *handler, struct yb_error *err);

/*
 * For commands that go on after a continuation request (IDLE,
 * imap_idle.c).  imap_send_continued sends command and reads until the
 * server asks for more (*continued true) or completes it at once
 * (*continued false, *result says how: a NO or BAD).  imap_read_one
 * reads exactly one response while a command is outstanding: an
 * untagged one goes to the session and then to handler->untagged; the
 * oldest command's completion sets *completed and fills *result; a
 * continuation request is YB_ERR_PROTOCOL.  imap_send_line sends a line
 * that is not a command (no tag: IDLE's "DONE") at once.
 */
int imap_send_continued(struct imap *imap, const char *command,
			const struct imap_handler *handler, bool *continued,
			struct imap_result *result, struct yb_error *err);
int imap_read_one(struct imap *imap, const struct imap_handler *handler,
		  bool *completed, struct imap_result *result,
		  struct yb_error *err);
int imap_send_line(struct imap *imap, const char *line, struct yb_error *err);

/* The session's connection, to wait on (conn_fd, conn_has_buffered). */
struct conn;
const struct conn *imap_conn(const struct imap *imap);

/*
 * A mailbox name (modified UTF-7 or, with UTF8=ACCEPT, UTF-8 as sent by
 * LIST) as a quoted string for a command.  Returns a malloc'd string the
 * caller frees, or NULL (out of memory, or the name holds CR, LF or NUL).
 */
char *imap_quote_mailbox(const char *name, size_t len);

/* What SELECT/EXAMINE told about a mailbox. */
struct imap_mailbox_info {
	uint32_t uidvalidity;       /* 0 if the server did not say */
	uint32_t uidnext;           /* 0 if the server did not say */
	uint32_t exists;
	uint64_t highestmodseq;     /* 0: unknown or NOMODSEQ */
	bool nomodseq;
	bool read_only;
	/* Set, with the rest zero, when the server answered NO: the mailbox
	   cannot be opened (RFC 3501 6.3.1), the session goes on. */
	bool refused;
	enum imap_code refusal_code;   /* the NO's [CODE], e.g. NOPERM */
};

/*
 * SELECT (examine false) or EXAMINE a mailbox (quoted name as from
 * imap_quote_mailbox).  qresync, when non-NULL, is the text to put in
 * "(QRESYNC (...))" (e.g. "3857529045 20010715194045"), used only when
 * QRESYNC is enabled; the FETCH and VANISHED responses it brings go to
 * handler->untagged.  NO is YB_ERR_PROTOCOL (YB_ERR_TEMP for [INUSE]
 * and [UNAVAILABLE]) naming the mailbox, with out->refused set so the
 * caller can tell a mailbox it may not open from a broken session.
 */
int imap_select(struct imap *imap, const char *quoted_mailbox, bool examine,
		const char *qresync, const struct imap_handler *handler,
		struct imap_mailbox_info *out, struct yb_error *err);

/*
 * LIST "" pattern (pattern quoted by the caller): fn is called for every
 * entry (entry valid during the call only).
 */
int imap_list(struct imap *imap, const char *quoted_pattern,
	      int (*fn)(void *ctx, const struct imap_list_entry *entry,
			struct yb_error *err),
	      void *ctx, struct yb_error *err);

/* LOGOUT and wait for its completion (BYE is expected here). */
int imap_logout(struct imap *imap, struct yb_error *err);

/* Close without LOGOUT and free.  NULL is fine. */
void imap_close(struct imap *imap);

#endif
