/*
 * metrics_hist.h: a fixed-bucket latency histogram that a module embeds in
 * its own stats (struct tunnel_stats, ...) and fills on the loop thread
 * with metrics_hist_observe; metrics_render (daemon/metrics.h) prints it
 * as a Prometheus histogram.  It is a plain value: copy it into the
 * snapshot.  Zero-initialised it is empty and uses the default latency
 * bounds (5 ms .. 10 s), so no init call is needed.
 */
#ifndef NGROKD_METRICS_HIST_H
#define NGROKD_METRICS_HIST_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_HIST_MAX_BOUNDS	16

struct metrics_hist {
	/* Upper bounds in seconds, ascending, nbounds <= METRICS_HIST_MAX_BOUNDS;
	 * NULL: the default latency bounds.  Must outlive every copy (use a
	 * static const array). */
	const double	*bounds;
	size_t		 nbounds;
	/* counts[i]: observations in (bounds[i - 1], bounds[i]] (not
	 * cumulative); counts[nbounds]: above the last bound (+Inf). */
	uint64_t	 counts[METRICS_HIST_MAX_BOUNDS + 1];
	uint64_t	 count;
	double		 sum;		/* seconds */
};

/* Records one observation in seconds (negative and NaN count as 0). */
void	metrics_hist_observe(struct metrics_hist *h, double seconds);
/* The same, from two loop_clock_ms() readings. */
void	metrics_hist_observe_ms(struct metrics_hist *h, uint64_t start_ms,
	    uint64_t end_ms);

#endif
