//! mm/mremap.c: grow or shrink in place, move (MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP).

use crate::errno::{Errno, SysResult};
use crate::hw::{PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, TASK_SIZE};
use crate::kernel::{Kernel, Tid};
use crate::mm::mmap::page_align;
use crate::mm::vma::{vm::*, Vma};
use crate::mm::MmId;
use crate::pgtable::pte::Pte;
use crate::pgtable::table;
use crate::uapi::*;

impl Kernel {
    /// mremap(2), with the checks in the order of SYSCALL_DEFINE5(mremap) in 5.19.
    pub fn mremap(
        &mut self,
        tid: Tid,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
    ) -> SysResult<u64> {
        let mm = self.enter(tid)?;
        if flags & !(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MREMAP_DONTUNMAP != 0 && (flags & MREMAP_MAYMOVE == 0 || old_len != new_len) {
            return Err(Errno::EINVAL);
        }
        if addr & !PAGE_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        let old_len = page_align(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_align(new_len).ok_or(Errno::EINVAL)?;
        if new_len == 0 {
            return Err(Errno::EINVAL);
        }
        if self.mms[mm].vmas.lookup(addr).is_none() {
            // 5.16-5.18 returned the positive EFAULT as if it were an address (fixed in 5.19).
            return if self.cfg.features.mremap_efault_fix {
                Err(Errno::EFAULT)
            } else {
                Ok(Errno::EFAULT.code() as u64)
            };
        }
        if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
            return self.mremap_to(mm, addr, old_len, new_addr, new_len, flags);
        }
        if old_len >= new_len {
            if old_len > new_len {
                self.do_munmap(mm, addr + new_len, old_len - new_len)?;
            }
            return Ok(addr);
        }
        let vma = self.vma_to_resize(mm, addr, old_len, new_len, flags)?;
        if old_len == vma.end - addr && self.vma_expandable(mm, &vma, new_len - old_len) {
            let pages = (new_len - old_len) >> PAGE_SHIFT;
            if vma.flags & VM_ACCOUNT != 0 {
                self.vm_enough_memory(pages)?;
                self.mms[mm].committed += pages;
            }
            let m = &mut self.mms[mm];
            m.vmas.get_mut(vma.start).expect("vma").end = addr + new_len;
            m.total_vm += pages;
            if let crate::mm::Backing::Shmem(ino) = vma.backing {
                let s = &mut self.shmem[ino];
                s.size = s
                    .size
                    .max((vma.pgoff << PAGE_SHIFT) + (addr + new_len - vma.start));
            }
            return Ok(addr);
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        let dst = self.get_unmapped_area(mm, 0, new_len, false)?;
        self.move_vma(mm, &vma, addr, old_len, new_len, dst, flags)
    }

    /// mremap_to(): MREMAP_FIXED and/or MREMAP_DONTUNMAP.
    fn mremap_to(
        &mut self,
        mm: MmId,
        addr: u64,
        old_len: u64,
        new_addr: u64,
        new_len: u64,
        flags: u64,
    ) -> SysResult<u64> {
        if new_addr & !PAGE_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        if new_len > TASK_SIZE || new_addr > TASK_SIZE - new_len {
            return Err(Errno::EINVAL);
        }
        if addr + old_len > new_addr && new_addr + new_len > addr {
            return Err(Errno::EINVAL);
        }
        if self.mms[mm].vmas.len() + 2 >= self.cfg.max_map_count - 3 {
            return Err(Errno::ENOMEM);
        }
        if flags & MREMAP_FIXED != 0 {
            self.do_munmap(mm, new_addr, new_len)?;
        }
        let mut old_len = old_len;
        if old_len > new_len {
            self.do_munmap(mm, addr + new_len, old_len - new_len)?;
            old_len = new_len;
        }
        let vma = self.vma_to_resize(mm, addr, old_len, new_len, flags)?;
        let dst = if flags & MREMAP_FIXED != 0 {
            new_addr
        } else {
            self.get_unmapped_area(mm, new_addr, new_len, false)?
        };
        self.move_vma(mm, &vma, addr, old_len, new_len, dst, flags)
    }

    /// vma_to_resize(): the VMA at `addr` must hold the whole old range.
    fn vma_to_resize(
        &self,
        mm: MmId,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
    ) -> SysResult<Vma> {
        let vma = self.mms[mm]
            .vmas
            .lookup(addr)
            .cloned()
            .ok_or(Errno::EFAULT)?;
        if old_len == 0 && vma.flags & (VM_SHARED | VM_MAYSHARE) == 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MREMAP_DONTUNMAP != 0 && vma.flags & (VM_DONTEXPAND | VM_PFNMAP) != 0 {
            return Err(Errno::EINVAL);
        }
        if old_len > vma.end - addr {
            return Err(Errno::EFAULT);
        }
        if new_len == old_len {
            return Ok(vma);
        }
        let pgoff = ((addr - vma.start) >> PAGE_SHIFT) + vma.pgoff;
        if pgoff.checked_add(new_len >> PAGE_SHIFT).is_none() {
            return Err(Errno::EINVAL);
        }
        if vma.flags & (VM_DONTEXPAND | VM_PFNMAP) != 0 {
            return Err(Errno::EFAULT);
        }
        Ok(vma)
    }

    /// vma_expandable(): nothing mapped in the `delta` bytes after the VMA.
    fn vma_expandable(&self, mm: MmId, vma: &Vma, delta: u64) -> bool {
        let end = vma.end.checked_add(delta).filter(|&e| e <= TASK_SIZE);
        end.is_some_and(|e| !self.mms[mm].vmas.intersects(vma.end, e))
    }

    /// move_vma(): copy_vma() to `dst`, move_page_tables(), then unmap the old range (or, with
    /// MREMAP_DONTUNMAP, leave it mapped and empty).
    #[allow(clippy::too_many_arguments)]
    fn move_vma(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        old_len: u64,
        new_len: u64,
        dst: u64,
        flags: u64,
    ) -> SysResult<u64> {
        if self.mms[mm].vmas.len() >= self.cfg.max_map_count - 3 {
            return Err(Errno::ENOMEM);
        }
        let new_pgoff = vma.pgoff + ((addr - vma.start) >> PAGE_SHIFT);
        let mut nv = Vma {
            start: dst,
            end: dst + new_len,
            pgoff: new_pgoff,
            ..vma.clone()
        };
        if let crate::mm::Backing::Shmem(ino) = vma.backing {
            self.shmem[ino].refs += 1;
            let s = &mut self.shmem[ino];
            s.size = s.size.max((new_pgoff << PAGE_SHIFT) + new_len);
        }
        if vma.flags & VM_ACCOUNT != 0 {
            self.mms[mm].committed += new_len >> PAGE_SHIFT;
        }
        self.mms[mm].total_vm += new_len >> PAGE_SHIFT;
        nv.flags |= 0;
        self.mms[mm].vmas.insert(nv);
        self.move_page_tables(mm, addr, dst, old_len);
        self.vma_merge(mm, dst);
        if flags & MREMAP_DONTUNMAP != 0 {
            // The old VMA stays, emptied; its accounting moved with the pages.
            return Ok(dst);
        }
        // Like move_vma(), a failed unmap of the old range is not an error for the caller
        // (old_len 0, the "duplicate a shared mapping" case, makes do_munmap() say EINVAL).
        let _ = self.do_munmap(mm, addr, old_len);
        Ok(dst)
    }

    /// move_page_tables(): move every entry of `[old, old+len)` to `new`, flushing the old
    /// range (flush_tlb_range in move_ptes).
    fn move_page_tables(&mut self, mm: MmId, old: u64, new: u64, len: u64) {
        let root = self.mms[mm].pgd;
        let mut moved = Vec::new();
        table::for_each_slot(&self.phys, root, old, old + len, |a, s| moved.push((a, s)));
        let mut any_present = false;
        for (a, slot) in moved {
            let pte = table::get(&self.phys, slot);
            if pte.is_none() {
                continue;
            }
            table::set(&mut self.phys, slot, Pte::NONE);
            any_present |= pte.is_present();
            // The page tables for the target exist or are created; OOM here would be a
            // model limit, reported as a lost entry by the invariant checker.
            if let Some(dslot) =
                table::walk_alloc(&mut self.phys, &mut self.pages, root, new + (a - old))
            {
                table::set(&mut self.phys, dslot, pte);
            }
        }
        if any_present {
            self.flush_tlb_mm_range(mm, old, old + len);
        }
        let _ = PAGE_SIZE;
    }
}
