/*
 * import_mbsync.c - mbsync's ~/.mbsyncrc: IMAPAccount, IMAPStore,
 * MaildirStore, Channel and Group sections of "Keyword value" lines,
 * each section ended by an empty line or the next section.  The whole
 * file is read into sections first, since a Channel may name stores
 * defined after it; each Channel from an IMAP store into a Maildir
 * store becomes one account.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "import_lex.h"
#include "import_model.h"

enum mbsync_kind { MB_GLOBAL, MB_ACCOUNT, MB_IMAP_STORE, MB_MAILDIR_STORE,
		   MB_CHANNEL, MB_GROUP };

/* A "Keyword value" line; both point into the file's text. */
struct mbsync_entry {
	const char *key, *value;
	size_t key_len, value_len;
	unsigned line;
};

struct mbsync_section {
	enum mbsync_kind kind;
	const char *name;
	size_t name_len;
	unsigned line;
	size_t first, count; /* its entries */
};

struct mbsync_file {
	struct import_doc *doc;
	struct yb_error *err;
	struct mbsync_entry *entries;
	size_t entry_count, entry_cap;
	struct mbsync_section *sections;
	size_t section_count, section_cap;
	bool in_section; /* false after an empty line */
};

/* What an account is built from: a Channel's two stores and boxes. */
struct mbsync_channel {
	const struct mbsync_section *channel, *far, *near, *account;
	char far_box[IMPORT_LINE_MAX + 1], near_box[IMPORT_LINE_MAX + 1];
};

static const struct { const char *word; enum mbsync_kind kind; } section_words[] = {
	{ "IMAPAccount", MB_ACCOUNT }, { "IMAPStore", MB_IMAP_STORE },
	{ "MaildirStore", MB_MAILDIR_STORE }, { "Channel", MB_CHANNEL },
	{ "Group", MB_GROUP },
};

/* --- Reading the file into sections --- */

static bool mbsync_new_section(struct mbsync_file *file, enum mbsync_kind kind,
			       const struct mbsync_entry *entry)
{
	struct mbsync_section *sections = grow_array(file->sections, &file->section_cap,
						     file->section_count + 1,
						     sizeof(*sections), 8);
	if (!sections) {
		file->doc->out_of_memory = true;
		return false;
	}
	file->sections = sections;
	struct mbsync_section *section = &sections[file->section_count++];
	section->kind = kind;
	section->name = entry ? entry->value : "";
	section->name_len = entry ? entry->value_len : 0;
	section->line = entry ? entry->line : 0;
	section->first = file->entry_count;
	section->count = 0;
	file->in_section = kind != MB_GLOBAL;
	return true;
}

static int mbsync_section_kind(const struct mbsync_file *file,
			       const struct mbsync_entry *entry)
{
	const struct mbsync_section *current = file->section_count
		? &file->sections[file->section_count - 1] : NULL;
	bool in_group = file->in_section && current && current->kind == MB_GROUP;
	for (size_t i = 0; i < sizeof(section_words) / sizeof(section_words[0]); i++) {
		if (!import_word_is(entry->key, entry->key_len, section_words[i].word))
			continue;
		/* In a Group, "Channel x" names a member. */
		if (in_group && section_words[i].kind == MB_CHANNEL)
			return -1;
		return (int)section_words[i].kind;
	}
	return -1;
}

static void mbsync_add_entry(struct mbsync_file *file, const struct mbsync_entry *entry)
{
	int kind = mbsync_section_kind(file, entry);
	if (kind >= 0 && !mbsync_new_section(file, (enum mbsync_kind)kind, entry))
		return;
	if (kind < 0 && !file->in_section && !mbsync_new_section(file, MB_GLOBAL, NULL))
		return;
	struct mbsync_entry *entries = grow_array(file->entries, &file->entry_cap,
						  file->entry_count + 1, sizeof(*entries), 32);
	if (!entries) {
		file->doc->out_of_memory = true;
		return;
	}
	file->entries = entries;
	entries[file->entry_count++] = *entry;
	file->sections[file->section_count - 1].count++;
}

static int mbsync_read_line(struct mbsync_file *file, const struct import_line *line)
{
	const char *text = line->text;
	size_t len = line->len;
	import_trim(&text, &len);
	if (len > 0 && text[0] == '#')
		return YB_OK;
	if (len == 0) {
		file->in_section = false;
		return YB_OK;
	}
	struct mbsync_entry entry = { .key = text, .line = line->number };
	while (entry.key_len < len && text[entry.key_len] != ' ' &&
	       text[entry.key_len] != '\t')
		entry.key_len++;
	entry.value = text + entry.key_len;
	entry.value_len = len - entry.key_len;
	import_trim(&entry.value, &entry.value_len);
	if (entry.value_len == 0)
		return yb_fail(file->err, YB_ERR_CONFIG, "%s:%u: '%.*s' needs a value",
			       file->doc->source, line->number, (int)entry.key_len, text);
	mbsync_add_entry(file, &entry);
	return YB_OK;
}

/* --- Looking things up --- */

static const struct mbsync_entry *mbsync_find(const struct mbsync_file *file,
					      const struct mbsync_section *section,
					      const char *key)
{
	const struct mbsync_entry *found = NULL;
	for (size_t i = section->first; i < section->first + section->count; i++)
		if (import_word_is(file->entries[i].key, file->entries[i].key_len, key))
			found = &file->entries[i];
	return found;
}

static const struct mbsync_section *mbsync_section_named(const struct mbsync_file *file,
							 enum mbsync_kind kind,
							 const char *name, size_t len)
{
	for (size_t i = 0; i < file->section_count; i++) {
		const struct mbsync_section *section = &file->sections[i];
		if (section->kind == kind && section->name_len == len &&
		    memcmp(section->name, name, len) == 0)
			return section;
	}
	return NULL;
}

/* The entry's value, its quotes taken off, into out (IMPORT_LINE_MAX + 1). */
static int mbsync_value(const struct mbsync_file *file, const struct mbsync_entry *entry,
			char *out, size_t *len)
{
	if (import_unquote(entry->value, entry->value_len, out, len))
		return YB_OK;
	return yb_fail(file->err, YB_ERR_CONFIG, "%s:%u: a quote is not closed",
		       file->doc->source, entry->line);
}

static void mbsync_not_carried(struct mbsync_file *file, struct import_account *account,
			       const struct mbsync_entry *entry, const char *why)
{
	char key[40], value[128];
	import_quote(key, sizeof(key), entry->key, entry->key_len);
	bool secret = import_word_is(entry->key, entry->key_len, "Pass");
	import_quote(value, sizeof(value), entry->value, secret ? 0 : entry->value_len);
	import_note(file->doc, account, entry->line, "'%s %s' not carried over: %s",
		    key, secret ? "..." : value, why);
}

/*
 * ":store:box" into the store's section and box; a missing store or a
 * value of another form is an error, as it is to mbsync.
 */
static int mbsync_store_spec(const struct mbsync_file *file,
			     const struct mbsync_entry *entry,
			     const struct mbsync_section **store, char *box)
{
	char spec[IMPORT_LINE_MAX + 1];
	size_t len;
	int status = mbsync_value(file, entry, spec, &len);
	if (status != YB_OK)
		return status;
	const char *second = len > 1 && spec[0] == ':' ? memchr(spec + 1, ':', len - 1) : NULL;
	if (!second)
		return yb_fail(file->err, YB_ERR_CONFIG,
			       "%s:%u: '%.*s' wants :store: or :store:box", file->doc->source,
			       entry->line, (int)entry->key_len, entry->key);
	size_t name_len = (size_t)(second - spec - 1);
	*store = mbsync_section_named(file, MB_IMAP_STORE, spec + 1, name_len);
	if (!*store)
		*store = mbsync_section_named(file, MB_MAILDIR_STORE, spec + 1, name_len);
	if (!*store)
		return yb_fail(file->err, YB_ERR_CONFIG, "%s:%u: store '%.*s' is not defined",
			       file->doc->source, entry->line, (int)name_len, spec + 1);
	snprintf(box, IMPORT_LINE_MAX + 1, "%s", second + 1);
	return YB_OK;
}

/* --- The server: IMAPAccount keys, also allowed in an IMAPStore --- */

static void mbsync_tls_type(struct mbsync_file *file, struct import_account *account,
			    const struct mbsync_entry *entry, const char *value)
{
	struct import_doc *doc = file->doc;
	if (import_word_is(value, strlen(value), "IMAPS"))
		import_set_str(doc, account, IK_TLS, "implicit", entry->line);
	else if (import_word_is(value, strlen(value), "STARTTLS"))
		import_set_str(doc, account, IK_TLS, "starttls", entry->line);
	else if (import_word_is(value, strlen(value), "None")) {
		import_set_str(doc, account, IK_TLS, "none", entry->line);
		import_set_str(doc, account, IK_ALLOW_PLAINTEXT, "true", entry->line);
		import_note(doc, account, entry->line,
			    "mbsync used no TLS here, so the password crosses the network "
			    "in clear text; use tls: implicit or starttls if the server can");
	} else
		mbsync_not_carried(file, account, entry, "not IMAPS, STARTTLS or None");
}

static void mbsync_tls_versions(struct mbsync_file *file, struct import_account *account,
				const struct mbsync_entry *entry, const char *value)
{
	bool has_12 = strstr(value, "TLSv1.2") != NULL;
	bool has_13 = strstr(value, "TLSv1.3") != NULL;
	if (has_13 && !has_12)
		import_set_str(file->doc, account, IK_TLS_MIN_VERSION, "1.3", entry->line);
	else if (!has_12)
		mbsync_not_carried(file, account, entry, "yubin speaks TLS 1.2 and 1.3 only");
}

static void mbsync_auth(struct mbsync_file *file, struct import_account *account,
			const struct mbsync_entry *entry, const char *value)
{
	static const char *const same[] = { "PLAIN", "LOGIN", "CRAM-MD5", "EXTERNAL" };
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		if (import_word_is(value, strlen(value), same[i])) {
			char lower[16];
			size_t n;
			for (n = 0; same[i][n] && n + 1 < sizeof(lower); n++)
				lower[n] = (char)(same[i][n] >= 'A' && same[i][n] <= 'Z'
						  ? same[i][n] + 32 : same[i][n]);
			lower[n] = '\0';
			import_set_str(file->doc, account, IK_AUTH, lower, entry->line);
			return;
		}
	}
	if (strcmp(value, "*") != 0)
		mbsync_not_carried(file, account, entry,
				   "yubin's auth: auto picks the best mechanism offered; "
				   "XOAUTH2 needs an oauth2 mapping (yubin.yaml(5))");
}

static bool mbsync_server_key(struct mbsync_file *file, struct import_account *account,
			      const struct mbsync_entry *entry, const char *value, size_t len)
{
	static const struct { const char *word; enum import_key key; } copied[] = {
		{ "Host", IK_HOST }, { "User", IK_USER }, { "PassCmd", IK_PASSWORD_CMD },
		{ "CertificateFile", IK_TLS_CA_FILE }, { "ClientCertificate", IK_TLS_CERT_FILE },
		{ "ClientKey", IK_TLS_KEY_FILE },
	};
	const char *key = entry->key;
	size_t key_len = entry->key_len;
	for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		if (!import_word_is(key, key_len, copied[i].word))
			continue;
		/* "+command": mbsync runs it on the terminal; yubin never does. */
		bool plus = copied[i].key == IK_PASSWORD_CMD && value[0] == '+';
		import_set(file->doc, account, copied[i].key, value + plus, len - plus,
			   entry->line);
		return true;
	}
	if (import_word_is(key, key_len, "Pass"))
		import_set_inline_password(file->doc, account, value, len, entry->line);
	else if (import_word_is(key, key_len, "Port") && import_is_number(value, len, 65535))
		import_set(file->doc, account, IK_PORT, value, len, entry->line);
	else if (import_word_is(key, key_len, "Timeout") && import_is_number(value, len, 3600))
		import_set(file->doc, account, IK_TIMEOUT, value, len, entry->line);
	else if (import_word_is(key, key_len, "SSLType") || import_word_is(key, key_len, "TLSType"))
		mbsync_tls_type(file, account, entry, value);
	else if (import_word_is(key, key_len, "SSLVersions") ||
		 import_word_is(key, key_len, "TLSVersions"))
		mbsync_tls_versions(file, account, entry, value);
	else if (import_word_is(key, key_len, "AuthMechs") || import_word_is(key, key_len, "AuthMech"))
		mbsync_auth(file, account, entry, value);
	else
		return false;
	return true;
}

/* --- The stores and the channel --- */

static const char *mbsync_reason(const struct mbsync_entry *entry)
{
	static const struct { const char *word; const char *why; } reasons[] = {
		{ "Tunnel", "yubin connects over TCP only" },
		{ "UserCmd", "write the user name out" },
		{ "Path", "yubin finds the server's folder prefix itself (NAMESPACE)" },
		{ "PathDelimiter", "yubin uses the server's delimiter and writes / locally" },
		{ "SyncState", "yubin keeps its own state (state_dir)" },
		{ "Expunge", "yubin keeps the server's mail (keep: true) unless told keep: false" },
		{ "Create", "yubin creates the Maildirs it needs, nothing on the server" },
		{ "Remove", "yubin removes no folder" },
		{ "Sync", "yubin only fetches, and mirrors the server's flags (sync_flags)" },
		{ "Port", "not a port number" }, { "Timeout", "not from 1 to 3600" },
	};
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (import_word_is(entry->key, entry->key_len, reasons[i].word))
			return reasons[i].why;
	return "yubin has no such setting";
}

/* Settings that change nothing for yubin, or say what it does anyway. */
static bool mbsync_harmless(const struct mbsync_entry *entry, const char *value)
{
	size_t len = strlen(value);
	if (import_word_is(entry->key, entry->key_len, "UseNamespace"))
		return true;
	if (import_word_is(entry->key, entry->key_len, "Create") ||
	    import_word_is(entry->key, entry->key_len, "Expunge") ||
	    import_word_is(entry->key, entry->key_len, "Remove"))
		return import_word_is(value, len, "Near") || import_word_is(value, len, "Slave") ||
		       import_word_is(value, len, "None");
	if (import_word_is(entry->key, entry->key_len, "Sync"))
		return import_word_is(value, len, "PullNew") ||
		       import_word_is(value, len, "Pull New") ||
		       import_word_is(value, len, "PullNew PullFlags");
	return import_word_is(entry->key, entry->key_len, "Account") ||
	       import_word_is(entry->key, entry->key_len, "Far") ||
	       import_word_is(entry->key, entry->key_len, "Near") ||
	       import_word_is(entry->key, entry->key_len, "Master") ||
	       import_word_is(entry->key, entry->key_len, "Slave") ||
	       import_word_is(entry->key, entry->key_len, "Pattern") ||
	       import_word_is(entry->key, entry->key_len, "Patterns") ||
	       import_word_is(entry->key, entry->key_len, "IMAPAccount") ||
	       import_word_is(entry->key, entry->key_len, "IMAPStore") ||
	       import_word_is(entry->key, entry->key_len, "MaildirStore") ||
	       import_word_is(entry->key, entry->key_len, "Channel");
}

static int mbsync_apply_section(struct mbsync_file *file, struct import_account *account,
				const struct mbsync_section *section)
{
	char *value = malloc(IMPORT_LINE_MAX + 1);
	if (!value) {
		file->doc->out_of_memory = true;
		return YB_OK;
	}
	int status = YB_OK;
	for (size_t i = section->first; status == YB_OK && i < section->first + section->count; i++) {
		const struct mbsync_entry *entry = &file->entries[i];
		size_t len;
		status = mbsync_value(file, entry, value, &len);
		if (status != YB_OK || mbsync_harmless(entry, value))
			continue;
		if (section->kind == MB_MAILDIR_STORE && import_word_is(entry->key, entry->key_len, "MaxSize") &&
		    import_is_size(value, len))
			import_set(file->doc, account, IK_MAX_SIZE, value, len, entry->line);
		else if (section->kind == MB_MAILDIR_STORE &&
			 (import_word_is(entry->key, entry->key_len, "Path") ||
			  import_word_is(entry->key, entry->key_len, "Inbox") ||
			  import_word_is(entry->key, entry->key_len, "SubFolders")))
			continue; /* mbsync_delivery reads these */
		else if ((section->kind == MB_CHANNEL || section->kind == MB_GLOBAL ||
			  section->kind == MB_MAILDIR_STORE) ||
			 !mbsync_server_key(file, account, entry, value, len))
			mbsync_not_carried(file, account, entry, mbsync_reason(entry));
	}
	free(value);
	return status;
}

static int mbsync_folders(struct mbsync_file *file, struct import_account *account,
			  const struct mbsync_channel *ch)
{
	const struct mbsync_entry *patterns = mbsync_find(file, ch->channel, "Patterns");
	if (!patterns)
		patterns = mbsync_find(file, ch->channel, "Pattern");
	if (!patterns) {
		if (ch->far_box[0] && !import_word_is(ch->far_box, strlen(ch->far_box), "INBOX"))
			import_add_folder(file->doc, account, ch->far_box, strlen(ch->far_box));
		return YB_OK;
	}
	if (ch->far_box[0])
		import_note(file->doc, account, patterns->line,
			    "mbsync read these patterns below the box '%s'; check folders",
			    ch->far_box);
	char word[IMPORT_LINE_MAX + 1];
	size_t word_len, pos = 0;
	bool quoted;
	int got;
	while ((got = import_next_word(patterns->value, patterns->value_len, &pos, "",
				       word, &word_len, &quoted)) == 1) {
		if (word[0] == '!')
			import_note(file->doc, account, patterns->line,
				    "pattern '%s' not carried over: yubin has no exclusions; "
				    "name the folders to fetch instead", word);
		else
			import_add_folder(file->doc, account, word, word_len);
	}
	if (got < 0)
		return yb_fail(file->err, YB_ERR_CONFIG, "%s:%u: a quote is not closed",
			       file->doc->source, patterns->line);
	return YB_OK;
}

/* The value of key in section into out, or "" when it is not there. */
static int mbsync_get(struct mbsync_file *file, const struct mbsync_section *section,
		      const char *key, char *out)
{
	const struct mbsync_entry *entry = mbsync_find(file, section, key);
	size_t len = 0;
	out[0] = '\0';
	return entry ? mbsync_value(file, entry, out, &len) : YB_OK;
}

static void mbsync_layout(struct mbsync_file *file, struct import_account *account,
			  const struct mbsync_section *near, const char *path,
			  const char *inbox)
{
	const struct mbsync_entry *sub = mbsync_find(file, near, "SubFolders");
	if (sub && import_word_is(sub->value, sub->value_len, "Maildir++"))
		import_set_str(file->doc, account, IK_LAYOUT, "maildir++", sub->line);
	else if (sub && !import_word_is(sub->value, sub->value_len, "Verbatim"))
		mbsync_not_carried(file, account, sub,
				   "yubin lays folders out verbatim or maildir++");
	if (!inbox[0] || account->folder_count == 0)
		return;
	size_t path_len = strlen(path);
	if (strncmp(inbox, path, path_len) == 0 && strcmp(inbox + path_len, "INBOX") == 0)
		import_set_str(file->doc, account, IK_INBOX, "folder", 0);
	else if (strcmp(inbox, path) != 0)
		import_note(file->doc, account, near->line,
			    "mbsync kept INBOX in %s; yubin keeps it in the Maildir "
			    "itself (inbox: root) or in its INBOX (inbox: folder)", inbox);
}

static int mbsync_delivery(struct mbsync_file *file, struct import_account *account,
			   const struct mbsync_channel *ch)
{
	char *path = malloc(2 * (IMPORT_LINE_MAX + 1));
	if (!path) {
		file->doc->out_of_memory = true;
		return YB_OK;
	}
	char *inbox = path + IMPORT_LINE_MAX + 1;
	int status = mbsync_get(file, ch->near, "Path", path);
	if (status == YB_OK)
		status = mbsync_get(file, ch->near, "Inbox", inbox);
	if (status == YB_OK) {
		bool is_inbox = import_word_is(ch->near_box, strlen(ch->near_box), "INBOX");
		char target[2 * IMPORT_LINE_MAX + 2];
		if (is_inbox)
			snprintf(target, sizeof(target), "%s", inbox[0] ? inbox : "~/Maildir");
		else
			snprintf(target, sizeof(target), "%s%s", path, ch->near_box);
		if (target[0])
			import_set_str(file->doc, account, IK_MAILDIR, target, ch->near->line);
		mbsync_layout(file, account, ch->near, path, inbox);
	}
	free(path);
	return status;
}

static int mbsync_build(struct mbsync_file *file, const struct mbsync_channel *ch)
{
	struct import_account *account = import_account_new(file->doc, ch->channel->name,
							    ch->channel->name_len,
							    ch->channel->line);
	if (!account)
		return YB_OK;
	import_set_str(file->doc, account, IK_PROTOCOL, "imap", 0);
	import_set_str(file->doc, account, IK_TLS, "starttls", 0);
	int status = YB_OK;
	const struct mbsync_section *parts[] = { ch->account, ch->far, ch->near, ch->channel };
	for (size_t i = 0; status == YB_OK && i < 4; i++)
		if (parts[i])
			status = mbsync_apply_section(file, account, parts[i]);
	if (status == YB_OK)
		status = mbsync_folders(file, account, ch);
	if (status == YB_OK)
		status = mbsync_delivery(file, account, ch);
	if (status != YB_OK)
		import_account_free(account);
	else
		import_doc_add(file->doc, account);
	return status;
}

static int mbsync_side(struct mbsync_file *file, const struct mbsync_section *channel,
		       const char *key, const char *old_key,
		       const struct mbsync_section **store, char *box)
{
	const struct mbsync_entry *entry = mbsync_find(file, channel, key);
	if (!entry)
		entry = mbsync_find(file, channel, old_key);
	if (!entry)
		return yb_fail(file->err, YB_ERR_CONFIG, "%s:%u: channel '%.*s' has no %s",
			       file->doc->source, channel->line, (int)channel->name_len,
			       channel->name, key);
	return mbsync_store_spec(file, entry, store, box);
}

static int mbsync_channel(struct mbsync_file *file, const struct mbsync_section *channel)
{
	struct mbsync_channel *ch = calloc(1, sizeof(*ch));
	if (!ch) {
		file->doc->out_of_memory = true;
		return YB_OK;
	}
	ch->channel = channel;
	int status = mbsync_side(file, channel, "Far", "Master", &ch->far, ch->far_box);
	if (status == YB_OK)
		status = mbsync_side(file, channel, "Near", "Slave", &ch->near, ch->near_box);
	const struct mbsync_entry *account = status == YB_OK
		? mbsync_find(file, ch->far, "Account") : NULL;
	if (account) {
		ch->account = mbsync_section_named(file, MB_ACCOUNT, account->value,
						   account->value_len);
		if (!ch->account)
			status = yb_fail(file->err, YB_ERR_CONFIG,
					 "%s:%u: IMAPAccount '%.*s' is not defined",
					 file->doc->source, account->line,
					 (int)account->value_len, account->value);
	}
	if (status == YB_OK && (ch->far->kind != MB_IMAP_STORE ||
				ch->near->kind != MB_MAILDIR_STORE))
		import_note(file->doc, NULL, channel->line,
			    "channel '%.*s' not carried over: yubin fetches from an IMAP "
			    "store (Far) into a Maildir store (Near) only",
			    (int)channel->name_len, channel->name);
	else if (status == YB_OK)
		status = mbsync_build(file, ch);
	free(ch);
	return status;
}

static int mbsync_convert(struct mbsync_file *file)
{
	int status = YB_OK;
	for (size_t i = 0; status == YB_OK && i < file->section_count; i++) {
		const struct mbsync_section *section = &file->sections[i];
		if (section->kind == MB_CHANNEL)
			status = mbsync_channel(file, section);
		else if (section->kind == MB_GROUP)
			import_note(file->doc, NULL, section->line,
				    "group '%.*s' not carried over: name its accounts on "
				    "yubin's command line", (int)section->name_len, section->name);
		else if (section->kind == MB_GLOBAL)
			status = mbsync_apply_section(file, NULL, section);
	}
	return status;
}

int import_parse_mbsyncrc(struct import_doc *doc, const char *text, size_t len,
			  struct yb_error *err)
{
	struct mbsync_file file = { .doc = doc, .err = err };
	struct import_cursor cursor;
	struct import_line line;
	int status = YB_OK;
	import_cursor_init(&cursor, text, len);
	while (status == YB_OK && !doc->out_of_memory && import_next_line(&cursor, &line))
		status = mbsync_read_line(&file, &line);
	if (status == YB_OK && !doc->out_of_memory)
		status = mbsync_convert(&file);
	free(file.entries);
	free(file.sections);
	return status;
}
