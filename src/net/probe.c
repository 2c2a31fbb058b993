/*
 * probe.c - greeting, capabilities and STARTTLS, one exchange at a time,
 * with nothing sent that needs a password.
 */
#include "config.h"

#include "probe.h"

#include <ctype.h>
#include <string.h>

#include "text.h"

/* A greeting or a capability line is short; this only bounds a hostile one. */
#define PROBE_LINE_MAX 8192
/* Untagged lines skipped before a command's reply, at most. */
#define PROBE_LINES_MAX 200

static int read_line(struct conn *conn, const char **line, size_t *len,
		     struct yb_error *err)
{
	return conn_read_line(conn, PROBE_LINE_MAX, line, len, err);
}

static int refused(struct conn *conn, const char *what, const char *line,
		   size_t len, struct yb_error *err)
{
	char shown[200];
	text_sanitize(shown, sizeof(shown), line, len);
	return yb_fail(err, YB_ERR_PROTOCOL, "%s: %s refused: %s",
		       conn_peer(conn), what, shown);
}

const char *probe_other_protocol(enum protocol protocol, const char *line,
				 size_t len)
{
	if (protocol == PROTOCOL_POP3 && text_has_prefix_ci(line, len, "* OK"))
		return "this port speaks IMAP, not POP3: check protocol and "
		       "port (IMAP is 993, or 143 with tls: starttls)";
	if (protocol == PROTOCOL_IMAP && text_has_prefix_ci(line, len, "+OK"))
		return "this port speaks POP3, not IMAP: check protocol and "
		       "port (POP3 is 995, or 110 with tls: starttls)";
	return NULL;
}

int probe_greeting(struct conn *conn, enum protocol protocol, char *shown,
		   size_t size, struct yb_error *err)
{
	const char *line;
	size_t len;
	int rc = conn_wait_greeting(conn, err);
	if (rc == YB_OK)
		rc = read_line(conn, &line, &len, err);
	if (rc != YB_OK)
		return rc;
	text_sanitize(shown, size, line, len);
	const char *other = probe_other_protocol(protocol, line, len);
	if (other)
		return yb_fail(err, YB_ERR_PROTOCOL, "%s greets with \"%s\": %s",
			       conn_peer(conn), shown, other);
	bool imap = protocol == PROTOCOL_IMAP;
	if (imap ? text_has_prefix_ci(line, len, "* OK") ||
		   text_has_prefix_ci(line, len, "* PREAUTH")
		 : text_has_prefix_ci(line, len, "+OK"))
		return YB_OK;
	if (imap ? text_has_prefix_ci(line, len, "* BYE")
		 : text_has_prefix_ci(line, len, "-ERR"))
		return yb_fail(err, YB_ERR_UNAVAILABLE, "%s refused the "
			       "connection: %s", conn_peer(conn), shown);
	return yb_fail(err, YB_ERR_PROTOCOL, "%s: not %s greeting: \"%s\"",
		       conn_peer(conn), imap ? "an IMAP" : "a POP3", shown);
}

/* Append text to out, " " between, cut at size. */
static void append_word(char *out, size_t size, const char *text, size_t len)
{
	size_t used = strlen(out);
	if (used > 0 && used + 1 < size)
		out[used++] = ' ';
	char word[PROBE_SHOWN_MAX];
	text_sanitize(word, sizeof(word), text, len);
	snprintf(out + used, size - used, "%s", word);
}

/* The AUTH=X words of an IMAP capability list, X upper case. */
static void imap_mechanisms(const char *caps, char *out, size_t size)
{
	const char *at = caps;
	while (*at) {
		size_t len = strcspn(at, " ");
		if (text_has_prefix_ci(at, len, "AUTH=") && len > 5) {
			append_word(out, size, at + 5, len - 5);
			for (char *p = out + strlen(out) - (len - 5); *p; p++)
				*p = (char)toupper((unsigned char)*p);
		}
		at += len;
		at += strspn(at, " ");
	}
}

static int imap_capabilities(struct conn *conn, char *shown, size_t shown_size,
			     char *mechanisms, size_t mechanisms_size,
			     struct yb_error *err)
{
	int rc = conn_write(conn, "y1 CAPABILITY\r\n", 15, err);
	for (int lines = 0; rc == YB_OK && lines < PROBE_LINES_MAX; lines++) {
		const char *line;
		size_t len;
		rc = read_line(conn, &line, &len, err);
		if (rc != YB_OK)
			break;
		if (text_has_prefix_ci(line, len, "* CAPABILITY ")) {
			text_sanitize(shown, shown_size, line + 13, len - 13);
			imap_mechanisms(shown, mechanisms, mechanisms_size);
		} else if (text_has_prefix_ci(line, len, "y1 OK")) {
			return YB_OK;
		} else if (!text_has_prefix_ci(line, len, "* ")) {
			return refused(conn, "CAPABILITY", line, len, err);
		}
	}
	return rc != YB_OK ? rc : yb_fail(err, YB_ERR_PROTOCOL,
					  "%s: no end to CAPABILITY",
					  conn_peer(conn));
}

static int pop3_capabilities(struct conn *conn, char *shown, size_t shown_size,
			     char *mechanisms, size_t mechanisms_size,
			     struct yb_error *err)
{
	const char *line;
	size_t len;
	int rc = conn_write(conn, "CAPA\r\n", 6, err);
	if (rc == YB_OK)
		rc = read_line(conn, &line, &len, err);
	if (rc != YB_OK || !text_has_prefix_ci(line, len, "+OK"))
		return rc; /* a server without CAPA: nothing to show */
	for (int lines = 0; lines < PROBE_LINES_MAX; lines++) {
		rc = read_line(conn, &line, &len, err);
		if (rc != YB_OK)
			return rc;
		if (len == 1 && line[0] == '.')
			return YB_OK;
		append_word(shown, shown_size, line, len);
		if (text_has_prefix_ci(line, len, "SASL ")) {
			append_word(mechanisms, mechanisms_size, line + 5, len - 5);
			for (char *p = mechanisms; *p; p++)
				*p = (char)toupper((unsigned char)*p);
		}
	}
	return yb_fail(err, YB_ERR_PROTOCOL, "%s: no end to CAPA",
		       conn_peer(conn));
}

int probe_capabilities(struct conn *conn, enum protocol protocol,
		       char *shown, size_t shown_size, char *mechanisms,
		       size_t mechanisms_size, struct yb_error *err)
{
	shown[0] = '\0';
	mechanisms[0] = '\0';
	if (protocol == PROTOCOL_IMAP)
		return imap_capabilities(conn, shown, shown_size, mechanisms,
					 mechanisms_size, err);
	return pop3_capabilities(conn, shown, shown_size, mechanisms,
				 mechanisms_size, err);
}

/* IMAP: skip untagged lines until our tagged reply. */
static int imap_starttls(struct conn *conn, struct yb_error *err)
{
	int rc = conn_write(conn, "y0 STARTTLS\r\n", 13, err);
	for (int lines = 0; rc == YB_OK && lines < PROBE_LINES_MAX; lines++) {
		const char *line;
		size_t len;
		rc = read_line(conn, &line, &len, err);
		if (rc != YB_OK || text_has_prefix_ci(line, len, "* "))
			continue;
		if (text_has_prefix_ci(line, len, "y0 OK"))
			return YB_OK;
		return refused(conn, "STARTTLS", line, len, err);
	}
	return rc != YB_OK ? rc : yb_fail(err, YB_ERR_PROTOCOL,
					  "%s: no reply to STARTTLS",
					  conn_peer(conn));
}

static int pop3_stls(struct conn *conn, struct yb_error *err)
{
	const char *line;
	size_t len;
	int rc = conn_write(conn, "STLS\r\n", 6, err);
	if (rc == YB_OK)
		rc = read_line(conn, &line, &len, err);
	if (rc == YB_OK && !text_has_prefix_ci(line, len, "+OK"))
		rc = refused(conn, "STLS", line, len, err);
	return rc;
}

int probe_starttls(struct conn *conn, enum protocol protocol,
		   struct yb_error *err)
{
	return protocol == PROTOCOL_IMAP ? imap_starttls(conn, err)
					 : pop3_stls(conn, err);
}
