// SPDX-License-Identifier: MIT
/*
 * Module calls (freeze, state query), what /proc says of a target, and
 * reading or saving an image fd.
 */
#include "kmod_test.h"

int freeze(pid_t pid, uint32_t flags, struct cld_kabi_freeze *out)
{
	struct cld_kabi_freeze fr = { .size = sizeof(fr), .flags = flags, .pid = pid };

	if (ioctl(devfd, CLD_IOC_FREEZE, &fr) < 0)
		return -errno;
	if (out)
		*out = fr;
	return fr.fd;
}

int query(pid_t pid, struct cld_kabi_state *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->pid = pid;
	return ioctl(devfd, CLD_IOC_STATE, st) < 0 ? -errno : 0;
}

int nr_tasks(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * Every thread listed in /proc/PID/task is parked (state D: our killable
 * sleep) or on its way out (zombie, dead, or PF_EXITING).  Returns the
 * tid of a thread that is neither, 0 if none.
 */
pid_t unparked_thread(pid_t pid, char *state)
{
	char path[320], buf[1024], *p;
	struct dirent *de;
	pid_t bad = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while (!bad && (de = readdir(d))) {
		unsigned long long flags = 0;
		int fd, i;
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", pid, de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		p = strrchr(buf, ')');
		if (!p || !p[1])
			continue;
		*state = p[2];
		/* field 9 (flags): skip state 3 .. 8 */
		p += 3;
		for (i = 3; i < 9 && p; i++) {
			p = strchr(p, ' ');
			if (p)
				p++;
		}
		if (p)
			flags = strtoull(p, NULL, 10);
		if (*state != 'D' && *state != 'Z' && *state != 'X' && !(flags & 0x4))
			bad = atoi(de->d_name);
	}
	closedir(d);
	return bad;
}

long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Read the whole image into memory. */
uint8_t *slurp(int fd, uint64_t size, int *err)
{
	uint8_t *buf = malloc(size ? size : 1);
	uint64_t off = 0;

	*err = 0;
	while (buf && off < size) {
		ssize_t n = pread(fd, buf + off, size - off > (1 << 20) ? 1 << 20 : size - off,
				  (off_t)off);

		if (n < 0) {
			*err = -errno;
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		off += (uint64_t)n;
	}
	if (buf && off != size) {
		*err = -EIO;
		free(buf);
		return NULL;
	}
	return buf;
}

/* Walk the first PT_NOTE of an image in memory. */
const uint8_t *find_note(const uint8_t *img, uint64_t size, const char *owner, uint32_t type,
			 int nth, uint32_t *len)
{
	const Elf64_Ehdr *eh = (const void *)img;
	const Elf64_Phdr *ph = (const void *)(img + eh->e_phoff);
	uint64_t off = ph[0].p_offset, end = off + ph[0].p_filesz;

	if (size < sizeof(*eh) || end > size)
		return NULL;
	while (off + 12 <= end) {
		const Elf64_Nhdr *nh = (const void *)(img + off);
		const char *name = (const char *)(nh + 1);
		uint64_t desc = off + 12 + ((nh->n_namesz + 3) & ~3u);

		if (nh->n_type == type && !strcmp(name, owner) && nth-- == 0) {
			*len = nh->n_descsz;
			return img + desc;
		}
		off = desc + ((nh->n_descsz + 3) & ~3u);
	}
	return NULL;
}

/* Write a whole image fd to path; returns bytes or -errno. */
int64_t copy_image(int fd, uint64_t size, const char *path)
{
	static uint8_t buf[1 << 20];
	uint64_t off = 0;
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (out < 0)
		return -errno;
	while (off < size) {
		ssize_t n = pread(fd, buf, sizeof(buf), (off_t)off);

		if (n <= 0 || write(out, buf, (size_t)n) != n) {
			close(out);
			return -EIO;
		}
		off += (uint64_t)n;
	}
	close(out);
	return (int64_t)off;
}
