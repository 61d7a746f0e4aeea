//! fs/proc/task_mmu.c: pagemap entries and maps lines.

use crate::errno::SysResult;
use crate::hw::PAGE_SHIFT;
use crate::kernel::{Kernel, Tid};
use crate::mm::vma::{vm::*, Backing, Vma};
use crate::pgtable::pte::PteView;
use crate::pgtable::table;

pub const PM_PRESENT: u64 = 1 << 63;
pub const PM_SWAP: u64 = 1 << 62;
pub const PM_FILE: u64 = 1 << 61;
pub const PM_UFFD_WP: u64 = 1 << 57;
pub const PM_MMAP_EXCLUSIVE: u64 = 1 << 56;
pub const PM_SOFT_DIRTY: u64 = 1 << 55;
pub const PM_PFRAME_MASK: u64 = (1 << 55) - 1;

/// One /proc/PID/maps line's fields.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MapsEntry {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    pub shared: bool,
    pub pgoff: u64,
    /// The backing file's device (major, minor) and inode; 0 for anonymous memory.
    pub dev: (u32, u32),
    pub inode: u64,
    pub name: String,
}

impl MapsEntry {
    /// show_map_vma()'s line: `start-end perms offset dev inode` padded, then the name.
    pub fn line(&self) -> String {
        let perms = format!(
            "{}{}{}{}",
            if self.read { 'r' } else { '-' },
            if self.write { 'w' } else { '-' },
            if self.exec { 'x' } else { '-' },
            if self.shared { 's' } else { 'p' }
        );
        let head = format!(
            "{:08x}-{:08x} {} {:08x} {:02x}:{:02x} {}",
            self.start,
            self.end,
            perms,
            self.pgoff << PAGE_SHIFT,
            self.dev.0,
            self.dev.1,
            self.inode
        );
        if self.name.is_empty() {
            head
        } else {
            format!("{head:<72} {}", self.name)
        }
    }
}

impl Kernel {
    /// pte_to_pagemap_entry() / pagemap_pte_hole() (5.19) for the page at `addr`.
    pub fn pagemap(&self, tid: Tid, addr: u64) -> SysResult<u64> {
        let mm = self.task(tid)?.mm;
        let m = &self.mms[mm];
        let Some(vma) = m.vmas.lookup(addr) else {
            return Ok(0);
        };
        let mut flags = 0;
        let mut frame = 0;
        let pte = table::walk(&self.phys, m.pgd, addr).map(|s| table::get(&self.phys, s));
        match pte.map(|p| p.view()) {
            Some(PteView::Present(p)) => {
                frame = p.pfn;
                flags |= PM_PRESENT;
                if p.soft_dirty {
                    flags |= PM_SOFT_DIRTY;
                }
                if p.uffd_wp {
                    flags |= PM_UFFD_WP;
                }
                // vm_normal_page() is NULL for special entries (the zero page).
                if !p.special {
                    let page = self.pages.page(p.pfn);
                    if !page.is_anon() {
                        flags |= PM_FILE;
                    }
                    if page.mapcount == 1 {
                        flags |= PM_MMAP_EXCLUSIVE;
                    }
                }
            }
            Some(PteView::Swap { entry, bits }) => {
                flags |= PM_SWAP;
                frame = (entry.offset << 5) | entry.typ as u64;
                if bits.soft_dirty {
                    flags |= PM_SOFT_DIRTY;
                }
                if bits.uffd_wp {
                    flags |= PM_UFFD_WP;
                }
            }
            _ => {}
        }
        if vma.flags & VM_SOFTDIRTY != 0 {
            flags |= PM_SOFT_DIRTY;
        }
        Ok(flags | (frame & PM_PFRAME_MASK))
    }

    /// /proc/PID/maps, one entry per VMA.
    pub fn maps(&self, tid: Tid) -> SysResult<Vec<MapsEntry>> {
        let mm = self.task(tid)?.mm;
        Ok(self.mms[mm]
            .vmas
            .iter()
            .map(|v| self.maps_entry(v))
            .collect())
    }
}

impl Kernel {
    /// show_map_vma()'s fields for one VMA.
    fn maps_entry(&self, v: &Vma) -> MapsEntry {
        let (dev, inode, name) = match v.backing {
            // shmem_zero_setup()'s unlinked "dev/zero" file on the internal shm mount (00:01).
            Backing::Shmem(ino) => (
                (0, 1),
                self.shmem[ino].i_ino,
                "/dev/zero (deleted)".to_string(),
            ),
            Backing::Anon => ((0, 0), 0, String::new()),
        };
        MapsEntry {
            start: v.start,
            end: v.end,
            read: v.flags & VM_READ != 0,
            write: v.flags & VM_WRITE != 0,
            exec: v.flags & VM_EXEC != 0,
            shared: v.flags & VM_MAYSHARE != 0,
            pgoff: if v.is_anonymous() { 0 } else { v.pgoff },
            dev,
            inode,
            name,
        }
    }
}
