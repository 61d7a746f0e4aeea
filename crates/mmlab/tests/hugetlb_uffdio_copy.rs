//! UFFDIO_COPY into hugetlb from a source that is not mapped yet, as 5.19 does it
//! (hugetlb_mcopy_atomic_pte(), __mcopy_atomic_hugetlb()): the copy with page faults disabled
//! fails, the destination page goes back and a temporary page holds the source while it is
//! copied with faults allowed; the retry allocates the real page while still holding the
//! temporary one. With every free page reserved, the temporary page comes from the page
//! allocator (alloc_migrate_huge_page(): in nr_huge_pages, not surplus) and goes back to it.
//! An allocation failure injected anywhere in the copy is the ioctl's error and leaks nothing.

use mmlab::trace::Event;
use mmlab::uapi::userfaultfd::*;
use mmlab::uapi::*;
use mmlab::{Config, Errno, Kernel, Profile, Tid};

mod common;
use common::{check_pool_idle, HPAGE, PAGE};

const RW: u64 = PROT_READ | PROT_WRITE;

/// A pool of one page, reserved by a registered shared hugetlb mapping `dst`, and a 2 MiB
/// anonymous source `src` whose first page was never touched and whose second holds 0x5a:
/// (kernel, task, userfaultfd, dst, src).
fn setup() -> (Kernel, Tid, i64, u64, u64) {
    let mut k = Kernel::new(Config::new(Profile::Linux519));
    assert_eq!(k.set_nr_hugepages(1), 1);
    let t = k.spawn_process(0).expect("spawn");
    let u = k.userfaultfd(t, 0).expect("userfaultfd") as i64;
    k.uffdio_api(t, u, UFFD_API, 0).expect("UFFDIO_API");
    let flags = MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB;
    let dst = k.mmap(t, 0, HPAGE, RW, flags, -1, 0).expect("mmap dst");
    k.uffdio_register(t, u, dst, HPAGE, UFFDIO_REGISTER_MODE_MISSING)
        .expect("register");
    let src = k
        .mmap(t, 0, HPAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        .expect("mmap src");
    k.store(t, src + PAGE, 0x5a).expect("store");
    (k, t, u, dst, src)
}

fn meminfo(k: &Kernel, name: &str) -> u64 {
    k.meminfo(name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn the_temporary_page_comes_from_the_page_allocator_and_goes_back() {
    let (mut k, t, u, dst, src) = setup();
    assert_eq!(meminfo(&k, "HugePages_Rsvd"), 1);
    let frames = k.frames_in_use();
    k.set_tracing(true);
    assert_eq!(k.uffdio_copy(t, u, dst, src, HPAGE, 0), Ok(HPAGE));
    k.check_invariants().expect("invariants");
    // One 2 MiB block came from the page allocator (the temporary page) and went back.
    let trace = k.take_trace();
    let huge = |e: &Event| match e {
        Event::FolioAlloc {
            pfn: Some(_),
            order,
            ..
        } => *order == 9,
        Event::FolioFree { order, .. } => *order == 9,
        _ => false,
    };
    assert_eq!(
        trace.iter().filter(|e| huge(e)).count(),
        2,
        "one 2 MiB alloc and free"
    );
    // The temporary page went back to the page allocator: the pool is the one page, mapped.
    assert_eq!(meminfo(&k, "HugePages_Total"), 1);
    assert_eq!(meminfo(&k, "HugePages_Free"), 0);
    assert_eq!(meminfo(&k, "HugePages_Rsvd"), 0);
    assert_eq!(meminfo(&k, "HugePages_Surp"), 0);
    assert_eq!(k.load(t, dst), Ok(0));
    assert_eq!(k.load(t, dst + PAGE), Ok(0x5a));
    // The copy with faults allowed faulted the source's first page in (the zero page) and
    // nothing else is left: only page tables may have been added.
    let added = k.frames_in_use() - frames;
    assert!(added < 8, "{added} frames left after the copy");
    k.exit(t).expect("exit");
    check_pool_idle(&k).expect("idle");
}

#[test]
fn an_injected_failure_anywhere_in_the_copy_is_its_error_and_leaks_nothing() {
    let mut enomem = false;
    for skip in 0.. {
        let (mut k, t, u, dst, src) = setup();
        k.fail_page_alloc(skip, 1);
        let r = k.uffdio_copy(t, u, dst, src, HPAGE, 0);
        let injected = k.injected_alloc_failures();
        k.fail_page_alloc(0, 0);
        if let Err(v) = k.check_invariants() {
            panic!("fail at #{skip}: {v}");
        }
        if injected == 0 {
            assert_eq!(r, Ok(HPAGE), "no failure left to inject at #{skip}");
            assert!(skip > 0, "the copy allocates");
            break;
        }
        match r {
            Ok(n) => assert_eq!(n, HPAGE, "fail at #{skip}"),
            // The temporary page or a page table: ENOMEM; the source's fault: EFAULT.
            Err(e) => assert!(
                matches!(e, Errno::ENOMEM | Errno::EFAULT),
                "fail at #{skip}: {e:?}"
            ),
        }
        enomem |= r == Err(Errno::ENOMEM);
        assert_eq!(meminfo(&k, "HugePages_Total"), 1, "fail at #{skip}");
        assert_eq!(meminfo(&k, "HugePages_Surp"), 0, "fail at #{skip}");
        k.exit(t).expect("exit");
        check_pool_idle(&k).unwrap_or_else(|e| panic!("fail at #{skip}: {e}"));
    }
    assert!(enomem, "some failure reached the ioctl as ENOMEM");
}
