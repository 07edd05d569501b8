/*
 * splitdns_test: daemon/splitdns.c against a fake resolvectl placed first
 * on PATH.  The fake appends its arguments (one "|"-terminated field each,
 * one line per run) to $SPLITDNS_TEST_LOG and behaves as $SPLITDNS_TEST_MODE
 * says: "ok", "down" (fails like resolvectl without resolved), "old" (no
 * default-route verb, like systemd < 240) or "hang".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/splitdns.h"

static const char fake[] =
    "#!/bin/sh\n"
    "for a in \"$@\"; do printf '%s|' \"$a\"; done >> \"$SPLITDNS_TEST_LOG\"\n"
    "echo >> \"$SPLITDNS_TEST_LOG\"\n"
    "case \"$SPLITDNS_TEST_MODE\" in\n"
    "down) echo 'Failed to set DNS configuration: Unit dbus-org.freedesktop."
    "resolve1.service not found.' >&2; echo 'second line' >&2; exit 1;;\n"
    "old) [ \"$1\" = default-route ] && { echo 'Unknown command verb "
    "default-route.' >&2; exit 1; };;\n"
    "hang) exec sleep 30;;\n"
    "esac\n"
    "exit 0\n";

struct fixture {
	char	dir[64];
	char	log[96];
	char	bin[96];
	char	*old_path;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *p = getenv("PATH");
	char path[4096];
	FILE *fp;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/splitdns_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->log, sizeof(f->log), "%s/log", f->dir);
	snprintf(f->bin, sizeof(f->bin), "%s/resolvectl", f->dir);
	assert_non_null(fp = fopen(f->bin, "w"));
	fputs(fake, fp);
	fclose(fp);
	assert_int_equal(chmod(f->bin, 0755), 0);
	f->old_path = strdup(p != NULL ? p : "/usr/bin:/bin");
	snprintf(path, sizeof(path), "%s:%s", f->dir, f->old_path);
	setenv("PATH", path, 1);
	setenv("SPLITDNS_TEST_LOG", f->log, 1);
	setenv("SPLITDNS_TEST_MODE", "ok", 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	setenv("PATH", f->old_path, 1);
	unlink(f->log);
	unlink(f->bin);
	rmdir(f->dir);
	free(f->old_path);
	free(f);
	return 0;
}

/* The fake's log ("" when it never ran). */
static char *
read_log(struct fixture *f)
{
	static char buf[8192];
	FILE *fp = fopen(f->log, "r");
	size_t n = 0;

	if (fp != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
	unlink(f->log);
	return buf;
}

static const char *const domains[] = {
	"my-api.ngrok.app", "*.Apps.Example", "_svc.internal",
};

static struct splitdns_params
params(void)
{
	struct splitdns_params p = { 0 };

	p.ifname = "ngrokd0";
	p.server = 0x0a6b0002;
	p.domains = domains;
	p.n_domains = 3;
	return p;
}

static void
test_apply_and_revert(void **state)
{
	struct fixture *f = *state;
	struct splitdns_params p = params();

	assert_int_equal(splitdns_apply(&p), 0);
	assert_string_equal(read_log(f),
	    "dns|ngrokd0|10.107.0.2|\n"
	    "domain|ngrokd0|~my-api.ngrok.app|~apps.example|~_svc.internal|\n"
	    "default-route|ngrokd0|false|\n");
	assert_int_equal(splitdns_revert("ngrokd0", 0), 0);
	assert_string_equal(read_log(f), "revert|ngrokd0|\n");
}

static void
test_resolved_down(void **state)
{
	struct fixture *f = *state;
	struct splitdns_params p = params();

	setenv("SPLITDNS_TEST_MODE", "down", 1);
	assert_int_equal(splitdns_apply(&p), -EIO);
	/* Stops at the first failure. */
	assert_string_equal(read_log(f), "dns|ngrokd0|10.107.0.2|\n");
	assert_int_equal(splitdns_revert("ngrokd0", 0), -EIO);
}

static void
test_old_systemd(void **state)
{
	struct fixture *f = *state;
	struct splitdns_params p = params();

	setenv("SPLITDNS_TEST_MODE", "old", 1);
	assert_int_equal(splitdns_apply(&p), 0);
	assert_non_null(strstr(read_log(f), "default-route|ngrokd0|false|\n"));
}

static void
test_no_resolvectl(void **state)
{
	struct fixture *f = *state;
	struct splitdns_params p = params();

	setenv("PATH", f->dir, 1);
	unlink(f->bin);
	assert_int_equal(splitdns_apply(&p), -ENOENT);
	assert_int_equal(splitdns_revert("ngrokd0", 0), -ENOENT);
}

static void
test_hang_is_bounded(void **state)
{
	struct fixture *f = *state;
	struct splitdns_params p = params();
	struct timespec a, b;
	long ms;

	setenv("SPLITDNS_TEST_MODE", "hang", 1);
	p.timeout_ms = 300;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(splitdns_apply(&p), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 300 && ms < 3000);
	assert_string_equal(read_log(f), "dns|ngrokd0|10.107.0.2|\n");
}

static void
test_bad_names_run_nothing(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[][1] = {
		{ "-x.example" }, { "a b.example" }, { "evil;reboot" },
		{ "a..example" }, { "" }, { "x-.example" }, { "~already" },
		{ "*." }, { "a.example." },
	};
	struct splitdns_params p = params();
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p.domains = bad[i];
		p.n_domains = 1;
		assert_int_equal(splitdns_apply(&p), -EINVAL);
	}
	p = params();
	p.ifname = "-rf";
	assert_int_equal(splitdns_apply(&p), -EINVAL);
	p.ifname = "a-very-long-interface";
	assert_int_equal(splitdns_apply(&p), -EINVAL);
	p = params();
	p.n_domains = 0;
	assert_int_equal(splitdns_apply(&p), -EINVAL);
	assert_int_equal(splitdns_revert("bad name", 0), -EINVAL);
	assert_string_equal(read_log(f), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apply_and_revert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolved_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_systemd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_resolvectl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hang_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names_run_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
