/*
 * envelope.c - the sender of a message, the mbox From_ line and the MDA's
 * %-expansion with its filter (see envelope.h).
 */
#include "config.h"

#include "envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the sender --------------------------------------------------------- */

enum envelope_state {
	ENV_LINE_START,   /* at the start of a header line */
	ENV_NAME,         /* matching "Return-Path" */
	ENV_BEFORE_COLON, /* the name matched; spaces may come before ':' */
	ENV_VALUE,        /* inside the first Return-Path's value */
	ENV_VALUE_EOL,    /* its line ended: folded, or the field ended? */
	ENV_OTHER,        /* inside any other line of the header */
	ENV_DONE,         /* past the header, or past the scan limit */
};

static const char return_path_name[] = "return-path";
#define RETURN_PATH_NAME_LEN 11

void mbox_envelope_init(struct mbox_envelope *envelope)
{
	memset(envelope, 0, sizeof(*envelope));
	envelope->state = ENV_LINE_START;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static void envelope_keep(struct mbox_envelope *envelope, char c)
{
	if (envelope->value_len < MBOX_RETURN_PATH_MAX)
		envelope->value[envelope->value_len++] = c;
	else
		envelope->too_long = true;
}

/* A header line starts with c. */
static unsigned envelope_line_start(struct mbox_envelope *envelope, char c)
{
	if (c == '\n')
		return ENV_DONE; /* the empty line: the header is over */
	if (!envelope->found && ascii_lower(c) == return_path_name[0]) {
		envelope->matched = 1;
		return ENV_NAME;
	}
	return ENV_OTHER;
}

static unsigned envelope_step(struct mbox_envelope *envelope, char c)
{
	switch (envelope->state) {
	case ENV_LINE_START:
		return envelope_line_start(envelope, c);
	case ENV_NAME:
		if (envelope->matched == RETURN_PATH_NAME_LEN)
			return c == ':' ? ENV_VALUE :
			       c == ' ' || c == '\t' ? ENV_BEFORE_COLON :
			       c == '\n' ? ENV_LINE_START : ENV_OTHER;
		if (ascii_lower(c) == return_path_name[envelope->matched]) {
			envelope->matched++;
			return ENV_NAME;
		}
		return c == '\n' ? ENV_LINE_START : ENV_OTHER;
	case ENV_BEFORE_COLON:
		if (c == ':')
			return ENV_VALUE;
		if (c == ' ' || c == '\t')
			return ENV_BEFORE_COLON;
		return c == '\n' ? ENV_LINE_START : ENV_OTHER;
	case ENV_VALUE:
		envelope->found = true;
		if (c == '\n')
			return ENV_VALUE_EOL;
		envelope_keep(envelope, c);
		return ENV_VALUE;
	case ENV_VALUE_EOL:
		if (c == ' ' || c == '\t') {
			envelope_keep(envelope, c); /* a folded line goes on */
			return ENV_VALUE;
		}
		return envelope_line_start(envelope, c);
	case ENV_OTHER:
		return c == '\n' ? ENV_LINE_START : ENV_OTHER;
	default:
		return ENV_DONE;
	}
}

void mbox_envelope_feed(struct mbox_envelope *envelope, const char *data,
			size_t len)
{
	size_t i = 0;
	while (i < len && envelope->state != ENV_DONE) {
		uint64_t budget = MBOX_HEADER_SCAN_MAX - envelope->scanned;
		if (budget == 0) {
			envelope->state = ENV_DONE;
			break;
		}
		/* Most header bytes are in lines we skip: jump to their end. */
		if (envelope->state == ENV_OTHER) {
			size_t left = len - i;
			if (left > budget)
				left = (size_t)budget;
			const char *eol = memchr(data + i, '\n', left);
			size_t skip = eol ? (size_t)(eol - (data + i)) : left;
			envelope->scanned += skip;
			i += skip;
			if (!eol)
				continue;
		}
		envelope->scanned++;
		envelope->state = envelope_step(envelope, data[i++]);
	}
}

static bool valid_sender(const char *sender, size_t len)
{
	if (len == 0 || len > MBOX_SENDER_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)sender[i];
		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>')
			return false;
	}
	return true;
}

const char *mbox_envelope_sender(struct mbox_envelope *envelope)
{
	const char *value = envelope->value;
	size_t len = envelope->value_len;
	const char *address = NULL;
	size_t address_len = 0;
	if (envelope->found && !envelope->too_long) {
		const char *open = memchr(value, '<', len);
		if (open) {
			const char *after = open + 1;
			size_t rest = len - (size_t)(after - value);
			const char *close = memchr(after, '>', rest);
			if (close) {
				address = after;
				address_len = (size_t)(close - after);
			}
		} else {
			/* No <>: the value, without the spaces around it. */
			while (len > 0 && (*value == ' ' || *value == '\t')) {
				value++;
				len--;
			}
			while (len > 0 && (value[len - 1] == ' ' ||
					   value[len - 1] == '\t'))
				len--;
			address = value;
			address_len = len;
		}
	}
	if (address && valid_sender(address, address_len)) {
		memcpy(envelope->sender, address, address_len);
		envelope->sender[address_len] = '\0';
	} else {
		memcpy(envelope->sender, MDA_FALLBACK_SENDER,
		       sizeof(MDA_FALLBACK_SENDER));
	}
	return envelope->sender;
}

/* ---- the mbox From_ line ------------------------------------------------ */

bool mbox_envelope_date(time_t when, char out[25])
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
					 "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
					    "Jun", "Jul", "Aug", "Sep", "Oct",
					    "Nov", "Dec" };
	struct tm tm;
	if (!gmtime_r(&when, &tm) || tm.tm_year < 70 || tm.tm_year > 8099 ||
	    tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
		return false;
	int written = snprintf(out, 25, "%s %s %2d %02d:%02d:%02d %04d",
			       days[tm.tm_wday], months[tm.tm_mon], tm.tm_mday,
			       tm.tm_hour, tm.tm_min, tm.tm_sec,
			       tm.tm_year + 1900);
	return written == 24;
}

size_t mbox_envelope_from_line(const char *sender, const char *date,
			       char *out, size_t size)
{
	int written = snprintf(out, size, "From %s %s\n", sender, date);
	if (written < 0 || (size_t)written >= size)
		return 0;
	return (size_t)written;
}

/* ---- the MDA's expansions ----------------------------------------------- */

/* What an expanded value may hold (envelope.h, "The filter"). */
static const char safe_value_chars[] =
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	"@._+=-";

bool mda_value_is_safe(const char *value)
{
	if (!value)
		return true;
	if (value[0] == '-')
		return false;
	return value[strspn(value, safe_value_chars)] == '\0';
}

const char *mda_safe_sender(const char *sender)
{
	if (!sender || !sender[0] || !mda_value_is_safe(sender))
		return MDA_FALLBACK_SENDER;
	return sender;
}

bool mda_expansion_known(char c)
{
	return c == 'u' || c == 'a' || c == 'f' || c == '%';
}

bool mda_expansion_used(const char *command, char c)
{
	for (const char *p = command; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == c)
			return true;
		if (p[1] == '\0')
			break;
		p++;
	}
	return false;
}

/* What %c stands for; a lone '%' at the end stands for itself. */
static const char *expansion_value(char c, const struct mda_values *values)
{
	const char *value = c == 'u' ? values->user :
			    c == 'a' ? values->account :
			    c == 'f' ? values->sender : "%";
	return value ? value : "";
}

char *mda_expand(const char *word, const struct mda_values *values)
{
	size_t need = 1;
	for (const char *p = word; *p; p++) {
		if (*p == '%' && p[1]) {
			p++;
			need += strlen(expansion_value(*p, values));
		} else {
			need++;
		}
	}
	char *out = malloc(need);
	if (!out)
		return NULL;
	size_t at = 0;
	for (const char *p = word; *p; p++) {
		if (*p != '%' || !p[1]) {
			out[at++] = *p;
			continue;
		}
		p++;
		const char *value = expansion_value(*p, values);
		size_t value_len = strlen(value);
		memcpy(out + at, value, value_len);
		at += value_len;
	}
	out[at] = '\0';
	return out;
}
