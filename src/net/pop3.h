/*
 * pop3.h - one POP3 session (RFC 1939, 2449, 2595, 5034).
 *
 * pop3_connect goes from TCP to the TRANSACTION state: greeting, CAPA,
 * STLS when asked (fails closed when not offered; the capabilities are
 * read again after TLS), then authentication.  Commands can be pipelined:
 * the pop3_send_* functions queue a command, the matching pop3_read_*
 * reads its reply, in the same order.  The caller decides the window
 * (pop3_pipelining tells whether the server allows more than one).
 *
 * Errors name account and host: YB_ERR_AUTH (credentials refused),
 * YB_ERR_TEMP ([IN-USE], [SYS/TEMP], [LOGIN-DELAY], timeouts),
 * YB_ERR_PROTOCOL (malformed or unexpected replies, STLS missing),
 * YB_ERR_UNAVAILABLE and the other conn errors.
 * The protocol trace (-vvv) never shows a password: PASS, APOP and AUTH
 * payloads appear as "<redacted>".
 */
#ifndef YUBIN_POP3_H
#define YUBIN_POP3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "error.h"

struct pop3;

/* One message as the server lists it. */
struct pop3_msg {
	unsigned long msgno;
	char *uidl;       /* NULL when the server has no UIDL; owned with
			     the array (pop3_free_msgs frees both) */
	uint64_t size;    /* LIST size (octets with CRLF) */
};

/*
 * Connect and log in as account->user with secret: the password, or the
 * OAuth2 access token when account_credential() says so (NULL only
 * for EXTERNAL).  On success *out is freed with pop3_close().
 */
int pop3_connect(const struct account *account, const char *password,
		 struct pop3 **out, struct yb_error *err);

bool pop3_pipelining(const struct pop3 *pop3);
bool pop3_has_uidl(const struct pop3 *pop3);

/*
 * List the maildrop: UIDL (when the server has it) and LIST, pipelined
 * when allowed, merged by message number.  *msgs (sorted by msgno) is an
 * array of *count entries the caller frees with pop3_free_msgs().
 * Duplicate or unknown message numbers, bad lines, and a listing of more
 * than POP3_MAX_MESSAGES (pop3.c; yubin-failures(7), LIMITS) are
 * YB_ERR_PROTOCOL.
 */
int pop3_list(struct pop3 *pop3, struct pop3_msg **msgs, size_t *count,
	      struct yb_error *err);

/*
 * pop3_list in two steps, for a run that may need no size: UIDL alone,
 * each size 0 and *sized false; then pop3_list_sizes, only if some size
 * is wanted.  From a server without UIDL the listing comes from LIST at
 * once, with *sized true.  Freed with pop3_free_msgs, like pop3_list's.
 */
int pop3_list_uidls(struct pop3 *pop3, struct pop3_msg **msgs, size_t *count,
		    bool *sized, struct yb_error *err);

/*
 * LIST, each size into msgs (pop3_list_uidls's result).  LIST must name
 * exactly the messages UIDL named, each once; else YB_ERR_PROTOCOL.
 */
int pop3_list_sizes(struct pop3 *pop3, struct pop3_msg *msgs, size_t count,
		    struct yb_error *err);

void pop3_free_msgs(struct pop3_msg *msgs, size_t count);

/* Called with each piece of a body, as the server sent it but unstuffed. */
typedef int (*pop3_body_fn)(void *ctx, const char *data, size_t len,
			    struct yb_error *err);

int pop3_send_retr(struct pop3 *pop3, unsigned long msgno,
		   struct yb_error *err);

/*
 * Read the reply to the oldest unanswered RETR and stream its body to fn.
 * A -ERR reply sets *refused (the body callback is not called) and returns
 * YB_OK with err holding the server's text; the session goes on.  An error
 * from fn stops the read and is returned; the session is then unusable.
 * A body that does not agree with listed_size, the size LIST gave for the
 * message (pop3_size_agrees), is the message as the server rewrote it
 * while sending when it is longer and shows no sign of the next reply
 * (pop3_size_rewritten; pop3_last_size_disagreed says so).  Any other
 * has been passed to fn whole but is YB_ERR_PROTOCOL: the caller must
 * not keep it, and the session is unusable (the replies after it are out
 * of step).
 */
int pop3_read_retr(struct pop3 *pop3, uint64_t listed_size, pop3_body_fn fn,
		   void *ctx, bool *refused, struct yb_error *err);

/* Did the body pop3_read_retr just read disagree with LIST's size?
   *served gets its size as received (unstuffed, line ends as sent). */
bool pop3_last_size_disagreed(const struct pop3 *pop3, uint64_t *served);

int pop3_send_dele(struct pop3 *pop3, unsigned long msgno,
		   struct yb_error *err);

/* Read the oldest unanswered DELE's reply; -ERR is YB_ERR_PROTOCOL. */
int pop3_read_dele(struct pop3 *pop3, struct yb_error *err);

/*
 * QUIT.  Only a +OK here means the server carried out the DELEs of this
 * session; any failure means none of them may have happened.
 */
int pop3_quit(struct pop3 *pop3, struct yb_error *err);

/* Close without QUIT (no deletions take effect) and free.  NULL is fine. */
void pop3_close(struct pop3 *pop3);

#endif
