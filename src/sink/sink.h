/*
 * sink.h - where fetched messages go.  One interface, implemented by
 * maildir.c, mbox.c and mda.c.
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
 *
 * Optional capabilities (a NULL slot: the sink cannot; ask with
 * sink_can_*, never by which sink it is):
 *   digests      what the sink holds, as digests of message bytes, so an
 *                engine can recognise a message already delivered (after
 *                a UIDVALIDITY change) instead of delivering it twice;
 *   apply_flags  the sink keeps neutral flags (SINK_FLAG_*) with a
 *                delivered message and can change them later.
 */
#ifndef YUBIN_SINK_H
#define YUBIN_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

/* Flags of a message, whatever the protocol or the sink calls them. */
enum sink_flag {
	SINK_FLAG_SEEN = 1u << 0,
	SINK_FLAG_ANSWERED = 1u << 1,
	SINK_FLAG_FLAGGED = 1u << 2,
	SINK_FLAG_DELETED = 1u << 3,
	SINK_FLAG_DRAFT = 1u << 4,
};
#define SINK_FLAGS_ALL 0x1fu

/* What the engine knows about a message before its bytes arrive. */
struct msg_meta {
	uint64_t size_hint;      /* server's size (CRLF); 0 if unknown */
	time_t internal_date;    /* server's arrival time; 0 if unknown */
	uint32_t flags;          /* SINK_FLAG_* bits; a sink may ignore them */
};

/* The longest dest a sink makes, NUL included. */
#define SINK_DEST_MAX 512

/*
 * One copy of a message the sink holds: the SHA-256 of the bytes that
 * were given to sink_msg_write for it (CRLF already turned into LF, no
 * From line or quoting of the sink's own), and the dest that names the
 * copy.  A sink may give two digests for one copy when its format cannot
 * tell which of two byte strings was stored (an mbox adds a newline to a
 * message that lacks one); both then carry the same dest, and the copy
 * stands for one message only.
 */
struct sink_digest {
	unsigned char digest[32];
	char dest[SINK_DEST_MAX];
};

/*
 * The dests the state records as delivered into this sink for one
 * mailbox (any UIDVALIDITY).  Borrowed for the call.
 */
struct sink_recorded {
	const char *const *dests;
	size_t count;
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
	/* Optional: see sink_digests. */
	int (*digests)(struct sink *sink, const struct sink_recorded *recorded,
		       struct sink_digest **out, size_t *count,
		       struct yb_error *err);
	/* Optional: see sink_apply_flags. */
	int (*apply_flags)(struct sink *sink, const char *dest, uint32_t flags,
			   char new_dest[SINK_DEST_MAX], struct yb_error *err);
	/* Optional, with apply_flags: see sink_read_flags. */
	int (*read_flags)(struct sink *sink, const char *dest, uint32_t *flags,
			  char found[SINK_DEST_MAX], struct yb_error *err);
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

/* Can the sink say what it holds (sink_digests)? */
static inline bool sink_can_digest(const struct sink *sink)
{
	return sink->ops->digests != NULL;
}

/*
 * The copies the sink holds for one mailbox, as digests: a sink that
 * keeps the messages (Maildir, mbox) reads what is there now, so a
 * message the user removed is not claimed; a sink that hands them on (an
 * MDA) answers from the dests in recorded, which carry the digest of
 * what was handed over.  *out is a malloc'd array of *count entries in
 * no particular order (the caller frees; NULL when none).  Errors name
 * the file.  Only for sinks that sink_can_digest.
 */
static inline int sink_digests(struct sink *sink, const struct sink_recorded *recorded,
			       struct sink_digest **out, size_t *count,
			       struct yb_error *err)
{
	return sink->ops->digests(sink, recorded, out, count, err);
}

/* Does the sink keep flags with what it delivered (sink_apply_flags)? */
static inline bool sink_can_apply_flags(const struct sink *sink)
{
	return sink->ops->apply_flags != NULL;
}

/*
 * The delivered message at dest now has exactly the flags `flags`
 * (SINK_FLAG_* bits; marks of the sink's own that no flag names, such as
 * a mail reader's, are kept).  new_dest gets where it is now ("" when it
 * is no longer there: removed locally, not an error).  Only for sinks
 * that sink_can_apply_flags.
 */
static inline int sink_apply_flags(struct sink *sink, const char *dest,
				   uint32_t flags, char new_dest[SINK_DEST_MAX],
				   struct yb_error *err)
{
	return sink->ops->apply_flags(sink, dest, flags, new_dest, err);
}

/*
 * The flags the delivered message at dest holds now (SINK_FLAG_* bits),
 * which a mail reader may have changed, and where it is now (found: a
 * reader may have renamed it; "" when it is no longer there, not an
 * error).  Only for sinks that sink_can_apply_flags.
 */
static inline int sink_read_flags(struct sink *sink, const char *dest,
				  uint32_t *flags, char found[SINK_DEST_MAX],
				  struct yb_error *err)
{
	return sink->ops->read_flags(sink, dest, flags, found, err);
}

/* Discard any pending batch and free the sink.  NULL is fine. */
static inline void sink_close(struct sink *sink)
{
	if (sink)
		sink->ops->close(sink);
}

#endif
