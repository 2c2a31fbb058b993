/*
 * conn_account.h - the connection an account asks for, so that conn.c
 * knows connection settings and not accounts.
 */
#ifndef YUBIN_CONN_ACCOUNT_H
#define YUBIN_CONN_ACCOUNT_H

#include "account.h"
#include "conn.h"

/* account's connection settings (the strings point into account). */
void conn_params_for_account(const struct account *account,
			     struct conn_params *out);

#endif
