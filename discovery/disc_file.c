/*
 * disc_file.c: bounded reads and atomic replacement of small files (hosts
 * file, state, credentials).  A reader of the file sees the old or the new
 * content, never a mix, and a crash leaves one of the two.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "discovery/disc_priv.h"
#include "daemon/fdio.h"

int
disc_read_file(const char *path, size_t max, char **buf, size_t *len)
{
	struct stat sb;
	size_t n = 0;
	ssize_t r;
	char *b;
	int fd, e;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return -errno;
	if (fstat(fd, &sb) == -1)
		goto fail_errno;
	if (S_ISDIR(sb.st_mode)) {
		close(fd);
		return -EISDIR;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)sb.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	if ((b = malloc((size_t)sb.st_size + 1)) == NULL)
		goto fail_errno;
	/* The size may change under us: read to EOF, within max. */
	for (;;) {
		if (n == (size_t)sb.st_size) {
			char c;

			if ((r = read(fd, &c, 1)) == 0)
				break;
			free(b);
			close(fd);
			return r < 0 ? -errno : -EAGAIN;
		}
		r = read(fd, b + n, (size_t)sb.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			free(b);
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
fail_errno:
	e = errno;
	close(fd);
	return -e;
}

static void
sync_dir(const char *path)
{
	char dir[PATH_MAX];
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	(void)fsync(fd);
	close(fd);
}

int
disc_write_atomic(const char *path, const void *buf, size_t len,
    unsigned mode, int keep)
{
	char tmp[PATH_MAX];
	struct stat sb;
	int fd, r = 0, have = 0;

	if (stat(path, &sb) == 0) {
		if (S_ISDIR(sb.st_mode))
			return -EISDIR;
		have = 1;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.ngrokd-XXXXXX", path) >=
	    sizeof(tmp))
		return -ENAMETOOLONG;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
		return -errno;
	if (have && keep) {
		/* Root may hand the file back to its owner; anyone else
		 * already owns what it writes. */
		if (fchown(fd, sb.st_uid, sb.st_gid) == -1 && errno != EPERM) {
			r = -errno;
			goto fail;
		}
		mode = sb.st_mode & 07777;
	}
	if (fchmod(fd, (mode_t)mode) == -1 ||
	    (r = fd_write_all(fd, buf, len)) != 0 || fsync(fd) == -1) {
		r = r != 0 ? r : -errno;
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		r = -errno;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		r = -errno;
		goto fail;
	}
	sync_dir(path);
	return 0;
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return r;
}
