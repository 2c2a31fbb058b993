/* imap_notify.c - NOTIFY SET (RFC 5465) for a list of mailboxes. */
#include "config.h"

#include "imap_notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOTIFY_HEAD "NOTIFY SET (mailboxes ("
#define NOTIFY_TAIL ") (MessageNew MessageExpunge))"

char *imap_notify_command(char *const *quoted, size_t count)
{
	size_t len = strlen(NOTIFY_HEAD) + strlen(NOTIFY_TAIL);
	for (size_t i = 0; i < count; i++) {
		size_t name_len = strlen(quoted[i]);
		size_t space = i > 0;
		/* Checked one name at a time, so the sum cannot wrap. */
		if (name_len > IMAP_NOTIFY_COMMAND_MAX ||
		    len + name_len + space > IMAP_NOTIFY_COMMAND_MAX)
			return NULL;
		len += name_len + space;
	}
	if (count == 0)
		return NULL;
	char *command = malloc(len + 1);
	if (!command)
		return NULL;
	char *at = command;
	at += snprintf(at, len + 1, "%s", NOTIFY_HEAD);
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			*at++ = ' ';
		size_t name_len = strlen(quoted[i]);
		memcpy(at, quoted[i], name_len);
		at += name_len;
	}
	memcpy(at, NOTIFY_TAIL, strlen(NOTIFY_TAIL) + 1);
	return command;
}

int imap_notify_set(struct imap *imap, char *const *quoted, size_t count,
		    bool *refused, char refusal[512], struct yb_error *err)
{
	*refused = false;
	refusal[0] = '\0';
	char *command = imap_notify_command(quoted, count);
	if (!command) {
		*refused = true;
		snprintf(refusal, 512, "%zu folder names make a command longer "
			 "than %d bytes", count, IMAP_NOTIFY_COMMAND_MAX);
		return YB_OK;
	}
	int rc = imap_send(imap, command, err);
	free(command);
	struct imap_result result;
	if (rc == YB_OK)
		rc = imap_wait(imap, NULL, &result, err);
	if (rc == YB_OK && result.status != IMAP_STATUS_OK) {
		*refused = true;
		snprintf(refusal, 512, "%s", result.text);
	}
	return rc;
}
