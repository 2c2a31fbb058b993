/*
 * oauth2_preset.c - endpoints and scopes of the big mail providers.
 *
 * Google refuses the mail scope in its device flow, so it has no
 * device_auth_url here and --authorize uses the loopback code flow.
 * Microsoft's endpoints depend on the tenant ("common" serves personal
 * and work accounts alike); offline_access is what makes it issue a
 * refresh token at all.
 */
#include "config.h"

#include "oauth2_preset.h"

#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TENANT_MAX 64
#define MS_BASE "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/"

static const struct oauth2_preset presets[] = {
	{
		.name = "google",
		.auth_url = "https://accounts.google.com/o/oauth2/auth",
		.token_url = "https://oauth2.googleapis.com/token",
		.device_auth_url = NULL,
		.scope = "https://mail.google.com/",
		.has_tenant = false,
		.default_tenant = NULL,
	},
	{
		.name = "microsoft",
		.auth_url = MS_BASE "authorize",
		.token_url = MS_BASE "token",
		.device_auth_url = MS_BASE "devicecode",
		.scope = "https://outlook.office.com/IMAP.AccessAsUser.All "
			 "https://outlook.office.com/POP.AccessAsUser.All "
			 "offline_access",
		.has_tenant = true,
		.default_tenant = "common",
	},
};

const struct oauth2_preset *oauth2_preset_find(const char *name)
{
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (strcasecmp(presets[i].name, name) == 0)
			return &presets[i];
	return NULL;
}

const char *oauth2_preset_names(void)
{
	return "google or microsoft";
}

bool oauth2_preset_valid_tenant(const char *tenant)
{
	/* It goes into a URL path: nothing that could leave the segment. */
	return text_is_segment_name(tenant, strlen(tenant), TENANT_MAX);
}

char *oauth2_preset_url(const char *url_template, const char *tenant)
{
	const char *mark = strstr(url_template, "{tenant}");
	if (!mark || !tenant)
		return strdup(url_template);
	size_t head = (size_t)(mark - url_template);
	const char *tail = mark + strlen("{tenant}");
	size_t tenant_len = strlen(tenant);
	size_t tail_len = strlen(tail);
	if (tenant_len > SIZE_MAX - head - tail_len - 1)
		return NULL;
	char *url = malloc(head + tenant_len + tail_len + 1);
	if (!url)
		return NULL;
	memcpy(url, url_template, head);
	memcpy(url + head, tenant, tenant_len);
	memcpy(url + head + tenant_len, tail, tail_len + 1);
	return url;
}
