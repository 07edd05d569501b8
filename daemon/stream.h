/*
 * stream.h: the seam between a stream's two halves.
 *
 * A stream has a *front* (an lwIP pcb, or a kernel socket in fallback mode)
 * and a *back* (an mTLS session to the ingress).  Each half sees the other
 * only through struct stream_ops; neither knows what the other is.
 *
 * Flow control, both directions alike:
 *   - A half with data for its peer calls stream_send().  The peer copies
 *     what it can take (bounded by its own buffer) and returns that count;
 *     the caller keeps ownership of the rest and of buf.
 *   - When a peer that returned less than offered has room again, it calls
 *     stream_resume() on the other half, which offers its pending data again.
 *   - The front acknowledges data to the application (tcp_recved) only when
 *     the back has taken it, so no half buffers without bound.
 * Close:
 *   - stream_shutdown(): "I will send nothing more" (FIN / close_notify);
 *     the peer half-closes its own output once its buffer has drained.
 *   - stream_abort(): the half failed; the peer aborts too (RST for the
 *     front) and must not call back into the failed half.
 *   - stream_detach(): a half is finished and forgets the stream; the last
 *     half to detach frees it.  After detaching, calls towards that half are
 *     harmless no-ops (send returns -EPIPE).
 */
#ifndef NGROKD_STREAM_H
#define NGROKD_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Per-endpoint counters, kept on the loop thread by the halves of the
 * endpoint's streams (the back counts bytes and errors). */
struct endpoint_stats {
	uint64_t	streams_active;
	uint64_t	streams_total;
	uint64_t	bytes_up;	/* app -> ingress */
	uint64_t	bytes_down;	/* ingress -> app */
	uint64_t	errors_connect;
	uint64_t	errors_tls;
	uint64_t	errors_refused;	/* ConnResponse error */
	uint64_t	errors_timeout;
	uint64_t	errors_reset;
	uint64_t	errors_limit;	/* refused: max streams */
	/* Error-log rate limit (tunnel.c): lines in the current window. */
	uint64_t	log_window_ms;
	uint32_t	log_lines;
	uint32_t	log_suppressed;
};

struct stream_ops {
	/* Copies up to len bytes; returns the count taken (0 = full), or
	 * -errno when this half can take nothing more. */
	ssize_t	(*send)(void *self, const void *buf, size_t len);
	/* The peer has room again. */
	void	(*resume)(void *self);
	/* The peer will send nothing more. */
	void	(*shutdown)(void *self);
	/* The peer failed; err is a positive errno-style reason. */
	void	(*abort)(void *self, int err);
};

struct stream_half {
	const struct stream_ops	*ops;
	void			*self;
};

enum stream_side { STREAM_FRONT = 0, STREAM_BACK = 1 };

typedef struct stream {
	struct stream_half	 half[2];	/* [STREAM_FRONT], [STREAM_BACK] */
	int			 attached;	/* bitmask of halves still attached */
	uint32_t		 dst_addr;	/* original destination, host order */
	uint16_t		 dst_port;
	uint32_t		 src_addr;	/* the application's side */
	uint16_t		 src_port;
	void			*endpoint;	/* referenced; see endpoint_release */
	void			(*endpoint_release)(void *endpoint);
	uint64_t		 id;		/* for logs */
} stream_t;

/* Allocates a stream with the front attached.  NULL + errno. */
stream_t *stream_new(const struct stream_ops *front_ops, void *front);
/* Attaches the back half. */
void	stream_attach_back(stream_t *s, const struct stream_ops *ops, void *back);

/* Calls on the half opposite to from. */
ssize_t	stream_send(stream_t *s, enum stream_side from, const void *buf, size_t len);
void	stream_resume(stream_t *s, enum stream_side from);
void	stream_shutdown(stream_t *s, enum stream_side from);
void	stream_abort(stream_t *s, enum stream_side from, int err);

/* from is finished with s; when both halves are gone, s is freed and
 * s->endpoint_release(s->endpoint) called (when set). */
void	stream_detach(stream_t *s, enum stream_side from);

#endif
