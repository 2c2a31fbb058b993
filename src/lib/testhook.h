/*
 * testhook.h - fault injection for the crash tests.
 *
 * With YUBIN_TEST_KILL_AT=N in the environment (and test hooks compiled
 * in, the default), the N-th durability step of the run (counting from 1)
 * kills the process with SIGKILL, exactly as `kill -9` would at that
 * point.  Steps are named for the trace: "write", "sync", "intent",
 * "publish", "commit", "mark" (an IMAP expunge set recorded), "delete",
 * "compact".  Without the variable this costs one
 * branch.
 */
#ifndef YUBIN_TESTHOOK_H
#define YUBIN_TESTHOOK_H

#include <stddef.h>

void testhook_step(const char *step);

/*
 * The smaller of limit and the number in the environment variable
 * env_name, when test hooks are compiled in: a test reaches a limit
 * without a server reply of the limit's size.  It only ever lowers a
 * limit; read it once, not per item.
 */
size_t testhook_limit(const char *env_name, size_t limit);

#endif
