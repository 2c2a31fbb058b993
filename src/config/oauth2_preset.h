/*
 * oauth2_preset.h - what `provider: google | microsoft` fills in: the
 * endpoints and scope of the big mail providers, so an account needs only
 * a client_id.  Pure data and string building; no I/O.
 */
#ifndef YUBIN_OAUTH2_PRESET_H
#define YUBIN_OAUTH2_PRESET_H

#include <stdbool.h>

struct oauth2_preset {
	const char *name;            /* "google" */
	const char *auth_url;        /* may contain {tenant} */
	const char *token_url;
	const char *device_auth_url; /* NULL: the provider has none for mail */
	const char *scope;
	bool has_tenant;             /* accepts the tenant: key */
	const char *default_tenant;
};

/* The preset named name (case-insensitive), or NULL. */
const struct oauth2_preset *oauth2_preset_find(const char *name);

/* "google or microsoft", for messages. */
const char *oauth2_preset_names(void);

/*
 * A preset URL with {tenant} replaced by tenant (NULL or a template
 * without {tenant}: a copy).  malloc'd; NULL when out of memory.
 */
char *oauth2_preset_url(const char *url_template, const char *tenant);

/* A tenant is a directory name or GUID: [A-Za-z0-9._-], 1 to 64. */
bool oauth2_preset_valid_tenant(const char *tenant);

#endif
