/* check_report.c - --check's steps as text or JSON, as they end. */
#include "config.h"

#include "check_report.h"

#include <inttypes.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "log.h"

/* Where steps go, and what the accounts came to. */
struct report {
	FILE *out;
	bool json;
	size_t steps;          /* of the current account, for the JSON commas */
};

const char *check_mark_name(enum check_mark mark)
{
	return mark == CHECK_OK ? "ok" : mark == CHECK_WARN ? "warn" : "FAIL";
}

/* Each line of text, indented. */
static void print_indented(FILE *out, const char *text, const char *indent)
{
	while (*text) {
		size_t len = strcspn(text, "\n");
		fprintf(out, "%s%.*s\n", indent, (int)len, text);
		text += len;
		text += *text == '\n';
	}
}

void check_report_text(FILE *out, const struct check_step *step)
{
	fprintf(out, "  %-5s %-13s %s (%" PRId64 " ms)\n", check_mark_name(step->mark),
		step->name, step->detail ? step->detail : "", step->ms);
	if (step->hint)
		fprintf(out, "        change: %s\n", step->hint);
	if (step->more)
		print_indented(out, step->more, "        ");
}

static void json_member(FILE *out, const char *name, const char *text)
{
	fprintf(out, ",\"%s\":", name);
	if (text)
		json_write_string(out, text);
	else
		fputs("null", out);
}

void check_report_json(FILE *out, const struct check_step *step)
{
	fputs("{\"account\":", out);
	json_write_string(out, step->account);
	json_member(out, "step", step->name);
	json_member(out, "status", check_mark_name(step->mark));
	json_member(out, "detail", step->detail);
	json_member(out, "hint", step->hint);
	if (step->more)
		json_member(out, "more", step->more);
	fprintf(out, ",\"exit_code\":%d,\"ms\":%" PRId64 "}",
		yb_exit_code(step->status), step->ms);
}

static void report_step(void *ctx, const struct check_step *step)
{
	struct report *report = ctx;
	if (report->json) {
		if (report->steps > 0)
			fputc(',', report->out);
		check_report_json(report->out, step);
	} else {
		check_report_text(report->out, step);
	}
	report->steps++;
	/* Each line as it ends: a step that waits is seen waiting. */
	fflush(report->out);
}

int check_report_run(const struct account **accounts, size_t count, bool json,
		     FILE *out)
{
	struct report report = { .out = out, .json = json };
	int first_failure = 0;
	if (json)
		fputs("{\"accounts\":[", out);
	for (size_t i = 0; i < count; i++) {
		log_set_account(accounts[i]->name);
		report.steps = 0;
		if (json) {
			fprintf(out, "%s{\"name\":", i ? "," : "");
			json_write_string(out, accounts[i]->name);
			fputs(",\"steps\":[", out);
		} else {
			fprintf(out, "%saccount %s\n", i ? "\n" : "", accounts[i]->name);
		}
		int rc = check_account(accounts[i], report_step, &report);
		int code = yb_exit_code((enum yb_status)rc);
		if (json)
			fprintf(out, "],\"status\":\"%s\",\"exit_code\":%d}",
				yb_status_name((enum yb_status)rc), code);
		else
			fprintf(out, "  %s\n", rc == YB_OK ? "every step passed"
				: "stopped at the first failure");
		if (first_failure == 0)
			first_failure = code;
		log_set_account(NULL);
	}
	if (json)
		fprintf(out, "],\"exit_code\":%d", first_failure);
	return first_failure;
}
