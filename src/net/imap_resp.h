/*
 * imap_resp.h - what parsed IMAP responses mean.
 *
 * Pure functions over struct imap_response (imap_parse.h) and over a few
 * textual forms (sequence sets, INTERNALDATE).  No I/O, and no allocation
 * except where a function says so.
 *
 * Errors: every function that can fail returns YB_OK or a status and
 * fills err (which may be NULL) with a message that names the response
 * part at fault, its bytes sanitized:
 *   YB_ERR_PROTOCOL  the server's data is malformed or out of range
 *                    (the caller adds the host and usually drops the
 *                    connection);
 *   YB_ERR_INTERNAL  a caller's mistake (bad arguments) or out of memory.
 * On failure the output structs are left in an unspecified state.
 *
 * Ownership: pointers stored in output structs point into the response
 * they were decoded from and share its lifetime (until the parser's next
 * feed or reset); nothing here owns memory unless a function says the
 * caller frees it.
 *
 * Numbers: the limits are those of the RFCs, checked on every value:
 * UIDs, UIDVALIDITY, UIDNEXT and message sequence numbers are nz-number
 * (1..2^32-1); mod-sequences are 1..2^63-1; sizes 0..2^63-1.
 */
#ifndef YUBIN_IMAP_RESP_H
#define YUBIN_IMAP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"
#include "imap_parse.h"

/* --- capabilities --- */

enum imap_capa_bit {
	IMAP_CAPA_IMAP4REV1 = 1ull << 0,
	IMAP_CAPA_IMAP4REV2 = 1ull << 1,
	IMAP_CAPA_STARTTLS = 1ull << 2,
	IMAP_CAPA_LOGINDISABLED = 1ull << 3,
	IMAP_CAPA_SASL_IR = 1ull << 4,
	IMAP_CAPA_AUTH_PLAIN = 1ull << 5,
	IMAP_CAPA_AUTH_LOGIN = 1ull << 6,
	IMAP_CAPA_AUTH_CRAM_MD5 = 1ull << 7,
	IMAP_CAPA_AUTH_XOAUTH2 = 1ull << 8,
	IMAP_CAPA_AUTH_OAUTHBEARER = 1ull << 9,
	IMAP_CAPA_AUTH_EXTERNAL = 1ull << 10,
	IMAP_CAPA_UIDPLUS = 1ull << 11,
	IMAP_CAPA_CONDSTORE = 1ull << 12,
	IMAP_CAPA_QRESYNC = 1ull << 13,
	IMAP_CAPA_ENABLE = 1ull << 14,
	IMAP_CAPA_LITERAL_PLUS = 1ull << 15,  /* LITERAL+ */
	IMAP_CAPA_LITERAL_MINUS = 1ull << 16, /* LITERAL- */
	IMAP_CAPA_NAMESPACE = 1ull << 17,
	IMAP_CAPA_IDLE = 1ull << 18,
	IMAP_CAPA_ID = 1ull << 19,
	IMAP_CAPA_MOVE = 1ull << 20,
	IMAP_CAPA_UNSELECT = 1ull << 21,
	IMAP_CAPA_ESEARCH = 1ull << 22,
	IMAP_CAPA_SPECIAL_USE = 1ull << 23,
	IMAP_CAPA_LIST_EXTENDED = 1ull << 24,
	IMAP_CAPA_LIST_STATUS = 1ull << 25,
	IMAP_CAPA_UTF8_ACCEPT = 1ull << 26,  /* UTF8=ACCEPT */
	IMAP_CAPA_BINARY = 1ull << 27,
	IMAP_CAPA_COMPRESS_DEFLATE = 1ull << 28,
	IMAP_CAPA_NOTIFY = 1ull << 29,
	/* Every bit above; a new capability comes before this and moves it. */
	IMAP_CAPA_KNOWN = (1ull << 30) - 1,
};

/*
 * The capabilities in resp: "* CAPABILITY ..." or a status response with
 * a [CAPABILITY ...] code.  *capa gets the known ones as a bitmask of
 * enum imap_capa_bit (names compared without regard to case, unknown ones
 * ignored).  YB_ERR_PROTOCOL when resp has neither form or an item is not
 * an atom.
 */
int imap_capa_parse(const struct imap_response *resp, uint64_t *capa,
		    struct yb_error *err);

/*
 * Is name (any case) among items[0..count) as an atom?  For capabilities
 * the bitmask does not know, and for "* ENABLED ..." lists.
 */
bool imap_capa_list_has(const struct imap_value *items, size_t count,
			const char *name);

/* --- resp-text codes --- */

enum imap_code {
	IMAP_CODE_NONE,  /* the response has no [CODE] */
	IMAP_CODE_OTHER, /* a code not listed here */
	IMAP_CODE_ALERT,
	IMAP_CODE_BADCHARSET,
	IMAP_CODE_CAPABILITY,
	IMAP_CODE_PARSE,
	IMAP_CODE_PERMANENTFLAGS,
	IMAP_CODE_READ_ONLY,
	IMAP_CODE_READ_WRITE,
	IMAP_CODE_TRYCREATE,
	IMAP_CODE_UIDNEXT,
	IMAP_CODE_UIDVALIDITY,
	IMAP_CODE_UNSEEN,
	IMAP_CODE_HIGHESTMODSEQ,
	IMAP_CODE_NOMODSEQ,
	IMAP_CODE_MODIFIED,
	IMAP_CODE_CLOSED,
	IMAP_CODE_APPENDUID,
	IMAP_CODE_COPYUID,
	IMAP_CODE_UIDNOTSTICKY,
	IMAP_CODE_AUTHENTICATIONFAILED,
	IMAP_CODE_AUTHORIZATIONFAILED,
	IMAP_CODE_EXPIRED,
	IMAP_CODE_PRIVACYREQUIRED,
	IMAP_CODE_CONTACTADMIN,
	IMAP_CODE_NOPERM,
	IMAP_CODE_INUSE,
	IMAP_CODE_EXPUNGEISSUED,
	IMAP_CODE_CORRUPTION,
	IMAP_CODE_SERVERBUG,
	IMAP_CODE_CLIENTBUG,
	IMAP_CODE_CANNOT,
	IMAP_CODE_LIMIT,
	IMAP_CODE_OVERQUOTA,
	IMAP_CODE_ALREADYEXISTS,
	IMAP_CODE_NONEXISTENT,
	IMAP_CODE_UNAVAILABLE,
};

#define IMAP_MODIFIED_SET_MAX 1024

struct imap_code_info {
	enum imap_code code;
	/* UIDVALIDITY, UIDNEXT, UNSEEN: 1..2^32-1;
	   HIGHESTMODSEQ: 1..2^63-1; 0 for other codes. */
	uint64_t number;
	/* PERMANENTFLAGS: the system flags (enum imap_flag) listed, and
	   whether "\*" (new keywords allowed) is among them. */
	uint32_t permanent_flags;
	bool permanent_keywords;
	/* CAPABILITY: as imap_capa_parse gives. */
	uint64_t capa;
	/* MODIFIED (RFC 7162): the UIDs a conditional STORE refused, as
	   sent (parse with imap_seqset_parse); modified_whole when the set
	   is missing, malformed or longer than the buffer: then every
	   message of the command counts as refused. */
	char modified_set[IMAP_MODIFIED_SET_MAX];
	bool modified_whole;
};

/*
 * Decode resp's [CODE] (code IMAP_CODE_NONE when it has none).  Codes
 * that take a number, PERMANENTFLAGS and CAPABILITY must have well-formed
 * arguments in range, else YB_ERR_PROTOCOL; arguments of other codes are
 * not looked at.
 */
int imap_code_decode(const struct imap_response *resp,
		     struct imap_code_info *out, struct yb_error *err);

/* A known code's name as servers spell it ("AUTHENTICATIONFAILED"), a
   static string; NULL for IMAP_CODE_NONE and IMAP_CODE_OTHER. */
const char *imap_code_name(enum imap_code code);

/* --- flags --- */

enum imap_flag {
	IMAP_FLAG_SEEN = 1u << 0,
	IMAP_FLAG_ANSWERED = 1u << 1,
	IMAP_FLAG_FLAGGED = 1u << 2,
	IMAP_FLAG_DELETED = 1u << 3,
	IMAP_FLAG_DRAFT = 1u << 4,
	IMAP_FLAG_RECENT = 1u << 5, /* session-only; never stored */
};

/*
 * A parenthesized flag list: the system flags found go into *flags (enum
 * imap_flag bits, names without regard to case) and everything else (a
 * keyword, or an unknown "\Flag") is counted in *keyword_count.  "\*"
 * sets *star when allow_star (PERMANENTFLAGS); elsewhere it is counted as
 * a keyword.  star may be NULL when allow_star is false.  YB_ERR_PROTOCOL
 * when list is not a LIST or an item is not an atom.
 */
int imap_flags_decode(const struct imap_value *list, bool allow_star,
		      uint32_t *flags, size_t *keyword_count, bool *star,
		      struct yb_error *err);

/*
 * The neutral flags (SINK_FLAG_* of sink.h) for IMAP flags: \Seen,
 * \Answered, \Flagged, \Deleted, \Draft.  \Recent and keywords have
 * none; a sink turns the rest into its own marks (Maildir's letters).
 */
uint32_t imap_flags_neutral(uint32_t flags);

/* --- FETCH --- */

/* How a message part (BODY[], BODY[HEADER...]) arrived. */
enum imap_part_kind {
	IMAP_PART_NONE,     /* not in this response */
	IMAP_PART_STREAMED, /* streamed to the caller: size only */
	IMAP_PART_DATA,     /* a literal or quoted string kept in memory */
	IMAP_PART_NIL,      /* the server sent NIL */
};

struct imap_part {
	enum imap_part_kind kind;
	uint64_t size;    /* STREAMED and DATA: its length in bytes */
	const char *data; /* DATA only: the bytes (may hold NUL) */
	bool has_origin;  /* "BODY[]<N>": a partial fetch starting at N */
	uint64_t origin;
};

/*
 * One "* N FETCH (...)" response.  A has_ flag is false when the item was
 * not in the response.  Items not listed here (ENVELOPE, BODYSTRUCTURE,
 * X-GM-...) are skipped.
 */
struct imap_fetch {
	uint32_t seq;            /* message sequence number N */
	bool has_uid;
	uint32_t uid;
	bool has_flags;
	uint32_t flags;          /* enum imap_flag bits */
	size_t keyword_count;    /* other flags in the list */
	bool has_internaldate;
	time_t internaldate;
	bool has_rfc822_size;
	uint64_t rfc822_size;
	bool has_modseq;
	uint64_t modseq;
	struct imap_part body;   /* BODY[] or RFC822 */
	struct imap_part header; /* BODY[HEADER], BODY[HEADER.FIELDS (...)],
				    RFC822.HEADER */
};

/*
 * Decode a FETCH response.  YB_ERR_PROTOCOL when resp is not
 * "* N FETCH (list)", N or a value is out of range, an item has no value
 * or a value of the wrong type, or an item appears twice (BODY[] and
 * RFC822 count as one item, and so do all header forms: fetch one header
 * section per command).
 */
int imap_fetch_decode(const struct imap_response *resp, struct imap_fetch *out,
		      struct yb_error *err);

/*
 * A FETCH item name split at its section: "BODY[HEADER.FIELDS (X)]<0>"
 * gives name "BODY", section "HEADER.FIELDS (X)", origin 0.  Pointers go
 * into item.  YB_ERR_PROTOCOL for an unclosed "[", bytes after "]" other
 * than "<number>", or a bad origin.
 */
struct imap_section {
	const char *name;
	size_t name_len;
	bool has_section; /* "[" ... "]" present (possibly empty) */
	const char *section;
	size_t section_len;
	bool has_origin;
	uint64_t origin;
};

int imap_section_split(const char *item, size_t len, struct imap_section *out,
		       struct yb_error *err);

/*
 * INTERNALDATE text "17-Jul-1996 02:44:25 -0700" (the day may be " 7" or
 * "07"; month names in any case) to seconds since the epoch.  Strict:
 * exact field widths, real calendar dates, years 1900..9999, hours
 * 00..23, minutes 00..59, seconds 00..60, zone -2359..+2359.
 */
int imap_internaldate_parse(const char *s, size_t len, time_t *out,
			    struct yb_error *err);

/* --- LIST / LSUB --- */

enum imap_mbox_attr {
	IMAP_MBOX_NOINFERIORS = 1u << 0,
	IMAP_MBOX_NOSELECT = 1u << 1,
	IMAP_MBOX_NONEXISTENT = 1u << 2,
	IMAP_MBOX_HASCHILDREN = 1u << 3,
	IMAP_MBOX_HASNOCHILDREN = 1u << 4,
	IMAP_MBOX_MARKED = 1u << 5,
	IMAP_MBOX_UNMARKED = 1u << 6,
	IMAP_MBOX_SUBSCRIBED = 1u << 7,
	IMAP_MBOX_REMOTE = 1u << 8,
	/* RFC 6154 special use */
	IMAP_MBOX_ALL = 1u << 9,
	IMAP_MBOX_ARCHIVE = 1u << 10,
	IMAP_MBOX_DRAFTS = 1u << 11,
	IMAP_MBOX_FLAGGED = 1u << 12,
	IMAP_MBOX_JUNK = 1u << 13,
	IMAP_MBOX_SENT = 1u << 14,
	IMAP_MBOX_TRASH = 1u << 15,
	IMAP_MBOX_IMPORTANT = 1u << 16,
};

struct imap_list_entry {
	uint32_t attrs;    /* enum imap_mbox_attr; unknown ones ignored */
	char delimiter;    /* hierarchy delimiter; '\0' for NIL (flat) */
	const char *name;  /* as sent: modified UTF-7 unless UTF8=ACCEPT */
	size_t name_len;
};

/*
 * "* LIST (attrs) delimiter name [extended data]" or LSUB.  The
 * delimiter must be a quoted visible ASCII character (0x21..0x7e) or NIL;
 * a name holding a NUL byte is refused.  Extended data (LIST-EXTENDED) is
 * ignored.
 */
int imap_list_decode(const struct imap_response *resp,
		     struct imap_list_entry *out, struct yb_error *err);

/* Is name[0..len) INBOX (any case), the one name IMAP treats so? */
bool imap_mailbox_is_inbox(const char *name, size_t len);

/*
 * Does name[0..name_len), from a LIST reply, match the pattern that LIST
 * sent (both as on the wire; RFC 3501 6.3.8)?  "*" matches any run of
 * characters, "%" any run without the hierarchy delimiter (any run at all
 * when delimiter is '\0', a flat namespace); INBOX, as the whole name or
 * its first level, in any case.  Costs O(pattern_len * name_len) time and
 * O(name_len) memory, whatever the wildcards.  YB_OK with *matches set,
 * or YB_ERR_INTERNAL when out of memory.
 */
int imap_list_match(const char *pattern, size_t pattern_len, const char *name,
		    size_t name_len, char delimiter, bool *matches,
		    struct yb_error *err);

/* --- NAMESPACE --- */

/* Namespaces kept per class; further ones are ignored (and counted). */
#define IMAP_NAMESPACE_MAX 8

struct imap_namespace {
	const char *prefix; /* e.g. "" or "INBOX."; may be empty */
	size_t prefix_len;
	char delimiter;     /* '\0' for NIL */
};

struct imap_namespaces {
	struct imap_namespace personal[IMAP_NAMESPACE_MAX];
	struct imap_namespace other[IMAP_NAMESPACE_MAX];
	struct imap_namespace shared[IMAP_NAMESPACE_MAX];
	size_t personal_count, other_count, shared_count; /* kept */
	size_t ignored_count; /* beyond IMAP_NAMESPACE_MAX in some class */
};

/* "* NAMESPACE personal other shared", each NIL or a list of lists. */
int imap_namespace_decode(const struct imap_response *resp,
			  struct imap_namespaces *out, struct yb_error *err);

/* --- VANISHED (QRESYNC) --- */

/*
 * "* VANISHED [(EARLIER)] uid-set": *earlier, and the set's text (parse it
 * with imap_seqset_parse, star 0).  The set is only checked to be an atom
 * or number here.
 */
int imap_vanished_decode(const struct imap_response *resp, bool *earlier,
			 const char **set, size_t *set_len,
			 struct yb_error *err);

/* --- sequence sets --- */

struct imap_range {
	uint32_t first, last; /* first <= last, both >= 1 */
};

/*
 * Parse "1:5,7,9:*" into ranges, in the order given (not merged or
 * sorted; "5:1" becomes 1..5).  "*" stands for star, the caller's
 * largest UID or sequence number; star 0 makes "*" an error.  Numbers are
 * nz-number without leading zeros.  More than max_ranges ranges is
 * YB_ERR_PROTOCOL.  On success *ranges is a malloc'd array of *count
 * (>= 1) entries the caller frees; on failure it is NULL.
 */
int imap_seqset_parse(const char *set, size_t len, uint32_t star,
		      size_t max_ranges, struct imap_range **ranges,
		      size_t *count, struct yb_error *err);

/*
 * Build the shortest set text for the start of uids[0..count) (ascending;
 * repeats are skipped) that fits out[0..out_size) with its NUL: runs of
 * consecutive UIDs become "a:b".  *consumed gets how many entries of uids
 * it covers (>= 1 when count >= 1), so a caller splits a long list into
 * several commands by calling again on uids + *consumed; *out_len gets
 * the text's length.  YB_ERR_INTERNAL (our bug) for a UID 0, a descending
 * list, or out_size below IMAP_SEQSET_MIN_SIZE.
 */
#define IMAP_SEQSET_MIN_SIZE 22 /* "4294967294:4294967295" and NUL */

int imap_seqset_build(const uint32_t *uids, size_t count, char *out,
		      size_t out_size, size_t *consumed, size_t *out_len,
		      struct yb_error *err);

/* --- sequence numbers under EXPUNGE --- */

/*
 * The sequence numbers of a listing's messages, kept current while
 * EXPUNGE and VANISHED take messages out, at O(log n) an expunge instead
 * of a pass over the listing (a flood of them stays linear).  Entries are
 * appended in UID order, which is sequence order (RFC 3501 2.3.1.2), and
 * keep their index; an entry expunged is gone for good.  Messages the
 * listing does not hold (below its first UID, or a gap) still count:
 * expunging one moves the entries after it down.
 *
 * Inside: a Fenwick tree over each entry's step from the live entry
 * before it (0 for gone ones), so a prefix sum is a sequence number, and
 * next[] to step over gone entries.  Allocation: the map owns its
 * arrays; imap_seqmap_free releases them.  At most IMAP_SEQMAP_MAX
 * entries.
 */
#define IMAP_SEQMAP_MAX (UINT32_MAX - 1)

struct imap_seqmap {
	uint32_t *tree;  /* [1..count]: Fenwick tree of the steps */
	uint32_t *next;  /* [0..count): i when live, else an index past i */
	size_t count, cap;
};

void imap_seqmap_init(struct imap_seqmap *map);
void imap_seqmap_free(struct imap_seqmap *map);

/*
 * Append an entry numbered seq.  YB_ERR_PROTOCOL when seq is not above
 * the last live entry's number (a listing out of order), YB_ERR_INTERNAL
 * when out of memory or past IMAP_SEQMAP_MAX.
 */
int imap_seqmap_append(struct imap_seqmap *map, uint32_t seq,
		       struct yb_error *err);

/* The number of the live entry at index i now. */
uint32_t imap_seqmap_seq(const struct imap_seqmap *map, size_t i);

/* The index of the live entry numbered seq, or map->count when none. */
size_t imap_seqmap_find(const struct imap_seqmap *map, uint64_t seq);

/* The first live index at or after i, or map->count. */
size_t imap_seqmap_next_live(struct imap_seqmap *map, size_t i);

/*
 * "* seq EXPUNGE": the entry numbered seq (if the listing holds it) is
 * gone and its index returned, else map->count; every later entry's
 * number goes down by one either way.
 */
size_t imap_seqmap_expunge(struct imap_seqmap *map, uint64_t seq);

/* Expunge the live entry at index i (VANISHED names it by UID). */
void imap_seqmap_remove(struct imap_seqmap *map, size_t i);

/*
 * Forget the first `first` entries (the listing dropped them): entry
 * first becomes entry 0, numbers unchanged.  YB_ERR_INTERNAL when out
 * of memory (the map is then unchanged).
 */
int imap_seqmap_drop_front(struct imap_seqmap *map, size_t first,
			   struct yb_error *err);

#endif
