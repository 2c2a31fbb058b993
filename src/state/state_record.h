/*
 * state_record.h - the state's record format: how one record of the
 * journal or the snapshot is written as a line and read back, and how
 * the two files begin (a versioned header) and how a snapshot ends (its
 * trailer).  No I/O here: state.c reads and writes the files.
 *
 * A record line is "OP FIELD... #CHECK\n": OP one letter, each field
 * percent-escaped (%XX) so that it holds only bytes 0x21..0x7e other
 * than '%' and is never empty, CHECK the CRC-32 (IEEE 802.3, as zlib's
 * crc32) of the bytes before " #", in 8 lowercase hex digits.  The ops,
 * their fields and what they mean are described at the top of state.c.
 *
 * An absent optional field (M's DEST) is written "-"; a field whose
 * value is "-" itself is always written "%2D", so the two never meet.
 *
 * The snapshot ends in the trailer "end COUNT CRC #CHECK": COUNT record
 * lines came before it, and CRC is the CRC-32 of every byte of the file
 * before the trailer (header included).
 *
 * Ownership: a struct record never owns its fields.  record_parse points
 * them into the line it decodes in place; the writer points them at the
 * caller's strings (and at buffers the caller keeps alive).
 */
#ifndef YUBIN_STATE_RECORD_H
#define YUBIN_STATE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest fields the state accepts (bytes, before escaping);
   STATE_MAILBOX_MAX is in state.h. */
#define STATE_KEY_MAX 1024
#define STATE_DEST_MAX 4096
#define STATE_META_NAME_MAX 64
#define STATE_META_VALUE_MAX 4096

/*
 * Longest record line the reader accepts.  The longest valid line, an M
 * record with every field at its maximum and every byte escaped, is
 * 1 + 2 * (1 + 3 * 1024) + 1 + 19 + 1 + 3 * 4096 + 11 bytes, about
 * 18.5 KiB.
 */
#define STATE_LINE_MAX (32 * 1024)

/* Most listings a key can be counted missing from (it fits 32 bits). */
#define MISSING_RUNS_MAX 0xffffffffULL

#define RECORD_FIELDS_MAX 5

/* Largest flag set a B or P record holds (state.h's STATE_FLAGS_MAX). */
#define RECORD_FLAGS_MAX 0x7fu

/* Room for a decimal 64-bit number and its NUL. */
#define RECORD_NUMBER_SIZE 24

/*
 * A record, decoded or about to be encoded.  field_none[i] marks an
 * absent optional field, written "-".  A parsed "-" is flagged and also
 * left as the text "-", which is what it means where a field is not
 * optional.
 */
struct record {
	char op;
	size_t field_count;
	const char *field[RECORD_FIELDS_MAX];
	size_t field_len[RECORD_FIELDS_MAX];
	bool field_none[RECORD_FIELDS_MAX];
	int64_t fetched_at;   /* M and C; S's SINCE */
	uint64_t number;      /* Z's SIZE, M's SIZE (its fifth field), S's
				 RUNS, B's FLAGS, P's ADD + 256 * REMOVE */
};

/* ---- writing ---- */

/*
 * rec as op with fields mailbox, key and (unless NULL) third; every
 * other member zero.  The strings are borrowed.
 */
void record_set(struct record *rec, char op, const char *mailbox,
		const char *key, const char *third);

/* Field i of rec: number in decimal, written into buf (which rec borrows,
   RECORD_NUMBER_SIZE bytes). */
void record_number_field(struct record *rec, size_t i,
			 char buf[RECORD_NUMBER_SIZE], unsigned long long number);

/* Bytes of rec's encoded line, newline included. */
size_t record_line_len(const struct record *rec);

/* Write rec's line (exactly record_line_len bytes, no NUL) to out. */
void record_encode(const struct record *rec, char *out);

/* ---- reading ---- */

/* Does the line (len bytes, without its newline) end in a correct
   " #xxxxxxxx" checksum of what precedes? */
bool record_checksum_ok(const char *text, size_t len);

/*
 * Does the line (len bytes without the newline) end in " #" and eight
 * bytes, where a checksum goes (its digits unread)?  Enough for
 * record_parse where something else vouches for the bytes (the
 * snapshot's end line).
 */
bool record_has_check_suffix(const char *text, size_t len);

/*
 * Decode a line whose checksum is correct, or vouched for (see above),
 * (len bytes without the newline, the checksum included) into rec,
 * checking the field count and limits of its op.  The fields are decoded and NUL-terminated in place
 * in text, which rec then points into.  NULL on success, else what is
 * wrong (a phrase for an error message).
 */
const char *record_parse(char *text, size_t len, struct record *rec);

/* What is wrong with a value's name or text (as the file and the API
   take them), or NULL. */
const char *record_meta_name_problem(const char *name, size_t len);
const char *record_meta_value_problem(const char *value, size_t len);

/* ---- the files' first and last lines ---- */

extern const char SNAPSHOT_HEADER[];     /* "yubin-snapshot 3\n" */
extern const char SNAPSHOT_HEADER_V2[];  /* M and Z lines apart: read only */
extern const char SNAPSHOT_HEADER_V1[];  /* before the trailer: read only */
extern const char JOURNAL_HEADER[];      /* "yubin-journal 1\n" */
extern const char SNAPSHOT_MAGIC[];
extern const char JOURNAL_MAGIC[];

enum header_kind { HEADER_OK, HEADER_OTHER_VERSION, HEADER_BAD };

/*
 * Is the first line (text, len without its newline; text NULL for a line
 * too long to hold) exactly header?  "MAGIC N" for another N is another
 * version, anything else bad.
 */
enum header_kind record_check_header(const char *text, size_t len,
				     const char *magic, const char *header);

/* Start a CRC-32 with CRC32_INIT, feed it bytes, finish with record_crc32_final. */
#define CRC32_INIT 0xffffffffu
uint32_t record_crc32_update(uint32_t crc, const char *data, size_t len);
uint32_t record_crc32_final(uint32_t crc);

/* What a snapshot's lines add up to, to check against its trailer. */
struct snapshot_tally {
	uint32_t crc;                /* running CRC-32 of the lines so far */
	unsigned long long records;  /* record lines so far */
	bool has_trailer;            /* version 2: the file must end in one */
	bool trailer_seen;
};

/* Add a line (len bytes, its newline not included) to the running CRC. */
void snapshot_tally_line(struct snapshot_tally *tally, const char *text,
			 size_t len);

/* Is the (checksummed) line a trailer, "end ..."? */
bool snapshot_is_trailer(const char *text, size_t len);

/* Why the trailer does not match the lines tallied before it, or NULL. */
const char *snapshot_trailer_problem(const char *text, size_t len,
				     const struct snapshot_tally *tally);

/* Room for the longest trailer line. */
#define SNAPSHOT_TRAILER_SIZE 64

/*
 * Write the trailer for records lines and the finished crc of the bytes
 * before it to out (newline included, no NUL); returns its length (0
 * only if it could not be formatted, which cannot happen).
 */
size_t snapshot_trailer_encode(char out[SNAPSHOT_TRAILER_SIZE],
			       unsigned long long records, uint32_t crc);

#endif
