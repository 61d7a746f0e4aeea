//! Migration of what 5.19 migrates besides plain anonymous pages: anonymous pages in the swap
//! cache (the slot, PG_swapcache and the entry move to the new page), shmem THPs (moved whole,
//! through PMD migration entries, or per-PTE entries when PTE-mapped), and the CAP_SYS_NICE
//! that MPOL_MF_MOVE_ALL needs.

mod common;

use common::{two_nodes, HPAGE, PAGE};
use mmlab::mm::swapfile::SwapFileKind;
use mmlab::sys::Caps;
use mmlab::uapi::mempolicy::{MPOL_MF_MOVE, MPOL_MF_MOVE_ALL};
use mmlab::uapi::*;
use mmlab::{Errno, Kernel, Tid};

const RW: u64 = PROT_READ | PROT_WRITE;
const PM_SWAP: u64 = 1 << 62;
const PM_PRESENT: u64 = 1 << 63;

/// A 2 MiB-aligned shared mapping of a memfd of `huge` huge pages, filled with `byte`.
fn shmem_thp(k: &mut Kernel, t: Tid, huge: u64, byte: u8) -> u64 {
    k.sysfs_write(
        "/sys/kernel/mm/transparent_hugepage/shmem_enabled",
        "always",
    )
    .unwrap();
    let fd = k.memfd_create(t, "thp", 0).unwrap();
    k.ftruncate(t, fd as i64, (huge * HPAGE) as i64).unwrap();
    let s = k
        .mmap(
            t,
            8 << 30,
            huge * HPAGE,
            RW,
            MAP_SHARED | MAP_FIXED_NOREPLACE,
            fd as i64,
            0,
        )
        .unwrap();
    k.memset(t, s, byte, huge * HPAGE).unwrap();
    s
}

#[test]
fn a_swap_cache_page_moves_with_its_slot_and_pages_out_from_the_new_frame() {
    let (mut k, t) = two_nodes();
    k.create_swap_file("swap0", 16 << 20, SwapFileKind::Mkswap)
        .unwrap();
    k.swapon(t, "swap0", 0).unwrap();
    let p = k
        .mmap(t, 0, 2 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        .unwrap();
    k.memset(t, p, 0x5a, 2 * PAGE).unwrap();
    k.madvise(t, p, 2 * PAGE, MADV_PAGEOUT).unwrap();
    let swapped = k.pagemap(t, p).unwrap();
    assert_eq!(swapped & (PM_SWAP | PM_PRESENT), PM_SWAP);
    assert_eq!(k.load(t, p), Ok(0x5a), "back from the swap cache");
    let cached = k.meminfo("SwapCached");
    let (old, _) = k.page_at(t, p).unwrap().unwrap();
    assert_eq!(k.migrate_begin(t, p, 1).unwrap(), 0);
    assert_eq!(k.migrate_end(), 0);
    let (new, page) = k.page_at(t, p).unwrap().unwrap();
    assert_ne!(new, old);
    assert_eq!(k.page_to_nid(new), 1);
    assert!(page.flags.contains(mmlab::page::PageFlags::SWAPCACHE));
    assert_eq!(
        k.meminfo("SwapCached"),
        cached,
        "one page cached, the new one"
    );
    // The invariants compare the swap cache's slots with the PG_swapcache pages.
    k.check_invariants().unwrap();
    // Paged out again, the new page goes to the same slot, and comes back intact.
    k.store(t, p + 1, 0x11).unwrap();
    let pswpout = k.vmstat.pswpout;
    k.madvise(t, p, PAGE, MADV_PAGEOUT).unwrap();
    assert_eq!(k.vmstat.pswpout - pswpout, 1);
    assert_eq!(k.pagemap(t, p).unwrap(), swapped, "the same swap entry");
    k.check_invariants().unwrap();
    assert_eq!(k.load(t, p + 1), Ok(0x11));
    assert_eq!(k.load(t, p), Ok(0x5a));
    k.munmap(t, p, 2 * PAGE).unwrap();
    k.check_invariants().unwrap();
}

#[test]
fn a_fault_waiting_on_a_pte_of_a_pte_mapped_shmem_thp_completes_on_the_new_folio() {
    let (mut k, t) = two_nodes();
    let s = shmem_thp(&mut k, t, 1, 0x10);
    // Half the THP read-only: the PMD is cleared and the refaults map PTEs.
    k.mprotect(t, s, HPAGE / 2, PROT_READ).unwrap();
    assert_eq!(k.load(t, s + HPAGE / 2), Ok(0x10));
    let (old, _) = k.page_at(t, s + HPAGE / 2).unwrap().unwrap();
    let t2 = k.spawn_thread(t, 1).unwrap();
    assert_eq!(k.migrate_begin(t, s + HPAGE / 2, 1).unwrap(), 0);
    assert_eq!(
        k.pagemap(t, s + HPAGE / 2).unwrap() & (PM_SWAP | PM_PRESENT),
        PM_SWAP,
        "a PTE migration entry"
    );
    assert!(k.load(t2, s + HPAGE / 2).is_err(), "the fault waits");
    assert!(k.uffd_sleeping(t2));
    assert_eq!(k.migrate_end(), 0);
    // Its page is a tail of the source, which is freed by then: the wake-up still finds it.
    assert!(!k.uffd_sleeping(t2), "woken when the migration ends");
    assert_eq!(k.load(t2, s + HPAGE / 2), Ok(0x10));
    let (new, _) = k.page_at(t, s + HPAGE / 2).unwrap().unwrap();
    assert_ne!(new, old);
    assert_eq!(k.page_to_nid(new), 1);
    assert_eq!(k.load(t, s), Ok(0x10), "refaulted from the page cache");
    let (head, _) = k.page_at(t, s).unwrap().unwrap();
    assert_eq!(new.0, head.0 + 256, "one folio, moved whole");
    k.check_invariants().unwrap();
    k.munmap(t, s, HPAGE).unwrap();
    k.check_invariants().unwrap();
}

#[test]
fn a_pmd_migration_entry_of_shmem_zapped_whole_leaves_no_rss_and_the_folio_moves() {
    let (mut k, t) = two_nodes();
    let s = shmem_thp(&mut k, t, 1, 0x10);
    assert_eq!(k.migrate_begin(t, s, 1).unwrap(), 0);
    k.madvise(t, s, HPAGE, MADV_DONTNEED).unwrap();
    assert_eq!(k.pagemap(t, s).unwrap() & (PM_SWAP | PM_PRESENT), 0);
    k.check_invariants().unwrap();
    assert_eq!(k.migrate_end(), 0, "nothing maps it: it moves all the same");
    assert_eq!(k.load(t, s + 5), Ok(0x10));
    let (new, _) = k.page_at(t, s).unwrap().unwrap();
    assert_eq!(k.page_to_nid(new), 1);
    k.check_invariants().unwrap();
}

#[test]
fn move_all_without_cap_sys_nice_is_eperm_and_the_page_stays() {
    let (mut k, t) = two_nodes();
    let p = k
        .mmap(t, 0, PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        .unwrap();
    k.store(t, p, 1).unwrap();
    let a = k
        .mmap(t, 0, PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        .unwrap();
    // pages[0] = p, nodes[0] = 1.
    for (i, b) in p.to_le_bytes().into_iter().enumerate() {
        k.store(t, a + i as u64, b).unwrap();
    }
    k.store(t, a + 8, 1).unwrap();
    // CAP_SYS_NICE (every capability) out of the effective set: capable() fails.
    k.capset(
        t,
        Caps {
            effective: 0,
            ..Caps::ROOT
        },
    )
    .unwrap();
    assert_eq!(
        k.move_pages(t, 0, 1, a, a + 8, a + 16, MPOL_MF_MOVE_ALL),
        Err(Errno::EPERM)
    );
    let (pfn, _) = k.page_at(t, p).unwrap().unwrap();
    assert_eq!(k.page_to_nid(pfn), 0);
    assert_eq!(k.move_pages(t, 0, 1, a, a + 8, a + 16, MPOL_MF_MOVE), Ok(0));
    let (pfn, _) = k.page_at(t, p).unwrap().unwrap();
    assert_eq!(k.page_to_nid(pfn), 1, "MPOL_MF_MOVE needs no capability");
}
