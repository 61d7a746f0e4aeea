//! block/bio.c's side of direct I/O on user memory: bio_iov_iter_get_pages() takes the user
//! buffer's pages with iov_iter_get_pages() (5.19: get_user_pages_fast(), a FOLL_GET reference
//! per page, FOLL_WRITE when the device writes into them, i.e. a read), the device moves the
//! bytes straight to or from those frames, and the references are dropped when the bio ends
//! (bio_release_pages(); a read's pages are dirtied first, bio_set_pages_dirty()). The frames
//! hold the data, not the page tables: what the process maps there by then does not matter.

use crate::errno::SysResult;
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::gup::FollFlags;
use crate::page::Pfn;
use crate::sched::Tid;

/// BIO_MAX_VECS: the most pages one bio takes.
const BIO_MAX_VECS: u64 = 256;

/// The user pages one bio holds, from `off` into the first: what GUP took.
pub(crate) struct DioPages {
    pages: Vec<Pfn>,
    off: u64,
}

impl DioPages {
    /// The bytes of the user buffer these pages cover.
    pub(crate) fn len(&self) -> u64 {
        self.pages.len() as u64 * PAGE_SIZE - self.off
    }
}

impl Kernel {
    /// bio_iov_iter_get_pages() for up to `len` bytes of user memory at `buf` (at most
    /// BIO_MAX_VECS pages): get_user_pages_fast() with FOLL_GET, and FOLL_WRITE if the device
    /// writes into them. GUP's error if it took none (EFAULT for a range that wraps).
    pub(crate) fn dio_get_pages(
        &mut self,
        tid: Tid,
        buf: u64,
        len: u64,
        to_user: bool,
    ) -> SysResult<DioPages> {
        let mm = self.task(tid)?.mm;
        let off = buf % PAGE_SIZE;
        let nr = (off + len).div_ceil(PAGE_SIZE).min(BIO_MAX_VECS);
        let mut foll = FollFlags::GET;
        if to_user {
            foll |= FollFlags::WRITE;
        }
        let pages = self.get_user_pages_fast(mm, buf, nr, foll)?;
        if pages.is_empty() {
            // A range that wraps: nothing to take.
            return Err(crate::errno::Errno::EFAULT);
        }
        Ok(DioPages { pages, off })
    }

    /// The device's bytes landing in the frames a read took, from the start of its range.
    pub(crate) fn dio_store(&mut self, d: &DioPages, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let at = d.off + i as u64;
            self.phys.store(
                d.pages[(at / PAGE_SIZE) as usize],
                (at % PAGE_SIZE) as usize,
                b,
            );
        }
    }

    /// The first `n` bytes a write took, as its frames hold them.
    pub(crate) fn dio_load(&self, d: &DioPages, n: u64) -> Vec<u8> {
        (d.off..d.off + n)
            .map(|at| {
                self.phys.load(
                    d.pages[(at / PAGE_SIZE) as usize],
                    (at % PAGE_SIZE) as usize,
                )
            })
            .collect()
    }

    /// bio_release_pages() when the bio ends: a read's pages are marked dirty
    /// (bio_set_pages_dirty(), skipping compound pages), then every reference is put.
    pub(crate) fn dio_release(&mut self, d: DioPages, dirty: bool) {
        for pfn in d.pages {
            let f = self.pages.folio(pfn);
            if dirty
                && !self.pages.folio_test_large(f)
                && !self.pages.folio_test(f, crate::page::PageFlags::DIRTY)
            {
                self.set_page_dirty(pfn);
            }
            self.put_user_page(pfn);
        }
    }
}
