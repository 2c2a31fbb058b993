/*
 * sink.h - where fetched messages go.  One interface, implemented by
 * maildir.c (and later mbox.c, mda.c).
 *
 * The fetch engine drives a sink in batches, in the order that makes
 * delivery exactly-once (DESIGN.md, "Exactly once"):
 *
 *   for each message:  sink_msg_begin, sink_msg_write..., sink_msg_end
 *   sink_prepare       make every ended message's bytes durable
 *   sink_msg_dest      where each one will be published -> state intent
 *   sink_publish       make them visible, durably (after intents are synced)
 *
 * Memory: a sink_msg belongs to the sink from sink_msg_begin on.  The
 * caller may use its pointer until sink_publish or sink_discard returns
 * (both free every message of the batch), or until sink_msg_abort.
 * Errors name the sink's path and are YB_ERR_IO (disk full, permissions)
 * or YB_ERR_INTERNAL (out of memory).
 */
#ifndef YUBIN_SINK_H
#define YUBIN_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

/* What the engine knows about a message before its bytes arrive. */
struct msg_meta {
	uint64_t size_hint;      /* server's size (CRLF); 0 if unknown */
	time_t internal_date;    /* server's arrival time; 0 if unknown */
	const char *maildir_flags; /* "FRS" etc. in ASCII order, or NULL */
};

struct sink;
struct sink_msg;

/* How publishing went for one message (sinks with a msg_outcome op). */
enum sink_outcome {
	SINK_DELIVERED, /* published: commit it */
	SINK_REFUSED,   /* refused for good: report it, keep it on the server */
	SINK_DEFERRED,  /* not published (temporary failure, or never tried) */
};

struct sink_ops {
	int (*msg_begin)(struct sink *sink, const struct msg_meta *meta,
			 struct sink_msg **out, struct yb_error *err);
	int (*msg_write)(struct sink_msg *msg, const char *data, size_t len,
			 struct yb_error *err);
	int (*msg_end)(struct sink_msg *msg, struct yb_error *err);
	void (*msg_abort)(struct sink_msg *msg);
	int (*prepare)(struct sink *sink, struct yb_error *err);
	const char *(*msg_dest)(const struct sink_msg *msg);
	int (*publish)(struct sink *sink, struct yb_error *err);
	void (*discard)(struct sink *sink);
	int (*resolve)(struct sink *sink, const char *dest, bool *present,
		       struct yb_error *err);
	void (*close)(struct sink *sink);
	/* Optional; NULL for sinks whose publish is all or nothing. */
	enum sink_outcome (*msg_outcome)(const struct sink_msg *msg,
					 const char **detail);
};

/* Every implementation embeds these as their first members. */
struct sink {
	const struct sink_ops *ops;
};

struct sink_msg {
	struct sink *sink;
};

/*
 * Start a message.  Bytes given to sink_msg_write are final (CRLF already
 * turned into LF); the sink adds nothing, and memory does not grow with
 * the message's size.
 */
static inline int sink_msg_begin(struct sink *sink, const struct msg_meta *meta,
				 struct sink_msg **out, struct yb_error *err)
{
	return sink->ops->msg_begin(sink, meta, out, err);
}

static inline int sink_msg_write(struct sink_msg *msg, const char *data,
				 size_t len, struct yb_error *err)
{
	return msg->sink->ops->msg_write(msg, data, len, err);
}

/* The message is complete; it joins the sink's pending batch. */
static inline int sink_msg_end(struct sink_msg *msg, struct yb_error *err)
{
	return msg->sink->ops->msg_end(msg, err);
}

/* Drop a message that is not complete (its temporary file is removed). */
static inline void sink_msg_abort(struct sink_msg *msg)
{
	msg->sink->ops->msg_abort(msg);
}

/* Make every pending message's bytes durable (group commit). */
static inline int sink_prepare(struct sink *sink, struct yb_error *err)
{
	return sink->ops->prepare(sink, err);
}

/*
 * After sink_prepare: a printable string (no spaces or control bytes)
 * naming where the message will be published, for the state's intent
 * record and for sink_resolve.  Owned by the message.
 */
static inline const char *sink_msg_dest(const struct sink_msg *msg)
{
	return msg->sink->ops->msg_dest(msg);
}

/*
 * Publish every prepared message and make that durable; frees the batch.
 * On error some may be published and some not: the intents recorded
 * before tell the next run which (sink_resolve).
 */
static inline int sink_publish(struct sink *sink, struct yb_error *err)
{
	return sink->ops->publish(sink, err);
}

/*
 * Does the sink publish message by message (an MDA runs once for each)?
 * Then sink_publish does not free the batch: each message stays readable
 * with sink_msg_outcome, whatever publish returned, until the next
 * sink_msg_begin, sink_prepare, sink_discard or sink_close.  Such a sink
 * cannot tell after a crash whether a message was published: its resolve
 * answers absent, and the message may arrive twice (the engine says so).
 */
static inline bool sink_has_outcomes(const struct sink *sink)
{
	return sink->ops->msg_outcome != NULL;
}

/* Only for sinks with outcomes: *detail (may be NULL) says why, for logs. */
static inline enum sink_outcome sink_msg_outcome(const struct sink_msg *msg,
						 const char **detail)
{
	return msg->sink->ops->msg_outcome(msg, detail);
}

/* Throw the pending batch away (temporary files removed); frees it. */
static inline void sink_discard(struct sink *sink)
{
	sink->ops->discard(sink);
}

/*
 * For an intent left by a crashed run: is the message named by dest
 * published (*present = true), or not (false, and any partial trace of
 * it is removed so that fetching it again cannot duplicate it)?
 */
static inline int sink_resolve(struct sink *sink, const char *dest,
			       bool *present, struct yb_error *err)
{
	return sink->ops->resolve(sink, dest, present, err);
}

/* Discard any pending batch and free the sink.  NULL is fine. */
static inline void sink_close(struct sink *sink)
{
	if (sink)
		sink->ops->close(sink);
}

#endif
