/*
 * fuzz_imap_session.c - a whole IMAP run against fuzzed server bytes,
 * delivering into a real Maildir (or mbox) and a real state.
 *
 * As in fuzz_pop3_session.c (conn.c connects by name), the process
 * listens once on 127.0.0.1 (port 0: the kernel picks one) and, for each
 * input, a thread accepts the one connection, writes the input as the
 * server's whole side of the conversation, then shuts its side down,
 * reading and dropping what the client sends until the client closes.
 * The calling thread runs fetch_imap() as fetch.c does (tls: none,
 * allow_plaintext, timeout 2 s): greeting, CAPABILITY, login, ENABLE,
 * NAMESPACE, LIST, SELECT or EXAMINE (with QRESYNC when the state knows
 * the folder), the UID FETCH listing, pipelined UID FETCH BODY.PEEK[]
 * with the literals streamed into the sink, flag updates, UID STORE and
 * EXPUNGE, LOGOUT.  The state and the mail live in a directory made for
 * the input and removed after it.  Nothing ever connects anywhere but
 * 127.0.0.1.
 *
 * Tags: the client tags its commands y1, y2, ... and every command gets
 * exactly one tagged reply, in order, so the n-th tagged reply of a
 * session answers yn.  A '$' that starts a line of the server's bytes
 * (not inside a literal: a line ending in {N} or {N+} is followed by N
 * bytes copied as they are) becomes the next tag: the first "y1", the
 * second "y2", and so on.  "$ OK done" is thus a valid completion
 * wherever one is due, and the fuzzer may still write tags itself.
 *
 * Input: three parameter bytes, then the server's bytes.
 *   byte 0  (byte % 4) auth: 0 auto, 1 plain, 2 login, 3 cram-md5;
 *           bit 2: a password with a non-ASCII byte (LOGIN sends it as a
 *           literal)
 *   byte 1  bit 0: delete what was fetched (keep: false); bit 1: every
 *           folder ("*", each into its own Maildir under the root);
 *           bit 2: layout maildir++; bit 3: sync_flags full; bit 6:
 *           expunge all; bit 7: delete_after_days 1
 *   byte 2  (byte % 4) what the state and the Maildir hold before the run:
 *           0 nothing; 1 INBOX known (UIDVALIDITY 1000, UIDNEXT 3,
 *           HIGHESTMODSEQ 100, UIDs 1 and 2 delivered, their files
 *           present); 2 the same without HIGHESTMODSEQ; 3 no state but
 *           the two files (a first run into a Maildir holding mail);
 *           ((byte >> 2) % 4): 0 Maildir, 1 dry run, 2 mbox, 3 Maildir
 *           with max_size 64
 * Printable seeds: "000" is auth auto, keep, INBOX only, fresh, Maildir;
 * "001" is the same run into a known INBOX.
 *
 * Checked: every failure is one of the kinds imap.h names (YB_ERR_AUTH,
 * YB_ERR_TEMP, YB_ERR_PROTOCOL, YB_ERR_UNAVAILABLE; never YB_ERR_IO,
 * YB_ERR_CONFIG or YB_ERR_INTERNAL: a server cannot make local files
 * fail) with a sanitized message; the report adds up (no more fetched
 * than new, no more bytes than the server sent); a Maildir run leaves
 * nothing in tmp/ and exactly one new file per message reported fetched
 * (exactly once, whatever went wrong); a dry run changes no file; the
 * state closes (compaction) and opens again.
 *
 * The log: as in fuzz_pop3_session.c, the session logs at trace level
 * to a stand-in for syslog() that checks every line: printable, and no
 * password in any form (raw, base64, the SASL PLAIN blob) unless the
 * server's own bytes held it.  YUBIN_FUZZ_LOG=N sets another verbosity;
 * YUBIN_FUZZ_TRACE=1 also prints each line, and how the run ended, to
 * stderr (for writing seeds: replay_imap_session FILE).
 *
 * Speed: fsync(), fdatasync() and sync_file_range() are stand-ins that
 * do nothing, so a run costs no disk flushes wherever TMPDIR is; this
 * target checks what the files say, not that they survive a power loss.
 */
/* The stand-ins for syslog() must not meet fortified inline ones. */
#undef _FORTIFY_SOURCE

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fetch.h"
#include "fetch_imap.h"
#include "fuzz.h"
#include "log.h"
#include "maildir.h"
#include "mbox.h"
#include "sasl.h"
#include "sink.h"
#include "state.h"
#include "text.h"

#define SESSION_ERRORS                                                      \
	(FUZZ_STATUS(YB_ERR_AUTH) | FUZZ_STATUS(YB_ERR_TEMP) |              \
	 FUZZ_STATUS(YB_ERR_PROTOCOL) | FUZZ_STATUS(YB_ERR_UNAVAILABLE))

#define USER "fuzz-user"
#define ACCOUNT "fuzz"
static const char *const passwords[2] = {
	"fuzz-password",
	"fuzz-p\xc3\xa4ssword", /* not quotable: LOGIN sends a literal */
};

/* Stored before the run (byte 2): UIDVALIDITY and the two files. */
#define PRESET_VALIDITY "1000"
#define PRESET_FILES 2
static const struct preset_file {
	const char *dest;
	const char *text;
} preset_files[PRESET_FILES] = {
	{ "new/1.fuzz,S=18", "Subject: one\n\none\n" },
	{ "cur/2.fuzz,S=18:2,S", "Subject: two\n\ntwo\n" },
};

/* --- disk flushes cost nothing here --- */

int fsync(int fd)
{
	(void)fd;
	return 0;
}

int fdatasync(int fd)
{
	(void)fd;
	return 0;
}

int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags)
{
	(void)fd;
	(void)offset;
	(void)nbytes;
	(void)flags;
	return 0;
}

/* --- the log --- */

/* Each password raw, in base64 and as the PLAIN blob; '=' padding cut. */
#define SECRET_FORMS 6
static char *secret_forms[SECRET_FORMS];
static bool secret_sent_by_server[SECRET_FORMS];
static unsigned long log_lines;
static int log_verbosity = LOG_LEVEL_TRACE;
static bool show_trace;

static char *unpadded(char *base64)
{
	if (!base64)
		fuzz_fail("out of memory");
	size_t len = strlen(base64);
	while (len > 0 && base64[len - 1] == '=')
		base64[--len] = '\0';
	return base64;
}

static void make_secret_forms(void)
{
	for (size_t i = 0; i < 2; i++) {
		const char *password = passwords[i];
		secret_forms[3 * i] = strdup(password);
		if (!secret_forms[3 * i])
			fuzz_fail("out of memory");
		secret_forms[3 * i + 1] =
			unpadded(sasl_base64_encode(password, strlen(password)));
		secret_forms[3 * i + 2] =
			unpadded(sasl_plain_response(USER, password));
	}
}

/*
 * A form the server itself sent may be in the log as its text, raw or as
 * sanitized.
 */
static void note_server_secrets(const uint8_t *data, size_t len)
{
	size_t shown_size = 4 * len + 1;
	char *shown = malloc(shown_size);
	if (!shown)
		fuzz_fail("out of memory");
	text_sanitize(shown, shown_size, (const char *)data, len);
	for (size_t i = 0; i < SECRET_FORMS; i++) {
		const char *form = secret_forms[i];
		secret_sent_by_server[i] =
			memmem(data, len, form, strlen(form)) != NULL ||
			strstr(shown, form) != NULL;
	}
	free(shown);
}

__attribute__((format(printf, 1, 0)))
static void check_log_line(const char *format, va_list ap)
{
	char line[8192];
	int len = vsnprintf(line, sizeof(line), format, ap);
	FUZZ_CHECK(len >= 0);
	size_t shown = (size_t)len < sizeof(line) ? (size_t)len
						  : sizeof(line) - 1;
	log_lines++;
	if (show_trace)
		fprintf(stderr, "%s\n", line);
	if (!fuzz_printable(line, shown))
		fuzz_fail("a log line is not sanitized: %.200s", line);
	for (size_t i = 0; i < SECRET_FORMS; i++)
		if (!secret_sent_by_server[i] && strstr(line, secret_forms[i]))
			fuzz_fail("the password reached the log: %.200s", line);
}

/* log.c, told to use syslog, lands here instead of the C library. */
void syslog(int priority, const char *format, ...)
{
	(void)priority;
	va_list ap;
	va_start(ap, format);
	check_log_line(format, ap);
	va_end(ap);
}

/* What a fortified log.c would call for syslog(). */
void __syslog_chk(int priority, int flag, const char *format, ...)
	__attribute__((format(printf, 3, 4)));
void __syslog_chk(int priority, int flag, const char *format, ...)
{
	(void)priority;
	(void)flag;
	va_list ap;
	va_start(ap, format);
	check_log_line(format, ap);
	va_end(ap);
}

/* --- once per process --- */

static uint16_t listen_port; /* 0 until setup() ran */

static void setup(void)
{
	if (listen_port != 0)
		return;
	signal(SIGPIPE, SIG_IGN);
	make_secret_forms();
	const char *verbosity = getenv("YUBIN_FUZZ_LOG");
	if (verbosity)
		log_verbosity = (int)strtol(verbosity, NULL, 10);
	show_trace = getenv("YUBIN_FUZZ_TRACE") != NULL;
	fuzz_syslog_socket();
	log_init(log_verbosity, true);
	if (log_enabled(LOG_LEVEL_ERROR)) {
		log_error("fuzz: checking that log lines come here");
		if (log_lines != 1)
			fuzz_fail("the syslog() stand-in is not called (a "
				  "fortified build?): the log is not checked");
	}
	if (!fuzz_temp_dir())
		fuzz_fail("no temporary directory");
	listen_port = fuzz_server_listen();
}

/* --- the server's bytes, tags put in --- */

/*
 * Does seg[0..len) (a line up to and including its LF) end by announcing
 * a literal, "{N}" or "{N+}" before the CRLF or LF?  *size gets N
 * (UINT64_MAX when it does not fit).
 */
static bool announces_literal(const uint8_t *seg, size_t len, uint64_t *size)
{
	size_t end = len - 1; /* at the LF */
	if (end > 0 && seg[end - 1] == '\r')
		end--;
	if (end == 0 || seg[end - 1] != '}')
		return false;
	end--;
	if (end > 0 && seg[end - 1] == '+')
		end--;
	size_t digits_end = end;
	while (end > 0 && seg[end - 1] >= '0' && seg[end - 1] <= '9')
		end--;
	if (end == digits_end || end == 0 || seg[end - 1] != '{')
		return false;
	uint64_t value = 0;
	for (size_t i = end; i < digits_end; i++) {
		unsigned digit = (unsigned)(seg[i] - '0');
		if (value > (UINT64_MAX - digit) / 10) {
			value = UINT64_MAX;
			break;
		}
		value = value * 10 + digit;
	}
	*size = value;
	return true;
}

/* data with each line-starting '$' (outside literals) made the next tag. */
static uint8_t *put_tags(const uint8_t *data, size_t len, size_t *out_len)
{
	size_t placeholders = 0;
	for (size_t i = 0; i < len; i++)
		placeholders += data[i] == '$';
	/* "y" and up to 20 digits for each one-byte '$'. */
	size_t size = len + placeholders * 21 + 1;
	uint8_t *out = malloc(size);
	if (!out)
		fuzz_fail("out of memory");
	uint64_t tag = 0;
	size_t in = 0, o = 0, seg_start = 0;
	bool line_start = true;
	while (in < len) {
		uint8_t byte = data[in++];
		if (line_start && byte == '$') {
			int n = snprintf((char *)out + o, size - o, "y%" PRIu64,
					 ++tag);
			FUZZ_CHECK(n > 0 && (size_t)n < size - o);
			o += (size_t)n;
			line_start = false;
			continue;
		}
		out[o++] = byte;
		line_start = false;
		if (byte != '\n')
			continue;
		uint64_t literal;
		if (announces_literal(data + seg_start, in - seg_start, &literal)) {
			size_t copied = literal < len - in ? (size_t)literal
							   : len - in;
			memcpy(out + o, data + in, copied);
			o += copied;
			in += copied;
		} else {
			line_start = true;
		}
		seg_start = in;
	}
	*out_len = o;
	return out;
}

/* --- the run's directory: state and mail --- */

struct run_paths {
	char root[4096];     /* removed after each input */
	char state_dir[4096];
	char mail[4096];     /* the Maildir, or the mbox file */
};

static void make_dir(const char *path)
{
	if (mkdir(path, 0700) != 0)
		fuzz_fail("cannot make %s: %s", path, strerror(errno));
}

static void make_paths(struct run_paths *paths, bool mbox)
{
	fuzz_path(paths->root, sizeof(paths->root), fuzz_temp_dir(), "run");
	fuzz_remove_tree(paths->root);
	make_dir(paths->root);
	fuzz_path(paths->state_dir, sizeof(paths->state_dir), paths->root,
		  "state");
	make_dir(paths->state_dir);
	fuzz_path(paths->mail, sizeof(paths->mail), paths->root,
		  mbox ? "mbox" : "mail");
}

static void write_preset_files(const struct run_paths *paths)
{
	static const char *const subdirs[] = { "tmp", "new", "cur" };
	char path[4096];
	make_dir(paths->mail);
	for (size_t i = 0; i < 3; i++) {
		fuzz_path(path, sizeof(path), paths->mail, subdirs[i]);
		make_dir(path);
	}
	for (size_t i = 0; i < PRESET_FILES; i++) {
		fuzz_path(path, sizeof(path), paths->mail, preset_files[i].dest);
		fuzz_write_file(path, preset_files[i].text,
				strlen(preset_files[i].text), 0600);
	}
}

#define PRESET_CHECK(call)                                                 \
	do {                                                               \
		if ((call) != YB_OK)                                       \
			fuzz_fail("preset: %s", err.msg);                  \
	} while (0)

/* What the state knows before the run (preset 1 or 2, see the top). */
static void write_preset_state(const struct run_paths *paths, bool modseq)
{
	struct state *state = NULL;
	struct yb_error err;
	PRESET_CHECK(state_open(paths->state_dir, ACCOUNT, false, &state, &err));
	PRESET_CHECK(state_set_meta(state, "INBOX", "uidvalidity",
				    PRESET_VALIDITY, &err));
	PRESET_CHECK(state_set_meta(state, "INBOX", "uidnext", "3", &err));
	if (modseq)
		PRESET_CHECK(state_set_meta(state, "INBOX", "highestmodseq",
					    "100", &err));
	PRESET_CHECK(state_set_meta(state, "INBOX", "path", paths->mail, &err));
	for (size_t i = 0; i < PRESET_FILES; i++) {
		char key[32];
		snprintf(key, sizeof(key), PRESET_VALIDITY "/%zu", i + 1);
		PRESET_CHECK(state_intent(state, "INBOX", key,
					  preset_files[i].dest, &err));
		PRESET_CHECK(state_sync(state, &err));
		/* Long ago: delete_after_days finds them aged. */
		PRESET_CHECK(state_commit(state, "INBOX", key, 86400, &err));
	}
	PRESET_CHECK(state_close(state, &err));
}

/* Regular files under the mail tree: published (in new/ or cur/) and
   left in tmp/. */
static size_t files_published, files_in_tmp;

static int count_entry(const char *path, const struct stat *st, int type,
		       struct FTW *ftw)
{
	(void)st;
	if (type != FTW_F || ftw->level < 1)
		return 0;
	const char *dir_end = path + ftw->base - 1; /* the '/' before the name */
	const char *dir = dir_end;
	while (dir > path && dir[-1] != '/')
		dir--;
	size_t dir_len = (size_t)(dir_end - dir);
	if (dir_len == 3 && (memcmp(dir, "new", 3) == 0 ||
			     memcmp(dir, "cur", 3) == 0))
		files_published++;
	else if (dir_len == 3 && memcmp(dir, "tmp", 3) == 0)
		files_in_tmp++;
	return 0;
}

static void count_mail_files(const char *mail)
{
	files_published = 0;
	files_in_tmp = 0;
	nftw(mail, count_entry, 16, FTW_PHYS);
}

/* --- the sinks: one per local path, as fetch.c keeps them --- */

struct sink_cache {
	bool mbox;
	struct cached_sink {
		char *path;
		struct sink *sink;
	} items[16];
	size_t count;
};

static int open_sink(void *ctx, const char *path, struct sink **out,
		     struct yb_error *err)
{
	struct sink_cache *cache = ctx;
	for (size_t i = 0; i < cache->count; i++)
		if (strcmp(cache->items[i].path, path) == 0) {
			*out = cache->items[i].sink;
			return YB_OK;
		}
	if (cache->count == sizeof(cache->items) / sizeof(cache->items[0]))
		return yb_fail(err, YB_ERR_PROTOCOL, "fuzz: too many folders");
	char *copy = strdup(path);
	if (!copy)
		fuzz_fail("out of memory");
	int rc = cache->mbox ? mbox_open(path, out, err)
			     : maildir_open(path, out, err);
	if (rc != YB_OK) {
		free(copy);
		return rc;
	}
	cache->items[cache->count].path = copy;
	cache->items[cache->count].sink = *out;
	cache->count++;
	return YB_OK;
}

static void close_sinks(struct sink_cache *cache)
{
	for (size_t i = 0; i < cache->count; i++) {
		sink_close(cache->items[i].sink);
		free(cache->items[i].path);
	}
	cache->count = 0;
}

/* --- one run --- */

struct run_params {
	uint8_t auth, flags, preset;
};

static const enum auth_mech auth_by_byte[4] = {
	AUTH_AUTO, AUTH_PLAIN, AUTH_LOGIN, AUTH_CRAM_MD5,
};

static void check_report(const struct fetch_report *report, size_t server_len)
{
	FUZZ_CHECK(report->fetched <= report->new_messages);
	FUZZ_CHECK(report->too_large <= report->new_messages);
	if (report->fetched_bytes > server_len)
		fuzz_fail("%" PRIu64 " bytes fetched out of %zu bytes sent",
			  report->fetched_bytes, server_len);
}

/* The state the run left must close (compaction) and open again. */
static void check_state_closes(struct state *state, const char *state_dir)
{
	struct yb_error err;
	if (state_close(state, &err) != YB_OK)
		fuzz_fail("state_close after the run: %s", err.msg);
	struct state *again = NULL;
	if (state_open(state_dir, ACCOUNT, true, &again, &err) != YB_OK)
		fuzz_fail("the state does not open after the run: %s", err.msg);
	state_free(again);
}

static void run_fetch(const struct run_params *params, size_t server_len)
{
	unsigned preset = params->preset % 4;
	unsigned mode = (params->preset >> 2) % 4;
	bool dry_run = mode == 1, mbox = mode == 2;
	bool all_folders = (params->flags & 2) != 0;
	struct run_paths paths;
	make_paths(&paths, mbox);
	size_t preset_count = 0;
	if (preset != 0 && !mbox) {
		write_preset_files(&paths);
		preset_count = PRESET_FILES;
	}
	if ((preset == 1 || preset == 2) && !mbox)
		write_preset_state(&paths, preset == 1);

	char *folders[] = { all_folders ? "*" : "INBOX" };
	const char *password = passwords[(params->auth >> 2) & 1];
	struct account account = {
		.name = ACCOUNT,
		.protocol = PROTOCOL_IMAP,
		.host = "127.0.0.1",
		.port = listen_port,
		.tls = TLS_NONE,
		.tls_verify = true,
		.allow_plaintext = true,
		.user = USER,
		.auth = auth_by_byte[params->auth % 4],
		.password_source = PASSWORD_VALUE,
		.password = (char *)password,
		.folders = folders,
		.folder_count = 1,
		.keep = (params->flags & 1) == 0,
		.delete_after_days = (params->flags & 0x80) ? 1 : 0,
		.max_size = mode == 3 ? 64 : 0,
		.deliver = mbox ? DELIVER_MBOX : DELIVER_MAILDIR,
		.deliver_target = paths.mail,
		.state_dir = paths.state_dir,
		.timeout = 2,
		.pipelining = true,
		.layout = (params->flags & 4) ? LAYOUT_MAILDIRPP
					      : LAYOUT_VERBATIM,
		.inbox_at_root = true,
		.sync_flags = (params->flags & 8) ? SYNC_FLAGS_FULL
						  : SYNC_FLAGS_AUTO,
		.expunge_all = (params->flags & 0x40) != 0,
	};

	struct state *state = NULL;
	struct yb_error err;
	if (state_open(paths.state_dir, ACCOUNT, dry_run, &state, &err) != YB_OK)
		fuzz_fail("state_open before the run: %s", err.msg);
	struct sink_cache sinks = { .mbox = mbox };
	struct fetch_report report;
	memset(&report, 0, sizeof(report));
	/* fetch_imap wipes and frees its copy once the login is over. */
	char *secret = strdup(password);
	if (!secret)
		fuzz_fail("out of memory");
	struct fetch_options options = { .dry_run = dry_run };
	int rc = fetch_imap(&account, &secret, state, open_sink, &sinks,
			    &options, &report, &err);
	if (secret)
		fuzz_fail("fetch_imap left the password alive after its login");
	if (show_trace)
		fprintf(stderr, "fuzz: fetch_imap: %s%s%s; fetched %zu of %zu "
			"new, %zu refused, %zu too large, %zu recovered\n",
			rc == YB_OK ? "ok" : yb_status_name((enum yb_status)rc),
			rc == YB_OK ? "" : ": ", rc == YB_OK ? "" : err.msg,
			report.fetched, report.new_messages, report.refused,
			report.too_large, report.recovered);
	fuzz_check_error("fetch_imap", rc, &err, SESSION_ERRORS);
	close_sinks(&sinks);
	check_report(&report, server_len);
	if (!mbox) {
		count_mail_files(paths.mail);
		if (files_in_tmp != 0)
			fuzz_fail("%zu files left in a tmp/ after the run",
				  files_in_tmp);
		size_t expected = preset_count + (dry_run ? 0 : report.fetched);
		if (files_published != expected)
			fuzz_fail("%zu files published for %zu fetched (and %zu "
				  "there before)", files_published,
				  report.fetched, preset_count);
	}
	check_state_closes(state, paths.state_dir);
	fuzz_remove_tree(paths.root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	struct fuzz_input in = { data, size };
	struct run_params params;
	params.auth = fuzz_take_byte(&in);
	params.flags = fuzz_take_byte(&in);
	params.preset = fuzz_take_byte(&in);
	size_t server_len;
	uint8_t *server = put_tags(in.data, in.len, &server_len);
	note_server_secrets(server, server_len);
	struct fuzz_server_job job = { server, server_len };
	pthread_t thread;
	if (pthread_create(&thread, NULL, fuzz_server_serve, &job) != 0)
		fuzz_fail("cannot start the server thread");
	run_fetch(&params, server_len);
	pthread_join(thread, NULL);
	free(server);
	return 0;
}
