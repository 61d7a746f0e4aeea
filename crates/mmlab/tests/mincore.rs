//! mincore(2) as 5.19 answers it: present entries, holes in anonymous and file VMAs (the
//! page cache decides), huge entries, markers, and the argument errors.

mod common;

use common::{kernel_with_process, HPAGE, PAGE};
use mmlab::mm::shmem::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE};
use mmlab::uapi::userfaultfd::*;
use mmlab::uapi::*;
use mmlab::Errno;

const RW: u64 = PROT_READ | PROT_WRITE;

#[test]
fn anonymous_memory_is_resident_where_touched() {
    let (mut k, t) = kernel_with_process();
    let p = k
        .mmap(t, 0, 4 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        .unwrap();
    k.store(t, p, 1).unwrap();
    assert_eq!(k.load(t, p + 2 * PAGE), Ok(0), "maps the zero page");
    assert_eq!(k.mincore(t, p, 4 * PAGE), Ok(vec![1, 0, 1, 0]));
    assert_eq!(
        k.mincore(t, p, 1),
        Ok(vec![1]),
        "a partial page counts whole"
    );
    assert_eq!(k.mincore(t, p, 0), Ok(vec![]));
}

#[test]
fn arguments_fail_as_linux_fails_them() {
    let (mut k, t) = kernel_with_process();
    let p = k
        .mmap(t, 0, 2 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        .unwrap();
    assert_eq!(k.mincore(t, p + 1, PAGE), Err(Errno::EINVAL));
    assert_eq!(
        k.mincore(t, p, 3 * PAGE),
        Err(Errno::ENOMEM),
        "runs past the VMA"
    );
    assert_eq!(k.mincore(t, p + 2 * PAGE, PAGE), Err(Errno::ENOMEM));
    assert_eq!(
        k.mincore(t, 1 << 47, PAGE),
        Err(Errno::ENOMEM),
        "not user space"
    );
    assert_eq!(k.mincore(t, p, u64::MAX), Err(Errno::ENOMEM), "wraps");
}

#[test]
fn file_holes_ask_the_page_cache_and_fallocated_pages_are_not_uptodate() {
    let (mut k, t) = kernel_with_process();
    let fd = k.memfd_create(t, "f", 0).unwrap() as i64;
    k.ftruncate(t, fd, 4 * PAGE as i64).unwrap();
    let a = k.mmap(t, 0, 4 * PAGE, RW, MAP_SHARED, fd, 0).unwrap();
    let b = k.mmap(t, 0, 4 * PAGE, RW, MAP_SHARED, fd, 0).unwrap();
    k.store(t, a, 1).unwrap();
    k.fallocate(t, fd, 0, 2 * PAGE as i64, PAGE as i64).unwrap();
    // Page 0 is cached and uptodate though `b` does not map it; page 2 was fallocated and
    // stays not uptodate until something reads or faults it.
    assert_eq!(k.mincore(t, b, 4 * PAGE), Ok(vec![1, 0, 0, 0]));
    assert_eq!(k.load(t, b + 2 * PAGE), Ok(0));
    assert_eq!(k.mincore(t, a, 4 * PAGE), Ok(vec![1, 0, 1, 0]));
}

#[test]
fn a_huge_pmd_is_resident_across_its_2m() {
    let (mut k, t) = kernel_with_process();
    k.thp_sysfs_write("enabled", "always").unwrap();
    let raw = k
        .mmap(t, 0, 2 * HPAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        .unwrap();
    let h = raw.next_multiple_of(HPAGE);
    k.store(t, h, 1).unwrap();
    let v = k.mincore(t, h, HPAGE).unwrap();
    assert_eq!(v.len(), 512);
    assert!(v.iter().all(|&b| b == 1));
}

#[test]
fn a_uffd_wp_marker_is_looked_up_in_the_page_cache() {
    let (mut k, t) = kernel_with_process();
    let fd = k.memfd_create(t, "f", 0).unwrap() as i64;
    k.ftruncate(t, fd, PAGE as i64).unwrap();
    let a = k.mmap(t, 0, PAGE, RW, MAP_SHARED, fd, 0).unwrap();
    k.store(t, a, 1).unwrap();
    let u = k.userfaultfd(t, O_NONBLOCK).unwrap() as i64;
    k.uffdio_api(t, u, UFFD_API, UFFD_FEATURE_WP_HUGETLBFS_SHMEM)
        .unwrap();
    k.uffdio_register(t, u, a, PAGE, UFFDIO_REGISTER_MODE_WP)
        .unwrap();
    k.uffdio_writeprotect(t, u, a, PAGE, UFFDIO_WRITEPROTECT_MODE_WP)
        .unwrap();
    // Zapping the page leaves a marker; the page cache still holds the page.
    k.madvise(t, a, PAGE, MADV_DONTNEED).unwrap();
    assert_eq!(k.pte_at(t, a).unwrap().0 & 1, 0, "not present");
    assert_ne!(k.pte_at(t, a).unwrap().0, 0, "a marker");
    assert_eq!(k.mincore(t, a, PAGE), Ok(vec![1]));
    // Punching the hole leaves the marker and empties the cache.
    k.fallocate(
        t,
        fd,
        FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
        0,
        PAGE as i64,
    )
    .unwrap();
    assert_eq!(k.mincore(t, a, PAGE), Ok(vec![0]));
}
