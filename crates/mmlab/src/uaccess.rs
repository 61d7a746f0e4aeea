//! A CPU's user-mode loads and stores: the TLB, the page walk and, when they fail,
//! arch/x86/mm/fault.c's do_user_addr_fault() into handle_mm_fault().

use crate::hw::{mmu::Walk, TlbEntry, PAGE_SIZE};
use crate::kernel::Kernel;
use crate::mm::vm_fault::{FaultFlags, VmFault};
use crate::mm::vma::{vm::*, Vma};
use crate::mm::MmId;
use crate::page::Pfn;
use crate::sched::{Signal, Tid};

impl Kernel {
    /// Translate a user access through the TLB, the page walk and, if needed, the fault
    /// handler (do_user_addr_fault). Returns the frame.
    /// `flags` says who accesses: FAULT_FLAG_USER for a user load or store, none for a
    /// kernel copy_from_user(); FAULT_FLAG_WRITE for a write.
    #[inline]
    fn translate(&mut self, tid: Tid, addr: u64, flags: FaultFlags) -> Result<Pfn, Signal> {
        let Some(t) = self.tasks.get(tid) else {
            return Err(Signal::Kill);
        };
        let (cpu, mm, retrying) = (t.cpu, t.mm, t.fault_retry.is_some());
        let write = flags.contains(FaultFlags::WRITE);
        if let Some(e) = self.tlbs[cpu].lookup(mm as u32, addr >> 12) {
            if (!write || (e.writable && e.dirty)) && !retrying {
                return Ok(e.pfn);
            }
        }
        self.translate_slow(tid, (cpu, mm), addr, flags)
    }

    #[cold]
    fn translate_slow(
        &mut self,
        tid: Tid,
        (cpu, mm): (usize, MmId),
        addr: u64,
        flags: FaultFlags,
    ) -> Result<Pfn, Signal> {
        let write = flags.contains(FaultFlags::WRITE);
        let vpn = addr >> 12;
        // The first access to a page after a userfault sleep there is 5.19's retry of that
        // fault (FAULT_FLAG_TRIED), whether or not it still needs the fault handler.
        let task = &mut self.tasks[tid];
        let flags = if task.fault_retry == Some(vpn) {
            task.fault_retry = None;
            flags | FaultFlags::TRIED
        } else {
            flags
        };
        let stale_ro = write
            && self.tlbs[cpu]
                .lookup(mm as u32, vpn)
                .is_some_and(|e| !e.writable);
        // A write through a read-only TLB entry faults without a walk; the CPU drops the entry.
        let mut need_fault = stale_ro;
        for _ in 0..4 {
            if need_fault {
                self.tlbs[cpu].flush_one(mm as u32, vpn);
                self.do_user_addr_fault(tid, addr, flags)?;
            }
            match self.walk_and_fill(cpu, mm, addr, write) {
                Some(pfn) => return Ok(pfn),
                None => need_fault = true,
            }
        }
        // The fault handler returned success four times and the entry still does not allow
        // the access: 5.19 does that for a PROT_NONE hugetlb entry in an accessible VMA
        // (hugetlb_fault() only marks it young), and the CPU faults again for ever.
        Err(Signal::Livelock)
    }

    /// do_user_addr_fault(): find the VMA, check access_error(), call handle_mm_fault() with
    /// FAULT_FLAG_DEFAULT plus the access's own flags.
    /// Locks: takes the mmap lock, read, around handle_mm_fault().
    fn do_user_addr_fault(&mut self, tid: Tid, addr: u64, flags: FaultFlags) -> Result<(), Signal> {
        let r = self.do_user_addr_fault_code(tid, addr, flags);
        if let Err((sig, code)) = r {
            if let Some(t) = self.tasks.get_mut(tid) {
                t.si_code = code;
            }
            return Err(sig);
        }
        Ok(())
    }

    /// do_user_addr_fault() with the si_code its signal carries: bad_area() (no VMA, one
    /// that cannot grow down to the address, a handler's VM_FAULT_SIGSEGV) is SEGV_MAPERR,
    /// bad_area_access_error() SEGV_ACCERR, do_sigbus() BUS_ADRERR.
    fn do_user_addr_fault_code(
        &mut self,
        tid: Tid,
        addr: u64,
        flags: FaultFlags,
    ) -> Result<(), (Signal, Option<u64>)> {
        use crate::uapi::resource::{BUS_ADRERR, SEGV_ACCERR, SEGV_MAPERR};
        let segv = |code| (Signal::Segv, Some(code));
        let write = flags.contains(FaultFlags::WRITE);
        let mm = self.enter(tid).map_err(|_| (Signal::Kill, None))?;
        let Some(mut vma) = self.mms[mm].vmas.find(addr).map(Vma::for_fault) else {
            return Err(segv(SEGV_MAPERR));
        };
        if vma.start > addr {
            if vma.flags & VM_GROWSDOWN == 0 {
                return Err(segv(SEGV_MAPERR));
            }
            vma = self
                .expand_downwards(mm, &vma, addr)
                .map_err(|_| segv(SEGV_MAPERR))?;
        }
        if (write && vma.flags & VM_WRITE == 0) || (!write && !vma.accessible()) {
            return Err(segv(SEGV_ACCERR));
        }
        let r = self.handle_mm_fault(mm, vma, addr, flags | FaultFlags::DEFAULT);
        // A task the OOM killer picked never gets back to the faulting instruction: its
        // SIGKILL is delivered on the way out of the fault.
        if self.current_is_oom_victim() {
            return Err((Signal::Kill, None));
        }
        // A user-mode fault returns to user space (resume_user_mode_work()).
        if r.is_ok() && flags.contains(FaultFlags::USER) {
            self.resume_user_mode_work();
        }
        match r {
            // mm_account_fault(): a fault that completes on a retry is a major one.
            Ok(_) if flags.contains(FaultFlags::TRIED) => Ok(()),
            Ok(r) => {
                self.account_fault(r);
                Ok(())
            }
            Err(e) if e.contains(VmFault::RETRY) => {
                self.tasks[tid].fault_retry = Some(addr >> 12);
                Err((Signal::Userfault, None))
            }
            Err(e) if e.contains(VmFault::OOM) => Err((Signal::Kill, None)),
            Err(e) if e.contains(VmFault::SIGSEGV) => Err(segv(SEGV_MAPERR)),
            // BUS_MCEERR_AR for a poisoned page: the model reports no code for it.
            Err(e) if e.intersects(VmFault::HWPOISON | VmFault::HWPOISON_LARGE) => {
                Err((Signal::Bus, None))
            }
            Err(_) => Err((Signal::Bus, Some(BUS_ADRERR))),
        }
    }

    /// The page a sleeping task's access will fault again with FAULT_FLAG_TRIED (the one
    /// whose fault returned VM_FAULT_RETRY), as an address: where its CPU resumes.
    pub fn fault_retry_addr(&self, tid: Tid) -> Option<u64> {
        Some(self.tasks.get(tid)?.fault_retry? << 12)
    }

    /// The frame behind a user address for a read, faulting it in as needed (the walk a
    /// copy_from_user() makes: a kernel-mode fault, no FAULT_FLAG_USER).
    pub(crate) fn translate_user(&mut self, tid: Tid, addr: u64) -> Result<Pfn, Signal> {
        self.translate(tid, addr, FaultFlags::empty())
    }

    /// The frame behind a user address for a kernel read with page faults disabled
    /// (pagefault_disable(): copy_from_user() under kmap_atomic()): a TLB hit or a present,
    /// user-readable entry found by the page walk; anything else fails without calling the
    /// fault handler.
    pub(crate) fn translate_user_nofault(&mut self, tid: Tid, addr: u64) -> Option<Pfn> {
        let t = self.tasks.get(tid)?;
        let (cpu, mm) = (t.cpu, t.mm);
        let vpn = addr >> 12;
        if let Some(e) = self.tlbs[cpu].lookup(mm as u32, vpn) {
            return Some(e.pfn);
        }
        self.walk_and_fill(cpu, mm, addr, false)
    }

    /// The MMU's page walk on a TLB miss: on success the CPU caches the translation (and so
    /// joins the mm's cpumask); None where the hardware would raise a page fault.
    fn walk_and_fill(&mut self, cpu: usize, mm: MmId, addr: u64, write: bool) -> Option<Pfn> {
        let Walk::Ok {
            pfn,
            writable,
            dirty,
            huge,
        } = self.mmu_walk(mm, addr, write)
        else {
            return None;
        };
        self.tlbs[cpu].fill(TlbEntry {
            vpn: addr >> 12,
            mm: mm as u32,
            pfn,
            writable,
            dirty,
            huge,
        });
        self.mms[mm].cpumask |= 1 << cpu;
        Some(pfn)
    }

    /// copy_to_user() of `bytes` to `addr` of `tid`'s memory: kernel-mode writes (no
    /// FAULT_FLAG_USER), page by page; on a page that cannot be written, how many bytes went
    /// before it and the signal (a caller that sleeps there goes on from that point).
    pub(crate) fn copy_to_user(
        &mut self,
        tid: Tid,
        addr: u64,
        bytes: &[u8],
    ) -> Result<(), (usize, Signal)> {
        let mut done = 0;
        while done < bytes.len() {
            let a = addr.checked_add(done as u64).ok_or((done, Signal::Segv))?;
            let n = ((PAGE_SIZE - (a & (PAGE_SIZE - 1))) as usize).min(bytes.len() - done);
            let pfn = self
                .translate(tid, a, FaultFlags::WRITE)
                .map_err(|s| (done, s))?;
            let run = &bytes[done..done + n];
            self.phys
                .fill_with(pfn, (a & (PAGE_SIZE - 1)) as usize, n, |i| run[i]);
            done += n;
        }
        Ok(())
    }

    /// The si_code of the signal `tid`'s last user access raised, cleared as it is read.
    pub fn take_si_code(&mut self, tid: Tid) -> Option<u64> {
        self.tasks.get_mut(tid).and_then(|t| t.si_code.take())
    }

    /// A one-byte user load.
    #[inline]
    pub fn load(&mut self, tid: Tid, addr: u64) -> Result<u8, Signal> {
        let pfn = self.translate(tid, addr, FaultFlags::USER)?;
        Ok(self.phys.load(pfn, (addr & (PAGE_SIZE - 1)) as usize))
    }

    /// A one-byte user store.
    #[inline]
    pub fn store(&mut self, tid: Tid, addr: u64, val: u8) -> Result<(), Signal> {
        let pfn = self.translate(tid, addr, FaultFlags::USER | FaultFlags::WRITE)?;
        self.phys.store(pfn, (addr & (PAGE_SIZE - 1)) as usize, val);
        Ok(())
    }

    /// memset() in user space, page by page.
    pub fn memset(&mut self, tid: Tid, addr: u64, val: u8, len: u64) -> Result<(), Signal> {
        let mut a = addr;
        let end = addr.checked_add(len).ok_or(Signal::Segv)?;
        while a < end {
            let n = (PAGE_SIZE - (a & (PAGE_SIZE - 1))).min(end - a);
            let pfn = self.translate(tid, a, FaultFlags::USER | FaultFlags::WRITE)?;
            self.phys
                .fill(pfn, (a & (PAGE_SIZE - 1)) as usize, n as usize, val);
            a += n;
        }
        Ok(())
    }

    /// User stores of a computed pattern: the byte at offset `i` of the range is `byte_at(i)`
    /// (a selftest's `p[i] = (char)i` loop), page by page.
    pub fn fill_with(
        &mut self,
        tid: Tid,
        addr: u64,
        len: u64,
        byte_at: impl Fn(u64) -> u8,
    ) -> Result<(), Signal> {
        let end = addr.checked_add(len).ok_or(Signal::Segv)?;
        let mut a = addr;
        while a < end {
            let n = (PAGE_SIZE - (a & (PAGE_SIZE - 1))).min(end - a);
            let pfn = self.translate(tid, a, FaultFlags::USER | FaultFlags::WRITE)?;
            let off = (a & (PAGE_SIZE - 1)) as usize;
            self.phys
                .fill_with(pfn, off, n as usize, |i| byte_at(a - addr + i as u64));
            a += n;
        }
        Ok(())
    }

    /// User loads of two ranges of `len` bytes, side by side (memcmp()): the offset of the
    /// first byte that differs, with both bytes.
    pub fn find_difference(
        &mut self,
        tid: Tid,
        (a, b): (u64, u64),
        len: u64,
    ) -> Result<Option<(u64, u8, u8)>, Signal> {
        a.checked_add(len).ok_or(Signal::Segv)?;
        b.checked_add(len).ok_or(Signal::Segv)?;
        let mut i = 0;
        while i < len {
            // Up to the next page boundary of either range.
            let room = |x: u64| PAGE_SIZE - (x & (PAGE_SIZE - 1));
            let n = room(a + i).min(room(b + i)).min(len - i);
            let pa = self.translate(tid, a + i, FaultFlags::USER)?;
            let pb = self.translate(tid, b + i, FaultFlags::USER)?;
            let (oa, ob) = (
                ((a + i) & (PAGE_SIZE - 1)) as usize,
                ((b + i) & (PAGE_SIZE - 1)) as usize,
            );
            for j in 0..n as usize {
                let (x, y) = (self.phys.load(pa, oa + j), self.phys.load(pb, ob + j));
                if x != y {
                    return Ok(Some((i + j as u64, x, y)));
                }
            }
            i += n;
        }
        Ok(None)
    }

    /// Read every byte of a range (as user loads); the first that differs from `val`.
    pub fn find_mismatch(
        &mut self,
        tid: Tid,
        addr: u64,
        len: u64,
        val: u8,
    ) -> Result<Option<(u64, u8)>, Signal> {
        self.find_mismatch_with(tid, addr, len, |_| val)
    }

    /// Read every byte of a range (as user loads), page by page; the first that differs from
    /// the one expected at its offset `i` in the range, `byte_at(i)` (a selftest's check of
    /// what its fill loop wrote).
    pub fn find_mismatch_with(
        &mut self,
        tid: Tid,
        addr: u64,
        len: u64,
        byte_at: impl Fn(u64) -> u8,
    ) -> Result<Option<(u64, u8)>, Signal> {
        let mut a = addr;
        let end = addr.checked_add(len).ok_or(Signal::Segv)?;
        while a < end {
            let n = (PAGE_SIZE - (a & (PAGE_SIZE - 1))).min(end - a);
            let pfn = self.translate(tid, a, FaultFlags::USER)?;
            let off = (a & (PAGE_SIZE - 1)) as usize;
            if let Some((off, b)) = self
                .phys
                .find_mismatch_with(pfn, off, n as usize, |i| byte_at(a - addr + i as u64))
            {
                return Ok(Some(((a & !(PAGE_SIZE - 1)) + off as u64, b)));
            }
            a += n;
        }
        Ok(None)
    }
}
