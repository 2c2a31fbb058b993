/*
 * fakesink.h - a sink that keeps everything in memory and writes down
 * every call made to it, for tests of what drives a sink (cmocka must be
 * included first: a call the sink interface forbids, such as a write to
 * an ended message, fails the test).
 *
 * Messages are numbered from 1 in the order of sink_msg_begin; a
 * message's dest is "msg-N".  The trace is one line per call:
 *   begin N | write N LEN | end N | abort N | prepare | dest N |
 *   publish | outcome N | discard | resolve DEST
 * Every message stays readable (fakesink_msg) until fakesink_free, so a
 * test can look at what was written after the caller let go of it.
 */
#ifndef YUBIN_FAKESINK_H
#define YUBIN_FAKESINK_H

#include <stdbool.h>
#include <stddef.h>

#include "sink.h"

enum fake_op {
	FAKE_BEGIN,
	FAKE_WRITE,
	FAKE_END,
	FAKE_PREPARE,
	FAKE_PUBLISH,
	FAKE_RESOLVE,
	FAKE_OP_COUNT,
};

enum fake_msg_status {
	FAKE_WRITING,
	FAKE_ENDED,     /* in the pending batch */
	FAKE_PREPARED,  /* in the pending batch, durable */
	FAKE_PUBLISHED,
	FAKE_ABORTED,
	FAKE_DISCARDED,
	FAKE_DEFERRED,  /* a sink with outcomes did not publish it */
	FAKE_REFUSED,   /* a sink with outcomes refused it for good */
};

struct fake_msg {
	struct sink_msg base;
	unsigned id;
	char dest[32];
	char *bytes;          /* what sink_msg_write got, in order; owned */
	size_t len;
	size_t cap;
	enum fake_msg_status status;
	enum sink_outcome outcome;   /* sinks with outcomes: what publish does */
	const char *detail;          /* static; for SINK_REFUSED */
};

struct fakesink;

/* with_outcomes: publish message by message, as an MDA does. */
struct fakesink *fakesink_new(bool with_outcomes);
void fakesink_free(struct fakesink *fake);

struct sink *fakesink_sink(struct fakesink *fake);

/* The calls so far, one per line ("" when none); owned by the sink. */
const char *fakesink_trace(const struct fakesink *fake);
void fakesink_clear_trace(struct fakesink *fake);

/* The nth call (from 1, counted per op from now on) of op fails with
   code and a message naming it; 0 for nth clears. */
void fakesink_fail(struct fakesink *fake, enum fake_op op, unsigned nth,
		   int code);

/* When a publish fails: how many messages of the batch, from its
   start, are published all the same (a sink without outcomes). */
void fakesink_publish_partly(struct fakesink *fake, size_t count);

/* Sinks with outcomes: what publishing message id (1 to
   FAKE_PLANNED_MAX, begun or not yet) will give; SINK_DELIVERED unless
   set. */
#define FAKE_PLANNED_MAX 256
void fakesink_set_outcome(struct fakesink *fake, unsigned id,
			  enum sink_outcome outcome, const char *detail);

/* Called at the start of every publish, before anything is published. */
void fakesink_on_publish(struct fakesink *fake, void (*fn)(void *ctx),
			 void *ctx);

/* Message id (from 1), or NULL if there is none such. */
const struct fake_msg *fakesink_msg(const struct fakesink *fake, unsigned id);
unsigned fakesink_msg_count(const struct fakesink *fake);

/* How many messages have been published so far; how many publishes. */
size_t fakesink_published(const struct fakesink *fake);
unsigned fakesink_publishes(const struct fakesink *fake);

/* The messages in the pending batch, oldest first (NULL when none). */
size_t fakesink_pending(const struct fakesink *fake,
			const struct fake_msg *const **out);

#endif
