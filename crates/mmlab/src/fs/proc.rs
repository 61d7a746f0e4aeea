//! fs/proc/task_mmu.c: pagemap entries and maps lines.

use crate::errno::SysResult;
use std::ops::ControlFlow;

use crate::errno::Errno;
use crate::hw::{PAGE_SHIFT, PAGE_SIZE, TASK_SIZE};
use crate::kernel::Kernel;
use crate::mm::hugetlb::{HPAGE_NR, HPAGE_SIZE};
use crate::mm::pagewalk::{walk_page_range, MmWalk, PmdAction};
use crate::mm::vma::{vm::*, Backing, Vma};
use crate::page::PageFlags;
use crate::page::Pfn;
use crate::pgtable::pmd::{Pmd, PmdKind};
use crate::pgtable::pte::PteKind;
use crate::pgtable::swp::{SwpKind, MAX_SWAPFILES_SHIFT, PTE_MARKER_UFFD_WP};
use crate::pgtable::table::{PmdSlot, PteSlot};
use crate::sched::Tid;

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
    /// pagemap_read(): the entries of `count` pages from `vaddr`, walking the page tables of
    /// each VMA and reporting holes (pagemap_pte_hole()). The read stops at TASK_SIZE, so an
    /// address at or above it has no entry. Locks: the mmap lock, read.
    pub fn pagemap_read(&self, tid: Tid, vaddr: u64, count: u64) -> SysResult<Vec<u64>> {
        let mm = self.task(tid)?.mm;
        let start = vaddr & !(PAGE_SIZE - 1);
        if start >= TASK_SIZE {
            return Ok(Vec::new());
        }
        let end = start
            .saturating_add(count.saturating_mul(PAGE_SIZE))
            .min(TASK_SIZE);
        let mut out = Vec::with_capacity(((end - start) / PAGE_SIZE) as usize);
        let mut addr = start;
        while addr < end {
            let vma = self.mms[mm].vmas.find(addr).map(Vma::for_fault);
            let hole_end = vma.as_ref().map_or(end, |v| v.start.clamp(addr, end));
            // Addresses outside any VMA: not present, nothing else.
            out.extend((addr..hole_end).step_by(PAGE_SIZE as usize).map(|_| 0));
            addr = hole_end;
            let Some(vma) = vma else {
                break;
            };
            let stop = vma.end.min(end);
            if addr < stop {
                let mut w = PagemapWalk {
                    vma: &vma,
                    out: &mut out,
                };
                let _ = walk_page_range(&mut &*self, mm, addr, stop, &mut w);
                addr = stop;
            }
        }
        Ok(out)
    }

    /// The pagemap entry of the page at `addr`: an 8-byte read at its offset. At or above
    /// TASK_SIZE the read returns nothing, which a caller that needs the 8 bytes sees as an
    /// I/O error (EIO, what a short pread gives read_exact()).
    pub fn pagemap(&self, tid: Tid, addr: u64) -> SysResult<u64> {
        self.pagemap_read(tid, addr, 1)?
            .first()
            .copied()
            .ok_or(Errno::EIO)
    }

    /// pte_to_pagemap_entry() (5.19).
    fn pte_to_pagemap_entry(&self, vma: &Vma, e: PteKind) -> u64 {
        let (mut flags, mut frame) = (0, 0);
        match e {
            PteKind::None => {}
            PteKind::Present(p) => {
                frame = p.pfn().0;
                flags |= PM_PRESENT;
                if p.soft_dirty() {
                    flags |= PM_SOFT_DIRTY;
                }
                if p.uffd_wp() {
                    flags |= PM_UFFD_WP;
                }
                // vm_normal_page() is NULL for special entries (the zero page).
                if !p.special() {
                    flags |= self.pagemap_page_flags(p.pfn());
                }
            }
            PteKind::Swp(kind, bits) => {
                flags |= PM_SWAP;
                let entry = crate::pgtable::swp::SwpEntry::from_kind(kind);
                frame = (entry.offset << MAX_SWAPFILES_SHIFT) | entry.typ as u64;
                if bits.soft_dirty {
                    flags |= PM_SOFT_DIRTY;
                }
                if bits.uffd_wp {
                    flags |= PM_UFFD_WP;
                }
                match kind {
                    // pte_marker_entry_uffd_wp(): a marker reports uffd-wp too (5.19).
                    SwpKind::Marker { bits } if bits & PTE_MARKER_UFFD_WP != 0 => {
                        flags |= PM_UFFD_WP;
                    }
                    SwpKind::MigrationRead { pfn }
                    | SwpKind::MigrationReadExclusive { pfn }
                    | SwpKind::MigrationWrite { pfn } => {
                        // The page of a migration entry: only PM_FILE, never exclusive.
                        flags |= self.pagemap_page_flags(Pfn(pfn)) & PM_FILE;
                    }
                    SwpKind::DevicePrivate { pfn, .. } | SwpKind::DeviceExclusive { pfn, .. } => {
                        flags |= self.pagemap_page_flags(Pfn(pfn));
                    }
                    SwpKind::Marker { .. }
                    | SwpKind::Swap { .. }
                    | SwpKind::Hwpoison { .. }
                    | SwpKind::SwapinError { .. } => {}
                }
            }
        }
        if vma.flags & VM_SOFTDIRTY != 0 {
            flags |= PM_SOFT_DIRTY;
        }
        flags | (frame & PM_PFRAME_MASK)
    }

    /// PM_FILE and PM_MMAP_EXCLUSIVE of the page an entry maps.
    fn pagemap_page_flags(&self, pfn: Pfn) -> u64 {
        let mut flags = 0;
        if !self
            .pages
            .folio_test(self.pages.folio(pfn), PageFlags::ANON)
        {
            flags |= PM_FILE;
        }
        if self.pages.page_mapcount(pfn) == 1 {
            flags |= PM_MMAP_EXCLUSIVE;
        }
        flags
    }

    /// pagemap_pmd_range()'s huge case and pagemap_hugetlb_range(): one entry per 4 KiB piece
    /// of `[addr, next)`; its PFN is the piece's, the flags come from the huge page. A THP
    /// entry never sets PM_FILE in 5.19 (2024 kernels do for non-anonymous folios).
    fn pagemap_huge_entries(
        &self,
        vma: &Vma,
        e: Pmd,
        (addr, next): (u64, u64),
        out: &mut Vec<u64>,
    ) {
        let mut flags = PM_PRESENT;
        let hugetlb = vma.is_hugetlb();
        let f = self.pages.folio(e.pfn());
        if hugetlb && !self.pages.folio_test(f, PageFlags::ANON) {
            flags |= PM_FILE;
        }
        if self.pages.page_mapcount(e.pfn()) == 1 {
            flags |= PM_MMAP_EXCLUSIVE;
        }
        if e.uffd_wp() {
            flags |= PM_UFFD_WP;
        }
        // hugetlb ignores the entry's soft-dirty bit; a THP entry's counts.
        if vma.flags & VM_SOFTDIRTY != 0 || (!hugetlb && e.soft_dirty()) {
            flags |= PM_SOFT_DIRTY;
        }
        let mut a = addr;
        while a < next {
            out.push(flags | ((e.pfn().0 + ((a >> 12) & 511)) & PM_PFRAME_MASK));
            a += PAGE_SIZE;
        }
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
            Backing::File(ino) => (
                (0, 1),
                self.inodes[ino].i_ino,
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
    /// SwapPss, accumulated like Pss (bytes << PSS_SHIFT).
    pub swap_pss: u64,
    /// Locked, accumulated like Pss (bytes << PSS_SHIFT) as mss->pss_locked is.
    pub pss_locked: u64,
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
    ("vmflag_lo", "lo", VM_LOCKED),
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
            ("swappss", (self.swap_pss >> PSS_SHIFT) >> 10),
            ("locked", (self.pss_locked >> PSS_SHIFT) >> 10),
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
    /// show_smap(): the counters of the VMA holding `addr` (None if no VMA does), from a walk
    /// of its page tables (smaps_pte_range(), smaps_hugetlb_range()); returns the VMA's size
    /// in kB and the counters. The zero pages are not counted (vm_normal_page() is NULL for
    /// them, FOLL_DUMP skips the huge one). Locks: the mmap lock, read.
    pub fn smaps(&self, tid: Tid, addr: u64) -> SysResult<Option<(u64, Smaps)>> {
        let mm = self.task(tid)?.mm;
        let Some(vma) = self.mms[mm].vmas.lookup(addr).map(Vma::for_fault) else {
            return Ok(None);
        };
        let mut s = Smaps {
            vm_flags: vma.flags,
            ..Default::default()
        };
        let mut w = SmapsWalk {
            vma: &vma,
            s: &mut s,
        };
        let _ = walk_page_range(&mut &*self, mm, vma.start, vma.end, &mut w);
        s.swap += self.shmem_swap_usage(&vma);
        s.thp_eligible = self.transparent_hugepage_active(&vma) as u64;
        Ok(Some(((vma.end - vma.start) >> 10, s)))
    }

    /// smap_gather_stats()'s shmem part (shmem_swap_usage()): the swap entries of the file
    /// in the VMA's range count in Swap when the mapping is shared or read-only; a private
    /// writable one counts them only where its entry is none (check_shmem_swap, done by
    /// the walk), since a COW copy may stand in for the file's page.
    fn shmem_swap_usage(&self, vma: &Vma) -> u64 {
        if !shmem_whole_swap(vma) {
            return 0;
        }
        let pages = (vma.end - vma.start) / PAGE_SIZE;
        self.shmem_swapped_in(vma, vma.pgoff..vma.pgoff + pages)
    }

    /// Bytes of the file's pages `range` that are out on swap (shmem_partial_swap_usage()).
    fn shmem_swapped_in(&self, vma: &Vma, range: std::ops::Range<u64>) -> u64 {
        let Backing::File(ino) = vma.backing else {
            return 0;
        };
        self.inodes[ino].i_mapping.swap_entries(range).len() as u64 * PAGE_SIZE
    }

    /// smaps_account(): one PTE-mapped page or one PMD-mapped THP (`compound`). A page whose
    /// folio has no reference but this mapping is private, and so is the page of a
    /// `migration` entry (5.19 does not read a mapcount under migration); otherwise each
    /// 4 KiB piece is shared among its mappings.
    fn smaps_account(
        &self,
        s: &mut Smaps,
        pfn: Pfn,
        compound: bool,
        (young, dirty, migration): (bool, bool, bool),
        locked: bool,
    ) {
        let f = self.pages.folio(pfn);
        let test = |flag| self.pages.folio_test(f, flag);
        let nr = if compound { HPAGE_NR } else { 1 };
        let size = nr * PAGE_SIZE;
        if test(PageFlags::ANON) {
            s.anonymous += size;
            if !test(PageFlags::SWAPBACKED) && !dirty && !test(PageFlags::DIRTY) {
                s.lazyfree += size;
            }
        }
        s.rss += size;
        // Accessed: the entry's bit, page_is_young() or PG_referenced.
        if young || test(PageFlags::YOUNG | PageFlags::REFERENCED) {
            s.referenced += size;
        }
        let dirty = dirty || test(PageFlags::DIRTY);
        let mut add = |pss: u64, size: u64, private: bool| {
            s.pss += pss;
            if locked {
                s.pss_locked += pss;
            }
            match (dirty, private) {
                (true, true) => s.private_dirty += size,
                (true, false) => s.shared_dirty += size,
                (false, true) => s.private_clean += size,
                (false, false) => s.shared_clean += size,
            }
        };
        if self.pages.folio_ref_count(f) == 1 || migration {
            add(size << PSS_SHIFT, size, true);
            return;
        }
        for p in pfn.range(nr) {
            let mapcount = self.pages.page_mapcount(p);
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
            Backing::File(ino) => self.shmem_is_huge(ino, Some(vma), vma.pgoff),
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
            "SwapTotal" => kb(self.total_swap_pages().max(0) as u64),
            "SwapFree" => kb(self.nr_swap_pages().max(0) as u64),
            "SwapCached" => kb(self.vmstat.nr_swapcached),
            "Unevictable" => kb(self
                .lru
                .lruvec
                .nr_pages(crate::page::lru::LruList::Unevictable)),
            "Mlocked" => kb(self.vmstat.nr_mlock),
            "Dirty" => kb(self.nr_file_dirty()),
            // The simulated block device completes each write at once: none is in flight.
            "Writeback" => 0,
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
    "SwapTotal",
    "SwapFree",
    "SwapCached",
    "Unevictable",
    "Mlocked",
    "Dirty",
    "Writeback",
];

/// pagemap_pmd_range() / pagemap_pte_hole() / pagemap_hugetlb_range() for one VMA.
struct PagemapWalk<'a> {
    vma: &'a Vma,
    out: &'a mut Vec<u64>,
}

impl<'k> MmWalk<&'k Kernel> for PagemapWalk<'_> {
    fn pmd_entry(
        &mut self,
        k: &mut &'k Kernel,
        addr: u64,
        next: u64,
        slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        let soft_dirty = if self.vma.flags & VM_SOFTDIRTY != 0 {
            PM_SOFT_DIRTY
        } else {
            0
        };
        let fill = |out: &mut Vec<u64>, flags: u64| {
            out.extend((addr..next).step_by(PAGE_SIZE as usize).map(|_| flags));
        };
        ControlFlow::Continue(match e {
            PmdKind::Leaf(p) => {
                k.pagemap_huge_entries(self.vma, p, (addr, next), self.out);
                PmdAction::Done
            }
            PmdKind::Swp(..) if self.vma.is_hugetlb() => {
                // A non-present huge entry with uffd-wp in any form (a marker) reports
                // PM_UFFD_WP alone.
                let raw = crate::mm::hugetlb::huge_ptep_get(&k.phys, slot);
                let wp = if raw.swp_uffd_wp_any() { PM_UFFD_WP } else { 0 };
                fill(self.out, wp | soft_dirty);
                PmdAction::Done
            }
            PmdKind::None if self.vma.is_hugetlb() => {
                fill(self.out, soft_dirty);
                PmdAction::Done
            }
            // A PMD migration entry: PM_SWAP with the entry for each 4 KiB piece (its offset
            // stepping by one), soft-dirty and uffd-wp from the entry, never exclusive.
            PmdKind::Swp(kind, bits) => {
                if let Some(pfn) = kind.migration_pfn() {
                    for (i, _) in (addr..next).step_by(PAGE_SIZE as usize).enumerate() {
                        let piece = kind.with_migration_pfn(pfn + ((addr >> 12) & 511) + i as u64);
                        self.out
                            .push(k.pte_to_pagemap_entry(self.vma, PteKind::Swp(piece, bits)));
                    }
                } else {
                    fill(self.out, soft_dirty);
                }
                PmdAction::Done
            }
            PmdKind::None | PmdKind::Table(_) => PmdAction::Descend,
        })
    }

    fn pte_entry(&mut self, k: &mut &'k Kernel, _: u64, _: PteSlot, e: PteKind) -> ControlFlow<()> {
        let pme = k.pte_to_pagemap_entry(self.vma, e);
        self.out.push(pme);
        ControlFlow::Continue(())
    }

    fn pte_hole(&mut self, _k: &mut &'k Kernel, start: u64, end: u64) {
        let flags = if self.vma.flags & VM_SOFTDIRTY != 0 {
            PM_SOFT_DIRTY
        } else {
            0
        };
        self.out
            .extend((start..end).step_by(PAGE_SIZE as usize).map(|_| flags));
    }
}

/// smaps_pte_range() / smaps_hugetlb_range() for one VMA.
struct SmapsWalk<'a> {
    vma: &'a Vma,
    s: &'a mut Smaps,
}

/// Does smaps count a shmem VMA's swapped pages all at once (shared or read-only), rather
/// than at its none entries (check_shmem_swap)?
fn shmem_whole_swap(vma: &Vma) -> bool {
    matches!(vma.backing, Backing::File(_))
        && !vma.is_hugetlb()
        && (vma.flags & VM_SHARED != 0 || vma.flags & VM_WRITE == 0)
}

impl SmapsWalk<'_> {
    /// smaps_pte_hole() / the pte_none() case of smaps_pte_entry() with check_shmem_swap.
    fn shmem_hole(&mut self, k: &Kernel, start: u64, end: u64) {
        let v = self.vma;
        if matches!(v.backing, Backing::File(_)) && !v.is_hugetlb() && !shmem_whole_swap(v) {
            let (a, b) = (v.linear_page_index(start), v.linear_page_index(end));
            self.s.swap += k.shmem_swapped_in(v, a..b);
        }
    }
}

impl<'k> MmWalk<&'k Kernel> for SmapsWalk<'_> {
    fn pmd_entry(
        &mut self,
        k: &mut &'k Kernel,
        _addr: u64,
        _next: u64,
        _slot: PmdSlot,
        e: PmdKind,
    ) -> ControlFlow<(), PmdAction> {
        let locked = self.vma.flags & VM_LOCKED != 0;
        ControlFlow::Continue(match e {
            PmdKind::Leaf(p) if self.vma.is_hugetlb() => {
                // smaps_hugetlb_range(): hugetlb pages are not in Rss, only in *_Hugetlb.
                if k.pages.page(p.pfn()).mapcount() >= 2 {
                    self.s.shared_hugetlb += HPAGE_SIZE;
                } else {
                    self.s.private_hugetlb += HPAGE_SIZE;
                }
                PmdAction::Done
            }
            PmdKind::Leaf(p) => {
                // smaps_pmd_entry(): a THP counts whole; the huge zero page not at all.
                if !k.is_huge_zero_pmd(p) {
                    if k.pages.folio_test(k.pages.folio(p.pfn()), PageFlags::ANON) {
                        self.s.anon_huge_pages += HPAGE_SIZE;
                    } else {
                        self.s.shmem_pmd_mapped += HPAGE_SIZE;
                    }
                    k.smaps_account(self.s, p.pfn(), true, (p.young(), p.dirty(), false), locked);
                }
                PmdAction::Done
            }
            // A PMD migration entry counts its THP, as mapped once; hugetlb markers hold
            // nothing.
            PmdKind::Swp(kind, _) if !self.vma.is_hugetlb() => {
                if let Some(pfn) = kind.migration_pfn().map(Pfn) {
                    if k.pages.folio_test(k.pages.folio(pfn), PageFlags::ANON) {
                        self.s.anon_huge_pages += HPAGE_SIZE;
                    } else {
                        self.s.shmem_pmd_mapped += HPAGE_SIZE;
                    }
                    k.smaps_account(self.s, pfn, true, (false, false, true), locked);
                }
                PmdAction::Done
            }
            PmdKind::Swp(..) => PmdAction::Done,
            PmdKind::None | PmdKind::Table(_) => PmdAction::Descend,
        })
    }

    fn pte_entry(
        &mut self,
        k: &mut &'k Kernel,
        addr: u64,
        _: PteSlot,
        e: PteKind,
    ) -> ControlFlow<()> {
        let locked = self.vma.flags & VM_LOCKED != 0;
        match e {
            PteKind::Present(p) if !p.special() => {
                k.smaps_account(
                    self.s,
                    p.pfn(),
                    false,
                    (p.young(), p.dirty(), false),
                    locked,
                );
            }
            // smaps_pte_entry(): a swap entry counts in Swap, and in SwapPss shared by the
            // PTEs naming its slot (swp_swapcount()).
            PteKind::Swp(SwpKind::Swap { typ, offset }, _) => {
                let e = crate::pgtable::swp::SwpEntry::new(typ, offset);
                let count = k.swap_count_of(e).max(1);
                self.s.swap += PAGE_SIZE;
                self.s.swap_pss += (PAGE_SIZE << PSS_SHIFT) / count;
            }
            PteKind::None => self.shmem_hole(k, addr, addr + PAGE_SIZE),
            // A migration entry counts its page (smaps_pte_entry()'s pfn swap entries).
            PteKind::Swp(kind, _) if kind.is_migration() => {
                let pfn = Pfn(kind.migration_pfn().expect("a migration entry"));
                k.smaps_account(self.s, pfn, false, (false, false, true), locked);
            }
            // Markers and the zero page count for nothing.
            PteKind::Present(_) | PteKind::Swp(..) => {}
        }
        ControlFlow::Continue(())
    }

    fn pte_hole(&mut self, k: &mut &'k Kernel, start: u64, end: u64) {
        self.shmem_hole(k, start, end);
    }
}
