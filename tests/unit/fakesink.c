/* fakesink.c - an in-memory sink that records its calls (tests only). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "fakesink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fakesink {
	struct sink base;
	struct sink_ops ops;      /* plain_ops, with msg_outcome or not */
	bool with_outcomes;
	char *trace;          /* NUL-terminated; owned */
	size_t trace_len;
	size_t trace_cap;
	struct fake_msg **msgs;   /* every message begun, index id - 1 */
	unsigned msg_count;
	size_t msg_cap;
	struct fake_msg **batch;  /* pending, oldest first */
	size_t batch_len;
	bool outcomes_readable;   /* the last publish's messages */
	unsigned calls[FAKE_OP_COUNT];
	unsigned fail_nth[FAKE_OP_COUNT];
	int fail_code[FAKE_OP_COUNT];
	size_t publish_partly;
	size_t published;
	unsigned publishes;
	void (*on_publish)(void *ctx);
	void *on_publish_ctx;
	/* Sinks with outcomes: set ahead for messages not begun yet. */
	enum sink_outcome planned[FAKE_PLANNED_MAX + 1];
	const char *planned_detail[FAKE_PLANNED_MAX + 1];
};

static const char *const op_names[FAKE_OP_COUNT] = {
	"begin", "write", "end", "prepare", "publish", "resolve",
};

static void trace_add(struct fakesink *fake, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void trace_add(struct fakesink *fake, const char *fmt, ...)
{
	char line[128];
	va_list args;
	va_start(args, fmt);
	int written = vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);
	assert_true(written > 0 && (size_t)written < sizeof(line) - 1);
	size_t need = fake->trace_len + (size_t)written + 2;
	if (need > fake->trace_cap) {
		fake->trace_cap = need * 2;
		fake->trace = realloc(fake->trace, fake->trace_cap);
		assert_non_null(fake->trace);
	}
	memcpy(fake->trace + fake->trace_len, line, (size_t)written);
	fake->trace_len += (size_t)written;
	fake->trace[fake->trace_len++] = '\n';
	fake->trace[fake->trace_len] = '\0';
}

/* Count a call of op; YB_OK, or the failure the test asked for. */
static int count_call(struct fakesink *fake, enum fake_op op,
		      struct yb_error *err)
{
	fake->calls[op]++;
	if (fake->fail_nth[op] == 0 || fake->calls[op] != fake->fail_nth[op])
		return YB_OK;
	return yb_fail(err, fake->fail_code[op], "fake %s failed", op_names[op]);
}

static struct fakesink *owner(const struct sink_msg *msg)
{
	return (struct fakesink *)msg->sink;
}

static struct fake_msg *as_fake(struct sink_msg *msg)
{
	return (struct fake_msg *)msg;
}

static int fake_begin(struct sink *sink, const struct msg_meta *meta,
		      struct sink_msg **out, struct yb_error *err)
{
	struct fakesink *fake = (struct fakesink *)sink;
	assert_non_null(meta);
	fake->outcomes_readable = false;
	int rc = count_call(fake, FAKE_BEGIN, err);
	trace_add(fake, "begin %u%s", fake->msg_count + 1, rc ? " fail" : "");
	if (rc != YB_OK)
		return rc;
	if (fake->msg_count == fake->msg_cap) {
		fake->msg_cap = fake->msg_cap ? fake->msg_cap * 2 : 16;
		fake->msgs = realloc(fake->msgs, fake->msg_cap * sizeof(*fake->msgs));
		fake->batch = realloc(fake->batch, fake->msg_cap * sizeof(*fake->batch));
		assert_non_null(fake->msgs);
		assert_non_null(fake->batch);
	}
	struct fake_msg *msg = calloc(1, sizeof(*msg));
	assert_non_null(msg);
	msg->base.sink = sink;
	msg->id = ++fake->msg_count;
	snprintf(msg->dest, sizeof(msg->dest), "msg-%u", msg->id);
	msg->status = FAKE_WRITING;
	if (msg->id <= FAKE_PLANNED_MAX) {
		msg->outcome = fake->planned[msg->id];
		msg->detail = fake->planned_detail[msg->id];
	}
	fake->msgs[msg->id - 1] = msg;
	*out = &msg->base;
	return YB_OK;
}

static int fake_write(struct sink_msg *base, const char *data, size_t len,
		      struct yb_error *err)
{
	struct fakesink *fake = owner(base);
	struct fake_msg *msg = as_fake(base);
	assert_int_equal(msg->status, FAKE_WRITING);
	int rc = count_call(fake, FAKE_WRITE, err);
	trace_add(fake, "write %u %zu%s", msg->id, len, rc ? " fail" : "");
	if (rc != YB_OK)
		return rc;
	if (msg->len + len > msg->cap) {
		msg->cap = (msg->len + len) * 2;
		msg->bytes = realloc(msg->bytes, msg->cap);
		assert_non_null(msg->bytes);
	}
	if (len > 0)
		memcpy(msg->bytes + msg->len, data, len);
	msg->len += len;
	return YB_OK;
}

static int fake_end(struct sink_msg *base, struct yb_error *err)
{
	struct fakesink *fake = owner(base);
	struct fake_msg *msg = as_fake(base);
	assert_int_equal(msg->status, FAKE_WRITING);
	int rc = count_call(fake, FAKE_END, err);
	trace_add(fake, "end %u%s", msg->id, rc ? " fail" : "");
	if (rc != YB_OK)
		return rc;
	msg->status = FAKE_ENDED;
	fake->batch[fake->batch_len++] = msg;
	return YB_OK;
}

/* A message being written (or whose end failed), or an ended one, which
   leaves the pending batch as the real sinks' does. */
static void fake_abort(struct sink_msg *base)
{
	struct fakesink *fake = owner(base);
	struct fake_msg *msg = as_fake(base);
	assert_true(msg->status == FAKE_WRITING || msg->status == FAKE_ENDED);
	trace_add(fake, "abort %u", msg->id);
	if (msg->status == FAKE_ENDED) {
		size_t i = 0;
		while (i < fake->batch_len && fake->batch[i] != msg)
			i++;
		assert_true(i < fake->batch_len);
		memmove(&fake->batch[i], &fake->batch[i + 1],
			(fake->batch_len - i - 1) * sizeof(*fake->batch));
		fake->batch_len--;
	}
	msg->status = FAKE_ABORTED;
}

static int fake_prepare(struct sink *sink, struct yb_error *err)
{
	struct fakesink *fake = (struct fakesink *)sink;
	fake->outcomes_readable = false;
	int rc = count_call(fake, FAKE_PREPARE, err);
	trace_add(fake, "prepare%s", rc ? " fail" : "");
	if (rc != YB_OK)
		return rc;
	for (size_t i = 0; i < fake->batch_len; i++)
		fake->batch[i]->status = FAKE_PREPARED;
	return YB_OK;
}

static const char *fake_dest(const struct sink_msg *base)
{
	const struct fake_msg *msg = (const struct fake_msg *)base;
	assert_int_equal(msg->status, FAKE_PREPARED);
	trace_add(owner(base), "dest %u", msg->id);
	return msg->dest;
}

static void publish_one(struct fakesink *fake, struct fake_msg *msg)
{
	msg->status = FAKE_PUBLISHED;
	fake->published++;
}

static int publish_outcomes(struct fakesink *fake, int rc)
{
	for (size_t i = 0; i < fake->batch_len; i++) {
		struct fake_msg *msg = fake->batch[i];
		if (msg->outcome == SINK_DELIVERED)
			publish_one(fake, msg);
		else
			msg->status = msg->outcome == SINK_REFUSED ? FAKE_REFUSED
								   : FAKE_DEFERRED;
	}
	fake->outcomes_readable = true;
	fake->batch_len = 0;
	return rc;
}

static int fake_publish(struct sink *sink, struct yb_error *err)
{
	struct fakesink *fake = (struct fakesink *)sink;
	for (size_t i = 0; i < fake->batch_len; i++)
		assert_int_equal(fake->batch[i]->status, FAKE_PREPARED);
	if (fake->on_publish)
		fake->on_publish(fake->on_publish_ctx);
	fake->publishes++;
	int rc = count_call(fake, FAKE_PUBLISH, err);
	trace_add(fake, "publish%s", rc ? " fail" : "");
	if (fake->with_outcomes)
		return publish_outcomes(fake, rc);
	for (size_t i = 0; i < fake->batch_len; i++) {
		if (rc == YB_OK || i < fake->publish_partly)
			publish_one(fake, fake->batch[i]);
		else
			fake->batch[i]->status = FAKE_DISCARDED;
	}
	fake->batch_len = 0;
	return rc;
}

static void fake_discard(struct sink *sink)
{
	struct fakesink *fake = (struct fakesink *)sink;
	fake->outcomes_readable = false;
	trace_add(fake, "discard");
	for (size_t i = 0; i < fake->batch_len; i++)
		fake->batch[i]->status = FAKE_DISCARDED;
	fake->batch_len = 0;
}

static int fake_resolve(struct sink *sink, const char *dest, bool *present,
			struct yb_error *err)
{
	struct fakesink *fake = (struct fakesink *)sink;
	int rc = count_call(fake, FAKE_RESOLVE, err);
	trace_add(fake, "resolve %s%s", dest, rc ? " fail" : "");
	if (rc != YB_OK)
		return rc;
	*present = false;
	for (unsigned i = 0; i < fake->msg_count; i++)
		if (strcmp(fake->msgs[i]->dest, dest) == 0)
			*present = fake->msgs[i]->status == FAKE_PUBLISHED;
	return YB_OK;
}

static void fake_close(struct sink *sink)
{
	fake_discard(sink);
}

static enum sink_outcome fake_outcome(const struct sink_msg *base,
				      const char **detail)
{
	struct fakesink *fake = owner(base);
	const struct fake_msg *msg = (const struct fake_msg *)base;
	assert_true(fake->outcomes_readable);
	trace_add(fake, "outcome %u", msg->id);
	*detail = msg->detail;
	return msg->outcome;
}

static const struct sink_ops plain_ops = {
	.msg_begin = fake_begin,
	.msg_write = fake_write,
	.msg_end = fake_end,
	.msg_abort = fake_abort,
	.prepare = fake_prepare,
	.msg_dest = fake_dest,
	.publish = fake_publish,
	.discard = fake_discard,
	.resolve = fake_resolve,
	.close = fake_close,
};

struct fakesink *fakesink_new(bool with_outcomes)
{
	struct fakesink *fake = calloc(1, sizeof(*fake));
	assert_non_null(fake);
	fake->ops = plain_ops;
	if (with_outcomes)
		fake->ops.msg_outcome = fake_outcome;
	fake->base.ops = &fake->ops;
	fake->with_outcomes = with_outcomes;
	fake->trace = calloc(1, 1);
	assert_non_null(fake->trace);
	fake->trace_cap = 1;
	return fake;
}

void fakesink_free(struct fakesink *fake)
{
	if (!fake)
		return;
	for (unsigned i = 0; i < fake->msg_count; i++) {
		free(fake->msgs[i]->bytes);
		free(fake->msgs[i]);
	}
	free(fake->msgs);
	free(fake->batch);
	free(fake->trace);
	free(fake);
}

struct sink *fakesink_sink(struct fakesink *fake)
{
	return &fake->base;
}

const char *fakesink_trace(const struct fakesink *fake)
{
	return fake->trace;
}

void fakesink_clear_trace(struct fakesink *fake)
{
	fake->trace_len = 0;
	fake->trace[0] = '\0';
}

void fakesink_fail(struct fakesink *fake, enum fake_op op, unsigned nth,
		   int code)
{
	fake->calls[op] = 0;
	fake->fail_nth[op] = nth;
	fake->fail_code[op] = code;
}

void fakesink_publish_partly(struct fakesink *fake, size_t count)
{
	fake->publish_partly = count;
}

void fakesink_set_outcome(struct fakesink *fake, unsigned id,
			  enum sink_outcome outcome, const char *detail)
{
	assert_true(id >= 1 && id <= FAKE_PLANNED_MAX);
	fake->planned[id] = outcome;
	fake->planned_detail[id] = detail;
	if (id <= fake->msg_count) {
		fake->msgs[id - 1]->outcome = outcome;
		fake->msgs[id - 1]->detail = detail;
	}
}

void fakesink_on_publish(struct fakesink *fake, void (*fn)(void *ctx),
			 void *ctx)
{
	fake->on_publish = fn;
	fake->on_publish_ctx = ctx;
}

const struct fake_msg *fakesink_msg(const struct fakesink *fake, unsigned id)
{
	if (id < 1 || id > fake->msg_count)
		return NULL;
	return fake->msgs[id - 1];
}

unsigned fakesink_msg_count(const struct fakesink *fake)
{
	return fake->msg_count;
}

size_t fakesink_published(const struct fakesink *fake)
{
	return fake->published;
}

unsigned fakesink_publishes(const struct fakesink *fake)
{
	return fake->publishes;
}

size_t fakesink_pending(const struct fakesink *fake,
			const struct fake_msg *const **out)
{
	*out = (const struct fake_msg *const *)fake->batch;
	return fake->batch_len;
}
