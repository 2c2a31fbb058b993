/* imap_idle.c - IDLE (RFC 2177): start, wait for news, DONE. */
#include "config.h"

#include "imap_idle.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "log.h"

static bool code_is(const struct imap_response *resp, const char *code)
{
	return resp->has_code && resp->code_len == strlen(code) &&
	       strncasecmp(resp->code, code, resp->code_len) == 0;
}

/* What an untagged response during IDLE says about the mailbox (or,
   with NOTIFY, the mailboxes). */
static int note_news(void *ctx, const struct imap_response *resp,
		     struct yb_error *err)
{
	(void)err;
	struct imap_idle_news *news = ctx;
	news->responses++;
	if (code_is(resp, "NOTIFICATIONOVERFLOW"))
		news->overflow = true;
	/* A STATUS is all NOTIFY says of another mailbox; a NO is RFC
	   5465's "some events may have got lost": fetch to be sure. */
	if (imap_response_is(resp, "EXISTS") || imap_response_is(resp, "RECENT") ||
	    imap_response_is(resp, "STATUS") || resp->status == IMAP_STATUS_NO)
		news->new_mail = true;
	else if (imap_response_is(resp, "EXPUNGE") ||
		 imap_response_is(resp, "VANISHED") ||
		 imap_response_is(resp, "FETCH"))
		news->changed = true;
	return YB_OK;
}

static struct imap_handler news_handler(struct imap_idle_news *news)
{
	struct imap_handler handler = { .untagged = note_news, .ctx = news };
	return handler;
}

int imap_idle_start(struct imap *imap, struct imap_idle_news *news,
		    struct yb_error *err)
{
	struct imap_handler handler = news_handler(news);
	struct imap_result result;
	bool continued = false;
	news->ended = false;
	int rc = imap_send_continued(imap, "IDLE", &handler, &continued,
				     &result, err);
	if (rc != YB_OK || continued)
		return rc;
	news->refused = true;
	return yb_fail(err, YB_ERR_PROTOCOL, "%s refused IDLE: %s",
		       imap_host(imap), result.text);
}

int imap_idle_fd(const struct imap *imap)
{
	return conn_fd(imap_conn(imap));
}

bool imap_idle_buffered(const struct imap *imap)
{
	return conn_has_buffered(imap_conn(imap));
}

/* One response during IDLE: news, or the server ending IDLE itself. */
static int read_during_idle(struct imap *imap, struct imap_idle_news *news,
			    struct yb_error *err)
{
	struct imap_handler handler = news_handler(news);
	struct imap_result result;
	bool completed = false;
	int rc = imap_read_one(imap, &handler, &completed, &result, err);
	if (rc == YB_OK && completed) {
		/* RFC 2177 lets only DONE end IDLE; a server that ends it
		   anyway is taken at its word and IDLE is started again. */
		log_debug("%s ended IDLE without DONE: %s", imap_host(imap),
			  result.text);
		news->ended = true;
	}
	return rc;
}

int imap_idle_read(struct imap *imap, struct imap_idle_news *news,
		   struct yb_error *err)
{
	if (news->ended)
		return YB_OK;
	size_t taken = 0;
	do {
		int rc = read_during_idle(imap, news, err);
		if (rc != YB_OK)
			return rc;
		taken++;
	} while (!news->ended && taken < IMAP_IDLE_BURST_MAX &&
		 imap_idle_buffered(imap));
	return YB_OK;
}

int imap_idle_wait(struct imap *imap, int timeout_ms,
		   struct imap_idle_news *news, struct yb_error *err)
{
	if (!imap_idle_buffered(imap)) {
		struct pollfd pfd = { .fd = imap_idle_fd(imap), .events = POLLIN };
		int ready = poll(&pfd, 1, timeout_ms);
		if (ready < 0 && errno != EINTR)
			return yb_fail(err, YB_ERR_INTERNAL, "%s: poll: %s",
				       imap_host(imap), strerror(errno));
		if (ready <= 0)
			return YB_OK;
	}
	return imap_idle_read(imap, news, err);
}

int imap_idle_done(struct imap *imap, struct imap_idle_news *news,
		   struct yb_error *err)
{
	if (news->ended) {
		news->ended = false;
		return YB_OK;
	}
	int rc = imap_send_line(imap, "DONE", err);
	struct imap_handler handler = news_handler(news);
	struct imap_result result;
	bool completed = false;
	for (size_t seen = 0; rc == YB_OK && !completed; seen++) {
		if (seen >= IMAP_IDLE_RESPONSES_MAX)
			return yb_fail(err, YB_ERR_PROTOCOL, "%s sent more than %d "
				       "responses after DONE without ending IDLE",
				       imap_host(imap), IMAP_IDLE_RESPONSES_MAX);
		rc = imap_read_one(imap, &handler, &completed, &result, err);
	}
	if (rc == YB_OK && result.status != IMAP_STATUS_OK)
		log_debug("%s answered DONE with: %s", imap_host(imap), result.text);
	return rc;
}
