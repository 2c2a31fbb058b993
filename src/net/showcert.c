/* showcert.c - connect far enough to see the server's certificate. */
#include "config.h"

#include "showcert.h"

#include <stdbool.h>
#include <string.h>

#include "conn.h"
#include "conn_account.h"
#include "probe.h"

int showcert_open(const struct account *account, struct conn **out,
		  struct yb_error *err)
{
	*out = NULL;
	if (account->tls == TLS_NONE)
		return yb_fail(err, YB_ERR_USAGE, "account %s does not use TLS (tls: none)",
			       account->name);
	struct conn_params params;
	conn_params_for_account(account, &params);
	params.tls_verify = false; /* show it even if it would be refused */
	params.tls_pins = NULL;
	params.tls_pin_count = 0;
	params.account = account->name;
	struct conn *conn = NULL;
	int rc = conn_open(&params, &conn, err);
	if (rc == YB_OK && account->tls == TLS_STARTTLS) {
		char greeting[PROBE_SHOWN_MAX];
		rc = probe_greeting(conn, account->protocol, greeting,
				    sizeof(greeting), err);
		if (rc == YB_OK)
			rc = probe_starttls(conn, account->protocol, err);
		if (rc == YB_OK)
			rc = conn_start_tls(conn, err);
	}
	if (rc != YB_OK)
		conn_close(conn);
	else
		*out = conn;
	return rc;
}

int show_certificate(const struct account *account, FILE *out,
		     struct yb_error *err)
{
	struct conn *conn = NULL;
	int rc = showcert_open(account, &conn, err);
	if (rc == YB_OK)
		rc = conn_print_certificates(conn, out, err);
	conn_close(conn);
	return rc;
}
