/*
 * log.h: logging in the OpenBSD style, shared by every module.
 *
 * Messages go to stderr (foreground, with a timestamp) or syslog.  Say where
 * and what: "tun_open: /dev/net/tun: Permission denied".  log_warn appends
 * strerror(errno); log_warnx does not.  log_debug is cheap when off.  fatal
 * and fatalx are for broken invariants at start-up only and exit(1).
 * Secrets are never passed to these functions.
 */
#ifndef NGROKD_LOG_H
#define NGROKD_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

enum log_format {
	LOG_FMT_TEXT = 0,
	LOG_FMT_JSON,
};

/* Sets up logging: to stderr when foreground, else to syslog as ident. */
void	log_init(const char *ident, int foreground, enum log_level level);
/* Also (or, in the background, only) log to syslog. */
void	log_set_syslog(int on);
void	log_set_level(enum log_level level);
void	log_set_format(enum log_format fmt);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 for anything else. */
int	log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* Arguments are not evaluated when debug logging is off. */
#define log_debug(...) do {						\
		if (log_get_level() >= LOG_LVL_DEBUG)			\
			log_debug_(__VA_ARGS__);			\
	} while (0)

#endif
