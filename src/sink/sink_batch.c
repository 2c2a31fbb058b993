/*
 * sink_batch.c - the pending batch of a sink (see sink_batch.h).
 */
#include "config.h"

#include "sink_batch.h"

#include <stddef.h>

void sink_batch_add(struct sink_batch *batch, struct batch_msg *msg)
{
	msg->prev = batch->tail;
	msg->next = NULL;
	if (batch->tail)
		batch->tail->next = msg;
	else
		batch->head = msg;
	batch->tail = msg;
}

void sink_batch_remove(struct sink_batch *batch, struct batch_msg *msg)
{
	if (msg->prev)
		msg->prev->next = msg->next;
	else
		batch->head = msg->next;
	if (msg->next)
		msg->next->prev = msg->prev;
	else
		batch->tail = msg->prev;
	msg->prev = msg->next = NULL;
}

bool sink_batch_has(const struct sink_batch *batch, enum batch_state state)
{
	for (const struct batch_msg *m = batch->head; m; m = m->next)
		if (m->state == state)
			return true;
	return false;
}

void sink_batch_drop(struct sink_batch *batch, unsigned states,
		     void (*drop)(struct batch_msg *msg))
{
	struct batch_msg *m = batch->head;
	while (m) {
		struct batch_msg *next = m->next;
		if (states & 1u << m->state)
			drop(m);
		m = next;
	}
}
