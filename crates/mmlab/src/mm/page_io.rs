//! mm/page_io.c: swap I/O. A device's contents are kept by slot. A zram device completes each
//! write inside swap_writepage() (rw_page, synchronous); a swap file's writes go out as bios
//! whose completion (end_page_writeback()) the model delivers once reclaim has put its batch
//! back on the LRU (`swap_io_complete()`), as a disk interrupt would arrive after the
//! submitting pass. Block reads complete before the faulting task goes on.
//!
//! A swap file whose filesystem does the I/O (SWP_FS_OPS, fs/nfs.rs) is written and read
//! through ->swap_rw() with a struct swap_iocb that gathers up to SWAP_CLUSTER_MAX pages at
//! consecutive offsets (the plug reclaim and read-ahead own). Its requests stay in flight
//! until completed: at the end of the reclaim pass or when a fault waits for its page, or,
//! once a scenario defers completion (`model.swap_io_defer`), only when it says which request
//! completes (`model.swap_io_complete`), so that the races of asynchronous swap replay.

use std::collections::VecDeque;

use crate::errno::Errno;
use crate::fs::nfs::RwOp;
use crate::hw::phys::FrameImage;
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::swapfile::SwpFlags;
use crate::page::{Folio, PageFlags, Pfn};
use crate::pgtable::swp::SwpEntry;
use crate::sched::WaitReason;

/// SWAP_CLUSTER_MAX: the bio_vecs of one swap_iocb.
pub const SWAP_CLUSTER_MAX: usize = 32;

/// The model's own counters of ->swap_rw() traffic, for `model.counter(NAME)`.
pub const SWAP_RW_COUNTERS: &[&str] = &[
    "swap_rw_requests",
    "swap_rw_pages",
    "swap_rw_inflight",
    "swap_fs_dirty_calls",
];

/// struct swap_iocb: folios of one swap file at consecutive byte offsets, one request.
#[derive(Clone, Debug)]
pub struct Sio {
    typ: u32,
    /// ki_pos: the byte offset of the first page in the file.
    pos: u64,
    /// bvec[]: one folio each, thp_size() bytes long.
    folios: Vec<Folio>,
    /// len: the bytes the request covers.
    len: u64,
    write: bool,
}

/// A swap_iocb being gathered: wbc->swap_plug for reclaim's writes, the read-ahead's plug.
#[derive(Debug, Default)]
pub struct SwapPlug(Option<Sio>);

/// A request ->swap_rw() queued (-EIOCBQUEUED) and not completed yet.
#[derive(Debug)]
struct InFlight {
    sio: Sio,
    /// The host file's request id; None for a request an injected error failed.
    host: Option<u64>,
}

/// The SWP_FS_OPS requests in flight and their counters.
#[derive(Debug, Default)]
pub struct SwapFsIo {
    inflight: VecDeque<InFlight>,
    /// Completions wait for `complete_swap_rw()` (a scenario orders them).
    pub deferred: bool,
    /// The next this many requests fail (an injected I/O error).
    pub fail_next: u64,
    /// Requests ->swap_rw() (or 5.18's ->direct_IO()/->readpage()) took.
    pub requests: u64,
    /// The pages those requests carried.
    pub pages: u64,
    /// Calls into the swap file's ->dirty_folio() (5.18's swap_dirty_folio()).
    pub fs_dirty_calls: u64,
}

impl SwapFsIo {
    /// Requests in flight.
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// The value of one of SWAP_RW_COUNTERS.
    pub fn counter(&self, name: &str) -> Option<u64> {
        match name {
            "swap_rw_requests" => Some(self.requests),
            "swap_rw_pages" => Some(self.pages),
            "swap_rw_inflight" => Some(self.inflight.len() as u64),
            "swap_fs_dirty_calls" => Some(self.fs_dirty_calls),
            _ => None,
        }
    }

    /// The request in flight, a write or a read, that carries `pfn`'s folio, if any.
    fn carrying(&self, pfn: Pfn, write: bool) -> Option<usize> {
        self.inflight
            .iter()
            .position(|r| r.sio.write == write && r.sio.folios.iter().any(|f| f.pfn() == pfn))
    }
}

impl Kernel {
    /// swap_writepage() of a locked swap-cache folio: each page's contents go to its slot,
    /// the folio is under writeback, pswpout (and thp_swpout) counted at submission; a
    /// synchronous device ends the writeback before returning. A SWP_FS_OPS file goes
    /// through swap_writepage_fs() with the caller's plug, if any.
    pub(crate) fn swap_writepage(&mut self, f: Folio, plug: Option<&mut SwapPlug>) {
        let nr = self.pages.folio_nr_pages(f);
        let e = self.page_swap_entry(f.pfn());
        self.pages.folio_set(f, PageFlags::WRITEBACK);
        self.pages.folio_clear(f, PageFlags::DIRTY);
        if self.swap_flags_of(e).contains(SwpFlags::FS_OPS) {
            self.swap_writepage_fs(f, e, plug);
            return;
        }
        for i in 0..nr {
            let img = self.phys.image(f.page(i));
            if let Some(si) = self.swap.devices[e.typ as usize].as_mut() {
                si.store.write(e.offset + i, img);
            }
        }
        self.count_swpout_vm_event(f);
        if self.swap_flags_of(e).contains(SwpFlags::SYNCHRONOUS_IO) {
            self.end_page_writeback(f);
        } else {
            self.swap_io_pending.push(f);
        }
    }

    /// folio_mark_dirty() of a swap-cache folio. 5.19's swap address space dirties with
    /// noop_dirty_folio() (PG_dirty alone: "mm: drop swap_dirty_folio"); 5.18's
    /// swap_dirty_folio() passed a SWP_FS_OPS folio on to the swap file's own ->dirty_folio(),
    /// calling into the filesystem from reclaim.
    pub(crate) fn swap_dirty_folio(&mut self, f: Folio) {
        self.pages.folio_set(f, PageFlags::DIRTY);
        if !self.cfg.features.swap_rw {
            let e = self.page_swap_entry(f.pfn());
            if self.swap_flags_of(e).contains(SwpFlags::FS_OPS) {
                self.swap_fs_io.fs_dirty_calls += 1;
            }
        }
    }

    /// count_swpout_vm_event(): pswpout by the folio's pages, thp_swpout for a THP.
    fn count_swpout_vm_event(&mut self, f: Folio) {
        let nr = self.pages.folio_nr_pages(f);
        self.vmstat.pswpout += nr;
        if nr > 1 {
            self.vmstat.thp_swpout += 1;
        }
    }

    /// swap_writepage_fs(): the folio (under writeback, unlocked) joins the plug's swap_iocb
    /// if that is for the same file and ends where this one starts, else the plug's request
    /// goes and a new one starts; a full request, or one made without a plug, goes at once.
    /// 5.18 (__swap_writepage()'s SWP_FS_OPS branch) instead wrote one PAGE_SIZE through
    /// ->direct_IO(), synchronously, counting one pswpout.
    fn swap_writepage_fs(&mut self, f: Folio, e: SwpEntry, plug: Option<&mut SwapPlug>) {
        if !self.cfg.features.swap_rw {
            let data = self.folio_bytes(f, 1);
            let r = self.swap_rw_sync(e, RwOp::Write(data));
            if r.is_ok() {
                self.vmstat.pswpout += 1;
                self.mark_written(e, 1);
            } else {
                self.swap_dirty_folio(f);
                self.pages.folio_clear(f, PageFlags::RECLAIM);
            }
            self.end_page_writeback(f);
            return;
        }
        self.swap_plug_add(f, e, true, plug);
    }

    /// The merge rule of swap_writepage_fs() and swap_readpage_fs(): same swap file and
    /// byte-contiguous joins the plugged request; at SWAP_CLUSTER_MAX folios, or with no
    /// plug, the request is submitted.
    fn swap_plug_add(&mut self, f: Folio, e: SwpEntry, write: bool, plug: Option<&mut SwapPlug>) {
        let pos = e.offset * PAGE_SIZE;
        let len = self.pages.folio_nr_pages(f) * PAGE_SIZE;
        let mut own = SwapPlug::default();
        let has_plug = plug.is_some();
        let p = plug.unwrap_or(&mut own);
        if let Some(s) = &p.0 {
            if s.typ != e.typ || s.pos + s.len != pos {
                let s = p.0.take().expect("checked");
                self.swap_rw_submit(s);
            }
        }
        let s = p.0.get_or_insert_with(|| Sio {
            typ: e.typ,
            pos,
            folios: Vec::with_capacity(SWAP_CLUSTER_MAX),
            len: 0,
            write,
        });
        s.folios.push(f);
        s.len += len;
        if s.folios.len() == SWAP_CLUSTER_MAX || !has_plug {
            let s = p.0.take().expect("just filled");
            self.swap_rw_submit(s);
        }
    }

    /// swap_write_unplug() / swap_read_unplug(): the request the plug gathered, if any, goes.
    pub(crate) fn swap_unplug(&mut self, plug: SwapPlug) {
        if let Some(s) = plug.0 {
            self.swap_rw_submit(s);
        }
    }

    /// The first `pages` pages of a folio's content, as the bytes a request carries.
    fn folio_bytes(&self, f: Folio, pages: u64) -> Vec<u8> {
        let mut v = Vec::with_capacity((pages * PAGE_SIZE) as usize);
        for i in 0..pages {
            match self.phys.image(f.page(i)) {
                None => v.resize(v.len() + PAGE_SIZE as usize, 0),
                Some(FrameImage::Tag(t)) => v.resize(v.len() + PAGE_SIZE as usize, t),
                Some(FrameImage::Bytes(b)) => v.extend_from_slice(&b[..]),
            }
        }
        v
    }

    /// Fill a page from the bytes a read brought (a page of zeroes reads as none).
    fn set_page_bytes(&mut self, pfn: Pfn, bytes: &[u8]) {
        let img = if bytes.iter().all(|&b| b == 0) {
            None
        } else if self.phys.mode() == crate::config::ContentMode::Tagged {
            Some(FrameImage::Tag(bytes[0]))
        } else {
            let mut b = Box::new([0u8; PAGE_SIZE as usize]);
            b.copy_from_slice(bytes);
            Some(FrameImage::Bytes(b))
        };
        self.phys.set_image(pfn, img.as_ref());
    }

    /// Remember that the swap file holds the content of `nr` slots from `e`.
    fn mark_written(&mut self, e: SwpEntry, nr: u64) {
        if let Some(si) = self.swap.devices[e.typ as usize].as_mut() {
            for i in 0..nr {
                si.written.set(e.offset + i, 1);
            }
        }
    }

    /// 5.18's ->direct_IO() / ->readpage() of one page: a request made and finished inline.
    fn swap_rw_sync(&mut self, e: SwpEntry, op: RwOp) -> Result<Vec<u8>, Errno> {
        self.swap_fs_io.requests += 1;
        self.swap_fs_io.pages += 1;
        self.trace(crate::trace::Event::SwapRw {
            write: matches!(op, RwOp::Write(_)),
            typ: e.typ,
            pos: e.offset * PAGE_SIZE,
            pages: 1,
        });
        if self.swap_fs_io.fail_next > 0 {
            self.swap_fs_io.fail_next -= 1;
            return Err(Errno::EIO);
        }
        let file = self.swap.si(e.typ).and_then(|si| si.swap_file.clone());
        file.map_or(Err(Errno::EIO), |f| f.rw_sync(e.offset * PAGE_SIZE, &op))
    }

    /// ->swap_rw() of a gathered request: its pages' bytes (a write) or room for them (a
    /// read) go to the host file's I/O thread, and the request is in flight.
    fn swap_rw_submit(&mut self, sio: Sio) {
        let pages = sio.len / PAGE_SIZE;
        self.swap_fs_io.requests += 1;
        self.swap_fs_io.pages += pages;
        self.trace(crate::trace::Event::SwapRw {
            write: sio.write,
            typ: sio.typ,
            pos: sio.pos,
            pages,
        });
        let file = self.swap.si(sio.typ).and_then(|si| si.swap_file.clone());
        let host = match file {
            Some(_) if self.swap_fs_io.fail_next > 0 => {
                self.swap_fs_io.fail_next -= 1;
                None
            }
            Some(file) => {
                let op = if sio.write {
                    let mut data = Vec::with_capacity(sio.len as usize);
                    for &f in &sio.folios {
                        let nr = self.pages.folio_nr_pages(f);
                        data.extend(self.folio_bytes(f, nr));
                    }
                    RwOp::Write(data)
                } else {
                    RwOp::Read(sio.len as usize)
                };
                Some(file.submit(sio.pos, op))
            }
            None => None,
        };
        self.swap_fs_io.inflight.push_back(InFlight { sio, host });
    }

    /// ki_complete() of the request at `index` of those in flight (0: the oldest):
    /// sio_write_complete() or sio_read_complete(). Returns the folios it carried.
    pub fn complete_swap_rw(&mut self, index: usize) -> Option<usize> {
        let InFlight { sio, host } = self.swap_fs_io.inflight.remove(index)?;
        let file = self.swap.si(sio.typ).and_then(|si| si.swap_file.clone());
        let r = match (host, file) {
            (Some(id), Some(file)) => file.complete(id),
            _ => Err(Errno::EIO),
        };
        // mm treats anything but the whole length as a failure.
        let ok = match &r {
            Ok(d) => sio.write || d.len() as u64 == sio.len,
            Err(_) => false,
        };
        if sio.write {
            self.sio_write_complete(&sio, ok);
        } else {
            self.sio_read_complete(&sio, r.ok().filter(|_| ok));
        }
        Some(sio.folios.len())
    }

    /// sio_write_complete(): on success each folio is counted (count_swpout_vm_event(), so a
    /// THP adds its pages to pswpout); on failure each is redirtied and loses PG_reclaim, so
    /// it stays in the swap cache with its data for reclaim to try again. Writeback ends
    /// either way, waking whoever waits for it.
    fn sio_write_complete(&mut self, sio: &Sio, ok: bool) {
        for &f in &sio.folios {
            if ok {
                self.count_swpout_vm_event(f);
                let e = self.page_swap_entry(f.pfn());
                let nr = self.pages.folio_nr_pages(f);
                self.mark_written(e, nr);
            } else {
                self.swap_dirty_folio(f);
                self.pages.folio_clear(f, PageFlags::RECLAIM);
            }
        }
        for &f in &sio.folios {
            self.end_page_writeback(f);
            self.wake_folio_waiters(f);
        }
    }

    /// sio_read_complete(): on success each page gets its bytes and is uptodate, pswpin
    /// counting one per folio (per bio_vec); on failure PG_error, not uptodate. Each folio is
    /// unlocked either way, waking the faults that wait for it.
    fn sio_read_complete(&mut self, sio: &Sio, data: Option<Vec<u8>>) {
        let mut at = 0usize;
        for &f in &sio.folios {
            let nr = self.pages.folio_nr_pages(f);
            match &data {
                Some(d) => {
                    for i in 0..nr {
                        let page = &d[at..at + PAGE_SIZE as usize];
                        self.set_page_bytes(f.page(i), page);
                        at += PAGE_SIZE as usize;
                    }
                    self.pages.folio_set(f, PageFlags::UPTODATE);
                }
                None => {
                    self.pages.folio_set(f, PageFlags::ERROR);
                    self.pages.folio_clear(f, PageFlags::UPTODATE);
                }
            }
            self.pages.folio_clear(f, PageFlags::LOCKED);
            self.wake_folio_waiters(f);
        }
        if data.is_some() {
            self.vmstat.pswpin += sio.folios.len() as u64;
        }
    }

    /// folio_wake_bit(): tasks asleep on this folio's lock or writeback wake.
    fn wake_folio_waiters(&mut self, f: Folio) {
        let pfn = f.pfn().0;
        for (_, t) in self.tasks.iter_mut() {
            if matches!(t.wait, Some(WaitReason::SwapIn { pfn: p } | WaitReason::FolioLock { pfn: p } | WaitReason::Writeback { pfn: p }) if p == pfn)
            {
                t.wait = None;
            }
        }
    }

    /// Complete every SWP_FS_OPS request in flight, oldest first (of device `typ` only, if
    /// given): what waiting for each of their folios comes to.
    pub(crate) fn swap_rw_complete_all(&mut self, typ: Option<u32>) {
        let mut i = 0;
        while i < self.swap_fs_io.inflight.len() {
            if typ.is_some_and(|t| self.swap_fs_io.inflight[i].sio.typ != t) {
                i += 1;
            } else {
                self.complete_swap_rw(i);
            }
        }
    }

    /// folio_lock_or_retry() on a swap-in folio whose read is in flight. With completions
    /// deferred, a user fault that may retry sleeps (WaitReason::SwapIn for the fault that
    /// started the read, FolioLock for another) and this returns false, and any other
    /// caller waits in lock_page() for that request alone; otherwise every request in flight
    /// completes now. True once the folio's read is done.
    pub(crate) fn swap_read_wait(&mut self, pfn: Pfn, may_sleep: bool, started: bool) -> bool {
        let Some(i) = self.swap_fs_io.carrying(pfn, false) else {
            return true;
        };
        if !self.swap_fs_io.deferred {
            self.swap_rw_complete_all(None);
            return true;
        }
        if may_sleep {
            let pfn = pfn.0;
            self.tasks[self.current].wait = Some(if started {
                WaitReason::SwapIn { pfn }
            } else {
                WaitReason::FolioLock { pfn }
            });
            return false;
        }
        self.complete_swap_rw(i);
        true
    }

    /// shmem_swapin_folio()'s waits on a swap-cache folio: folio_lock() while a read of it is
    /// in flight, then folio_wait_writeback() while a write is. With completions deferred, a
    /// user fault that may retry sleeps (FolioLock, or WaitReason::Writeback) and this
    /// returns false; otherwise the request completes now.
    pub(crate) fn swap_folio_wait(&mut self, pfn: Pfn, may_sleep: bool) -> bool {
        if !self.swap_read_wait(pfn, may_sleep, false) {
            return false;
        }
        let Some(i) = self.swap_fs_io.carrying(pfn, true) else {
            return true;
        };
        if self.swap_fs_io.deferred && may_sleep {
            self.tasks[self.current].wait = Some(WaitReason::Writeback { pfn: pfn.0 });
            return false;
        }
        self.complete_swap_rw(i);
        true
    }

    /// A read of this folio failed (PG_error and not uptodate: the fault is SIGBUS).
    pub(crate) fn swap_read_failed(&self, f: Folio) -> bool {
        self.pages.folio_test(f, PageFlags::ERROR) && !self.pages.folio_test(f, PageFlags::UPTODATE)
    }

    /// swap_readpage() of one page from `e` into the locked page `pfn`: its slot's contents,
    /// uptodate, pswpin counted, unlocked. A SWP_FS_OPS file reads through
    /// swap_readpage_fs() with the caller's plug and leaves the page locked until the
    /// request completes (5.18: ->readpage(), one page, synchronously).
    pub(crate) fn swap_readpage(&mut self, pfn: Pfn, e: SwpEntry, plug: Option<&mut SwapPlug>) {
        if self.swap_flags_of(e).contains(SwpFlags::FS_OPS) {
            let f = self.pages.folio(pfn);
            self.pages.folio_set(f, PageFlags::LOCKED);
            if self.cfg.features.swap_rw {
                self.swap_plug_add(f, e, false, plug);
                return;
            }
            match self.swap_rw_sync(e, RwOp::Read(PAGE_SIZE as usize)) {
                Ok(d) => {
                    self.set_page_bytes(pfn, &d);
                    self.pages.folio_set(f, PageFlags::UPTODATE);
                    self.vmstat.pswpin += 1;
                }
                Err(_) => self.pages.folio_set(f, PageFlags::ERROR),
            }
            self.pages.folio_clear(f, PageFlags::LOCKED);
            return;
        }
        let img = self
            .swap
            .device_of(e)
            .and_then(|si| si.store.read(e.offset));
        self.phys.set_image(pfn, img.as_ref());
        let p = self.pages.page_mut(pfn);
        p.flags |= PageFlags::UPTODATE;
        p.flags.remove(PageFlags::LOCKED);
        self.vmstat.pswpin += 1;
    }

    /// folio_end_writeback(): PG_writeback clears (acct_reclaim_writeback() may wake kswapd
    /// throttled on writeback); a folio reclaim wanted freed
    /// (PG_reclaim) goes to the tail of its inactive list (folio_rotate_reclaimable(),
    /// pgrotated) so the next scan finds it first.
    pub(crate) fn end_page_writeback(&mut self, f: Folio) {
        self.pages.folio_clear(f, PageFlags::WRITEBACK);
        self.acct_reclaim_writeback(f);
        if !self.pages.folio_test(f, PageFlags::RECLAIM) {
            return;
        }
        self.pages.folio_clear(f, PageFlags::RECLAIM);
        let m = &self.pages;
        if m.folio_test(f, PageFlags::LRU)
            && !m.folio_test(
                f,
                PageFlags::LOCKED | PageFlags::DIRTY | PageFlags::UNEVICTABLE,
            )
        {
            self.lru.lruvec.del(&mut self.pages, f);
            self.pages.folio_clear(f, PageFlags::ACTIVE);
            self.lru.lruvec.add_tail(&mut self.pages, f);
            self.vmstat.pgrotated += self.pages.folio_nr_pages(f);
        }
    }

    /// The byte the swap file on the host holds for the page at `addr` of `tid`'s address
    /// space: its swap PTE's slot, or the slot of the swap-cache page mapped there.
    pub fn swap_host_byte(&self, tid: crate::sched::Tid, addr: u64) -> Result<u8, String> {
        use crate::pgtable::pte::PteKind;
        use crate::pgtable::swp::SwpKind;
        let mm = self.task(tid).map_err(|e| e.to_string())?.mm;
        let slot = crate::pgtable::table::walk(&self.phys, self.mms[mm].pgd, addr)
            .ok_or_else(|| format!("no page table maps {addr:#x}"))?;
        let e = match crate::pgtable::table::get(&self.phys, slot).kind() {
            PteKind::Swp(SwpKind::Swap { typ, offset }, _) => SwpEntry::new(typ, offset),
            PteKind::Present(p)
                if self
                    .pages
                    .page(self.pages.folio(p.pfn()).pfn())
                    .flags
                    .contains(PageFlags::SWAPCACHE) =>
            {
                let head = self.pages.folio(p.pfn()).pfn();
                let e = self.page_swap_entry(head);
                SwpEntry::new(e.typ, e.offset + (p.pfn().0 - head.0))
            }
            _ => return Err(format!("nothing at {addr:#x} has a swap slot")),
        };
        let file = self
            .swap
            .si(e.typ)
            .and_then(|si| si.swap_file.clone())
            .ok_or_else(|| format!("swap type {} is not a swap file on the host", e.typ))?;
        let pos = e.offset * PAGE_SIZE + (addr & (PAGE_SIZE - 1));
        file.read_at(pos, 1)
            .map(|b| b[0])
            .map_err(|er| format!("reading the host file: {er}"))
    }

    /// The completion of every swap write in flight (and, unless a scenario orders
    /// completions itself, of every SWP_FS_OPS request).
    pub(crate) fn swap_io_complete(&mut self) {
        for f in std::mem::take(&mut self.swap_io_pending) {
            self.end_page_writeback(f);
        }
        if !self.swap_fs_io.deferred {
            self.swap_rw_complete_all(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::page::Gfp;
    use crate::uapi::*;
    use crate::{Config, Kernel, Profile};

    /// The reasons a task sleeps on SWP_FS_OPS I/O with completions deferred, and what wakes
    /// each: the fault that started a read waits for it (SwapIn), a second fault on the folio
    /// waits on its lock (FolioLock), a shmem fault on a page being written waits for the
    /// writeback (Writeback); the completion of the request carrying the folio clears them.
    /// swapoff completes its device's requests in flight itself.
    #[test]
    fn each_wait_reason_is_woken_by_its_completion() {
        use crate::sched::{Signal, WaitReason};
        let mut k = Kernel::new(Config::new(Profile::Linux519));
        let t = k.spawn_process(0).expect("process");
        let u = k.spawn_thread(t, 0).expect("thread");
        k.create_nfs_swap_file("nfs0", 4 << 20, false, None)
            .expect("host file");
        k.swapon(t, "nfs0", 0).expect("swapon");
        let rw = PROT_READ | PROT_WRITE;
        let a = k
            .mmap(t, 0, 4096, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            .expect("mmap");
        let s = k
            .mmap(t, 0, 4096, rw, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
            .expect("mmap");
        k.memset(t, a, 0x31, 4096).expect("fill");
        k.memset(t, s, 0x32, 4096).expect("fill");
        k.madvise(t, a, 4096, MADV_PAGEOUT).expect("out");
        assert_eq!(k.load(t, a), Ok(0x31), "from the swap cache");
        k.madvise(t, a, 4096, MADV_PAGEOUT).expect("clean: freed");
        k.swap_fs_io.deferred = true;
        assert_eq!(k.load(t, a), Err(Signal::Userfault));
        let pfn = match k.tasks[t].wait {
            Some(WaitReason::SwapIn { pfn }) => pfn,
            w => panic!("the reading fault waits for its read: {w:?}"),
        };
        assert_eq!(k.load(u, a + 1), Err(Signal::Userfault));
        assert_eq!(k.tasks[u].wait, Some(WaitReason::FolioLock { pfn }));
        k.madvise(t, s, 4096, MADV_PAGEOUT).expect("shmem out");
        assert_eq!(k.swap_fs_io.inflight(), 2, "the read and the shmem write");
        k.complete_swap_rw(0);
        assert_eq!((k.tasks[t].wait, k.tasks[u].wait), (None, None));
        assert_eq!(k.load(t, a), Ok(0x31));
        assert_eq!(k.load(u, s), Err(Signal::Userfault));
        assert!(matches!(
            k.tasks[u].wait,
            Some(WaitReason::Writeback { .. })
        ));
        k.complete_swap_rw(0);
        assert_eq!(k.tasks[u].wait, None);
        assert_eq!(k.load(u, s), Ok(0x32));
        k.memset(t, a, 0x33, 4096).expect("dirty again");
        k.madvise(t, a, 4096, MADV_PAGEOUT).expect("out, in flight");
        assert_eq!(k.swap_fs_io.inflight(), 1);
        assert_eq!(k.swapoff(t, "nfs0"), Ok(0), "its write completes first");
        assert_eq!(k.swap_fs_io.inflight(), 0);
        assert_eq!(k.load(t, a), Ok(0x33));
        k.check_invariants().expect("invariants");
    }

    /// 5.19's may_enter_fs(): reclaim from a GFP_NOFS context (__GFP_IO without __GFP_FS)
    /// writes swap-cache folios to a block swap file but not to SWP_FS_OPS swap, where the
    /// write would re-enter the filesystem: those stay dirty in the swap cache. GFP_KERNEL
    /// reclaim writes both; 5.18 wrote both from NOFS too.
    #[test]
    fn nofs_reclaim_skips_fs_ops_swap_but_writes_a_block_swap_file() {
        let nofs = Gfp::KERNEL.difference(Gfp::FS);
        for (profile, fs_ops_written) in [(Profile::Linux519, false), (Profile::Linux518, true)] {
            for (nfs, gfp, want) in [
                (true, nofs, fs_ops_written),
                (false, nofs, true),
                (true, Gfp::KERNEL, true),
            ] {
                let mut k = Kernel::new(Config::new(profile));
                let t = k.spawn_process(0).expect("process");
                if nfs {
                    k.create_nfs_swap_file("s", 4 << 20, false, None)
                        .expect("host file");
                } else {
                    let kind = crate::mm::swapfile::SwapFileKind::Mkswap;
                    k.create_swap_file("s", 4 << 20, kind).expect("swap file");
                }
                k.swapon(t, "s", 0).expect("swapon");
                let rw = PROT_READ | PROT_WRITE;
                let p = k
                    .mmap(t, 0, 8 * 4096, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                    .expect("mmap");
                k.memset(t, p, 0x44, 8 * 4096).expect("fill");
                k.lru_add_drain_all();
                for _ in 0..4 {
                    k.try_to_free_pages(gfp, 0);
                }
                let cached = k.meminfo("SwapCached").unwrap_or(0);
                let what = format!("{profile} nfs={nfs} gfp={gfp:?}");
                assert!(
                    cached > 0 || k.vmstat.pswpout > 0,
                    "{what}: reclaim swapped"
                );
                assert_eq!(k.vmstat.pswpout > 0, want, "{what}: written");
                k.check_invariants().expect("invariants");
                for i in 0..8 {
                    assert_eq!(k.load(t, p + i * 4096), Ok(0x44), "{what}");
                }
            }
        }
    }
}
