/*
 * import_model.c - the accounts an import builds, and the notes on them.
 */
#include "config.h"

#include "import_model.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "text.h"

static char *copy_bytes(struct import_doc *doc, const char *text, size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy) {
		doc->out_of_memory = true;
		return NULL;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	return copy;
}

struct import_account *import_account_new(struct import_doc *doc,
					  const char *name, size_t name_len,
					  unsigned line)
{
	struct import_account *account = calloc(1, sizeof(*account));
	if (!account) {
		doc->out_of_memory = true;
		return NULL;
	}
	account->name = copy_bytes(doc, name, name_len);
	account->line = line;
	account->wants_tls = -1;
	account->wants_starttls = -1;
	if (!account->name) {
		free(account);
		return NULL;
	}
	return account;
}

static void add_note_text(struct import_doc *doc, struct import_notes *notes,
			  unsigned line, char *text)
{
	if (doc->note_total >= IMPORT_NOTES_MAX) {
		doc->notes_left_out = true;
		free(text);
		return;
	}
	struct import_note *items = grow_array(notes->items, &notes->cap,
					       notes->count + 1, sizeof(*items), 8);
	if (!items) {
		doc->out_of_memory = true;
		free(text);
		return;
	}
	doc->note_total++;
	notes->items = items;
	items[notes->count].line = line;
	items[notes->count].text = text;
	notes->count++;
}

void import_account_merge(struct import_doc *doc, struct import_account *account,
			  const struct import_account *from)
{
	for (int key = 0; key < IK_COUNT; key++)
		if (from->values[key])
			import_set_str(doc, account, (enum import_key)key,
				       from->values[key], from->lines[key]);
	if (from->folder_count > 0)
		import_clear_folders(account);
	for (size_t i = 0; i < from->folder_count; i++)
		import_add_folder(doc, account, from->folders[i], strlen(from->folders[i]));
	for (size_t i = 0; i < from->notes.count; i++) {
		const struct import_note *note = &from->notes.items[i];
		char *text = copy_bytes(doc, note->text, strlen(note->text));
		if (text)
			add_note_text(doc, &account->notes, note->line, text);
	}
	if (from->wants_tls >= 0)
		account->wants_tls = from->wants_tls;
	if (from->wants_starttls >= 0)
		account->wants_starttls = from->wants_starttls;
}

struct import_account *import_account_copy(struct import_doc *doc,
					   const struct import_account *template,
					   const char *name, size_t name_len,
					   unsigned line)
{
	struct import_account *account = import_account_new(doc, name, name_len, line);
	if (account)
		import_account_merge(doc, account, template);
	return account;
}

static void free_notes(struct import_notes *notes)
{
	for (size_t i = 0; i < notes->count; i++)
		free(notes->items[i].text);
	free(notes->items);
}

void import_account_free(struct import_account *account)
{
	if (!account)
		return;
	free(account->name);
	for (int key = 0; key < IK_COUNT; key++)
		free(account->values[key]);
	for (size_t i = 0; i < account->folder_count; i++)
		free(account->folders[i]);
	free(account->folders);
	free_notes(&account->notes);
	free(account);
}

void import_doc_add(struct import_doc *doc, struct import_account *account)
{
	if (!account)
		return;
	struct import_account **accounts = NULL;
	if (doc->account_count < IMPORT_ACCOUNTS_MAX)
		accounts = grow_array(doc->accounts, &doc->account_cap,
				      doc->account_count + 1, sizeof(*accounts), 4);
	if (!accounts) {
		if (doc->account_count < IMPORT_ACCOUNTS_MAX)
			doc->out_of_memory = true;
		else
			import_note(doc, NULL, account->line,
				    "more than %d accounts; this one and later ones are left out",
				    IMPORT_ACCOUNTS_MAX);
		import_account_free(account);
		return;
	}
	doc->accounts = accounts;
	accounts[doc->account_count++] = account;
}

void import_doc_free(struct import_doc *doc)
{
	for (size_t i = 0; i < doc->account_count; i++)
		import_account_free(doc->accounts[i]);
	free(doc->accounts);
	free_notes(&doc->notes);
	doc->accounts = NULL;
	doc->account_count = doc->account_cap = 0;
	memset(&doc->notes, 0, sizeof(doc->notes));
}

static bool is_password_key(enum import_key key)
{
	return key == IK_PASSWORD || key == IK_PASSWORD_CMD || key == IK_PASSWORD_FILE;
}

static bool is_deliver_key(enum import_key key)
{
	return key == IK_MAILDIR || key == IK_MBOX || key == IK_MDA;
}

void import_unset(struct import_account *account, enum import_key key)
{
	free(account->values[key]);
	account->values[key] = NULL;
	account->lines[key] = 0;
}

/* Setting one key of a group of alternatives unsets the others. */
static void unset_rivals(struct import_account *account, enum import_key key)
{
	for (int other = 0; other < IK_COUNT; other++) {
		if (other == (int)key)
			continue;
		if ((is_password_key(key) && is_password_key((enum import_key)other)) ||
		    (is_deliver_key(key) && is_deliver_key((enum import_key)other)))
			import_unset(account, (enum import_key)other);
	}
}

void import_set(struct import_doc *doc, struct import_account *account,
		enum import_key key, const char *value, size_t len, unsigned line)
{
	char *copy = copy_bytes(doc, value, len);
	if (!copy)
		return;
	unset_rivals(account, key);
	free(account->values[key]);
	account->values[key] = copy;
	account->lines[key] = line;
}

void import_set_str(struct import_doc *doc, struct import_account *account,
		    enum import_key key, const char *value, unsigned line)
{
	import_set(doc, account, key, value, strlen(value), line);
}

const char *import_get(const struct import_account *account, enum import_key key)
{
	return account->values[key];
}

void import_clear_folders(struct import_account *account)
{
	for (size_t i = 0; i < account->folder_count; i++)
		free(account->folders[i]);
	account->folder_count = 0;
}

void import_add_folder(struct import_doc *doc, struct import_account *account,
		       const char *folder, size_t len)
{
	if (account->folder_count >= IMPORT_FOLDERS_MAX) {
		import_note(doc, account, 0, "more than %d folders; the rest are left out",
			    IMPORT_FOLDERS_MAX);
		return;
	}
	char **folders = grow_array(account->folders, &account->folder_cap,
				    account->folder_count + 1, sizeof(*folders), 4);
	char *copy = folders ? copy_bytes(doc, folder, len) : NULL;
	if (!folders) {
		doc->out_of_memory = true;
		return;
	}
	account->folders = folders;
	if (copy)
		folders[account->folder_count++] = copy;
}

void import_note(struct import_doc *doc, struct import_account *account,
		 unsigned line, const char *fmt, ...)
{
	char raw[512];
	va_list args;
	va_start(args, fmt);
	int written = vsnprintf(raw, sizeof(raw), fmt, args);
	va_end(args);
	if (written < 0)
		return;
	size_t len = (size_t)written < sizeof(raw) ? (size_t)written : sizeof(raw) - 1;
	char clean[600];
	text_sanitize(clean, sizeof(clean), raw, len);
	char *text = copy_bytes(doc, clean, strlen(clean));
	if (text)
		add_note_text(doc, account ? &account->notes : &doc->notes, line, text);
}

void import_quote(char *out, size_t size, const char *text, size_t len)
{
	char clean[120];
	text_sanitize(clean, sizeof(clean), text, len);
	snprintf(out, size, "%s", clean);
}

void import_set_inline_password(struct import_doc *doc,
				struct import_account *account,
				const char *value, size_t len, unsigned line)
{
	import_set(doc, account, IK_PASSWORD, value, len, line);
	import_note(doc, account, line,
		    "the password was written in the file and is copied as it is; "
		    "prefer password_cmd (a password manager) or password_file, and "
		    "keep this file chmod 600 (yubin refuses it otherwise)");
}

bool import_is_number(const char *text, size_t len, unsigned long max)
{
	unsigned long long number;
	return text_parse_u64(text, len, max, &number) && number > 0;
}

bool import_sha256_pin(const char *text, size_t len, char *out, size_t size)
{
	if (text_has_prefix_ci(text, len, "sha256:")) {
		text += 7;
		len -= 7;
	}
	char hex[65];
	size_t digits = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ':')
			continue;
		if (text_hex_value(text[i]) < 0 || digits == 64)
			return false;
		hex[digits++] = text[i];
	}
	if (digits != 64 || size < 7 + 64 + 31 + 1)
		return false;
	size_t at = (size_t)snprintf(out, size, "sha256:");
	for (size_t i = 0; i < 64; i += 2) {
		if (i > 0)
			out[at++] = ':';
		out[at++] = (char)toupper((unsigned char)hex[i]);
		out[at++] = (char)toupper((unsigned char)hex[i + 1]);
	}
	out[at] = '\0';
	return true;
}

bool import_is_size(const char *text, size_t len)
{
	if (len > 0 && strchr("kKmMgG", text[len - 1]))
		len--;
	unsigned long long number;
	return text_parse_u64(text, len, UINT64_MAX / (1024 * 1024 * 1024), &number);
}

/* The first of map's source expansions that text starts with, or NULL. */
static const struct import_expansion *expansion_at(const struct import_expansion *map,
						   const char *text, size_t len)
{
	for (; map && map->source; map++) {
		size_t n = strlen(map->source);
		if (n <= len && memcmp(text, map->source, n) == 0)
			return map;
	}
	return NULL;
}

void import_set_mda(struct import_doc *doc, struct import_account *account,
		    const char *command, size_t len, unsigned line,
		    const struct import_expansion *map)
{
	/* Each byte may become "%%", and an expansion at most "%f". */
	char *out = malloc(2 * len + 1);
	if (!out) {
		doc->out_of_memory = true;
		return;
	}
	size_t n = 0;
	for (size_t i = 0; i < len;) {
		const struct import_expansion *found = expansion_at(map, command + i, len - i);
		if (found && found->yubin) {
			memcpy(out + n, found->yubin, strlen(found->yubin));
			n += strlen(found->yubin);
			i += strlen(found->source);
			continue;
		}
		if (found)
			import_note(doc, account, line,
				    "the MDA command's %s has no yubin expansion and is passed "
				    "on as it is written: put the value in by hand", found->source);
		if (command[i] == '%')
			out[n++] = '%';
		out[n++] = command[i++];
	}
	import_set(doc, account, IK_MDA, out, n, line);
	free(out);
}
