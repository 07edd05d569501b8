/* stream.c: the front/back seam (see stream.h). */
#include <errno.h>
#include <stdlib.h>

#include "daemon/stream.h"

stream_t *
stream_new(const struct stream_ops *front_ops, void *front)
{
	stream_t *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->half[STREAM_FRONT].ops = front_ops;
	s->half[STREAM_FRONT].self = front;
	s->attached = 1 << STREAM_FRONT;
	return s;
}

void
stream_attach_back(stream_t *s, const struct stream_ops *ops, void *back)
{
	s->half[STREAM_BACK].ops = ops;
	s->half[STREAM_BACK].self = back;
	s->attached |= 1 << STREAM_BACK;
}

static struct stream_half *
peer(stream_t *s, enum stream_side from)
{
	int to = from == STREAM_FRONT ? STREAM_BACK : STREAM_FRONT;

	if (!(s->attached & (1 << to)))
		return NULL;
	return &s->half[to];
}

ssize_t
stream_send(stream_t *s, enum stream_side from, const void *buf, size_t len)
{
	struct stream_half *h = peer(s, from);

	if (h == NULL)
		return -EPIPE;
	return h->ops->send(h->self, buf, len);
}

void
stream_resume(stream_t *s, enum stream_side from)
{
	struct stream_half *h = peer(s, from);

	if (h != NULL && h->ops->resume != NULL)
		h->ops->resume(h->self);
}

void
stream_shutdown(stream_t *s, enum stream_side from)
{
	struct stream_half *h = peer(s, from);

	if (h != NULL)
		h->ops->shutdown(h->self);
}

void
stream_abort(stream_t *s, enum stream_side from, int err)
{
	struct stream_half *h = peer(s, from);

	if (h != NULL)
		h->ops->abort(h->self, err);
}

void
stream_detach(stream_t *s, enum stream_side from)
{
	s->attached &= ~(1 << from);
	s->half[from].ops = NULL;
	s->half[from].self = NULL;
	if (s->attached != 0)
		return;
	if (s->endpoint_release != NULL && s->endpoint != NULL)
		s->endpoint_release(s->endpoint);
	free(s);
}
