//! mm/mmap.c: mmap (do_mmap, mmap_region), munmap (__do_munmap), get_unmapped_area.

use crate::errno::{Errno, SysResult};
use crate::hw::{PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, TASK_SIZE};
use crate::kernel::Kernel;
use crate::mm::hugetlb::HPAGE_SIZE;
use crate::mm::memory::ZapDetails;
use crate::mm::mmu_gather::MmuGather;
use crate::mm::vma::{can_merge, vm::*, Backing, Range, Vma};
use crate::mm::{MmId, MMAP_BASE, MMAP_MIN_ADDR};
use crate::sched::Tid;
use crate::uapi::*;

/// What mmap_region() maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MapKind {
    PrivateAnon,
    /// MAP_SHARED|MAP_ANONYMOUS: a new shmem file (shmem_zero_setup()).
    SharedAnon,
    /// A shmem file (inode) at a page offset.
    File(usize, u64),
}

/// LEGACY_MAP_MASK: the flags MAP_SHARED accepts without validation.
pub(crate) const LEGACY_MAP_MASK: u64 = MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_UNINITIALIZED
    | MAP_GROWSDOWN
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB;

/// stack_guard_gap: pages kept free below a growing stack.
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;
/// The default RLIMIT_STACK.
pub const RLIMIT_STACK: u64 = 8 << 20;

/// vm_start_gap(): where the room a VMA claims starts: a growing stack keeps the guard gap
/// below it free of new mappings.
fn vm_start_gap(v: &Vma) -> u64 {
    if v.flags & VM_GROWSDOWN != 0 {
        v.start.saturating_sub(STACK_GUARD_GAP)
    } else {
        v.start
    }
}

/// MAP_HUGE_SHIFT / MAP_HUGE_MASK: the huge page size (log2) a MAP_HUGETLB request names.
pub const MAP_HUGE_SHIFT: u64 = 26;
pub const MAP_HUGE_MASK: u64 = 0x3f;

/// ALIGN(len, 2 MiB) as C computes it (an overflow wraps to 0, which do_mmap() refuses).
fn hpage_align(len: u64) -> u64 {
    len.wrapping_add(HPAGE_SIZE - 1) & !(HPAGE_SIZE - 1)
}

/// PAGE_ALIGN() with overflow reported as None.
pub(crate) fn page_align(len: u64) -> Option<u64> {
    len.checked_add(PAGE_SIZE - 1).map(|l| l & PAGE_MASK)
}

/// calc_vm_prot_bits() without pkeys.
pub(crate) fn calc_vm_prot_bits(prot: u64) -> u64 {
    (if prot & PROT_READ != 0 { VM_READ } else { 0 })
        | (if prot & PROT_WRITE != 0 { VM_WRITE } else { 0 })
        | (if prot & PROT_EXEC != 0 { VM_EXEC } else { 0 })
}

impl Kernel {
    /// mmap(2); the files released on the way are released on return (task_work_run()).
    #[allow(clippy::too_many_arguments)]
    pub fn mmap(
        &mut self,
        tid: Tid,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u64,
        fd: i64,
        off: u64,
    ) -> SysResult<u64> {
        let r = self.ksys_mmap_pgoff(tid, addr, len, prot, flags, fd, off);
        self.task_work_run();
        r
    }

    /// ksys_mmap_pgoff() → vm_mmap_pgoff() → do_mmap(), 5.19's checks in kernel order, for
    /// anonymous memory and shmem files (memfd).
    #[allow(clippy::too_many_arguments)]
    fn ksys_mmap_pgoff(
        &mut self,
        tid: Tid,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u64,
        fd: i64,
        off: u64,
    ) -> SysResult<u64> {
        let mm = self.enter(tid)?;
        // arch sys_mmap: the offset must be page aligned.
        if off & !PAGE_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        let mut len = len;
        let file = if flags & MAP_ANONYMOUS == 0 {
            let f = self.fget(tid, fd)?.clone();
            if f.kind == crate::fs::file::FileKind::DevZero {
                return self.mmap_zero(mm, addr, len, prot, flags, off, &f);
            }
            if f.inode().is_some_and(|ino| self.inodes[ino].is_hugetlbfs()) {
                len = hpage_align(len);
            } else if flags & MAP_HUGETLB != 0 {
                // A MAP_HUGETLB request on a file that is not hugetlbfs.
                return Err(Errno::EINVAL);
            }
            Some(f)
        } else if flags & MAP_HUGETLB != 0 {
            // ksys_mmap_pgoff(): a hugetlbfs file of its own; only the 2 MiB size is modelled.
            if !matches!((flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK, 0 | 21) {
                return Err(Errno::EINVAL);
            }
            len = hpage_align(len);
            let ino = self.inode_new(len, None, crate::mm::filemap::Aops::Hugetlbfs);
            Some(crate::fs::file::File {
                refs: 0,
                ..crate::fs::file::File::new(crate::fs::file::FileKind::Inode(ino), true, true, 0)
            })
        } else {
            None
        };
        let res = self.do_mmap(mm, addr, len, prot, flags, off, file.as_ref());
        if let Some(f) = file {
            // An anonymous hugetlb file that no VMA took is dropped again.
            if let Some(ino) = f.inode() {
                self.shmem_put_unreferenced(ino);
            }
        }
        res
    }

    /// do_mmap() once ksys_mmap_pgoff() has the file (if any).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn do_mmap(
        &mut self,
        mm: MmId,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u64,
        off: u64,
        file: Option<&crate::fs::file::File>,
    ) -> SysResult<u64> {
        let huge = file
            .and_then(|f| f.inode())
            .is_some_and(|ino| self.inodes[ino].is_hugetlbfs());
        // do_mmap()
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let mut addr = addr;
        if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) == 0 {
            // round_hint_to_min()
            addr &= PAGE_MASK;
            if addr != 0 && addr < MMAP_MIN_ADDR {
                addr = MMAP_MIN_ADDR;
            }
        }
        let len = page_align(len).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Err(Errno::ENOMEM);
        }
        let pgoff = off >> PAGE_SHIFT;
        if pgoff.checked_add(len >> PAGE_SHIFT).is_none() {
            return Err(Errno::EOVERFLOW);
        }
        if self.mms[mm].vmas.len() > self.cfg.max_map_count {
            return Err(Errno::ENOMEM);
        }
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        let align = if huge { HPAGE_SIZE } else { PAGE_SIZE };
        let hint = addr;
        let addr = if flags & MAP_32BIT != 0 && !fixed {
            self.get_unmapped_area_32bit(mm, addr, len)?
        } else {
            self.get_unmapped_area(mm, addr, len, fixed, align)?
        };
        // shmem files, and shared anonymous memory (whose pgoff is ignored), get the area
        // through shmem_get_unmapped_area().
        let addr = match file {
            Some(_) if huge || flags & MAP_32BIT != 0 || fixed => addr,
            Some(_) => self.shmem_get_unmapped_area(mm, hint, len, pgoff, addr),
            None if flags & MAP_TYPE != MAP_PRIVATE && flags & MAP_32BIT == 0 && !fixed => {
                self.shmem_get_unmapped_area(mm, hint, len, 0, addr)
            }
            None => addr,
        };
        if flags & MAP_FIXED_NOREPLACE != 0 && self.mms[mm].vmas.intersects(addr, addr + len) {
            return Err(Errno::EEXIST);
        }
        let mut vm_flags = calc_vm_prot_bits(prot)
            | self.mms[mm].def_flags
            | VM_MAYREAD
            | VM_MAYWRITE
            | VM_MAYEXEC;
        if flags & MAP_GROWSDOWN != 0 {
            vm_flags |= VM_GROWSDOWN;
        }
        if flags & MAP_LOCKED != 0 {
            // Locked memory is populated up front and never reclaimed.
            vm_flags |= VM_LOCKED;
        }
        self.mmap_lock_check(mm, flags & MAP_LOCKED != 0, vm_flags, len)?;
        let kind = match file {
            Some(f) => {
                // file_mmap_ok(): the range must fit MAX_LFS_FILESIZE.
                let max = i64::MAX as u64;
                if len > max || pgoff > (max - len) >> PAGE_SHIFT {
                    return Err(Errno::EOVERFLOW);
                }
                match flags & MAP_TYPE {
                    t @ (MAP_SHARED | MAP_SHARED_VALIDATE) => {
                        // MAP_SHARED silently drops newer flags; MAP_SHARED_VALIDATE refuses them
                        // (shmem has no mmap_supported_flags).
                        if t == MAP_SHARED_VALIDATE && flags & !LEGACY_MAP_MASK != 0 {
                            return Err(Errno::EOPNOTSUPP);
                        }
                        if prot & PROT_WRITE != 0 && !f.writable {
                            return Err(Errno::EACCES);
                        }
                        vm_flags |= VM_SHARED | VM_MAYSHARE;
                        if !f.writable {
                            vm_flags &= !(VM_MAYWRITE | VM_SHARED);
                        }
                    }
                    MAP_PRIVATE => {}
                    _ => return Err(Errno::EINVAL),
                }
                if !f.readable {
                    return Err(Errno::EACCES);
                }
                if vm_flags & VM_GROWSDOWN != 0 {
                    return Err(Errno::EINVAL);
                }
                // No f_op->mmap (a userfaultfd): ENODEV.
                MapKind::File(f.inode().ok_or(Errno::ENODEV)?, pgoff)
            }
            None => match flags & MAP_TYPE {
                MAP_SHARED => {
                    if vm_flags & VM_GROWSDOWN != 0 {
                        return Err(Errno::EINVAL);
                    }
                    vm_flags |= VM_SHARED | VM_MAYSHARE;
                    MapKind::SharedAnon
                }
                // The pgoff of anonymous memory is the address's page number (for anon_vma).
                MAP_PRIVATE => MapKind::PrivateAnon,
                _ => return Err(Errno::EINVAL),
            },
        };
        if flags & MAP_NORESERVE != 0 {
            vm_flags |= VM_NORESERVE;
        }
        if huge {
            vm_flags |= VM_HUGETLB | VM_DONTEXPAND;
        }
        let start = self.mmap_region(mm, addr, len, vm_flags, kind)?;
        if flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE || vm_flags & VM_LOCKED != 0 {
            self.mm_populate(
                mm,
                (addr, addr + len),
                crate::mm::vm_fault::FaultFlags::empty(),
            );
        }
        Ok(start)
    }

    /// mmap_region(): replace what was there, merge with a neighbour or add a VMA.
    /// Locks: the mmap lock, write.
    fn mmap_region(
        &mut self,
        mm: MmId,
        addr: u64,
        len: u64,
        mut vm_flags: u64,
        kind: MapKind,
    ) -> SysResult<u64> {
        let end = addr + len;
        // may_expand_vm() against RLIMIT_AS and RLIMIT_DATA, counting what the new mapping
        // replaces only when the plain test fails.
        let pages = len >> PAGE_SHIFT;
        if !self.may_expand_vm(mm, vm_flags, pages) {
            let replaced: u64 = self.mms[mm]
                .vmas
                .iter()
                .filter(|v| v.end > addr && v.start < end)
                .map(|v| (v.end.min(end) - v.start.max(addr)) >> PAGE_SHIFT)
                .sum();
            if !self.may_expand_vm(mm, vm_flags, pages - replaced) {
                return Err(Errno::ENOMEM);
            }
        }
        self.do_munmap(mm, addr, len)?;
        if let MapKind::File(ino, _) = kind {
            use crate::mm::memfd::{F_SEAL_FUTURE_WRITE, F_SEAL_WRITE};
            let seals = self.inodes[ino].seals;
            // mapping_map_writable(): a write-sealed file takes no shared mapping.
            if vm_flags & VM_SHARED != 0 && seals & F_SEAL_WRITE != 0 {
                return Err(Errno::EPERM);
            }
            // shmem_mmap(): after F_SEAL_FUTURE_WRITE a shared mapping is read-only for good.
            if !self.inodes[ino].is_hugetlbfs()
                && vm_flags & VM_SHARED != 0
                && seals & F_SEAL_FUTURE_WRITE != 0
            {
                if vm_flags & VM_WRITE != 0 {
                    return Err(Errno::EPERM);
                }
                vm_flags &= !VM_MAYWRITE;
            }
        }
        let mut hugetlb_resv = Default::default();
        if let MapKind::File(ino, pgoff) = kind {
            if self.inodes[ino].is_hugetlbfs() {
                hugetlb_resv = self.hugetlbfs_file_mmap(ino, pgoff, len, vm_flags)?.into();
            }
        }
        // accountable_mapping(): private writable memory is charged unless MAP_NORESERVE
        // (hugetlb is accounted by its reservations instead).
        if vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE | VM_HUGETLB) == VM_WRITE {
            self.vm_enough_memory(len >> PAGE_SHIFT)?;
            vm_flags |= VM_ACCOUNT;
            self.mms[mm].committed += len >> PAGE_SHIFT;
        }
        vm_flags |= VM_SOFTDIRTY;
        // VM_SPECIAL (hugetlb's VM_DONTEXPAND among them) VMAs are never left VM_LOCKED; the
        // caller populates them all the same.
        if vm_flags & VM_SPECIAL != 0 {
            vm_flags &= VM_LOCKED_CLEAR_MASK;
        }
        let (backing, pgoff) = match kind {
            MapKind::PrivateAnon => (Backing::Anon, addr >> PAGE_SHIFT),
            MapKind::SharedAnon => (Backing::File(self.shmem_zero_setup(len)), 0),
            MapKind::File(ino, pgoff) => (Backing::File(ino), pgoff),
        };
        if let Backing::File(ino) = backing {
            // The VMA's file reference (get_file()).
            self.inodes[ino].refs += 1;
        }
        let vma = Vma {
            id: self.new_vma_id(),
            start: addr,
            end,
            flags: vm_flags,
            pgoff,
            backing,
            anon_vma: None,
            anon_vma_chain: Default::default(),
            hugetlb_resv,
            uffd_ctx: None,
            swap_ra_info: 0,
            policy: Default::default(),
            hugetlb_resv_flags: if vm_flags & (VM_HUGETLB | VM_MAYSHARE | VM_NORESERVE)
                == VM_HUGETLB
            {
                crate::mm::hugetlb::HPAGE_RESV_OWNER
            } else {
                0
            },
        };
        self.vma_link(mm, vma);
        self.mms[mm].total_vm += len >> PAGE_SHIFT;
        // A shared anonymous VMA has a file of its own, so it never merges.
        if kind != MapKind::SharedAnon {
            self.vma_merge(mm, addr);
        }
        // vma_merge() registered a merged VMA with khugepaged; this covers one that stayed
        // alone.
        let vma = self.mms[mm]
            .vmas
            .lookup(addr)
            .expect("just linked")
            .for_fault();
        self.khugepaged_enter_vma(mm, &vma, vma.flags);
        Ok(addr)
    }

    /// may_expand_vm(): `npages` more fit RLIMIT_AS, and, for a data mapping, RLIMIT_DATA
    /// (whose soft limit 0 lets the hard limit decide, the workaround for Valgrind).
    pub(crate) fn may_expand_vm(&self, mm: MmId, vm_flags: u64, npages: u64) -> bool {
        use crate::uapi::resource::{RLIMIT_AS, RLIMIT_DATA};
        let m = &self.mms[mm];
        if m.total_vm + npages > self.rlimit(RLIMIT_AS) >> PAGE_SHIFT {
            return false;
        }
        let data = self.rlimit_pair(RLIMIT_DATA);
        if crate::mm::vma::is_data_mapping(vm_flags)
            && m.data_vm() + npages > data.cur >> PAGE_SHIFT
        {
            return data.cur == 0 && m.data_vm() + npages <= data.max >> PAGE_SHIFT;
        }
        true
    }

    /// __vm_enough_memory() in the default heuristic overcommit mode: refuse only a single
    /// request larger than all memory and swap.
    pub(crate) fn vm_enough_memory(&self, pages: u64) -> SysResult<()> {
        let swap = self.total_swap_pages().max(0) as u64;
        if pages > (self.cfg.memory_bytes >> PAGE_SHIFT) + swap {
            Err(Errno::ENOMEM)
        } else {
            Ok(())
        }
    }

    /// get_unmapped_area() with the x86-64 top-down allocator (arch_get_unmapped_area_topdown)
    /// and no randomisation. With `fixed`, only the range checks apply.
    pub(crate) fn get_unmapped_area(
        &self,
        mm: MmId,
        hint: u64,
        len: u64,
        fixed: bool,
        align: u64,
    ) -> SysResult<u64> {
        if len > TASK_SIZE {
            return Err(Errno::ENOMEM);
        }
        // hugetlb_get_unmapped_area(): a fixed hugetlb range must be huge page aligned.
        if fixed && (hint | len) & (align - 1) != 0 {
            return Err(Errno::EINVAL);
        }
        let vmas = &self.mms[mm].vmas;
        // Both x86 allocators round a hint down (`&= PAGE_MASK`, `&= huge_page_mask()`).
        let hint = hint & !(align - 1);
        // No mmap_min_addr test here: mmap() rounded its hint up already (round_hint_to_min),
        // mremap() passes its own as it is, and security_mmap_addr() lets a privileged task
        // (the model's tasks are root, like the agents on the host) map below it.
        let addr = if fixed
            || (hint != 0
                && hint <= TASK_SIZE - len
                && vmas
                    .find(hint)
                    .is_none_or(|v| hint + len <= vm_start_gap(v)))
        {
            hint
        } else {
            // unmapped_area_topdown(): the highest gap below mmap_base that holds `len` plus
            // the slack an aligned start may need. Each gap ends where the VMA right above it
            // claims room (vm_start_gap()), so a stack's guard gap narrows only the gap
            // directly below that stack.
            let need = len.checked_add(align - PAGE_SIZE).ok_or(Errno::ENOMEM)?;
            let fit = |bottom: u64, top: u64| {
                (top >= bottom && top - bottom >= need).then(|| (top - len) & !(align - 1))
            };
            let mut top = MMAP_BASE;
            let mut found = None;
            for v in vmas.iter().rev() {
                found = fit(v.end, top);
                if found.is_some() {
                    break;
                }
                top = vm_start_gap(v).min(MMAP_BASE);
            }
            match found.or_else(|| fit(MMAP_MIN_ADDR, top)) {
                Some(a) => a,
                None => return Err(Errno::ENOMEM),
            }
        };
        if addr > TASK_SIZE - len {
            return Err(Errno::ENOMEM);
        }
        if addr & !PAGE_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(addr)
    }

    /// shmem_get_unmapped_area() after the allocator chose `addr`: where the shm mount may
    /// hold huge pages, a mapping of 2 MiB or more is moved so that its file offset and its
    /// address agree modulo 2 MiB (found in an area inflated by 2 MiB), unless the caller's
    /// hint was taken as it was.
    fn shmem_get_unmapped_area(&self, mm: MmId, hint: u64, len: u64, pgoff: u64, addr: u64) -> u64 {
        let k = &self.thp.knobs;
        if k.shmem_enabled == 4 || len < HPAGE_SIZE || hint == addr {
            return addr;
        }
        if k.shmem_enabled != 5 && k.shm_mnt_huge == 3 {
            return addr;
        }
        let offset = (pgoff << PAGE_SHIFT) & (HPAGE_SIZE - 1);
        if offset != 0 && offset + len < 2 * HPAGE_SIZE {
            return addr;
        }
        if addr & (HPAGE_SIZE - 1) == offset {
            return addr;
        }
        let inflated_len = len + HPAGE_SIZE - PAGE_SIZE;
        if inflated_len > TASK_SIZE {
            return addr;
        }
        let Ok(inflated) = self.get_unmapped_area(mm, hint, inflated_len, false, PAGE_SIZE) else {
            return addr;
        };
        let inflated_offset = inflated & (HPAGE_SIZE - 1);
        let mut a = inflated.wrapping_add(offset).wrapping_sub(inflated_offset);
        if inflated_offset > offset {
            a += HPAGE_SIZE;
        }
        if a > TASK_SIZE - len {
            return addr;
        }
        a
    }

    /// arch_get_unmapped_area() for MAP_32BIT (find_start_end(): bottom-up in
    /// [0x40000000, 0x80000000), no randomisation here): the hint if it is free below the
    /// window's end, else the lowest gap in the window.
    fn get_unmapped_area_32bit(&self, mm: MmId, hint: u64, len: u64) -> SysResult<u64> {
        const BEGIN: u64 = 0x4000_0000;
        const END: u64 = 0x8000_0000;
        let vmas = &self.mms[mm].vmas;
        let hint = hint.next_multiple_of(PAGE_SIZE);
        if hint != 0
            && END.checked_sub(len).is_some_and(|top| hint <= top)
            && !vmas.intersects(hint, hint + len)
        {
            return Ok(hint);
        }
        let mut low = BEGIN;
        for v in vmas.iter().filter(|v| v.end > BEGIN) {
            if v.start >= low && v.start - low >= len {
                break;
            }
            low = low.max(v.end);
        }
        if low.checked_add(len).is_some_and(|e| e <= END) {
            Ok(low)
        } else {
            Err(Errno::ENOMEM)
        }
    }

    /// __split_vma(): split the VMA spanning `addr`; the new half holds its own file reference.
    pub(crate) fn split_vma(&mut self, mm: MmId, addr: u64) -> SysResult<()> {
        // hugetlb_vm_op_split(): a hugetlb VMA splits only at a huge page boundary.
        if self.mms[mm].vmas.find(addr).is_some_and(|v| {
            v.start < addr && v.is_hugetlb() && !addr.is_multiple_of(crate::mm::hugetlb::HPAGE_SIZE)
        }) {
            return Err(Errno::EINVAL);
        }
        // vma_adjust_trans_huge(): a THP entry across the new boundary becomes PTEs.
        if !addr.is_multiple_of(crate::mm::hugetlb::HPAGE_SIZE) {
            self.split_huge_pmd(mm, addr & !(crate::mm::hugetlb::HPAGE_SIZE - 1));
        }
        let id = self.new_vma_id();
        let Some(mut new) = self.mms[mm].vmas.split(addr, id).cloned() else {
            return Ok(());
        };
        self.rmap.vma_loc.insert(id, (mm, addr));
        if let Backing::File(ino) = new.backing {
            self.inodes[ino].refs += 1;
            self.inodes[ino].i_mapping.i_mmap.insert(id);
        }
        // anon_vma_clone(new, vma): the new half joins every anon_vma of the old one's chain.
        let old = self.mms[mm]
            .vmas
            .lookup(addr - 1)
            .expect("lower half")
            .for_fault();
        new.anon_vma_chain.clear();
        self.anon_vma_clone(&mut new, &old);
        *self.mms[mm].vmas.get_mut(addr).expect("upper half") = new;
        Ok(())
    }

    /// vma_link(): a new VMA enters the mm: the tree, the VMA locations, its file's i_mmap.
    /// Locks: the mmap lock, write; i_mmap_rwsem, write.
    pub(crate) fn vma_link(&mut self, mm: MmId, vma: Vma) {
        self.rmap.vma_loc.insert(vma.id, (mm, vma.start));
        if let Backing::File(ino) = vma.backing {
            self.inodes[ino].i_mapping.i_mmap.insert(vma.id);
        }
        self.mms[mm].vmas.insert(vma);
    }

    /// The VMA at `start` leaves the mm (detach_vmas_to_be_unmapped() and the unlinks
    /// free_pgtables() makes: unlink_anon_vmas(), unlink_file_vma()); returned for the
    /// caller to zap and release. Locks: the mmap lock, write.
    pub(crate) fn vma_unlink(&mut self, mm: MmId, start: u64) -> Option<Vma> {
        let mut v = self.mms[mm].vmas.remove(start)?;
        self.vma_unlink_rmap(&mut v);
        Some(v)
    }

    /// The rmap half of removing a VMA that left the tree.
    fn vma_unlink_rmap(&mut self, v: &mut Vma) {
        self.rmap.vma_loc.remove(&v.id);
        if let Backing::File(ino) = v.backing {
            if let Some(i) = self.inodes.get_mut(ino) {
                i.i_mapping.i_mmap.remove(&v.id);
            }
        }
        self.unlink_anon_vmas(v);
    }

    /// vma_adjust() moving a VMA's start (expand_downwards()): the tree and the VMA locations
    /// follow.
    fn vma_set_start(&mut self, mm: MmId, start: u64, new_start: u64) -> Vma {
        let mut v = self.mms[mm].vmas.remove(start).expect("vma");
        v.pgoff -= (start - new_start) >> PAGE_SHIFT;
        v.start = new_start;
        self.rmap.vma_loc.insert(v.id, (mm, new_start));
        self.mms[mm].vmas.insert(v.clone());
        v
    }

    /// The splits mprotect_fixup()/madvise_update_vma() make to give `[start, end)` (inside one
    /// VMA) new flags. When vma_merge() can absorb the range into a neighbour, Linux moves the
    /// boundary instead of splitting, so the map_count limit does not apply; otherwise each
    /// split_vma() refuses at the limit (the first may already have happened).
    pub(crate) fn split_for_change(
        &mut self,
        mm: MmId,
        start: u64,
        end: u64,
        newflags: u64,
    ) -> SysResult<()> {
        let vmas = &self.mms[mm].vmas;
        let vma = vmas.lookup(start).expect("vma");
        if vma.start == start && vma.end == end {
            return Ok(());
        }
        let piece = Vma {
            start,
            end,
            flags: newflags,
            pgoff: vma.linear_page_index(start),
            ..vma.for_fault()
        };
        let merges = (start == vma.start
            && vmas
                .prev(start)
                .is_some_and(|p| can_merge(p, &piece, Range::Second)))
            || (end == vma.end
                && vmas
                    .lookup(end)
                    .is_some_and(|n| can_merge(&piece, n, Range::First)));
        let needs = [(start, vma.start < start), (end, end < vma.end)];
        for (at, needed) in needs {
            if needed {
                if !merges && self.mms[mm].vmas.len() >= self.cfg.max_map_count {
                    return Err(Errno::ENOMEM);
                }
                self.split_vma(mm, at)?;
            }
        }
        Ok(())
    }

    /// vma_merge() around the VMA at `start`; absorbed VMAs drop their file references.
    /// Returns the start of the VMA now covering `start`.
    /// Locks: the mmap lock, write; the anon_vma and i_mmap locks.
    pub(crate) fn vma_merge(&mut self, mm: MmId, start: u64) -> u64 {
        let (at, gone) = self.mms[mm].vmas.merge_around(start);
        let merged = !gone.is_empty();
        for mut g in gone {
            // vma_adjust(): a survivor without an anon_vma imports the absorbed VMA's (the
            // importer then joins every anon_vma of the exporter's chain).
            let survivor = self.mms[mm].vmas.lookup(at).expect("survivor");
            if survivor.anon_vma.is_none() && g.anon_vma.is_some() {
                let mut s = survivor.for_fault();
                s.anon_vma = g.anon_vma;
                self.anon_vma_clone(&mut s, &g);
                let v = self.mms[mm].vmas.get_mut(at).expect("survivor");
                v.anon_vma = s.anon_vma;
                v.anon_vma_chain = s.anon_vma_chain;
            }
            // anon_vma_merge(): the absorbed VMA's links go.
            self.vma_unlink_rmap(&mut g);
            self.vma_release(&g);
        }
        if merged {
            let survivor = self.mms[mm].vmas.lookup(at).expect("survivor").for_fault();
            self.khugepaged_enter_vma(mm, &survivor, survivor.flags);
        }
        at
    }

    /// expand_downwards() (via expand_stack() from the fault path): grow a VM_GROWSDOWN VMA
    /// down to the page of `addr`. A guard gap of stack_guard_gap (256 pages) must stay to an
    /// accessible VMA below, and the stack may not exceed RLIMIT_STACK (8 MiB by default).
    /// Locks: the mmap lock, read; the anon_vma lock and mm->page_table_lock around the growth.
    pub(crate) fn expand_downwards(&mut self, mm: MmId, vma: &Vma, addr: u64) -> SysResult<Vma> {
        let addr = addr & PAGE_MASK;
        if addr < MMAP_MIN_ADDR {
            return Err(Errno::EPERM);
        }
        if let Some(prev) = self.mms[mm].vmas.prev(vma.start) {
            if prev.flags & VM_GROWSDOWN == 0
                && prev.accessible()
                && addr.saturating_sub(prev.end) < STACK_GUARD_GAP
            {
                return Err(Errno::ENOMEM);
            }
        }
        let vma = self.vma_anon_prepare(mm, vma);
        let grow = (vma.start - addr) >> PAGE_SHIFT;
        if grow > vma.pgoff || vma.end - addr > RLIMIT_STACK {
            return Err(Errno::ENOMEM);
        }
        if vma.flags & VM_ACCOUNT != 0 {
            self.vm_enough_memory(grow)?;
            self.mms[mm].committed += grow;
        }
        self.mms[mm].total_vm += grow;
        let vma = self.vma_set_start(mm, vma.start, addr).for_fault();
        self.khugepaged_enter_vma(mm, &vma, vma.flags);
        Ok(vma)
    }

    /// brk(2): move the program break. Growing maps anonymous memory from the old break's page
    /// up (do_brk_flags(): a private read-write VMA merged with the heap below it), shrinking
    /// unmaps down to the new one. Below start_brk, past RLIMIT_DATA (check_data_rlimit()),
    /// into the page below another mapping or past what may_expand_vm() allows, the break
    /// stays and is returned; otherwise the new break is. After mlockall(MCL_FUTURE) the
    /// growth is populated.
    /// Locks: the mmap lock, write.
    pub fn brk(&mut self, tid: Tid, brk: u64) -> SysResult<u64> {
        use crate::uapi::resource::{RLIMIT_DATA, RLIM_INFINITY};
        let mm = self.enter(tid)?;
        let (start_brk, origbrk) = (self.mms[mm].start_brk, self.mms[mm].brk);
        if brk < start_brk {
            return Ok(origbrk);
        }
        let rlim = self.rlimit(RLIMIT_DATA);
        if rlim < RLIM_INFINITY && brk - start_brk > rlim {
            return Ok(origbrk);
        }
        let align = |a: u64| a.wrapping_add(PAGE_SIZE - 1) & PAGE_MASK;
        let (newbrk, oldbrk) = (align(brk), align(origbrk));
        if oldbrk == newbrk {
            self.mms[mm].brk = brk;
            return Ok(brk);
        }
        if brk <= origbrk {
            self.mms[mm].brk = brk;
            if self.do_munmap(mm, newbrk, oldbrk - newbrk).is_err() {
                self.mms[mm].brk = origbrk;
                return Ok(origbrk);
            }
            self.task_work_run();
            return Ok(brk);
        }
        if let Some(next) = self.mms[mm].vmas.find(oldbrk) {
            if newbrk.wrapping_add(PAGE_SIZE) > vm_start_gap(next) {
                return Ok(origbrk);
            }
        }
        if self
            .do_brk_flags(mm, oldbrk, newbrk.wrapping_sub(oldbrk))
            .is_err()
        {
            return Ok(origbrk);
        }
        self.mms[mm].brk = brk;
        if self.mms[mm].def_flags & VM_LOCKED != 0 {
            self.mm_populate(
                mm,
                (oldbrk, newbrk),
                crate::mm::vm_fault::FaultFlags::empty(),
            );
        }
        Ok(brk)
    }

    /// do_brk_flags(): `[addr, addr + len)` becomes heap, VM_DATA_DEFAULT_FLAGS with the
    /// mm's def_flags, after the MAP_FIXED placement check and mlock_future_check().
    fn do_brk_flags(&mut self, mm: MmId, addr: u64, len: u64) -> SysResult<()> {
        if len > TASK_SIZE || addr > TASK_SIZE - len {
            return Err(Errno::ENOMEM);
        }
        let def_flags = self.mms[mm].def_flags;
        self.mlock_future_check(mm, def_flags, len)?;
        let vm_flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | def_flags;
        if self.mms[mm].vmas.len() > self.cfg.max_map_count {
            return Err(Errno::ENOMEM);
        }
        self.mmap_region(mm, addr, len, vm_flags, MapKind::PrivateAnon)
            .map(|_| ())
    }

    /// munmap(2).
    /// Locks: the mmap lock, write (5.19 downgrades it to read for the unmap itself).
    pub fn munmap(&mut self, tid: Tid, addr: u64, len: u64) -> SysResult<()> {
        let mm = self.enter(tid)?;
        let r = self.do_munmap(mm, addr, len);
        self.task_work_run();
        r
    }

    /// __do_munmap(): split at the edges, zap, free the page tables nobody else covers, and
    /// drop the VMAs. An unmapped range is not an error.
    /// Locks: the mmap lock, write (5.19 downgrades it to read for the unmap itself).
    pub(crate) fn do_munmap(&mut self, mm: MmId, start: u64, len: u64) -> SysResult<()> {
        if start & !PAGE_MASK != 0 || start > TASK_SIZE || len > TASK_SIZE - start {
            return Err(Errno::EINVAL);
        }
        let len = page_align(len).ok_or(Errno::EINVAL)?;
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let end = start + len;
        let Some(first) = self.mms[mm].vmas.find(start).cloned() else {
            return Ok(());
        };
        if first.start >= end {
            return Ok(());
        }
        // Only a cut through the middle of one VMA is refused at the limit; map_count may go
        // one above it otherwise, to let munmap free resources.
        if first.start < start
            && end < first.end
            && self.mms[mm].vmas.len() >= self.cfg.max_map_count
        {
            return Err(Errno::ENOMEM);
        }
        // userfaultfd_unmap_prep() looks at the VMAs before they are split.
        let in_range: Vec<Vma> = self.mms[mm]
            .vmas
            .iter()
            .filter(|v| v.start < end && v.end > start)
            .cloned()
            .collect();
        let unmap_ctxs = self.userfaultfd_unmap_prep(&in_range);
        self.split_vma(mm, start)?;
        self.split_vma(mm, end)?;
        let victims: Vec<Vma> = self.mms[mm]
            .vmas
            .overlapping(start, end)
            .into_iter()
            .map(|s| self.vma_unlink(mm, s).expect("vma"))
            .collect();
        self.unmap_region(mm, &victims, start, end);
        self.userfaultfd_unmap_complete(unmap_ctxs, start, end);
        Ok(())
    }

    /// unmap_region(): zap each removed VMA (one flush per VMA, tlb_end_vma), free page tables
    /// between the surviving neighbours, then release the VMAs.
    pub(crate) fn unmap_region(&mut self, mm: MmId, victims: &[Vma], start: u64, end: u64) {
        self.lru_add_drain();
        self.mms[mm].update_hiwater_rss();
        let mut tlb = MmuGather::new(mm, false);
        for v in victims {
            self.zap_page_range(&mut tlb, v, (v.start, v.end), ZapDetails::UNMAP);
            self.tlb_end_vma(&mut tlb);
        }
        let floor = self.mms[mm].vmas.prev(start).map_or(0, |p| p.end);
        let ceiling = self.mms[mm].vmas.find(end).map_or(u64::MAX, |n| n.start);
        self.free_pgd_range(&mut tlb, mm, (start, end), (floor, ceiling));
        self.tlb_finish_mmu(tlb);
        for v in victims {
            let m = &mut self.mms[mm];
            m.total_vm -= v.pages();
            if v.flags & VM_ACCOUNT != 0 {
                m.committed -= v.pages();
            }
            self.vma_release(v);
        }
    }
}
