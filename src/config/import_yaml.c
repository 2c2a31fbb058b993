/*
 * import_yaml.c - an imported document made complete (names, user,
 * delivery) and written as yubin's account file.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grow.h"
#include "import_model.h"
#include "text.h"

#define NAME_MAX_LEN 64
#define NAME_ROOM 58 /* leaves room for a "-NNNNN" that makes it unique */

/* --- Completing the document --- */

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static bool name_taken(const struct import_doc *doc, size_t before, const char *name)
{
	for (size_t i = 0; i < before; i++)
		if (strcasecmp(doc->accounts[i]->name, name) == 0)
			return true;
	return false;
}

/* A name yubin takes ([A-Za-z0-9._-], not "." or ".."), unique among
   the accounts before it without regard to case. */
static void settle_name(struct import_doc *doc, size_t index)
{
	struct import_account *account = doc->accounts[index];
	char base[NAME_ROOM + 1];
	size_t len = 0;
	for (const char *p = account->name; *p && len < NAME_ROOM; p++)
		base[len++] = is_name_char(*p) ? *p : '-';
	base[len] = '\0';
	if (len == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		snprintf(base, sizeof(base), "account");
	char name[NAME_MAX_LEN + 1];
	snprintf(name, sizeof(name), "%s", base);
	for (unsigned n = 2; name_taken(doc, index, name); n++)
		snprintf(name, sizeof(name), "%s-%u", base, n);
	char *copy = malloc(strlen(name) + 1);
	if (!copy) {
		doc->out_of_memory = true;
		return;
	}
	memcpy(copy, name, strlen(name) + 1);
	free(account->name);
	account->name = copy;
}

static void settle_user(struct import_doc *doc, struct import_account *account)
{
	if (import_get(account, IK_USER) || import_get(account, IK_AUTH))
		return;
	if (!doc->login) {
		import_note(doc, account, account->line,
			    "no user given; %s logs in with your login name: set user",
			    doc->tool);
		return;
	}
	import_set_str(doc, account, IK_USER, doc->login, account->line);
	import_note(doc, account, account->line,
		    "no user given; %s logs in with your login name, which is used here",
		    doc->tool);
}

static void settle_delivery(struct import_doc *doc, struct import_account *account)
{
	if (import_get(account, IK_MAILDIR) || import_get(account, IK_MBOX) ||
	    import_get(account, IK_MDA))
		return;
	char path[NAME_MAX_LEN + 16];
	snprintf(path, sizeof(path), "~/Mail/%s", account->name);
	import_set_str(doc, account, IK_MAILDIR, path, 0);
	import_note(doc, account, account->line,
		    "no delivery yubin can take over (%s passes mail to the local mail "
		    "system); a Maildir is assumed: change deliver, e.g. to mda: "
		    "\"/usr/sbin/sendmail -i -- YOU\"", doc->tool);
}

static void settle_password(struct import_doc *doc, struct import_account *account)
{
	const char *auth = import_get(account, IK_AUTH);
	if (import_get(account, IK_PASSWORD) || import_get(account, IK_PASSWORD_CMD) ||
	    import_get(account, IK_PASSWORD_FILE) || (auth && strcmp(auth, "external") == 0))
		return;
	import_note(doc, account, account->line,
		    "no password in the file: add password_cmd, password_file or "
		    "password_env, or run yubin --ask-password");
}

/* The Maildir or mbox an account delivers to, or NULL (an MDA). */
static const char *mailbox_of(const struct import_account *account)
{
	const char *maildir = import_get(account, IK_MAILDIR);
	return maildir ? maildir : import_get(account, IK_MBOX);
}

static bool same_value(const struct import_account *a, const struct import_account *b,
		       enum import_key key)
{
	const char *x = import_get(a, key), *y = import_get(b, key);
	return x == y || (x && y && strcmp(x, y) == 0);
}

/* Another name for the same mailbox (mpop's "account default : work"). */
static bool is_alias(const struct import_account *a, const struct import_account *b)
{
	return same_value(a, b, IK_PROTOCOL) && same_value(a, b, IK_HOST) &&
	       same_value(a, b, IK_USER) && same_value(a, b, IK_PORT);
}

static void drop_account(struct import_doc *doc, size_t index)
{
	import_account_free(doc->accounts[index]);
	memmove(doc->accounts + index, doc->accounts + index + 1,
		(doc->account_count - index - 1) * sizeof(doc->accounts[0]));
	doc->account_count--;
}

/*
 * yubin never delivers two accounts into one mailbox, which the other
 * tools allow: an account that is another's alias is left out, any
 * other gets a mailbox of its own.  Returns false when index was left
 * out.
 */
static bool settle_shared_mailbox(struct import_doc *doc, size_t index)
{
	struct import_account *account = doc->accounts[index];
	const char *mailbox = mailbox_of(account);
	for (size_t i = 0; mailbox && i < index; i++) {
		const struct import_account *other = doc->accounts[i];
		if (!mailbox_of(other) || strcmp(mailbox_of(other), mailbox) != 0)
			continue;
		if (is_alias(account, other)) {
			import_note(doc, NULL, account->line,
				    "account '%s' fetches what '%s' fetches, into the same "
				    "place, and is left out", account->name, other->name);
			drop_account(doc, index);
			return false;
		}
		enum import_key key = import_get(account, IK_MAILDIR) ? IK_MAILDIR : IK_MBOX;
		size_t len = strlen(mailbox);
		while (len > 1 && mailbox[len - 1] == '/')
			len--;
		char path[IMPORT_LINE_MAX + NAME_MAX_LEN + 2];
		snprintf(path, sizeof(path), "%.*s-%s", (int)len, mailbox, account->name);
		import_note(doc, account, account->lines[key],
			    "shared its mailbox with '%s'; yubin gives each account its own, "
			    "so this one is %s", other->name, path);
		import_set_str(doc, account, key, path, account->lines[key]);
		return true;
	}
	return true;
}

int import_finish(struct import_doc *doc, struct yb_error *err)
{
	for (size_t i = 0; i < doc->account_count && !doc->out_of_memory;) {
		struct import_account *account = doc->accounts[i];
		settle_name(doc, i);
		settle_user(doc, account);
		settle_delivery(doc, account);
		settle_password(doc, account);
		if (settle_shared_mailbox(doc, i))
			i++;
	}
	if (doc->out_of_memory)
		return yb_fail(err, YB_ERR_INTERNAL, "%s: out of memory", doc->source);
	if (doc->account_count == 0)
		return yb_fail(err, YB_ERR_CONFIG, "%s: no account to import (%s)",
			       doc->source, doc->format);
	return YB_OK;
}

/* --- Writing --- */

/* The text being written; failed once memory ran out. */
struct yaml_out {
	char *data;
	size_t len, cap;
	bool failed;
};

static void put(struct yaml_out *out, const char *text, size_t len)
{
	if (out->failed)
		return;
	if (len > IMPORT_YAML_MAX - out->len) {
		out->failed = true;
		return;
	}
	char *data = grow_array(out->data, &out->cap, out->len + len + 1, 1, 4096);
	if (!data) {
		out->failed = true;
		return;
	}
	out->data = data;
	memcpy(data + out->len, text, len);
	out->len += len;
	data[out->len] = '\0';
}

static void put_str(struct yaml_out *out, const char *text)
{
	put(out, text, strlen(text));
}

static void put_escaped_byte(struct yaml_out *out, unsigned char c)
{
	char escape[8];
	if (c == '"' || c == '\\')
		snprintf(escape, sizeof(escape), "\\%c", c);
	else
		snprintf(escape, sizeof(escape), "\\x%02x", c);
	put_str(out, escape);
}

/* A double-quoted scalar; bytes that are not UTF-8 become U+FFFD. */
static void put_quoted(struct yaml_out *out, const char *value)
{
	size_t len = strlen(value);
	put(out, "\"", 1);
	for (size_t pos = 0; pos < len;) {
		unsigned char c = (unsigned char)value[pos];
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
			put_escaped_byte(out, c);
			pos++;
			continue;
		}
		size_t start = pos;
		uint32_t cp;
		if (text_utf8_next(value, len, &pos, &cp))
			put(out, value + start, pos - start);
		else {
			put_str(out, "\\uFFFD");
			pos++;
		}
	}
	put(out, "\"", 1);
}

static bool is_plain_char(char c)
{
	return is_name_char(c) || c == '/' || c == '@' || c == '+' || c == '~';
}

/* Whether a string reads back as itself, unquoted, to YAML and to yubin. */
static bool plain_is_safe(const char *value)
{
	static const char *const words[] = { "true", "false", "yes", "no", "on",
					     "off", "null", "y", "n" };
	if (!value[0] || value[0] == '-' || value[0] == '@' || value[0] == '+' ||
	    strcmp(value, "~") == 0)
		return false;
	bool numeric = true;
	for (const char *p = value; *p; p++) {
		if (!is_plain_char(*p))
			return false;
		if (!((*p >= '0' && *p <= '9') || *p == '.'))
			numeric = false;
	}
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(value, words[i]) == 0)
			return false;
	return !numeric;
}

/* Integers, booleans and the words of an enumeration are written bare. */
static bool key_is_typed(enum import_key key)
{
	switch (key) {
	case IK_PROTOCOL: case IK_PORT: case IK_TLS: case IK_ALLOW_PLAINTEXT:
	case IK_TLS_VERIFY: case IK_TLS_MIN_VERSION: case IK_AUTH:
	case IK_TIMEOUT: case IK_PIPELINING: case IK_LAYOUT: case IK_INBOX:
	case IK_KEEP: case IK_DELETE_AFTER_DAYS: case IK_MAX_SIZE:
		return true;
	default:
		return false;
	}
}

static void put_value(struct yaml_out *out, const char *value, bool typed)
{
	bool bare = typed ? value[0] != '\0' : plain_is_safe(value);
	for (const char *p = value; typed && *p; p++)
		if (!(is_name_char(*p) || *p == '+') || *p == '_')
			bare = false;
	if (bare)
		put_str(out, value);
	else
		put_quoted(out, value);
}

static const char *const key_names[IK_COUNT] = {
	"protocol", "host", "port", "tls", "allow_plaintext", "tls_verify",
	"tls_min_version", "tls_ca_file", "tls_fingerprint", "tls_server_name",
	"tls_cert_file", "tls_key_file", "user", "auth", "password",
	"password_cmd", "password_file", "timeout", "pipelining", "layout",
	"inbox", "keep", "delete_after_days", "max_size", "maildir", "mbox",
	"mda",
};

static void put_key(struct yaml_out *out, const char *indent, const char *key,
		    const char *value, bool typed)
{
	put_str(out, indent);
	put_str(out, key);
	put_str(out, ": ");
	put_value(out, value, typed);
	put_str(out, "\n");
}

static void put_note(struct yaml_out *out, const char *indent,
		     const struct import_doc *doc, const struct import_note *note)
{
	char where[32] = "";
	if (note->line)
		snprintf(where, sizeof(where), ":%u", note->line);
	char source[200];
	text_sanitize(source, sizeof(source), doc->source, strlen(doc->source));
	put_str(out, indent);
	put_str(out, "# ");
	put_str(out, source);
	put_str(out, where);
	put_str(out, ": ");
	put_str(out, note->text);
	put_str(out, "\n");
}

static void put_folders(struct yaml_out *out, const struct import_account *account)
{
	if (account->folder_count == 0)
		return;
	put_str(out, "    folders:\n");
	for (size_t i = 0; i < account->folder_count; i++) {
		put_str(out, "      - ");
		put_value(out, account->folders[i], false);
		put_str(out, "\n");
	}
}

static void put_account(struct yaml_out *out, const struct import_doc *doc,
			const struct import_account *account)
{
	put_str(out, "\n  - name: ");
	put_str(out, account->name);
	put_str(out, "\n");
	for (int key = 0; key < IK_MAILDIR; key++) {
		if (key == IK_LAYOUT)
			put_folders(out, account);
		if (account->values[key])
			put_key(out, "    ", key_names[key], account->values[key],
				key_is_typed((enum import_key)key));
	}
	put_str(out, "    deliver:\n");
	for (int key = IK_MAILDIR; key < IK_COUNT; key++)
		if (account->values[key])
			put_key(out, "      ", key_names[key], account->values[key], false);
	for (size_t i = 0; i < account->notes.count; i++)
		put_note(out, "    ", doc, &account->notes.items[i]);
}

char *import_write_yaml(const struct import_doc *doc)
{
	struct yaml_out out = { NULL, 0, 0, false };
	char source[200];
	text_sanitize(source, sizeof(source), doc->source, strlen(doc->source));
	put_str(&out, "# yubin account file (see yubin.yaml(5)), imported from ");
	put_str(&out, source);
	put_str(&out, " (");
	put_str(&out, doc->format);
	put_str(&out, ").\n# Read the notes below, then keep it as ~/.config/yubin/config.yaml.\n");
	if (doc->notes_left_out) {
		char line[80];
		snprintf(line, sizeof(line), "# More than %d notes: the rest are left out.\n",
			 IMPORT_NOTES_MAX);
		put_str(&out, line);
	}
	for (size_t i = 0; i < doc->notes.count; i++)
		put_note(&out, "", doc, &doc->notes.items[i]);
	put_str(&out, "accounts:");
	for (size_t i = 0; i < doc->account_count; i++)
		put_account(&out, doc, doc->accounts[i]);
	if (out.failed) {
		free(out.data);
		return NULL;
	}
	return out.data;
}
