/*
 * showcert.h - yubin --show-cert: the server's certificate chain and
 * fingerprints, for checking a server before trusting or pinning it.
 */
#ifndef YUBIN_SHOWCERT_H
#define YUBIN_SHOWCERT_H

#include <stdio.h>

#include "account.h"
#include "conn.h"
#include "error.h"

/*
 * Connect as the account says (implicit TLS, or STARTTLS/STLS after the
 * greeting; nothing is sent that needs a password), print the chain with
 * conn_print_certificates and say whether it would be trusted.  The
 * certificate is shown even when it would be refused: that is the point.
 */
int show_certificate(const struct account *account, FILE *out,
		     struct yb_error *err);

/*
 * The connection show_certificate prints from: TLS as the account says,
 * with no verification and no pin; the caller closes *out.  For --check,
 * to name the fingerprint of a certificate that was refused.
 */
int showcert_open(const struct account *account, struct conn **out,
		  struct yb_error *err);

#endif
