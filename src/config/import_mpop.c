/*
 * import_mpop.c - mpop's ~/.mpoprc: "defaults", then "account NAME" or
 * "account NAME : PARENT[,PARENT...]" sections of "command argument"
 * lines.  An account starts from the defaults read so far and its
 * parents, as mpop's does.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import_lex.h"
#include "import_model.h"

struct mpop_reader {
	struct import_doc *doc;
	struct import_account *defaults; /* not in doc; freed at the end */
	struct import_account *current;  /* defaults, or the last account */
	struct yb_error *err;
};

/* The command's argument, its quotes taken off. */
struct mpop_arg {
	char text[IMPORT_LINE_MAX + 1];
	size_t len;
	unsigned line;
};

static const struct import_expansion mpop_expansions[] = {
	{ "%F", "%f" }, { NULL, NULL },
};

/* on, off or nothing (on); -1 for anything else. */
static int mpop_bool(const struct mpop_arg *arg)
{
	if (arg->len == 0 || import_word_is(arg->text, arg->len, "on"))
		return 1;
	return import_word_is(arg->text, arg->len, "off") ? 0 : -1;
}

static void mpop_not_carried(struct mpop_reader *r, const char *command,
			     const struct mpop_arg *arg, const char *why)
{
	char shown[128];
	import_quote(shown, sizeof(shown), arg->text, arg->len);
	import_note(r->doc, r->current, arg->line, "'%s %s' not carried over: %s",
		    command, shown, why);
}

static void mpop_auth(struct mpop_reader *r, const struct mpop_arg *arg)
{
	static const char *const same[] = { "user", "apop", "plain", "login",
					    "cram-md5", "external" };
	if (import_word_is(arg->text, arg->len, "on") || arg->len == 0) {
		import_unset(r->current, IK_AUTH);
		return;
	}
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		if (import_word_is(arg->text, arg->len, same[i])) {
			import_set_str(r->doc, r->current, IK_AUTH, same[i], arg->line);
			return;
		}
	}
	mpop_not_carried(r, "auth", arg,
			 "yubin logs in with auto, user, apop, plain, login, cram-md5, "
			 "external, or xoauth2/oauthbearer with an oauth2 mapping");
}

static void mpop_delivery(struct mpop_reader *r, const struct mpop_arg *arg)
{
	static const struct { const char *word; enum import_key key; } kinds[] = {
		{ "maildir", IK_MAILDIR }, { "mbox", IK_MBOX }, { "mda", IK_MDA },
	};
	const char *space = memchr(arg->text, ' ', arg->len);
	size_t word_len = space ? (size_t)(space - arg->text) : arg->len;
	const char *rest = space ? space : arg->text + arg->len;
	size_t rest_len = arg->len - word_len;
	import_trim(&rest, &rest_len);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!import_word_is(arg->text, word_len, kinds[i].word) || rest_len == 0)
			continue;
		if (kinds[i].key == IK_MDA)
			import_set_mda(r->doc, r->current, rest, rest_len, arg->line,
				       mpop_expansions);
		else
			import_set(r->doc, r->current, kinds[i].key, rest, rest_len,
				   arg->line);
		return;
	}
	mpop_not_carried(r, "delivery", arg, "yubin delivers to maildir, mbox or mda");
}

static void mpop_number(struct mpop_reader *r, enum import_key key,
			const char *command, const struct mpop_arg *arg,
			unsigned long max)
{
	if (import_is_number(arg->text, arg->len, max))
		import_set(r->doc, r->current, key, arg->text, arg->len, arg->line);
	else if (!import_word_is(arg->text, arg->len, "off"))
		mpop_not_carried(r, command, arg, "not a number yubin takes here");
}

static void mpop_switch(struct mpop_reader *r, enum import_key key, int on,
			const char *when_on, const char *when_off)
{
	const char *value = on ? when_on : when_off;
	if (value)
		import_set_str(r->doc, r->current, key, value, 0);
	else
		import_unset(r->current, key);
}

static void mpop_fingerprint(struct mpop_reader *r, const struct mpop_arg *arg)
{
	char pin[128];
	if (import_sha256_pin(arg->text, arg->len, pin, sizeof(pin)))
		import_set_str(r->doc, r->current, IK_TLS_FINGERPRINT, pin, arg->line);
	else
		mpop_not_carried(r, "tls_fingerprint", arg,
				 "only a SHA-256 pin carries over; see yubin --show-cert");
}

static bool mpop_tls_command(struct mpop_reader *r, const char *command,
			     const struct mpop_arg *arg)
{
	struct import_account *account = r->current;
	if (strcmp(command, "tls") == 0)
		account->wants_tls = mpop_bool(arg);
	else if (strcmp(command, "tls_starttls") == 0)
		account->wants_starttls = mpop_bool(arg);
	else if (strcmp(command, "tls_trust_file") == 0) {
		if (arg->len > 0 && !import_word_is(arg->text, arg->len, "system"))
			import_set(r->doc, account, IK_TLS_CA_FILE, arg->text, arg->len,
				   arg->line);
	} else if (strcmp(command, "tls_fingerprint") == 0)
		mpop_fingerprint(r, arg);
	else if (strcmp(command, "tls_certcheck") == 0)
		mpop_switch(r, IK_TLS_VERIFY, mpop_bool(arg) == 0, "false", NULL);
	else if (strcmp(command, "tls_cert_file") == 0)
		import_set(r->doc, account, IK_TLS_CERT_FILE, arg->text, arg->len, arg->line);
	else if (strcmp(command, "tls_key_file") == 0)
		import_set(r->doc, account, IK_TLS_KEY_FILE, arg->text, arg->len, arg->line);
	else if (strcmp(command, "tls_host_override") == 0)
		import_set(r->doc, account, IK_TLS_SERVER_NAME, arg->text, arg->len,
			   arg->line);
	else
		return false;
	return true;
}

static bool mpop_server_command(struct mpop_reader *r, const char *command,
				const struct mpop_arg *arg)
{
	struct import_account *account = r->current;
	if (strcmp(command, "host") == 0)
		import_set(r->doc, account, IK_HOST, arg->text, arg->len, arg->line);
	else if (strcmp(command, "port") == 0)
		mpop_number(r, IK_PORT, command, arg, 65535);
	else if (strcmp(command, "timeout") == 0)
		mpop_number(r, IK_TIMEOUT, command, arg, 3600);
	else if (strcmp(command, "pipelining") == 0)
		mpop_switch(r, IK_PIPELINING, mpop_bool(arg) == 0, "false", NULL);
	else if (strcmp(command, "auth") == 0)
		mpop_auth(r, arg);
	else if (strcmp(command, "user") == 0)
		import_set(r->doc, account, IK_USER, arg->text, arg->len, arg->line);
	else if (strcmp(command, "password") == 0)
		import_set_inline_password(r->doc, account, arg->text, arg->len, arg->line);
	else if (strcmp(command, "passwordeval") == 0)
		import_set(r->doc, account, IK_PASSWORD_CMD, arg->text, arg->len,
			   arg->line);
	else
		return mpop_tls_command(r, command, arg);
	return true;
}

static bool mpop_mail_command(struct mpop_reader *r, const char *command,
			      const struct mpop_arg *arg)
{
	if (strcmp(command, "keep") == 0)
		mpop_switch(r, IK_KEEP, mpop_bool(arg) == 1, "true", "false");
	else if (strcmp(command, "skipsize") == 0) {
		if (import_is_size(arg->text, arg->len))
			import_set(r->doc, r->current, IK_MAX_SIZE, arg->text, arg->len,
				   arg->line);
		else if (import_word_is(arg->text, arg->len, "off"))
			import_unset(r->current, IK_MAX_SIZE);
		else
			mpop_not_carried(r, command, arg, "not a size yubin takes");
	} else if (strcmp(command, "delivery") == 0)
		mpop_delivery(r, arg);
	else if (strcmp(command, "killsize") == 0) {
		if (!import_word_is(arg->text, arg->len, "off"))
			mpop_not_carried(r, command, arg,
					 "yubin never deletes mail it has not delivered; "
					 "max_size leaves large messages on the server");
	} else if (strcmp(command, "only_new") == 0) {
		if (mpop_bool(arg) != 1)
			mpop_not_carried(r, command, arg,
					 "yubin fetches only what it has not fetched before");
	} else
		return false;
	return true;
}

/*
 * mpop takes double quotes anywhere in an argument ("delivery mda
 * "procmail -f '%F'""), with \" and \\ inside them.
 */
static bool mpop_unquote(const char *text, size_t len, struct mpop_arg *arg)
{
	bool quoted = false;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '"') {
			quoted = !quoted;
			continue;
		}
		if (quoted && text[i] == '\\' && i + 1 < len)
			i++;
		arg->text[n++] = text[i];
	}
	arg->text[n] = '\0';
	arg->len = n;
	return !quoted;
}

static void mpop_command(struct mpop_reader *r, const char *command,
			 const struct mpop_arg *arg)
{
	if (!r->current) {
		r->defaults = import_account_new(r->doc, "defaults", 8, arg->line);
		r->current = r->defaults;
		if (!r->current)
			return;
	}
	if (mpop_server_command(r, command, arg) || mpop_mail_command(r, command, arg))
		return;
	if (strcmp(command, "uidls_file") == 0)
		mpop_not_carried(r, command, arg,
				 "yubin keeps its own state per account (state_dir)");
	else
		mpop_not_carried(r, command, arg, "yubin has no such setting");
}

static struct import_account *mpop_find(struct import_doc *doc, const char *name,
					size_t len)
{
	for (size_t i = 0; i < doc->account_count; i++)
		if (strlen(doc->accounts[i]->name) == len &&
		    memcmp(doc->accounts[i]->name, name, len) == 0)
			return doc->accounts[i];
	return NULL;
}

/* Add to account the parents listed in text ("a, b"), in order. */
static int mpop_inherit(struct mpop_reader *r, struct import_account *account,
			const char *text, size_t len, unsigned line)
{
	char word[IMPORT_LINE_MAX + 1];
	size_t word_len, pos = 0;
	bool quoted;
	int got;
	while ((got = import_next_word(text, len, &pos, ",", word, &word_len, &quoted)) == 1) {
		struct import_account *parent = mpop_find(r->doc, word, word_len);
		if (!parent)
			return yb_fail(r->err, YB_ERR_CONFIG,
				       "%s:%u: account '%s' is not defined before this line",
				       r->doc->source, line, word);
		import_account_merge(r->doc, account, parent);
	}
	if (got < 0)
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: a quote is not closed",
			       r->doc->source, line);
	return YB_OK;
}

static int mpop_account(struct mpop_reader *r, const char *text, size_t len,
			unsigned line)
{
	const char *colon = memchr(text, ':', len);
	size_t name_len = colon ? (size_t)(colon - text) : len;
	import_trim(&text, &name_len);
	if (name_len == 0)
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: 'account' needs a name",
			       r->doc->source, line);
	if (mpop_find(r->doc, text, name_len))
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: account '%.*s' is defined twice",
			       r->doc->source, line, (int)name_len, text);
	struct import_account *account = r->defaults
		? import_account_copy(r->doc, r->defaults, text, name_len, line)
		: import_account_new(r->doc, text, name_len, line);
	if (!account)
		return YB_OK;
	int status = YB_OK;
	if (colon)
		status = mpop_inherit(r, account, colon + 1,
				      len - (size_t)(colon + 1 - text), line);
	if (status != YB_OK) {
		import_account_free(account);
		return status;
	}
	import_doc_add(r->doc, account);
	r->current = account;
	return YB_OK;
}

static int mpop_line(struct mpop_reader *r, const struct import_line *line)
{
	const char *text = line->text;
	size_t len = line->len;
	import_trim(&text, &len);
	if (len == 0 || text[0] == '#')
		return YB_OK;
	size_t command_len = 0;
	while (command_len < len && text[command_len] != ' ' && text[command_len] != '\t')
		command_len++;
	char command[32];
	snprintf(command, sizeof(command), "%.*s", (int)command_len, text);
	const char *rest = text + command_len;
	size_t rest_len = len - command_len;
	import_trim(&rest, &rest_len);
	if (strcmp(command, "account") == 0)
		return mpop_account(r, rest, rest_len, line->number);
	if (strcmp(command, "defaults") == 0) {
		if (!r->defaults)
			r->defaults = import_account_new(r->doc, "defaults", 8, line->number);
		r->current = r->defaults;
		return YB_OK;
	}
	struct mpop_arg *arg = malloc(sizeof(*arg));
	if (!arg) {
		r->doc->out_of_memory = true;
		return YB_OK;
	}
	arg->line = line->number;
	int status = YB_OK;
	if (!mpop_unquote(rest, rest_len, arg))
		status = yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: a quote is not closed",
				 r->doc->source, line->number);
	else
		mpop_command(r, command, arg);
	free(arg);
	return status;
}

/* What mpop assumes where the file says nothing, written out. */
static void mpop_settle(struct import_doc *doc, struct import_account *account)
{
	import_set_str(doc, account, IK_PROTOCOL, "pop3", 0);
	if (account->wants_tls == 0) {
		import_set_str(doc, account, IK_TLS, "none", 0);
		import_set_str(doc, account, IK_ALLOW_PLAINTEXT, "true", 0);
		import_note(doc, account, account->line,
			    "mpop was told to use no TLS (tls off), so the password "
			    "crosses the network in clear text; turn TLS on if the server can");
	} else
		import_set_str(doc, account, IK_TLS,
			       account->wants_starttls == 0 ? "implicit" : "starttls", 0);
	if (!import_get(account, IK_KEEP))
		import_set_str(doc, account, IK_KEEP, "false", 0);
}

int import_parse_mpoprc(struct import_doc *doc, const char *text, size_t len,
			struct yb_error *err)
{
	struct mpop_reader reader = { doc, NULL, NULL, err };
	struct import_cursor cursor;
	struct import_line line;
	int status = YB_OK;
	import_cursor_init(&cursor, text, len);
	while (status == YB_OK && !doc->out_of_memory && import_next_line(&cursor, &line))
		status = mpop_line(&reader, &line);
	import_account_free(reader.defaults);
	for (size_t i = 0; status == YB_OK && i < doc->account_count; i++)
		mpop_settle(doc, doc->accounts[i]);
	return status;
}
