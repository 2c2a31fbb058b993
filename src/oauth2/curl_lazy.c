/*
 * curl_lazy.c - libcurl through dlopen(), loaded on first use.
 *
 * curl_global_init() runs here, once, when the library is loaded, rather
 * than at the top of main.  libcurl's rule is that it must come before
 * any other thread exists; yubin never starts a thread, so any moment is
 * "before threads".  With -j the children are forked before any OAuth2
 * request, and each that needs libcurl loads and initialises it (see
 * main() for the one case where a child inherits it loaded).
 *
 * The handle is never passed to dlclose() and curl_global_cleanup() is
 * never called: libcurl stays loaded until exit, which frees it all.
 */
#include "config.h"

#include "curl_lazy.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The functions used, typed as <curl/curl.h> declares them. */
struct curl_api {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *curl);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *list,
					   const char *line);
	void (*slist_free_all)(struct curl_slist *list);
};

static struct curl_api api;
static bool loaded;

/* YUBIN_TEST_LIBCURL names another file to load, so that the tests can
   see what a system without libcurl gets. */
static const char *library_name(void)
{
#ifdef YUBIN_TEST_HOOKS
	const char *name = getenv("YUBIN_TEST_LIBCURL");
	if (name && name[0])
		return name;
#endif
	return CURL_LAZY_SONAME;
}

static int load_failed(const char *name, struct yb_error *err)
{
	const char *why = dlerror();
	return yb_fail(err, YB_ERR_UNAVAILABLE, "OAuth2 needs libcurl (%s): %s",
		       name, why ? why : "unknown error");
}

/* dlsym() gives a void *, which POSIX (not ISO C) lets stand for a
   function pointer of the same size: copied, not cast, so that no
   compiler sees a data pointer turned into a function pointer. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)),
	       "function pointers are as wide as dlsym()'s void *");
#define RESOLVE(field, symbol)                                          \
	do {                                                            \
		void *address = dlsym(handle, symbol);                  \
		if (!address)                                           \
			return load_failed(name, err);                  \
		memcpy(&api.field, &address, sizeof(address));          \
	} while (0)

static int resolve(void *handle, const char *name, struct yb_error *err)
{
	RESOLVE(global_init, "curl_global_init");
	RESOLVE(easy_init, "curl_easy_init");
	RESOLVE(easy_setopt, "curl_easy_setopt");
	RESOLVE(easy_perform, "curl_easy_perform");
	RESOLVE(easy_getinfo, "curl_easy_getinfo");
	RESOLVE(easy_cleanup, "curl_easy_cleanup");
	RESOLVE(easy_strerror, "curl_easy_strerror");
	RESOLVE(slist_append, "curl_slist_append");
	RESOLVE(slist_free_all, "curl_slist_free_all");
	return YB_OK;
}

int curl_lazy_load(struct yb_error *err)
{
	if (loaded)
		return YB_OK;
	const char *name = library_name();
	dlerror(); /* clear a stale message */
	/* RTLD_LOCAL: libcurl's symbols stay out of the global namespace;
	   its own dependencies (libssl, libcrypto) are the ones yubin has
	   loaded already, so the SSL_CTX its callback sees is ours. */
	void *handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!handle)
		return load_failed(name, err);
	int rc = resolve(handle, name, err);
	if (rc != YB_OK) {
		api = (struct curl_api){ 0 };
		return rc;
	}
	CURLcode code = api.global_init(CURL_GLOBAL_DEFAULT);
	if (code != CURLE_OK) {
		rc = yb_fail(err, YB_ERR_INTERNAL, "cannot initialise libcurl (%s): %s",
			     name, api.easy_strerror(code));
		api = (struct curl_api){ 0 };
		return rc;
	}
	loaded = true;
	return YB_OK;
}

CURL *curl_lazy_easy_init(void)
{
	return api.easy_init();
}

CURLcode curl_lazy_easy_perform(CURL *curl)
{
	return api.easy_perform(curl);
}

void curl_lazy_easy_cleanup(CURL *curl)
{
	api.easy_cleanup(curl);
}

const char *curl_lazy_easy_strerror(CURLcode code)
{
	return api.easy_strerror(code);
}

struct curl_slist *curl_lazy_slist_append(struct curl_slist *list,
					  const char *line)
{
	return api.slist_append(list, line);
}

void curl_lazy_slist_free_all(struct curl_slist *list)
{
	api.slist_free_all(list);
}

/* Each passes the one type libcurl's va_arg() takes for the option. */

CURLcode curl_lazy_setopt_long(CURL *curl, CURLoption option, long value)
{
	return api.easy_setopt(curl, option, value);
}

CURLcode curl_lazy_setopt_string(CURL *curl, CURLoption option,
				 const char *value)
{
	return api.easy_setopt(curl, option, (char *)value);
}

CURLcode curl_lazy_setopt_slist(CURL *curl, CURLoption option,
				struct curl_slist *value)
{
	return api.easy_setopt(curl, option, value);
}

CURLcode curl_lazy_setopt_data(CURL *curl, CURLoption option, void *value)
{
	return api.easy_setopt(curl, option, value);
}

CURLcode curl_lazy_setopt_write(CURL *curl, CURLoption option,
				curl_write_callback value)
{
	return api.easy_setopt(curl, option, value);
}

CURLcode curl_lazy_setopt_ssl_ctx(CURL *curl, CURLoption option,
				  curl_ssl_ctx_callback value)
{
	return api.easy_setopt(curl, option, value);
}

CURLcode curl_lazy_getinfo_long(CURL *curl, CURLINFO info, long *value)
{
	return api.easy_getinfo(curl, info, value);
}
