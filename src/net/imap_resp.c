/*
 * imap_resp.c - what parsed IMAP responses mean (see imap_resp.h).
 *
 * The parser has already checked syntax; here every value is checked for
 * type and range before it is believed, and every message names the
 * response part at fault with the server's bytes sanitized.
 */
#include "config.h"

#include "imap_resp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grow.h"
#include "sink.h"
#include "text.h"

#define NZ_NUMBER_MAX UINT32_MAX
#define MODSEQ_MAX INT64_MAX
#define SIZE64_MAX INT64_MAX

/* Room for a value described in a message. */
#define DESCRIBE_MAX 96

/* --- describing values in messages --- */

static void describe_value(const struct imap_value *v, char *buf, size_t size)
{
	switch (v->type) {
	case IMAP_VALUE_ATOM:
	case IMAP_VALUE_NUMBER:
	case IMAP_VALUE_NIL:
		text_sanitize(buf, size, v->str, v->len);
		return;
	case IMAP_VALUE_QUOTED:
	case IMAP_VALUE_LITERAL: {
		/* two bytes for the quotes: buf holds DESCRIBE_MAX */
		char inner[DESCRIBE_MAX - 2];
		text_sanitize(inner, sizeof(inner), v->str, v->len);
		snprintf(buf, size, "\"%s\"", inner);
		return;
	}
	case IMAP_VALUE_LIST:
		snprintf(buf, size, "a list");
		return;
	case IMAP_VALUE_STREAMED:
		snprintf(buf, size, "a streamed literal");
		return;
	}
	snprintf(buf, size, "?");
}

/* --- checked numbers --- */

static int take_number(const struct imap_value *v, uint64_t min, uint64_t max,
		       const char *what, uint64_t *out, struct yb_error *err)
{
	char shown[DESCRIBE_MAX];
	if (v->type != IMAP_VALUE_NUMBER) {
		describe_value(v, shown, sizeof(shown));
		return yb_fail(err, YB_ERR_PROTOCOL, "%s is %s, not a number",
			       what, shown);
	}
	if (v->number < min || v->number > max)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "%s %llu is out of range (%llu..%llu)", what,
			       (unsigned long long)v->number,
			       (unsigned long long)min, (unsigned long long)max);
	*out = v->number;
	return YB_OK;
}

static int take_u32(const struct imap_value *v, const char *what,
		    uint32_t *out, struct yb_error *err)
{
	uint64_t number;
	int rc = take_number(v, 1, NZ_NUMBER_MAX, what, &number, err);
	if (rc == YB_OK)
		*out = (uint32_t)number;
	return rc;
}

/* An atom-like value (ATOM or NUMBER) as text. */
static bool atom_text(const struct imap_value *v, const char **s, size_t *len)
{
	if (v->type != IMAP_VALUE_ATOM && v->type != IMAP_VALUE_NUMBER)
		return false;
	*s = v->str;
	*len = v->len;
	return true;
}

/* --- capabilities --- */

static const struct {
	const char *name;
	uint64_t bit;
} capa_names[] = {
	{ "IMAP4rev1", IMAP_CAPA_IMAP4REV1 },
	{ "IMAP4rev2", IMAP_CAPA_IMAP4REV2 },
	{ "STARTTLS", IMAP_CAPA_STARTTLS },
	{ "LOGINDISABLED", IMAP_CAPA_LOGINDISABLED },
	{ "SASL-IR", IMAP_CAPA_SASL_IR },
	{ "AUTH=PLAIN", IMAP_CAPA_AUTH_PLAIN },
	{ "AUTH=LOGIN", IMAP_CAPA_AUTH_LOGIN },
	{ "AUTH=CRAM-MD5", IMAP_CAPA_AUTH_CRAM_MD5 },
	{ "AUTH=XOAUTH2", IMAP_CAPA_AUTH_XOAUTH2 },
	{ "AUTH=OAUTHBEARER", IMAP_CAPA_AUTH_OAUTHBEARER },
	{ "AUTH=EXTERNAL", IMAP_CAPA_AUTH_EXTERNAL },
	{ "UIDPLUS", IMAP_CAPA_UIDPLUS },
	{ "CONDSTORE", IMAP_CAPA_CONDSTORE },
	{ "QRESYNC", IMAP_CAPA_QRESYNC },
	{ "ENABLE", IMAP_CAPA_ENABLE },
	{ "LITERAL+", IMAP_CAPA_LITERAL_PLUS },
	{ "LITERAL-", IMAP_CAPA_LITERAL_MINUS },
	{ "NAMESPACE", IMAP_CAPA_NAMESPACE },
	{ "IDLE", IMAP_CAPA_IDLE },
	{ "NOTIFY", IMAP_CAPA_NOTIFY },
	{ "ID", IMAP_CAPA_ID },
	{ "MOVE", IMAP_CAPA_MOVE },
	{ "UNSELECT", IMAP_CAPA_UNSELECT },
	{ "ESEARCH", IMAP_CAPA_ESEARCH },
	{ "SPECIAL-USE", IMAP_CAPA_SPECIAL_USE },
	{ "LIST-EXTENDED", IMAP_CAPA_LIST_EXTENDED },
	{ "LIST-STATUS", IMAP_CAPA_LIST_STATUS },
	{ "UTF8=ACCEPT", IMAP_CAPA_UTF8_ACCEPT },
	{ "BINARY", IMAP_CAPA_BINARY },
	{ "COMPRESS=DEFLATE", IMAP_CAPA_COMPRESS_DEFLATE },
};

static uint64_t capa_bit(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(capa_names) / sizeof(capa_names[0]); i++) {
		if (imap_word_equals(name, len, capa_names[i].name))
			return capa_names[i].bit;
	}
	return 0;
}

static int capa_fold(const struct imap_value *items, size_t count,
		     uint64_t *capa, struct yb_error *err)
{
	(void)err;
	uint64_t bits = 0;
	/* Only atoms name capabilities; anything else a server lists (a
	   string, a number, a list) names none yubin needs, and is no
	   reason to stop. */
	for (size_t i = 0; i < count; i++) {
		const char *name;
		size_t len;
		if (atom_text(&items[i], &name, &len))
			bits |= capa_bit(name, len);
	}
	*capa = bits;
	return YB_OK;
}

static bool has_code(const struct imap_response *resp, const char *code)
{
	return resp->has_code && imap_word_equals(resp->code, resp->code_len, code);
}

int imap_capa_parse(const struct imap_response *resp, uint64_t *capa,
		    struct yb_error *err)
{
	if (resp->kind == IMAP_RESP_UNTAGGED && imap_response_is(resp, "CAPABILITY"))
		return capa_fold(resp->values, resp->value_count, capa, err);
	if (has_code(resp, "CAPABILITY")) {
		if (!resp->code_args_valid)
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "[CAPABILITY] code is not a list of atoms");
		return capa_fold(resp->code_args, resp->code_arg_count, capa, err);
	}
	return yb_fail(err, YB_ERR_PROTOCOL,
		       "response holds no capability list");
}

bool imap_capa_list_has(const struct imap_value *items, size_t count,
			const char *name)
{
	for (size_t i = 0; i < count; i++) {
		const char *s;
		size_t len;
		if (atom_text(&items[i], &s, &len) && imap_word_equals(s, len, name))
			return true;
	}
	return false;
}

/* --- flags --- */

static const struct {
	const char *name;
	uint32_t bit;
} flag_names[] = {
	{ "\\Seen", IMAP_FLAG_SEEN },       { "\\Answered", IMAP_FLAG_ANSWERED },
	{ "\\Flagged", IMAP_FLAG_FLAGGED }, { "\\Deleted", IMAP_FLAG_DELETED },
	{ "\\Draft", IMAP_FLAG_DRAFT },     { "\\Recent", IMAP_FLAG_RECENT },
};

static uint32_t flag_bit(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (imap_word_equals(name, len, flag_names[i].name))
			return flag_names[i].bit;
	}
	return 0;
}

int imap_flags_decode(const struct imap_value *list, bool allow_star,
		      uint32_t *flags, size_t *keyword_count, bool *star,
		      struct yb_error *err)
{
	if (list->type != IMAP_VALUE_LIST) {
		char shown[DESCRIBE_MAX];
		describe_value(list, shown, sizeof(shown));
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "flag list is %s, not a parenthesized list", shown);
	}
	uint32_t bits = 0;
	size_t keywords = 0;
	if (allow_star)
		*star = false;
	for (size_t i = 0; i < list->count; i++) {
		const char *name;
		size_t len;
		if (!atom_text(&list->items[i], &name, &len)) {
			char shown[DESCRIBE_MAX];
			describe_value(&list->items[i], shown, sizeof(shown));
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "flag %s is not an atom", shown);
		}
		uint32_t bit = flag_bit(name, len);
		if (bit)
			bits |= bit;
		else if (allow_star && len == 2 && memcmp(name, "\\*", 2) == 0)
			*star = true;
		else
			keywords++;
	}
	*flags = bits;
	*keyword_count = keywords;
	return YB_OK;
}

uint32_t imap_flags_neutral(uint32_t flags)
{
	static const struct {
		uint32_t imap, neutral;
	} table[] = {
		{ IMAP_FLAG_SEEN, SINK_FLAG_SEEN },
		{ IMAP_FLAG_ANSWERED, SINK_FLAG_ANSWERED },
		{ IMAP_FLAG_FLAGGED, SINK_FLAG_FLAGGED },
		{ IMAP_FLAG_DELETED, SINK_FLAG_DELETED },
		{ IMAP_FLAG_DRAFT, SINK_FLAG_DRAFT },
	};
	uint32_t neutral = 0;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (flags & table[i].imap)
			neutral |= table[i].neutral;
	return neutral;
}

/* --- resp-text codes --- */

static const struct {
	const char *name;
	enum imap_code code;
} code_names[] = {
	{ "ALERT", IMAP_CODE_ALERT },
	{ "BADCHARSET", IMAP_CODE_BADCHARSET },
	{ "CAPABILITY", IMAP_CODE_CAPABILITY },
	{ "PARSE", IMAP_CODE_PARSE },
	{ "PERMANENTFLAGS", IMAP_CODE_PERMANENTFLAGS },
	{ "READ-ONLY", IMAP_CODE_READ_ONLY },
	{ "READ-WRITE", IMAP_CODE_READ_WRITE },
	{ "TRYCREATE", IMAP_CODE_TRYCREATE },
	{ "UIDNEXT", IMAP_CODE_UIDNEXT },
	{ "UIDVALIDITY", IMAP_CODE_UIDVALIDITY },
	{ "UNSEEN", IMAP_CODE_UNSEEN },
	{ "HIGHESTMODSEQ", IMAP_CODE_HIGHESTMODSEQ },
	{ "NOMODSEQ", IMAP_CODE_NOMODSEQ },
	{ "MODIFIED", IMAP_CODE_MODIFIED },
	{ "CLOSED", IMAP_CODE_CLOSED },
	{ "APPENDUID", IMAP_CODE_APPENDUID },
	{ "COPYUID", IMAP_CODE_COPYUID },
	{ "UIDNOTSTICKY", IMAP_CODE_UIDNOTSTICKY },
	{ "AUTHENTICATIONFAILED", IMAP_CODE_AUTHENTICATIONFAILED },
	{ "AUTHORIZATIONFAILED", IMAP_CODE_AUTHORIZATIONFAILED },
	{ "EXPIRED", IMAP_CODE_EXPIRED },
	{ "PRIVACYREQUIRED", IMAP_CODE_PRIVACYREQUIRED },
	{ "CONTACTADMIN", IMAP_CODE_CONTACTADMIN },
	{ "NOPERM", IMAP_CODE_NOPERM },
	{ "INUSE", IMAP_CODE_INUSE },
	{ "EXPUNGEISSUED", IMAP_CODE_EXPUNGEISSUED },
	{ "CORRUPTION", IMAP_CODE_CORRUPTION },
	{ "SERVERBUG", IMAP_CODE_SERVERBUG },
	{ "CLIENTBUG", IMAP_CODE_CLIENTBUG },
	{ "CANNOT", IMAP_CODE_CANNOT },
	{ "LIMIT", IMAP_CODE_LIMIT },
	{ "OVERQUOTA", IMAP_CODE_OVERQUOTA },
	{ "ALREADYEXISTS", IMAP_CODE_ALREADYEXISTS },
	{ "NONEXISTENT", IMAP_CODE_NONEXISTENT },
	{ "UNAVAILABLE", IMAP_CODE_UNAVAILABLE },
};

static enum imap_code code_of_name(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++) {
		if (imap_word_equals(name, len, code_names[i].name))
			return code_names[i].code;
	}
	return IMAP_CODE_OTHER;
}

const char *imap_code_name(enum imap_code code)
{
	for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++) {
		if (code_names[i].code == code)
			return code_names[i].name;
	}
	return NULL;
}

/* The code's single argument, which must exist. */
static int single_code_arg(const struct imap_response *resp, const char *code,
			   const struct imap_value **arg, struct yb_error *err)
{
	if (!resp->code_args_valid || resp->code_arg_count != 1) {
		char shown[DESCRIBE_MAX];
		text_sanitize(shown, sizeof(shown), resp->code_text,
			      resp->code_text_len);
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "[%s] code needs one argument, got \"%s\"", code,
			       shown);
	}
	*arg = &resp->code_args[0];
	return YB_OK;
}

static int code_number(const struct imap_response *resp, const char *code,
		       uint64_t max, uint64_t *out, struct yb_error *err)
{
	const struct imap_value *arg = NULL;
	int rc = single_code_arg(resp, code, &arg, err);
	if (rc != YB_OK)
		return rc;
	char what[64];
	snprintf(what, sizeof(what), "[%s]", code);
	return take_number(arg, 1, max, what, out, err);
}

/* [MODIFIED set]: never an error, as refusing the whole command is
   what a set that cannot be read comes to. */
static void modified_set(const struct imap_response *resp,
			 struct imap_code_info *out)
{
	const struct imap_value *arg = NULL;
	out->modified_whole = true;
	if (single_code_arg(resp, "MODIFIED", &arg, NULL) != YB_OK)
		return;
	if (arg->type == IMAP_VALUE_NUMBER && arg->number >= 1 &&
	    arg->number <= UINT32_MAX) {
		snprintf(out->modified_set, sizeof(out->modified_set), "%" PRIu64,
			 arg->number);
		out->modified_whole = false;
	} else if (arg->type == IMAP_VALUE_ATOM && arg->len > 0 &&
		   arg->len < sizeof(out->modified_set)) {
		memcpy(out->modified_set, arg->str, arg->len);
		out->modified_set[arg->len] = '\0';
		out->modified_whole = false;
	}
}

int imap_code_decode(const struct imap_response *resp,
		     struct imap_code_info *out, struct yb_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!resp->has_code) {
		out->code = IMAP_CODE_NONE;
		return YB_OK;
	}
	out->code = code_of_name(resp->code, resp->code_len);
	const struct imap_value *arg = NULL;
	size_t keywords;
	int rc;
	switch (out->code) {
	case IMAP_CODE_UIDVALIDITY:
		return code_number(resp, "UIDVALIDITY", NZ_NUMBER_MAX,
				   &out->number, err);
	case IMAP_CODE_UIDNEXT:
		return code_number(resp, "UIDNEXT", NZ_NUMBER_MAX, &out->number,
				   err);
	case IMAP_CODE_UNSEEN:
		return code_number(resp, "UNSEEN", NZ_NUMBER_MAX, &out->number,
				   err);
	case IMAP_CODE_HIGHESTMODSEQ:
		return code_number(resp, "HIGHESTMODSEQ", MODSEQ_MAX,
				   &out->number, err);
	case IMAP_CODE_PERMANENTFLAGS:
		rc = single_code_arg(resp, "PERMANENTFLAGS", &arg, err);
		if (rc != YB_OK)
			return rc;
		return imap_flags_decode(arg, true, &out->permanent_flags,
					 &keywords, &out->permanent_keywords, err);
	case IMAP_CODE_CAPABILITY:
		return imap_capa_parse(resp, &out->capa, err);
	case IMAP_CODE_MODIFIED:
		modified_set(resp, out);
		return YB_OK;
	default:
		return YB_OK;
	}
}

/* --- sections and INTERNALDATE --- */

int imap_section_split(const char *item, size_t len, struct imap_section *out,
		       struct yb_error *err)
{
	memset(out, 0, sizeof(*out));
	const char *open = memchr(item, '[', len);
	out->name = item;
	if (!open) {
		out->name_len = len;
		return YB_OK;
	}
	out->name_len = (size_t)(open - item);
	size_t rest = len - out->name_len - 1;
	const char *close = memchr(open + 1, ']', rest);
	char shown[DESCRIBE_MAX];
	if (!close) {
		text_sanitize(shown, sizeof(shown), item, len);
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "FETCH item %s has an unclosed \"[\"", shown);
	}
	out->has_section = true;
	out->section = open + 1;
	out->section_len = (size_t)(close - open - 1);
	const char *tail = close + 1;
	size_t tail_len = len - (size_t)(tail - item);
	if (tail_len == 0)
		return YB_OK;
	unsigned long long origin;
	if (tail_len < 3 || tail[0] != '<' || tail[tail_len - 1] != '>' ||
	    !text_parse_u64(tail + 1, tail_len - 2, SIZE64_MAX, &origin)) {
		text_sanitize(shown, sizeof(shown), item, len);
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "FETCH item %s has bad bytes after its section",
			       shown);
	}
	out->has_origin = true;
	out->origin = origin;
	return YB_OK;
}

static bool two_digits(const char *s, unsigned *out)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return false;
	*out = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
	return true;
}

static bool is_leap_year(unsigned year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static unsigned days_in_month(unsigned year, unsigned month)
{
	static const unsigned char days[12] = { 31, 28, 31, 30, 31, 30,
						31, 31, 30, 31, 30, 31 };
	if (month == 2 && is_leap_year(year))
		return 29;
	return days[month - 1];
}

/* Days from 1970-01-01 to the given date of the proleptic Gregorian
   calendar (H. Hinnant's days_from_civil); no timegm, no TZ. */
static int64_t days_from_civil(int64_t year, unsigned month, unsigned day)
{
	year -= month <= 2;
	int64_t era = (year >= 0 ? year : year - 399) / 400;
	unsigned year_of_era = (unsigned)(year - era * 400);
	unsigned shifted_month = month > 2 ? month - 3 : month + 9;
	unsigned day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
	unsigned day_of_era = year_of_era * 365 + year_of_era / 4 -
			      year_of_era / 100 + day_of_year;
	return era * 146097 + (int64_t)day_of_era - 719468;
}

static bool parse_month(const char *s, unsigned *month)
{
	static const char names[12][4] = { "Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec" };
	for (unsigned i = 0; i < 12; i++) {
		if (strncasecmp(s, names[i], 3) == 0) {
			*month = i + 1;
			return true;
		}
	}
	return false;
}

/* "dd-Mon-yyyy hh:mm:ss +zzzz" split into fields; false when any field
   is malformed or out of range. */
static bool internaldate_fields(const char *s, int64_t *seconds)
{
	unsigned day, month, year_hi, year_lo, hour, minute, second, zone_h,
		zone_m;
	if (s[0] == ' ') {
		if (s[1] < '0' || s[1] > '9')
			return false;
		day = (unsigned)(s[1] - '0');
	} else if (!two_digits(s, &day)) {
		return false;
	}
	if (s[2] != '-' || !parse_month(s + 3, &month) || s[6] != '-' ||
	    !two_digits(s + 7, &year_hi) || !two_digits(s + 9, &year_lo) ||
	    s[11] != ' ' || !two_digits(s + 12, &hour) || s[14] != ':' ||
	    !two_digits(s + 15, &minute) || s[17] != ':' ||
	    !two_digits(s + 18, &second) || s[20] != ' ' ||
	    (s[21] != '+' && s[21] != '-') || !two_digits(s + 22, &zone_h) ||
	    !two_digits(s + 24, &zone_m))
		return false;
	unsigned year = year_hi * 100 + year_lo;
	if (year < 1900 || day < 1 || day > days_in_month(year, month) ||
	    hour > 23 || minute > 59 || second > 60 || zone_h > 23 ||
	    zone_m > 59)
		return false;
	int64_t zone = (int64_t)zone_h * 3600 + zone_m * 60;
	if (s[21] == '-')
		zone = -zone;
	*seconds = days_from_civil(year, month, day) * 86400 +
		   (int64_t)hour * 3600 + minute * 60 + second - zone;
	return true;
}

int imap_internaldate_parse(const char *s, size_t len, time_t *out,
			    struct yb_error *err)
{
	int64_t seconds;
	if (len != 26 || !internaldate_fields(s, &seconds) ||
	    (int64_t)(time_t)seconds != seconds) {
		char shown[DESCRIBE_MAX];
		text_sanitize(shown, sizeof(shown), s, len);
		return yb_fail(err, YB_ERR_PROTOCOL, "bad INTERNALDATE \"%s\"",
			       shown);
	}
	*out = (time_t)seconds;
	return YB_OK;
}

/* --- FETCH --- */

/* Each item may appear once. */
enum fetch_seen {
	SEEN_UID = 1u << 0,
	SEEN_FLAGS = 1u << 1,
	SEEN_INTERNALDATE = 1u << 2,
	SEEN_SIZE = 1u << 3,
	SEEN_MODSEQ = 1u << 4,
	SEEN_BODY = 1u << 5,
	SEEN_HEADER = 1u << 6,
};

struct fetch_item {
	const char *name; /* as sent, for messages */
	size_t name_len;
	const struct imap_value *value;
};

static int fetch_fail(const struct fetch_item *item, const char *problem,
		      struct yb_error *err)
{
	char name[DESCRIBE_MAX];
	text_sanitize(name, sizeof(name), item->name, item->name_len);
	return yb_fail(err, YB_ERR_PROTOCOL, "FETCH item %s %s", name, problem);
}

static int fetch_wrong_type(const struct fetch_item *item, struct yb_error *err)
{
	char shown[DESCRIBE_MAX];
	char problem[DESCRIBE_MAX + 32];
	describe_value(item->value, shown, sizeof(shown));
	snprintf(problem, sizeof(problem), "has a value of the wrong type: %s",
		 shown);
	return fetch_fail(item, problem, err);
}

static int take_part(const struct fetch_item *item,
		     const struct imap_section *section, struct imap_part *part,
		     struct yb_error *err)
{
	const struct imap_value *v = item->value;
	switch (v->type) {
	case IMAP_VALUE_STREAMED:
		part->kind = IMAP_PART_STREAMED;
		part->size = v->number;
		break;
	case IMAP_VALUE_LITERAL:
	case IMAP_VALUE_QUOTED:
		part->kind = IMAP_PART_DATA;
		part->size = v->len;
		part->data = v->str;
		break;
	case IMAP_VALUE_NIL:
		part->kind = IMAP_PART_NIL;
		break;
	default:
		return fetch_wrong_type(item, err);
	}
	if (section) {
		part->has_origin = section->has_origin;
		part->origin = section->origin;
	}
	return YB_OK;
}

/* Mark an item seen; a second sighting is an error. */
static int mark_seen(unsigned *seen, unsigned bit,
		     const struct fetch_item *item, struct yb_error *err)
{
	if (*seen & bit)
		return fetch_fail(item, "appears twice", err);
	*seen |= bit;
	return YB_OK;
}

static bool is_header_section(const char *section, size_t len)
{
	return imap_word_equals(section, len, "HEADER") ||
	       text_has_prefix_ci(section, len, "HEADER.FIELDS ") ||
	       text_has_prefix_ci(section, len, "HEADER.FIELDS.NOT ");
}

/* BODY[...] items: the whole message or its header; others skipped. */
static int fetch_section_item(const struct fetch_item *item,
			      struct imap_fetch *out, unsigned *seen,
			      struct yb_error *err)
{
	struct imap_section section;
	int rc = imap_section_split(item->name, item->name_len, &section, err);
	if (rc != YB_OK)
		return rc;
	if (!imap_word_equals(section.name, section.name_len, "BODY"))
		return YB_OK;
	if (section.section_len == 0) {
		rc = mark_seen(seen, SEEN_BODY, item, err);
		return rc != YB_OK ? rc : take_part(item, &section, &out->body, err);
	}
	if (is_header_section(section.section, section.section_len)) {
		rc = mark_seen(seen, SEEN_HEADER, item, err);
		return rc != YB_OK ? rc
				   : take_part(item, &section, &out->header, err);
	}
	return YB_OK;
}

static int fetch_modseq(const struct fetch_item *item, struct imap_fetch *out,
			struct yb_error *err)
{
	const struct imap_value *v = item->value;
	if (v->type != IMAP_VALUE_LIST || v->count != 1)
		return fetch_fail(item, "is not a list of one mod-sequence",
				  err);
	int rc = take_number(&v->items[0], 1, MODSEQ_MAX, "FETCH MODSEQ",
			     &out->modseq, err);
	out->has_modseq = rc == YB_OK;
	return rc;
}

static int fetch_internaldate(const struct fetch_item *item,
			      struct imap_fetch *out, struct yb_error *err)
{
	if (item->value->type != IMAP_VALUE_QUOTED)
		return fetch_wrong_type(item, err);
	int rc = imap_internaldate_parse(item->value->str, item->value->len,
					 &out->internaldate, err);
	out->has_internaldate = rc == YB_OK;
	return rc;
}

static int fetch_flags(const struct fetch_item *item, struct imap_fetch *out,
		       struct yb_error *err)
{
	int rc = imap_flags_decode(item->value, false, &out->flags,
				   &out->keyword_count, NULL, err);
	out->has_flags = rc == YB_OK;
	return rc;
}

static int fetch_one_item(const struct fetch_item *item,
			  struct imap_fetch *out, unsigned *seen,
			  struct yb_error *err)
{
	const char *name = item->name;
	size_t len = item->name_len;
	int rc = YB_OK;
	if (imap_word_equals(name, len, "UID")) {
		rc = mark_seen(seen, SEEN_UID, item, err);
		if (rc == YB_OK)
			rc = take_u32(item->value, "FETCH UID", &out->uid, err);
		out->has_uid = rc == YB_OK;
	} else if (imap_word_equals(name, len, "FLAGS")) {
		rc = mark_seen(seen, SEEN_FLAGS, item, err);
		if (rc == YB_OK)
			rc = fetch_flags(item, out, err);
	} else if (imap_word_equals(name, len, "INTERNALDATE")) {
		rc = mark_seen(seen, SEEN_INTERNALDATE, item, err);
		if (rc == YB_OK)
			rc = fetch_internaldate(item, out, err);
	} else if (imap_word_equals(name, len, "RFC822.SIZE")) {
		rc = mark_seen(seen, SEEN_SIZE, item, err);
		if (rc == YB_OK)
			rc = take_number(item->value, 0, SIZE64_MAX,
					 "FETCH RFC822.SIZE", &out->rfc822_size,
					 err);
		out->has_rfc822_size = rc == YB_OK;
	} else if (imap_word_equals(name, len, "MODSEQ")) {
		rc = mark_seen(seen, SEEN_MODSEQ, item, err);
		if (rc == YB_OK)
			rc = fetch_modseq(item, out, err);
	} else if (imap_word_equals(name, len, "RFC822")) {
		rc = mark_seen(seen, SEEN_BODY, item, err);
		if (rc == YB_OK)
			rc = take_part(item, NULL, &out->body, err);
	} else if (imap_word_equals(name, len, "RFC822.HEADER")) {
		rc = mark_seen(seen, SEEN_HEADER, item, err);
		if (rc == YB_OK)
			rc = take_part(item, NULL, &out->header, err);
	} else if (memchr(name, '[', len)) {
		rc = fetch_section_item(item, out, seen, err);
	}
	return rc;
}

int imap_fetch_decode(const struct imap_response *resp, struct imap_fetch *out,
		      struct yb_error *err)
{
	memset(out, 0, sizeof(*out));
	if (resp->kind != IMAP_RESP_UNTAGGED || !imap_response_is(resp, "FETCH") ||
	    !resp->has_number)
		return yb_fail(err, YB_ERR_PROTOCOL, "not a \"* N FETCH\" response");
	if (resp->number < 1 || resp->number > NZ_NUMBER_MAX)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "FETCH message number %llu is out of range",
			       (unsigned long long)resp->number);
	out->seq = (uint32_t)resp->number;
	if (resp->value_count != 1 || resp->values[0].type != IMAP_VALUE_LIST)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "FETCH %u is not followed by one parenthesized "
			       "list", out->seq);
	const struct imap_value *list = &resp->values[0];
	unsigned seen = 0;
	for (size_t i = 0; i < list->count; i += 2) {
		const struct imap_value *name = &list->items[i];
		if (name->type != IMAP_VALUE_ATOM) {
			char shown[DESCRIBE_MAX];
			describe_value(name, shown, sizeof(shown));
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "FETCH item name %s is not an atom", shown);
		}
		struct fetch_item item = { name->str, name->len, NULL };
		if (i + 1 >= list->count)
			return fetch_fail(&item, "has no value", err);
		item.value = &list->items[i + 1];
		int rc = fetch_one_item(&item, out, &seen, err);
		if (rc != YB_OK)
			return rc;
	}
	return YB_OK;
}

/* --- LIST / LSUB --- */

static const struct {
	const char *name;
	uint32_t bit;
} mbox_attr_names[] = {
	{ "\\Noinferiors", IMAP_MBOX_NOINFERIORS },
	{ "\\Noselect", IMAP_MBOX_NOSELECT },
	{ "\\NonExistent", IMAP_MBOX_NONEXISTENT },
	{ "\\HasChildren", IMAP_MBOX_HASCHILDREN },
	{ "\\HasNoChildren", IMAP_MBOX_HASNOCHILDREN },
	{ "\\Marked", IMAP_MBOX_MARKED },
	{ "\\Unmarked", IMAP_MBOX_UNMARKED },
	{ "\\Subscribed", IMAP_MBOX_SUBSCRIBED },
	{ "\\Remote", IMAP_MBOX_REMOTE },
	{ "\\All", IMAP_MBOX_ALL },
	{ "\\Archive", IMAP_MBOX_ARCHIVE },
	{ "\\Drafts", IMAP_MBOX_DRAFTS },
	{ "\\Flagged", IMAP_MBOX_FLAGGED },
	{ "\\Junk", IMAP_MBOX_JUNK },
	{ "\\Sent", IMAP_MBOX_SENT },
	{ "\\Trash", IMAP_MBOX_TRASH },
	{ "\\Important", IMAP_MBOX_IMPORTANT },
};

static int list_attrs(const struct imap_value *list, uint32_t *attrs,
		      struct yb_error *err)
{
	if (list->type != IMAP_VALUE_LIST)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "LIST attributes are not a parenthesized list");
	uint32_t bits = 0;
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_value *v = &list->items[i];
		if (v->type != IMAP_VALUE_ATOM) {
			char shown[DESCRIBE_MAX];
			describe_value(v, shown, sizeof(shown));
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "LIST attribute %s is not an atom", shown);
		}
		for (size_t k = 0;
		     k < sizeof(mbox_attr_names) / sizeof(mbox_attr_names[0]); k++) {
			if (imap_word_equals(v->str, v->len, mbox_attr_names[k].name))
				bits |= mbox_attr_names[k].bit;
		}
	}
	*attrs = bits;
	return YB_OK;
}

/* A hierarchy delimiter: NIL, or a quoted single printable ASCII byte. */
static int take_delimiter(const struct imap_value *v, const char *what,
			  char *out, struct yb_error *err)
{
	if (v->type == IMAP_VALUE_NIL) {
		*out = '\0';
		return YB_OK;
	}
	if (v->type == IMAP_VALUE_QUOTED && v->len == 1 &&
	    (unsigned char)v->str[0] > 0x20 && (unsigned char)v->str[0] < 0x7f) {
		*out = v->str[0];
		return YB_OK;
	}
	char shown[DESCRIBE_MAX];
	describe_value(v, shown, sizeof(shown));
	return yb_fail(err, YB_ERR_PROTOCOL,
		       "%s hierarchy delimiter %s is not one printable "
		       "character or NIL", what, shown);
}

/* A mailbox name or prefix: an astring without NUL bytes. */
static int take_name(const struct imap_value *v, const char *what,
		     const char **name, size_t *len, struct yb_error *err)
{
	if (!imap_value_astring(v, name, len)) {
		char shown[DESCRIBE_MAX];
		describe_value(v, shown, sizeof(shown));
		return yb_fail(err, YB_ERR_PROTOCOL, "%s is %s, not a string",
			       what, shown);
	}
	if (memchr(*name, '\0', *len))
		return yb_fail(err, YB_ERR_PROTOCOL, "%s holds a NUL byte", what);
	return YB_OK;
}

int imap_list_decode(const struct imap_response *resp,
		     struct imap_list_entry *out, struct yb_error *err)
{
	memset(out, 0, sizeof(*out));
	if (resp->kind != IMAP_RESP_UNTAGGED ||
	    !(imap_response_is(resp, "LIST") || imap_response_is(resp, "LSUB")))
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "not a \"* LIST\" or \"* LSUB\" response");
	if (resp->value_count < 3 || resp->value_count > 4 ||
	    (resp->value_count == 4 && resp->values[3].type != IMAP_VALUE_LIST))
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "LIST response has %zu parts, not attributes, "
			       "delimiter and name", resp->value_count);
	int rc = list_attrs(&resp->values[0], &out->attrs, err);
	if (rc == YB_OK)
		rc = take_delimiter(&resp->values[1], "LIST", &out->delimiter, err);
	if (rc == YB_OK)
		rc = take_name(&resp->values[2], "LIST mailbox name", &out->name,
			       &out->name_len, err);
	return rc;
}

bool imap_mailbox_is_inbox(const char *name, size_t len)
{
	return imap_word_equals(name, len, "INBOX");
}

/*
 * How many leading bytes of s are an INBOX (any case) that stands for the
 * mailbox INBOX: the whole string, or its first level (followed by the
 * delimiter, or in a pattern by a wildcard).  0 if none.
 */
static size_t inbox_prefix(const char *s, size_t len, char delimiter, bool pattern)
{
	if (len < 5 || !imap_word_equals(s, 5, "INBOX"))
		return 0;
	if (len == 5 || (delimiter && s[5] == delimiter) ||
	    (pattern && (s[5] == '*' || s[5] == '%')))
		return 5;
	return 0;
}

static char folded(const char *s, size_t i, size_t inbox_len)
{
	char c = s[i];
	return i < inbox_len && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/*
 * One pattern character over the row "the pattern so far matches
 * name[0..j)": prev is the row before it, next the row after.
 */
static void match_step(const char *pattern, size_t p, size_t pattern_inbox,
		       const char *name, size_t name_len, size_t name_inbox,
		       char delimiter, const bool *prev, bool *next)
{
	char c = pattern[p];
	next[0] = (c == '*' || c == '%') && prev[0];
	for (size_t j = 1; j <= name_len; j++) {
		if (c == '*')
			next[j] = prev[j] || next[j - 1];
		else if (c == '%')
			next[j] = prev[j] ||
				  (next[j - 1] && (!delimiter || name[j - 1] != delimiter));
		else
			next[j] = prev[j - 1] &&
				  folded(pattern, p, pattern_inbox) ==
				  folded(name, j - 1, name_inbox);
	}
}

int imap_list_match(const char *pattern, size_t pattern_len, const char *name,
		    size_t name_len, char delimiter, bool *matches,
		    struct yb_error *err)
{
	*matches = false;
	if (name_len > SIZE_MAX / 2 - 1)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	bool *rows = calloc(2 * (name_len + 1), sizeof(*rows));
	if (!rows)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	bool *prev = rows, *next = rows + name_len + 1;
	size_t pattern_inbox = inbox_prefix(pattern, pattern_len, delimiter, true);
	size_t name_inbox = inbox_prefix(name, name_len, delimiter, false);
	prev[0] = true; /* the empty pattern matches the empty name */
	for (size_t p = 0; p < pattern_len; p++) {
		match_step(pattern, p, pattern_inbox, name, name_len, name_inbox,
			   delimiter, prev, next);
		bool *done = prev;
		prev = next;
		next = done;
	}
	*matches = prev[name_len];
	free(rows);
	return YB_OK;
}

/* --- NAMESPACE --- */

static int namespace_class(const struct imap_value *v, struct imap_namespace *ns,
			   size_t *count, size_t *ignored, struct yb_error *err)
{
	*count = 0;
	if (v->type == IMAP_VALUE_NIL)
		return YB_OK;
	if (v->type != IMAP_VALUE_LIST || v->count == 0)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "NAMESPACE class is neither NIL nor a list of "
			       "namespaces");
	for (size_t i = 0; i < v->count; i++) {
		const struct imap_value *desc = &v->items[i];
		if (desc->type != IMAP_VALUE_LIST || desc->count < 2)
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "NAMESPACE entry is not a list of prefix "
				       "and delimiter");
		if (*count == IMAP_NAMESPACE_MAX) {
			(*ignored)++;
			continue;
		}
		struct imap_namespace *entry = &ns[*count];
		int rc = take_name(&desc->items[0], "NAMESPACE prefix",
				   &entry->prefix, &entry->prefix_len, err);
		if (rc == YB_OK)
			rc = take_delimiter(&desc->items[1], "NAMESPACE",
					    &entry->delimiter, err);
		if (rc != YB_OK)
			return rc;
		(*count)++;
	}
	return YB_OK;
}

int imap_namespace_decode(const struct imap_response *resp,
			  struct imap_namespaces *out, struct yb_error *err)
{
	memset(out, 0, sizeof(*out));
	if (resp->kind != IMAP_RESP_UNTAGGED || !imap_response_is(resp, "NAMESPACE"))
		return yb_fail(err, YB_ERR_PROTOCOL, "not a \"* NAMESPACE\" response");
	if (resp->value_count != 3)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "NAMESPACE response has %zu parts, not 3",
			       resp->value_count);
	int rc = namespace_class(&resp->values[0], out->personal,
				 &out->personal_count, &out->ignored_count, err);
	if (rc == YB_OK)
		rc = namespace_class(&resp->values[1], out->other,
				     &out->other_count, &out->ignored_count, err);
	if (rc == YB_OK)
		rc = namespace_class(&resp->values[2], out->shared,
				     &out->shared_count, &out->ignored_count, err);
	return rc;
}

/* --- VANISHED --- */

int imap_vanished_decode(const struct imap_response *resp, bool *earlier,
			 const char **set, size_t *set_len, struct yb_error *err)
{
	if (resp->kind != IMAP_RESP_UNTAGGED || !imap_response_is(resp, "VANISHED"))
		return yb_fail(err, YB_ERR_PROTOCOL, "not a \"* VANISHED\" response");
	const struct imap_value *v = resp->values;
	size_t n = resp->value_count;
	*earlier = false;
	if (n == 2 && v[0].type == IMAP_VALUE_LIST && v[0].count == 1 &&
	    imap_value_is_atom(&v[0].items[0], "EARLIER")) {
		*earlier = true;
		v++;
		n--;
	}
	if (n != 1 || !atom_text(&v[0], set, set_len))
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "VANISHED response is not [(EARLIER)] and a UID "
			       "set");
	return YB_OK;
}

/* --- sequence sets --- */

/* One seq-number at set[*pos]: an nz-number without leading zeros, or
   "*" (star, when the caller allows it). */
static bool parse_seq_number(const char *set, size_t len, size_t *pos,
			     uint32_t star, uint32_t *out)
{
	size_t i = *pos;
	if (i < len && set[i] == '*') {
		if (star == 0)
			return false;
		*out = star;
		*pos = i + 1;
		return true;
	}
	if (i >= len || set[i] < '1' || set[i] > '9')
		return false;
	uint64_t value = 0;
	while (i < len && set[i] >= '0' && set[i] <= '9') {
		value = value * 10 + (uint64_t)(set[i] - '0');
		if (value > NZ_NUMBER_MAX)
			return false;
		i++;
	}
	*out = (uint32_t)value;
	*pos = i;
	return true;
}

static bool append_range(struct imap_range **ranges, size_t *count,
			 size_t *cap, uint32_t a, uint32_t b)
{
	struct imap_range *grown = grow_array(*ranges, cap, *count + 1,
					      sizeof(*grown), 16);
	if (!grown)
		return false;
	*ranges = grown;
	(*ranges)[*count].first = a < b ? a : b;
	(*ranges)[*count].last = a < b ? b : a;
	(*count)++;
	return true;
}

int imap_seqset_parse(const char *set, size_t len, uint32_t star,
		      size_t max_ranges, struct imap_range **ranges,
		      size_t *count, struct yb_error *err)
{
	*ranges = NULL;
	*count = 0;
	size_t cap = 0, pos = 0;
	char shown[DESCRIBE_MAX];
	while (true) {
		uint32_t a, b;
		if (!parse_seq_number(set, len, &pos, star, &a))
			goto bad;
		b = a;
		if (pos < len && set[pos] == ':') {
			pos++;
			if (!parse_seq_number(set, len, &pos, star, &b))
				goto bad;
		}
		if (*count == max_ranges) {
			free(*ranges);
			*ranges = NULL;
			*count = 0;
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "sequence set has more than %zu ranges",
				       max_ranges);
		}
		if (!append_range(ranges, count, &cap, a, b)) {
			free(*ranges);
			*ranges = NULL;
			*count = 0;
			return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
		}
		if (pos == len)
			return YB_OK;
		if (set[pos] != ',')
			goto bad;
		pos++;
	}
bad:
	free(*ranges);
	*ranges = NULL;
	*count = 0;
	text_sanitize(shown, sizeof(shown), set, len);
	return yb_fail(err, YB_ERR_PROTOCOL, "bad sequence set \"%s\"", shown);
}

/* The end of the run of consecutive (or repeated) UIDs starting at
   uids[i]; false when the list goes down. */
static bool run_end(const uint32_t *uids, size_t count, size_t i, size_t *end)
{
	uint32_t last = uids[i];
	size_t j = i;
	while (j + 1 < count) {
		uint32_t next = uids[j + 1];
		if (next < last)
			return false;
		if (next != last && (last == UINT32_MAX || next != last + 1))
			break;
		last = next;
		j++;
	}
	*end = j;
	return true;
}

int imap_seqset_build(const uint32_t *uids, size_t count, char *out,
		      size_t out_size, size_t *consumed, size_t *out_len,
		      struct yb_error *err)
{
	*consumed = 0;
	*out_len = 0;
	if (out_size < IMAP_SEQSET_MIN_SIZE)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "sequence set buffer of %zu bytes is too small",
			       out_size);
	out[0] = '\0';
	size_t len = 0, i = 0;
	uint32_t prev = 0;
	while (i < count) {
		size_t end;
		if (uids[i] == 0 || (i > 0 && uids[i] <= prev) ||
		    !run_end(uids, count, i, &end))
			return yb_fail(err, YB_ERR_INTERNAL,
				       "UID list for a sequence set is not "
				       "ascending or holds 0");
		char element[IMAP_SEQSET_MIN_SIZE + 1];
		int n;
		if (uids[end] == uids[i])
			n = snprintf(element, sizeof(element), "%s%u",
				     len ? "," : "", (unsigned)uids[i]);
		else
			n = snprintf(element, sizeof(element), "%s%u:%u",
				     len ? "," : "", (unsigned)uids[i],
				     (unsigned)uids[end]);
		if (n < 0 || (size_t)n >= sizeof(element))
			return yb_fail(err, YB_ERR_INTERNAL,
				       "sequence set element too long");
		if (len + (size_t)n + 1 > out_size)
			break;
		memcpy(out + len, element, (size_t)n + 1);
		len += (size_t)n;
		prev = uids[end];
		i = end + 1;
	}
	*consumed = i;
	*out_len = len;
	return YB_OK;
}

/* --- sequence numbers under EXPUNGE --- */

/*
 * Invariants: the step of a live entry is its number less the number of
 * the live entry before it (or 0), at least 1; a gone entry's step is 0.
 * So every step is >= 0, the prefix sums never go down, and the sum up
 * to a live entry is its number; the sum of all steps is the last live
 * entry's number (<= UINT32_MAX), so no tree node overflows.  Updates
 * subtract before they add, so this holds between any two of them.
 */

void imap_seqmap_init(struct imap_seqmap *map)
{
	memset(map, 0, sizeof(*map));
}

void imap_seqmap_free(struct imap_seqmap *map)
{
	free(map->tree);
	free(map->next);
	imap_seqmap_init(map);
}

static size_t lowbit(size_t k)
{
	return k & (~k + 1);
}

/* The sum of the steps of entries 1..k (1-based). */
static uint32_t seqmap_prefix(const struct imap_seqmap *map, size_t k)
{
	uint32_t sum = 0;
	for (; k > 0; k -= lowbit(k))
		sum += map->tree[k];
	return sum;
}

/* Add delta (mod 2^32: a subtraction as its complement) to entry k's step. */
static void seqmap_add(struct imap_seqmap *map, size_t k, uint32_t delta)
{
	for (; k <= map->count; k += lowbit(k))
		map->tree[k] += delta;
}

/* The smallest k (1-based) whose prefix sum is >= seq; count + 1: none. */
static size_t seqmap_lower_bound(const struct imap_seqmap *map, uint32_t seq)
{
	size_t step = 1;
	while (step <= map->count / 2)
		step *= 2;
	size_t pos = 0;
	uint32_t left = seq;
	for (; step > 0 && map->count > 0; step /= 2)
		if (pos + step <= map->count && map->tree[pos + step] < left) {
			pos += step;
			left -= map->tree[pos];
		}
	return pos + 1;
}

static bool seqmap_grow(struct imap_seqmap *map)
{
	if (map->count < map->cap)
		return true;
	size_t cap = map->cap ? map->cap * 2 : 256;
	if (cap > IMAP_SEQMAP_MAX)
		cap = IMAP_SEQMAP_MAX;
	if (cap <= map->count || cap + 1 > SIZE_MAX / sizeof(uint32_t))
		return false;
	uint32_t *tree = realloc(map->tree, (cap + 1) * sizeof(*tree));
	if (!tree)
		return false;
	map->tree = tree;
	uint32_t *next = realloc(map->next, cap * sizeof(*next));
	if (!next)
		return false;
	map->next = next;
	map->cap = cap;
	return true;
}

int imap_seqmap_append(struct imap_seqmap *map, uint32_t seq,
		       struct yb_error *err)
{
	uint32_t last = seqmap_prefix(map, map->count);
	if (seq <= last)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "listed as message %" PRIu32 " after message %"
			       PRIu32 ", though sequence numbers ascend with "
			       "UIDs", seq, last);
	if (!seqmap_grow(map))
		return yb_fail(err, YB_ERR_INTERNAL,
			       "out of memory for a listing of %zu messages",
			       map->count + 1);
	size_t k = ++map->count;
	/* Node k sums the steps of entries k - lowbit(k) + 1 .. k. */
	map->tree[k] = seq - last + (last - seqmap_prefix(map, k - lowbit(k)));
	map->next[k - 1] = (uint32_t)(k - 1);
	return YB_OK;
}

uint32_t imap_seqmap_seq(const struct imap_seqmap *map, size_t i)
{
	return i < map->count ? seqmap_prefix(map, i + 1) : 0;
}

size_t imap_seqmap_find(const struct imap_seqmap *map, uint64_t seq)
{
	if (seq == 0 || seq > UINT32_MAX)
		return map->count;
	size_t k = seqmap_lower_bound(map, (uint32_t)seq);
	if (k > map->count || seqmap_prefix(map, k) != seq)
		return map->count;
	return k - 1;
}

size_t imap_seqmap_next_live(struct imap_seqmap *map, size_t i)
{
	while (i < map->count && map->next[i] != i) {
		size_t up = map->next[i];
		if (up < map->count)
			map->next[i] = map->next[up]; /* path halving */
		i = up;
	}
	return i < map->count ? i : map->count;
}

/* Entry k (1-based, live, its number number) is gone: its step moves to
   the next live entry, less the one message that went. */
static void seqmap_vanish(struct imap_seqmap *map, size_t k, uint32_t number)
{
	uint32_t step = number - seqmap_prefix(map, k - 1);
	seqmap_add(map, k, (uint32_t)0 - step);
	map->next[k - 1] = (uint32_t)k;
	size_t later = imap_seqmap_next_live(map, k);
	if (later < map->count)
		seqmap_add(map, later + 1, step - 1);
}

size_t imap_seqmap_expunge(struct imap_seqmap *map, uint64_t seq)
{
	if (seq == 0 || seq > UINT32_MAX)
		return map->count;
	size_t k = seqmap_lower_bound(map, (uint32_t)seq);
	if (k > map->count)
		return map->count; /* past the listing: no number moves */
	/* Entry k is live (a gone entry's prefix sum is its live
	   neighbour's, which the bound finds first). */
	if (seqmap_prefix(map, k) != seq) {
		/* A message between two entries (or before the first)
		   went: entry k's step, at least 2, shrinks by one. */
		seqmap_add(map, k, (uint32_t)0 - 1);
		return map->count;
	}
	seqmap_vanish(map, k, (uint32_t)seq);
	return k - 1;
}

void imap_seqmap_remove(struct imap_seqmap *map, size_t i)
{
	if (i < map->count && map->next[i] == i)
		seqmap_vanish(map, i + 1, seqmap_prefix(map, i + 1));
}

int imap_seqmap_drop_front(struct imap_seqmap *map, size_t first,
			   struct yb_error *err)
{
	if (first == 0)
		return YB_OK;
	if (first > map->count)
		first = map->count;
	size_t kept = map->count - first;
	uint32_t *steps = malloc((kept + 1) * sizeof(*steps));
	if (!steps)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	/* Each kept live entry's step from the kept live one before it:
	   the first's is its whole number. */
	uint32_t before = 0;
	for (size_t j = 0; j < kept; j++) {
		size_t i = first + j;
		bool live = map->next[i] == i;
		uint32_t number = live ? seqmap_prefix(map, i + 1) : before;
		steps[j + 1] = number - before;
		before = number;
		map->next[j] = live ? (uint32_t)j : (uint32_t)(j + 1);
	}
	/* Build the tree bottom-up: O(n). */
	map->count = kept;
	for (size_t k = 1; k <= kept; k++)
		map->tree[k] = steps[k];
	for (size_t k = 1; k <= kept; k++)
		if (k + lowbit(k) <= kept)
			map->tree[k + lowbit(k)] += map->tree[k];
	free(steps);
	return YB_OK;
}
