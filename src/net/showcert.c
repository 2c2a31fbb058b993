/* showcert.c - connect far enough to see the server's certificate. */
#include "config.h"

#include "showcert.h"

#include <stdbool.h>
#include <string.h>

#include "conn.h"
#include "conn_account.h"
#include "text.h"

#define GREETING_MAX 8192

static int expect_line(struct conn *conn, const char *prefix, const char *what,
		       struct yb_error *err)
{
	const char *line;
	size_t len;
	int rc = conn_read_line(conn, GREETING_MAX, &line, &len, err);
	if (rc != YB_OK)
		return rc;
	if (text_has_prefix_ci(line, len, prefix))
		return YB_OK;
	char shown[200];
	text_sanitize(shown, sizeof(shown), line, len);
	return yb_fail(err, YB_ERR_PROTOCOL, "%s: %s refused: %s", conn_peer(conn),
		       what, shown);
}

/* IMAP: skip untagged lines until our tagged reply. */
static int imap_starttls(struct conn *conn, struct yb_error *err)
{
	int rc = expect_line(conn, "* ", "the greeting", err);
	if (rc == YB_OK)
		rc = conn_write(conn, "y0 STARTTLS\r\n", 13, err);
	for (int lines = 0; rc == YB_OK && lines < 100; lines++) {
		const char *line;
		size_t len;
		rc = conn_read_line(conn, GREETING_MAX, &line, &len, err);
		if (rc != YB_OK || text_has_prefix_ci(line, len, "* "))
			continue;
		if (text_has_prefix_ci(line, len, "y0 OK"))
			return YB_OK;
		char shown[200];
		text_sanitize(shown, sizeof(shown), line, len);
		return yb_fail(err, YB_ERR_PROTOCOL, "%s: STARTTLS refused: %s",
			       conn_peer(conn), shown);
	}
	return rc != YB_OK ? rc : yb_fail(err, YB_ERR_PROTOCOL, "%s: no reply to STARTTLS",
					  conn_peer(conn));
}

static int pop3_stls(struct conn *conn, struct yb_error *err)
{
	int rc = expect_line(conn, "+OK", "the greeting", err);
	if (rc == YB_OK)
		rc = conn_write(conn, "STLS\r\n", 6, err);
	if (rc == YB_OK)
		rc = expect_line(conn, "+OK", "STLS", err);
	return rc;
}

int show_certificate(const struct account *account, FILE *out,
		     struct yb_error *err)
{
	if (account->tls == TLS_NONE)
		return yb_fail(err, YB_ERR_USAGE, "account %s does not use TLS (tls: none)",
			       account->name);
	struct conn_params params;
	conn_params_for_account(account, &params);
	params.tls_verify = false; /* show it even if it would be refused */
	params.tls_pins = NULL;
	params.tls_pin_count = 0;
	struct conn *conn = NULL;
	params.account = account->name;
	int rc = conn_open(&params, &conn, err);
	if (rc == YB_OK && account->tls == TLS_STARTTLS)
		rc = conn_wait_greeting(conn, err);
	if (rc == YB_OK && account->tls == TLS_STARTTLS) {
		rc = account->protocol == PROTOCOL_IMAP ? imap_starttls(conn, err)
							: pop3_stls(conn, err);
		if (rc == YB_OK)
			rc = conn_start_tls(conn, err);
	}
	if (rc == YB_OK)
		rc = conn_print_certificates(conn, out, err);
	conn_close(conn);
	return rc;
}
