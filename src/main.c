/*
 * main.c - load the config, run the accounts (in parallel with -j),
 * report, and turn the worst outcome into the exit code.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "account.h"
#include "check_report.h"
#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "conn_account.h"
#include "error.h"
#include "fetch.h"
#include "fileio.h"
#include "import.h"
#include "json.h"
#include "list_folders.h"
#include "log.h"
#include "oauth2.h"
#include "outcome.h"
#include "progress.h"
#include "runstop.h"
#include "secret.h"
#include "shard.h"
#include "showcert.h"
#include "state.h"
#include "text.h"
#include "watch.h"

struct run {
	const struct cli_options *options;
	const struct config *config;
	const struct account **accounts;
	size_t account_count;
	size_t unsharded_count;  /* the accounts before --shard chose */
	struct outcomes *outcomes;
	bool print_summary;
};

/* When this run started, for --json: set once, first thing in main. */
static struct run_clock {
	struct timespec wall;    /* the date (CLOCK_REALTIME) */
	int64_t monotonic_ms;    /* for the duration, whatever the wall clock does */
} started;

static void print_summary(const struct account *account, const struct outcome *outcome,
			  bool dry_run)
{
	const struct fetch_report *report = &outcome->report;
	if (dry_run) {
		fprintf(stderr, "yubin: %s: %zu new of %zu messages on %s (dry run)\n",
			account->name, report->new_messages, report->on_server,
			account->host);
		return;
	}
	char size[32];
	progress_format_bytes(report->fetched_bytes, size, sizeof(size));
	if (report->fetched == 0)
		fprintf(stderr, "yubin: %s: no new mail (%zu on %s)", account->name,
			report->on_server, account->host);
	else
		fprintf(stderr, "yubin: %s: fetched %zu new message%s (%s) from %s",
			account->name, report->fetched, report->fetched == 1 ? "" : "s",
			size, account->host);
	if (report->deleted)
		fprintf(stderr, ", deleted %zu on the server", report->deleted);
	if (report->too_large)
		fprintf(stderr, ", %zu over max_size left there", report->too_large);
	if (report->refused)
		fprintf(stderr, ", %zu refused by the server", report->refused);
	if (report->recovered)
		fprintf(stderr, ", %zu recovered from an interrupted run", report->recovered);
	if (report->folders_skipped)
		fprintf(stderr, ", %zu folder%s skipped", report->folders_skipped,
			report->folders_skipped == 1 ? "" : "s");
	fputc('\n', stderr);
}

/* After a stop signal an account not yet begun is not begun. */
static void skip_stopped(const struct run *run, size_t index,
			 struct outcome *outcome)
{
	outcome->status = YB_ERR_TEMP;
	snprintf(outcome->message, sizeof(outcome->message),
		 "account %s: not fetched: stopped by %s",
		 run->accounts[index]->name, run_stop_signal_name());
	log_error("%s", outcome->message);
}

/* Fetch account index into outcome (zeroed). */
static void run_one(const struct run *run, size_t index,
		    struct outcome *outcome)
{
	const struct account *account = run->accounts[index];
	if (run_stopping()) {
		skip_stopped(run, index, outcome);
		return;
	}
	struct yb_error err;
	yb_error_clear(&err);
	struct fetch_options fetch_options = {
		.dry_run = run->options->dry_run,
		.accept_new_uidls = run->options->accept_new_uidls &&
			strcmp(run->options->accept_new_uidls, account->name) == 0,
		.force = run->options->force,
	};
	log_set_account(account->name);
	outcome->status = fetch_account(account, &fetch_options, &outcome->report, &err);
	progress_clear();
	snprintf(outcome->message, sizeof(outcome->message), "%s", err.msg);
	if (outcome->status != YB_OK)
		log_error("%s", err.msg);
	else if (run->print_summary)
		print_summary(account, outcome, run->options->dry_run);
	log_set_account(NULL);
}

/* Fetch account index in this process and keep its outcome. */
static void run_and_keep(const struct run *run, size_t index)
{
	struct outcome *outcome = outcomes_scratch(run->outcomes);
	run_one(run, index, outcome);
	outcomes_keep(run->outcomes, index, outcome);
}

/* Keep account index as not begun: the run is stopping. */
static void skip_and_keep(const struct run *run, size_t index)
{
	struct outcome *outcome = outcomes_scratch(run->outcomes);
	skip_stopped(run, index, outcome);
	outcomes_keep(run->outcomes, index, outcome);
}

/* --- -j: one child process per account, results back through a pipe --- */

struct child {
	pid_t pid;
	int fd;
	size_t index;
};

/* -j is capped, so one poll set on the stack holds every child. */
#define CHILDREN_POLLED JOBS_MAX

/* The children of run_parallel, for passing a stop signal on. */
struct children {
	struct child *items;
	size_t running;
	bool stop_forwarded;
};

/*
 * A stop signal sent to the parent alone (kill, a service manager) goes
 * on to every child, which stops in order as the parent would; ^C on a
 * terminal reached them already, and they take the forwarded copy for
 * the same request, not a second ^C.
 */
static void forward_stop(struct children *children)
{
	if (!run_stopping() || children->stop_forwarded)
		return;
	children->stop_forwarded = true;
	for (size_t i = 0; i < children->running; i++)
		kill(children->items[i].pid, run_stop_signal());
}

static bool read_all(int fd, void *data, size_t len, struct children *children)
{
	char *p = data;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR) {
			forward_stop(children);
			continue;
		}
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static int start_child(const struct run *run, size_t index, struct child *child)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		runstop_set_forwarder(getppid());
		struct outcome *outcome = outcomes_scratch(run->outcomes);
		run_one(run, index, outcome);
		bool sent = fd_write_all(fds[1], outcome, sizeof(*outcome)) == 0;
		_exit(sent ? 0 : 1);
	}
	close(fds[1]);
	child->pid = pid;
	child->fd = fds[0];
	child->index = index;
	return 0;
}

/*
 * The slot of a child that has finished (its outcome or its end is in the
 * pipe), waiting for the first of them: whichever account ends first frees
 * its slot, so one slow account does not hold up the next ones.
 */
static size_t finished_child(struct children *children)
{
	struct pollfd fds[CHILDREN_POLLED];
	size_t count = children->running < CHILDREN_POLLED ? children->running
							    : CHILDREN_POLLED;
	for (size_t i = 0; i < count; i++)
		fds[i] = (struct pollfd){ .fd = children->items[i].fd, .events = POLLIN };
	for (;;) {
		forward_stop(children);
		int ready = poll(fds, (nfds_t)count, -1);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0)
			return 0; /* cannot wait on all: wait on the oldest */
		for (size_t i = 0; i < count; i++)
			if (fds[i].revents)
				return i;
	}
}

/* Take the outcome of the child in SLOT and free its slot. */
static void collect_child(const struct run *run, struct children *children,
			  size_t slot)
{
	struct child *child = &children->items[slot];
	struct outcome *outcome = outcomes_scratch(run->outcomes);
	if (!read_all(child->fd, outcome, sizeof(*outcome), children)) {
		memset(outcome, 0, sizeof(*outcome));
		outcome->status = YB_ERR_INTERNAL;
		snprintf(outcome->message, sizeof(outcome->message),
			 "the process fetching account %s died",
			 run->accounts[child->index]->name);
		log_error("%s", outcome->message);
	}
	outcomes_keep(run->outcomes, child->index, outcome);
	close(child->fd);
	while (waitpid(child->pid, NULL, 0) < 0 && errno == EINTR)
		;
	children->running--;
	*child = children->items[children->running];
}

/*
 * With -j each account runs in a process of its own: make the TLS
 * contexts here, once, so that those processes share them instead of
 * each making its own.
 */
static void prepare_tls(const struct run *run)
{
	for (size_t i = 0; i < run->account_count; i++) {
		struct conn_params params;
		conn_params_for_account(run->accounts[i], &params);
		if (!conn_prepare_tls(&params))
			return;
	}
}

static void run_parallel(const struct run *run)
{
	size_t jobs = run->options->jobs;
	struct children children = { .items = calloc(jobs, sizeof(struct child)) };
	if (!children.items) {
		for (size_t i = 0; i < run->account_count; i++)
			run_and_keep(run, i);
		return;
	}
	size_t next = 0;
	while (next < run->account_count || children.running > 0) {
		while (next < run->account_count && children.running < jobs) {
			if (run_stopping()) {
				skip_and_keep(run, next++);
				continue;
			}
			struct child *slot = &children.items[children.running];
			if (start_child(run, next, slot) != 0) {
				run_and_keep(run, next++);
				continue;
			}
			children.running++;
			next++;
		}
		if (children.running == 0)
			continue;
		collect_child(run, &children, finished_child(&children));
	}
	free(children.items);
}

/* --- JSON summary --- */

static void json_string(const char *text)
{
	json_write_string(stdout, text);
}

/* RFC 3339 in UTC, to the millisecond: 2026-12-07T13:11:31.123Z. */
static void json_date(const struct timespec *when)
{
	struct tm utc;
	char date[32] = "1970-01-01T00:00:00";
	if (gmtime_r(&when->tv_sec, &utc))
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &utc);
	printf("\"%s.%03ldZ\"", date, when->tv_nsec / 1000000);
}

/* What every summary ends with: which yubin, when, and for how long (in
   seconds, to the millisecond). */
static void print_json_run(void)
{
	int64_t elapsed_ms = clock_now_ms() - started.monotonic_ms;
	printf(",\"version\":");
	json_string(PACKAGE_VERSION);
	printf(",\"started\":");
	json_date(&started.wall);
	printf(",\"duration\":%" PRId64 ".%03d", elapsed_ms / 1000,
	       (int)(elapsed_ms % 1000));
}

/* The folders fetched from: how many, and the first ones' figures. */
static void print_json_folders(const struct fetch_report *report)
{
	printf(",\"folder_count\":%zu,\"folders\":[", report->folder_count);
	for (size_t i = 0; i < report->folder_count && i < FETCH_FOLDERS_SHOWN; i++) {
		const struct fetch_folder_report *folder = &report->folders[i];
		printf("%s{\"name\":", i > 0 ? "," : "");
		json_string(folder->name);
		printf(",\"fetched\":%zu,\"bytes\":%" PRIu64 "}", folder->fetched,
		       folder->bytes);
	}
	putchar(']');
}

/* The folders not fetched: their count, and the first ones by name. */
static void print_json_skipped(const struct fetch_report *report)
{
	printf(",\"folders_skipped\":%zu,\"skipped_folders\":[", report->folders_skipped);
	for (size_t i = 0; i < report->folders_skipped && i < FETCH_SKIPPED_SHOWN; i++) {
		if (i > 0)
			putchar(',');
		json_string(report->skipped_folders[i]);
	}
	putchar(']');
}

/* --shard: which shard ran, and how many of the accounts it holds. */
static void print_json_shard(const struct run *run)
{
	const struct shard *shard = &run->options->shard;
	if (shard->count == 0)
		return;
	printf(",\"shard\":{\"index\":%u,\"count\":%u,\"from\":\"%s\","
	       "\"accounts\":%zu,\"of\":%zu}", (unsigned)shard->index,
	       (unsigned)shard->count, shard->from, run->account_count,
	       run->unsharded_count);
}

static void print_shard_summary(const struct run *run)
{
	const struct shard *shard = &run->options->shard;
	if (shard->count == 0 || !run->print_summary)
		return;
	if (run->account_count == 0)
		fprintf(stderr, "yubin: shard %u/%u (from %s) holds none of the %zu "
			"accounts: nothing to fetch\n", (unsigned)shard->index,
			(unsigned)shard->count, shard->from, run->unsharded_count);
	else
		fprintf(stderr, "yubin: shard %u/%u (from %s) holds %zu of the %zu "
			"accounts\n", (unsigned)shard->index, (unsigned)shard->count,
			shard->from, run->account_count, run->unsharded_count);
}

static void print_json(const struct run *run, int exit_code)
{
	printf("{\"accounts\":[");
	for (size_t i = 0; i < run->account_count; i++) {
		const struct outcome *o = outcomes_get(run->outcomes, i);
		const struct fetch_report *r = &o->report;
		printf("%s{\"name\":", i ? "," : "");
		json_string(run->accounts[i]->name);
		printf(",\"status\":\"%s\",\"exit_code\":%d,\"on_server\":%zu,"
		       "\"new\":%zu,\"fetched\":%zu,\"bytes\":%" PRIu64 ","
		       "\"too_large\":%zu,\"refused\":%zu,\"deleted\":%zu,"
		       "\"recovered\":%zu",
		       yb_status_name(o->status), yb_exit_code(o->status),
		       r->on_server, r->new_messages, r->fetched, r->fetched_bytes,
		       r->too_large, r->refused, r->deleted, r->recovered);
		print_json_skipped(r);
		print_json_folders(r);
		if (o->status != YB_OK) {
			printf(",\"error\":");
			json_string(o->message);
		}
		putchar('}');
	}
	putchar(']');
	print_json_shard(run);
	printf(",\"exit_code\":%d", exit_code);
	print_json_run();
	printf("}\n");
}

/* --- --watch: a line (or a JSON object) per fetch --- */

static void print_watch_line(const struct watch_fetch *fetch)
{
	const struct fetch_report *report = fetch->report;
	int64_t ms = fetch->elapsed_ms;
	if (report->fetched == 0) {
		fprintf(stderr, "yubin: account %s: nothing new (%s), checked in "
			"%lld.%02lld s\n", fetch->account->name, fetch->trigger,
			(long long)(ms / 1000), (long long)(ms % 1000 / 10));
		return;
	}
	fprintf(stderr, "yubin: account %s: %zu new in ", fetch->account->name,
		report->fetched);
	bool first = true;
	for (size_t i = 0; i < report->folder_count && i < FETCH_FOLDERS_SHOWN; i++) {
		const struct fetch_folder_report *folder = &report->folders[i];
		if (folder->fetched == 0)
			continue;
		char shown[128];
		text_sanitize(shown, sizeof(shown), folder->name, strlen(folder->name));
		fprintf(stderr, "%s%s", first ? "" : ", ", shown);
		if (report->fetched != folder->fetched)
			fprintf(stderr, " (%zu)", folder->fetched);
		first = false;
	}
	fprintf(stderr, ", delivered in %lld.%02lld s\n", (long long)(ms / 1000),
		(long long)(ms % 1000 / 10));
}

static void print_watch_json(const struct watch_fetch *fetch)
{
	const struct fetch_report *r = fetch->report;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	printf("{\"name\":");
	json_string(fetch->account->name);
	printf(",\"trigger\":");
	json_string(fetch->trigger);
	printf(",\"status\":\"%s\",\"exit_code\":%d,\"new\":%zu,\"fetched\":%zu,"
	       "\"bytes\":%" PRIu64 ",\"deleted\":%zu",
	       yb_status_name(fetch->status), yb_exit_code(fetch->status),
	       r->new_messages, r->fetched, r->fetched_bytes, r->deleted);
	print_json_folders(r);
	if (fetch->status != YB_OK) {
		printf(",\"error\":");
		json_string(fetch->message);
	}
	printf(",\"time\":");
	json_date(&now);
	printf(",\"duration\":%lld.%03d}\n", (long long)(fetch->elapsed_ms / 1000),
	       (int)(fetch->elapsed_ms % 1000));
	/* One line per fetch as it happens, for a reader at the other end
	   of a pipe. */
	fflush(stdout);
}

static void report_watch_fetch(void *ctx, const struct watch_fetch *fetch)
{
	const struct cli_options *options = ctx;
	progress_clear();
	if (fetch->status != YB_OK && run_stopping())
		log_info("%s", fetch->message); /* how a watch is meant to end */
	else if (fetch->status != YB_OK)
		log_error("%s", fetch->message);
	else if (options->verbosity >= 1)
		print_watch_line(fetch);
	if (options->json)
		print_watch_json(fetch);
}

/* --- main --- */

static bool already_selected(const struct account **accounts, size_t count,
			     const struct account *account)
{
	for (size_t i = 0; i < count; i++)
		if (accounts[i] == account)
			return true;
	return false;
}

static int select_accounts(const struct cli_options *options,
			   const struct config *config,
			   const struct account ***out, size_t *count,
			   struct yb_error *err)
{
	size_t wanted = options->account_count ? (size_t)options->account_count
					       : config->account_count;
	const struct account **accounts = calloc(wanted ? wanted : 1, sizeof(*accounts));
	if (!accounts)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	size_t selected = 0;
	for (size_t i = 0; i < wanted; i++) {
		if (options->account_count == 0) {
			accounts[selected++] = &config->accounts[i];
			continue;
		}
		const char *name = options->accounts[i];
		const struct account *account = config_find_account(config, name);
		if (!account) {
			char shown[128];
			text_sanitize(shown, sizeof(shown), name, strlen(name));
			free(accounts);
			return yb_fail(err, YB_ERR_USAGE, "no account named '%s' in %s",
				       shown, config->path);
		}
		/* A name given twice is one account: fetching it twice (in
		   parallel with -j) would only race this run for its lock. */
		if (!already_selected(accounts, selected, account))
			accounts[selected++] = account;
	}
	*out = accounts;
	*count = selected;
	return YB_OK;
}

static int fail_early(enum yb_status status, const char *message, bool json)
{
	log_error("%s", message);
	if (!json)
		return yb_exit_code(status);
	/* "error" is the kind, as it always was; "message" says what. */
	printf("{\"accounts\":[],\"exit_code\":%d,\"error\":\"%s\",\"message\":",
	       yb_exit_code(status), yb_status_name(status));
	json_string(message);
	print_json_run();
	printf("}\n");
	return yb_exit_code(status);
}

static int show_certificates(const struct account **accounts, size_t count)
{
	enum yb_status worst = YB_OK;
	for (size_t i = 0; i < count; i++) {
		struct yb_error err;
		yb_error_clear(&err);
		log_set_account(accounts[i]->name);
		int rc = show_certificate(accounts[i], stdout, &err);
		if (rc != YB_OK)
			log_error("%s", err.msg);
		worst = yb_status_worse(worst, (enum yb_status)rc);
		log_set_account(NULL);
	}
	return yb_exit_code(worst);
}

/* The account an option names, or NULL with the reason logged. */
static const struct account *named_account(const struct config *config,
					   const char *option, const char *name)
{
	const struct account *account = config_find_account(config, name);
	if (!account) {
		char shown[128];
		text_sanitize(shown, sizeof(shown), name, strlen(name));
		log_error("%s: no account named '%s' in %s", option, shown, config->path);
	}
	return account;
}

/* --authorize ACCOUNT: instructions on stdout, errors on stderr. */
static int authorize(const struct cli_options *options, const struct config *config)
{
	struct yb_error err;
	yb_error_clear(&err);
	const struct account *account = named_account(config, "--authorize",
						      options->authorize);
	if (!account)
		return yb_exit_code(YB_ERR_USAGE);
	if (!account->has_oauth2) {
		log_error("--authorize: account '%s' has no oauth2 settings", account->name);
		return yb_exit_code(YB_ERR_USAGE);
	}
	log_set_account(account->name);
	/* The account's lock: a fetch refreshing the token at the same
	   moment would otherwise race us for the cache. */
	struct state *state = NULL;
	int rc = state_open(account->state_dir, account->name, true, &state,
			    &err);
	if (rc == YB_OK)
		rc = oauth2_authorize(account, stdout, &err);
	if (state)
		state_free(state);
	if (rc != YB_OK)
		log_error("%s", err.msg);
	log_set_account(NULL);
	return yb_exit_code((enum yb_status)rc);
}

/* --list-folders ACCOUNT: the folders on stdout, errors on stderr. */
static int print_folders(const struct cli_options *options, const struct config *config)
{
	struct yb_error err;
	yb_error_clear(&err);
	const struct account *account = named_account(config, "--list-folders",
						      options->list_folders);
	if (!account)
		return yb_exit_code(YB_ERR_USAGE);
	log_set_account(account->name);
	int rc = list_folders(account, stdout, &err);
	if (rc != YB_OK)
		log_error("%s", err.msg);
	log_set_account(NULL);
	return yb_exit_code((enum yb_status)rc);
}

static int run_watch(const struct cli_options *options, const struct config *config)
{
	struct yb_error err;
	yb_error_clear(&err);
	const struct account **accounts = NULL;
	size_t count = 0;
	if (select_accounts(options, config, &accounts, &count, &err) != YB_OK)
		return fail_early(err.status, err.msg, options->json);
	/* Each watcher of a sharded fleet watches its own accounts. */
	count = shard_select(&options->shard, accounts, count);
	runstop_catch_signals();
	progress_enable(false);
	enum yb_status status = watch_accounts(accounts, count, report_watch_fetch,
					       (void *)options);
	free(accounts);
	return yb_exit_code(status);
}

static int run_accounts(const struct cli_options *options, const struct config *config)
{
	struct yb_error err;
	yb_error_clear(&err);
	struct run run = { .options = options, .config = config };
	if (select_accounts(options, config, &run.accounts, &run.account_count, &err) != YB_OK)
		return fail_early(err.status, err.msg, options->json);
	run.unsharded_count = run.account_count;
	run.account_count = shard_select(&options->shard, run.accounts, run.account_count);
	if (options->show_cert || options->check) {
		int code = options->check
			   ? check_report_run(run.accounts, run.account_count,
					      options->json, stdout)
			   : show_certificates(run.accounts, run.account_count);
		if (options->check && options->json) {
			print_json_run();
			printf("}\n");
		}
		free(run.accounts);
		return code;
	}
	/* ^C, kill, a closed terminal: stop a fetch in order, see runstop.h
	   (--show-cert and --authorize simply die, having nothing to save). */
	runstop_catch_signals();
	run.outcomes = outcomes_new(run.account_count);
	if (!run.outcomes) {
		free(run.accounts);
		return fail_early(YB_ERR_INTERNAL, "out of memory", options->json);
	}
	/* A dry run exists to be read; a real one speaks only on a terminal. */
	run.print_summary = options->verbosity >= 1 ||
			    (options->verbosity == 0 && !log_uses_syslog() &&
			     (options->dry_run || isatty(STDERR_FILENO)));
	print_shard_summary(&run);
	/* One line per terminal: not with parallel accounts, syslog or -q. */
	bool parallel = options->jobs > 1 && run.account_count > 1;
	bool progress = options->progress == 1 ||
			(options->progress == -1 && isatty(STDERR_FILENO) &&
			 options->verbosity >= 0 && !log_uses_syslog());
	progress_enable(progress && !parallel);
	if (options->jobs > 1 && run.account_count > 1) {
		prepare_tls(&run);
		run_parallel(&run);
	} else {
		for (size_t i = 0; i < run.account_count; i++)
			run_and_keep(&run, i);
	}
	conn_forget_tls();
	enum yb_status worst = YB_OK;
	for (size_t i = 0; i < run.account_count; i++)
		worst = yb_status_worse(worst, outcomes_status(run.outcomes, i));
	int exit_code = yb_exit_code(worst);
	/* Stopped by a signal: the shell's convention, 128 + its number. */
	if (run_stopping())
		exit_code = 128 + run_stop_signal();
	if (options->json)
		print_json(&run, exit_code);
	outcomes_free(run.outcomes);
	free(run.accounts);
	return exit_code;
}

/*
 * --ask-password: ask for every account this run will fetch, one after
 * the other and before any fetching, so that prompts of parallel accounts
 * never mix.
 */
static int ask_passwords(const struct cli_options *options,
			 struct config *config, struct yb_error *err)
{
	for (size_t i = 0; i < config->account_count; i++) {
		struct account *account = &config->accounts[i];
		bool wanted = options->account_count == 0;
		for (int j = 0; j < options->account_count && !wanted; j++)
			wanted = strcmp(options->accounts[j], account->name) == 0;
		int rc = wanted ? secret_ask_missing(account, err) : YB_OK;
		if (rc != YB_OK)
			return rc;
	}
	return YB_OK;
}

/* The login name a source without a user meant, as its tool would take it. */
static const char *login_name(void)
{
	const char *name = getenv("LOGNAME");
	if (!name || !name[0])
		name = getenv("USER");
	if (!name || !name[0]) {
		const struct passwd *pw = getpwuid(getuid());
		name = pw ? pw->pw_name : NULL;
	}
	return name;
}

/* --import: the account file on stdout, or the reason it is not there. */
static int import_to_stdout(const struct cli_options *options)
{
	enum import_format format;
	struct yb_error err;
	char *yaml;
	yb_error_clear(&err);
	if (!import_format_from_name(options->import_format, &format))
		return yb_exit_code(YB_ERR_USAGE);
	int status = import_file(format, options->import_file, login_name(), &yaml, &err);
	if (status != YB_OK) {
		log_error("%s", err.msg);
		return yb_exit_code(status);
	}
	fputs(yaml, stdout);
	free(yaml);
	return 0;
}

static int run(int argc, char **argv)
{
	struct cli_options options;
	struct yb_error err;
	yb_error_clear(&err);
	log_init(0, false);
	if (cli_parse(argc, argv, &options, &err) != YB_OK) {
		log_error("%s (try yubin --help)", err.msg);
		return yb_exit_code(YB_ERR_USAGE);
	}
	if (options.show_help) {
		cli_print_help();
		return 0;
	}
	if (options.show_version) {
		printf("yubin %s\n", PACKAGE_VERSION);
		return 0;
	}
	log_init(options.verbosity, options.use_syslog);
	if (options.import_format)
		return import_to_stdout(&options);
	/* A server that closes on us must be an error return, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	/* Ignored SIGCHLD, inherited from whoever started us, would reap our
	   children unasked: how an MDA or password_cmd ended would be lost. */
	signal(SIGCHLD, SIG_DFL);

	char *default_path = NULL;
	const char *path = options.config_path;
	if (!path) {
		default_path = config_default_path(&err);
		if (!default_path)
			return fail_early(err.status, err.msg, options.json);
		path = default_path;
	}
	struct config config;
	int rc = config_load(path, &config, &err);
	free(default_path);
	if (rc == YB_OK && options.ask_password && !options.authorize &&
	    !options.show_cert && !options.list_folders)
		rc = ask_passwords(&options, &config, &err);
	if (rc != YB_OK) {
		config_free(&config);
		return fail_early(err.status, err.msg, options.json);
	}
	int exit_code = options.authorize ? authorize(&options, &config)
			: options.list_folders ? print_folders(&options, &config)
			: options.watch ? run_watch(&options, &config)
			: run_accounts(&options, &config);
	config_free(&config);
	return exit_code;
}

/*
 * A closed standard descriptor would be reused by the next open (a lock
 * file, a socket) and get what was meant for it.  stdout is reopened
 * read-only, so that writing the summary there fails and is reported
 * (close_stdout) instead of vanishing; stdin and stderr get /dev/null.
 */
static void keep_standard_fds_taken(void)
{
	static const struct { int fd; int mode; } standard[] = {
		{ STDIN_FILENO, O_RDONLY }, { STDOUT_FILENO, O_RDONLY },
		{ STDERR_FILENO, O_WRONLY },
	};
	for (size_t i = 0; i < sizeof(standard) / sizeof(standard[0]); i++) {
		if (fcntl(standard[i].fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int fd = open("/dev/null", standard[i].mode | O_CLOEXEC);
		if (fd >= 0 && fd != standard[i].fd) {
			dup2(fd, standard[i].fd);
			close(fd);
		}
	}
}

/*
 * What was asked for on stdout (--json, --help, --version, --show-cert)
 * and could not be written is a failure: a full disk or a closed pipe
 * must not pass for a successful run.  A run that failed already keeps
 * its own exit code.
 */
static int close_stdout(int exit_code)
{
	bool failed = ferror(stdout) != 0;
	int errnum = 0;
	if (fclose(stdout) != 0) {
		failed = true;
		errnum = errno;
	}
	if (!failed)
		return exit_code;
	if (errnum)
		log_error("cannot write to standard output: %s", strerror(errnum));
	else
		log_error("cannot write to standard output");
	return exit_code == 0 ? yb_exit_code(YB_ERR_IO) : exit_code;
}

/*
 * Passwords and tokens live in this process's memory: a crash must not
 * leave them in a core file, and no other process of the same user may
 * read them (ptrace, /proc/PID/mem).  On Linux a process that is not
 * dumpable gets both: no core file (at most one only root can read, with
 * fs.suid_dumpable=2), and its /proc/PID files belong to root.  Commands
 * yubin runs are exec'd, which makes them dumpable again; -j children
 * are forked and stay protected.  Nothing to do if a call fails.
 */
static void protect_memory(void)
{
	struct rlimit no_core = { 0, 0 };
	(void)setrlimit(RLIMIT_CORE, &no_core);
#ifdef __linux__
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

int main(int argc, char **argv)
{
	clock_gettime(CLOCK_REALTIME, &started.wall);
	started.monotonic_ms = clock_now_ms();
	protect_memory();
	keep_standard_fds_taken();
	/* No curl_global_init() here: libcurl is loaded, and initialised, by
	   the first OAuth2 request (curl_lazy.c).  libcurl's rule is only
	   that this comes before any other thread, and yubin starts none.
	   With -j the children are forked before any request, so each loads
	   its own; if a fork fails the parent fetches that account itself,
	   and a child forked later inherits libcurl initialised, as every
	   child did when it was initialised here, with no connection to
	   share (each request's handle is gone when it returns). */
	return close_stdout(run(argc, argv));
}
