/*
 * test_oauth2.c - OAuth2 access tokens (oauth2*.c): the JSON reader, form
 * encoding and presets on their own, then refresh, cache, rotation and
 * every failure against tests/lib/oauth_server.py on 127.0.0.1 over
 * HTTPS with a CA made here.
 *
 * Every call into the module runs with verbosity 3 (-vvv) and its stderr
 * captured; the last test checks that no token the server issued, and no
 * refresh token, appears there.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "secret.h"
#include "curl_lazy.h"
#include "error.h"
#include "log.h"
#include "oauth2.h"
#include "oauth2_cache.h"
#include "oauth2_http.h"
#include "oauth2_json.h"
#include "oauth2_preset.h"
#include "text.h"

static char test_dir[PATH_MAX];
static char ca_pem[PATH_MAX];       /* the CA that signed the server */
static char other_ca_pem[PATH_MAX]; /* a CA that did not */
static char token_log[PATH_MAX];    /* every token the server issued */
static char stderr_log[PATH_MAX];   /* everything the module printed */
static char state_dir[PATH_MAX];
static char base_url[128];          /* https://127.0.0.1:PORT */
static char token_url[160];
static pid_t server_pid = -1;

/* The account every test starts from; tests change fields. */
static struct account account;
static char refresh_file[PATH_MAX];
static char refresh_cmd[PATH_MAX + 16];

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static void path_in(char *out, size_t size, const char *name)
{
	int n = snprintf(out, size, "%s/%s", test_dir, name);
	assert_true(n > 0 && (size_t)n < size);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* The whole file (up to 1 MiB) as a malloc'd string; NULL if absent. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *text = calloc(1, 1 << 20);
	assert_non_null(text);
	size_t n = fread(text, 1, (1 << 20) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static mode_t file_mode(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static int run(const char *command)
{
	int status = system(command);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void make_ca(const char *dir, const char *name)
{
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		 "-nodes -keyout %s.key -out %s.pem -days 30 -subj '/CN=yubin %s' "
		 "-addext basicConstraints=critical,CA:TRUE "
		 "-addext keyUsage=critical,keyCertSign,cRLSign >openssl.log 2>&1",
		 dir, name, name, name);
	assert_int_equal(run(cmd), 0);
}

static void make_certs(void)
{
	make_ca(test_dir, "ca");
	make_ca(test_dir, "otherca");
	char ext[PATH_MAX];
	path_in(ext, sizeof(ext), "server.ext");
	write_file(ext, "basicConstraints = critical, CA:FALSE\n"
			"keyUsage = critical, digitalSignature, keyEncipherment\n"
			"extendedKeyUsage = serverAuth\n"
			"subjectAltName = DNS:localhost, IP:127.0.0.1\n", 0644);
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		 "-nodes -keyout server.key -out server.csr -subj /CN=localhost >>openssl.log 2>&1 && "
		 "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "-out server.pem -days 30 -extfile server.ext >>openssl.log 2>&1",
		 test_dir);
	assert_int_equal(run(cmd), 0);
	path_in(ca_pem, sizeof(ca_pem), "ca.pem");
	path_in(other_ca_pem, sizeof(other_ca_pem), "otherca.pem");
}

/* Start the server; its first line of stdout is the port. */
static void start_server(void)
{
	const char *srcdir = getenv("top_srcdir");
	const char *python = getenv("PYTHON3");
	char script[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	snprintf(script, sizeof(script), "%s/tests/lib/oauth_server.py",
		 srcdir && srcdir[0] ? srcdir : ".");
	path_in(cert, sizeof(cert), "server.pem");
	path_in(key, sizeof(key), "server.key");
	path_in(token_log, sizeof(token_log), "tokens.log");
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	server_pid = fork();
	assert_true(server_pid >= 0);
	if (server_pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execlp(python && python[0] ? python : "python3", "python3", script,
		       "--cert", cert, "--key", key, "--client", "yubin-test",
		       "--client", "other-client", "--client", "secret-client:s3cr3t",
		       "--refresh-token", "RT-seed-1=alice",
		       "--token-log", token_log, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char line[32] = "";
	FILE *out = fdopen(fds[0], "r");
	assert_non_null(out);
	assert_non_null(fgets(line, sizeof(line), out));
	fclose(out);
	unsigned long port = strtoul(line, NULL, 10);
	assert_true(port > 0 && port < 65536);
	snprintf(base_url, sizeof(base_url), "https://127.0.0.1:%lu", port);
	snprintf(token_url, sizeof(token_url), "%s/token", base_url);
}

static size_t collect(char *data, size_t size, size_t count, void *userdata)
{
	struct oauth2_buf *buf = userdata;
	oauth2_buf_append(buf, data, size * count);
	return size * count;
}

/* A request to the server's test endpoints; the body as a string. */
static char *server_request(const char *path, const char *json_body)
{
	char url[256];
	snprintf(url, sizeof(url), "%s%s", base_url, path);
	struct yb_error err;
	assert_int_equal(curl_lazy_load(&err), YB_OK);
	CURL *curl = curl_lazy_easy_init();
	assert_non_null(curl);
	struct oauth2_buf body = { 0 };
	curl_lazy_setopt_string(curl, CURLOPT_URL, url);
	curl_lazy_setopt_string(curl, CURLOPT_CAINFO, ca_pem);
	curl_lazy_setopt_write(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_lazy_setopt_data(curl, CURLOPT_WRITEDATA, &body);
	if (json_body)
		curl_lazy_setopt_string(curl, CURLOPT_POSTFIELDS, json_body);
	assert_int_equal(curl_lazy_easy_perform(curl), CURLE_OK);
	curl_lazy_easy_cleanup(curl);
	char *text = strdup(body.data ? body.data : "");
	oauth2_buf_free(&body);
	return text;
}

static void control(const char *json)
{
	free(server_request("/_control", json));
}

/* How many requests the server has had for "POST /token". */
static long token_requests(void)
{
	char *stats = server_request("/_stats", NULL);
	const char *at = strstr(stats, "\"POST /token\": ");
	long count = at ? strtol(at + strlen("\"POST /token\": "), NULL, 10) : 0;
	free(stats);
	return count;
}

/* The last token of kind the server issued (from its token log). */
static char *last_token(const char *kind)
{
	char *log = read_file(token_log);
	assert_non_null(log);
	char needle[64];
	snprintf(needle, sizeof(needle), "{\"kind\": \"%s\", \"token\": \"", kind);
	char *found = NULL;
	for (char *at = strstr(log, needle); at; at = strstr(at + 1, needle))
		found = at + strlen(needle);
	assert_non_null(found);
	char *token = strndup(found, strcspn(found, "\""));
	free(log);
	return token;
}

/* Call oauth2_access_token with stderr going to stderr_log. */
static int get_token(bool force, char **token, bool *fresh,
		     struct yb_error *err)
{
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	int fd = open(stderr_log, O_WRONLY | O_APPEND | O_CREAT, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	yb_error_clear(err);
	int rc = oauth2_access_token(&account, force, token, fresh, err);
	fprintf(stderr, "%s\n", err->msg); /* error messages count too */
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	return rc;
}

/* A token must come back; returns it (free with secret_free). */
static char *token_ok(bool force, bool want_fresh)
{
	char *token = NULL;
	bool fresh = !want_fresh;
	struct yb_error err;
	int rc = get_token(force, &token, &fresh, &err);
	if (rc != YB_OK)
		print_error("unexpected error: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
	assert_non_null(token);
	assert_int_equal(fresh, want_fresh);
	return token;
}

/* An error must come back; returns its message (static). */
static const char *token_fails(enum yb_status want)
{
	static struct yb_error err;
	char *token = (char *)"unchanged";
	bool fresh = true;
	int rc = get_token(false, &token, &fresh, &err);
	if (rc != (int)want)
		print_error("status %d, message: %s\n", rc, err.msg);
	assert_int_equal(rc, want);
	assert_int_equal(err.status, want);
	assert_null(token);
	assert_false(fresh);
	return err.msg;
}

static void cache_path(char *out, size_t size)
{
	int n = snprintf(out, size, "%s/work/%s", state_dir, OAUTH2_CACHE_NAME);
	assert_true(n > 0 && (size_t)n < size);
}

/* ------------------------------------------------------------------ */
/* Loading libcurl                                                     */

/* libcurl is loaded on first use, and a failed load leaves nothing
   behind: this runs before any test that loads it. */
static void test_curl_load(void **state)
{
	(void)state;
	struct yb_error err;
#ifdef YUBIN_TEST_HOOKS
	setenv("YUBIN_TEST_LIBCURL", "/nonexistent/libcurl.so.4", 1);
	yb_error_clear(&err);
	assert_int_equal(curl_lazy_load(&err), YB_ERR_UNAVAILABLE);
	assert_int_equal(err.status, YB_ERR_UNAVAILABLE);
	const char *missing = "OAuth2 needs libcurl (/nonexistent/libcurl.so.4): ";
	assert_memory_equal(err.msg, missing, strlen(missing));
	assert_non_null(strstr(err.msg, "No such file"));

	/* A library without libcurl's functions. */
	setenv("YUBIN_TEST_LIBCURL", "libc.so.6", 1);
	yb_error_clear(&err);
	assert_int_equal(curl_lazy_load(&err), YB_ERR_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "OAuth2 needs libcurl (libc.so.6): "));
	assert_non_null(strstr(err.msg, "curl_global_init"));
	unsetenv("YUBIN_TEST_LIBCURL");
#endif
	yb_error_clear(&err);
	assert_int_equal(curl_lazy_load(&err), YB_OK);
	assert_int_equal(curl_lazy_load(&err), YB_OK);
	assert_string_equal(curl_lazy_easy_strerror(CURLE_OK), "No error");
}

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	snprintf(test_dir, sizeof(test_dir), "%s/yubin-oauth2-XXXXXX",
		 tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(test_dir))
		return -1;
	/* Proxies from the environment must not see 127.0.0.1 requests. */
	setenv("NO_PROXY", "127.0.0.1", 1);
	setenv("no_proxy", "127.0.0.1", 1);
	path_in(stderr_log, sizeof(stderr_log), "stderr.log");
	path_in(state_dir, sizeof(state_dir), "state");
	path_in(refresh_file, sizeof(refresh_file), "refresh-token");
	snprintf(refresh_cmd, sizeof(refresh_cmd), "cat '%s'", refresh_file);
	make_certs();
	start_server();
	log_init(3, false);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	return nftw(test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Each test: a default server, no cache, the refresh token in the cache
   source unless the test says otherwise. */
static int reset(void **state)
{
	(void)state;
	control("{\"fail\": \"\", \"rotate\": false, \"expires_in\": 3600, "
		"\"token_type\": \"Bearer\", \"refresh_tokens\": {\"RT-seed-1\": \"alice\"}}");
	char cmd[2 * PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", state_dir, refresh_file);
	run(cmd);
	memset(&account, 0, sizeof(account));
	account.name = (char *)"work";
	account.user = (char *)"alice@example.com";
	account.state_dir = state_dir;
	account.timeout = 10;
	account.has_oauth2 = true;
	account.oauth2.token_url = token_url;
	account.oauth2.client_id = (char *)"yubin-test";
	account.oauth2.ca_file = ca_pem;
	account.oauth2.refresh_source = OAUTH2_REFRESH_FILE;
	account.oauth2.refresh_token_file = refresh_file;
	write_file(refresh_file, "RT-seed-1\n", 0600);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Pure parts                                                          */

struct sample {
	char *access_token;
	char *error;
	struct oauth2_json_uint expires_in;
};

static const struct oauth2_json_field sample_fields[] = {
	{ "access_token", OAUTH2_JSON_STRING, offsetof(struct sample, access_token) },
	{ "error", OAUTH2_JSON_STRING, offsetof(struct sample, error) },
	{ "expires_in", OAUTH2_JSON_UINT, offsetof(struct sample, expires_in) },
};

static bool parse_sample(const char *json, struct sample *out, char *why)
{
	memset(out, 0, sizeof(*out));
	return oauth2_json_parse(json, strlen(json), sample_fields, 3, 1000000,
				 out, why, 128);
}

static void test_json_reader(void **state)
{
	(void)state;
	struct sample s;
	char why[128];
	assert_true(parse_sample("{\"access_token\":\"a\\/b\\u0041\",\"expires_in\":3599,"
				 "\"scope\":[\"x\",{\"y\":1}],\"extra\":{\"a\":[1,2]}}", &s, why));
	assert_string_equal(s.access_token, "a/bA");
	assert_true(s.expires_in.present);
	assert_int_equal(s.expires_in.value, 3599);
	oauth2_json_free(sample_fields, 3, &s);
	/* Some endpoints send numbers as strings; null is absent. */
	assert_true(parse_sample("{ \"expires_in\" : \"60\", \"error\": null }", &s, why));
	assert_int_equal(s.expires_in.value, 60);
	assert_null(s.error);
	oauth2_json_free(sample_fields, 3, &s);
	/* Microsoft's tokens are JWTs of a few kilobytes. */
	char *big = malloc(5000);
	assert_non_null(big);
	strcpy(big, "{\"token_type\":\"Bearer\",\"access_token\":\"");
	size_t len = strlen(big);
	memset(big + len, 'j', 4000);
	strcpy(big + len + 4000, "\",\"expires_in\":1}");
	assert_true(parse_sample(big, &s, why));
	assert_int_equal(strlen(s.access_token), 4000);
	oauth2_json_free(sample_fields, 3, &s);
	free(big);
}

static void test_json_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "[1]", "\"text\"", "<html>", "{\"access_token\":\"a\"} {}",
		"{\"access_token\":\"a\",\"access_token\":\"b\"}",
		"{\"expires_in\":-1}", "{\"expires_in\":99999999}",
		"{\"expires_in\":\"soon\"}", "{\"access_token\":[\"a\"]}",
		"{\"a\": &x 1, \"b\": *x}", "{\"access_token\":\"a\\u0000b\"}",
		"{\"x\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sample s;
		char why[128];
		bool ok = parse_sample(bad[i], &s, why);
		if (ok)
			print_error("accepted: %s\n", bad[i]);
		assert_false(ok);
		assert_true(why[0] != '\0');
		oauth2_json_free(sample_fields, 3, &s);
	}
}

/* Bytes to parse with their length (they may hold a NUL). */
static bool parse_sample_len(const char *json, size_t len, struct sample *out,
			     char *why)
{
	memset(out, 0, sizeof(*out));
	return oauth2_json_parse(json, len, sample_fields, 3, 1000000, out, why,
				 128);
}

/* YAML that libyaml reads as a mapping, and JSON's near misses: a token
   endpoint's reply is JSON, so each is refused. */
static void test_json_not_yaml(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"access_token: abc\nexpires_in: 5\n",         /* block mapping */
		"{\"access_token\": !!binary \"YWJj\"}",      /* a tag */
		"{\"access_token\": !!str 5}",
		"{\"access_token\": &a \"x\"}",               /* an anchor */
		"{'access_token': 'a'}",                      /* single quotes */
		"{\"access_token\": \"a\"} # comment",
		"{\"access_token\": \"a\" # comment\n}",
		"{\"access_token\": ~}",
		"{\"expires_in\": ~}",
		"{access_token: \"a\"}",                      /* plain scalars */
		"{\"access_token\": abc}",
		"{\"access_token\": True}",
		"--- {\"access_token\": \"a\"}",              /* document markers */
		"{\"access_token\": \"a\"}\n...\n",
		"%YAML 1.1\n---\n{\"access_token\": \"a\"}",
		"{? \"access_token\" : \"a\"}",
		"{\"access_token\": \"a\",}",                 /* trailing commas */
		"{\"x\": [1,], \"access_token\": \"a\"}",
		"{\"access_token\": \"a\" \"error\": \"b\"}",
		"{\"access_token\": \"a\\x41\"}",             /* YAML escapes */
		"{\"access_token\": \"a\\e\"}",
		"{\"access_token\": \"a\\N\"}",
		"{\"access_token\": \"a\\U0001F600\"}",
		"{\"access_token\": \"a\tb\"}",               /* raw controls */
		"{\"access_token\": \"a\nb\"}",
		"{\"expires_in\": 0x10}", "{\"expires_in\": +5}",
		"{\"expires_in\": 05}", "{\"x\": .5}", "{\"x\": 1.}",
		"{\"x\": 1e}", "{\"x\": -}", "{\"x\": 0o7}", "{\"x\": .inf}",
		"{\"expires_in\": 1.5}", "{\"expires_in\": 1e3}",
		"{\"expires_in\": true}", "{\"access_token\": false}",
		"{\"access_token\": {}}",
		"{\"access_token\": \"\\ud800\"}",             /* lone surrogates */
		"{\"access_token\": \"\\udc00\"}",
		"{\"access_token\": \"\\ud800\\u0041\"}",
		"{\"access_token\": \"\\u12\"}",
		"{\"access_token\": \"\xff\"}",                /* not UTF-8 */
		"{\"access_token\": \"\xc0\xaf\"}",
		"{\"access_token\": \"\xed\xa0\x80\"}",
		"\xef\xbb\xbf{\"access_token\": \"a\"}",       /* a BOM */
		"{\"access_token\": null, \"access_token\": \"b\"}",
		"{\"acc\\u0065ss_token\": \"a\", \"access_token\": \"b\"}",
		"{\"x\": 1}}", "{\"x\": 1", "{\"x\"", "{\"x\":", "{",
		"{\f\"x\": 1}", "{\"x\": nul}", "{\"x\": [1 2]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sample s;
		char why[128];
		bool ok = parse_sample(bad[i], &s, why);
		if (ok)
			print_error("accepted: %s\n", bad[i]);
		assert_false(ok);
		assert_true(why[0] != '\0');
		oauth2_json_free(sample_fields, 3, &s);
	}
	/* A NUL outside any string. */
	struct sample s;
	char why[128];
	assert_false(parse_sample_len("{\"x\": 1}\0", 9, &s, why));
	assert_false(parse_sample_len("{\"x\":\0 1}", 9, &s, why));
	oauth2_json_free(sample_fields, 3, &s);
}

/* JSON's own variety: escapes, code points, numbers, nesting. */
static void test_json_variants(void **state)
{
	(void)state;
	struct sample s;
	char why[128];
	assert_true(parse_sample("{\"access_token\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", &s, why));
	assert_string_equal(s.access_token, "\"\\/\b\f\n\r\t");
	oauth2_json_free(sample_fields, 3, &s);
	/* \u escapes become UTF-8, surrogate pairs one 4-byte character;
	   raw UTF-8 passes through. */
	assert_true(parse_sample("{\"access_token\":\"\\u00e9\\u20AC\\ud83d\\ude00\\u0001\xe6\x97\xa5\"}",
				 &s, why));
	assert_string_equal(s.access_token, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x01\xe6\x97\xa5");
	oauth2_json_free(sample_fields, 3, &s);
	/* A member name is compared decoded; nested objects are not
	   members, so their names neither count nor repeat. */
	assert_true(parse_sample(" \t\r\n{ \"x\" : {\"access_token\":\"no\",\"access_token\":1},"
				 "\"acc\\u0065ss_token\" :\"yes\" , \"y\":[{\"error\":\"no\"}] ,"
				 "\"z\":[true,false,null,-1.5e+10,0.0,1E5,\"s\",[],{}] } \n",
				 &s, why));
	assert_string_equal(s.access_token, "yes");
	assert_null(s.error);
	oauth2_json_free(sample_fields, 3, &s);
	/* A number where a string is read is kept as written. */
	assert_true(parse_sample("{\"access_token\":-12.5e3,\"error\":\"\"}", &s, why));
	assert_string_equal(s.access_token, "-12.5e3");
	assert_string_equal(s.error, "");
	oauth2_json_free(sample_fields, 3, &s);
	static const struct {
		const char *json;
		unsigned long long value;
	} numbers[] = {
		{ "{\"expires_in\":0}", 0 },
		{ "{\"expires_in\":3599}", 3599 },
		{ "{\"expires_in\":\"3599\"}", 3599 },
		{ "{\"expires_in\":1000000}", 1000000 },
	};
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		assert_true(parse_sample(numbers[i].json, &s, why));
		assert_true(s.expires_in.present);
		assert_int_equal(s.expires_in.value, numbers[i].value);
	}
	assert_true(parse_sample("{}", &s, why));
	assert_false(s.expires_in.present);
	assert_false(parse_sample("{\"expires_in\":1000001}", &s, why));
	assert_false(parse_sample("{\"expires_in\":-0}", &s, why));
}

/* ------------------------------------------------------------------ */
/* Generated JSON                                                      */

/* splitmix64: a fixed seed gives the same texts on every machine. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
	return (unsigned)(rng() % n);
}

/* A text being generated; every append is checked against size. */
struct gen {
	char text[OAUTH2_JSON_MAX_BYTES];
	size_t len;
};

static void gen_put(struct gen *g, const char *s, size_t n)
{
	assert_true(n < sizeof(g->text) - g->len);
	memcpy(g->text + g->len, s, n);
	g->len += n;
}

static void gen_str(struct gen *g, const char *s)
{
	gen_put(g, s, strlen(s));
}

static void gen_space(struct gen *g)
{
	static const char *const spaces[] = { "", "", "", " ", "\n", "\t", "\r\n  " };
	gen_str(g, spaces[below(7)]);
}

static size_t utf8_put(char *out, uint32_t cp)
{
	unsigned char *o = (unsigned char *)out;
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Any code point but a surrogate; NUL only when allowed. */
static uint32_t random_code_point(bool nul_ok)
{
	for (;;) {
		uint32_t cp;
		switch (below(6)) {
		case 0: cp = below(0x20); break;
		case 1: cp = "\"\\/"[below(3)]; break;
		case 2: cp = 0x80 + below(0x780); break;
		case 3: cp = 0x800 + below(0xf800); break;
		case 4: cp = 0x10000 + below(0x100000); break;
		default: cp = 0x20 + below(0x5f); break;
		}
		if ((cp >= 0xd800 && cp <= 0xdfff) || (cp == 0 && !nul_ok))
			continue;
		return cp;
	}
}

/* \uXXXX, in lower or upper case hex as chance has it. */
static void gen_unit(struct gen *g, unsigned unit)
{
	char buf[8];
	snprintf(buf, sizeof(buf), "\\u%04x", unit);
	if (below(2))
		for (char *p = buf + 2; *p; p++)
			if (*p >= 'a' && *p <= 'f')
				*p = (char)(*p - 'a' + 'A');
	gen_str(g, buf);
}

/* cp written raw where JSON allows it, or escaped one of its ways. */
static void gen_code_point(struct gen *g, uint32_t cp)
{
	static const char short_of[] = "\"\\/\b\f\n\r\t";
	static const char short_as[] = "\"\\/bfnrt";
	char buf[4];
	const char *hit = cp > 0 && cp < 0x80 ? strchr(short_of, (int)cp) : NULL;
	bool must_escape = cp < 0x20 || cp == '"' || cp == '\\';
	unsigned how = below(3);
	if (!must_escape && how == 0) {
		gen_put(g, buf, utf8_put(buf, cp));
	} else if (hit && how == 1) {
		buf[0] = '\\';
		buf[1] = short_as[hit - short_of];
		gen_put(g, buf, 2);
	} else if (cp < 0x10000) {
		gen_unit(g, cp);
	} else {
		gen_unit(g, 0xd800 + ((cp - 0x10000) >> 10));
		gen_unit(g, 0xdc00 + ((cp - 0x10000) & 0x3ff));
	}
}

/* A random string into g; its decoded UTF-8 into expect (if not NULL,
   of size at least 4 * max + 1). */
static void gen_string(struct gen *g, unsigned max, bool nul_ok, char *expect)
{
	unsigned n = below(max + 1);
	size_t e = 0;
	gen_str(g, "\"");
	for (unsigned i = 0; i < n; i++) {
		uint32_t cp = random_code_point(nul_ok);
		gen_code_point(g, cp);
		if (expect)
			e += utf8_put(expect + e, cp);
	}
	gen_str(g, "\"");
	if (expect)
		expect[e] = '\0';
}

/* A number in JSON's grammar, any of its parts present or not. */
static void gen_number(struct gen *g)
{
	char buf[64];
	int len = snprintf(buf, sizeof(buf), "%s%u", below(2) ? "-" : "",
			   below(3) ? below(100000) : 0);
	if (below(2))
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, ".%u", below(1000));
	if (below(3) == 0)
		snprintf(buf + len, sizeof(buf) - (size_t)len, "%c%s%u",
			 below(2) ? 'e' : 'E', (const char *[]){ "", "+", "-" }[below(3)],
			 below(400));
	gen_str(g, buf);
}

static void gen_value(struct gen *g, unsigned depth);

/* An object or array of random values, whose member names are some of
   the sample's: nested ones do not count as the sample's members. */
static void gen_container(struct gen *g, unsigned depth, bool object)
{
	unsigned n = below(5);
	gen_str(g, object ? "{" : "[");
	for (unsigned i = 0; i < n; i++) {
		gen_space(g);
		if (i > 0) {
			gen_str(g, ",");
			gen_space(g);
		}
		if (object) {
			if (below(3) == 0)
				gen_str(g, (const char *[]){ "\"access_token\"", "\"error\"",
							    "\"expires_in\"" }[below(3)]);
			else
				gen_string(g, 8, true, NULL);
			gen_space(g);
			gen_str(g, ":");
			gen_space(g);
		}
		gen_value(g, depth + 1);
	}
	gen_space(g);
	gen_str(g, object ? "}" : "]");
}

static void gen_value(struct gen *g, unsigned depth)
{
	unsigned kind = below(depth < OAUTH2_JSON_MAX_DEPTH - 1 ? 8 : 6);
	switch (kind) {
	case 0: gen_str(g, "true"); break;
	case 1: gen_str(g, "false"); break;
	case 2: gen_str(g, "null"); break;
	case 3: case 4: gen_number(g); break;
	case 5: gen_string(g, 20, true, NULL); break;
	default: gen_container(g, depth, kind == 6); break;
	}
}

/* What the sample's members should read back as. */
struct expected {
	char access_token[4 * 40 + 1];
	bool has_access_token;
	char error[4 * 40 + 1];
	bool has_error;
	bool has_expires_in;
	unsigned long long expires_in;
};

/* One of the sample's members, i (0..2), with a value of its kind. */
static void gen_member(struct gen *g, unsigned i, struct expected *e)
{
	char digits[32];
	gen_str(g, (const char *[]){ "\"access_token\"", "\"error\"",
				    "\"expires_in\"" }[i]);
	gen_space(g);
	gen_str(g, ":");
	gen_space(g);
	if (below(5) == 0) {
		gen_str(g, "null");
		return;
	}
	if (i == 2) {
		e->has_expires_in = true;
		e->expires_in = rng() % 1000001;
		snprintf(digits, sizeof(digits), below(2) ? "%llu" : "\"%llu\"",
			 e->expires_in);
		gen_str(g, digits);
		return;
	}
	char *expect = i == 0 ? e->access_token : e->error;
	*(i == 0 ? &e->has_access_token : &e->has_error) = true;
	gen_string(g, 40, false, expect);
}

/* An object holding each sample member at most once, in a random place
   among others; a few of the others have names longer than 1024
   bytes, which JSON allows. */
static void gen_object(struct gen *g, struct expected *e)
{
	bool used[3] = { false, false, false };
	unsigned n = below(8);
	memset(e, 0, sizeof(*e));
	gen_space(g);
	gen_str(g, "{");
	for (unsigned m = 0; m < n; m++) {
		gen_space(g);
		if (m > 0) {
			gen_str(g, ",");
			gen_space(g);
		}
		unsigned which = below(6);
		if (which < 3 && !used[which]) {
			used[which] = true;
			gen_member(g, which, e);
			continue;
		}
		if (below(20) == 0) {
			gen_str(g, "\"");
			for (unsigned k = 0; k < 1100 + below(200); k++)
				gen_str(g, "k");
			gen_str(g, "\"");
		} else {
			gen_string(g, 10, true, NULL);
		}
		gen_space(g);
		gen_str(g, ":");
		gen_space(g);
		gen_value(g, 1);
	}
	gen_space(g);
	gen_str(g, "}");
	gen_space(g);
}

static void check_string(const char *got, bool has, const char *want,
			 const char *text)
{
	if (!has) {
		if (got)
			print_error("unexpected member in: %s\n", text);
		assert_null(got);
		return;
	}
	if (!got || strcmp(got, want) != 0)
		print_error("wrong value in: %s\n", text);
	assert_non_null(got);
	assert_string_equal(got, want);
}

/* Seeded random JSON objects read back exactly what was written. */
static void test_json_round_trip(void **state)
{
	(void)state;
	struct gen *g = malloc(sizeof(*g));
	assert_non_null(g);
	rng_state = 20240611;
	for (int round = 0; round < 2000; round++) {
		struct expected e;
		struct sample s;
		char why[128];
		g->len = 0;
		gen_object(g, &e);
		bool ok = parse_sample_len(g->text, g->len, &s, why);
		if (!ok)
			print_error("round %d refused (%s): %.*s\n", round, why,
				    (int)g->len, g->text);
		assert_true(ok);
		check_string(s.access_token, e.has_access_token, e.access_token, g->text);
		check_string(s.error, e.has_error, e.error, g->text);
		assert_int_equal(s.expires_in.present, e.has_expires_in);
		if (e.has_expires_in)
			assert_int_equal(s.expires_in.value, e.expires_in);
		oauth2_json_free(sample_fields, 3, &s);
	}
	free(g);
}

static bool is_utf8(const char *s)
{
	size_t len = strlen(s), pos = 0;
	uint32_t cp;
	while (pos < len)
		if (!text_utf8_next(s, len, &pos, &cp))
			return false;
	return true;
}

/* Generated objects with bytes changed, dropped, added or cut: never a
   crash (valgrind watches), and whatever is accepted is UTF-8. */
static void test_json_mutations(void **state)
{
	(void)state;
	struct gen *g = malloc(sizeof(*g));
	assert_non_null(g);
	static const char interesting[] = "{}[]\",:\\u0123456789eE+-.tfn \t\n\x80\xc3\xed\xf0\xff";
	rng_state = 7;
	unsigned accepted = 0;
	for (int round = 0; round < 5000; round++) {
		struct expected e;
		g->len = 0;
		gen_object(g, &e);
		for (unsigned k = 1 + below(4); k > 0 && g->len > 0; k--) {
			size_t at = below((unsigned)g->len);
			char byte = below(2) ? interesting[below(sizeof(interesting) - 1)]
					     : (char)below(256);
			switch (below(4)) {
			case 0: g->text[at] = byte; break;
			case 1: memmove(g->text + at, g->text + at + 1, g->len - at - 1);
				g->len--; break;
			case 2: if (g->len + 1 < sizeof(g->text)) {
					memmove(g->text + at + 1, g->text + at, g->len - at);
					g->text[at] = byte;
					g->len++;
				}
				break;
			default: g->len = at; break;
			}
		}
		/* Exactly len bytes: valgrind catches a read past them. */
		char *copy = malloc(g->len ? g->len : 1);
		assert_non_null(copy);
		memcpy(copy, g->text, g->len);
		struct sample s;
		char why[128];
		if (parse_sample_len(copy, g->len, &s, why)) {
			accepted++;
			assert_true(!s.access_token || is_utf8(s.access_token));
			assert_true(!s.error || is_utf8(s.error));
		} else {
			assert_true(why[0] != '\0');
		}
		oauth2_json_free(sample_fields, 3, &s);
		free(copy);
	}
	/* Some mutations leave valid JSON; all of them refused would mean
	   the generator broke. */
	assert_true(accepted > 0);
	free(g);
}

static void test_form_encoding(void **state)
{
	(void)state;
	struct oauth2_buf form = { 0 };
	oauth2_form_add(&form, "grant_type", "refresh_token");
	oauth2_form_add(&form, "refresh_token", "1//a+b=c&d e~._-\xc3\xa9");
	assert_false(form.failed);
	assert_string_equal(form.data, "grant_type=refresh_token&refresh_token="
				       "1%2F%2Fa%2Bb%3Dc%26d%20e~._-%C3%A9");
	oauth2_buf_free(&form);
	struct oauth2_buf small = { .limit = 8 };
	oauth2_form_add(&small, "name", "value");
	assert_true(small.failed);
	oauth2_buf_free(&small);
}

static void test_presets(void **state)
{
	(void)state;
	const struct oauth2_preset *ms = oauth2_preset_find("Microsoft");
	assert_non_null(ms);
	char *url = oauth2_preset_url(ms->token_url, "contoso.onmicrosoft.com");
	assert_string_equal(url, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
	free(url);
	const struct oauth2_preset *google = oauth2_preset_find("google");
	assert_non_null(google);
	assert_null(google->device_auth_url);
	assert_null(oauth2_preset_find("yahoo"));
	assert_true(oauth2_preset_valid_tenant("common"));
	assert_false(oauth2_preset_valid_tenant("a/b"));
	assert_false(oauth2_preset_valid_tenant(".."));
	assert_false(oauth2_preset_valid_tenant(""));
}

/* ------------------------------------------------------------------ */
/* Refresh and cache                                                   */

static void test_refresh_and_cache(void **state)
{
	(void)state;
	long before = token_requests();
	char *token = token_ok(false, true);
	char *issued = last_token("access");
	assert_string_equal(token, issued);
	assert_int_equal(token_requests(), before + 1);
	char path[PATH_MAX];
	cache_path(path, sizeof(path));
	assert_int_equal(file_mode(path), 0600);
	char dir[PATH_MAX + 8];
	snprintf(dir, sizeof(dir), "%s/work", state_dir);
	assert_int_equal(file_mode(dir), 0700);
	/* A second run takes the cached token without asking. */
	char *again = token_ok(false, false);
	assert_string_equal(again, issued);
	assert_int_equal(token_requests(), before + 1);
	/* force_refresh (a login refused the token) asks again. */
	char *forced = token_ok(true, true);
	assert_string_not_equal(forced, issued);
	assert_int_equal(token_requests(), before + 2);
	secret_free(token);
	secret_free(again);
	secret_free(forced);
	free(issued);
}

static void test_cache_expiry(void **state)
{
	(void)state;
	/* Valid for less than the minute we want left: refreshed. */
	control("{\"expires_in\": 30}");
	long before = token_requests();
	secret_free(token_ok(false, true));
	secret_free(token_ok(false, true));
	assert_int_equal(token_requests(), before + 2);
	/* No expires_in at all: used once, never from the cache. */
	control("{\"expires_in\": null}");
	secret_free(token_ok(false, true));
	secret_free(token_ok(false, true));
	assert_int_equal(token_requests(), before + 4);
	/* A cache whose token expired an hour ago is not used. */
	char path[PATH_MAX], text[512], fingerprint[65];
	cache_path(path, sizeof(path));
	oauth2_cache_fingerprint(&account, fingerprint);
	snprintf(text, sizeof(text),
		 "{\"version\":1,\"fingerprint\":\"%s\",\"access_token\":\"old\","
		 "\"expires_at\":%lld}\n", fingerprint, (long long)time(NULL) - 3600);
	write_file(path, text, 0600);
	char *token = token_ok(false, true);
	assert_string_not_equal(token, "old");
	secret_free(token);
	/* And one valid for an hour more is, without a request. */
	snprintf(text, sizeof(text),
		 "{\"version\":1,\"fingerprint\":\"%s\",\"access_token\":\"cached\","
		 "\"expires_at\":%lld}\n", fingerprint, (long long)time(NULL) + 3600);
	write_file(path, text, 0600);
	before = token_requests();
	token = token_ok(false, false);
	assert_string_equal(token, "cached");
	assert_int_equal(token_requests(), before);
	secret_free(token);
}

static void test_config_change_invalidates(void **state)
{
	(void)state;
	char *first = token_ok(false, true);
	long before = token_requests();
	account.oauth2.client_id = (char *)"other-client";
	char *second = token_ok(false, true);
	assert_string_not_equal(first, second);
	account.user = (char *)"bob@example.com";
	char *third = token_ok(false, true);
	assert_int_equal(token_requests(), before + 2);
	/* Back to the same settings: that cache is used again. */
	char *fourth = token_ok(false, false);
	assert_string_equal(third, fourth);
	secret_free(first);
	secret_free(second);
	secret_free(third);
	secret_free(fourth);
}

static void test_corrupt_cache_ignored(void **state)
{
	(void)state;
	char path[PATH_MAX], dir[PATH_MAX + 8];
	snprintf(dir, sizeof(dir), "%s/work", state_dir);
	assert_int_equal(mkdir(state_dir, 0700), 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	cache_path(path, sizeof(path));
	write_file(path, "{\"version\":1,\"access_token\":", 0600);
	secret_free(token_ok(false, true));
	/* It was rewritten whole. */
	secret_free(token_ok(false, false));
}

static void test_rotation_file(void **state)
{
	(void)state;
	control("{\"rotate\": true}");
	secret_free(token_ok(false, true));
	char *rotated = last_token("refresh");
	char *text = read_file(refresh_file);
	char expected[256];
	snprintf(expected, sizeof(expected), "%s\n", rotated);
	assert_string_equal(text, expected);
	assert_int_equal(file_mode(refresh_file), 0600);
	free(text);
	/* The old token is dead now; the next refresh uses the new one. */
	secret_free(token_ok(true, true));
	char *again = last_token("refresh");
	assert_string_not_equal(again, rotated);
	text = read_file(refresh_file);
	snprintf(expected, sizeof(expected), "%s\n", again);
	assert_string_equal(text, expected);
	free(text);
	free(rotated);
	free(again);
}

static void test_rotation_cmd(void **state)
{
	(void)state;
	account.oauth2.refresh_source = OAUTH2_REFRESH_CMD;
	account.oauth2.refresh_token_file = NULL;
	account.oauth2.refresh_token_cmd = refresh_cmd;
	control("{\"rotate\": true}");
	secret_free(token_ok(false, true));
	char *rotated = last_token("refresh");
	/* The command still prints the old, dead token; the cache holds
	   the new one, and it is what the next refresh sends. */
	char path[PATH_MAX];
	cache_path(path, sizeof(path));
	char *cache = read_file(path);
	assert_non_null(strstr(cache, rotated));
	assert_int_equal(file_mode(path), 0600);
	free(cache);
	secret_free(token_ok(true, true));
	secret_free(token_ok(true, true));
	/* The user stores a new token where the command reads it: it wins. */
	control("{\"rotate\": false, \"refresh_tokens\": {\"RT-new-2\": \"alice\"}}");
	write_file(refresh_file, "RT-new-2\n", 0600);
	secret_free(token_ok(true, true));
	cache = read_file(path);
	assert_null(strstr(cache, "refresh_token\""));
	free(cache);
	free(rotated);
}

static void test_refresh_from_cache_only(void **state)
{
	(void)state;
	account.oauth2.refresh_source = OAUTH2_REFRESH_CACHE;
	account.oauth2.refresh_token_file = NULL;
	const char *msg = token_fails(YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "run yubin --authorize work"));
	/* What --authorize leaves behind: the refresh token in the cache. */
	struct oauth2_cache cache = { 0 };
	struct yb_error err;
	assert_true(oauth2_cache_set(&cache.refresh_token, "RT-seed-1"));
	assert_int_equal(oauth2_cache_save(&account, &cache, &err), YB_OK);
	oauth2_cache_free(&cache);
	control("{\"rotate\": true}");
	secret_free(token_ok(false, true));
	char *rotated = last_token("refresh");
	char path[PATH_MAX];
	cache_path(path, sizeof(path));
	char *text = read_file(path);
	assert_non_null(strstr(text, rotated));
	free(text);
	secret_free(token_ok(true, true));
	free(rotated);
}

static void test_unsafe_files(void **state)
{
	(void)state;
	write_file(refresh_file, "RT-seed-1\n", 0644);
	const char *msg = token_fails(YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "refresh_token_file"));
	assert_non_null(strstr(msg, "chmod 600"));
	write_file(refresh_file, "RT-seed-1\n", 0600);
	secret_free(token_ok(false, true));
	char path[PATH_MAX];
	cache_path(path, sizeof(path));
	assert_int_equal(chmod(path, 0644), 0);
	msg = token_fails(YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "token cache"));
	assert_non_null(strstr(msg, "chmod 600"));
}

/* Load and save must both refuse the cache directory, naming it and why. */
static void assert_cache_dir_refused(const char *dir, const char *why)
{
	struct oauth2_cache cache = { 0 };
	struct yb_error err;
	yb_error_clear(&err);
	assert_int_equal(oauth2_cache_load(&account, &cache, &err), YB_ERR_CONFIG);
	assert_non_null(strstr(err.msg, dir));
	assert_non_null(strstr(err.msg, why));
	oauth2_cache_free(&cache);
	assert_true(oauth2_cache_set(&cache.access_token, "AT-secret"));
	yb_error_clear(&err);
	assert_int_equal(oauth2_cache_save(&account, &cache, &err), YB_ERR_CONFIG);
	assert_non_null(strstr(err.msg, dir));
	assert_non_null(strstr(err.msg, why));
	oauth2_cache_free(&cache);
}

/*
 * A cache directory another user made or could change: its oauth2.json
 * may be a link to one of our files (or a forged token).  Refused, and
 * nothing is read or written through it.
 */
static void test_unsafe_cache_dir(void **state)
{
	(void)state;
	char dir[PATH_MAX + 8], victim[PATH_MAX], path[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/work", state_dir);
	path_in(victim, sizeof(victim), "victim");
	cache_path(path, sizeof(path));
	write_file(victim, "precious\n", 0600);
	assert_int_equal(mkdir(state_dir, 0700), 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(symlink(victim, path), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_cache_dir_refused(dir, "mode 0777");
	if (geteuid() == 0) {
		assert_int_equal(chmod(dir, 0700), 0);
		assert_int_equal(chown(dir, 65534, 65534), 0);
		assert_cache_dir_refused(dir, "uid 65534");
	}
	char *kept = read_file(victim);
	assert_string_equal(kept, "precious\n");
	free(kept);
	/* The account's directory as a link: not followed. */
	char elsewhere[PATH_MAX];
	path_in(elsewhere, sizeof(elsewhere), "elsewhere");
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	assert_int_equal(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
	assert_int_equal(symlink(elsewhere, dir), 0);
	assert_cache_dir_refused(dir, "symbolic link");
	char made[PATH_MAX + 16];
	snprintf(made, sizeof(made), "%s/%s", elsewhere, OAUTH2_CACHE_NAME);
	assert_null(read_file(made));
	assert_int_equal(rmdir(elsewhere), 0);
	assert_int_equal(unlink(victim), 0);
	if (geteuid() != 0) {
		print_message("not root: cannot give a directory to uid 65534\n");
		skip();
	}
}

static void test_client_secret(void **state)
{
	(void)state;
	char cmd[] = "echo s3cr3t";
	char wrong[] = "echo wrong";
	account.oauth2.client_id = (char *)"secret-client";
	account.oauth2.client_secret_cmd = cmd;
	secret_free(token_ok(false, true));
	account.oauth2.client_secret_cmd = wrong;
	account.oauth2.client_id = (char *)"secret-client"; /* same cache */
	const char *msg = NULL;
	char *token = NULL;
	bool fresh;
	struct yb_error err;
	assert_int_equal(get_token(true, &token, &fresh, &err), YB_ERR_AUTH);
	msg = err.msg;
	assert_non_null(strstr(msg, "refused the client"));
	account.oauth2.client_secret_cmd = NULL;
	account.oauth2.client_secret = (char *)"s3cr3t";
	secret_free(token_ok(true, true));
	char failing[] = "exit 3";
	account.oauth2.client_secret = NULL;
	account.oauth2.client_secret_cmd = failing;
	assert_int_equal(get_token(true, &token, &fresh, &err), YB_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "client_secret_cmd"));
}

/* ------------------------------------------------------------------ */
/* Failures                                                            */

static void test_invalid_grant(void **state)
{
	(void)state;
	control("{\"fail\": \"invalid_grant\"}");
	const char *msg = token_fails(YB_ERR_AUTH);
	assert_non_null(strstr(msg, "account 'work'"));
	assert_non_null(strstr(msg, token_url));
	assert_non_null(strstr(msg, "Token has been expired or revoked."));
	assert_non_null(strstr(msg, "run yubin --authorize work"));
	/* An unknown refresh token is the same thing. */
	control("{\"fail\": \"\"}");
	write_file(refresh_file, "RT-unknown\n", 0600);
	token_fails(YB_ERR_AUTH);
}

static void test_server_errors(void **state)
{
	(void)state;
	control("{\"fail\": \"500\"}");
	assert_non_null(strstr(token_fails(YB_ERR_TEMP), "HTTP 500"));
	control("{\"fail\": \"garbage\"}");
	assert_non_null(strstr(token_fails(YB_ERR_PROTOCOL), "not a JSON object"));
	control("{\"fail\": \"huge\"}");
	assert_non_null(strstr(token_fails(YB_ERR_PROTOCOL), "larger than"));
	control("{\"fail\": \"redirect\"}");
	assert_non_null(strstr(token_fails(YB_ERR_PROTOCOL), "redirect"));
	control("{\"fail\": \"no_access_token\"}");
	assert_non_null(strstr(token_fails(YB_ERR_PROTOCOL), "no access_token"));
	control("{\"fail\": \"bad_token\"}");
	assert_non_null(strstr(token_fails(YB_ERR_PROTOCOL), "control characters"));
	control("{\"fail\": \"\", \"token_type\": \"mac\"}");
	assert_non_null(strstr(token_fails(YB_ERR_PROTOCOL), "Bearer"));
	/* Nothing was cached by any of these. */
	char path[PATH_MAX];
	cache_path(path, sizeof(path));
	assert_int_equal(access(path, F_OK), -1);
}

static void test_timeout(void **state)
{
	(void)state;
	control("{\"fail\": \"slow\", \"slow_seconds\": 10}");
	account.timeout = 2;
	time_t start = time(NULL);
	assert_non_null(strstr(token_fails(YB_ERR_TEMP), token_url));
	/* Well before the server would answer (slack for valgrind). */
	assert_in_range(time(NULL) - start, 1, 7);
}

static void test_tls_and_scheme(void **state)
{
	(void)state;
	account.oauth2.ca_file = other_ca_pem;
	assert_non_null(strstr(token_fails(YB_ERR_UNAVAILABLE), token_url));
	account.oauth2.ca_file = NULL; /* the system store alone */
	token_fails(YB_ERR_UNAVAILABLE);
	account.oauth2.ca_file = ca_pem;
	char plain[200];
	snprintf(plain, sizeof(plain), "http%s", token_url + 5);
	account.oauth2.token_url = plain;
	assert_non_null(strstr(token_fails(YB_ERR_CONFIG), "not https://"));
	/* Nobody listens on port 1. */
	account.oauth2.token_url = (char *)"https://127.0.0.1:1/token";
	token_fails(YB_ERR_UNAVAILABLE);
	/* A missing ca_file is a configuration problem. */
	account.oauth2.token_url = token_url;
	account.oauth2.ca_file = (char *)"/nonexistent/ca.pem";
	token_fails(YB_ERR_CONFIG);
}

/* Last: nothing secret reached stderr in any test above, at -vvv. */
static void test_no_secret_in_stderr(void **state)
{
	(void)state;
	char *log = read_file(token_log);
	char *err = read_file(stderr_log);
	assert_non_null(log);
	assert_non_null(err);
	assert_non_null(strstr(err, "refreshing the OAuth2 access token"));
	const char *seeds[] = { "RT-seed-1", "RT-new-2", "s3cr3t" };
	for (size_t i = 0; i < 3; i++)
		assert_null(strstr(err, seeds[i]));
	size_t checked = 0;
	const char *needle = "\"token\": \"";
	for (const char *at = strstr(log, needle); at; at = strstr(at + 1, needle)) {
		const char *start = at + strlen(needle);
		char *token = strndup(start, strcspn(start, "\""));
		if (strstr(err, token))
			print_error("token %s is in the log\n", token);
		assert_null(strstr(err, token));
		free(token);
		checked++;
	}
	assert_true(checked > 10);
	free(log);
	free(err);
}

#define T(f) cmocka_unit_test_setup(f, reset)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_reader),
		cmocka_unit_test(test_json_refused),
		cmocka_unit_test(test_json_not_yaml),
		cmocka_unit_test(test_json_variants),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_mutations),
		cmocka_unit_test(test_form_encoding),
		cmocka_unit_test(test_presets),
		cmocka_unit_test(test_curl_load), /* before the first request */
		T(test_refresh_and_cache),
		T(test_cache_expiry),
		T(test_config_change_invalidates),
		T(test_corrupt_cache_ignored),
		T(test_rotation_file),
		T(test_rotation_cmd),
		T(test_refresh_from_cache_only),
		T(test_unsafe_files),
		T(test_unsafe_cache_dir),
		T(test_client_secret),
		T(test_invalid_grant),
		T(test_server_errors),
		T(test_timeout),
		T(test_tls_and_scheme),
		T(test_no_secret_in_stderr),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
