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

void testhook_step(const char *step);

#endif
