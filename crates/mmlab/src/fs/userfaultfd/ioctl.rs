//! fs/userfaultfd.c, the resolving ioctls: UFFDIO_COPY, ZEROPAGE, CONTINUE, WRITEPROTECT and
//! WAKE check their arguments here, hand the page-table work to mm/userfaultfd.rs and wake
//! the faults they resolved unless told not to.

use super::{CopyRestart, Restart};
use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::mm::userfaultfd::Fill;
use crate::page::{Folio, PageFlags};
use crate::sched::Tid;
use crate::uapi::userfaultfd::*;

impl Kernel {
    /// The checks every range ioctl makes first: a userfaultfd past UFFDIO_API, a valid
    /// range. Returns (ctx, end).
    fn uffd_range_ioctl(
        &mut self,
        tid: Tid,
        fd: i64,
        start: u64,
        len: u64,
    ) -> SysResult<(usize, u64)> {
        self.enter(tid)?;
        let ctx = self.uffd_ctx(tid, fd)?;
        if self.uffd[ctx].features.is_none() {
            return Err(Errno::EINVAL);
        }
        // An event not yet read means the address space is changing under the monitor.
        if self.uffd[ctx].mmap_changing > 0 {
            return Err(Errno::EAGAIN);
        }
        let end = Self::uffd_validate_range(start, len)?;
        Ok((ctx, end))
    }

    /// userfaultfd_copy(): UFFDIO_COPY of `len` bytes from `src` (in the caller's memory) to
    /// `dst`. Returns the bytes copied; a partial copy is EAGAIN.
    pub fn uffdio_copy(
        &mut self,
        tid: Tid,
        fd: i64,
        dst: u64,
        src: u64,
        len: u64,
        mode: u64,
    ) -> SysResult<u64> {
        let (ctx, _) = self.uffd_range_ioctl(tid, fd, dst, len)?;
        if src.checked_add(len).is_none() {
            return Err(Errno::EINVAL);
        }
        if mode & !(UFFDIO_COPY_MODE_DONTWAKE | UFFDIO_COPY_MODE_WP) != 0 {
            return Err(Errno::EINVAL);
        }
        let fill = Fill::Copy {
            src,
            wp: mode & UFFDIO_COPY_MODE_WP != 0,
        };
        self.uffd_fill(
            tid,
            ctx,
            dst,
            len,
            fill,
            mode & UFFDIO_COPY_MODE_DONTWAKE != 0,
        )
    }

    /// userfaultfd_zeropage(): map zeroes at `[start, start+len)`.
    pub fn uffdio_zeropage(
        &mut self,
        tid: Tid,
        fd: i64,
        start: u64,
        len: u64,
        mode: u64,
    ) -> SysResult<u64> {
        self.uffdio_fill_range(tid, fd, (start, len), mode, Fill::Zeropage)
    }

    /// userfaultfd_continue(): map the page cache's pages at `[start, start+len)`.
    pub fn uffdio_continue(
        &mut self,
        tid: Tid,
        fd: i64,
        start: u64,
        len: u64,
        mode: u64,
    ) -> SysResult<u64> {
        self.uffdio_fill_range(tid, fd, (start, len), mode, Fill::Continue)
    }

    /// ZEROPAGE and CONTINUE: a range and a mode that knows only DONTWAKE (bit 0 for both).
    fn uffdio_fill_range(
        &mut self,
        tid: Tid,
        fd: i64,
        (start, len): (u64, u64),
        mode: u64,
        fill: Fill,
    ) -> SysResult<u64> {
        let (ctx, _) = self.uffd_range_ioctl(tid, fd, start, len)?;
        if mode & !UFFDIO_ZEROPAGE_MODE_DONTWAKE != 0 {
            return Err(Errno::EINVAL);
        }
        self.uffd_fill(tid, ctx, start, len, fill, mode != 0)
    }

    /// The common tail of the fill ioctls: __mcopy_atomic() page by page, then the wake over
    /// what was filled. A failure after some pages is EAGAIN (the ioctl's partial result).
    fn uffd_fill(
        &mut self,
        tid: Tid,
        ctx: usize,
        dst: u64,
        len: u64,
        fill: Fill,
        dontwake: bool,
    ) -> SysResult<u64> {
        let mm = self.uffd[ctx].mm.ok_or(Errno::ESRCH)?;
        let mut page = None;
        let r = self.mcopy_atomic(tid, mm, (dst, dst + len), fill, &mut page);
        self.uffd_fill_finish(tid, ctx, (dst, len), 0, r, (fill, page), dontwake)
    }

    /// The end of __mcopy_atomic() and of the ioctl: `before` bytes filled before a sleep plus
    /// what `r` filled since; the wake over all of it; EAGAIN for a partial fill. If the task
    /// now sleeps on a fault of the COPY source, the ioctl is not over: ERESTARTNOINTR, and
    /// restart_syscall() picks it up at the page it stopped at, with the page the source is
    /// being copied into (held over the sleep).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn uffd_fill_finish(
        &mut self,
        tid: Tid,
        ctx: usize,
        (dst, len): (u64, u64),
        before: u64,
        r: SysResult<u64>,
        (fill, page): (Fill, Option<Folio>),
        dontwake: bool,
    ) -> SysResult<u64> {
        let done = match r {
            Ok(n) => before + n,
            Err(_) if self.tasks[tid].in_userfault() => before,
            Err(e) if before == 0 => return Err(e),
            Err(_) => before,
        };
        if let (true, Fill::Copy { src, wp }) = (self.tasks[tid].in_userfault(), fill) {
            self.tasks[tid].restart = Some(Restart::Copy(CopyRestart {
                ctx,
                dst,
                len,
                src,
                wp,
                dontwake,
                at: dst + done,
                page,
            }));
            return Err(Errno::ERESTARTNOINTR);
        }
        // mcopy_atomic() keeps a page only over a sleep.
        debug_assert!(page.is_none(), "a page held with no sleep");
        if !dontwake {
            self.wake_userfault(ctx, dst, done);
        }
        if done == len {
            Ok(done)
        } else {
            Err(Errno::EAGAIN)
        }
    }

    /// UFFDIO_COPY going on after its source fault was resolved: the copy into the held page
    /// with faults allowed finishes, then the `retry:` (__mcopy_atomic()'s checks
    /// mmap_changing, EAGAIN; __mcopy_atomic_hugetlb()'s does not) finds the VMA again and
    /// fills the rest of the range from page `at` with that page first.
    pub(crate) fn uffdio_copy_restart(&mut self, tid: Tid, c: CopyRestart) -> SysResult<u64> {
        let before = c.at - c.dst;
        let mut page = c.page;
        let src = c.src + before;
        let r = match self.uffd.get(c.ctx).map(|x| (x.mm, x.mmap_changing)) {
            None => Err(Errno::EBADF),
            Some((None, _)) => Err(Errno::ESRCH),
            Some((Some(mm), n)) => {
                let huge = page.is_some_and(|f| self.pages.folio_test(f, PageFlags::HUGETLB));
                let copied = match page {
                    Some(f) => self.mcopy_copy_unlocked(tid, src, f),
                    None => Ok(()),
                };
                match copied {
                    Err(e) => Err(e),
                    Ok(()) if n > 0 && !huge => Err(Errno::EAGAIN),
                    Ok(()) => {
                        let rest = Fill::Copy { src, wp: c.wp };
                        self.mcopy_atomic(tid, mm, (c.at, c.dst + c.len), rest, &mut page)
                    }
                }
            }
        };
        // `out:` puts a page no longer needed (one kept over another sleep stays).
        if !self.tasks.get(tid).is_some_and(|t| t.in_userfault()) {
            if let Some(f) = page.take() {
                self.folio_put(f);
            }
        }
        let fill = Fill::Copy {
            src: c.src,
            wp: c.wp,
        };
        let (ctx, span) = (c.ctx, (c.dst, c.len));
        self.uffd_fill_finish(tid, ctx, span, before, r, (fill, page), c.dontwake)
    }

    /// userfaultfd_writeprotect(): set (`mode` WP) or clear uffd-wp on `[start, start+len)`
    /// of one registered VMA; clearing wakes unless DONTWAKE.
    pub fn uffdio_writeprotect(
        &mut self,
        tid: Tid,
        fd: i64,
        start: u64,
        len: u64,
        mode: u64,
    ) -> SysResult<()> {
        let (ctx, end) = self.uffd_range_ioctl(tid, fd, start, len)?;
        let both = UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE;
        if mode & !both != 0 || mode == both {
            return Err(Errno::EINVAL);
        }
        let mm = self.uffd[ctx].mm.ok_or(Errno::ESRCH)?;
        self.mwriteprotect_range(mm, (start, end), mode & UFFDIO_WRITEPROTECT_MODE_WP != 0)?;
        if mode == 0 {
            self.wake_userfault(ctx, start, len);
        }
        Ok(())
    }

    /// UFFDIO_WAKE (userfaultfd_wake()): no VMA or registration check, and not refused while
    /// mmap_changing.
    pub fn uffdio_wake(&mut self, tid: Tid, fd: i64, start: u64, len: u64) -> SysResult<()> {
        self.enter(tid)?;
        let ctx = self.uffd_ctx(tid, fd)?;
        if self.uffd[ctx].features.is_none() {
            return Err(Errno::EINVAL);
        }
        Self::uffd_validate_range(start, len)?;
        self.wake_userfault(ctx, start, len);
        Ok(())
    }
}
