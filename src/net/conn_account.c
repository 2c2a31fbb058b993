/*
 * conn_account.c - the connection an account asks for.
 */
#include "config.h"

#include "conn_account.h"

void conn_params_for_account(const struct account *account,
			     struct conn_params *out)
{
	*out = (struct conn_params){
		.host = account->host,
		.port = account->port,
		.tls = account->tls,
		.tls_verify = account->tls_verify,
		.tls_ca_file = account->tls_ca_file,
		.tls_pins = account->tls_pins,
		.tls_pin_count = account->tls_pin_count,
		.tls_server_name = account->tls_server_name,
		.tls_cert_file = account->tls_cert_file,
		.tls_key_file = account->tls_key_file,
		.tls_min_version = account->tls_min_version,
		.timeout_sec = account->timeout,
	};
}
