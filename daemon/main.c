/*
 * main.c: ngrokd's command line.  Parses flags, loads the configuration and
 * hands over to daemon_run (daemon.c), which wires the modules together.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/log.h"

#define DEFAULT_CONFIG "/etc/ngrokd/config.yml"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ngrokd [--config FILE] [--foreground] [--pcap FILE]\n"
	    "              [--pcap-max-bytes N] [--log-level LEVEL] [--check]\n"
	    "              [--version] [--help]\n"
	    "\n"
	    "  -c, --config FILE        configuration file (default " DEFAULT_CONFIG ")\n"
	    "  -f, --foreground         stay in the foreground and log to stderr\n"
	    "      --pcap FILE          write every packet crossing the device to FILE\n"
	    "      --pcap-max-bytes N   stop capturing once FILE reaches N bytes\n"
	    "  -l, --log-level LEVEL    error, warn, info or debug (overrides the file)\n"
	    "  -n, --check              validate the configuration and exit\n"
	    "  -V, --version            print the version and exit\n"
	    "  -h, --help               print this help and exit\n");
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s == '\0' || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int
daemonize(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (setsid() == -1)
		return -errno;
	if ((pid = fork()) == -1)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		return -errno;
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config",		required_argument, NULL, 'c' },
		{ "foreground",		no_argument,	   NULL, 'f' },
		{ "pcap",		required_argument, NULL, 'p' },
		{ "pcap-max-bytes",	required_argument, NULL, 'm' },
		{ "log-level",		required_argument, NULL, 'l' },
		{ "check",		no_argument,	   NULL, 'n' },
		{ "version",		no_argument,	   NULL, 'V' },
		{ "help",		no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct daemon_opts dopts = { 0 };
	const char *path = NULL;
	char err[CFG_ERR_LEN];
	struct config cfg;
	int ch, check = 0, level = -1, r;
	uint64_t pcap_max = 0;

	while ((ch = getopt_long(argc, argv, "c:fl:nVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			dopts.foreground = 1;
			break;
		case 'p':
			dopts.pcap_file = optarg;
			break;
		case 'm':
			if (parse_u64(optarg, &pcap_max) != 0) {
				fprintf(stderr, "ngrokd: --pcap-max-bytes: \"%s\" is "
				    "not a byte count\n", optarg);
				return 2;
			}
			break;
		case 'l':
			if ((level = log_level_parse(optarg)) < 0) {
				fprintf(stderr, "ngrokd: --log-level: \"%s\" is not "
				    "one of error, warn, info, debug\n", optarg);
				return 2;
			}
			break;
		case 'n':
			check = 1;
			break;
		case 'V':
			printf("ngrokd %s\n", NGROKD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ngrokd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (pcap_max != 0 && dopts.pcap_file == NULL) {
		fprintf(stderr, "ngrokd: --pcap-max-bytes needs --pcap FILE\n");
		return 2;
	}

	log_init("ngrokd", 1, level >= 0 ? (enum log_level)level : LOG_LVL_INFO);
	if (path == NULL && access(DEFAULT_CONFIG, F_OK) != 0) {
		r = config_defaults(&cfg);
		if (r == 0 && !check)
			log_info("no %s: using the built-in defaults", DEFAULT_CONFIG);
	} else
		r = config_load(&cfg, path != NULL ? path : DEFAULT_CONFIG,
		    err, sizeof(err));
	if (r != 0) {
		fprintf(stderr, "ngrokd: %s\n", r == -ENOMEM ? "out of memory" : err);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK\n", cfg.path != NULL ? cfg.path :
		    "(built-in defaults)");
		config_free(&cfg);
		return 0;
	}
	if (level >= 0)
		cfg.log_level = level;
	cfg.pcap_max_bytes = pcap_max;
	dopts.config_path = path != NULL ? path : cfg.path;
	dopts.log_level_override = level;

	if (!dopts.foreground) {
		log_init("ngrokd", 0, (enum log_level)cfg.log_level);
		if ((r = daemonize()) != 0)
			fatalx("daemonize: %s", strerror(-r));
	}
	r = daemon_run(&cfg, &dopts);
	config_free(&cfg);
	return r == 0 ? 0 : 1;
}
