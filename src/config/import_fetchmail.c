/*
 * import_fetchmail.c - fetchmail's ~/.fetchmailrc: a free-form stream
 * of words, where "poll HOST" (or "server", "skip") starts an entry of
 * server options followed by "user NAME" blocks of user options, and
 * "defaults" sets what later entries start from.  An entry with several
 * users becomes one account per user.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import_model.h"

enum fm_arg { FM_NO_ARG, FM_ONE_ARG, FM_LIST_ARG };

enum fm_action {
	FM_PROTO, FM_PORT, FM_AUTH, FM_TIMEOUT, FM_VIA, FM_USER, FM_PASS,
	FM_LOCAL, FM_SSL, FM_SSLPROTO, FM_SSLCERTCK, FM_SSLCERTFILE, FM_SSLCERT,
	FM_SSLKEY, FM_SSLCN, FM_SSLFP, FM_KEEP, FM_LIMIT, FM_FOLDER, FM_MDA,
	FM_IGNORE, FM_NOTE, FM_SECRET,
};

struct fm_option {
	const char *word;
	enum fm_arg arg;
	enum fm_action action;
	bool server; /* applies to the whole entry, every user of it */
	const char *why;
};

#define MULTIDROP "yubin delivers each account to one place (no multidrop)"
#define NO_SMTP "yubin does not forward over SMTP; an MDA such as sendmail can"
#define AS_SENT "yubin stores each message as the server sent it"

static const struct fm_option fm_options[] = {
	{ "proto", FM_ONE_ARG, FM_PROTO, true, NULL },
	{ "protocol", FM_ONE_ARG, FM_PROTO, true, NULL },
	{ "port", FM_ONE_ARG, FM_PORT, true, NULL },
	{ "service", FM_ONE_ARG, FM_PORT, true, NULL },
	{ "auth", FM_ONE_ARG, FM_AUTH, true, NULL },
	{ "authenticate", FM_ONE_ARG, FM_AUTH, true, NULL },
	{ "timeout", FM_ONE_ARG, FM_TIMEOUT, true, NULL },
	{ "via", FM_ONE_ARG, FM_VIA, true, NULL },
	{ "uidl", FM_NO_ARG, FM_IGNORE, true, NULL },
	{ "dns", FM_NO_ARG, FM_IGNORE, true, NULL },
	{ "checkalias", FM_NO_ARG, FM_IGNORE, true, NULL },
	{ "envelope", FM_ONE_ARG, FM_NOTE, true, MULTIDROP },
	{ "qvirtual", FM_ONE_ARG, FM_NOTE, true, MULTIDROP },
	{ "aka", FM_LIST_ARG, FM_NOTE, true, MULTIDROP },
	{ "localdomains", FM_LIST_ARG, FM_NOTE, true, MULTIDROP },
	{ "interface", FM_ONE_ARG, FM_NOTE, true, "yubin has no such setting" },
	{ "monitor", FM_ONE_ARG, FM_NOTE, true, "yubin has no such setting" },
	{ "plugin", FM_ONE_ARG, FM_NOTE, true, "yubin connects over TCP only" },
	{ "plugout", FM_ONE_ARG, FM_NOTE, true, "yubin connects over TCP only" },
	{ "principal", FM_ONE_ARG, FM_NOTE, true, "yubin has no Kerberos" },
	{ "esmtpname", FM_ONE_ARG, FM_NOTE, true, NO_SMTP },
	{ "esmtppassword", FM_ONE_ARG, FM_SECRET, true, NO_SMTP },
	{ "tracepolls", FM_NO_ARG, FM_NOTE, true, AS_SENT },
	{ "interval", FM_ONE_ARG, FM_NOTE, true, "run yubin from a timer for this account" },
	{ "bad-header", FM_ONE_ARG, FM_NOTE, true, "yubin has no such setting" },
	{ "user", FM_ONE_ARG, FM_USER, false, NULL },
	{ "username", FM_ONE_ARG, FM_USER, false, NULL },
	{ "pass", FM_ONE_ARG, FM_PASS, false, NULL },
	{ "password", FM_ONE_ARG, FM_PASS, false, NULL },
	{ "is", FM_LIST_ARG, FM_LOCAL, false, NULL },
	{ "to", FM_LIST_ARG, FM_LOCAL, false, NULL },
	{ "ssl", FM_NO_ARG, FM_SSL, false, NULL },
	{ "sslproto", FM_ONE_ARG, FM_SSLPROTO, false, NULL },
	{ "sslcertck", FM_NO_ARG, FM_SSLCERTCK, false, NULL },
	{ "sslcertfile", FM_ONE_ARG, FM_SSLCERTFILE, false, NULL },
	{ "sslcertpath", FM_ONE_ARG, FM_NOTE, false, "name one PEM file in tls_ca_file" },
	{ "sslcert", FM_ONE_ARG, FM_SSLCERT, false, NULL },
	{ "sslkey", FM_ONE_ARG, FM_SSLKEY, false, NULL },
	{ "sslcommonname", FM_ONE_ARG, FM_SSLCN, false, NULL },
	{ "sslfingerprint", FM_ONE_ARG, FM_SSLFP, false, NULL },
	{ "keep", FM_NO_ARG, FM_KEEP, false, NULL },
	{ "fetchall", FM_NO_ARG, FM_IGNORE, false, NULL },
	{ "showdots", FM_NO_ARG, FM_IGNORE, false, NULL },
	{ "flush", FM_NO_ARG, FM_NOTE, false, "yubin deletes only what it fetched (keep: false)" },
	{ "limitflush", FM_NO_ARG, FM_NOTE, false, "yubin leaves large messages on the server" },
	{ "rewrite", FM_NO_ARG, FM_NOTE, false, AS_SENT },
	{ "stripcr", FM_NO_ARG, FM_NOTE, false, AS_SENT },
	{ "forcecr", FM_NO_ARG, FM_NOTE, false, AS_SENT },
	{ "pass8bits", FM_NO_ARG, FM_NOTE, false, AS_SENT },
	{ "mimedecode", FM_NO_ARG, FM_NOTE, false, AS_SENT },
	{ "dropstatus", FM_NO_ARG, FM_NOTE, false, AS_SENT },
	{ "dropdelivered", FM_NO_ARG, FM_NOTE, false, AS_SENT },
	{ "idle", FM_NO_ARG, FM_NOTE, false, "yubin runs once; run it from a timer" },
	{ "limit", FM_ONE_ARG, FM_LIMIT, false, NULL },
	{ "warnings", FM_ONE_ARG, FM_NOTE, false, "yubin warns on every run" },
	{ "fetchlimit", FM_ONE_ARG, FM_NOTE, false, "yubin has no such setting" },
	{ "fetchsizelimit", FM_ONE_ARG, FM_NOTE, false, "yubin has no such setting" },
	{ "batchlimit", FM_ONE_ARG, FM_NOTE, false, NO_SMTP },
	{ "expunge", FM_ONE_ARG, FM_NOTE, false, "yubin expunges what it deletes at once" },
	{ "folder", FM_LIST_ARG, FM_FOLDER, false, NULL },
	{ "folders", FM_LIST_ARG, FM_FOLDER, false, NULL },
	{ "smtphost", FM_LIST_ARG, FM_NOTE, false, NO_SMTP },
	{ "smtphosts", FM_LIST_ARG, FM_NOTE, false, NO_SMTP },
	{ "smtpaddress", FM_ONE_ARG, FM_NOTE, false, NO_SMTP },
	{ "smtpname", FM_ONE_ARG, FM_NOTE, false, NO_SMTP },
	{ "fetchdomains", FM_LIST_ARG, FM_NOTE, false, MULTIDROP },
	{ "antispam", FM_LIST_ARG, FM_NOTE, false, NO_SMTP },
	{ "lmtp", FM_NO_ARG, FM_NOTE, false, NO_SMTP },
	{ "bsmtp", FM_ONE_ARG, FM_NOTE, false, NO_SMTP },
	{ "mda", FM_ONE_ARG, FM_MDA, false, NULL },
	{ "preconnect", FM_ONE_ARG, FM_NOTE, false, "run it before yubin, in a script" },
	{ "postconnect", FM_ONE_ARG, FM_NOTE, false, "run it after yubin, in a script" },
	{ "properties", FM_ONE_ARG, FM_NOTE, false, "yubin has no such setting" },
};

static const char *const fm_noise[] = { "and", "with", "has", "wants", "options",
					"here", "there" };
static const char *const fm_starters[] = { "poll", "server", "skip", "defaults", "set" };
static const char *const fm_set_with_arg[] = { "daemon", "logfile", "idfile", "pidfile",
					       "postmaster", "properties", "fetchmailrc" };
static const char *const fm_set_alone[] = { "syslog", "bouncemail", "spambounce",
					    "softbounce", "invisible", "showdots" };

struct fm_token {
	char text[IMPORT_LINE_MAX + 1];
	size_t len;
	bool quoted;
	unsigned line;
};

struct fm_reader {
	struct import_doc *doc;
	struct yb_error *err;
	const char *text;
	size_t len, pos;
	unsigned line;
	struct fm_token token; /* the last one read */
	struct fm_token *arg;  /* an option's argument */
	struct import_account *defaults; /* not in doc */
	struct import_account *entry;    /* the poll entry's template */
	struct import_account *user;     /* its current user, in doc */
	size_t entry_first;              /* its first account in doc */
	char local_name[65];             /* the user's local name (is NAME) */
	bool entry_has_user;
};

/* --- Words --- */

static bool in_list(const char *const *list, size_t count, const struct fm_token *token)
{
	for (size_t i = 0; i < count && !token->quoted; i++)
		if (strcmp(list[i], token->text) == 0)
			return true;
	return false;
}

#define IN_LIST(list, token) in_list(list, sizeof(list) / sizeof(list[0]), token)

static const struct fm_option *fm_option(const struct fm_token *token)
{
	for (size_t i = 0; i < sizeof(fm_options) / sizeof(fm_options[0]) && !token->quoted; i++)
		if (strcmp(fm_options[i].word, token->text) == 0)
			return &fm_options[i];
	return NULL;
}

static bool fm_is_keyword(const struct fm_token *token)
{
	return fm_option(token) || IN_LIST(fm_noise, token) || IN_LIST(fm_starters, token) ||
	       (!token->quoted && strcmp(token->text, "no") == 0);
}

static int fm_quoted(struct fm_reader *r, struct fm_token *token)
{
	char quote = r->text[r->pos++];
	size_t n = 0;
	while (r->pos < r->len && r->text[r->pos] != quote) {
		char c = r->text[r->pos++];
		if (c == '\n')
			r->line++;
		if (c == '\\' && r->pos < r->len) {
			c = r->text[r->pos++];
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
		}
		if (n == IMPORT_LINE_MAX)
			return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: a quoted string longer "
				       "than %d bytes", r->doc->source, token->line, IMPORT_LINE_MAX);
		token->text[n++] = c;
	}
	if (r->pos >= r->len)
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: a quote is not closed",
			       r->doc->source, token->line);
	r->pos++;
	token->text[n] = '\0';
	token->len = n;
	return YB_OK;
}

/* Skip blanks, separators and comments; false at the end. */
static bool fm_skip_space(struct fm_reader *r)
{
	while (r->pos < r->len) {
		char c = r->text[r->pos];
		if (c == '\n')
			r->line++;
		if (c == '#') {
			while (r->pos < r->len && r->text[r->pos] != '\n')
				r->pos++;
			continue;
		}
		if (!strchr(" \t\r\n\f\v,:;", c))
			return true;
		r->pos++;
	}
	return false;
}

/* The next word into token: 1, 0 at the end, or -1 with err set. */
static int fm_next(struct fm_reader *r, struct fm_token *token)
{
	if (!fm_skip_space(r))
		return 0;
	token->line = r->line;
	token->quoted = r->text[r->pos] == '"' || r->text[r->pos] == '\'';
	if (token->quoted)
		return fm_quoted(r, token) == YB_OK ? 1 : -1;
	size_t n = 0;
	while (r->pos < r->len && !strchr(" \t\r\n\f\v,:;#\"'", r->text[r->pos]))
		token->text[n++] = r->text[r->pos++];
	token->text[n] = '\0';
	token->len = n;
	return 1;
}

/* Like fm_next, without moving on. */
static int fm_peek(struct fm_reader *r, struct fm_token *token)
{
	size_t pos = r->pos;
	unsigned line = r->line;
	int got = fm_next(r, token);
	r->pos = pos;
	r->line = line;
	return got;
}

/* --- Options --- */

static void fm_note(struct fm_reader *r, struct import_account *account,
		    const struct fm_option *option, bool negated, const char *shown)
{
	import_note(r->doc, account, r->token.line, "'%s%s%s%s' not carried over: %s",
		    negated ? "no " : "", option->word, shown[0] ? " " : "", shown,
		    option->why);
}

static void fm_proto(struct fm_reader *r, struct import_account *account,
		     const struct fm_token *arg)
{
	const char *proto = arg->text;
	bool imap = strncasecmp(proto, "IMAP", 4) == 0 || strcasecmp(proto, "AUTO") == 0;
	import_set_str(r->doc, account, IK_PROTOCOL, imap ? "imap" : "pop3", arg->line);
	if (strcasecmp(proto, "APOP") == 0)
		import_set_str(r->doc, account, IK_AUTH, "apop", arg->line);
	else if (strcasecmp(proto, "AUTO") == 0)
		import_note(r->doc, account, arg->line,
			    "'proto auto': fetchmail tried IMAP, then POP3; imap is assumed");
	else if (!imap && strcasecmp(proto, "POP3") != 0)
		import_note(r->doc, account, arg->line,
			    "'proto %s' not carried over: yubin speaks POP3 and IMAP; "
			    "pop3 is assumed", r->arg->text);
}

static void fm_auth(struct fm_reader *r, struct import_account *account,
		    const struct fm_token *arg)
{
	static const char *const same[] = { "cram-md5", "external" };
	/* "password" and "any" are what yubin's auto does (with APOP kept). */
	if (strcasecmp(arg->text, "password") == 0 || strcasecmp(arg->text, "any") == 0)
		return;
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		if (strcasecmp(arg->text, same[i]) == 0) {
			import_set_str(r->doc, account, IK_AUTH, same[i], arg->line);
			return;
		}
	}
	import_note(r->doc, account, arg->line,
		    "'auth %s' not carried over: yubin logs in with a password, "
		    "CRAM-MD5, a client certificate or OAuth2", arg->text);
}

static void fm_number(struct fm_reader *r, struct import_account *account,
		      enum import_key key, const char *word, unsigned long max)
{
	if (import_is_number(r->arg->text, r->arg->len, max))
		import_set(r->doc, account, key, r->arg->text, r->arg->len, r->arg->line);
	else if (strcmp(r->arg->text, "0") != 0)
		import_note(r->doc, account, r->arg->line,
			    "'%s %s' not carried over: not a number yubin takes", word,
			    r->arg->text);
}

static void fm_fingerprint(struct fm_reader *r, struct import_account *account)
{
	char pin[128];
	if (import_sha256_pin(r->arg->text, r->arg->len, pin, sizeof(pin)))
		import_set_str(r->doc, account, IK_TLS_FINGERPRINT, pin, r->arg->line);
	else
		import_note(r->doc, account, r->arg->line,
			    "'sslfingerprint' not carried over: fetchmail's MD5 pin; "
			    "yubin --show-cert prints the SHA-256 one for tls_fingerprint");
}

static void fm_mda(struct fm_reader *r, struct import_account *account)
{
	bool local_ok = r->local_name[0] != '\0';
	struct import_expansion map[] = {
		{ "%F", "%f" }, { "%T", local_ok ? r->local_name : NULL }, { NULL, NULL },
	};
	import_set_mda(r->doc, account, r->arg->text, r->arg->len, r->arg->line, map);
}

static void fm_sslproto(struct fm_reader *r, struct import_account *account)
{
	const char *proto = r->arg->text;
	if (r->arg->len == 0)
		account->wants_starttls = 0;
	else if (strcasecmp(proto, "tls1.3+") == 0 || strcasecmp(proto, "tls1.3") == 0)
		import_set_str(r->doc, account, IK_TLS_MIN_VERSION, "1.3", r->arg->line);
	else if (strcasecmp(proto, "tls1.2+") != 0 && strcasecmp(proto, "auto") != 0)
		import_note(r->doc, account, r->arg->line,
			    "'sslproto %s' not carried over: yubin speaks TLS 1.2 and newer",
			    proto);
	if (r->arg->len > 0)
		account->wants_starttls = 1;
}

static void fm_local(struct fm_reader *r, struct import_account *account, size_t count)
{
	bool safe = r->arg->len > 0 && r->arg->len < sizeof(r->local_name) &&
		strspn(r->arg->text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		       "0123456789._-") == r->arg->len;
	if (count == 1 && safe)
		memcpy(r->local_name, r->arg->text, r->arg->len + 1);
	if (count == 2 || (count == 1 && strcmp(r->arg->text, "*") == 0))
		import_note(r->doc, account, r->arg->line,
			    "several local names (multidrop) not carried over: %s", MULTIDROP);
}

static void fm_tls_option(struct fm_reader *r, struct import_account *account,
			  const struct fm_option *option, bool negated)
{
	enum import_key key = IK_COUNT;
	switch (option->action) {
	case FM_SSL:
		account->wants_tls = !negated;
		return;
	case FM_SSLPROTO:
		fm_sslproto(r, account);
		return;
	case FM_SSLCERTCK:
		if (negated)
			import_set_str(r->doc, account, IK_TLS_VERIFY, "false", r->token.line);
		else
			import_unset(account, IK_TLS_VERIFY);
		return;
	case FM_SSLFP:
		fm_fingerprint(r, account);
		return;
	case FM_SSLCERTFILE: key = IK_TLS_CA_FILE; break;
	case FM_SSLCERT: key = IK_TLS_CERT_FILE; break;
	case FM_SSLKEY: key = IK_TLS_KEY_FILE; break;
	default: key = IK_TLS_SERVER_NAME; break;
	}
	import_set(r->doc, account, key, r->arg->text, r->arg->len, r->arg->line);
}

static void fm_apply(struct fm_reader *r, struct import_account *account,
		     const struct fm_option *option, bool negated, size_t count)
{
	struct import_doc *doc = r->doc;
	const struct fm_token *arg = r->arg;
	switch (option->action) {
	case FM_PROTO: fm_proto(r, account, arg); break;
	case FM_PORT: fm_number(r, account, IK_PORT, option->word, 65535); break;
	case FM_AUTH: fm_auth(r, account, arg); break;
	case FM_TIMEOUT: fm_number(r, account, IK_TIMEOUT, option->word, 3600); break;
	case FM_VIA: import_set(doc, account, IK_HOST, arg->text, arg->len, arg->line); break;
	case FM_PASS: import_set_inline_password(doc, account, arg->text, arg->len, arg->line); break;
	case FM_LOCAL: fm_local(r, account, count); break;
	case FM_KEEP: import_set_str(doc, account, IK_KEEP, negated ? "false" : "true", r->token.line); break;
	case FM_LIMIT: fm_number(r, account, IK_MAX_SIZE, option->word, 0xffffffffUL); break;
	case FM_FOLDER: import_add_folder(doc, account, arg->text, arg->len); break;
	case FM_MDA: fm_mda(r, account); break;
	case FM_IGNORE: case FM_USER: break;
	case FM_NOTE: fm_note(r, account, option, negated, arg->text); break;
	case FM_SECRET: fm_note(r, account, option, negated, "..."); break;
	default: fm_tls_option(r, account, option, negated); break;
	}
}

/* Apply to the entry and every user it has, or to the current user. */
static void fm_apply_all(struct fm_reader *r, const struct fm_option *option,
			 bool negated, size_t count)
{
	if (!option->server || !r->entry_has_user) {
		fm_apply(r, r->user ? r->user : r->entry, option, negated, count);
		return;
	}
	fm_apply(r, r->entry, option, negated, count);
	for (size_t i = r->entry_first; i < r->doc->account_count; i++)
		fm_apply(r, r->doc->accounts[i], option, negated, count);
}

/* --- Entries --- */

static void fm_start_user(struct fm_reader *r)
{
	struct import_account *user = import_account_copy(r->doc, r->entry, r->entry->name,
							  strlen(r->entry->name), r->entry->line);
	if (!user)
		return;
	import_set(r->doc, user, IK_USER, r->arg->text, r->arg->len, r->arg->line);
	import_doc_add(r->doc, user);
	r->user = r->doc->account_count > r->entry_first
		? r->doc->accounts[r->doc->account_count - 1] : NULL;
	r->entry_has_user = true;
	r->local_name[0] = '\0';
}

static int fm_option_words(struct fm_reader *r, const struct fm_option *option,
			   bool negated)
{
	if (option->arg == FM_NO_ARG || negated) {
		r->arg->text[0] = '\0';
		r->arg->len = 0;
		fm_apply_all(r, option, negated, 0);
		return YB_OK;
	}
	size_t count = 0;
	for (;;) {
		int got = fm_peek(r, r->arg);
		if (got < 0)
			return YB_ERR_CONFIG;
		if (got == 0 || (count > 0 && (option->arg == FM_ONE_ARG || fm_is_keyword(r->arg))))
			break;
		fm_next(r, r->arg);
		count++;
		if (option->action == FM_USER)
			fm_start_user(r);
		else
			fm_apply_all(r, option, negated, count);
	}
	if (count == 0)
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: '%s' needs a value",
			       r->doc->source, r->token.line, option->word);
	return YB_OK;
}

/* Several users of one server: each account is named HOST-USER. */
static void fm_name_users(struct fm_reader *r)
{
	if (r->doc->account_count - r->entry_first < 2)
		return;
	for (size_t i = r->entry_first; i < r->doc->account_count; i++) {
		struct import_account *account = r->doc->accounts[i];
		const char *user = import_get(account, IK_USER);
		size_t size = strlen(account->name) + strlen(user ? user : "") + 2;
		char *name = malloc(size);
		if (!name) {
			r->doc->out_of_memory = true;
			return;
		}
		snprintf(name, size, "%s-%s", account->name, user ? user : "");
		free(account->name);
		account->name = name;
	}
}

/* Make the last entry's accounts whole: it had no user, or it ends. */
static void fm_end_entry(struct fm_reader *r)
{
	if (r->entry && r->entry != r->defaults && r->entry_has_user)
		fm_name_users(r);
	if (r->entry && r->entry != r->defaults && !r->entry_has_user) {
		struct import_account *only = import_account_copy(r->doc, r->entry,
			r->entry->name, strlen(r->entry->name), r->entry->line);
		import_doc_add(r->doc, only);
	}
	if (r->entry != r->defaults)
		import_account_free(r->entry);
	r->entry = NULL;
	r->user = NULL;
	r->entry_has_user = false;
}

static int fm_start_entry(struct fm_reader *r, bool is_defaults, bool skipped)
{
	fm_end_entry(r);
	if (is_defaults) {
		import_account_free(r->defaults);
		r->defaults = import_account_new(r->doc, "defaults", 8, r->token.line);
		r->entry = r->defaults;
		return YB_OK;
	}
	unsigned line = r->token.line;
	if (fm_next(r, r->arg) != 1 || fm_is_keyword(r->arg))
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: 'poll' needs a server name",
			       r->doc->source, line);
	r->entry = r->defaults
		? import_account_copy(r->doc, r->defaults, r->arg->text, r->arg->len, line)
		: import_account_new(r->doc, r->arg->text, r->arg->len, line);
	if (r->entry)
		import_set(r->doc, r->entry, IK_HOST, r->arg->text, r->arg->len, line);
	if (r->entry && skipped)
		import_note(r->doc, r->entry, line,
			    "'skip': fetchmail polled this server only when named on its "
			    "command line; yubin fetches it on every run");
	r->entry_first = r->doc->account_count;
	return YB_OK;
}

static int fm_set(struct fm_reader *r)
{
	unsigned line = r->token.line;
	bool negated = false;
	if (fm_next(r, r->arg) == 1 && !r->arg->quoted && strcmp(r->arg->text, "no") == 0) {
		negated = true;
		fm_next(r, r->arg);
	}
	bool with_arg = IN_LIST(fm_set_with_arg, r->arg);
	if (!with_arg && !IN_LIST(fm_set_alone, r->arg))
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: unknown 'set' option", r->doc->source,
			       line);
	char word[32];
	snprintf(word, sizeof(word), "%.20s", r->arg->text);
	if (with_arg && fm_next(r, r->arg) != 1)
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: 'set %s' needs a value",
			       r->doc->source, line, word);
	import_note(r->doc, NULL, line, "'set %s%s' not carried over: %s", negated ? "no " : "",
		    word, strcmp(word, "daemon") == 0
		    ? "run yubin from cron or a systemd timer instead"
		    : "yubin has no such setting");
	return YB_OK;
}

static int fm_word(struct fm_reader *r)
{
	const struct fm_token *token = &r->token;
	if (IN_LIST(fm_noise, token))
		return YB_OK;
	if (!token->quoted && strcmp(token->text, "set") == 0)
		return fm_set(r);
	if (!token->quoted && strcmp(token->text, "defaults") == 0)
		return fm_start_entry(r, true, false);
	if (IN_LIST(fm_starters, token))
		return fm_start_entry(r, false, strcmp(token->text, "skip") == 0);
	bool negated = !token->quoted && strcmp(token->text, "no") == 0;
	if (negated && fm_next(r, &r->token) != 1)
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: 'no' at the end of the file",
			       r->doc->source, r->line);
	const struct fm_option *option = fm_option(&r->token);
	if (!option)
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: unknown keyword '%.40s'",
			       r->doc->source, r->token.line, r->token.text);
	if (!r->entry)
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: '%s' before any 'poll'",
			       r->doc->source, r->token.line, option->word);
	return fm_option_words(r, option, negated);
}

/* What fetchmail assumes where the file says nothing, written out. */
static void fm_settle(struct import_doc *doc, struct import_account *account)
{
	if (!import_get(account, IK_PROTOCOL)) {
		import_set_str(doc, account, IK_PROTOCOL, "imap", 0);
		import_note(doc, account, account->line,
			    "no protocol: fetchmail tried IMAP, then POP3; imap is assumed");
	}
	if (account->wants_tls == 1)
		import_set_str(doc, account, IK_TLS, "implicit", 0);
	else if (account->wants_starttls == 0) {
		import_set_str(doc, account, IK_TLS, "none", 0);
		import_set_str(doc, account, IK_ALLOW_PLAINTEXT, "true", 0);
		import_note(doc, account, account->line,
			    "fetchmail was told to use no TLS (sslproto ''), so the password "
			    "crosses the network in clear text");
	} else {
		import_set_str(doc, account, IK_TLS, "starttls", 0);
		if (account->wants_starttls != 1)
			import_note(doc, account, account->line,
				    "fetchmail used STARTTLS when the server offered it; yubin "
				    "insists on it (tls: starttls), or use ssl (tls: implicit)");
	}
	if (!import_get(account, IK_KEEP))
		import_set_str(doc, account, IK_KEEP, "false", 0);
}

int import_parse_fetchmailrc(struct import_doc *doc, const char *text, size_t len,
			     struct yb_error *err)
{
	struct fm_reader *r = calloc(1, sizeof(*r));
	struct fm_token *arg = malloc(sizeof(*arg));
	if (!r || !arg) {
		free(r);
		free(arg);
		doc->out_of_memory = true;
		return YB_OK;
	}
	*r = (struct fm_reader){ .doc = doc, .err = err, .text = text, .len = len,
				 .line = 1, .arg = arg };
	int status = YB_OK, got;
	while (status == YB_OK && !doc->out_of_memory && (got = fm_next(r, &r->token)) != 0)
		status = got < 0 ? YB_ERR_CONFIG : fm_word(r);
	fm_end_entry(r);
	import_account_free(r->defaults);
	for (size_t i = 0; status == YB_OK && i < doc->account_count; i++)
		fm_settle(doc, doc->accounts[i]);
	free(arg);
	free(r);
	return status;
}
