/*
 * sinktest.h - helpers the sink unit tests share (cmocka must be
 * included first).  Each asserts what it needs; failures fail the test.
 */
#ifndef YUBIN_SINKTEST_H
#define YUBIN_SINKTEST_H

#include <stdbool.h>
#include <stddef.h>

#include "sink.h"

/* dir + "/" + name into out (asserted to fit). */
void join(char *out, size_t size, const char *dir, const char *name);

/* A fresh directory under $TMPDIR (else /tmp) named from pattern
   ("yubin-maildir-XXXXXX") into out; removed with remove_tree. */
void make_temp_dir(char *out, size_t size, const char *pattern);
void remove_tree(const char *path);

/* The file's bytes, NUL-terminated, malloc'd; slurp asserts the file
   exists, slurp_maybe returns NULL when it does not. */
char *slurp(const char *path, size_t *len);
char *slurp_maybe(const char *path, size_t *len);

/* Is there anything at path (a dangling link counts)? */
bool exists(const char *path);

/* sink_prepare / sink_publish, asserted to succeed. */
void prepare_ok(struct sink *sink);
void publish_ok(struct sink *sink);

#endif
