/*
 * probe.h - the first exchanges with a server, a step at a time, without
 * logging in: its greeting, its capabilities, STARTTLS.  For --check
 * (which tells each step apart) and --show-cert (which stops at TLS).
 */
#ifndef YUBIN_PROBE_H
#define YUBIN_PROBE_H

#include <stddef.h>

#include "account.h"
#include "conn.h"
#include "error.h"

/* Room for a greeting or a capability list as shown (sanitized). */
#define PROBE_SHOWN_MAX 512

/*
 * Wait for the greeting (conn_wait_greeting: a port that speaks TLS from
 * the first byte is refused with its hint) and read it; shown gets it,
 * sanitized.  The greeting of the other protocol (an IMAP server on a
 * POP3 account's port, or the reverse) is YB_ERR_PROTOCOL and named as
 * such; a refusal (IMAP BYE, POP3 -ERR) is YB_ERR_UNAVAILABLE.
 */
int probe_greeting(struct conn *conn, enum protocol protocol, char *shown,
		   size_t size, struct yb_error *err);

/*
 * What a greeting line of the other protocol means for the account, or
 * NULL when line is not one: "this port speaks IMAP, not POP3: ...".
 */
const char *probe_other_protocol(enum protocol protocol, const char *line,
				 size_t len);

/*
 * Ask for the capabilities (IMAP CAPABILITY, POP3 CAPA) after the
 * greeting: shown gets them on one line (for POP3 one CAPA line after
 * the other, " " between them), sanitized, and mechanisms the SASL
 * mechanisms offered (IMAP AUTH=, POP3 SASL), upper case, " " between.
 * A POP3 server without CAPA is no error (shown is "").
 */
int probe_capabilities(struct conn *conn, enum protocol protocol,
		       char *shown, size_t shown_size, char *mechanisms,
		       size_t mechanisms_size, struct yb_error *err);

/*
 * STARTTLS (IMAP) or STLS (POP3) after the greeting, up to the server's
 * go-ahead; the caller then calls conn_start_tls.
 */
int probe_starttls(struct conn *conn, enum protocol protocol,
		   struct yb_error *err);

#endif
