//! fs/proc/task_mmu.c: pagemap entries and maps lines.

use crate::errno::SysResult;
use crate::hw::{PAGE_SHIFT, PAGE_SIZE};
use crate::kernel::{Kernel, Tid};
use crate::mm::hugetlb::{HPAGE_NR, HPAGE_SIZE};
use crate::mm::vma::{vm::*, Backing, Vma};
use crate::page::flags::{PG_DIRTY, PG_SWAPBACKED};
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
        if vma.is_hugetlb() {
            // pagemap_hugetlb_range(): a non-present huge entry with uffd-wp in any form (a
            // marker) reports PM_UFFD_WP alone.
            if let Some(slot) = table::pmd_slot(&self.phys, m.pgd, addr) {
                if table::get(&self.phys, slot).swp_uffd_wp_any() {
                    return Ok(PM_UFFD_WP);
                }
            }
        }
        let leaf = table::walk_leaf(&self.phys, m.pgd, addr)
            .map(|(s, huge)| (table::get(&self.phys, s), huge));
        if let Some((e, true)) = leaf {
            // pagemap_hugetlb_range(): one entry per 4 KiB piece of the huge page; its PFN is
            // the piece's, the flags come from the huge page.
            // pagemap_pmd_range() for a THP or the huge zero page reads the same way, except
            // that 5.19 never sets PM_FILE there (2024 kernels do for non-anonymous folios).
            let page = self.pages.page(e.pfn());
            let mut flags = PM_PRESENT;
            if vma.is_hugetlb() && !page.is_anon() {
                flags |= PM_FILE;
            }
            if self.page_mapcount(e.pfn()) == 1 {
                flags |= PM_MMAP_EXCLUSIVE;
            }
            if e.uffd_wp() {
                flags |= PM_UFFD_WP;
            }
            // hugetlb ignores the entry's soft-dirty bit; a THP entry's counts.
            if vma.flags & VM_SOFTDIRTY != 0 || (!vma.is_hugetlb() && e.soft_dirty()) {
                flags |= PM_SOFT_DIRTY;
            }
            return Ok(flags | ((e.pfn() + ((addr >> 12) & 511)) & PM_PFRAME_MASK));
        }
        let pte = leaf.map(|(e, _)| e);
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
                    if self.page_mapcount(p.pfn) == 1 {
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
                // pte_marker_entry_uffd_wp(): a marker reports uffd-wp too (5.19).
                if bits.uffd_wp || pte.is_some_and(|p| p.is_uffd_wp_marker()) {
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

/// One VMA's /proc/PID/smaps counters, in bytes (printed in kB).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Smaps {
    pub rss: u64,
    /// Proportional set size, in bytes << PSS_SHIFT (12) as the kernel keeps it.
    pub pss: u64,
    pub shared_clean: u64,
    pub shared_dirty: u64,
    pub private_clean: u64,
    pub private_dirty: u64,
    pub referenced: u64,
    pub anonymous: u64,
    pub lazyfree: u64,
    pub swap: u64,
    pub locked: u64,
    pub shared_hugetlb: u64,
    pub private_hugetlb: u64,
    /// AnonHugePages: anonymous THPs mapped by a PMD.
    pub anon_huge_pages: u64,
    /// ShmemPmdMapped: shmem THPs mapped by a PMD.
    pub shmem_pmd_mapped: u64,
    /// FilePmdMapped: other file THPs mapped by a PMD (none in the model: no regular files).
    pub file_pmd_mapped: u64,
    /// THPeligible (0 or 1, not a size).
    pub thp_eligible: u64,
    /// The VMA's flags, for the VmFlags line.
    pub vm_flags: u64,
}

/// VmFlags mnemonics of show_smap_vma_flags() the model reports, as smaps fields
/// (`vmflag_um` is 1 when "um" is listed).
pub const SMAPS_VMFLAGS: &[(&str, &str, u64)] = &[
    ("vmflag_um", "um", VM_UFFD_MISSING),
    ("vmflag_uw", "uw", VM_UFFD_WP),
    ("vmflag_ui", "ui", VM_UFFD_MINOR),
    ("vmflag_hg", "hg", VM_HUGEPAGE),
    ("vmflag_nh", "nh", VM_NOHUGEPAGE),
];

/// PSS is accumulated with 12 fractional bits.
const PSS_SHIFT: u32 = 12;

impl Smaps {
    /// The fields as smaps prints them, in kB, by the names scenarios use.
    pub fn fields_kb(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("size", 0),
            ("rss", self.rss >> 10),
            ("pss", (self.pss >> PSS_SHIFT) >> 10),
            ("shared_clean", self.shared_clean >> 10),
            ("shared_dirty", self.shared_dirty >> 10),
            ("private_clean", self.private_clean >> 10),
            ("private_dirty", self.private_dirty >> 10),
            ("referenced", self.referenced >> 10),
            ("anonymous", self.anonymous >> 10),
            ("lazyfree", self.lazyfree >> 10),
            ("swap", self.swap >> 10),
            ("locked", self.locked >> 10),
            ("shared_hugetlb", self.shared_hugetlb >> 10),
            ("private_hugetlb", self.private_hugetlb >> 10),
            ("anonhugepages", self.anon_huge_pages >> 10),
            ("shmempmdmapped", self.shmem_pmd_mapped >> 10),
            ("filepmdmapped", self.file_pmd_mapped >> 10),
            ("thpeligible", self.thp_eligible),
        ]
        .into_iter()
        .chain(
            SMAPS_VMFLAGS
                .iter()
                .map(|&(field, _, flag)| (field, (self.vm_flags & flag != 0) as u64)),
        )
        .collect()
    }
}

impl Kernel {
    /// show_smap() → smaps_pte_entry() / smaps_account() for the VMA holding `addr` (None if no
    /// VMA does). The zero page is not counted (vm_normal_page() is NULL for it).
    pub fn smaps(&self, tid: Tid, addr: u64) -> SysResult<Option<(u64, Smaps)>> {
        let mm = self.task(tid)?.mm;
        let m = &self.mms[mm];
        let Some(vma) = m.vmas.lookup(addr) else {
            return Ok(None);
        };
        let mut s = Smaps {
            vm_flags: vma.flags,
            ..Default::default()
        };
        let locked = vma.flags & VM_LOCKED != 0;
        if vma.is_hugetlb() {
            // smaps_hugetlb_range(): hugetlb pages are not in Rss, only in *_Hugetlb.
            let mut a = vma.start;
            while a < vma.end {
                if let Some((_, e)) = crate::mm::hugetlb::huge_pte_offset(&self.phys, m.pgd, a) {
                    let size = crate::mm::hugetlb::HPAGE_SIZE;
                    if self.pages.page(e.pfn()).mapcount >= 2 {
                        s.shared_hugetlb += size;
                    } else {
                        s.private_hugetlb += size;
                    }
                }
                a += crate::mm::hugetlb::HPAGE_SIZE;
            }
            return Ok(Some(((vma.end - vma.start) >> 10, s)));
        }
        // smaps_pmd_entry(): a THP counts whole; the huge zero page not at all (FOLL_DUMP).
        for (_, _, e) in table::huge_leaves(&self.phys, m.pgd, vma.start, vma.end) {
            if !self.is_huge_zero_pmd(e) {
                if self.pages.page(e.pfn()).is_anon() {
                    s.anon_huge_pages += HPAGE_SIZE;
                } else {
                    s.shmem_pmd_mapped += HPAGE_SIZE;
                }
                self.smaps_account(&mut s, e.pfn(), true, e.young(), e.dirty(), locked);
            }
        }
        table::for_each_slot(&self.phys, m.pgd, vma.start, vma.end, |_, slot| {
            let pte = table::get(&self.phys, slot);
            if pte.is_present() && !pte.special() {
                self.smaps_account(&mut s, pte.pfn(), false, pte.young(), pte.dirty(), locked);
            }
        });
        s.thp_eligible = self.transparent_hugepage_active(vma) as u64;
        Ok(Some(((vma.end - vma.start) >> 10, s)))
    }

    /// smaps_account(): one PTE-mapped page or one PMD-mapped THP (`compound`). A page whose
    /// folio has no reference but this mapping is private; otherwise each 4 KiB piece is
    /// shared among its mappings.
    fn smaps_account(
        &self,
        s: &mut Smaps,
        pfn: u64,
        compound: bool,
        young: bool,
        dirty: bool,
        locked: bool,
    ) {
        let page = self.pages.page(pfn);
        let nr = if compound { HPAGE_NR } else { 1 };
        let size = nr * PAGE_SIZE;
        if page.is_anon() {
            s.anonymous += size;
            if !page.test(PG_SWAPBACKED) && !dirty && !page.test(PG_DIRTY) {
                s.lazyfree += size;
            }
        }
        s.rss += size;
        if young {
            s.referenced += size;
        }
        let dirty = dirty || page.test(PG_DIRTY);
        let mut add = |pss: u64, size: u64, private: bool| {
            s.pss += pss;
            if locked {
                s.locked += pss;
            }
            match (dirty, private) {
                (true, true) => s.private_dirty += size,
                (true, false) => s.shared_dirty += size,
                (false, true) => s.private_clean += size,
                (false, false) => s.shared_clean += size,
            }
        };
        if self.page_count(pfn) == 1 {
            add(size << PSS_SHIFT, size, true);
            return;
        }
        for p in pfn..pfn + nr {
            let mapcount = self.page_mapcount(p);
            let pss = (PAGE_SIZE << PSS_SHIFT) / (mapcount.max(1) as u64);
            add(pss, PAGE_SIZE, mapcount < 2);
        }
    }

    /// transparent_hugepage_active() (smaps THPeligible): the VMA's last aligned 2 MiB fits
    /// and an anonymous VMA may fault huge pages, or a shmem VMA's file may hold them
    /// (shmem_huge_enabled(): shmem_is_huge() at the VMA's offset).
    fn transparent_hugepage_active(&self, vma: &Vma) -> bool {
        let addr = (vma.end & !(HPAGE_SIZE - 1)).wrapping_sub(HPAGE_SIZE);
        if !Kernel::transhuge_vma_suitable(vma, addr) {
            return false;
        }
        match vma.backing {
            Backing::Anon => self.thp_vma_enabled(vma),
            Backing::Shmem(ino) => self.shmem_is_huge(ino, Some(vma), vma.pgoff),
        }
    }

    /// A /proc/meminfo field in kB, for the fields the model keeps.
    pub fn meminfo(&self, name: &str) -> Option<u64> {
        let kb = |pages: u64| pages * (PAGE_SIZE >> 10);
        Some(match name {
            "MemTotal" => self.cfg.memory_bytes >> 10,
            "MemFree" => kb(self.pages.nr_free()),
            "AnonPages" => kb(self.vmstat.nr_anon_pages),
            "Shmem" => kb(self.vmstat.nr_shmem),
            "HugePages_Total" => self.hstate.nr_huge_pages,
            "HugePages_Free" => self.hstate.free.len() as u64,
            "HugePages_Rsvd" => self.hstate.resv_huge_pages,
            "HugePages_Surp" => self.hstate.surplus_huge_pages,
            "Hugepagesize" => 2048,
            "Hugetlb" => self.hstate.nr_huge_pages * 2048,
            "AnonHugePages" => self.vmstat.nr_anon_transparent_hugepages * 2048,
            "ShmemHugePages" => self.vmstat.nr_shmem_hugepages * 2048,
            "ShmemPmdMapped" => self.vmstat.nr_shmem_pmdmapped * 2048,
            _ => return None,
        })
    }
}

/// The /proc/meminfo fields the model keeps.
pub const MEMINFO_NAMES: &[&str] = &[
    "MemTotal",
    "MemFree",
    "AnonPages",
    "Shmem",
    "HugePages_Total",
    "HugePages_Free",
    "HugePages_Rsvd",
    "HugePages_Surp",
    "Hugepagesize",
    "Hugetlb",
    "AnonHugePages",
    "ShmemHugePages",
    "ShmemPmdMapped",
];
