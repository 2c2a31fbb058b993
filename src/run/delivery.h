/*
 * delivery.h - streaming messages into one sink with exactly-once batches.
 *
 * Shared by the POP3 and IMAP engines.  A delivery serves one mailbox of
 * the state and one sink.  Each message: delivery_begin, delivery_write
 * (server bytes; CRLF becomes LF here), delivery_end.  Every
 * DELIVERY_BATCH_MESSAGES messages (one for a sink with outcomes, an MDA)
 * or DELIVERY_BATCH_BYTES bytes, and on delivery_flush, the batch is made
 * durable in the order DESIGN.md gives: sink_prepare, intents +
 * state_sync, sink_publish, commits + state_sync.
 * Only then is `committed` called for each message of the batch, so an
 * engine deletes on the server only what is durable and recorded.
 *
 * The delivery does not own the state or the sink.
 */
#ifndef YUBIN_DELIVERY_H
#define YUBIN_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sink.h"
#include "state.h"

#define DELIVERY_BATCH_MESSAGES 128
#define DELIVERY_BATCH_BYTES (16u << 20)

struct delivery_params {
	struct state *state;
	struct sink *sink;
	const char *mailbox;  /* copied */
	/* Called after the batch holding `item` is committed; may be NULL. */
	void (*committed)(void *ctx, void *item, uint64_t bytes);
	/* For a sink with per-message outcomes (an MDA): a message it
	   refused, which stays on the server; may be NULL. */
	void (*refused)(void *ctx, void *item, const char *detail);
	void *ctx;
};

struct delivery;

/* On success *out is freed with delivery_free(). */
int delivery_new(const struct delivery_params *params, struct delivery **out,
		 struct yb_error *err);

int delivery_begin(struct delivery *delivery, const struct msg_meta *meta,
		   struct yb_error *err);

/* Write server bytes of the current message (CRLF -> LF on the way). */
int delivery_write(struct delivery *delivery, const char *data, size_t len,
		   struct yb_error *err);

/* The same, with the signature of a body callback (ctx is the delivery). */
int delivery_write_cb(void *ctx, const char *data, size_t len,
		      struct yb_error *err);

/*
 * The current message is complete.  key (copied; NULL for none: then no
 * state record is written, as for a POP3 server without UIDL) is recorded
 * when its batch commits; item is handed back through `committed`.
 * May flush the batch (and fail as delivery_flush does).
 */
int delivery_end(struct delivery *delivery, const char *key, void *item,
		 struct yb_error *err);

/* Drop the current, unfinished message. */
void delivery_abort(struct delivery *delivery);

/*
 * Make the pending batch durable and recorded.  On failure the batch is
 * gone: either it was never published, or its intents are durable and the
 * next run settles them.
 */
int delivery_flush(struct delivery *delivery, struct yb_error *err);

/*
 * Recognise messages already delivered (after a UIDVALIDITY change, or
 * with no state for a non-empty sink): when a matcher is set, each
 * message's delivered bytes are hashed (SHA-256), and at delivery_end a
 * digest for which match returns a dest (the sink's name of the copy it
 * already holds; NULL for none) is not published again: the message is
 * dropped and its key committed at once with that dest.  NULL fn turns
 * matching off.
 */
typedef const char *delivery_match_fn(void *ctx, const unsigned char digest[32]);
int delivery_set_matcher(struct delivery *delivery, delivery_match_fn *fn,
			 void *ctx, struct yb_error *err);

/* How many messages the matcher recognised so far. */
size_t delivery_matched(const struct delivery *delivery);

/* Discard an unflushed batch and free.  NULL is fine. */
void delivery_free(struct delivery *delivery);

#endif
