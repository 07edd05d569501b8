/*
 * log.c: OpenBSD-style logging.  The logger's settings are process-wide by
 * nature (stderr and syslog are), so they are the one piece of file-scope
 * state in the daemon.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"

static struct {
	int		 foreground;
	int		 use_syslog;
	enum log_level	 level;
	enum log_format	 format;
	const char	*ident;
} lg = { 1, 0, LOG_LVL_INFO, LOG_FMT_TEXT, "ngrokd" };

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
log_init(const char *ident, int foreground, enum log_level level)
{
	lg.ident = ident;
	lg.foreground = foreground;
	lg.use_syslog = !foreground;
	lg.level = level;
	if (lg.use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_syslog(int on)
{
	if (on && !lg.use_syslog)
		openlog(lg.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	lg.use_syslog = on || !lg.foreground;
}

void
log_set_level(enum log_level level)
{
	lg.level = level;
}

void
log_set_format(enum log_format fmt)
{
	lg.format = fmt;
}

enum log_level
log_get_level(void)
{
	return lg.level;
}

int
log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcmp(s, "warning") == 0)
		return LOG_LVL_WARN;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	return (unsigned)level < 4 ? level_names[level] : "?";
}

/* JSON string escaping for log_format json; control bytes become \u00XX. */
static void
json_escape(char *dst, size_t cap, const char *src)
{
	size_t o = 0;

	for (; *src != '\0' && o + 7 < cap; src++) {
		unsigned char c = (unsigned char)*src;

		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
		} else
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
}

static void
emit(enum log_level level, const char *msg)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char ts[40], esc[4096 * 2];
	struct timespec now;
	struct tm tm;

	if (level > lg.level)
		return;
	if (lg.use_syslog)
		syslog(prio[level], "%s", msg);
	if (!lg.foreground)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (lg.format == LOG_FMT_JSON) {
		json_escape(esc, sizeof(esc), msg);
		fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"%s\"}\n",
		    ts, now.tv_nsec / 1000000, level_names[level], esc);
	} else
		fprintf(stderr, "%s.%03ldZ %-5s %s\n", ts, now.tv_nsec / 1000000,
		    level_names[level], msg);
}

static void vlog(enum log_level, int, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
vlog(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
	char msg[4096];
	int saved = errno, n;

	if (level > lg.level)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(saved));
	emit(level, msg);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_WARN, 1, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_WARN, 0, fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_INFO, 0, fmt, ap);
	va_end(ap);
}

void
log_debug_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
