//! Regression tests: minimal reproducers of the model bugs the property tests found (all
//! fixed).

use mmlab::uapi::*;
use mmlab::{Config, Errno, Kernel, Profile, Tid};

mod common;
use common::{HPAGE, PAGE};

fn boot(profile: Profile) -> (Kernel, Tid) {
    let mut k = Kernel::new(Config::new(profile));
    let t = k.spawn_process(0).expect("spawn");
    (k, t)
}

/// A two-page MAP_SHARED | MAP_ANONYMOUS mapping (a shmem object of its own).
fn boot_with_shared_anon(profile: Profile) -> (Kernel, Tid, u64) {
    let (mut k, t) = boot(profile);
    let flags = MAP_SHARED | MAP_ANONYMOUS;
    let a = k.mmap(t, 0, 2 * PAGE, PROT_READ | PROT_WRITE, flags, -1, 0);
    (k, t, a.expect("mmap"))
}

/// A pool of one huge page and a private MAP_HUGETLB mapping of it (reserved, not faulted).
fn boot_with_private_huge_page(profile: Profile) -> (Kernel, Tid, u64) {
    let (mut k, t) = boot(profile);
    assert_eq!(k.set_nr_hugepages(1), 1);
    let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
    let a = k.mmap(t, 0, HPAGE, PROT_READ | PROT_WRITE, flags, -1, 0);
    (k, t, a.expect("mmap"))
}

/// Each piece of a split shared VMA holds its own shmem inode reference (__split_vma's
/// get_file()); unmapping one half must leave the inode to the other (was: freed early).
#[test]
fn regression_split_shared_vma_drops_inode_reference() {
    for profile in Profile::all() {
        let (mut k, t, a) = boot_with_shared_anon(profile);
        k.munmap(t, a, PAGE).unwrap();
        k.check_invariants().unwrap();
        assert_eq!(k.store(t, a + PAGE, 1), Ok(()));
        assert_eq!(k.load(t, a + PAGE), Ok(1));
        k.exit(t).unwrap();
        k.lru_add_drain_all();
        assert_eq!(k.frames_in_use(), 0, "{profile:?}");
    }
}

/// A merge hands the absorbed VMA's anon_vma to the survivor (vma_merge/__vma_adjust), so
/// fork still copies the merged range's anonymous pages (was: the child read zeroes).
#[test]
fn regression_merge_drops_anon_vma_and_fork_loses_pages() {
    for profile in Profile::all() {
        let (mut k, t) = boot(profile);
        let a = k
            .mmap(
                t,
                0,
                2 * PAGE,
                PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
            .unwrap();
        k.mprotect(t, a + PAGE, PAGE, PROT_READ | PROT_WRITE)
            .unwrap();
        k.store(t, a + PAGE, 0x5a).unwrap();
        // [a, a+PAGE) has no anon_vma; it absorbs [a+PAGE, a+2*PAGE), which has one.
        k.mprotect(t, a, PAGE, PROT_READ | PROT_WRITE).unwrap();
        assert_eq!(k.maps(t).unwrap().len(), 1, "the two halves merged");
        let c = k.fork(t).unwrap();
        assert_eq!(k.load(t, a + PAGE), Ok(0x5a), "{profile:?}: parent");
        assert_eq!(
            k.load(c, a + PAGE),
            Ok(0x5a),
            "{profile:?}: child lost the page"
        );
    }
}

/// mremap(old_len = 0, MREMAP_MAYMOVE) duplicates a shared mapping; move_vma() ignores the
/// EINVAL of do_munmap(old_addr, 0) and returns the new address (was: EINVAL).
#[test]
fn regression_mremap_zero_old_len_returns_einval() {
    for profile in Profile::all() {
        let (mut k, t, a) = boot_with_shared_anon(profile);
        k.store(t, a, 7).unwrap();
        let r = k.mremap(t, a, 0, PAGE, MREMAP_MAYMOVE, 0);
        assert_eq!(k.maps(t).unwrap().len(), 2, "the duplicate exists");
        let b = r.expect("Linux returns the new address");
        assert_ne!(b, a);
        assert_eq!(k.load(t, b), Ok(7), "{profile:?}: same shmem page");
        k.store(t, b, 9).unwrap();
        assert_eq!(k.load(t, a), Ok(9));
        k.exit(t).unwrap();
        k.lru_add_drain_all();
        assert_eq!(k.frames_in_use(), 0);
    }
}

/// shmem_setattr() truncates whenever `newsize <= oldsize`: ftruncate() to the current,
/// unaligned size zeroes the bytes a shared mapping stored past EOF in the last page, so they
/// read 0 after the file grows again. The model only truncates when the size shrinks.
#[test]
fn regression_ftruncate_to_same_size_keeps_bytes_past_eof() {
    for profile in Profile::all() {
        let (mut k, t) = boot(profile);
        let fd = k.memfd_create(t, "bug", 0).unwrap() as i64;
        k.ftruncate(t, fd, PAGE as i64 + 1).unwrap();
        let a = k
            .mmap(t, 0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            .unwrap();
        // Past EOF but inside the last (partial) page: allowed, lands in the page cache.
        k.store(t, a + PAGE + 1, 7).unwrap();
        k.ftruncate(t, fd, PAGE as i64 + 1).unwrap();
        assert_eq!(
            k.load(t, a + PAGE + 1),
            Ok(0),
            "{profile:?}: tail not zeroed"
        );
        k.ftruncate(t, fd, 2 * PAGE as i64).unwrap();
        assert_eq!(k.load(t, a + PAGE + 1), Ok(0), "{profile:?}: after growing");
    }
}

/// A hugetlb entry made PROT_NONE keeps _PAGE_PROTNONE but loses _PAGE_PRESENT. If the huge
/// entry lookup (zap, fork, change_protection, the invariants) only knew _PAGE_PRESENT entries,
/// the page's mapcount would no longer match the tables and unmapping would leak the huge page.
/// In Linux pte_present() is true for PROT_NONE entries, so the page is still mapped and zapped.
#[test]
fn regression_hugetlb_prot_none_entry_is_lost() {
    for profile in Profile::all() {
        let (mut k, t, a) = boot_with_private_huge_page(profile);
        k.store(t, a, 1).unwrap();
        k.mprotect(t, a, HPAGE, PROT_NONE).unwrap();
        assert_eq!(k.check_invariants().map_err(|v| v.to_string()), Ok(()));
        k.munmap(t, a, HPAGE).unwrap();
        k.exit(t).unwrap();
        assert_eq!(k.meminfo("HugePages_Free"), Some(1), "{profile:?}: leaked");
        k.lru_add_drain_all();
        assert_eq!(k.frames_in_use(), 512);
    }
}

/// move_vma() of a hugetlb VMA calls clear_vma_resv_huge_pages() on the old VMA (5.16's
/// mremap support for hugetlb), so the reservations move with the mapping. The model once copied
/// them to the new VMA but still released them when the old one closed (HugePages_Rsvd dropped
/// to 0 at the move), then again when the new one closed: HugePages_Rsvd underflowed at exit.
#[test]
fn regression_mremap_move_of_private_hugetlb_unreserves_twice() {
    for profile in Profile::all() {
        let (mut k, t, a) = boot_with_private_huge_page(profile);
        assert_eq!(k.meminfo("HugePages_Rsvd"), Some(1));
        let dst = a - 2 * HPAGE;
        let r = k.mremap(t, a, HPAGE, HPAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
        assert_eq!(r, Ok(dst));
        assert_eq!(
            k.meminfo("HugePages_Rsvd"),
            Some(1),
            "{profile:?}: after the move"
        );
        k.exit(t).unwrap();
        assert_eq!(k.check_invariants().map_err(|v| v.to_string()), Ok(()));
        assert_eq!(
            k.meminfo("HugePages_Rsvd"),
            Some(0),
            "{profile:?}: after exit"
        );
        assert_eq!(k.meminfo("HugePages_Free"), Some(1));
    }
}

/// copy_pte_range() allocates the child's page table before copying into it, and when that
/// fails fork() fails with ENOMEM and the half-built child is torn down. The model once let
/// the child silently lack the entry, so it read zeroes where the parent had written data.
#[test]
fn regression_fork_out_of_page_tables_fails_with_enomem() {
    for profile in Profile::all() {
        let mut cfg = Config::new(profile);
        cfg.memory_bytes = 3 << 20; // 512 frames above the reserved first 1 MiB
        let mut k = Kernel::new(cfg);
        let t = k.spawn_process(0).expect("spawn");
        // One page in each of 200 PMD ranges: a page and a PTE table each, so the parent holds
        // about 400 frames and a child would need 200 more tables.
        let n = 200;
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
        let a = k.mmap(t, 0, n * HPAGE, PROT_READ | PROT_WRITE, flags, -1, 0);
        let a = a.expect("mmap");
        for i in 0..n {
            k.store(t, a + i * HPAGE, i as u8 + 1).expect("store");
        }
        let used = k.frames_in_use();
        match k.fork(t) {
            Err(e) => {
                assert_eq!(e, Errno::ENOMEM, "{profile:?}");
                assert_eq!(
                    k.frames_in_use(),
                    used,
                    "{profile:?}: the child was not torn down"
                );
            }
            Ok(c) => {
                panic!("{profile:?}: fork succeeded with {used} frames used (child {c:?})")
            }
        }
        for i in 0..n {
            assert_eq!(
                k.load(t, a + i * HPAGE),
                Ok(i as u8 + 1),
                "{profile:?}: parent page {i}"
            );
        }
        assert_eq!(k.check_invariants().map_err(|v| v.to_string()), Ok(()));
    }
}

/// set_max_huge_pages() below what is in use or reserved: free unpromised pages leave at once,
/// the rest become surplus (nr_hugepages reads the new count, HugePages_Total keeps them) and
/// go back to the page allocator when their last user lets go: free_huge_page() for a mapped
/// page, return_unused_surplus_pages() for a reservation. The model once kept them in the pool.
#[test]
fn regression_pool_shrink_below_use_leaves_surplus_pages() {
    for profile in Profile::all() {
        let (mut k, t) = boot(profile);
        assert_eq!(k.set_nr_hugepages(3), 3);
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
        let used = k.mmap(t, 0, HPAGE, PROT_READ | PROT_WRITE, flags, -1, 0);
        let used = used.expect("mmap");
        k.store(t, used, 1).unwrap();
        let resv = k.mmap(t, 0, HPAGE, PROT_READ | PROT_WRITE, flags, -1, 0);
        let resv = resv.expect("mmap");
        let m = |k: &Kernel, f: &str| k.meminfo(f).unwrap();
        // One page in use, one reserved, one free and unpromised.
        assert_eq!(
            k.set_nr_hugepages(0),
            0,
            "{profile:?}: nr_hugepages reads the new count"
        );
        assert_eq!(
            m(&k, "HugePages_Total"),
            2,
            "{profile:?}: the unpromised page left"
        );
        assert_eq!(m(&k, "HugePages_Surp"), 2, "{profile:?}");
        assert_eq!(m(&k, "HugePages_Free"), 1, "{profile:?}");
        assert_eq!(m(&k, "HugePages_Rsvd"), 1, "{profile:?}");
        assert_eq!(k.load(t, used), Ok(1), "{profile:?}: the page in use stays");
        k.check_invariants().unwrap();
        k.munmap(t, resv, HPAGE).unwrap();
        assert_eq!(
            m(&k, "HugePages_Total"),
            1,
            "{profile:?}: the reserved page left"
        );
        assert_eq!(m(&k, "HugePages_Surp"), 1, "{profile:?}");
        // Growing takes the surplus page back instead of allocating.
        assert_eq!(k.set_nr_hugepages(1), 1, "{profile:?}");
        assert_eq!(m(&k, "HugePages_Total"), 1, "{profile:?}: no new page");
        assert_eq!(m(&k, "HugePages_Surp"), 0, "{profile:?}");
        assert_eq!(k.set_nr_hugepages(0), 0, "{profile:?}");
        k.munmap(t, used, HPAGE).unwrap();
        assert_eq!(
            m(&k, "HugePages_Total"),
            0,
            "{profile:?}: the last surplus page left"
        );
        assert_eq!(m(&k, "HugePages_Surp"), 0, "{profile:?}");
        k.check_invariants().unwrap();
        k.exit(t).unwrap();
        assert_eq!(
            k.frames_in_use(),
            0,
            "{profile:?}: every frame back with the allocator"
        );
    }
}
