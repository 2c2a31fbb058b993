/* cli.c - parsing the command line. */
#include "config.h"

#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"
#include "text.h"

enum long_only { OPT_JSON = 256, OPT_SYSLOG, OPT_VERSION, OPT_PROGRESS,
		 OPT_NO_PROGRESS, OPT_SHOW_CERT, OPT_AUTHORIZE,
		 OPT_ASK_PASSWORD, OPT_ACCEPT_NEW_UIDLS, OPT_IMPORT,
		 OPT_LIST_FOLDERS, OPT_CHECK, OPT_WATCH, OPT_SHARD, OPT_FORCE };

static const struct option long_options[] = {
	{ "config",  required_argument, NULL, 'c' },
	{ "verbose", no_argument,       NULL, 'v' },
	{ "quiet",   no_argument,       NULL, 'q' },
	{ "dry-run", no_argument,       NULL, 'n' },
	{ "jobs",    required_argument, NULL, 'j' },
	{ "json",    no_argument,       NULL, OPT_JSON },
	{ "syslog",  no_argument,       NULL, OPT_SYSLOG },
	{ "progress", no_argument,      NULL, OPT_PROGRESS },
	{ "no-progress", no_argument,   NULL, OPT_NO_PROGRESS },
	{ "show-cert", no_argument,     NULL, OPT_SHOW_CERT },
	{ "authorize", required_argument, NULL, OPT_AUTHORIZE },
	{ "ask-password", no_argument,  NULL, OPT_ASK_PASSWORD },
	{ "accept-new-uidls", required_argument, NULL, OPT_ACCEPT_NEW_UIDLS },
	{ "import",  required_argument, NULL, OPT_IMPORT },
	{ "list-folders", required_argument, NULL, OPT_LIST_FOLDERS },
	{ "check",   no_argument,       NULL, OPT_CHECK },
	{ "watch",   no_argument,       NULL, OPT_WATCH },
	{ "shard",   required_argument, NULL, OPT_SHARD },
	{ "force",   no_argument,       NULL, OPT_FORCE },
	{ "help",    no_argument,       NULL, 'h' },
	{ "version", no_argument,       NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

void cli_print_help(void)
{
	fputs(
"Usage: yubin [OPTION]... [ACCOUNT]...\n"
"Fetch new mail of every account (or of the ACCOUNTs named) from POP3 and\n"
"IMAP servers into Maildirs or mbox files, exactly once, and remember what\n"
"was fetched.\n"
"\n"
"  -c, --config FILE  account file (default $XDG_CONFIG_HOME/yubin/config.yaml,\n"
"                     else ~/.config/yubin/config.yaml)\n"
"  -v, --verbose      say more (repeat for debug and protocol trace)\n"
"  -q, --quiet        print errors only\n"
"  -n, --dry-run      connect and count new messages; change nothing\n"
"  -j, --jobs N       fetch up to N accounts in parallel (default 1)\n"
"      --json         print one JSON summary object on standard output\n"
"      --syslog       log to syslog (mail facility) instead of stderr; with\n"
"                     no syslog to reach, say so and keep to stderr\n"
"      --progress     show a progress line: messages, bytes, rate and time left\n"
"                     (default when stderr is a terminal)\n"
"      --no-progress  do not\n"
"      --show-cert    print each account's server certificates and\n"
"                     fingerprints (for tls_fingerprint); fetch nothing\n"
"      --authorize ACCOUNT\n"
"                     obtain the OAuth2 refresh token of ACCOUNT in a browser\n"
"                     (or with a code on another device) and store it;\n"
"                     fetch nothing\n"
"      --ask-password ask on the terminal for the password of each account\n"
"                     that has no password source (never without a terminal)\n"
"      --accept-new-uidls ACCOUNT\n"
"                     let the POP3 ACCOUNT take a maildrop whose UIDLs the\n"
"                     server renumbered (fetching those messages again)\n"
"      --import FORMAT FILE\n"
"                     print the account file for FILE, a configuration of\n"
"                     another tool (FORMAT: fetchmailrc, mbsyncrc, mpoprc or\n"
"                     getmailrc), with a comment for what does not carry\n"
"                     over; fetch nothing\n"
"      --list-folders ACCOUNT\n"
"                     print the folders of the IMAP ACCOUNT, one a line:\n"
"                     name, delimiter, flags, whether it is fetched and its\n"
"                     local path; fetch nothing\n"
"      --check        walk each account's setup step by step (password\n"
"                     source, name, connection, TLS and certificate,\n"
"                     greeting, login, folders, destination, state and\n"
"                     lock), one line a step, and say what to change at\n"
"                     the first failure; fetch and write nothing\n"
"      --watch        fetch, then stay and fetch again as new mail arrives\n"
"                     (IMAP: NOTIFY on one connection where offered, else\n"
"                     IDLE on up to 8 folders an account; POP3 and the\n"
"                     rest every poll_interval) until SIGTERM or SIGINT,\n"
"                     then exit 0; with -v a line per fetch, with --json\n"
"                     one JSON object a line per fetch\n"
"      --shard K/N    fetch only the accounts in shard K (from 0) of N: those\n"
"                     whose name's hash (see yubin(1)) mod N is K, so that N\n"
"                     runs share the accounts; --shard auto takes K and N\n"
"                     from a Kubernetes Indexed Job (JOB_COMPLETION_INDEX,\n"
"                     YUBIN_SHARD_COUNT) or a Slurm job array\n"
"                     (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN,\n"
"                     SLURM_ARRAY_TASK_COUNT)\n"
"      --force        let push_deletions mark more than its share of a\n"
"                     folder deleted on the server, or all of an emptied\n"
"                     Maildir's (see yubin.yaml(5)); a missing or\n"
"                     unreadable Maildir still deletes nothing\n"
"  -h, --help         show this help and exit\n"
"      --version      show the version and exit\n"
"\n"
"A successful run prints nothing unless stderr is a terminal or -v is\n"
"given; warnings and errors always go to stderr.\n"
"\n"
"Exit status: 0 success (new mail or not), 64 usage, 69 server unreachable\n"
"or TLS refused, 70 internal error, 74 local I/O error, 75 temporary\n"
"failure (timeout, another run holds the lock), 76 protocol error,\n"
"77 authentication refused, 78 configuration error; 74 too when\n"
"push_deletions refuses a folder's deletions (nothing deleted there).  With several\n"
"accounts the worst outcome decides.  SIGINT, SIGTERM and SIGHUP stop\n"
"in order (what is running finishes and is recorded) and exit 130, 143\n"
"and 129; a second ^C stops at once.\n"
"\n"
"See yubin(1) and yubin.yaml(5).\n", stdout);
}

static int parse_jobs(const char *arg, unsigned *out, struct yb_error *err)
{
	unsigned long long jobs;
	if (!text_parse_u64(arg, strlen(arg), JOBS_MAX, &jobs) || jobs == 0)
		return yb_fail(err, YB_ERR_USAGE,
			       "-j wants a number from 1 to %d, not '%s'", JOBS_MAX, arg);
	*out = (unsigned)jobs;
	return YB_OK;
}

/* An option as the checks below name it, and whether this run has it. */
struct option_use {
	const char *name;
	bool used;
};

#define USES_COUNT(uses) (sizeof(uses) / sizeof((uses)[0]))

/* MODE with any of USES is a usage error that names every one of them,
   so that each mode says in one place what it refuses. */
static int refuse_combined(const char *mode, const struct option_use *uses,
			   size_t count, struct yb_error *err)
{
	bool any = false;
	char names[256] = "";
	size_t len = 0;
	for (size_t i = 0; i < count; i++) {
		any = any || uses[i].used;
		const char *sep = i == 0 ? "" : i + 1 == count ? " or " : ", ";
		int n = snprintf(names + len, sizeof(names) - len, "%s%s", sep,
				 uses[i].name);
		if (n > 0 && (size_t)n < sizeof(names) - len)
			len += (size_t)n;
	}
	if (!any)
		return YB_OK;
	return yb_fail(err, YB_ERR_USAGE, "%s cannot be combined with %s", mode,
		       names);
}

/* --authorize names its one account and does nothing else. */
static int check_authorize(const struct cli_options *out, struct yb_error *err)
{
	if (!out->authorize)
		return YB_OK;
	if (out->account_count > 0)
		return yb_fail(err, YB_ERR_USAGE,
			       "--authorize takes exactly one account; give no other ACCOUNT");
	const struct option_use uses[] = {
		{ "--show-cert", out->show_cert }, { "-n", out->dry_run },
		{ "--json", out->json }, { "-j", out->jobs > 1 },
	};
	return refuse_combined("--authorize", uses, USES_COUNT(uses), err);
}

/* --list-folders names its one account and does nothing else. */
static int check_list_folders(const struct cli_options *out, struct yb_error *err)
{
	if (!out->list_folders)
		return YB_OK;
	if (out->account_count > 0)
		return yb_fail(err, YB_ERR_USAGE,
			       "--list-folders takes exactly one account; give no other ACCOUNT");
	const struct option_use uses[] = {
		{ "--authorize", out->authorize }, { "--show-cert", out->show_cert },
		{ "-n", out->dry_run }, { "--json", out->json },
		{ "--ask-password", out->ask_password },
		{ "--accept-new-uidls", out->accept_new_uidls }, { "-j", out->jobs > 1 },
	};
	return refuse_combined("--list-folders", uses, USES_COUNT(uses), err);
}

/* --check looks at accounts and does nothing else. */
static int check_check(const struct cli_options *out, struct yb_error *err)
{
	if (!out->check)
		return YB_OK;
	const struct option_use uses[] = {
		{ "--authorize", out->authorize }, { "--show-cert", out->show_cert },
		{ "-n", out->dry_run }, { "--list-folders", out->list_folders },
		{ "--accept-new-uidls", out->accept_new_uidls },
		{ "--import", out->import_format != NULL }, { "--watch", out->watch },
		{ "-j", out->jobs > 1 },
	};
	return refuse_combined("--check", uses, USES_COUNT(uses), err);
}

/* --watch fetches for real, one account after the other, and stays. */
static int check_watch(const struct cli_options *out, struct yb_error *err)
{
	if (!out->watch)
		return YB_OK;
	const struct option_use uses[] = {
		{ "--authorize", out->authorize }, { "--show-cert", out->show_cert },
		{ "-n", out->dry_run }, { "--list-folders", out->list_folders },
		{ "--import", out->import_format != NULL },
		{ "--accept-new-uidls", out->accept_new_uidls }, { "-j", out->jobs > 1 },
		{ "--force", out->force },
	};
	return refuse_combined("--watch", uses, USES_COUNT(uses), err);
}

/* The environment, as shard_parse reads it. */
static const char *environment_value(const char *name)
{
	return getenv(name);
}

/* --shard chooses among the accounts a run fetches: not with the options
   that name one account, or none. */
static int check_shard(const struct cli_options *out, struct yb_error *err)
{
	if (!out->shard.count)
		return YB_OK;
	const struct option_use uses[] = {
		{ "--authorize", out->authorize }, { "--list-folders", out->list_folders },
		{ "--import", out->import_format != NULL },
	};
	return refuse_combined("--shard", uses, USES_COUNT(uses), err);
}

/* --import FORMAT FILE: a format yubin reads, one FILE, nothing else. */
static int check_import(struct cli_options *out, struct yb_error *err)
{
	if (!out->import_format)
		return YB_OK;
	enum import_format format;
	if (!import_format_from_name(out->import_format, &format))
		return yb_fail(err, YB_ERR_USAGE,
			       "--import reads fetchmailrc, mbsyncrc, mpoprc or getmailrc, not '%s'",
			       out->import_format);
	if (out->account_count != 1)
		return yb_fail(err, YB_ERR_USAGE, "--import %s takes exactly one FILE",
			       out->import_format);
	if (out->authorize || out->show_cert || out->dry_run || out->json ||
	    out->ask_password || out->accept_new_uidls || out->list_folders ||
	    out->jobs > 1)
		return yb_fail(err, YB_ERR_USAGE,
			       "--import cannot be combined with options that fetch");
	out->import_file = out->accounts[0];
	out->account_count = 0;
	return YB_OK;
}

int cli_parse(int argc, char **argv, struct cli_options *out,
	      struct yb_error *err)
{
	memset(out, 0, sizeof(*out));
	out->jobs = 1;
	out->progress = -1;
	bool quiet = false;
	int verbose = 0;
	opterr = 0;
	optind = 1;
	for (;;) {
		int opt = getopt_long(argc, argv, ":c:vqnj:h", long_options, NULL);
		if (opt == -1)
			break;
		switch (opt) {
		case 'c': out->config_path = optarg; break;
		case 'v': verbose++; break;
		case 'q': quiet = true; break;
		case 'n': out->dry_run = true; break;
		case 'j':
			if (parse_jobs(optarg, &out->jobs, err) != YB_OK)
				return YB_ERR_USAGE;
			break;
		case OPT_JSON: out->json = true; break;
		case OPT_SYSLOG: out->use_syslog = true; break;
		case OPT_PROGRESS: out->progress = 1; break;
		case OPT_NO_PROGRESS: out->progress = 0; break;
		case OPT_SHOW_CERT: out->show_cert = true; break;
		case OPT_AUTHORIZE: out->authorize = optarg; break;
		case OPT_ASK_PASSWORD: out->ask_password = true; break;
		case OPT_ACCEPT_NEW_UIDLS: out->accept_new_uidls = optarg; break;
		case OPT_IMPORT: out->import_format = optarg; break;
		case OPT_LIST_FOLDERS: out->list_folders = optarg; break;
		case OPT_CHECK: out->check = true; break;
		case OPT_WATCH: out->watch = true; break;
		case OPT_FORCE: out->force = true; break;
		case OPT_SHARD:
			if (shard_parse(optarg, environment_value, &out->shard, err) != YB_OK)
				return YB_ERR_USAGE;
			break;
		case 'h': out->show_help = true; break;
		case OPT_VERSION: out->show_version = true; break;
		case ':':
			if (optopt)
				return yb_fail(err, YB_ERR_USAGE,
					       "option -%c needs an argument", optopt);
			return yb_fail(err, YB_ERR_USAGE, "option %s needs an argument",
				       argv[optind - 1]);
		default:
			if (optopt)
				return yb_fail(err, YB_ERR_USAGE, "unknown option -%c", optopt);
			return yb_fail(err, YB_ERR_USAGE, "unknown option %s",
				       argv[optind - 1]);
		}
	}
	if (quiet && verbose)
		return yb_fail(err, YB_ERR_USAGE, "-q and -v contradict each other");
	out->verbosity = quiet ? -1 : verbose;
	out->accounts = argv + optind;
	out->account_count = argc - optind;
	if (check_authorize(out, err) != YB_OK ||
	    check_list_folders(out, err) != YB_OK ||
	    check_check(out, err) != YB_OK || check_watch(out, err) != YB_OK ||
	    check_shard(out, err) != YB_OK)
		return YB_ERR_USAGE;
	return check_import(out, err);
}
