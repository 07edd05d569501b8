/*
 * splitdns_files.c: per-domain resolver files, as macOS's resolver reads
 * them from /etc/resolver/<domain> (resolver(5)).  OS-neutral: the directory
 * is a parameter, so the tests run it against a temporary one.
 *
 * A file is ngrokd's only when its first line is SPLITDNS_FILE_MARKER; any
 * other file (an operator's own resolver for the same domain, a symlink) is
 * never replaced or removed.  Files are written atomically (temporary file,
 * fsync, rename) so the resolver never reads half of one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/fdio.h"
#include "daemon/splitdns.h"

/* 1 when dirfd/name is ours, 0 when it is someone else's (or a symlink),
 * -ENOENT when missing, -errno. */
static int
is_ours(int dirfd, const char *name)
{
	char buf[sizeof(SPLITDNS_FILE_MARKER) + 1];
	size_t want = strlen(SPLITDNS_FILE_MARKER) + 1, got = 0;
	ssize_t r;
	int fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK)) < 0)
		return errno == ELOOP ? 0 : -errno;
	while (got < want) {
		r = read(fd, buf + got, want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	return got == want && memcmp(buf, SPLITDNS_FILE_MARKER "\n", want) == 0;
}

/* Replaces dirfd/name with text: temporary file, fsync, rename. */
static int
replace(int dirfd, const char *name, const char *text)
{
	char tmp[64];
	int fd, r;

	/* Short: a 253-byte domain plus a suffix would pass NAME_MAX. */
	snprintf(tmp, sizeof(tmp), ".ngrokd.%ld.tmp", (long)getpid());
	(void)unlinkat(dirfd, tmp, 0);
	if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) < 0)
		return -errno;
	r = fd_write_all(fd, text, strlen(text));
	if (r == 0 && fsync(fd) != 0)
		r = -errno;
	if (close(fd) != 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) != 0)
		r = -errno;
	if (r != 0)
		(void)unlinkat(dirfd, tmp, 0);
	return r;
}

static int
open_dir(const char *dir, int create)
{
	int fd;

	if (create && mkdir(dir, 0755) != 0 && errno != EEXIST)
		return -errno;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	return fd;
}

/* Keeps the first error. */
static void
note(int *first, int r, char *err, size_t errlen, const char *dir,
    const char *name, const char *what)
{
	if (*first != 0)
		return;
	*first = r;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s/%s: %s", dir, name, what);
}

static int
apply_one(int dirfd, const char *name, const char *text)
{
	int r = is_ours(dirfd, name);

	if (r == 0)
		return -EEXIST;
	if (r < 0 && r != -ENOENT)
		return r;
	return replace(dirfd, name, text);
}

int
splitdns_files_apply(const char *dir, uint32_t server,
    const char *const *domains, size_t n, char *err, size_t errlen)
{
	char text[sizeof(SPLITDNS_FILE_MARKER) + 64], name[SPLITDNS_MAX_NAME + 1];
	size_t i;
	int dirfd, r, first = 0;

	if ((dirfd = open_dir(dir, 1)) < 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: %s", dir, strerror(-dirfd));
		return dirfd;
	}
	snprintf(text, sizeof(text), SPLITDNS_FILE_MARKER "\nnameserver "
	    "%u.%u.%u.%u\nport 53\n", server >> 24, (server >> 16) & 0xff,
	    (server >> 8) & 0xff, server & 0xff);
	for (i = 0; i < n; i++) {
		if (splitdns_domain_norm(domains[i], name, sizeof(name)) != 0) {
			note(&first, -EINVAL, err, errlen, dir, domains[i],
			    "not a domain name");
			continue;
		}
		if ((r = apply_one(dirfd, name, text)) == -EEXIST)
			note(&first, r, err, errlen, dir, name, "exists and was "
			    "not written by ngrokd; left alone");
		else if (r != 0)
			note(&first, r, err, errlen, dir, name, strerror(-r));
	}
	close(dirfd);
	return first;
}

static int
remove_one(int dirfd, const char *name)
{
	int r = is_ours(dirfd, name);

	if (r == -ENOENT || r == 0)
		return 0;	/* gone already, or not ours to remove */
	if (r < 0)
		return r;
	return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : -errno;
}

int
splitdns_files_remove(const char *dir, const char *const *domains, size_t n,
    char *err, size_t errlen)
{
	char name[SPLITDNS_MAX_NAME + 1];
	size_t i;
	int dirfd, r, first = 0;

	if ((dirfd = open_dir(dir, 0)) < 0) {
		if (dirfd == -ENOENT)
			return 0;
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: %s", dir, strerror(-dirfd));
		return dirfd;
	}
	for (i = 0; i < n; i++) {
		if (splitdns_domain_norm(domains[i], name, sizeof(name)) != 0)
			continue;	/* never a file of ours */
		if ((r = remove_one(dirfd, name)) != 0)
			note(&first, r, err, errlen, dir, name, strerror(-r));
	}
	close(dirfd);
	return first;
}

int
splitdns_files_sweep(const char *dir)
{
	char name[SPLITDNS_MAX_NAME + 1];
	struct dirent *de;
	DIR *dp;
	int dirfd, n = 0;

	if ((dirfd = open_dir(dir, 0)) < 0)
		return dirfd == -ENOENT ? 0 : dirfd;
	if ((dp = fdopendir(dirfd)) == NULL) {
		close(dirfd);
		return -errno;
	}
	while ((de = readdir(dp)) != NULL) {
		/* Only names ngrokd could have written: a domain, as is. */
		if (splitdns_domain_norm(de->d_name, name, sizeof(name)) != 0 ||
		    strcmp(name, de->d_name) != 0)
			continue;
		if (is_ours(dirfd, name) == 1 && unlinkat(dirfd, name, 0) == 0)
			n++;
	}
	closedir(dp);
	return n;
}
