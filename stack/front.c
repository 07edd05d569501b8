/*
 * front.c: the lwIP front of a stream (see daemon/stream.h).
 *
 * App -> back: lwIP hands us pbufs; we offer their bytes to the back and
 * acknowledge (tcp_recved) only what it took, so the app's window closes
 * when the back is slow.  The rest waits in f->pending until the back
 * calls resume.
 * Back -> app: the back offers bytes; we take what fits in the pcb's send
 * buffer (tcp_sndbuf) and tell the back to resume when lwIP reports sent
 * (acked) data.
 * ACKs: lwIP delays the ACK of a lone segment until its 250 ms timer, so a
 * client that writes a request in two pieces with Nagle's algorithm on
 * (the default) would wait up to that long: its second piece waits for the
 * ACK of the first.  A front that received a segment shorter than the MSS
 * is queued (st->ackq), and before the loop sleeps (stack_flush) the ACK
 * lwIP still delays is sent.  Bulk transfers (full segments, 64 KiB
 * super-packets) keep lwIP's ACK of every second segment: more ACKs cost
 * uploads 10% when ngrokd is busy.  Nagle waits only behind an unacked
 * short segment (Linux's Minshall variant), so those are the ones to
 * acknowledge at once.
 * Close: the app's FIN is passed on once pending is drained; the back's
 * shutdown becomes our FIN (tcp_shutdown TX).  When both directions are
 * done the pcb is closed and the front detaches.  Once both FINs are out
 * while the back has not taken everything yet, lwIP ends the pcb alone and
 * the front keeps only the bytes (front_settle).
 */
#include <errno.h>
#include <stdlib.h>

#include <lwip/tcp.h>
#include <lwip/priv/tcp_priv.h>

#include "daemon/log.h"
#include "daemon/stream.h"
#include "stack/stack_priv.h"

struct front {
	struct front	*next, *prev;
	netstack_t	*st;
	struct tcp_pcb	*pcb;
	stream_t	*s;
	struct pbuf	*pending;	/* received, not yet taken by the back */
	unsigned	 app_fin:1;	/* the app sent FIN */
	unsigned	 fin_passed:1;	/* ...and the back was told */
	unsigned	 back_shut:1;	/* the back will send nothing more */
	unsigned	 back_blocked:1; /* we refused bytes; resume the back later */
	unsigned	 ack_queued:1;	/* in st->ackq */
	unsigned	 fin_deferred:1; /* our FIN waits for the answer's ACK */
};

static void front_push(struct front *f);
static void front_finish(struct front *f);

static void
list_remove(struct front *f)
{
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		f->st->fronts = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	f->next = f->prev = NULL;
}

static void
clear_cbs(struct tcp_pcb *pcb)
{
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
	tcp_poll(pcb, NULL, 0);
}

/* tcp_abort frees the pcb; a callback running for it must then return
 * ERR_ABRT.  st->gone remembers the pcb freed during the callback. */
static void
pcb_abort(struct front *f)
{
	if (f->pcb == NULL)
		return;
	clear_cbs(f->pcb);
	f->st->gone = f->pcb;
	tcp_abort(f->pcb);
	f->pcb = NULL;
}

static err_t
cb_result(netstack_t *st, struct tcp_pcb *pcb)
{
	if (st->gone == pcb) {
		st->gone = NULL;
		return ERR_ABRT;
	}
	return ERR_OK;
}

static void
ackq_add(struct front *f)
{
	netstack_t *st = f->st;

	/* Full: the ACK waits for lwIP's timer; a loop with this many
	 * receiving streams in one wake-up is not idle anyway. */
	if (f->ack_queued || st->n_ackq == STACK_ACKQ)
		return;
	st->ackq[st->n_ackq++] = f;
	f->ack_queued = 1;
}

static void
ackq_remove(struct front *f)
{
	netstack_t *st = f->st;
	size_t i;

	if (!f->ack_queued)
		return;
	for (i = 0; i < st->n_ackq; i++) {
		if (st->ackq[i] == f) {
			st->ackq[i] = st->ackq[--st->n_ackq];
			break;
		}
	}
	f->ack_queued = 0;
}

void
stack_front_ack_pending(netstack_t *st)
{
	struct front *f;
	size_t i, n = st->n_ackq;

	/* tcp_output cannot run our callbacks, so no front is freed while
	 * the queue is walked. */
	st->n_ackq = 0;
	for (i = 0; i < n; i++) {
		f = st->ackq[i];
		f->ack_queued = 0;
		if (f->pcb != NULL && (f->pcb->flags & TF_ACK_DELAY)) {
			tcp_ack_now(f->pcb);
			tcp_output(f->pcb);
		}
	}
}

/* Forgets the stream and frees f; the pcb must already be gone. */
static void
front_release(struct front *f)
{
	stream_t *s = f->s;

	ackq_remove(f);
	list_remove(f);
	if (f->pending != NULL)
		pbuf_free(f->pending);
	f->st->stats.streams_active--;
	free(f);
	if (s != NULL)
		stream_detach(s, STREAM_FRONT);
}

/* RST the app and tell the back. */
static void
front_fail(struct front *f, int err)
{
	pcb_abort(f);
	if (f->s != NULL)
		stream_abort(f->s, STREAM_FRONT, err);
	front_release(f);
}

/* Both directions are done: a graceful close. */
static void
front_finish(struct front *f)
{
	if (f->pcb != NULL) {
		clear_cbs(f->pcb);
		/* Everything received was acknowledged (tcp_recved), so lwIP
		 * closes with a FIN and keeps the pcb until the close is done. */
		if (tcp_close(f->pcb) != ERR_OK)
			pcb_abort(f);
		f->pcb = NULL;
	}
	front_release(f);
}

/* Both FINs are out: the app's was received, ours is queued.  lwIP ends the
 * pcb by itself from here (CLOSING, LAST_ACK, TIME_WAIT), and frees it in
 * TIME_WAIT without a callback, so the front lets go of it now.  What the
 * app sent and the back has not taken yet is in f->pending, ours: it still
 * reaches the back, then the FIN.  Without this, a back resuming after
 * TIME_WAIT ended touched a freed pcb, and a back shutting down before it
 * took everything turned the app's final ACK into an error (ERR_CLSD) that
 * dropped those bytes. */
static void
front_settle(struct front *f)
{
	if (f->pcb == NULL || !f->app_fin || !f->back_shut)
		return;
	clear_cbs(f->pcb);
	f->pcb = NULL;
}

/* --- back -> app --------------------------------------------------------- */

static ssize_t
front_send(void *self, const void *buf, size_t len)
{
	struct front *f = self;
	const uint8_t *p = buf;
	size_t done = 0;
	err_t e;

	if (f->pcb == NULL || f->back_shut)
		return -EPIPE;
	while (done < len) {
		size_t room = tcp_sndbuf(f->pcb), n = len - done;

		if (room == 0 || tcp_sndqueuelen(f->pcb) >= TCP_SND_QUEUELEN - 8)
			break;
		if (n > room)
			n = room;
		if (n > 0xffff)
			n = 0xffff;	/* tcp_write takes a u16 length */
		e = tcp_write(f->pcb, p + done, (u16_t)n, TCP_WRITE_FLAG_COPY |
		    (done + n < len ? TCP_WRITE_FLAG_MORE : 0));
		if (e == ERR_MEM)
			break;
		if (e != ERR_OK)
			return -EIO;
		done += n;
	}
	if (done < len)
		f->back_blocked = 1;
	if (done > 0)
		tcp_output(f->pcb);
	return (ssize_t)done;
}

/* Our FIN after what is queued; then f is finished (both directions done)
 * or settled (the app's bytes still go to the back).  May free f. */
static void
front_send_fin(struct front *f)
{
	tcp_shutdown(f->pcb, 0, 1);
	tcp_output(f->pcb);
	if (f->fin_passed)
		front_finish(f);
	else
		front_settle(f);
}

static void
front_shutdown(void *self)
{
	struct front *f = self;

	if (f->back_shut || f->pcb == NULL)
		return;
	f->back_shut = 1;
	/* After the app's FIN our FIN puts the pcb in LAST_ACK, where lwIP
	 * drops it 2 MSL (4 s) after the app's last word, with whatever it
	 * has not acknowledged yet: a slow reader would get a truncated
	 * answer and a RST.  So the FIN waits until everything queued is
	 * acknowledged (on_sent). */
	if (f->app_fin && (f->pcb->unsent != NULL || f->pcb->unacked != NULL)) {
		f->fin_deferred = 1;
		return;
	}
	front_send_fin(f);
}

static void
front_abort(void *self, int err)
{
	struct front *f = self;

	(void)err;
	pcb_abort(f);		/* RST to the app */
	front_release(f);
}

/* --- app -> back --------------------------------------------------------- */

static void
front_resume(void *self)
{
	front_push(self);
}

static void
front_push(struct front *f)
{
	struct pbuf *p;
	ssize_t n;

	while ((p = f->pending) != NULL) {
		if (p->len == 0) {
			f->pending = p->next;
			p->next = NULL;
			p->tot_len = 0;
			pbuf_free(p);
			continue;
		}
		n = stream_send(f->s, STREAM_FRONT, p->payload, p->len);
		if (n < 0) {
			front_fail(f, (int)-n);
			return;
		}
		if (n == 0)
			return;		/* the back resumes us */
		if (f->pcb != NULL)
			tcp_recved(f->pcb, (u16_t)n);
		f->pending = pbuf_free_header(p, (u16_t)n);
	}
	if (f->app_fin && !f->fin_passed) {
		/* If the back shuts down from inside this call, front_shutdown
		 * finishes f (fin_passed is set): touch f only if it was shut
		 * before. */
		int was_shut = f->back_shut;

		f->fin_passed = 1;
		stream_shutdown(f->s, STREAM_FRONT);
		if (was_shut)
			front_finish(f);
	}
}

static err_t
on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct front *f = arg;
	netstack_t *st = f->st;

	st->gone = NULL;
	if (p != NULL && p->tot_len < tcp_mss(pcb))
		ackq_add(f);
	if (p == NULL) {
		f->app_fin = 1;
		front_settle(f);
	} else if (err != ERR_OK) {
		pbuf_free(p);
		return ERR_OK;
	} else if (f->pending == NULL) {
		f->pending = p;
	} else
		pbuf_cat(f->pending, p);
	front_push(f);
	return cb_result(st, pcb);
}

static err_t
on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct front *f = arg;
	netstack_t *st = f->st;

	(void)len;
	st->gone = NULL;
	if (f->fin_deferred) {		/* the back has shut down */
		if (pcb->unsent == NULL && pcb->unacked == NULL) {
			f->fin_deferred = 0;
			front_send_fin(f);	/* may free f */
		}
		return cb_result(st, pcb);
	}
	if (f->back_blocked) {
		f->back_blocked = 0;
		stream_resume(f->s, STREAM_FRONT);
	}
	return cb_result(st, pcb);
}

/* lwIP has already freed the pcb (RST from the app, or retransmissions
 * exhausted). */
static void
on_err(void *arg, err_t err)
{
	struct front *f = arg;

	if (f == NULL)
		return;
	f->pcb = NULL;
	if (err == ERR_CLSD) {
		/* LAST_ACK completed with our callbacks still set: a close,
		 * not a failure; bytes still pending go to the back. */
		if (f->fin_passed)
			front_finish(f);
		return;
	}
	log_debug("stream %llu: app connection %s",
	    (unsigned long long)f->s->id, err == ERR_RST ? "reset" : "failed");
	front_fail(f, err == ERR_RST ? ECONNRESET : ETIMEDOUT);
}

static const struct stream_ops front_ops = {
	.send = front_send,
	.resume = front_resume,
	.shutdown = front_shutdown,
	.abort = front_abort,
};

err_t
stack_front_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	netstack_t *st = arg;
	struct front *f;
	stream_t *s;

	if (err != ERR_OK || pcb == NULL)
		return ERR_VAL;
	/* SYNs are checked against the limit in the input filter, but several
	 * handshakes can be in flight at once: enforce it here too. */
	if (st->stats.streams_active >= st->params.max_streams) {
		st->stats.rst_limit++;
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (s = stream_new(&front_ops, f)) == NULL) {
		free(f);
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	f->st = st;
	f->pcb = pcb;
	f->s = s;
	f->next = st->fronts;
	if (st->fronts != NULL)
		st->fronts->prev = f;
	st->fronts = f;
	st->stats.streams_active++;
	st->stats.streams_total++;
	s->id = ++st->next_stream_id;
	s->dst_addr = lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(&pcb->local_ip)));
	s->dst_port = pcb->local_port;
	s->src_addr = lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(&pcb->remote_ip)));
	s->src_port = pcb->remote_port;
	tcp_arg(pcb, f);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_nagle_disable(pcb);
	st->gone = NULL;
	if (st->cbs.accept(st->cbs.arg, s) != 0) {
		pcb_abort(f);
		front_release(f);
		return ERR_ABRT;
	}
	return cb_result(st, pcb);
}

void
stack_front_abort_all(netstack_t *st)
{
	while (st->fronts != NULL)
		front_fail(st->fronts, ECONNABORTED);
}
