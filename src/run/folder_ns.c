/*
 * folder_ns.c - the personal namespace and configured folder names (see
 * folder_ns.h).
 */
#include "config.h"

#include "folder_ns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "folder_path.h"
#include "imap_resp.h"

static int on_namespace(void *ctx, const struct imap_response *resp,
			struct yb_error *err)
{
	struct folder_ns *ns = ctx;
	if (!imap_response_is(resp, "NAMESPACE"))
		return YB_OK;
	struct imap_namespaces spaces;
	int rc = imap_namespace_decode(resp, &spaces, err);
	if (rc != YB_OK || spaces.personal_count == 0)
		return rc;
	const struct imap_namespace *personal = &spaces.personal[0];
	/* A prefix that long is no mailbox prefix; names stay as they are. */
	if (personal->prefix_len >= sizeof(ns->prefix) ||
	    memchr(personal->prefix, '\0', personal->prefix_len))
		return YB_OK;
	memcpy(ns->prefix, personal->prefix, personal->prefix_len);
	ns->prefix[personal->prefix_len] = '\0';
	ns->delimiter = personal->delimiter;
	ns->known = true;
	return YB_OK;
}

int folder_ns_ask(struct imap *imap, struct folder_ns *ns, struct yb_error *err)
{
	memset(ns, 0, sizeof(*ns));
	if (!(imap_capabilities(imap) & IMAP_CAPA_NAMESPACE))
		return YB_OK;
	struct imap_handler handler = { .untagged = on_namespace, .ctx = ns };
	return imap_command(imap, "NAMESPACE", "NAMESPACE", &handler, err);
}

/* Is the configured name taken as it is, without the prefix? */
static bool as_is(const struct folder_ns *ns, const char *configured)
{
	size_t plen = strlen(ns->prefix);
	return !ns->known || plen == 0 || strcasecmp(configured, "INBOX") == 0 ||
	       strncmp(configured, ns->prefix, plen) == 0;
}

char *folder_ns_server_name(const struct folder_ns *ns, const char *configured)
{
	if (as_is(ns, configured))
		return strdup(configured);
	size_t plen = strlen(ns->prefix);
	size_t size = plen + strlen(configured) + 1;
	char *out = malloc(size);
	if (!out)
		return NULL;
	snprintf(out, size, "%s%s", ns->prefix, configured);
	if (ns->delimiter && ns->delimiter != '/')
		for (char *p = out + plen; *p; p++)
			if (*p == '/')
				*p = ns->delimiter;
	return out;
}

const char *folder_ns_local_name(const struct folder_ns *ns, const char *utf8)
{
	size_t plen = strlen(ns->prefix);
	if (!ns->known || plen == 0 || strncmp(utf8, ns->prefix, plen) != 0 ||
	    utf8[plen] == '\0')
		return utf8;
	return utf8 + plen;
}

int folder_ns_takes_inbox(const struct folder_ns *ns, const char *configured,
			  bool *takes, struct yb_error *err)
{
	*takes = false;
	if (as_is(ns, configured) || !folder_is_pattern(configured))
		return YB_OK;
	/* As configured: "/" between levels.  The wildcards and "INBOX" are
	   ASCII, so the rest's UTF-8 cannot make it match. */
	return imap_list_match(configured, strlen(configured), "INBOX", 5, '/',
			       takes, err);
}
