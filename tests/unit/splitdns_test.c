/*
 * splitdns_test: daemon/splitdns*.c.
 *
 * resolvectl: a fake one named by $NGROKD_RESOLVECTL (the real one is never
 * run: the override is used or refused, never passed over).  The fake
 * appends its arguments (one "|"-terminated field each, one line per run)
 * to $SPLITDNS_TEST_LOG and behaves as $SPLITDNS_TEST_MODE says: "ok",
 * "down" (fails like resolvectl without resolved), "old" (no default-route
 * verb, like systemd < 240) or "hang".
 *
 * Resolver files and the registration's record: a temporary directory
 * stands for /etc/resolver and another for the state dir.
 */
#include <dirent.h>
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
#include <sys/socket.h>
#include <netinet/in.h>
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
    "fd) [ -e /proc/$$/fd/$SPLITDNS_TEST_FD ] && echo inherited >> "
    "\"$SPLITDNS_TEST_LOG\";;\n"
    "esac\n"
    "exit 0\n";

struct fixture {
	char	dir[64];
	char	log[96];
	char	bin[96];
	char	res[96];	/* stands for /etc/resolver */
	char	state[96];	/* the state dir */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	FILE *fp;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/splitdns_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->log, sizeof(f->log), "%s/log", f->dir);
	snprintf(f->bin, sizeof(f->bin), "%s/resolvectl", f->dir);
	snprintf(f->res, sizeof(f->res), "%s/resolver", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	assert_int_equal(mkdir(f->state, 0700), 0);
	assert_non_null(fp = fopen(f->bin, "w"));
	fputs(fake, fp);
	fclose(fp);
	assert_int_equal(chmod(f->bin, 0755), 0);
	setenv(SPLITDNS_ENV_RESOLVECTL, f->bin, 1);
	setenv("SPLITDNS_TEST_LOG", f->log, 1);
	setenv("SPLITDNS_TEST_MODE", "ok", 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[200];

	unsetenv(SPLITDNS_ENV_RESOLVECTL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
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

static int
exists(const char *dir, const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

/* Entries of dir other than . and .. (temporary files included). */
static int
count_entries(const char *dir)
{
	struct dirent *de;
	DIR *dp = opendir(dir);
	int n = 0;

	assert_non_null(dp);
	while ((de = readdir(dp)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(dp);
	return n;
}

static char *
slurp(const char *dir, const char *name)
{
	static char buf[4096];
	char p[256];
	FILE *fp;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((fp = fopen(p, "r")) == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return buf;
}

static void
put(const char *dir, const char *name, const char *text)
{
	char p[256];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_non_null(fp = fopen(p, "w"));
	fputs(text, fp);
	fclose(fp);
}

/* --- resolvectl ------------------------------------------------------------ */

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
	assert_int_equal(splitdns_revert("ngrokd0", 0, NULL, 0), 0);
	assert_string_equal(read_log(f), "revert|ngrokd0|\n");
}

/* A descriptor another thread opened without close-on-exec yet is not
 * inherited by resolvectl. */
static void
test_no_fd_inherited(void **state)
{
	struct fixture *f = *state;
	char num[16];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);	/* no SOCK_CLOEXEC */

	assert_true(fd > 2);
	snprintf(num, sizeof(num), "%d", fd);
	setenv("SPLITDNS_TEST_FD", num, 1);
	setenv("SPLITDNS_TEST_MODE", "fd", 1);
	assert_int_equal(splitdns_revert("ngrokd0", 0, NULL, 0), 0);
	assert_string_equal(read_log(f), "revert|ngrokd0|\n");
	unsetenv("SPLITDNS_TEST_MODE");
	close(fd);
}

static void
test_resolved_down(void **state)
{
	struct fixture *f = *state;
	struct splitdns_params p = params();
	char err[SPLITDNS_ERR_LEN] = "";

	setenv("SPLITDNS_TEST_MODE", "down", 1);
	p.err = err;
	p.errlen = sizeof(err);
	assert_int_equal(splitdns_apply(&p), -EIO);
	/* One line: the command, its status, resolvectl's first line. */
	assert_string_equal(err, "resolvectl dns ngrokd0: exit 1: Failed to "
	    "set DNS configuration: Unit dbus-org.freedesktop.resolve1.service "
	    "not found.; systemd-resolved is probably not running");
	/* Stops at the first failure. */
	assert_string_equal(read_log(f), "dns|ngrokd0|10.107.0.2|\n");
	assert_int_equal(splitdns_revert("ngrokd0", 0, err, sizeof(err)), -EIO);
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

/* Without the override, resolvectl comes from fixed system directories,
 * never from $PATH. */
static void
test_not_from_path(void **state)
{
	struct fixture *f = *state;
	char bin[256], err[SPLITDNS_ERR_LEN] = "";
	const char *old = getenv("PATH");
	char *saved = strdup(old != NULL ? old : "/usr/bin:/bin");
	int r;

	unsetenv(SPLITDNS_ENV_RESOLVECTL);
	setenv("PATH", f->dir, 1);	/* the fake is first on PATH */
	r = splitdns_resolvectl(bin, sizeof(bin), err, sizeof(err));
	setenv("PATH", saved, 1);
	free(saved);
	if (r == 0) {
		assert_string_not_equal(bin, f->bin);
		assert_true(strncmp(bin, "/usr/", 5) == 0 ||
		    strncmp(bin, "/bin/", 5) == 0 || strncmp(bin, "/sbin/", 6) == 0);
	} else {
		/* This machine has no resolvectl (no systemd-resolved). */
		struct splitdns_params p = params();

		assert_int_equal(r, -ENOENT);
		assert_non_null(strstr(err, "resolvectl not found"));
		assert_int_equal(splitdns_apply(&p), -ENOENT);
	}
	assert_string_equal(read_log(f), "");
}

/* An override that someone else could have changed is refused, and then
 * nothing runs at all (not the system's resolvectl either). */
static void
test_override_refused(void **state)
{
	struct fixture *f = *state;
	struct splitdns_params p = params();
	char bin[256], err[SPLITDNS_ERR_LEN] = "";

	p.err = err;
	p.errlen = sizeof(err);
	assert_int_equal(chmod(f->bin, 0777), 0);
	assert_int_equal(splitdns_apply(&p), -EPERM);
	assert_non_null(strstr(err, "writable by group or others"));
	assert_int_equal(chmod(f->bin, 0755), 0);
	assert_int_equal(chmod(f->dir, 0777), 0);
	assert_int_equal(splitdns_revert("ngrokd0", 0, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(f->dir, 0700), 0);
	setenv(SPLITDNS_ENV_RESOLVECTL, "resolvectl", 1);
	assert_int_equal(splitdns_resolvectl(bin, sizeof(bin), err, sizeof(err)),
	    -EPERM);
	assert_non_null(strstr(err, "not an absolute path"));
	setenv(SPLITDNS_ENV_RESOLVECTL, f->dir, 1);	/* a directory */
	assert_int_equal(splitdns_apply(&p), -EPERM);
	assert_string_equal(read_log(f), "");
	setenv(SPLITDNS_ENV_RESOLVECTL, f->bin, 1);
	assert_int_equal(splitdns_resolvectl(bin, sizeof(bin), err, sizeof(err)), 0);
	assert_string_equal(bin, f->bin);
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
		{ "*." }, { "a.example." }, { "../etc" }, { "a/b" },
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
	assert_int_equal(splitdns_revert("bad name", 0, NULL, 0), -EINVAL);
	assert_string_equal(read_log(f), "");
}

/* --- names ------------------------------------------------------------------ */

static void
test_domain_set(void **state)
{
	static const char *const names[] = {
		"my-api.ngrok.app", "*.Apps.Example", "x.apps.example",
		"a b.example", "B.test", "b.test", "xapps.example",
		"deep.x.apps.example", "apps.example", "",
	};
	char **v, buf[SPLITDNS_MAX_NAME + 1];
	size_t n, skipped;

	(void)state;
	assert_int_equal(splitdns_domains(names, sizeof(names) / sizeof(names[0]),
	    &v, &n, &skipped), 0);
	/* Sorted; "*." dropped; duplicates and names below a member gone;
	 * "xapps.example" is not below "apps.example". */
	assert_int_equal(n, 4);
	assert_string_equal(v[0], "apps.example");
	assert_string_equal(v[1], "b.test");
	assert_string_equal(v[2], "my-api.ngrok.app");
	assert_string_equal(v[3], "xapps.example");
	assert_null(v[4]);
	assert_int_equal(skipped, 2);
	splitdns_domains_free(v);
	assert_int_equal(splitdns_domains(NULL, 0, &v, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_null(v[0]);
	splitdns_domains_free(v);
	/* 10,000 endpoints (the size discovery is tested with): every name
	 * below one of 500 wildcards, fast (runs on the loop thread). */
	{
		static char names_buf[10000][40];
		const char *big[10000];
		struct timespec a, b;
		long ms;
		size_t i;

		for (i = 0; i < 10000; i++) {
			if (i < 500)
				snprintf(names_buf[i], sizeof(names_buf[i]),
				    "*.w%zu.example", i);
			else
				snprintf(names_buf[i], sizeof(names_buf[i]),
				    "h%zu.w%zu.example", i, i % 500);
			big[i] = names_buf[i];
		}
		clock_gettime(CLOCK_MONOTONIC, &a);
		assert_int_equal(splitdns_domains(big, 10000, &v, &n, &skipped), 0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
		assert_int_equal(n, 500);
		assert_int_equal(skipped, 0);
		assert_true(ms < 500);
		print_message("10,000 names -> 500 domains in %ld ms\n", ms);
		splitdns_domains_free(v);
	}
	assert_int_equal(splitdns_domain_norm("*.A-1.Example", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "a-1.example");
	assert_int_equal(splitdns_domain_norm("*.*.a", buf, sizeof(buf)), -1);
	assert_int_equal(splitdns_domain_norm("a.b", buf, 3), -1);	/* no room */
}

/* --- resolver files ---------------------------------------------------------- */

static const char want_file[] = SPLITDNS_FILE_MARKER "\n"
    "nameserver 10.107.0.2\nport 53\n";

static void
test_files_apply_remove(void **state)
{
	struct fixture *f = *state;
	static const char *const d[] = { "apps.example", "*.Wild.Example",
	    "theirs.example", "link.example" };
	char err[SPLITDNS_ERR_LEN] = "", p[256];

	/* The directory is created; an operator's file and a symlink are
	 * left alone and reported; the others are written. */
	assert_int_equal(mkdir(f->res, 0755), 0);
	put(f->res, "theirs.example", "nameserver 192.0.2.53\n");
	snprintf(p, sizeof(p), "%s/link.example", f->res);
	assert_int_equal(symlink("/etc/hostname", p), 0);
	assert_int_equal(splitdns_files_apply(f->res, 0x0a6b0002, d, 4, err,
	    sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "theirs.example: exists and was not "
	    "written by ngrokd; left alone"));
	assert_string_equal(slurp(f->res, "apps.example"), want_file);
	assert_string_equal(slurp(f->res, "wild.example"), want_file);
	assert_string_equal(slurp(f->res, "theirs.example"), "nameserver 192.0.2.53\n");
	/* Ours is replaced on the next apply (another server). */
	assert_int_equal(splitdns_files_apply(f->res, 0x0a6c0002, d, 2, NULL, 0), 0);
	assert_non_null(strstr(slurp(f->res, "apps.example"), "nameserver 10.108.0.2\n"));
	/* Remove: ours only, missing ones are fine, no temporary files left. */
	assert_int_equal(splitdns_files_remove(f->res, d, 4, err, sizeof(err)), 0);
	assert_false(exists(f->res, "apps.example"));
	assert_false(exists(f->res, "wild.example"));
	assert_true(exists(f->res, "theirs.example"));
	assert_int_equal(splitdns_files_remove(f->res, d, 4, NULL, 0), 0);
	assert_int_equal(count_entries(f->res), 2);	/* theirs, the link */
	assert_string_equal(slurp(f->res, "theirs.example"), "nameserver 192.0.2.53\n");
	/* A removed directory is not an error. */
	assert_int_equal(splitdns_files_remove("/nonexistent/resolver", d, 1,
	    NULL, 0), 0);
}

static void
test_files_sweep(void **state)
{
	struct fixture *f = *state;
	static const char *const d[] = { "a.example", "b.example" };

	assert_int_equal(splitdns_files_apply(f->res, 0x0a6b0002, d, 2, NULL, 0), 0);
	put(f->res, "c.example", "# ngrokd managed, but not the marker line\n");
	put(f->res, "d.example", "nameserver 192.0.2.1\n" SPLITDNS_FILE_MARKER "\n");
	assert_int_equal(splitdns_files_sweep(f->res), 2);
	assert_false(exists(f->res, "a.example"));
	assert_false(exists(f->res, "b.example"));
	assert_true(exists(f->res, "c.example"));
	assert_true(exists(f->res, "d.example"));
	assert_int_equal(splitdns_files_sweep("/nonexistent/resolver"), 0);
}

/* --- the registration ---------------------------------------------------------- */

static splitdns_t *
new_reg(struct fixture *f, enum splitdns_kind kind, const char *ifname)
{
	struct splitdns_config c = {
		.backend = { kind, kind == SPLITDNS_FILES ? f->res : NULL },
		.ifname = ifname, .server = 0x0a6b0002, .state_dir = f->state,
		.timeout_ms = 2000,
	};
	splitdns_t *s = splitdns_new(&c);

	assert_non_null(s);
	return s;
}

static void
test_reg_resolved(void **state)
{
	struct fixture *f = *state;
	static const char *const eps1[] = { "b.test", "*.apps.example", "a.test" };
	static const char *const eps2[] = { "a.test", "b.test", "*.apps.example",
	    "x.apps.example" };
	static const char *const eps3[] = { "a.test", "c.test", "*.apps.example" };
	struct splitdns_status st;
	splitdns_t *s = new_reg(f, SPLITDNS_RESOLVED, "ngrokd0");
	char *rec;

	splitdns_get_status(s, &st);
	assert_string_equal(st.state, "waiting");
	assert_int_equal(splitdns_set_domains(s, eps1, 3), 0);
	assert_int_equal(splitdns_sync(s, 5000), 0);
	assert_string_equal(read_log(f),
	    "dns|ngrokd0|10.107.0.2|\n"
	    "domain|ngrokd0|~a.test|~apps.example|~b.test|\n"
	    "default-route|ngrokd0|false|\n");
	splitdns_get_status(s, &st);
	assert_string_equal(st.state, "applied");
	assert_int_equal(st.n_domains, 3);
	assert_string_equal(splitdns_domain_at(s, 1), "apps.example");
	assert_null(splitdns_domain_at(s, 3));
	assert_non_null(rec = slurp(f->state, SPLITDNS_RECORD));
	assert_non_null(strstr(rec, "\"backend\":\"systemd-resolved\""));
	assert_non_null(strstr(rec, "\"interface\":\"ngrokd0\""));
	/* The same set (in another order, with a covered name): nothing runs. */
	assert_int_equal(splitdns_set_domains(s, eps2, 4), 0);
	assert_int_equal(splitdns_sync(s, 5000), 0);
	assert_string_equal(read_log(f), "");
	/* Another set: applied again; a recreated link: applied again. */
	assert_int_equal(splitdns_set_domains(s, eps3, 3), 0);
	assert_int_equal(splitdns_sync(s, 5000), 0);
	assert_non_null(strstr(read_log(f),
	    "domain|ngrokd0|~a.test|~apps.example|~c.test|\n"));
	splitdns_reapply(s);
	assert_int_equal(splitdns_sync(s, 5000), 0);
	assert_non_null(strstr(read_log(f), "dns|ngrokd0|10.107.0.2|\n"));
	/* No endpoints left: reverted. */
	assert_int_equal(splitdns_set_domains(s, NULL, 0), 0);
	assert_int_equal(splitdns_sync(s, 5000), 0);
	assert_string_equal(read_log(f), "revert|ngrokd0|\n");
	splitdns_get_status(s, &st);
	assert_string_equal(st.state, "waiting");
	/* Exit: nothing registered, nothing to revert; the record goes. */
	splitdns_free(s);
	assert_string_equal(read_log(f), "");
	assert_false(exists(f->state, SPLITDNS_RECORD));

	s = new_reg(f, SPLITDNS_RESOLVED, "ngrokd0");
	assert_int_equal(splitdns_set_domains(s, eps1, 3), 0);
	assert_int_equal(splitdns_sync(s, 5000), 0);
	(void)read_log(f);
	splitdns_free(s);	/* clean exit: reverted, record removed */
	assert_string_equal(read_log(f), "revert|ngrokd0|\n");
	assert_false(exists(f->state, SPLITDNS_RECORD));
}

static void
test_reg_resolved_down(void **state)
{
	struct fixture *f = *state;
	static const char *const eps[] = { "a.test" };
	struct splitdns_status st;
	splitdns_t *s = new_reg(f, SPLITDNS_RESOLVED, "ngrokd0");

	setenv("SPLITDNS_TEST_MODE", "down", 1);
	assert_int_equal(splitdns_set_domains(s, eps, 1), 0);
	assert_int_equal(splitdns_sync(s, 5000), 0);
	splitdns_get_status(s, &st);
	assert_string_equal(st.state, "failed");
	assert_non_null(strstr(st.error, "resolvectl dns ngrokd0: exit 1: "
	    "Failed to set DNS configuration"));
	splitdns_free(s);
	/* The record is gone even though the revert failed: resolved
	 * forgets the link when the device goes. */
	assert_false(exists(f->state, SPLITDNS_RECORD));
}

static void
test_reg_files(void **state)
{
	struct fixture *f = *state;
	static const char *const eps1[] = { "a.test", "*.apps.example" };
	static const char *const eps2[] = { "b.test", "*.apps.example" };
	struct splitdns_status st;
	splitdns_t *s = new_reg(f, SPLITDNS_FILES, "utun7");
	char *rec;

	assert_int_equal(splitdns_set_domains(s, eps1, 2), 0);
	assert_int_equal(splitdns_sync(s, 5000), 0);
	assert_string_equal(slurp(f->res, "a.test"), want_file);
	assert_string_equal(slurp(f->res, "apps.example"), want_file);
	assert_non_null(rec = slurp(f->state, SPLITDNS_RECORD));
	assert_non_null(strstr(rec, "\"backend\":\"files\""));
	assert_non_null(strstr(rec, "\"domains\":[\"a.test\",\"apps.example\"]"));
	/* a.test goes, b.test comes. */
	assert_int_equal(splitdns_set_domains(s, eps2, 2), 0);
	assert_int_equal(splitdns_sync(s, 5000), 0);
	assert_false(exists(f->res, "a.test"));
	assert_true(exists(f->res, "b.test"));
	assert_true(exists(f->res, "apps.example"));
	assert_non_null(strstr(slurp(f->state, SPLITDNS_RECORD),
	    "\"domains\":[\"apps.example\",\"b.test\"]"));
	splitdns_get_status(s, &st);
	assert_string_equal(st.state, "applied");
	/* An operator's file for a managed domain: left alone, reported. */
	put(f->res, "c.test", "nameserver 192.0.2.1\n");
	{
		static const char *const eps3[] = { "c.test", "b.test" };

		assert_int_equal(splitdns_set_domains(s, eps3, 2), 0);
	}
	assert_int_equal(splitdns_sync(s, 5000), 0);
	splitdns_get_status(s, &st);
	assert_string_equal(st.state, "failed");
	assert_non_null(strstr(st.error, "c.test: exists and was not written by ngrokd"));
	assert_false(exists(f->res, "apps.example"));
	splitdns_free(s);
	assert_false(exists(f->res, "b.test"));
	assert_string_equal(slurp(f->res, "c.test"), "nameserver 192.0.2.1\n");
	assert_false(exists(f->state, SPLITDNS_RECORD));
}

/* What a crash leaves (the record and the files), cleaned up at start. */
static void
test_cleanup_after_crash(void **state)
{
	struct fixture *f = *state;
	static const char *const eps[] = { "a.test", "*.apps.example" };
	struct splitdns_backend files = { SPLITDNS_FILES, f->res };
	struct splitdns_backend resolved = { SPLITDNS_RESOLVED, NULL };
	char rec[1024];
	splitdns_t *s = new_reg(f, SPLITDNS_FILES, "utun7");

	/* Nothing to do without a record. */
	assert_int_equal(splitdns_cleanup(&files, f->state, 0), 0);
	assert_int_equal(splitdns_set_domains(s, eps, 2), 0);
	assert_int_equal(splitdns_sync(s, 5000), 0);
	snprintf(rec, sizeof(rec), "%s", slurp(f->state, SPLITDNS_RECORD));
	splitdns_free(s);
	/* Put back what the crashed run would have left. */
	assert_int_equal(splitdns_files_apply(f->res, 0x0a6b0002, eps, 2, NULL, 0), 0);
	put(f->state, SPLITDNS_RECORD, rec);
	put(f->res, "mine.example", "nameserver 192.0.2.1\n");
	assert_int_equal(splitdns_cleanup(&files, f->state, 0), 1);
	assert_false(exists(f->res, "a.test"));
	assert_false(exists(f->res, "apps.example"));
	assert_true(exists(f->res, "mine.example"));
	assert_false(exists(f->state, SPLITDNS_RECORD));

	/* An unreadable record: every marked file goes, others stay. */
	assert_int_equal(splitdns_files_apply(f->res, 0x0a6b0002, eps, 2, NULL, 0), 0);
	put(f->state, SPLITDNS_RECORD, "{\"backend\": 7");
	assert_int_equal(splitdns_cleanup(&files, f->state, 0), 1);
	assert_false(exists(f->res, "a.test"));
	assert_true(exists(f->res, "mine.example"));
	assert_false(exists(f->state, SPLITDNS_RECORD));

	/* resolved, the link gone with the crashed process: nothing runs. */
	put(f->state, SPLITDNS_RECORD, "{\"backend\":\"systemd-resolved\","
	    "\"interface\":\"ngrokdgone9\",\"domains\":[\"a.test\"]}");
	assert_int_equal(splitdns_cleanup(&resolved, f->state, 0), 1);
	assert_string_equal(read_log(f), "");
	assert_false(exists(f->state, SPLITDNS_RECORD));
	/* resolved, the link still there ("lo" stands for a device that
	 * outlived the process): reverted. */
	put(f->state, SPLITDNS_RECORD, "{\"backend\":\"systemd-resolved\","
	    "\"interface\":\"lo\",\"domains\":[\"a.test\"]}");
	assert_int_equal(splitdns_cleanup(&resolved, f->state, 0), 1);
	assert_string_equal(read_log(f), "revert|lo|\n");
	/* A hostile interface name in the record runs nothing. */
	put(f->state, SPLITDNS_RECORD, "{\"backend\":\"systemd-resolved\","
	    "\"interface\":\"-rf\",\"domains\":[]}");
	assert_int_equal(splitdns_cleanup(&resolved, f->state, 0), 1);
	assert_string_equal(read_log(f), "");
	assert_false(exists(f->state, SPLITDNS_RECORD));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apply_and_revert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_fd_inherited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolved_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_systemd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_from_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_override_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hang_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names_run_nothing, setup, teardown),
		cmocka_unit_test(test_domain_set),
		cmocka_unit_test_setup_teardown(test_files_apply_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reg_resolved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reg_resolved_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reg_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_after_crash, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
