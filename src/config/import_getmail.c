/*
 * import_getmail.c - a getmail rc file: one account in INI sections
 * [retriever], [destination] and [options] of "key = value" lines (or
 * "key: value"), continued on indented lines, with Python tuples such
 * as ("INBOX", "Archive") for lists.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import_lex.h"
#include "import_model.h"

enum getmail_section { GM_NONE, GM_RETRIEVER, GM_DESTINATION, GM_OPTIONS, GM_OTHER };

struct getmail_reader {
	struct import_doc *doc;
	struct import_account *account;
	struct yb_error *err;
	enum getmail_section section;
	/* The destination, put together at the end: its type (IK_MAILDIR,
	   IK_MBOX, IK_MDA; IK_COUNT for none yubin has), path and, for an
	   MDA_external, arguments. */
	enum import_key dest_key;
	char dest_path[IMPORT_LINE_MAX + 1];
	char mda_arguments[IMPORT_LINE_MAX + 1];
	unsigned dest_line;
};

/* One "key = value" with its continuation lines joined. */
struct getmail_item {
	char key[64];
	char value[IMPORT_LINE_MAX + 1];
	size_t value_len;
	unsigned line;
};

static const struct import_expansion getmail_expansions[] = {
	{ "%(sender)", "%f" }, { "%(recipient)", NULL }, { "%(local)", NULL },
	{ "%(domain)", NULL }, { "%(mailbox)", NULL }, { NULL, NULL },
};

static bool getmail_true(const struct getmail_item *item)
{
	static const char *const words[] = { "true", "yes", "on", "1" };
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (import_word_is(item->value, item->value_len, words[i]))
			return true;
	return false;
}

static void getmail_not_carried(struct getmail_reader *r, const struct getmail_item *item,
				const char *why)
{
	char shown[128];
	bool secret = strcmp(item->key, "password") == 0;
	import_quote(shown, sizeof(shown), item->value, secret ? 0 : item->value_len);
	import_note(r->doc, r->account, item->line, "'%s = %s' not carried over: %s",
		    item->key, secret ? "..." : shown, why);
}

/*
 * The strings of a Python tuple or list ("a", 'b',) into out, each
 * shell-quoted when join_for_shell, else separated by NUL bytes;
 * a bare word is taken as one string.  false when it is not a tuple
 * of strings.
 */
static bool getmail_tuple(const struct getmail_item *item, bool join_for_shell,
			  char *out, size_t size, size_t *count)
{
	const char *text = item->value;
	size_t len = item->value_len, n = 0;
	*count = 0;
	if (len < 2 || !((text[0] == '(' && text[len - 1] == ')') ||
			 (text[0] == '[' && text[len - 1] == ']')))
		return false;
	for (size_t pos = 1; pos < len - 1;) {
		char c = text[pos];
		if (c == ' ' || c == '\t' || c == ',' || c == '\n') {
			pos++;
			continue;
		}
		if (c != '"' && c != '\'')
			return false;
		const char *end = memchr(text + pos + 1, c, len - 1 - (pos + 1));
		if (!end)
			return false;
		size_t word_len = (size_t)(end - text - pos - 1);
		if (n + word_len + 4 > size)
			return false;
		if (join_for_shell && n > 0)
			out[n++] = ' ';
		bool quote = join_for_shell && (word_len == 0 ||
			strcspn(text + pos + 1, " \t'\"\\$`;&|<>()*?[]{}~#!") < word_len);
		if (quote)
			out[n++] = '\'';
		memcpy(out + n, text + pos + 1, word_len);
		n += word_len;
		if (quote)
			out[n++] = '\'';
		if (!join_for_shell)
			out[n++] = '\0';
		(*count)++;
		pos = (size_t)(end - text) + 1;
	}
	out[n] = '\0';
	return true;
}

static void getmail_type(struct getmail_reader *r, const struct getmail_item *item)
{
	struct import_doc *doc = r->doc;
	const char *type = item->value;
	bool imap = strstr(type, "IMAP") != NULL;
	bool ssl = strstr(type, "SSL") != NULL;
	import_set_str(doc, r->account, IK_PROTOCOL, imap ? "imap" : "pop3", item->line);
	import_set_str(doc, r->account, IK_TLS, ssl ? "implicit" : "starttls", item->line);
	if (!ssl)
		import_note(doc, r->account, item->line,
			    "getmail spoke without TLS; yubin asks for STARTTLS (a server "
			    "without it needs tls: none and allow_plaintext: true)");
	if (strncmp(type, "Simple", 6) != 0)
		getmail_not_carried(r, item, "only the Simple retrievers carry over; "
				    "this account is read as the Simple one");
	if (!strstr(type, "POP3") && !imap)
		getmail_not_carried(r, item, "not a POP3 or IMAP retriever");
}

static void getmail_list(struct getmail_reader *r, const struct getmail_item *item)
{
	char *words = malloc(IMPORT_LINE_MAX + 1);
	size_t count;
	if (!words) {
		r->doc->out_of_memory = true;
		return;
	}
	if (import_word_is(item->value, item->value_len, "ALL"))
		import_add_folder(r->doc, r->account, "*", 1);
	else if (getmail_tuple(item, false, words, IMPORT_LINE_MAX + 1, &count)) {
		const char *word = words;
		for (size_t i = 0; i < count; i++, word += strlen(word) + 1)
			import_add_folder(r->doc, r->account, word, strlen(word));
	} else
		getmail_not_carried(r, item, "not a tuple of folder names");
	free(words);
}

static void getmail_password_command(struct getmail_reader *r,
				     const struct getmail_item *item)
{
	char command[IMPORT_LINE_MAX + 1];
	size_t count;
	if (getmail_tuple(item, true, command, sizeof(command), &count) && count > 0)
		import_set_str(r->doc, r->account, IK_PASSWORD_CMD, command, item->line);
	else
		getmail_not_carried(r, item, "not a tuple of the command and its arguments");
}

static void getmail_fingerprint(struct getmail_reader *r, const struct getmail_item *item)
{
	char pins[IMPORT_LINE_MAX + 1], pin[128];
	size_t count;
	if (getmail_tuple(item, false, pins, sizeof(pins), &count) && count == 1 &&
	    import_sha256_pin(pins, strlen(pins), pin, sizeof(pin)))
		import_set_str(r->doc, r->account, IK_TLS_FINGERPRINT, pin, item->line);
	else
		getmail_not_carried(r, item, "only one SHA-256 pin carries over");
}

static void getmail_auth(struct getmail_reader *r, const struct getmail_item *item)
{
	if (getmail_true(item))
		import_set_str(r->doc, r->account, IK_AUTH,
			       strcmp(item->key, "use_apop") == 0 ? "apop" : "cram-md5",
			       item->line);
}

static void getmail_retriever(struct getmail_reader *r, const struct getmail_item *item)
{
	static const struct { const char *key; enum import_key to; } copied[] = {
		{ "server", IK_HOST }, { "username", IK_USER }, { "ca_certs", IK_TLS_CA_FILE },
		{ "certfile", IK_TLS_CERT_FILE }, { "keyfile", IK_TLS_KEY_FILE },
		{ "ssl_cert_hostname", IK_TLS_SERVER_NAME },
	};
	for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		if (strcmp(item->key, copied[i].key) == 0) {
			import_set(r->doc, r->account, copied[i].to, item->value,
				   item->value_len, item->line);
			return;
		}
	}
	if (strcmp(item->key, "type") == 0)
		getmail_type(r, item);
	else if (strcmp(item->key, "password") == 0)
		import_set_inline_password(r->doc, r->account, item->value,
					   item->value_len, item->line);
	else if (strcmp(item->key, "password_command") == 0)
		getmail_password_command(r, item);
	else if (strcmp(item->key, "port") == 0 && import_is_number(item->value, item->value_len, 65535))
		import_set(r->doc, r->account, IK_PORT, item->value, item->value_len, item->line);
	else if (strcmp(item->key, "timeout") == 0 && import_is_number(item->value, item->value_len, 3600))
		import_set(r->doc, r->account, IK_TIMEOUT, item->value, item->value_len, item->line);
	else if (strcmp(item->key, "mailboxes") == 0)
		getmail_list(r, item);
	else if (strcmp(item->key, "use_apop") == 0 || strcmp(item->key, "use_cram_md5") == 0)
		getmail_auth(r, item);
	else if (strcmp(item->key, "ssl_fingerprints") == 0)
		getmail_fingerprint(r, item);
	else if (strcmp(item->key, "use_peek") != 0 || getmail_true(item))
		getmail_not_carried(r, item, "yubin has no such setting");
}

static void getmail_destination(struct getmail_reader *r, const struct getmail_item *item)
{
	if (strcmp(item->key, "type") == 0) {
		r->dest_key = strcmp(item->value, "Maildir") == 0 ? IK_MAILDIR
			: strcmp(item->value, "Mboxrd") == 0 ? IK_MBOX
			: strcmp(item->value, "MDA_external") == 0 ? IK_MDA : IK_COUNT;
		if (r->dest_key == IK_COUNT)
			getmail_not_carried(r, item, "yubin delivers to a Maildir, an mbox "
					    "(Mboxrd) or an MDA (MDA_external)");
		r->dest_line = item->line;
	} else if (strcmp(item->key, "path") == 0)
		snprintf(r->dest_path, sizeof(r->dest_path), "%s", item->value);
	else if (strcmp(item->key, "arguments") == 0) {
		size_t count;
		if (!getmail_tuple(item, true, r->mda_arguments, sizeof(r->mda_arguments), &count))
			getmail_not_carried(r, item, "not a tuple of arguments");
	} else
		getmail_not_carried(r, item, "yubin has no such setting");
}

static void getmail_options(struct getmail_reader *r, const struct getmail_item *item)
{
	struct import_doc *doc = r->doc;
	if (strcmp(item->key, "delete") == 0)
		import_set_str(doc, r->account, IK_KEEP, getmail_true(item) ? "false" : "true",
			       item->line);
	else if (strcmp(item->key, "delete_after") == 0 &&
		 import_is_number(item->value, item->value_len, 36500))
		import_set(doc, r->account, IK_DELETE_AFTER_DAYS, item->value,
			   item->value_len, item->line);
	else if (strcmp(item->key, "max_message_size") == 0 &&
		 import_is_size(item->value, item->value_len))
		import_set(doc, r->account, IK_MAX_SIZE, item->value, item->value_len,
			   item->line);
	else if (strcmp(item->key, "read_all") == 0 && getmail_true(item))
		getmail_not_carried(r, item, "yubin fetches only what it has not fetched before");
	else if ((strcmp(item->key, "delivered_to") == 0 || strcmp(item->key, "received") == 0)) {
		if (getmail_true(item))
			getmail_not_carried(r, item, "yubin adds no header to a message");
	} else if (strcmp(item->key, "read_all") != 0 && strcmp(item->key, "verbose") != 0 &&
		   strcmp(item->key, "max_message_size") != 0)
		getmail_not_carried(r, item, "yubin has no such setting");
}

static void getmail_apply(struct getmail_reader *r, const struct getmail_item *item)
{
	if (item->line == 0)
		return;
	if (r->section == GM_RETRIEVER)
		getmail_retriever(r, item);
	else if (r->section == GM_DESTINATION)
		getmail_destination(r, item);
	else if (r->section == GM_OPTIONS)
		getmail_options(r, item);
	else
		getmail_not_carried(r, item, "filters and other sections do not carry over");
}

static int getmail_section(struct getmail_reader *r, const char *text, size_t len,
			   unsigned line)
{
	if (len < 2 || text[len - 1] != ']')
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: a section header ends in ']'",
			       r->doc->source, line);
	text++;
	len -= 2;
	r->section = import_word_is(text, len, "retriever") ? GM_RETRIEVER
		: import_word_is(text, len, "destination") ? GM_DESTINATION
		: import_word_is(text, len, "options") ? GM_OPTIONS : GM_OTHER;
	return YB_OK;
}

/* "key = value" (or "key: value") into item; an error if neither. */
static int getmail_start_item(struct getmail_reader *r, struct getmail_item *item,
			      const char *text, size_t len, unsigned line)
{
	size_t split = 0;
	while (split < len && text[split] != '=' && text[split] != ':')
		split++;
	if (split >= len)
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: expected 'key = value'",
			       r->doc->source, line);
	if (r->section == GM_NONE)
		return yb_fail(r->err, YB_ERR_CONFIG, "%s:%u: a setting before any [section]",
			       r->doc->source, line);
	const char *key = text;
	size_t key_len = split;
	import_trim(&key, &key_len);
	snprintf(item->key, sizeof(item->key), "%.*s", (int)key_len, key);
	const char *value = text + split + 1;
	size_t value_len = len - split - 1;
	import_trim(&value, &value_len);
	memcpy(item->value, value, value_len);
	item->value[value_len] = '\0';
	item->value_len = value_len;
	item->line = line;
	return YB_OK;
}

/* An indented line adds to the value before it, as Python's ConfigParser has it. */
static void getmail_continue(struct getmail_item *item, const char *text, size_t len)
{
	size_t room = IMPORT_LINE_MAX - item->value_len;
	if (room == 0)
		return;
	item->value[item->value_len++] = ' ';
	if (len > room - 1)
		len = room - 1;
	memcpy(item->value + item->value_len, text, len);
	item->value_len += len;
	item->value[item->value_len] = '\0';
}

static int getmail_line(struct getmail_reader *r, struct getmail_item *item,
			const struct import_line *line)
{
	const char *text = line->text;
	size_t len = line->len;
	bool indented = len > 0 && (text[0] == ' ' || text[0] == '\t');
	import_trim(&text, &len);
	if (len == 0 || text[0] == '#' || text[0] == ';')
		return YB_OK;
	if (indented && item->line) {
		getmail_continue(item, text, len);
		return YB_OK;
	}
	getmail_apply(r, item);
	item->line = 0;
	if (text[0] == '[')
		return getmail_section(r, text, len, line->number);
	return getmail_start_item(r, item, text, len, line->number);
}

/*
 * getmail's files are named getmailrc, or getmailrc-NAME in a directory
 * of several: NAME, else the server, names the account.
 */
static void getmail_name(struct getmail_reader *r)
{
	const char *name = strrchr(r->doc->source, '/');
	name = name ? name + 1 : r->doc->source;
	if (strncmp(name, "getmailrc", 9) == 0)
		name += 9;
	name += strspn(name, "-._");
	if (!name[0])
		name = import_get(r->account, IK_HOST);
	char *copy = name ? malloc(strlen(name) + 1) : NULL;
	if (!copy)
		return;
	memcpy(copy, name, strlen(name) + 1);
	free(r->account->name);
	r->account->name = copy;
}

static void getmail_settle(struct getmail_reader *r)
{
	if (!import_get(r->account, IK_PROTOCOL))
		import_note(r->doc, r->account, 0, "no retriever type: a POP3 account is assumed");
	if (!import_get(r->account, IK_PROTOCOL))
		import_set_str(r->doc, r->account, IK_PROTOCOL, "pop3", 0);
	if (r->dest_key == IK_MDA && r->dest_path[0]) {
		char command[2 * IMPORT_LINE_MAX + 2];
		snprintf(command, sizeof(command), "%s%s%s", r->dest_path,
			 r->mda_arguments[0] ? " " : "", r->mda_arguments);
		import_set_mda(r->doc, r->account, command, strlen(command), r->dest_line,
			       getmail_expansions);
	} else if (r->dest_key != IK_COUNT && r->dest_path[0])
		import_set_str(r->doc, r->account, r->dest_key, r->dest_path, r->dest_line);
	getmail_name(r);
}

int import_parse_getmailrc(struct import_doc *doc, const char *text, size_t len,
			   struct yb_error *err)
{
	struct getmail_reader *r = calloc(1, sizeof(*r));
	struct getmail_item *item = calloc(1, sizeof(*item));
	struct import_account *account = r && item
		? import_account_new(doc, "getmail", 7, 1) : NULL;
	if (!account) {
		doc->out_of_memory = true;
		free(r);
		free(item);
		return YB_OK;
	}
	*r = (struct getmail_reader){ .doc = doc, .account = account, .err = err,
				      .dest_key = IK_COUNT };
	struct import_cursor cursor;
	struct import_line line;
	int status = YB_OK;
	import_cursor_init(&cursor, text, len);
	while (status == YB_OK && import_next_line(&cursor, &line))
		status = getmail_line(r, item, &line);
	getmail_apply(r, item);
	if (status == YB_OK) {
		getmail_settle(r);
		import_doc_add(doc, account);
	} else
		import_account_free(account);
	free(item);
	free(r);
	return status;
}
