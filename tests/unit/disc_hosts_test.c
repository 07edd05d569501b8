/* disc_hosts_test.c: the managed block of the hosts file. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "discovery/disc_priv.h"
#include "tests/unit/testlib.h"

static char *
render(const char *in, const struct disc_hosts_ent *e, size_t n)
{
	char *out, err[256];
	size_t len;

	assert_int_equal(disc_hosts_render(in, strlen(in), e, n, &out, &len,
	    err, sizeof(err)), 0);
	assert_int_equal(strlen(out), len);
	return out;
}

static const struct disc_hosts_ent two[] = {
	{ "zeta.example", 0x0a6b0003 },
	{ "*.wild.example", 0x0a6b0005 },
	{ "alpha.example", 0x0a6b0004 },
	{ "zeta.example", 0x0a6b0003 },		/* second port, same host */
};

#define BLOCK	"# BEGIN ngrokd managed block\n" \
		"10.107.0.4 alpha.example\n" \
		"10.107.0.3 zeta.example\n" \
		"# END ngrokd managed block"

static void
test_render_forms(void **state)
{
	static const char *inputs[] = {
		"", "127.0.0.1 localhost\n", "127.0.0.1 localhost",
		"a\r\nb\r\n", "\n\n", "# comment\n::1 ip6\n\n",
	};
	size_t i;
	char *o, *back;

	o = render("127.0.0.1 localhost\n", two, 4);
	assert_string_equal(o, "127.0.0.1 localhost\n" BLOCK "\n");
	free(o);
	o = render("127.0.0.1 localhost", two, 4);
	assert_string_equal(o, "127.0.0.1 localhost\n" BLOCK);
	free(o);
	/* Adding then removing gives back every input exactly. */
	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		o = render(inputs[i], two, 4);
		back = render(o, NULL, 0);
		assert_string_equal(back, inputs[i]);
		free(o);
		free(back);
	}
	/* A block in the middle is replaced in place. */
	o = render("a\n" BLOCK "\nb\n", two, 1);
	assert_string_equal(o, "a\n# BEGIN ngrokd managed block\n"
	    "10.107.0.3 zeta.example\n# END ngrokd managed block\nb\n");
	free(o);
}

static void
test_begin_without_end(void **state)
{
	char *out, err[256];
	size_t len;
	const char *in = "a\n# BEGIN ngrokd managed block\n1.2.3.4 x\n";

	assert_int_equal(disc_hosts_render(in, strlen(in), two, 1, &out, &len,
	    err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 2"));
}

static char *
slurp(const char *path, size_t *len)
{
	char *b;

	assert_int_equal(disc_read_file(path, 1 << 24, &b, len), 0);
	return b;
}

static void
put(const char *path, const char *s, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, len), (ssize_t)len);
	close(fd);
	chmod(path, mode);
}

/* Other content survives 100 updates byte for byte; mode is kept. */
static void
test_hundred_updates(void **state)
{
	static const char other_a[] = "127.0.0.1\tlocalhost\n# keep me  \t\n",
	    other_b[] = "\n::1 ip6-localhost ip6-loopback\r\nno-final-newline";
	struct disc_hosts_ent ents[50];
	char path[128], names[50][48], err[256], *got;
	size_t len, i, n;
	struct stat sb;
	int round;

	snprintf(path, sizeof(path), "%s/hosts", tmpdir);
	put(path, other_a, strlen(other_a), 0640);
	for (round = 0; round < 100; round++) {
		n = (size_t)(round % 50);
		for (i = 0; i < n; i++) {
			snprintf(names[i], sizeof(names[i]), "h%zu-%d.example",
			    i, round % 7);
			ents[i].host = names[i];
			ents[i].addr = 0x0a6b0003u + (uint32_t)i;
		}
		assert_int_equal(disc_hosts_update(path, ents, n, err,
		    sizeof(err)), 0);
		if (round == 50) {
			/* Someone appends a line after our block. */
			got = slurp(path, &len);
			free(got);
			int fd = open(path, O_WRONLY | O_APPEND);
			assert_int_equal(write(fd, other_b, strlen(other_b)),
			    (ssize_t)strlen(other_b));
			close(fd);
		}
	}
	assert_int_equal(disc_hosts_update(path, NULL, 0, err, sizeof(err)), 0);
	got = slurp(path, &len);
	assert_int_equal(len, strlen(other_a) + strlen(other_b));
	assert_memory_equal(got, other_a, strlen(other_a));
	assert_memory_equal(got + strlen(other_a), other_b, strlen(other_b));
	free(got);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
}

static void
test_errors_and_symlink(void **state)
{
	char path[128], link[128], err[256], *got;
	size_t len;
	struct stat sb;

	snprintf(path, sizeof(path), "%s/adir", tmpdir);
	mkdir(path, 0755);
	assert_int_equal(disc_hosts_update(path, two, 1, err, sizeof(err)),
	    -EISDIR);
	assert_non_null(strstr(err, "is a directory"));
	/* A symlink keeps pointing at the file it names. */
	snprintf(path, sizeof(path), "%s/real", tmpdir);
	snprintf(link, sizeof(link), "%s/link", tmpdir);
	put(path, "x\n", 2, 0644);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(disc_hosts_update(link, two, 1, err, sizeof(err)), 0);
	assert_int_equal(lstat(link, &sb), 0);
	assert_true(S_ISLNK(sb.st_mode));
	got = slurp(path, &len);
	assert_non_null(strstr(got, "10.107.0.3 zeta.example"));
	free(got);
	/* A missing file is created; nothing to remove is no error. */
	snprintf(path, sizeof(path), "%s/new", tmpdir);
	assert_int_equal(disc_hosts_update(path, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(disc_hosts_update(path, two, 1, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
}

/* 10,000 host names: prints the update time (bench figure). */
static void
test_ten_thousand(void **state)
{
	struct disc_hosts_ent *ents = calloc(10000, sizeof(*ents));
	char (*names)[32] = calloc(10000, 32), path[128], err[256];
	struct timespec t0, t1;
	size_t i;

	snprintf(path, sizeof(path), "%s/big", tmpdir);
	put(path, "127.0.0.1 localhost\n", 20, 0644);
	for (i = 0; i < 10000; i++) {
		snprintf(names[i], 32, "h%zu.example", i);
		ents[i].host = names[i];
		ents[i].addr = 0x0a6b0003u + (uint32_t)i;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(disc_hosts_update(path, ents, 10000, err, sizeof(err)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# hosts update 10000 names: %.2f ms\n",
	    (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	free(ents);
	free(names);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_forms),
		cmocka_unit_test(test_begin_without_end),
		cmocka_unit_test(test_hundred_updates),
		cmocka_unit_test(test_errors_and_symlink),
		cmocka_unit_test(test_ten_thousand),
	};

	return cmocka_run_group_tests(tests, tmpdir_make, tmpdir_remove);
}
