/*
 * curl_lazy.h - libcurl, loaded with dlopen() the first time an OAuth2
 * HTTP request is made.  Linking it would make every run load it and the
 * thirty libraries it needs (HTTP/2, LDAP, GSSAPI, SSH, ...), about 20 ms
 * of CPU a run, for the few accounts that ever refresh a token.
 *
 * <curl/curl.h> still gives the types and constants; these wrappers stand
 * in for the functions.  curl_easy_setopt() and curl_easy_getinfo() are
 * variadic, so there is one wrapper per argument type, each passing
 * exactly the type libcurl reads for that kind of option.
 *
 * The library is never unloaded: it stays until the process exits.
 */
#ifndef YUBIN_CURL_LAZY_H
#define YUBIN_CURL_LAZY_H

#include <curl/curl.h>

#include "error.h"

/* The library asked for: the soname of libcurl's ABI 4. */
#define CURL_LAZY_SONAME "libcurl.so.4"

/*
 * Load libcurl and run curl_global_init(), both once per process; later
 * calls return YB_OK at once.  Must come before any other function here.
 * Errors (a failed load is tried again on the next call):
 *   YB_ERR_UNAVAILABLE  libcurl cannot be loaded, or lacks a function
 *   YB_ERR_INTERNAL     curl_global_init() failed
 */
int curl_lazy_load(struct yb_error *err);

/* As libcurl's functions of the same name without "lazy_"; only after a
   successful curl_lazy_load(). */
CURL *curl_lazy_easy_init(void);
CURLcode curl_lazy_easy_perform(CURL *curl);
void curl_lazy_easy_cleanup(CURL *curl);
const char *curl_lazy_easy_strerror(CURLcode code);
struct curl_slist *curl_lazy_slist_append(struct curl_slist *list,
					  const char *line);
void curl_lazy_slist_free_all(struct curl_slist *list);

/* curl_easy_setopt(), one per kind of value. */
CURLcode curl_lazy_setopt_long(CURL *curl, CURLoption option, long value);
CURLcode curl_lazy_setopt_string(CURL *curl, CURLoption option,
				 const char *value);
CURLcode curl_lazy_setopt_slist(CURL *curl, CURLoption option,
				struct curl_slist *value);
CURLcode curl_lazy_setopt_data(CURL *curl, CURLoption option, void *value);
CURLcode curl_lazy_setopt_write(CURL *curl, CURLoption option,
				curl_write_callback value);
CURLcode curl_lazy_setopt_ssl_ctx(CURL *curl, CURLoption option,
				  curl_ssl_ctx_callback value);

/* curl_easy_getinfo() for a long (CURLINFO_RESPONSE_CODE and kin). */
CURLcode curl_lazy_getinfo_long(CURL *curl, CURLINFO info, long *value);

#endif
