//! hugetlb pages across NUMA nodes as 5.19 keeps them (mm/hugetlb.c, mm/migrate.c): the pool
//! interleaves over the nodes and each node's sysfs files count its own pages; a migration
//! takes its target from the node's free pool or, when none is free beyond the reservations,
//! as a temporary page whose state (and a surplus count) the source takes over; a hugetlbfs
//! page held by someone besides the page cache is mapped again in place; and nothing leaks
//! when the processes go away while a migration is under way. The invariants hold after
//! every step.

mod common;

use common::{two_nodes, HPAGE, PAGE};
use mmlab::mm::memfd::MFD_HUGETLB;
use mmlab::uapi::*;
use mmlab::{Errno, Kernel, Tid};

const RW: u64 = PROT_READ | PROT_WRITE;
const PRIVATE: u64 = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;

/// A per-node hstate file of node `nid`, as a number.
fn node(k: &Kernel, nid: usize, file: &str) -> u64 {
    let p = format!("/sys/devices/system/node/node{nid}/hugepages/hugepages-2048kB/{file}");
    k.sysfs_read(&p)
        .unwrap_or_else(|e| panic!("{p}: {e:?}"))
        .trim()
        .parse()
        .expect("a number")
}

/// A global hstate file, as a number.
fn global(k: &Kernel, file: &str) -> u64 {
    k.sysfs_read(&format!("/sys/kernel/mm/hugepages/hugepages-2048kB/{file}"))
        .expect("hstate file")
        .trim()
        .parse()
        .expect("a number")
}

/// The invariants hold.
fn settle(k: &Kernel) {
    if let Err(v) = k.check_invariants() {
        panic!("invariant: {v}");
    }
}

/// The frame mapping `addr` of `t` and its node.
fn frame(k: &Kernel, t: Tid, addr: u64) -> (u64, usize) {
    let (pfn, _) = k.page_at(t, addr).expect("page_at").expect("mapped");
    (pfn.0, k.page_to_nid(pfn))
}

/// A byte of every 4 KiB page of the huge page at `p`, from its index.
fn fill(k: &mut Kernel, t: Tid, p: u64, seed: u8) {
    for i in 0..HPAGE / PAGE {
        k.store(t, p + i * PAGE + (i % 7), seed.wrapping_add(i as u8))
            .expect("store");
    }
}

/// What [`fill`] wrote is all there.
fn check_fill(k: &mut Kernel, t: Tid, p: u64, seed: u8) {
    for i in 0..HPAGE / PAGE {
        let got = k.load(t, p + i * PAGE + (i % 7)).expect("load");
        assert_eq!(got, seed.wrapping_add(i as u8), "page {i}");
    }
}

#[test]
fn the_pool_interleaves_and_a_node_write_grows_only_that_node() {
    let (mut k, _) = two_nodes();
    assert_eq!(k.set_nr_hugepages(5), 5);
    assert_eq!(
        (node(&k, 0, "nr_hugepages"), node(&k, 1, "nr_hugepages")),
        (3, 2)
    );
    assert_eq!(node(&k, 1, "free_hugepages"), 2);
    let n1 = "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages";
    k.sysfs_write(n1, "4").unwrap();
    assert_eq!(
        (node(&k, 0, "nr_hugepages"), node(&k, 1, "nr_hugepages")),
        (3, 4)
    );
    assert_eq!(global(&k, "nr_hugepages"), 7);
    settle(&k);
    // Shrinking through the global file frees node by node in turn.
    assert_eq!(k.set_nr_hugepages(3), 3);
    let (a, b) = (node(&k, 0, "nr_hugepages"), node(&k, 1, "nr_hugepages"));
    assert_eq!(a + b, 3);
    assert!(a >= 1 && b >= 1, "both nodes gave pages back: {a} {b}");
    k.sysfs_write(n1, "0").unwrap();
    assert_eq!(node(&k, 1, "nr_hugepages"), 0);
    assert_eq!(node(&k, 0, "nr_hugepages"), a, "node 0 untouched");
    // The machine has two nodes; the files are read-only but for nr_hugepages.
    let n2 = "/sys/devices/system/node/node2/hugepages/hugepages-2048kB/nr_hugepages";
    assert_eq!(k.sysfs_read(n2), Err(Errno::ENOENT));
    assert_eq!(k.sysfs_write(n2, "1"), Err(Errno::ENOENT));
    let free = "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/free_hugepages";
    assert_eq!(k.sysfs_write(free, "1"), Err(Errno::EACCES));
    assert_eq!(k.sysfs_write(n1, "x"), Err(Errno::EINVAL));
    settle(&k);
}

#[test]
fn a_private_huge_page_moves_whole_and_its_source_returns_to_its_nodes_pool() {
    let (mut k, t) = two_nodes();
    k.set_nr_hugepages(4);
    let p = k.mmap(t, 0, HPAGE, RW, PRIVATE, -1, 0).unwrap();
    fill(&mut k, t, p, 0x30);
    let (old, nid) = frame(&k, t, p);
    assert_eq!(nid, 0);
    assert_eq!(k.migrate_begin(t, p + 100 * PAGE, 1).unwrap(), 0);
    settle(&k);
    assert!(k.page_at(t, p).unwrap().is_none(), "a migration entry");
    assert_eq!(k.migrate_end(), 0);
    let (new, nid) = frame(&k, t, p);
    assert_eq!(nid, 1);
    assert_ne!(new, old);
    assert_eq!(
        frame(&k, t, p + 3 * PAGE).0,
        new + 3,
        "tails follow the head"
    );
    check_fill(&mut k, t, p, 0x30);
    assert!(
        k.pte_at(t, p).unwrap().write(),
        "writable entry: writable again"
    );
    assert_eq!(node(&k, 0, "free_hugepages"), 2);
    assert_eq!(node(&k, 1, "free_hugepages"), 1);
    assert_eq!(global(&k, "free_hugepages"), 3);
    settle(&k);
    k.munmap(t, p, HPAGE).unwrap();
    assert_eq!(global(&k, "free_hugepages"), 4);
    assert_eq!(node(&k, 1, "free_hugepages"), 2);
    settle(&k);
}

#[test]
fn a_surplus_page_carries_its_surplus_count_to_the_target_node() {
    let (mut k, t) = two_nodes();
    k.set_nr_overcommit_hugepages(1);
    let p = k
        .mmap(t, 0, HPAGE, RW, PRIVATE | MAP_NORESERVE, -1, 0)
        .unwrap();
    k.store(t, p, 9).unwrap();
    assert_eq!(node(&k, 0, "surplus_hugepages"), 1);
    // No free page anywhere: alloc_migrate_huge_page(), whatever the overcommit limit.
    assert_eq!(k.migrate_begin(t, p, 1).unwrap(), 0);
    assert_eq!(
        global(&k, "nr_hugepages"),
        2,
        "the temporary page is counted"
    );
    assert_eq!(global(&k, "surplus_hugepages"), 1);
    settle(&k);
    assert_eq!(k.migrate_end(), 0);
    assert_eq!(frame(&k, t, p).1, 1);
    assert_eq!(k.load(t, p).unwrap(), 9);
    assert_eq!(
        (node(&k, 0, "nr_hugepages"), node(&k, 1, "nr_hugepages")),
        (0, 1),
        "the source, temporary now, went back to the page allocator"
    );
    assert_eq!(
        (
            node(&k, 0, "surplus_hugepages"),
            node(&k, 1, "surplus_hugepages")
        ),
        (0, 1)
    );
    settle(&k);
    k.munmap(t, p, HPAGE).unwrap();
    assert_eq!(
        global(&k, "nr_hugepages"),
        0,
        "a surplus page leaves when freed"
    );
    assert_eq!(node(&k, 1, "surplus_hugepages"), 0);
    settle(&k);
}

#[test]
fn a_hugetlbfs_page_with_an_extra_pin_is_mapped_again_in_place() {
    let (mut k, t) = two_nodes();
    k.set_nr_hugepages(4);
    let fd = k.memfd_create(t, "huge", MFD_HUGETLB).unwrap() as i64;
    k.ftruncate(t, fd, HPAGE as i64).unwrap();
    let s = k.mmap(t, 0, HPAGE, RW, MAP_SHARED, fd, 0).unwrap();
    fill(&mut k, t, s, 0x50);
    let (old, _) = frame(&k, t, s);
    let ring = k.io_uring_setup(t, 4).unwrap() as i64;
    k.io_uring_register_buffers(t, ring, s, HPAGE, 1).unwrap();
    // Not anonymous: the entries go in, but migrate_huge_page_move_mapping() finds the pin's
    // reference beside the isolation's and the cache's, and the entries map the page again.
    assert_eq!(k.migrate_begin(t, s, 1).unwrap(), 0);
    settle(&k);
    assert_eq!(k.migrate_end(), Errno::EAGAIN.code() as u64);
    assert_eq!(frame(&k, t, s), (old, 0));
    assert!(
        k.pte_at(t, s).unwrap().write(),
        "shared writable: writable again"
    );
    check_fill(&mut k, t, s, 0x50);
    assert_eq!(node(&k, 1, "free_hugepages"), 2, "the target went back");
    settle(&k);
    k.io_uring_unregister_buffers(t, ring).unwrap();
    assert_eq!(k.migrate_begin(t, s, 1).unwrap(), 0);
    assert_eq!(k.migrate_end(), 0);
    assert_eq!(frame(&k, t, s).1, 1);
    check_fill(&mut k, t, s, 0x50);
    // The page cache holds the new page: a new mapping finds it.
    k.munmap(t, s, HPAGE).unwrap();
    let s2 = k.mmap(t, 0, HPAGE, PROT_READ, MAP_SHARED, fd, 0).unwrap();
    check_fill(&mut k, t, s2, 0x50);
    assert_eq!(frame(&k, t, s2).1, 1);
    settle(&k);
}

#[test]
fn processes_leaving_during_a_migration_leave_the_pool_whole() {
    let (mut k, t) = two_nodes();
    k.set_nr_hugepages(4);
    let p = k.mmap(t, 0, 2 * HPAGE, RW, PRIVATE, -1, 0).unwrap();
    k.store(t, p, 1).unwrap();
    k.store(t, p + HPAGE, 2).unwrap();
    assert_eq!(k.migrate_begin(t, p, 1).unwrap(), 0);
    let c = k.fork(t).unwrap();
    settle(&k);
    k.exit(c).unwrap();
    settle(&k);
    k.munmap(t, p, HPAGE).unwrap();
    settle(&k);
    // Nothing maps the source any more: it still moves, and both pages are freed.
    assert_eq!(k.migrate_end(), 0);
    assert_eq!(global(&k, "free_hugepages"), 3);
    assert_eq!(k.load(t, p + HPAGE).unwrap(), 2);
    k.exit(t).unwrap();
    assert_eq!(global(&k, "free_hugepages"), 4);
    assert_eq!(global(&k, "resv_hugepages"), 0);
    assert_eq!(
        node(&k, 0, "free_hugepages") + node(&k, 1, "free_hugepages"),
        4
    );
    settle(&k);
}
