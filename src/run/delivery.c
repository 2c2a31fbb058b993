/*
 * delivery.c - the exactly-once batch: prepare, intents, publish, commits.
 */
#include "config.h"

#include "delivery.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "eol.h"
#include "log.h"
#include "runstop.h"
#include "text.h"
#include "testhook.h"

#define EOL_SLICE 65536

struct batch_item {
	struct sink_msg *sink_msg;
	char *key;        /* owned; NULL: not recorded */
	void *item;       /* the engine's, handed back */
	uint64_t bytes;
	bool delivered;   /* sinks with outcomes: this one was published */
};

struct delivery {
	struct state *state;
	struct sink *sink;
	char *mailbox;            /* as the state knows it: raw */
	char mailbox_shown[256];  /* the same, made printable for logs */
	void (*committed)(void *ctx, void *item, uint64_t bytes);
	void (*refused)(void *ctx, void *item, const char *detail);
	void *ctx;

	struct batch_item batch[DELIVERY_BATCH_MESSAGES];
	size_t batch_len;
	size_t batch_max;         /* messages per batch for this sink */
	uint64_t batch_bytes;

	struct sink_msg *current;   /* the message being written, or NULL */
	uint64_t current_bytes;
	struct eol_filter eol;
	char eol_out[EOL_SLICE + 1];

	delivery_match_fn *match;
	void *match_ctx;
	EVP_MD_CTX *digest;       /* allocated while a matcher is set */
	size_t matched;
};

int delivery_new(const struct delivery_params *params, struct delivery **out,
		 struct yb_error *err)
{
	struct delivery *delivery = calloc(1, sizeof(*delivery));
	if (!delivery)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	delivery->mailbox = strdup(params->mailbox);
	if (!delivery->mailbox) {
		free(delivery);
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	/* The name came from a server: never raw onto a terminal. */
	text_sanitize(delivery->mailbox_shown, sizeof(delivery->mailbox_shown),
		      params->mailbox, strlen(params->mailbox));
	delivery->state = params->state;
	delivery->sink = params->sink;
	/* A sink that hands messages on one by one (an MDA) cannot take a
	   message back: each is recorded as soon as its command has taken it,
	   so that a crash can repeat at most that one message. */
	delivery->batch_max = sink_has_outcomes(params->sink)
				      ? 1 : DELIVERY_BATCH_MESSAGES;
	delivery->committed = params->committed;
	delivery->refused = params->refused;
	delivery->ctx = params->ctx;
	*out = delivery;
	return YB_OK;
}

int delivery_begin(struct delivery *delivery, const struct msg_meta *meta,
		   struct yb_error *err)
{
	if (delivery->current)
		return yb_fail(err, YB_ERR_INTERNAL, "a message is already being delivered");
	/* After SIGINT, SIGTERM or SIGHUP no new message is started. */
	int stop = run_check_stop(delivery->mailbox_shown, err);
	if (stop != YB_OK)
		return stop;
	int rc = sink_msg_begin(delivery->sink, meta, &delivery->current, err);
	if (rc != YB_OK) {
		delivery->current = NULL;
		return rc;
	}
	eol_init(&delivery->eol);
	delivery->current_bytes = 0;
	if (delivery->digest &&
	    EVP_DigestInit_ex(delivery->digest, EVP_sha256(), NULL) != 1) {
		delivery_abort(delivery);
		return yb_fail(err, YB_ERR_INTERNAL, "cannot start SHA-256");
	}
	return YB_OK;
}

/* Everything written to the sink goes through here. */
static int write_out(struct delivery *delivery, const char *data, size_t len,
		     struct yb_error *err)
{
	if (delivery->digest && len > 0 &&
	    EVP_DigestUpdate(delivery->digest, data, len) != 1)
		return yb_fail(err, YB_ERR_INTERNAL, "SHA-256 failed");
	int rc = sink_msg_write(delivery->current, data, len, err);
	if (rc == YB_OK)
		delivery->current_bytes += len;
	return rc;
}

int delivery_write(struct delivery *delivery, const char *data, size_t len,
		   struct yb_error *err)
{
	if (!delivery->current)
		return yb_fail(err, YB_ERR_INTERNAL, "no message is being delivered");
	while (len > 0) {
		size_t slice = len < EOL_SLICE ? len : EOL_SLICE;
		size_t out = eol_convert(&delivery->eol, data, slice, delivery->eol_out);
		int rc = write_out(delivery, delivery->eol_out, out, err);
		if (rc != YB_OK)
			return rc;
		data += slice;
		len -= slice;
	}
	return YB_OK;
}

int delivery_write_cb(void *ctx, const char *data, size_t len,
		      struct yb_error *err)
{
	return delivery_write(ctx, data, len, err);
}

void delivery_abort(struct delivery *delivery)
{
	if (!delivery->current)
		return;
	sink_msg_abort(delivery->current);
	delivery->current = NULL;
}

static void clear_batch(struct delivery *delivery)
{
	for (size_t i = 0; i < delivery->batch_len; i++)
		free(delivery->batch[i].key);
	delivery->batch_len = 0;
	delivery->batch_bytes = 0;
}

static int record_intents(struct delivery *delivery, struct yb_error *err)
{
	for (size_t i = 0; i < delivery->batch_len; i++) {
		const struct batch_item *item = &delivery->batch[i];
		if (!item->key)
			continue;
		int rc = state_intent(delivery->state, delivery->mailbox, item->key,
				      sink_msg_dest(item->sink_msg), err);
		if (rc != YB_OK)
			return rc;
	}
	return state_sync(delivery->state, err);
}

static int record_commits(struct delivery *delivery, struct yb_error *err)
{
	time_t now = time(NULL);
	for (size_t i = 0; i < delivery->batch_len; i++) {
		const struct batch_item *item = &delivery->batch[i];
		if (!item->key)
			continue;
		int rc = state_commit(delivery->state, delivery->mailbox, item->key,
				      now, err);
		if (rc != YB_OK)
			return rc;
	}
	return state_sync(delivery->state, err);
}

/*
 * A sink that publishes message by message: commit those it published,
 * forget the intents of the others.  Refusals are reported and the run
 * goes on; a deferral (or a local failure) ends the batch with publish's
 * status and error, which are in *err on entry.
 */
static int settle_per_message(struct delivery *delivery, int published,
			      struct yb_error *err)
{
	struct yb_error publish_err = *err;
	time_t now = time(NULL);
	bool all_settled = true;
	int rc = YB_OK;
	for (size_t i = 0; i < delivery->batch_len && rc == YB_OK; i++) {
		struct batch_item *item = &delivery->batch[i];
		const char *detail = NULL;
		enum sink_outcome outcome = sink_msg_outcome(item->sink_msg, &detail);
		item->delivered = outcome == SINK_DELIVERED;
		if (outcome == SINK_DEFERRED)
			all_settled = false;
		if (outcome == SINK_REFUSED && delivery->refused)
			delivery->refused(delivery->ctx, item->item, detail);
		if (!item->key)
			continue;
		if (item->delivered)
			rc = state_commit(delivery->state, delivery->mailbox, item->key, now, err);
		else
			rc = state_drop_intent(delivery->state, delivery->mailbox, item->key, err);
	}
	if (rc == YB_OK)
		rc = state_sync(delivery->state, err);
	if (rc != YB_OK)
		return rc;
	if (!all_settled && published != YB_OK) {
		*err = publish_err;
		return published;
	}
	yb_error_clear(err);
	testhook_step("commit");
	for (size_t i = 0; i < delivery->batch_len; i++)
		if (delivery->batch[i].delivered && delivery->committed)
			delivery->committed(delivery->ctx, delivery->batch[i].item,
					    delivery->batch[i].bytes);
	return YB_OK;
}

int delivery_flush(struct delivery *delivery, struct yb_error *err)
{
	if (delivery->batch_len == 0)
		return YB_OK;
	int rc = sink_prepare(delivery->sink, err);
	if (rc == YB_OK) {
		testhook_step("sync");
		rc = record_intents(delivery, err);
	}
	if (rc != YB_OK) {
		/* Nothing is published yet: the batch simply did not happen. */
		sink_discard(delivery->sink);
		clear_batch(delivery);
		return rc;
	}
	testhook_step("intent");
	rc = sink_publish(delivery->sink, err);
	if (sink_has_outcomes(delivery->sink)) {
		rc = settle_per_message(delivery, rc, err);
		clear_batch(delivery);
		return rc;
	}
	if (rc == YB_OK) {
		testhook_step("publish");
		rc = record_commits(delivery, err);
	}
	if (rc != YB_OK) {
		/* Intents are durable: the next run settles each one. */
		clear_batch(delivery);
		return rc;
	}
	testhook_step("commit");
	log_debug("%s: committed a batch of %zu messages", delivery->mailbox_shown,
		  delivery->batch_len);
	for (size_t i = 0; i < delivery->batch_len; i++)
		if (delivery->committed)
			delivery->committed(delivery->ctx, delivery->batch[i].item,
					    delivery->batch[i].bytes);
	clear_batch(delivery);
	return YB_OK;
}

static int finish_current(struct delivery *delivery, struct yb_error *err)
{
	size_t out = eol_finish(&delivery->eol, delivery->eol_out);
	if (out > 0) {
		int rc = write_out(delivery, delivery->eol_out, out, err);
		if (rc != YB_OK)
			return rc;
	}
	return sink_msg_end(delivery->current, err);
}

/*
 * With a matcher: is the finished message a copy the sink already holds?
 * Then drop it and commit its key with the copy's dest.
 */
static int check_duplicate(struct delivery *delivery, const char *key,
			   bool *duplicate, struct yb_error *err)
{
	*duplicate = false;
	if (!delivery->digest)
		return YB_OK;
	unsigned char digest[32];
	unsigned int digest_len = 0;
	if (EVP_DigestFinal_ex(delivery->digest, digest, &digest_len) != 1 ||
	    digest_len != sizeof(digest))
		return yb_fail(err, YB_ERR_INTERNAL, "SHA-256 failed");
	const char *existing = delivery->match(delivery->match_ctx, digest);
	if (!existing)
		return YB_OK;
	*duplicate = true;
	delivery_abort(delivery);
	delivery->matched++;
	if (!key)
		return YB_OK;
	int rc = state_commit(delivery->state, delivery->mailbox, key, time(NULL), err);
	if (rc == YB_OK)
		rc = state_set_dest(delivery->state, delivery->mailbox, key, existing, err);
	return rc;
}

int delivery_set_matcher(struct delivery *delivery, delivery_match_fn *fn,
			 void *ctx, struct yb_error *err)
{
	delivery->match = fn;
	delivery->match_ctx = ctx;
	if (!fn) {
		EVP_MD_CTX_free(delivery->digest);
		delivery->digest = NULL;
		return YB_OK;
	}
	if (!delivery->digest)
		delivery->digest = EVP_MD_CTX_new();
	if (!delivery->digest)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	return YB_OK;
}

size_t delivery_matched(const struct delivery *delivery)
{
	return delivery->matched;
}

int delivery_end(struct delivery *delivery, const char *key, void *item,
		 struct yb_error *err)
{
	if (!delivery->current)
		return yb_fail(err, YB_ERR_INTERNAL, "no message is being delivered");
	char *key_copy = NULL;
	if (key) {
		key_copy = strdup(key);
		if (!key_copy) {
			delivery_abort(delivery);
			return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
		}
	}
	int rc = finish_current(delivery, err);
	bool duplicate = false;
	if (rc == YB_OK)
		rc = check_duplicate(delivery, key, &duplicate, err);
	if (rc != YB_OK || duplicate) {
		free(key_copy);
		delivery_abort(delivery);
		return rc;
	}
	testhook_step("write");
	struct batch_item *entry = &delivery->batch[delivery->batch_len++];
	entry->sink_msg = delivery->current;
	entry->key = key_copy;
	entry->item = item;
	entry->bytes = delivery->current_bytes;
	delivery->batch_bytes += delivery->current_bytes;
	delivery->current = NULL;
	if (delivery->batch_len >= delivery->batch_max ||
	    delivery->batch_bytes >= DELIVERY_BATCH_BYTES)
		return delivery_flush(delivery, err);
	return YB_OK;
}

void delivery_free(struct delivery *delivery)
{
	if (!delivery)
		return;
	delivery_abort(delivery);
	if (delivery->batch_len > 0)
		sink_discard(delivery->sink);
	clear_batch(delivery);
	EVP_MD_CTX_free(delivery->digest);
	free(delivery->mailbox);
	free(delivery);
}
