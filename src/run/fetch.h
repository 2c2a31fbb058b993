/*
 * fetch.h - one account's run: connect, list, fetch what is new into the
 * sink in durable batches, record it, delete on the server if asked.
 */
#ifndef YUBIN_FETCH_H
#define YUBIN_FETCH_H

#include "account.h"
#include "error.h"
#include "fetch_report.h"

/*
 * Run one account.  Returns YB_OK or a status; err names account, host,
 * mailbox or file.  The report is filled as far as the run got, so a
 * failed run still says how much it delivered.
 */
int fetch_account(const struct account *account,
		  const struct fetch_options *options,
		  struct fetch_report *report, struct yb_error *err);

#endif
