//! The invariant checker: properties that must hold after every step, as executable code.

use std::collections::HashMap;

use crate::kernel::Kernel;
use crate::mm::hugetlb::{huge_pte_offset, HPAGE_NR, HPAGE_SIZE};
use crate::mm::vma::{vm::*, Backing};
use crate::page::alloc::ZERO_PFN;
use crate::page::flags::*;
use crate::page::Page;
use crate::pgtable::table;

/// A broken invariant, with what was seen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invariant `{rule}` broken: {detail}")]
pub struct Violation {
    pub rule: &'static str,
    pub detail: String,
}

fn fail(rule: &'static str, detail: String) -> Result<(), Violation> {
    Err(Violation { rule, detail })
}

impl Kernel {
    /// A private VMA's writable entry must map an anonymous page it owns: one marked
    /// PG_anon_exclusive where the profile has the flag.
    fn owns_anon(&self, page: &Page) -> bool {
        page.is_anon() && (page.anon_exclusive() || !self.cfg.features.anon_exclusive)
    }

    /// Check every invariant; the first broken one is reported.
    pub fn check_invariants(&self) -> Result<(), Violation> {
        let mut maps: HashMap<u64, i32> = HashMap::new();
        let mut compound_maps: HashMap<u64, i32> = HashMap::new();
        let mut tables = 0u64;
        for (mm, m) in self.mms.iter() {
            tables += 1 + self.count_tables(m.pgd, 0) + m.deposited.len() as u64;
            for &haddr in m.deposited.keys() {
                let huge = table::pmd_slot(&self.phys, m.pgd, haddr).is_some_and(|s| {
                    crate::mm::huge_memory::pmd_trans_huge(table::get(&self.phys, s))
                });
                if !huge {
                    return fail(
                        "a deposited table belongs to a huge PMD",
                        format!("mm {mm} {haddr:#x}"),
                    );
                }
            }
            let (mut anon, mut shmem) = (0i64, 0i64);
            for v in m.vmas.iter() {
                let mut err = Ok(());
                table::for_each_slot(&self.phys, m.pgd, v.start, v.end, |addr, slot| {
                    if err.is_err() {
                        return;
                    }
                    let pte = table::get(&self.phys, slot);
                    if !pte.is_present() {
                        // Only uffd-wp markers, and only in file VMAs, are written so far.
                        let marker_ok = pte.is_uffd_wp_marker() && !v.is_anonymous();
                        if !pte.is_none() && !marker_ok {
                            err = fail(
                                "no swap entries yet; uffd-wp markers only in file VMAs",
                                format!("mm {mm} {addr:#x}: {pte:?}"),
                            );
                        }
                        return;
                    }
                    if pte.special() {
                        if pte.pfn() != ZERO_PFN || pte.write() {
                            err = fail(
                                "special entries map the zero page read-only",
                                format!("mm {mm} {addr:#x}: {pte:?}"),
                            );
                        }
                        return;
                    }
                    let pfn = pte.pfn();
                    let page = self.pages.page(pfn);
                    if !self.pages.valid(pfn) || page.test(PG_BUDDY) || page.test(PG_TABLE) {
                        err = fail(
                            "present entries map allocated data frames",
                            format!("mm {mm} {addr:#x} -> pfn {pfn:#x} flags {:#x}", page.flags),
                        );
                        return;
                    }
                    *maps.entry(pfn).or_default() += 1;
                    if page.is_anon() {
                        anon += 1;
                    } else {
                        shmem += 1;
                    }
                    if pte.write() {
                        if v.flags & VM_WRITE == 0 {
                            err = fail(
                                "writable entry only in a writable VMA",
                                format!("mm {mm} {addr:#x}"),
                            );
                        } else if v.flags & VM_SHARED == 0 && !self.owns_anon(page) {
                            err = fail(
                                "writable private entry maps an exclusive anon page",
                                format!("mm {mm} {addr:#x} pfn {pfn:#x} flags {:#x}", page.flags),
                            );
                        } else if v.flags & VM_SHARED == 0
                            && !self.cfg.features.anon_exclusive
                            && page.mapcount != 1
                        {
                            err = fail(
                                "writable private entry maps a page mapped once",
                                format!("mm {mm} {addr:#x} pfn {pfn:#x}"),
                            );
                        }
                    }
                    if page.anon_exclusive() && self.page_mapcount(pfn) != 1 {
                        err = fail(
                            "PG_anon_exclusive pages are mapped once",
                            format!("pfn {pfn:#x} mapcount {}", self.page_mapcount(pfn)),
                        );
                    }
                });
                err?;
                // Huge (PMD-level) mappings of an anonymous VMA: THPs or the huge zero page,
                // each with its deposited table.
                if !v.is_hugetlb() {
                    for (a, _, e) in table::huge_leaves(&self.phys, m.pgd, v.start, v.end) {
                        self.check_thp_pmd(mm, v, a, e, &mut compound_maps)?;
                        if self.is_huge_zero_pmd(e) {
                            continue;
                        }
                        if self.pages.page(e.pfn()).is_anon() {
                            anon += HPAGE_NR as i64;
                        } else {
                            shmem += HPAGE_NR as i64;
                        }
                    }
                }
                // Huge (PMD-level) mappings: hugetlb pages.
                let mut a = v.start & !(HPAGE_SIZE - 1);
                while v.is_hugetlb() && a < v.end {
                    if let Some((_, e)) = huge_pte_offset(&self.phys, m.pgd, a) {
                        let head = e.pfn();
                        let page = self.pages.page(head);
                        if !page.test(PG_HEAD) || head % HPAGE_NR != 0 || !v.is_hugetlb() {
                            return fail(
                                "huge entries map the head of a hugetlb page in a hugetlb VMA",
                                format!("mm {mm} {a:#x} -> pfn {head:#x} flags {:#x}", page.flags),
                            );
                        }
                        *maps.entry(head).or_default() += 1;
                        if e.write() && v.flags & VM_SHARED == 0 && !self.owns_anon(page) {
                            return fail(
                                "writable private entry maps an exclusive anon page",
                                format!("mm {mm} huge {a:#x} pfn {head:#x}"),
                            );
                        }
                    }
                    a += HPAGE_SIZE;
                }
                // The kernel's own BUG_ON: a userfaultfd context exactly when a VM_UFFD_* flag,
                // and the context serves this mm.
                let ctx_ok = v
                    .uffd_ctx
                    .is_none_or(|c| self.uffd.get(c).is_some_and(|ctx| ctx.mm == Some(mm)));
                if v.uffd_ctx.is_some() != (v.flags & VM_UFFD_FLAGS != 0) || !ctx_ok {
                    return fail(
                        "a VMA has a userfaultfd context exactly when it has VM_UFFD_* flags",
                        format!(
                            "mm {mm} vma {:#x}: flags {:#x} ctx {:?}",
                            v.start, v.flags, v.uffd_ctx
                        ),
                    );
                }
                if let Backing::Shmem(ino) = v.backing {
                    if !self.shmem.contains(ino) {
                        return fail(
                            "shmem VMAs hold their inode",
                            format!("mm {mm} vma {:#x}", v.start),
                        );
                    }
                }
            }
            if anon != m.rss_anon || shmem != m.rss_shmem {
                return fail(
                    "RSS counters match the page tables",
                    format!(
                        "mm {mm}: anon {} vs {anon}, shmem {} vs {shmem}",
                        m.rss_anon, m.rss_shmem
                    ),
                );
            }
            self.check_tlbs(mm)?;
        }
        let mut cached: HashMap<u64, i32> = HashMap::new();
        for (_, inode) in self.shmem.iter() {
            for &pfn in inode.cache.values() {
                *cached.entry(pfn).or_default() += 1;
            }
        }
        let mut data = 0u64;
        let mut huge_heads = 0u64;
        for pfn in self.pages.pfns() {
            let page = self.pages.page(pfn);
            if page.test(PG_BUDDY) || page.test(PG_TABLE) {
                continue;
            }
            data += 1;
            if Some(pfn & !(HPAGE_NR - 1)) == self.thp.huge_zero {
                continue;
            }
            if let Some(head) = self.thp_head(pfn) {
                if pfn == head {
                    self.check_thp_folio(head, &maps, &compound_maps, &cached)?;
                }
                continue;
            }
            if page.test(PG_TAIL) {
                continue;
            }
            if page.test(PG_HUGETLB) {
                huge_heads += 1;
                if page.refcount == 0 {
                    if !self.hstate.free.contains(&pfn) {
                        return fail(
                            "an unreferenced hugetlb page is in the free pool",
                            format!("pfn {pfn:#x}"),
                        );
                    }
                    continue;
                }
            }
            if page.refcount <= 0 {
                return fail(
                    "allocated frames hold a reference",
                    format!("pfn {pfn:#x}: refcount {}", page.refcount),
                );
            }
            let mapped = maps.get(&pfn).copied().unwrap_or(0);
            let cache = cached.get(&pfn).copied().unwrap_or(0)
                + self.extra_refs.get(&pfn).copied().unwrap_or(0);
            if page.mapcount != mapped {
                return fail(
                    "mapcount equals the entries that map the page",
                    format!("pfn {pfn:#x}: mapcount {} vs {mapped}", page.mapcount),
                );
            }
            if page.refcount != mapped + cache {
                return fail(
                    "refcount equals mappings plus page-cache and held references",
                    format!(
                        "pfn {pfn:#x}: refcount {} vs {}",
                        page.refcount,
                        mapped + cache
                    ),
                );
            }
        }
        if huge_heads != self.hstate.nr_huge_pages
            || self.hstate.resv_huge_pages > self.hstate.free.len() as u64
            || self.hstate.surplus_huge_pages > self.hstate.nr_huge_pages
        {
            return fail(
                "the hugetlb pool adds up",
                format!(
                    "{huge_heads} hugetlb pages, nr_huge_pages {}, free {}, reserved {}, surplus {}",
                    self.hstate.nr_huge_pages,
                    self.hstate.free.len(),
                    self.hstate.resv_huge_pages,
                    self.hstate.surplus_huge_pages
                ),
            );
        }
        self.check_anon_counters()?;
        let used = self.pages.nr_used();
        if used != tables + data {
            return fail("no frame leaks", format!("{used} frames in use, {tables} page tables + {data} data pages account for them"));
        }
        Ok(())
    }

    /// A huge entry in an anonymous VMA maps the head of a THP folio (writable only for an
    /// exclusive owner) or the huge zero page (never writable), and has a deposited table.
    fn check_thp_pmd(
        &self,
        mm: usize,
        v: &crate::mm::Vma,
        a: u64,
        e: crate::pgtable::Pte,
        compound_maps: &mut HashMap<u64, i32>,
    ) -> Result<(), Violation> {
        if a < v.start || a + HPAGE_SIZE > v.end {
            return fail("a huge PMD lies inside its VMA", format!("mm {mm} {a:#x}"));
        }
        let head = e.pfn();
        let file = !self.is_huge_zero_pmd(e) && !self.pages.page(head).is_anon();
        // Anonymous huge entries keep a table deposited; file ones never have one (x86).
        if self.mms[mm].deposited.contains_key(&a) == file {
            return fail(
                "anonymous huge PMDs, and only they, have a deposited table",
                format!("mm {mm} {a:#x}"),
            );
        }
        if file {
            let Backing::Shmem(ino) = v.backing else {
                return fail("file huge PMDs are in file VMAs", format!("mm {mm} {a:#x}"));
            };
            if self.thp_head(head) != Some(head)
                || self.shmem[ino].cache.get(&v.linear_page_index(a)) != Some(&head)
            {
                return fail(
                    "a file huge PMD maps the THP the page cache holds there",
                    format!("mm {mm} {a:#x} -> pfn {head:#x}"),
                );
            }
            *compound_maps.entry(head).or_default() += 1;
            if e.write() && v.flags & (VM_WRITE | VM_SHARED) != VM_WRITE | VM_SHARED {
                return fail(
                    "a writable file huge PMD is in a shared writable VMA",
                    format!("mm {mm} {a:#x}"),
                );
            }
            return Ok(());
        }
        if self.is_huge_zero_pmd(e) {
            if e.write() {
                return fail(
                    "the huge zero page is mapped read-only",
                    format!("mm {mm} {a:#x}"),
                );
            }
            return Ok(());
        }
        if self.thp_head(head) != Some(head) || !v.is_anonymous() {
            return fail(
                "huge entries of an anonymous VMA map a THP head",
                format!("mm {mm} {a:#x} -> pfn {head:#x}"),
            );
        }
        *compound_maps.entry(head).or_default() += 1;
        if e.write() && (v.flags & VM_WRITE == 0 || !self.owns_anon(self.pages.page(head))) {
            return fail(
                "writable private entry maps an exclusive anon page",
                format!("mm {mm} huge {a:#x} pfn {head:#x}"),
            );
        }
        Ok(())
    }

    /// A THP folio's counts: each subpage's mapcount is its PTEs, the compound mapcount its
    /// PMDs, and the head's refcount all of them plus references held from outside.
    fn check_thp_folio(
        &self,
        head: u64,
        maps: &HashMap<u64, i32>,
        compound_maps: &HashMap<u64, i32>,
        cached: &HashMap<u64, i32>,
    ) -> Result<(), Violation> {
        let pmds = compound_maps.get(&head).copied().unwrap_or(0);
        if self.compound_mapcount(head) != pmds {
            return fail(
                "compound mapcount equals the huge entries that map the folio",
                format!("THP {head:#x}: {} vs {pmds}", self.compound_mapcount(head)),
            );
        }
        let mut refs = pmds;
        for pfn in head..head + HPAGE_NR {
            let ptes = maps.get(&pfn).copied().unwrap_or(0);
            if self.pages.page(pfn).mapcount != ptes {
                return fail(
                    "mapcount equals the entries that map the page",
                    format!(
                        "THP subpage {pfn:#x}: mapcount {} vs {ptes}",
                        self.pages.page(pfn).mapcount
                    ),
                );
            }
            refs += ptes
                + cached.get(&pfn).copied().unwrap_or(0)
                + self.extra_refs.get(&pfn).copied().unwrap_or(0);
        }
        if self.pages.page(head).refcount != refs || refs == 0 {
            return fail(
                "refcount equals mappings plus page-cache and held references",
                format!(
                    "THP {head:#x}: refcount {} vs {refs}",
                    self.pages.page(head).refcount
                ),
            );
        }
        Ok(())
    }

    /// NR_ANON_MAPPED counts anonymous pages mapped at all (by a PTE, or by a PMD of their
    /// folio); NR_ANON_THPS the folios a PMD maps; the deferred split queue holds folios.
    fn check_anon_counters(&self) -> Result<(), Violation> {
        let mut mapped = 0u64;
        for pfn in self.pages.pfns() {
            let p = self.pages.page(pfn);
            if p.is_anon() && !p.test(PG_HUGETLB) && !p.test(PG_BUDDY) {
                let folio_mapped = self
                    .thp_head(pfn)
                    .is_some_and(|h| self.compound_mapcount(h) > 0);
                if p.mapcount > 0 || folio_mapped {
                    mapped += 1;
                }
            }
        }
        let (mut thps, mut shmem_thps, mut shmem_pmd) = (0u64, 0u64, 0u64);
        for (&head, f) in &self.thp.folios {
            if self.pages.page(head).is_anon() {
                thps += (f.compound_mapcount > 0) as u64;
            } else {
                shmem_thps += 1;
                shmem_pmd += (f.compound_mapcount > 0) as u64;
            }
        }
        let v = &self.vmstat;
        if mapped != v.nr_anon_pages
            || thps != v.nr_anon_transparent_hugepages
            || shmem_thps != v.nr_shmem_hugepages
            || shmem_pmd != v.nr_shmem_pmdmapped
        {
            return fail(
                "THP and anon counters match the pages",
                format!(
                    "nr_anon_pages {} vs {mapped}, nr_anon_transparent_hugepages {} vs {thps}, \
                     nr_shmem_hugepages {} vs {shmem_thps}, nr_shmem_pmdmapped {} vs {shmem_pmd}",
                    v.nr_anon_pages,
                    v.nr_anon_transparent_hugepages,
                    v.nr_shmem_hugepages,
                    v.nr_shmem_pmdmapped
                ),
            );
        }
        if let Some(h) = self
            .thp
            .deferred
            .iter()
            .find(|h| !self.thp.folios.contains_key(h))
        {
            return fail("the deferred split queue holds THPs", format!("{h:#x}"));
        }
        Ok(())
    }

    fn count_tables(&self, table: u64, level: usize) -> u64 {
        if level == 3 {
            return 0;
        }
        self.phys
            .table(table)
            .iter()
            .filter(|&&e| e & crate::pgtable::pte::_PAGE_PRESENT != 0)
            // A huge (PSE) PMD entry maps memory; it is not a table.
            .filter(|&&e| !(level == 2 && e & crate::pgtable::pte::_PAGE_PSE != 0))
            .map(|&e| {
                1 + self.count_tables((e & crate::pgtable::pte::PTE_PFN_MASK) >> 12, level + 1)
            })
            .sum()
    }

    /// No TLB entry grants more than its PTE or points at a frame the PTE no longer maps.
    fn check_tlbs(&self, mm: usize) -> Result<(), Violation> {
        let m = &self.mms[mm];
        for (cpu, tlb) in self.tlbs.iter().enumerate() {
            for e in tlb.entries().filter(|e| e.mm == mm as u32) {
                let addr = e.vpn << 12;
                let pte = table::walk_leaf(&self.phys, m.pgd, addr)
                    .map(|(s, huge)| (table::get(&self.phys, s), huge));
                let ok = pte.is_some_and(|(p, huge)| {
                    let pfn = if huge {
                        p.pfn() + ((addr >> 12) & 511)
                    } else {
                        p.pfn()
                    };
                    p.0 & 1 != 0 && pfn == e.pfn && (p.write() || !e.writable)
                });
                if !ok {
                    return fail(
                        "no TLB entry is more permissive than its PTE",
                        format!(
                            "cpu {cpu} mm {mm} {addr:#x}: tlb pfn {:#x} w={} vs {pte:?}",
                            e.pfn, e.writable
                        ),
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::pgtable::table;
    use crate::uapi::*;
    use crate::{Config, Kernel, Tid};

    fn setup() -> (Kernel, Tid, u64) {
        let mut k = Kernel::new(Config::default());
        let t = k.spawn_process(0).unwrap();
        let p = k
            .mmap(
                t,
                0,
                2 * 4096,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
            .unwrap();
        k.store(t, p, 1).unwrap();
        k.check_invariants().unwrap();
        (k, t, p)
    }

    fn slot(k: &Kernel, t: Tid, addr: u64) -> table::PteSlot {
        let mm = k.tasks[t].mm;
        table::walk(&k.phys, k.mms[mm].pgd, addr).unwrap()
    }

    #[test]
    fn a_missing_flush_leaves_a_too_permissive_tlb_entry() {
        let (mut k, t, p) = setup();
        let s = slot(&k, t, p);
        let pte = table::get(&k.phys, s);
        table::set(&mut k.phys, s, pte.wrprotect()); // write-protect without flushing
        let v = k.check_invariants().unwrap_err();
        assert_eq!(v.rule, "no TLB entry is more permissive than its PTE");
    }

    #[test]
    fn a_leaked_frame_is_found() {
        let (mut k, _, _) = setup();
        let pfn = k.pages.alloc().unwrap(); // refcount 1, nothing refers to it
        let v = k.check_invariants().unwrap_err();
        assert_eq!(
            v.rule,
            "refcount equals mappings plus page-cache and held references"
        );
        k.pages.page_mut(pfn).refcount = 0;
        assert_eq!(
            k.check_invariants().unwrap_err().rule,
            "allocated frames hold a reference"
        );
        k.pages.page_mut(pfn).flags = crate::page::flags::PG_TABLE; // a table no tree holds
        assert_eq!(k.check_invariants().unwrap_err().rule, "no frame leaks");
    }

    #[test]
    fn a_writable_pte_on_a_shared_page_is_caught() {
        let (mut k, t, p) = setup();
        let c = k.fork(t).unwrap();
        let s = slot(&k, c, p);
        let pte = table::get(&k.phys, s);
        table::set(&mut k.phys, s, pte.mkwrite()); // as if fork forgot to write-protect
        assert_eq!(
            k.check_invariants().unwrap_err().rule,
            "writable private entry maps an exclusive anon page"
        );
    }

    #[test]
    fn counters_and_mapcounts_must_match_the_tables() {
        let (mut k, t, p) = setup();
        let pfn = k.pte_at(t, p).unwrap().pfn();
        k.pages.page_mut(pfn).mapcount += 1;
        assert_eq!(
            k.check_invariants().unwrap_err().rule,
            "PG_anon_exclusive pages are mapped once"
        );
        k.pages.page_mut(pfn).mapcount -= 1;
        let mm = k.tasks[t].mm;
        k.mms[mm].rss_anon += 1;
        assert_eq!(
            k.check_invariants().unwrap_err().rule,
            "RSS counters match the page tables"
        );
    }

    #[test]
    fn exit_frees_every_frame() {
        let (mut k, t, p) = setup();
        let c = k.fork(t).unwrap();
        k.store(c, p + 4096, 2).unwrap();
        k.exit(c).unwrap();
        k.exit(t).unwrap();
        k.check_invariants().unwrap();
        assert_eq!(k.frames_in_use(), 0);
    }
}
