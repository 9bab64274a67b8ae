// SPDX-License-Identifier: GPL-2.0
/*
 * The mappings of a frozen group, described the way the ptrace backend
 * reads them from /proc/PID/maps (cld_maps_classify()), and their dumped
 * pages: the shared dump policy (cld_dump_policy(), common/codec) applied
 * with page-table lookups that never fault.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/version.h>

#include "cld_desc.h"
#include "cld_image.h"
#include "cld_vmas.h"

/* ---- mappings and their dumped pages ----------------------------------- */

static int cld_ext_add(struct cld_vma *v, u64 pg)
{
	struct cld_extent *e;

	if (v->nr_ext && v->ext[v->nr_ext - 1].first +
			 v->ext[v->nr_ext - 1].count == pg) {
		v->ext[v->nr_ext - 1].count++;
		return 0;
	}
	/* Capacity: 8, then doubled; full at 0 and at each power of two. */
	if (!v->nr_ext || (v->nr_ext >= 8 && is_power_of_2(v->nr_ext))) {
		u32 cap = v->nr_ext ? 2 * v->nr_ext : 8;

		e = kvmalloc_array(cap, sizeof(*e), GFP_KERNEL);
		if (!e)
			return -ENOMEM;
		if (v->nr_ext)
			memcpy(e, v->ext, v->nr_ext * sizeof(*e));
		kvfree(v->ext);
		v->ext = e;
	}
	v->ext[v->nr_ext].first = pg;
	v->ext[v->nr_ext].count = 1;
	v->nr_ext++;
	return 0;
}

static int cld_ext_add_run(struct cld_vma *v, u64 first, u64 count)
{
	int err = 0;

	/* Whole-mapping runs are short (the vDSO): page by page is fine. */
	while (count-- && !err)
		err = cld_ext_add(v, first++);
	return err;
}

/*
 * Find the pages to dump by asking GUP for each page with FOLL_NOFAULT:
 * looking must not populate anything.  A present page counts unless it is
 * the shared zero page, and under CLD_DUMP_ANON unless it is page cache
 * (what PAGEMAP_SCAN calls PAGE_IS_PFNZERO and PAGE_IS_FILE).  Swapped-out
 * pages are not seen (they would fault): docs/kmod.md.  Called with
 * mmap_read_lock held.
 */
static int cld_scan_vma(struct mm_struct *mm, struct vm_area_struct *vma,
			struct cld_vma *v, enum cld_dump_policy pol,
			struct page **pages)
{
	unsigned long addr = vma->vm_start;
	int err = 0;

	/*
	 * Without an anon_vma a mapping has no anonymous page, only page
	 * cache or the zero page, which this policy does not dump: skip the
	 * scan (unpopulated heaps and stacks cost nothing).
	 */
	if (pol == CLD_DUMP_ANON && !vma->anon_vma)
		return 0;
	while (addr < vma->vm_end) {
		unsigned long n = min_t(unsigned long, 64,
					(vma->vm_end - addr) >> PAGE_SHIFT);
		long got, i;

		got = cld_gup(mm, addr, n, FOLL_FORCE | FOLL_NOFAULT, pages);
		if (got <= 0) {
			/* Not present: skip this page. */
			addr += PAGE_SIZE;
			continue;
		}
		for (i = 0; i < got; i++) {
			struct page *pg = pages[i];
			bool take = !is_zero_pfn(page_to_pfn(pg));

			if (pol == CLD_DUMP_ANON && !PageAnon(pg))
				take = false;
			if (!err && take)
				err = cld_ext_add(v, ((addr - vma->vm_start) >>
						      PAGE_SHIFT) + i);
			put_page(pg);
		}
		if (err)
			return err;
		addr += got << PAGE_SHIFT;
	}
	return 0;
}

static const char *cld_special_name(struct vm_area_struct *vma)
{
	if (vma->vm_ops && vma->vm_ops->name)
		return vma->vm_ops->name(vma);
	return NULL;
}

/*
 * One mapping, described the way cld_maps_classify() reads it from
 * /proc/PID/maps (the ptrace backend): the same name, the same flags.
 */
static int cld_fill_vma(struct cld_proc *p, struct mm_struct *mm,
			struct vm_area_struct *vma, struct cld_vma *v,
			struct page **pages)
{
	vm_flags_t f = vma->vm_flags;
	const char *special = NULL;
	enum cld_dump_policy pol;

	v->rec.start = vma->vm_start;
	v->rec.end = vma->vm_end;
	v->rec.prot = ((f & VM_READ) ? 1 : 0) | ((f & VM_WRITE) ? 2 : 0) |
		      ((f & VM_EXEC) ? 4 : 0);
	if (f & VM_MAYSHARE)
		v->rec.flags |= CLD_VMA_SHARED;
	/* smaps VmFlags lo, dd, dc, wf, hg, nh: what the ptrace backend reads. */
	if (f & VM_LOCKED)
		v->rec.flags |= CLD_VMA_LOCKED;
	if (f & VM_DONTDUMP)
		v->rec.flags |= CLD_VMA_DONTDUMP;
	if (f & VM_DONTCOPY)
		v->rec.flags |= CLD_VMA_DONTFORK;
	if (f & VM_WIPEONFORK)
		v->rec.flags |= CLD_VMA_WIPEONFORK;
	if (f & VM_HUGEPAGE)
		v->rec.flags |= CLD_VMA_HUGEPAGE;
	if (f & VM_NOHUGEPAGE)
		v->rec.flags |= CLD_VMA_NOHUGEPAGE;

	if (vma->vm_file) {
		struct file *file = vma->vm_file;
		struct inode *inode = file_inode(file);
		bool deleted = false;
		size_t len;
		char *s;

		s = cld_path(&file->f_path, false, &deleted);
		if (IS_ERR(s))
			return PTR_ERR(s);
		len = strlen(s);
		if ((f & VM_MAYSHARE) && !strcmp(s, "/dev/zero (deleted)")) {
			/* MAP_SHARED|MAP_ANONYMOUS: shmem, plain memory here. */
			kfree(s);
			goto scan;
		}
		if (s[0] != '/') {
			/* anon_inode:... : a name, not a file to map again. */
			v->name = s;
			v->rec.flags |= CLD_VMA_SPECIAL;
			goto scan;
		}
		if (!strncmp(s, "/SYSV", 5) && deleted) {
			v->name = s; /* with its " (deleted)" */
			v->rec.flags |= CLD_VMA_SYSVSHM;
			goto scan;
		}
		v->rec.flags |= CLD_VMA_FILE;
		if (deleted && len >= 10 && !strcmp(s + len - 10, " (deleted)")) {
			s[len - 10] = 0;
			v->rec.flags |= CLD_VMA_DELETED;
		}
		v->name = s;
		v->rec.pgoff = (u64)vma->vm_pgoff << PAGE_SHIFT;
		v->rec.dev = cld_dev(inode->i_sb->s_dev);
		v->rec.ino = inode->i_ino;
		v->rec.fsize = i_size_read(inode);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
		v->rec.mtime_ns = cld_ts_ns(inode_get_mtime(inode));
#else
		v->rec.mtime_ns = cld_ts_ns(inode->i_mtime);
#endif
		if (S_ISCHR(inode->i_mode) || S_ISBLK(inode->i_mode))
			v->rec.flags |= CLD_VMA_SPECIAL;
		goto scan;
	}

	/* The order /proc/PID/maps names anonymous mappings in. */
	special = cld_special_name(vma);
	if (special) {
		if (!strcmp(special, "[vdso]")) {
			v->rec.flags |= CLD_VMA_VDSO;
			p->mm.vdso_start = vma->vm_start;
			p->mm.vdso_end = vma->vm_end;
		} else if (!strncmp(special, "[vvar", 5)) {
			v->rec.flags |= CLD_VMA_VVAR;
			if (!p->mm.vvar_start || vma->vm_start < p->mm.vvar_start)
				p->mm.vvar_start = vma->vm_start;
			if (vma->vm_end > p->mm.vvar_end)
				p->mm.vvar_end = vma->vm_end;
		} else {
			v->rec.flags |= CLD_VMA_SPECIAL;
		}
	} else if (vma->vm_start <= mm->brk && vma->vm_end >= mm->start_brk) {
		v->rec.flags |= CLD_VMA_HEAP;
		special = "[heap]";
	} else if (vma->vm_start <= mm->start_stack &&
		   vma->vm_end >= mm->start_stack) {
		v->rec.flags |= CLD_VMA_STACK | CLD_VMA_GROWSDOWN;
		special = "[stack]";
	}
	if (special) {
		v->name = kstrdup(special, GFP_KERNEL);
		if (!v->name)
			return -ENOMEM;
	}
scan:
	pol = cld_dump_policy(v->rec.flags);
	/* Device and pfn mappings have no pages GUP could return. */
	if (pol == CLD_DUMP_NONE || (f & (VM_IO | VM_PFNMAP)))
		return 0;
	if (pol == CLD_DUMP_ALL)
		return cld_ext_add_run(v, 0, vma_pages(vma));
	return cld_scan_vma(mm, vma, v, pol, pages);
}

int cld_fill_vmas(struct cld_proc *p, struct mm_struct *mm)
{
	struct vm_area_struct *vma;
	struct page **pages;
	unsigned long addr = 0;
	u32 cap = 0;
	int err = 0;

	pages = kmalloc_array(64, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	if (mmap_read_lock_killable(mm)) {
		err = -EINTR;
		goto out;
	}
	/* find_vma() is in both 6.1 and 6.12 and needs no iterator. */
	while ((vma = find_vma(mm, addr))) {
		if (p->nr_vmas == cap) {
			struct cld_vma *n;

			cap = cap ? 2 * cap : 64;
			if (cap > CLD_MAX_VMAS + 1)
				cap = CLD_MAX_VMAS + 1;
			if (p->nr_vmas == cap) {
				err = -E2BIG;
				break;
			}
			n = kvcalloc(cap, sizeof(*n), GFP_KERNEL);
			if (!n) {
				err = -ENOMEM;
				break;
			}
			if (p->nr_vmas)
				memcpy(n, p->vmas, p->nr_vmas * sizeof(*n));
			kvfree(p->vmas);
			p->vmas = n;
		}
		err = cld_fill_vma(p, mm, vma, &p->vmas[p->nr_vmas++], pages);
		if (err)
			break;
		addr = vma->vm_end;
	}
	mmap_read_unlock(mm);
out:
	kfree(pages);
	return err;
}

