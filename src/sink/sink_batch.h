/*
 * sink_batch.h - the pending batch every sink keeps: its live messages in
 * the order they were begun, each with where it stands (writing, ended,
 * prepared, published).  A sink's message embeds struct batch_msg as its
 * first member, so the sink's own message type is a cast away.
 *
 * Memory: the batch owns no message; the sink allocates each one, lists
 * it with sink_batch_add, and frees it in the drop function it hands to
 * sink_batch_drop (which must unlist it with sink_batch_remove).
 */
#ifndef YUBIN_SINK_BATCH_H
#define YUBIN_SINK_BATCH_H

#include <stdbool.h>

#include "sink.h"

enum batch_state {
	MSG_WRITING,  /* begun; bytes may still come */
	MSG_ENDED,    /* complete; in the pending batch */
	MSG_PREPARED, /* durable, or placed: its dest is known */
	MSG_DONE,     /* published, kept for its outcome (MDA only) */
};

struct batch_msg {
	struct sink_msg base;            /* first: the sink interface */
	struct batch_msg *prev, *next;   /* the batch, oldest first */
	enum batch_state state;
	bool failed;                     /* a write failed: only abort is left */
};

struct sink_batch {
	struct batch_msg *head, *tail;   /* live messages, oldest first */
};

/* List msg (begun: MSG_WRITING) at the end of the batch. */
void sink_batch_add(struct sink_batch *batch, struct batch_msg *msg);

/* Take msg off the batch; it is not freed. */
void sink_batch_remove(struct sink_batch *batch, struct batch_msg *msg);

/* Is any message of the batch in state? */
bool sink_batch_has(const struct sink_batch *batch, enum batch_state state);

/*
 * Call drop (which unlists and frees) on every message whose state is one
 * of the mask states (bits 1u << state), oldest first.
 */
void sink_batch_drop(struct sink_batch *batch, unsigned states,
		     void (*drop)(struct batch_msg *msg));

/* Masks for sink_batch_drop. */
#define BATCH_PAST_WRITING \
	(1u << MSG_ENDED | 1u << MSG_PREPARED | 1u << MSG_DONE)
#define BATCH_ALL (1u << MSG_WRITING | BATCH_PAST_WRITING)

#endif
