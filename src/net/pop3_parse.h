/*
 * pop3_parse.h - pure POP3 decoding: status lines, response codes,
 * capability lines, UIDL and LIST lines, the APOP timestamp, and the
 * dot-stuffed multi-line body as a stream.  No I/O, no allocation.
 */
#ifndef YUBIN_POP3_PARSE_H
#define YUBIN_POP3_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest status/listing line accepted (RFC 1939 says 512 with CRLF). */
#define POP3_LINE_MAX 8192
/* RFC 1939: a UIDL is 1 to 70 characters in 0x21..0x7e. */
#define POP3_UIDL_MAX 70

enum pop3_status { POP3_STATUS_OK, POP3_STATUS_ERR, POP3_STATUS_BAD };

/*
 * "+OK text" / "-ERR text" (case-insensitive, text optional).  *text and
 * *text_len give what follows the status and one space.
 */
enum pop3_status pop3_parse_status(const char *line, size_t len,
				   const char **text, size_t *text_len);

/* The RFC 2449/3206 response code at the start of a reply's text. */
enum pop3_resp_code {
	POP3_CODE_NONE,
	POP3_CODE_IN_USE,      /* [IN-USE]: maildrop locked, try later */
	POP3_CODE_LOGIN_DELAY, /* [LOGIN-DELAY] */
	POP3_CODE_SYS_TEMP,    /* [SYS/TEMP] */
	POP3_CODE_SYS_PERM,    /* [SYS/PERM] */
	POP3_CODE_AUTH,        /* [AUTH]: credentials refused */
	POP3_CODE_OTHER,
};
enum pop3_resp_code pop3_parse_resp_code(const char *text, size_t len);

struct pop3_capa {
	bool uidl, top, user, pipelining, stls, resp_codes;
	bool utf8; /* RFC 6856: the UTF8 command */
	bool sasl_plain, sasl_login, sasl_cram_md5, sasl_xoauth2,
	     sasl_oauthbearer, sasl_external;
};

/* Fold one line of a CAPA listing into capa (unknown lines ignored). */
void pop3_parse_capa_line(const char *line, size_t len, struct pop3_capa *capa);

/*
 * "MSGNO UIDL" from a UIDL listing.  The UIDL must be 1..POP3_UIDL_MAX
 * bytes of 0x21..0x7e and msgno 1..UINT32_MAX; false otherwise.
 * *uidl points into line.
 */
bool pop3_parse_uidl_line(const char *line, size_t len, unsigned long *msgno,
			  const char **uidl, size_t *uidl_len);

/* "MSGNO SIZE" from a LIST listing (extra words after SIZE ignored). */
bool pop3_parse_list_line(const char *line, size_t len, unsigned long *msgno,
			  uint64_t *size);

/*
 * The APOP timestamp "<...@...>" in a greeting, copied with its angle
 * brackets into out (NUL-terminated).  False if there is none or it does
 * not fit.
 */
bool pop3_parse_apop_timestamp(const char *greeting, size_t len, char *out,
			       size_t out_size);

/*
 * The body of a multi-line reply as a stream: lines starting with "."
 * lose that dot, and the line "." (CRLF or bare LF) ends the body.
 * Line endings are passed through as the server sent them.  Correct for
 * any split of the input, the terminator included.
 */
struct pop3_dot_decoder {
	int state;
	bool done;
};

void pop3_dot_init(struct pop3_dot_decoder *dec);

/*
 * Decode from in[0..len).  Writes body bytes to out (room for len bytes
 * suffices) and sets *out_len.  Returns how many input bytes were used:
 * all of them, or, once the terminator has been read, the bytes up to and
 * including it (dec->done becomes true; later bytes belong to the next
 * reply).
 */
size_t pop3_dot_decode(struct pop3_dot_decoder *dec, const char *in, size_t len,
		       char *out, size_t *out_len);

/*
 * What a body held, to check it against the size LIST gave.  bytes are
 * the body as received after unstuffing, line endings as sent; crlf and
 * bare_lf count its line endings; wire_extra the bytes the server sent
 * that are not body (stuffing dots and the terminator line).
 */
struct pop3_body_tally {
	uint64_t bytes, crlf, bare_lf, wire_extra;
	bool after_cr;  /* the last byte added was a CR */
	/* A line ending in ".\r\n" followed by one that starts with
	   "+OK" or "-ERR": the mark of a body whose last line lacked its
	   CRLF, so that the terminator was taken for text and the next
	   reply read as body (see pop3_tally_ran_on). */
	bool ran_on;
	unsigned char last[2]; /* the two bytes before the current one */
	bool at_head;          /* collecting the start of a line after ".\r\n" */
	unsigned char head[4];
	unsigned head_len;
};

void pop3_tally_init(struct pop3_body_tally *tally);

/* Count body bytes (unstuffed), in any split. */
void pop3_tally_add(struct pop3_body_tally *tally, const char *data,
		    size_t len);

/*
 * Does listed, the size LIST gave, agree with the body?  RFC 1939's size
 * counts CRLF line endings and no stuffing, but servers that store LF
 * count one byte per line, and some count bare LFs as CRLF or count the
 * dots they stuff; a message without a final line end is sent with the
 * CRLF RFC 1939 requires added, which LIST does not count.  So the size
 * agrees when
 *     bytes - crlf - 1  <=  listed  <=  bytes + bare_lf + wire_extra
 * and only then: anything else is a body cut short or run on into the
 * next reply (a reply stream out of step), or a server that lies.
 */
bool pop3_size_agrees(const struct pop3_body_tally *tally, uint64_t listed);

/*
 * Could this body have run on into the next reply?  True when it holds a
 * line ending in "." followed by a line that starts like a status line
 * ("+OK", "-ERR", any case).
 */
bool pop3_tally_ran_on(const struct pop3_body_tally *tally);

/*
 * Is a body that disagrees with listed the message as the server sent
 * it?  Servers rewrite a message as they send it (X-UID and Status
 * headers added; an RFC 6856 downgrade, a notice with the original
 * attached): the body is then longer than LIST said.  So: longer than
 * the sizes that agree, and without the mark of a run-on.  A shorter
 * body may have been cut short by a "." line the server did not stuff,
 * the rest of it to be read as the next reply.
 */
bool pop3_size_rewritten(const struct pop3_body_tally *tally, uint64_t listed);

#endif
