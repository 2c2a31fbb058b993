/* flag_store.c - grouped, pipelined UID STOREs of flag pushes (flag_store.h). */
#include "config.h"

#include "flag_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_resp.h"
#include "sink.h"
#include "testhook.h"

#define STORE_SET_MAX 4000     /* UID set text of one command */
#define STORE_WINDOW 64        /* commands sent ahead of their answers */
#define MODIFIED_RANGES_MAX 4096

/* One command of the batch: order[first..first+count) of the ops. */
struct store_cmd {
	size_t first, count;
};

/* An op's place in the commands: by group, then UID. */
struct order_key {
	char sign;
	uint32_t flags;
	uint32_t uid;
	size_t index;                /* into the ops */
};

struct store_batch {
	const struct flag_store_target *target;
	struct flag_store_op *ops;   /* sorted by UID */
	size_t count;
	struct order_key *order;     /* owned: the ops, command by command */
	struct store_cmd *cmds;      /* owned */
	size_t cmd_count;
	struct yb_error *refusal;    /* the first NO, for the caller */
};

static int by_uid(const void *a, const void *b)
{
	const struct flag_store_op *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int by_group(const void *a, const void *b)
{
	const struct order_key *x = a, *y = b;
	if (x->sign != y->sign)
		return x->sign < y->sign ? -1 : 1;
	if (x->flags != y->flags)
		return x->flags < y->flags ? -1 : 1;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* The op of uid, or NULL. */
static struct flag_store_op *op_of(const struct store_batch *batch, uint64_t uid)
{
	size_t lo = 0, hi = batch->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (batch->ops[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < batch->count && batch->ops[lo].uid == uid ? &batch->ops[lo] : NULL;
}

/* The IMAP names of SINK_FLAG_* bits: "\Seen \Flagged". */
static void flag_names(uint32_t flags, char *out, size_t out_size)
{
	static const struct { uint32_t flag; const char *name; } table[] = {
		{ SINK_FLAG_SEEN, "\\Seen" },       { SINK_FLAG_ANSWERED, "\\Answered" },
		{ SINK_FLAG_FLAGGED, "\\Flagged" }, { SINK_FLAG_DRAFT, "\\Draft" },
		{ SINK_FLAG_DELETED, "\\Deleted" },
	};
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (!(flags & table[i].flag))
			continue;
		int n = snprintf(out + used, out_size - used, "%s%s",
				 used ? " " : "", table[i].name);
		if (n < 0 || (size_t)n >= out_size - used)
			return; /* cannot happen: five names fit */
		used += (size_t)n;
	}
}

/* Untagged responses meanwhile: each message's new MODSEQ noted,
   everything passed on to the folder's handler. */
static int watch_untagged(void *ctx, const struct imap_response *resp,
			  struct yb_error *err)
{
	struct store_batch *batch = ctx;
	struct imap_fetch fetch;
	if (imap_response_is(resp, "FETCH") &&
	    imap_fetch_decode(resp, &fetch, NULL) == YB_OK && fetch.has_uid &&
	    fetch.has_modseq) {
		struct flag_store_op *op = op_of(batch, fetch.uid);
		if (op)
			op->modseq = fetch.modseq;
	}
	const struct imap_handler *inner = batch->target->handler;
	return inner->untagged ? inner->untagged(inner->ctx, resp, err) : YB_OK;
}

/* Plan the commands: runs of one group, cut where a set is full. */
static int plan_cmds(struct store_batch *batch, bool grouped, struct yb_error *err)
{
	for (size_t i = 0; i < batch->count; i++) {
		const struct flag_store_op *op = &batch->ops[i];
		batch->order[i] = (struct order_key){ .sign = op->sign, .flags = op->flags,
						      .uid = op->uid, .index = i };
	}
	if (grouped)
		qsort(batch->order, batch->count, sizeof(*batch->order), by_group);
	size_t next = 0;
	while (next < batch->count) {
		const struct flag_store_op *head = &batch->ops[batch->order[next].index];
		size_t run = 1;
		while (grouped && next + run < batch->count &&
		       batch->ops[batch->order[next + run].index].sign == head->sign &&
		       batch->ops[batch->order[next + run].index].flags == head->flags)
			run++;
		uint32_t uids[256];
		size_t take = run < 256 ? run : 256, consumed = 0, len = 0;
		for (size_t i = 0; i < take; i++)
			uids[i] = batch->ops[batch->order[next + i].index].uid;
		char set[STORE_SET_MAX];
		int rc = imap_seqset_build(uids, take, set, sizeof(set), &consumed, &len, err);
		if (rc != YB_OK)
			return rc;
		batch->cmds[batch->cmd_count++] = (struct store_cmd){ next, consumed };
		next += consumed;
	}
	return YB_OK;
}

static int send_cmd(const struct store_batch *batch, const struct store_cmd *cmd,
		    bool grouped, uint64_t since, struct yb_error *err)
{
	const struct flag_store_op *head = &batch->ops[batch->order[cmd->first].index];
	uint32_t uids[256];
	for (size_t i = 0; i < cmd->count; i++)
		uids[i] = batch->ops[batch->order[cmd->first + i].index].uid;
	char set[STORE_SET_MAX], names[64], condition[64] = "";
	size_t consumed = 0, len = 0;
	int rc = imap_seqset_build(uids, cmd->count, set, sizeof(set), &consumed, &len, err);
	if (rc != YB_OK)
		return rc;
	uint64_t modseq = grouped ? since : head->modseq;
	if (batch->target->condstore && modseq)
		snprintf(condition, sizeof(condition), "(UNCHANGEDSINCE %" PRIu64 ") ",
			 modseq);
	flag_names(head->flags, names, sizeof(names));
	char command[STORE_SET_MAX + 160];
	snprintf(command, sizeof(command), "UID STORE %s %s%cFLAGS.SILENT (%s)", set,
		 condition, head->sign, names);
	return imap_send(batch->target->imap, command, err);
}

/* [MODIFIED set]: the command's ops the set names are refused (all of
   them for a NO, code NULL). */
static void mark_refused(struct store_batch *batch, const struct store_cmd *cmd,
			 const struct imap_code_info *code)
{
	struct imap_range *ranges = NULL;
	size_t range_count = 0;
	bool whole = !code || code->modified_whole ||
		     imap_seqset_parse(code->modified_set, strlen(code->modified_set), 0,
				       MODIFIED_RANGES_MAX, &ranges, &range_count,
				       NULL) != YB_OK;
	for (size_t i = 0; i < cmd->count; i++) {
		struct flag_store_op *op = &batch->ops[batch->order[cmd->first + i].index];
		for (size_t r = 0; r < range_count && !whole && !op->refused; r++)
			op->refused = op->uid >= ranges[r].first && op->uid <= ranges[r].last;
		if (whole)
			op->refused = true;
	}
	free(ranges);
}

static int read_reply(struct store_batch *batch, const struct store_cmd *cmd,
		      struct yb_error *err)
{
	struct imap_handler handler = *batch->target->handler;
	handler.untagged = watch_untagged;
	handler.ctx = batch;
	struct imap_result result;
	int rc = imap_wait(batch->target->imap, &handler, &result, err);
	if (rc != YB_OK)
		return rc;
	if (result.code.code == IMAP_CODE_MODIFIED)
		mark_refused(batch, cmd, &result.code);
	/* A NO changed nothing its command names: said, and the answers
	   after it still read, so that what they did is known. */
	if (result.status != IMAP_STATUS_OK) {
		mark_refused(batch, cmd, NULL);
		if (batch->refusal->status == YB_OK)
			yb_fail(batch->refusal, YB_ERR_PROTOCOL, "%s: folder %s: UID "
				"STORE of flags refused: %s",
				imap_host(batch->target->imap), batch->target->shown,
				result.text);
	}
	testhook_step("flag-store");
	return YB_OK;
}

int flag_store_send(const struct flag_store_target *target,
		    struct flag_store_op *ops, size_t count, bool grouped,
		    uint64_t since, struct yb_error *refusal, struct yb_error *err)
{
	if (count == 0)
		return YB_OK;
	qsort(ops, count, sizeof(*ops), by_uid);
	struct store_batch batch = { .target = target, .ops = ops, .count = count,
				     .refusal = refusal };
	batch.order = calloc(count, sizeof(*batch.order));
	batch.cmds = calloc(count, sizeof(*batch.cmds));
	int rc = batch.order && batch.cmds ? YB_OK
					   : yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (rc == YB_OK)
		rc = plan_cmds(&batch, grouped, err);
	/* Sent ahead of the answers, a window at a time (a whole folder's
	   groups in one round trip; never so many unread answers that the
	   server stops reading while yubin still writes). */
	size_t sent = 0;
	for (size_t c = 0; rc == YB_OK && c < batch.cmd_count; c++) {
		while (rc == YB_OK && sent < batch.cmd_count && sent < c + STORE_WINDOW)
			rc = send_cmd(&batch, &batch.cmds[sent++], grouped, since, err);
		if (rc == YB_OK)
			rc = read_reply(&batch, &batch.cmds[c], err);
	}
	free(batch.order);
	free(batch.cmds);
	return rc;
}
