/*
 * check_report.h - yubin --check on the command line: each account's
 * steps as lines (or JSON objects) on stdout, and the exit code.
 */
#ifndef YUBIN_CHECK_REPORT_H
#define YUBIN_CHECK_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "account.h"
#include "check.h"

/*
 * One step as a text line: "  ok    NAME  DETAIL  (N ms)", then, for a
 * hint, "        change: HINT", then the step's further lines indented.
 */
void check_report_text(FILE *out, const struct check_step *step);

/* One step as a JSON object (see yubin(1), --check --json). */
void check_report_json(FILE *out, const struct check_step *step);

/* "ok", "warn" or "FAIL". */
const char *check_mark_name(enum check_mark mark);

/*
 * Check every account in turn, writing to out; with json, the opening of
 * the summary object and its "accounts" member, for the caller to close.
 * Returns the exit code: 0, or the first failing account's.
 */
int check_report_run(const struct account **accounts, size_t count, bool json,
		     FILE *out);

#endif
