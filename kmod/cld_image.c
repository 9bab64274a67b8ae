// SPDX-License-Identifier: GPL-2.0
/*
 * The image of a frozen group, generated in the kernel.
 *
 * cld_img_build() runs once, in the freezer, after every thread parked:
 * it describes the process (cld_desc.c), and the shared codec
 * (common/codec, the same source the userspace writer runs) encodes the
 * ELF header, program headers and first note segment and lays out the
 * page data; a reference on the mm is kept.  That is O(mappings + threads
 * + present pages' table entries); no page is copied.  Page data and
 * digests are produced by cld_img_read(), from the frozen mm.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/version.h>

#include "clondike/codec.h"
#include "cld_desc.h"
#include "cld_image.h"
#include "cld_internal.h"

#define PG CLD_PAGE_SIZE

struct cld_img {
	struct mm_struct *mm; /* mmget() held while the image exists */
	struct cld_vimg v; /* headers, notes, runs, digest cache */
};

long cld_gup(struct mm_struct *mm, unsigned long addr, unsigned long n,
	     unsigned int flags, struct page **pages)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	return get_user_pages_remote(mm, addr, n, flags, pages, NULL);
#else
	return get_user_pages_remote(mm, addr, n, flags, pages, NULL, NULL);
#endif
}

int cld_read_mem(struct mm_struct *mm, unsigned long addr, u8 *kbuf, size_t n)
{
	while (n) {
		unsigned long pgoff = addr & ~PAGE_MASK;
		size_t chunk = min_t(size_t, n, PAGE_SIZE - pgoff);
		struct page *page;
		long got;
		void *v;

		if (mmap_read_lock_killable(mm))
			return -EINTR;
		got = cld_gup(mm, addr & PAGE_MASK, 1, FOLL_FORCE, &page);
		mmap_read_unlock(mm);
		if (got != 1)
			return got < 0 ? (int)got : -EFAULT;
		v = kmap_local_page(page);
		memcpy(kbuf, v + pgoff, chunk);
		kunmap_local(v);
		put_page(page);
		kbuf += chunk;
		addr += chunk;
		n -= chunk;
	}
	return 0;
}

/* ---- page data --------------------------------------------------------- */

/* Digest of dumped page idx, reading it if not cached.  img_lock held. */
static int cld_digest(struct cld_img *img, u64 idx, u8 *scratch)
{
	const struct cld_vrun *r;
	size_t k;
	int err;

	if (cld_vimg_digest_known(&img->v, idx))
		return 0;
	k = cld_vimg_run_of_idx(&img->v, idx);
	if (k >= img->v.nr_runs)
		return -EIO;
	r = &img->v.runs[k];
	err = cld_read_mem(img->mm, r->vaddr + (idx - r->idx) * PG, scratch, PG);
	if (err)
		return err;
	cld_vimg_digest_store(&img->v, idx, cld_xxh3_page(scratch));
	return 0;
}

struct cld_fill {
	struct cld_img *img;
	u8 *scratch;
};

/* cld_vimg_tail()'s callback: the digests a read of the note needs. */
static int cld_fill_digests(void *ctx, u64 first, u64 n)
{
	struct cld_fill *f = ctx;
	u64 i;
	int err;

	for (i = first; i < first + n; i++) {
		err = cld_digest(f->img, i, f->scratch);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Produce [off, off + len) of the image into out (len is at most one page
 * and never crosses a page boundary of the file), caching digests of
 * whole data pages that stream by.
 */
static int cld_gen(struct cld_img *img, u8 *out, size_t len, u64 off,
		   u8 *scratch)
{
	struct cld_fill f = { img, scratch };

	if (off < img->v.head_len) {
		size_t n = min_t(u64, len, img->v.head_len - off);

		memcpy(out, img->v.head + off, n);
		memset(out + n, 0, len - n);
		return 0;
	}
	if (off < img->v.lo.tail_off) {
		size_t k = cld_vimg_run_after(&img->v, off);
		const struct cld_vrun *r;
		u64 pg, idx;
		int err;

		if (k >= img->v.nr_runs || img->v.runs[k].off > off) {
			memset(out, 0, len);
			return 0;
		}
		r = &img->v.runs[k];
		pg = (off - r->off) / PG;
		idx = r->idx + pg;
		err = cld_read_mem(img->mm, r->vaddr + pg * PG, scratch, PG);
		if (err)
			return err;
		if (!cld_vimg_digest_known(&img->v, idx))
			cld_vimg_digest_store(&img->v, idx, cld_xxh3_page(scratch));
		memcpy(out, scratch + (off - r->off) % PG, len);
		return 0;
	}
	return cld_vimg_tail(&img->v, out, len, off - img->v.lo.tail_off,
			     cld_fill_digests, &f);
}

#define CLD_READ_BATCH 16

/*
 * Stream dumped pages of run r straight to user space, starting at image
 * offset o (inside r), at most want bytes: one GUP call for up to
 * CLD_READ_BATCH pages, digests cached on the way.  Returns bytes copied
 * or a negative errno.  img_lock held.
 */
static ssize_t cld_read_run(struct cld_img *img, const struct cld_vrun *r,
			    u64 o, char __user *ubuf, size_t want,
			    struct page **pages)
{
	u64 pg = (o - r->off) / PG, end = min(r->off + r->count * PG, o + want);
	unsigned long npg = min_t(u64, DIV_ROUND_UP(end - (r->off + pg * PG), PG),
				  CLD_READ_BATCH);
	size_t copied = 0;
	long got, i;
	int err = 0;

	if (mmap_read_lock_killable(img->mm))
		return -EINTR;
	got = cld_gup(img->mm, r->vaddr + pg * PG, npg, FOLL_FORCE, pages);
	mmap_read_unlock(img->mm);
	if (got <= 0)
		return got ? got : -EFAULT;
	for (i = 0; i < got; i++) {
		u64 idx = r->idx + pg + i;
		size_t at = i ? 0 : (o - r->off) % PG;
		size_t n = min_t(u64, PG - at, end - (o + copied));
		void *v = kmap_local_page(pages[i]);

		if (!cld_vimg_digest_known(&img->v, idx))
			cld_vimg_digest_store(&img->v, idx, cld_xxh3_page(v));
		if (!err && n && copy_to_user(ubuf + copied, v + at, n))
			err = -EFAULT;
		kunmap_local(v);
		put_page(pages[i]);
		if (!err)
			copied += n;
	}
	return copied ? copied : err;
}

/* The run holding image offset o, or NULL (headers, holes, digests). */
static const struct cld_vrun *cld_run_at(const struct cld_img *img, u64 o)
{
	size_t k;

	if (o < img->v.head_len || o >= img->v.lo.tail_off)
		return NULL;
	k = cld_vimg_run_after(&img->v, o);
	if (k < img->v.nr_runs && img->v.runs[k].off <= o)
		return &img->v.runs[k];
	return NULL;
}

ssize_t cld_img_read(struct cld_frz *frz, char __user *buf, size_t len,
		     loff_t off)
{
	struct page *pages[CLD_READ_BATCH];
	struct cld_img *img = frz->img;
	u8 *scratch, *out;
	size_t done = 0;
	int err = 0;

	if (!img || off >= img->v.lo.size)
		return 0;
	len = min_t(u64, len, img->v.lo.size - off);
	scratch = kmalloc(2 * PG, GFP_KERNEL);
	if (!scratch)
		return -ENOMEM;
	out = scratch + PG;
	if (mutex_lock_killable(&frz->img_lock)) {
		kfree(scratch);
		return -EINTR;
	}
	while (done < len) {
		u64 o = off + done;
		size_t n = min_t(u64, len - done, PG - (o % PG));
		const struct cld_vrun *r = cld_run_at(img, o);

		if (READ_ONCE(frz->state) != CLD_KSTATE_FROZEN) {
			err = -ESRCH;
			break;
		}
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		if (r) {
			ssize_t got = cld_read_run(img, r, o, buf + done,
						   len - done, pages);

			if (got < 0) {
				err = got;
				break;
			}
			done += got;
			cond_resched();
			continue;
		}
		err = cld_gen(img, out, n, o, scratch);
		if (err)
			break;
		if (copy_to_user(buf + done, out, n)) {
			err = -EFAULT;
			break;
		}
		done += n;
		cond_resched();
	}
	mutex_unlock(&frz->img_lock);
	kfree(scratch);
	return done ? done : err;
}

loff_t cld_img_seek_data(struct cld_frz *frz, loff_t soff, int whence)
{
	return cld_vimg_seek(&frz->img->v, soff, whence);
}

u64 cld_img_size(const struct cld_img *img)
{
	return img->v.lo.size;
}

u64 cld_img_nr_dumped(const struct cld_img *img)
{
	return img->v.lo.nr_dumped;
}

/* Bytes that are not holes: headers and notes, dumped pages, digests. */
u64 cld_img_data_bytes(const struct cld_img *img)
{
	return img->v.lo.data_bytes;
}

void cld_img_free(struct cld_img *img)
{
	if (img->mm)
		mmput(img->mm);
	cld_vimg_release(&img->v);
	kfree(img);
}

int cld_img_build(struct cld_frz *frz)
{
	struct cld_proc *p;
	struct cld_img *img;
	int err;

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	img = kzalloc(sizeof(*img), GFP_KERNEL);
	if (!p || !img) {
		err = -ENOMEM;
		goto out;
	}
	err = cld_desc_build(frz, p, &img->mm);
	if (err)
		goto out;
	err = cld_vimg_build(&img->v, p, NULL);
	if (err)
		goto out;
	frz->img = img;
	img = NULL;
out:
	if (img)
		cld_img_free(img);
	if (p)
		cld_desc_free(p);
	return err;
}

/* The records are shared with userspace: their sizes are the format. */
static void __maybe_unused cld_format_sizes(void)
{
	BUILD_BUG_ON(sizeof(struct cld_prstatus) != 336);
	BUILD_BUG_ON(sizeof(struct cld_prpsinfo) != 136);
	BUILD_BUG_ON(sizeof(((struct cld_vimg *)0)->tail_hdr) !=
		     12 + 12 + sizeof(struct cld_digests_hdr));
}
