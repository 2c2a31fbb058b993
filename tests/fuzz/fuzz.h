/*
 * fuzz.h - what every fuzz target shares.
 *
 * Each target is one file with LLVMFuzzerTestOneInput.  It is linked
 * either with libFuzzer (make fuzz, clang only) or with replay.c, which
 * runs it over the stored corpus and crash inputs in make check.
 *
 * A target checks the interface's promises as well as memory safety: a
 * broken promise calls fuzz_fail(), which aborts, so libFuzzer keeps the
 * input as a crash and the replay fails.
 */
#ifndef YUBIN_FUZZ_H
#define YUBIN_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The entry point libFuzzer (or replay.c) calls once per input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Print "fuzz: broken promise: ..." to stderr and abort(). */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
	__attribute__((noreturn));

/* fuzz_fail with the condition's text when cond is false. */
#define FUZZ_CHECK(cond)                                                   \
	do {                                                               \
		if (!(cond))                                               \
			fuzz_fail("%s:%d: %s", __FILE__, __LINE__, #cond); \
	} while (0)

/*
 * An error a function returned, checked against the house rules: the
 * status is one the caller was promised (allowed is a bitmask of
 * 1u << enum yb_status), the message is not empty, and it holds only
 * printable ASCII, since whatever the server or the file held must
 * reach a terminal sanitized.  where names the call, for the report.
 */
void fuzz_check_error(const char *where, int rc, const struct yb_error *err,
		      unsigned allowed);

#define FUZZ_STATUS(s) (1u << (s))

/* Does text[0..len) hold only bytes 0x20..0x7e? */
bool fuzz_printable(const char *text, size_t len);

/*
 * Reading a few leading bytes of an input as parameters: a byte that is
 * not there reads as 0.
 */
struct fuzz_input {
	const uint8_t *data;
	size_t len;
};

uint8_t fuzz_take_byte(struct fuzz_input *in);

/*
 * Chunk sizes for feeding an input piecewise: every size is
 * 1..max_chunk, chosen by a small generator seeded from the input, so a
 * given input always splits the same way.  max_chunk 0 means "the whole
 * rest at once".
 */
struct fuzz_chunker {
	uint32_t rng;
	unsigned max_chunk;
};

void fuzz_chunker_init(struct fuzz_chunker *chunker, uint8_t seed,
		       unsigned max_chunk);
size_t fuzz_chunker_next(struct fuzz_chunker *chunker, size_t remaining);

/* 64-bit FNV-1a, for comparing results without keeping them. */
#define FUZZ_HASH_INIT 0xcbf29ce484222325ULL

uint64_t fuzz_hash(uint64_t hash, const void *data, size_t len);
uint64_t fuzz_hash_u64(uint64_t hash, uint64_t value);

/*
 * A private directory for the process (mkdtemp under $TMPDIR or /tmp),
 * made on the first call and removed with everything in it at exit.
 * Returns NULL (after printing why) when it cannot be made.
 */
const char *fuzz_temp_dir(void);

/* Remove a directory tree (best effort: what it cannot remove stays). */
void fuzz_remove_tree(const char *path);

/*
 * A datagram socket for log.c's syslog check to reach (named by the
 * YUBIN_TEST_SYSLOG_SOCKET hook), so that log_init(.., true) keeps to
 * syslog() -- which the session targets stand in for -- on a machine
 * without /dev/log.  Nothing is ever read from it.
 */
void fuzz_syslog_socket(void);

/* Join dir and name into out (size out_size); aborts when it does not fit. */
void fuzz_path(char *out, size_t out_size, const char *dir, const char *name);

/*
 * Replace path with data[0..len) and the given mode, or remove it when
 * data is NULL.  Aborts on failure: the fuzzer's own files must work.
 */
void fuzz_write_file(const char *path, const void *data, size_t len,
		     unsigned mode);

/*
 * A server on 127.0.0.1 for the session targets, which connect by name
 * as yubin does.  fuzz_server_listen opens the listening socket (once
 * per process; aborts when it cannot) and returns its port.
 * fuzz_server_serve is a thread body taking a struct fuzz_server_job:
 * it accepts one connection, writes the bytes, ends its side and drops
 * what the client sends until it closes; it gives up after 5 s of
 * nothing happening.
 */
struct fuzz_server_job {
	const uint8_t *data;
	size_t len;
};

uint16_t fuzz_server_listen(void);
void *fuzz_server_serve(void *job);

/*
 * A folder name (UTF-8) and its delimiter through folder_path_map in
 * every layout: a refusal is YB_ERR_PROTOCOL with a sanitized message
 * and an empty path; a path is relative, names nothing outside the root
 * ("", "..", ".", empty components, control bytes) and keeps the
 * layout's own rules.
 */
void fuzz_check_folder_paths(const char *name, size_t len, char delimiter);

#endif
