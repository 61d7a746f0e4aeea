//! The rmap walks reclaim and writeback will call, driven directly: folio_referenced() reads
//! and clears accessed bits in every mapping (with x86's flush rules), folio_mkclean()
//! write-protects the shared mappings of a page-cache folio.

mod common;

use common::{kernel_with_process, HPAGE, PAGE};
use mmlab::mm::vma::vm::{VM_LOCKED, VM_READ, VM_WRITE};
use mmlab::uapi::*;
use mmlab::{Kernel, Tid};

fn anon(k: &mut Kernel, t: Tid, len: u64, extra: u64) -> u64 {
    k.mmap(
        t,
        0,
        len,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | extra,
        -1,
        0,
    )
    .expect("mmap")
}

fn folio_at(k: &Kernel, t: Tid, addr: u64) -> mmlab::page::Folio {
    let (pfn, _) = k.page_at(t, addr).expect("task").expect("mapped");
    k.page_folio(pfn)
}

#[test]
fn referenced_counts_each_accessed_mapping_once_and_clears_it() {
    let (mut k, parent) = kernel_with_process();
    let p = anon(&mut k, parent, PAGE, 0);
    k.store(parent, p, 1).expect("store");
    let child = k.fork(parent).expect("fork");
    assert_eq!(k.load(child, p), Ok(1));
    let f = folio_at(&k, parent, p);
    assert_eq!(f, folio_at(&k, child, p), "shared after fork");

    let r = k.folio_referenced(f);
    assert_eq!(r.referenced, 2, "parent's and child's PTEs were young");
    assert_eq!(r.vm_flags & (VM_READ | VM_WRITE), VM_READ | VM_WRITE);
    assert!(!k.pte_at(parent, p).unwrap().young());
    assert!(!k.pte_at(child, p).unwrap().young());
    assert_eq!(k.folio_referenced(f).referenced, 0, "the bits are gone");
}

/// anon_vma_fork() over three generations: the child's COW copy is filed in the child's own
/// anon_vma (parent: the parent's, root: the parent's root), and the grandchild joins both, so
/// rmap_walk() from each folio finds exactly the mappings that share it.
#[test]
fn the_anon_vma_chain_of_a_grandchild_reaches_both_generations_pages() {
    let (mut k, parent) = kernel_with_process();
    let p = anon(&mut k, parent, 2 * PAGE, 0);
    k.store(parent, p, 1).expect("store");
    k.store(parent, p + PAGE, 2).expect("store");
    let child = k.fork(parent).expect("fork");
    k.store(child, p + PAGE, 3).expect("COW in the child");
    let grandchild = k.fork(child).expect("fork");
    for t in [parent, child, grandchild] {
        k.load(t, p).expect("load");
        k.load(t, p + PAGE).expect("load");
    }
    let first = folio_at(&k, parent, p);
    assert_eq!(first, folio_at(&k, grandchild, p), "never written: shared");
    assert_eq!(
        k.folio_referenced(first).referenced,
        3,
        "all three generations"
    );
    let copy = folio_at(&k, child, p + PAGE);
    assert_eq!(copy, folio_at(&k, grandchild, p + PAGE));
    assert_ne!(copy, folio_at(&k, parent, p + PAGE));
    assert_eq!(
        k.folio_referenced(copy).referenced,
        2,
        "the child and its child"
    );
    let old = folio_at(&k, parent, p + PAGE);
    assert_eq!(k.folio_referenced(old).referenced, 1, "the parent alone");
    k.check_invariants().expect("invariants");
}

#[test]
fn a_cleared_accessed_bit_stays_clear_while_the_tlb_holds_the_entry() {
    let (mut k, t) = kernel_with_process();
    let p = anon(&mut k, t, PAGE, 0);
    k.store(t, p, 1).expect("store");
    let f = folio_at(&k, t, p);
    let flushes = k.vmstat.nr_tlb_local_flush_one + k.vmstat.nr_tlb_local_flush_all;
    assert_eq!(k.folio_referenced(f).referenced, 1);
    assert_eq!(
        k.vmstat.nr_tlb_local_flush_one + k.vmstat.nr_tlb_local_flush_all,
        flushes,
        "x86 clears a PTE's accessed bit without a flush"
    );
    // The access hits the TLB, so the CPU does not set the bit again.
    assert_eq!(k.load(t, p), Ok(1));
    assert_eq!(k.folio_referenced(f).referenced, 0);
    // Once the entry is flushed (mprotect flushes the range), the next access walks.
    k.mprotect(t, p, PAGE, PROT_READ).expect("mprotect");
    assert_eq!(k.load(t, p), Ok(1));
    assert_eq!(k.folio_referenced(f).referenced, 1);
}

#[test]
fn a_huge_pmd_loses_its_accessed_bit_with_a_flush() {
    let (mut k, t) = kernel_with_process();
    k.thp_sysfs_write("enabled", "always").expect("knob");
    let raw = anon(&mut k, t, 2 * HPAGE, 0);
    let p = raw.next_multiple_of(HPAGE);
    k.store(t, p, 1).expect("store");
    assert!(k.is_thp_page(k.page_at(t, p).unwrap().unwrap().0));
    let f = folio_at(&k, t, p + PAGE);
    let flushes = k.vmstat.nr_tlb_local_flush_one + k.vmstat.nr_tlb_local_flush_all;
    k.set_tracing(true);
    assert_eq!(k.folio_referenced(f).referenced, 1);
    assert!(
        k.vmstat.nr_tlb_local_flush_one + k.vmstat.nr_tlb_local_flush_all > flushes,
        "pmdp_clear_flush_young() flushes the huge page"
    );
    let trace = k.take_trace();
    assert!(
        trace.iter().any(|e| matches!(
            e,
            mmlab::trace::Event::TlbFlush { start, end, .. } if *start == p && *end == p + HPAGE
        )),
        "the flush is traced: {trace:?}"
    );
    assert!(!k.pte_at(t, p).unwrap().young());
}

#[test]
fn a_locked_vma_ends_the_walk_with_vm_locked() {
    let (mut k, t) = kernel_with_process();
    let p = anon(&mut k, t, PAGE, MAP_LOCKED);
    let f = folio_at(&k, t, p);
    let r = k.folio_referenced(f);
    assert_eq!((r.referenced, r.vm_flags), (0, VM_LOCKED));
    assert!(k.pte_at(t, p).unwrap().young(), "the walk stopped first");
}

#[test]
fn a_sequential_mapping_ages_without_counting() {
    let (mut k, t) = kernel_with_process();
    let p = anon(&mut k, t, PAGE, 0);
    k.madvise(t, p, PAGE, MADV_SEQUENTIAL).expect("madvise");
    k.store(t, p, 1).expect("store");
    let f = folio_at(&k, t, p);
    assert_eq!(k.folio_referenced(f).referenced, 0, "VM_SEQ_READ");
    assert!(!k.pte_at(t, p).unwrap().young(), "but the bit is cleared");
}

#[test]
fn mkclean_write_protects_shared_mappings_only() {
    let (mut k, t) = kernel_with_process();
    let fd = k.memfd_create(t, "f", 0).expect("memfd") as i64;
    k.ftruncate(t, fd, PAGE as i64).expect("ftruncate");
    let rw = PROT_READ | PROT_WRITE;
    let shared = k.mmap(t, 0, PAGE, rw, MAP_SHARED, fd, 0).expect("shared");
    let private = k.mmap(t, 0, PAGE, rw, MAP_PRIVATE, fd, 0).expect("private");
    k.store(t, shared, 7).expect("store");
    assert_eq!(
        k.load(t, private),
        Ok(7),
        "the private mapping reads the cache"
    );
    let f = folio_at(&k, t, shared);
    assert_eq!(f, folio_at(&k, t, private));
    assert!(k.pte_at(t, shared).unwrap().dirty());

    assert_eq!(k.folio_mkclean(f), 1, "only the shared mapping");
    let pte = k.pte_at(t, shared).unwrap();
    assert!(!pte.dirty() && !pte.write(), "clean and read-only");
    assert_eq!(k.folio_mkclean(f), 0, "nothing left to clean");
    // The next write faults and makes the entry writable and dirty again.
    let faults = k.minflt(t).unwrap();
    k.store(t, shared, 8).expect("store");
    assert_eq!(k.minflt(t).unwrap(), faults + 1);
    let pte = k.pte_at(t, shared).unwrap();
    assert!(pte.dirty() && pte.write());

    let a = anon(&mut k, t, PAGE, 0);
    k.store(t, a, 1).expect("store");
    let af = folio_at(&k, t, a);
    assert_eq!(
        k.folio_mkclean(af),
        0,
        "an anonymous folio has no mapping to write back"
    );
    k.check_invariants().expect("invariants");
}
