/*
 * state_record.c - one record of the state as a line and back, and the
 * files' headers and the snapshot's trailer (see state_record.h).
 */
#include "config.h"

#include "state_record.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "state.h"
#include "text.h"

/* " #" and 8 hex digits end every record line. */
#define CHECK_SUFFIX_LEN 10

/* The field that stands for "no value" where a field is optional. */
static const char FIELD_NONE[] = "-";

const char SNAPSHOT_MAGIC[] = "yubin-snapshot";
const char JOURNAL_MAGIC[] = "yubin-journal";
const char SNAPSHOT_HEADER[] = "yubin-snapshot 3\n";
const char SNAPSHOT_HEADER_V2[] = "yubin-snapshot 2\n";
const char SNAPSHOT_HEADER_V1[] = "yubin-snapshot 1\n";
const char JOURNAL_HEADER[] = "yubin-journal 1\n";
static const char SNAPSHOT_TRAILER_WORD[] = "end";

/* ---- CRC-32 ------------------------------------------------------------ */

/*
 * CRC-32 (reflected, polynomial 0xEDB88320), sixteen bytes at a time
 * ("slicing-by-16"): table[0] is the byte-wise table, table[k] the CRC of
 * a byte followed by k zero bytes.  A state of a million messages is
 * checked twice over (each line, and the whole snapshot), 280 MB of CRC:
 * four bits at a time that was more than half of loading it.
 */
static uint32_t crc32_table[16][256];
static bool crc32_table_ready;

static void crc32_make_table(void)
{
	for (uint32_t byte = 0; byte < 256; byte++) {
		uint32_t crc = byte;
		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
		crc32_table[0][byte] = crc;
	}
	for (int k = 1; k < 16; k++)
		for (int byte = 0; byte < 256; byte++) {
			uint32_t prev = crc32_table[k - 1][byte];
			crc32_table[k][byte] = (prev >> 8) ^ crc32_table[0][prev & 0xff];
		}
	crc32_table_ready = true;
}

/* Eight bytes at p as a little-endian number, whatever the host's order. */
static uint64_t load_le64(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	       (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	       (uint64_t)p[7] << 56;
}

uint32_t record_crc32_update(uint32_t crc, const char *data, size_t len)
{
	if (!crc32_table_ready)
		crc32_make_table();
	const unsigned char *p = (const unsigned char *)data;
	for (; len >= 16; len -= 16, p += 16) {
		uint64_t low = load_le64(p) ^ crc, high = load_le64(p + 8);
		crc = crc32_table[15][low & 0xff] ^
		      crc32_table[14][(low >> 8) & 0xff] ^
		      crc32_table[13][(low >> 16) & 0xff] ^
		      crc32_table[12][(low >> 24) & 0xff] ^
		      crc32_table[11][(low >> 32) & 0xff] ^
		      crc32_table[10][(low >> 40) & 0xff] ^
		      crc32_table[9][(low >> 48) & 0xff] ^
		      crc32_table[8][low >> 56] ^
		      crc32_table[7][high & 0xff] ^
		      crc32_table[6][(high >> 8) & 0xff] ^
		      crc32_table[5][(high >> 16) & 0xff] ^
		      crc32_table[4][(high >> 24) & 0xff] ^
		      crc32_table[3][(high >> 32) & 0xff] ^
		      crc32_table[2][(high >> 40) & 0xff] ^
		      crc32_table[1][(high >> 48) & 0xff] ^
		      crc32_table[0][high >> 56];
	}
	for (; len > 0; len--, p++)
		crc = (crc >> 8) ^ crc32_table[0][(crc ^ *p) & 0xff];
	return crc;
}

uint32_t record_crc32_final(uint32_t crc)
{
	return crc ^ 0xffffffffu;
}

static uint32_t crc32_bytes(const char *data, size_t len)
{
	return record_crc32_final(record_crc32_update(CRC32_INIT, data, len));
}

/* ---- records ----------------------------------------------------------- */

static bool byte_is_plain(unsigned char byte)
{
	return byte >= 0x21 && byte <= 0x7e && byte != '%';
}

/*
 * The end of the run of plain bytes at text[at..end): eight bytes at a
 * time while none of them is below 0x21, above 0x7e or '%' (each test
 * exact for "any byte of the word", so a word that fails is gone over
 * byte by byte).  Record lines are nearly all plain bytes: a byte at a
 * time was a quarter of loading a state.
 */
static size_t plain_run_end(const char *text, size_t at, size_t end)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	for (; end - at >= 8; at += 8) {
		uint64_t word;
		memcpy(&word, text + at, 8);
		uint64_t percent = word ^ (ones * '%');
		uint64_t below = (word - ones * 0x21) & ~word;
		uint64_t above = (word + ones) | word;
		uint64_t is_percent = (percent - ones) & ~percent;
		if ((below | above | is_percent) & highs)
			break;
	}
	while (at < end && byte_is_plain((unsigned char)text[at]))
		at++;
	return at;
}

static bool is_lone_none(const char *str, size_t len)
{
	return len == 1 && str[0] == FIELD_NONE[0];
}

static size_t escaped_len(const char *str, size_t len)
{
	if (is_lone_none(str, len))
		return 3;
	size_t out = len;
	for (size_t i = 0; i < len; i++)
		if (!byte_is_plain((unsigned char)str[i]))
			out += 2;
	return out;
}

static const char HEX_UPPER[] = "0123456789ABCDEF";
static const char HEX_LOWER[] = "0123456789abcdef";

static char *escape_byte(char *out, unsigned char byte)
{
	*out++ = '%';
	*out++ = HEX_UPPER[byte >> 4];
	*out++ = HEX_UPPER[byte & 0x0f];
	return out;
}

static char *escape_into(char *out, const char *str, size_t len)
{
	if (is_lone_none(str, len))
		return escape_byte(out, (unsigned char)str[0]);
	for (size_t i = 0; i < len; i++) {
		unsigned char byte = (unsigned char)str[i];
		if (byte_is_plain(byte))
			*out++ = (char)byte;
		else
			out = escape_byte(out, byte);
	}
	return out;
}

/* Bytes of field i as written. */
static size_t field_encoded_len(const struct record *rec, size_t i)
{
	if (rec->field_none[i])
		return strlen(FIELD_NONE);
	return escaped_len(rec->field[i], rec->field_len[i]);
}

/* Bytes of the encoded line, newline included. */
size_t record_line_len(const struct record *rec)
{
	size_t len = 1 + CHECK_SUFFIX_LEN + 1;
	for (size_t i = 0; i < rec->field_count; i++)
		len += 1 + field_encoded_len(rec, i);
	return len;
}

/* " #xxxxxxxx\n" (CHECK_SUFFIX_LEN + 1 bytes) at at: crc in lowercase hex. */
static void write_check_suffix(char *at, uint32_t crc)
{
	*at++ = ' ';
	*at++ = '#';
	for (int shift = 28; shift >= 0; shift -= 4)
		*at++ = HEX_LOWER[(crc >> shift) & 0x0f];
	*at = '\n';
}

/* Write the line (exactly record_line_len bytes) to out. */
void record_encode(const struct record *rec, char *out)
{
	char *at = out;
	*at++ = rec->op;
	for (size_t i = 0; i < rec->field_count; i++) {
		*at++ = ' ';
		if (rec->field_none[i]) {
			memcpy(at, FIELD_NONE, strlen(FIELD_NONE));
			at += strlen(FIELD_NONE);
		} else {
			at = escape_into(at, rec->field[i], rec->field_len[i]);
		}
	}
	write_check_suffix(at, crc32_bytes(out, (size_t)(at - out)));
}

static int hex_value(char digit)
{
	if (digit >= '0' && digit <= '9')
		return digit - '0';
	if (digit >= 'a' && digit <= 'f')
		return digit - 'a' + 10;
	if (digit >= 'A' && digit <= 'F')
		return digit - 'A' + 10;
	return -1;
}

static bool parse_lower_hex32(const char *hex, uint32_t *out);

/* The checksum a line's " #xxxxxxxx" suffix states; false if it has none. */
static bool stored_checksum(const char *text, size_t len, uint32_t *stored)
{
	if (len < CHECK_SUFFIX_LEN + 1)
		return false;
	const char *suffix = text + len - CHECK_SUFFIX_LEN;
	if (suffix[0] != ' ' || suffix[1] != '#')
		return false;
	return parse_lower_hex32(suffix + 2, stored);
}

bool record_has_check_suffix(const char *text, size_t len)
{
	/* The digits are not read: what vouches for the line covers them. */
	return len >= CHECK_SUFFIX_LEN + 1 &&
	       text[len - CHECK_SUFFIX_LEN] == ' ' &&
	       text[len - CHECK_SUFFIX_LEN + 1] == '#';
}

/* Does the line end in a correct " #xxxxxxxx" checksum of what precedes? */
bool record_checksum_ok(const char *text, size_t len)
{
	uint32_t stored;
	return stored_checksum(text, len, &stored) &&
	       crc32_bytes(text, len - CHECK_SUFFIX_LEN) == stored;
}

/* Decode field[0..len) in place; NULL on success, else what is wrong. */
static const char *unescape_in_place(char *field, size_t len, size_t *out_len)
{
	size_t out = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char byte = (unsigned char)field[i];
		if (byte == '%') {
			if (len - i < 3)
				return "truncated escape";
			int high = hex_value(field[i + 1]);
			int low = hex_value(field[i + 2]);
			if (high < 0 || low < 0)
				return "bad escape";
			byte = (unsigned char)(high << 4 | low);
			if (byte == 0)
				return "escaped NUL byte";
			i += 2;
		} else if (!byte_is_plain(byte)) {
			return "unescaped byte";
		}
		field[out++] = (char)byte;
	}
	*out_len = out;
	return NULL;
}

static const char *check_time_field(struct record *rec)
{
	unsigned long long max = sizeof(time_t) >= 8 ? (unsigned long long)INT64_MAX
						      : (unsigned long long)INT32_MAX;
	unsigned long long seconds;
	if (!text_parse_u64(rec->field[2], rec->field_len[2], max, &seconds))
		return "bad time";
	rec->fetched_at = (int64_t)seconds;
	return NULL;
}

/* What is wrong with a value's name (the file's and the caller's), or NULL. */
const char *record_meta_name_problem(const char *name, size_t len)
{
	if (len == 0)
		return "empty value name";
	if (len > STATE_META_NAME_MAX)
		return "value name too long";
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return "value name not of [a-z0-9_]";
	}
	return NULL;
}

const char *record_meta_value_problem(const char *value, size_t len)
{
	if (len == 0)
		return "empty value";
	if (len > STATE_META_VALUE_MAX)
		return "value too long";
	for (size_t i = 0; i < len; i++) {
		unsigned char byte = (unsigned char)value[i];
		/* UTF-8 is fine (paths of folders with such names). */
		if (byte < 0x20 || byte == 0x7f)
			return "value holds a control character";
	}
	return NULL;
}

/* The number of fields op takes; false for an unknown op. */
static bool record_arity(char op, size_t *min, size_t *max)
{
	switch (op) {
	case 'G': *min = *max = 1; return true;
	case 'X': case 'F': *min = *max = 2; return true;
	case 'C': case 'I': case 'D': case 'V': case 'Z': case 'B':
		*min = *max = 3; return true;
	case 'S': case 'P': *min = *max = 4; return true;
	/* A snapshot line without its DEST has no destination recorded;
	   SIZE after DEST is the listed size (version 3). */
	case 'M': *min = 3; *max = 5; return true;
	}
	return false;
}

/* B's FLAGS, or P's ADD and REMOVE (packed ADD + 256 * REMOVE): bit
   sets up to RECORD_FLAGS_MAX. */
static const char *record_check_flags(struct record *rec)
{
	unsigned long long first, second = 0;
	if (!text_parse_u64(rec->field[2], rec->field_len[2], RECORD_FLAGS_MAX,
			    &first))
		return "bad flags";
	if (rec->op == 'P' &&
	    !text_parse_u64(rec->field[3], rec->field_len[3], RECORD_FLAGS_MAX,
			    &second))
		return "bad flags";
	rec->number = first | (second << 8);
	return NULL;
}

/* Field i of rec as a listed size into rec->number, or what is wrong. */
static const char *check_size_field(struct record *rec, size_t i)
{
	unsigned long long number;
	if (!text_parse_u64(rec->field[i], rec->field_len[i], ~0ULL, &number))
		return "bad size";
	rec->number = number;
	return NULL;
}

/* M's DEST, SIZE and time. */
static const char *check_m_fields(struct record *rec)
{
	if (rec->field_count >= 4 && !rec->field_none[3] &&
	    rec->field_len[3] > STATE_DEST_MAX)
		return "destination too long";
	const char *problem = rec->field_count == 5 ? check_size_field(rec, 4)
						    : NULL;
	return problem ? problem : check_time_field(rec);
}

/* The limits of fields 1 and up, after the mailbox; NULL when all is well. */
static const char *record_check_fields(struct record *rec)
{
	unsigned long long number;
	if (rec->op == 'V') {
		const char *problem = record_meta_name_problem(rec->field[1],
							rec->field_len[1]);
		return problem ? problem : record_meta_value_problem(rec->field[2],
							      rec->field_len[2]);
	}
	if (rec->field_count >= 2 && rec->field_len[1] > STATE_KEY_MAX)
		return "key too long";
	switch (rec->op) {
	case 'I': case 'D':
		return rec->field_len[2] > STATE_DEST_MAX ? "destination too long"
							  : NULL;
	case 'M':
		return check_m_fields(rec);
	case 'C':
		return check_time_field(rec);
	case 'Z':
		return check_size_field(rec, 2);
	case 'B':
	case 'P':
		return record_check_flags(rec);
	case 'S':
		if (!text_parse_u64(rec->field[3], rec->field_len[3],
				    MISSING_RUNS_MAX, &number))
			return "bad count";
		rec->number = number;
		return check_time_field(rec);
	}
	return NULL;
}

/* Field count and limits for the record's type; NULL when all is well. */
static const char *record_check(struct record *rec)
{
	size_t min, max;
	if (!record_arity(rec->op, &min, &max))
		return "unknown record type";
	if (rec->field_count < min || rec->field_count > max)
		return "wrong number of fields";
	if (rec->field_len[0] > STATE_MAILBOX_MAX)
		return "mailbox too long";
	return record_check_fields(rec);
}

/*
 * Parse a line whose checksum is correct (len includes the suffix).  The
 * fields are decoded and NUL-terminated in place, which is safe because a
 * decoded field is never longer than its escaped form and is followed by
 * a space (a separator or the one before '#').
 */
const char *record_parse(char *text, size_t len, struct record *rec)
{
	size_t body_len = len - CHECK_SUFFIX_LEN;
	if (body_len < 3 || text[1] != ' ')
		return "malformed record";
	memset(rec, 0, sizeof(*rec));
	rec->op = text[0];
	size_t pos = 2;
	for (;;) {
		if (rec->field_count == RECORD_FIELDS_MAX)
			return "too many fields";
		/* Most fields are plain bytes only, which decode to
		   themselves: one pass finds their end. */
		size_t end = plain_run_end(text, pos, body_len);
		bool plain = end == body_len || text[end] == ' ';
		while (end < body_len && text[end] != ' ')
			end++;
		if (end == pos)
			return "empty field";
		rec->field_none[rec->field_count] =
			is_lone_none(text + pos, end - pos);
		size_t decoded_len = end - pos;
		const char *problem = plain ? NULL :
			unescape_in_place(text + pos, end - pos, &decoded_len);
		if (problem)
			return problem;
		text[pos + decoded_len] = '\0';
		rec->field[rec->field_count] = text + pos;
		rec->field_len[rec->field_count] = decoded_len;
		rec->field_count++;
		if (end == body_len)
			break;
		pos = end + 1;
	}
	return record_check(rec);
}

void record_set(struct record *rec, char op, const char *mailbox,
		const char *key, const char *third)
{
	memset(rec, 0, sizeof(*rec));
	rec->op = op;
	rec->field[0] = mailbox;
	rec->field_len[0] = strlen(mailbox);
	rec->field[1] = key;
	rec->field_len[1] = strlen(key);
	rec->field_count = 2;
	if (third) {
		rec->field[2] = third;
		rec->field_len[2] = strlen(third);
		rec->field_count = 3;
	}
}

void record_number_field(struct record *rec, size_t i,
			 char buf[RECORD_NUMBER_SIZE], unsigned long long number)
{
	int written = snprintf(buf, RECORD_NUMBER_SIZE, "%llu", number);
	if (written < 0 || written >= RECORD_NUMBER_SIZE)
		written = 0; /* cannot happen: buffers hold any 64-bit value */
	rec->field[i] = buf;
	rec->field_len[i] = (size_t)written;
}

/* ---- headers and the snapshot trailer ---------------------------------- */

enum header_kind record_check_header(const char *text, size_t len,
				     const char *magic, const char *header)
{
	size_t header_len = strlen(header) - 1; /* without the newline */
	if (!text)
		return HEADER_BAD;
	if (len == header_len && memcmp(text, header, header_len) == 0)
		return HEADER_OK;
	size_t magic_len = strlen(magic);
	unsigned long long version;
	if (len > magic_len + 1 && memcmp(text, magic, magic_len) == 0 &&
	    text[magic_len] == ' ' &&
	    text_parse_u64(text + magic_len + 1, len - magic_len - 1, ~0ULL,
			   &version))
		return HEADER_OTHER_VERSION;
	return HEADER_BAD;
}

void snapshot_tally_line(struct snapshot_tally *tally, const char *text,
			 size_t len)
{
	tally->crc = record_crc32_update(tally->crc, text, len);
	tally->crc = record_crc32_update(tally->crc, "\n", 1);
}

bool snapshot_is_trailer(const char *text, size_t len)
{
	size_t word_len = strlen(SNAPSHOT_TRAILER_WORD);
	return len > word_len &&
	       memcmp(text, SNAPSHOT_TRAILER_WORD, word_len) == 0 &&
	       text[word_len] == ' ';
}

/* 8 lowercase hex digits at hex as a number; false if they are not. */
static bool parse_lower_hex32(const char *hex, uint32_t *out)
{
	*out = 0;
	for (size_t i = 0; i < 8; i++) {
		bool lower_hex = (hex[i] >= '0' && hex[i] <= '9') ||
				 (hex[i] >= 'a' && hex[i] <= 'f');
		if (!lower_hex)
			return false;
		*out = (*out << 4) | (uint32_t)hex_value(hex[i]);
	}
	return true;
}

/* Parse "end COUNT CRC #CHECK"; false if it is malformed. */
static bool parse_trailer(const char *text, size_t len,
			  unsigned long long *count, uint32_t *crc)
{
	size_t word_len = strlen(SNAPSHOT_TRAILER_WORD);
	/* At least "end", a space, one digit, a space and 8 hex digits. */
	if (len < word_len + 11 + CHECK_SUFFIX_LEN)
		return false;
	const char *body = text + word_len + 1;
	size_t body_len = len - CHECK_SUFFIX_LEN - word_len - 1;
	size_t count_len = body_len - 9;
	if (body[count_len] != ' ' ||
	    !text_parse_u64(body, count_len, ~0ULL, count))
		return false;
	return parse_lower_hex32(body + count_len + 1, crc);
}

const char *snapshot_trailer_problem(const char *text, size_t len,
				     const struct snapshot_tally *tally)
{
	unsigned long long count;
	uint32_t crc;
	if (!parse_trailer(text, len, &count, &crc))
		return "malformed end line";
	if (count != tally->records)
		return "the end line counts another number of records: "
		       "lines are missing or added";
	if (crc != record_crc32_final(tally->crc))
		return "the end line's checksum of the whole file does not match";
	return NULL;
}

size_t snapshot_trailer_encode(char out[SNAPSHOT_TRAILER_SIZE],
			       unsigned long long records, uint32_t crc)
{
	char body[SNAPSHOT_TRAILER_SIZE - CHECK_SUFFIX_LEN - 1];
	int written = snprintf(body, sizeof(body), "%s %llu %08lx",
			       SNAPSHOT_TRAILER_WORD, records,
			       (unsigned long)crc);
	if (written < 0 || (size_t)written >= sizeof(body))
		return 0; /* cannot happen: it fits */
	memcpy(out, body, (size_t)written);
	write_check_suffix(out + written, crc32_bytes(body, (size_t)written));
	return (size_t)written + CHECK_SUFFIX_LEN + 1;
}
