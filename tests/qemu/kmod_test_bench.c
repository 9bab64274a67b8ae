// SPDX-License-Identifier: MIT
/* The benchmark (kmod_test --bench): module vs a minimal ptrace freezer. */
#include "kmod_test.h"

static int ptrace_freeze(pid_t pid, pid_t *tids, int n)
{
	int i, st;

	for (i = 0; i < n; i++)
		if (ptrace(PTRACE_SEIZE, tids[i], 0, 0) || ptrace(PTRACE_INTERRUPT, tids[i], 0, 0))
			return -errno;
	for (i = 0; i < n; i++)
		if (waitpid(tids[i], &st, __WALL) < 0)
			return -errno;
	(void)pid;
	return 0;
}

static int list_tids(pid_t pid, pid_t *tids, int max)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)) && n < max)
		if (de->d_name[0] != '.')
			tids[n++] = atoi(de->d_name);
	closedir(d);
	return n;
}

static int run_cli_checkpoint(pid_t pid, const char *path)
{
	char pidstr[16];
	pid_t c;
	int st;

	snprintf(pidstr, sizeof(pidstr), "%d", pid);
	c = fork();
	if (c == 0) {
		int nul = open("/dev/null", O_WRONLY);

		dup2(nul, 1);
		setenv("CLD_FREEZER", "ptrace", 1); /* the backend to compare with */
		execl("/bin/clondike", "clondike", "checkpoint", "--unrestorable", pidstr, path,
		      (char *)NULL);
		_exit(127);
	}
	waitpid(c, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * Figures, module vs ptrace, in the same VM run:
 *  - parking latency of a 4-thread process: the module's park time (and
 *    its whole ioctl, which also builds the image description) against
 *    PTRACE_SEIZE + PTRACE_INTERRUPT + wait of every thread;
 *  - a whole checkpoint of a single-threaded process to a file: module
 *    (ioctl, pread, write, close) against `clondike checkpoint` (the
 *    ptrace backend, process start included);
 *  - read throughput: the module's image fd against process_vm_readv of
 *    as many bytes.
 */
void bench(void)
{
	const int rounds = 10;
	uint64_t t0, park = 0, ioc = 0, ptr = 0, kckpt = 0, pckpt = 0, kread = 0, vread = 0;
	uint64_t bytes = 0, vbytes = 0;
	struct cld_kabi_freeze fr;
	pid_t pid, tids[16];
	uint8_t *buf = malloc(1 << 20);
	int i, n, fd, err, cli = !access("/bin/clondike", X_OK);
	char ch = 'x';

	pid = spawn(target_spin, 0, 1);
	msleep(50);
	n = list_tids(pid, tids, 16);
	for (i = 0; i < rounds; i++) {
		int k;

		t0 = now_ns();
		fd = freeze(pid, 0, &fr);
		ioc += now_ns() - t0;
		if (fd < 0)
			break;
		park += fr.freeze_ns;
		close(fd);
		msleep(5);
		t0 = now_ns();
		ptrace_freeze(pid, tids, n);
		ptr += now_ns() - t0;
		for (k = 0; k < n; k++)
			ptrace(PTRACE_DETACH, tids[k], 0, 0);
		msleep(5);
	}
	printf("BENCH park_us threads=%d kmod=%.0f (ioctl with image description %.0f) ptrace=%.0f ratio(ptrace/kmod)=%.2f\n",
	       n, park / 1e3 / rounds, ioc / 1e3 / rounds, ptr / 1e3 / rounds,
	       park ? (double)ptr / (double)park : 0);
	if (write(B->pipe_in[1], &ch, 1) == 1)
		reap(pid, 0);

	pid = spawn(target_single, 0, 1);
	msleep(50);
	for (i = 0; i < rounds; i++) {
		uint8_t *img;

		t0 = now_ns();
		fd = freeze(pid, 0, &fr);
		if (fd < 0)
			break;
		copy_image(fd, fr.image_size, "/tmp/bench-kmod.img");
		close(fd);
		kckpt += now_ns() - t0;
		bytes = fr.image_size;

		fd = freeze(pid, 0, &fr);
		t0 = now_ns();
		img = slurp(fd, fr.image_size, &err);
		kread += now_ns() - t0;
		free(img);
		close(fd);
		/* The same amount of memory through process_vm_readv. */
		t0 = now_ns();
		{
			uint64_t left = bytes;

			while (left) {
				size_t chunk = left < B->pattern_len ? left : B->pattern_len;
				struct iovec l = { buf, chunk };
				struct iovec r = { (void *)(uintptr_t)B->pattern, chunk };
				ssize_t got = process_vm_readv(pid, &l, 1, &r, 1, 0);

				if (got <= 0)
					break;
				left -= (uint64_t)got;
				vbytes += (uint64_t)got;
			}
		}
		vread += now_ns() - t0;
		if (cli) {
			t0 = now_ns();
			run_cli_checkpoint(pid, "/tmp/bench-ptrace.img");
			pckpt += now_ns() - t0;
		}
	}
	printf("BENCH checkpoint_ms image_bytes=%llu kmod=%.1f ptrace_cli=%s%.1f ratio(ptrace/kmod)=%.2f\n",
	       (unsigned long long)bytes, kckpt / 1e6 / rounds,
	       cli ? "" : "n/a:", pckpt / 1e6 / rounds,
	       kckpt && cli ? (double)pckpt / (double)kckpt : 0);
	if (write(B->pipe_in[1], &ch, 1) == 1)
		reap(pid, 0);

	/* Read throughput on 32 MiB of data: first read (digests computed
	 * as pages stream by) and a second one (digests cached). */
	pid = spawn(target_big, 0, 1);
	kread = vread = vbytes = 0;
	{
		uint64_t k2 = 0;

		for (i = 0; i < 3; i++) {
			uint8_t *img;

			fd = freeze(pid, 0, &fr);
			if (fd < 0)
				break;
			t0 = now_ns();
			img = slurp(fd, fr.image_size, &err);
			kread += now_ns() - t0;
			free(img);
			t0 = now_ns();
			img = slurp(fd, fr.image_size, &err);
			k2 += now_ns() - t0;
			free(img);
			bytes = fr.image_size;
			close(fd);
			t0 = now_ns();
			{
				uint64_t off;

				for (off = 0; off < B->pattern_len; off += 1 << 20) {
					struct iovec l = { buf, 1 << 20 };
					struct iovec r = { (void *)(uintptr_t)(B->pattern + off),
							   1 << 20 };
					ssize_t got = process_vm_readv(pid, &l, 1, &r, 1, 0);

					if (got <= 0)
						break;
					vbytes += (uint64_t)got;
				}
			}
			vread += now_ns() - t0;
		}
		printf("BENCH read_MBps image_bytes=%llu kmod_fd_first=%.1f kmod_fd_cached_digests=%.1f process_vm_readv=%.1f\n",
		       (unsigned long long)bytes, kread ? bytes * i / (kread / 1e3) : 0,
		       k2 ? bytes * i / (k2 / 1e3) : 0, vread ? vbytes / (vread / 1e3) : 0);
	}
	B->stop = 1;
	reap(pid, 1);
	unlink("/tmp/bench-kmod.img");
	unlink("/tmp/bench-ptrace.img");
	free(buf);
}
