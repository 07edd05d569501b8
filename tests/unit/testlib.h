/*
 * tests/unit/testlib.h: small helpers several unit tests share.  Include it
 * after <cmocka.h>; everything is static, so each test takes what it uses.
 */
#ifndef TESTS_UNIT_TESTLIB_H
#define TESTS_UNIT_TESTLIB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * tmpdir: a directory of the test's own, made by tmpdir_make before the
 * first test and removed with its contents by tmpdir_remove after the last
 * (cmocka_run_group_tests(tests, tmpdir_make, tmpdir_remove)).
 */
static char tmpdir[64] __attribute__((unused));

static inline int
tmpdir_make(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ngrokd_unit.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static inline int
tmpdir_remove(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * An Internet checksum computed independently of the code under test:
 * csum_add adds b's 16-bit big-endian words (an odd last byte padded with
 * zero) to the sum s; csum_fold folds the carries.  A packet whose checksum
 * is right sums, with its pseudo-header, to 0xffff.
 */
static inline uint32_t
csum_add(const uint8_t *b, size_t len, uint32_t s)
{
	for (; len >= 2; b += 2, len -= 2)
		s += (uint32_t)b[0] << 8 | b[1];
	if (len)
		s += (uint32_t)b[0] << 8;
	return s;
}

static inline uint16_t
csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

#endif
