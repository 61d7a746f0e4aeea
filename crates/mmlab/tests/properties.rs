//! Property tests over random syscall/access sequences:
//!
//! 1. `invariants_hold_and_nothing_leaks`: random mmap/munmap/mremap/mprotect/madvise/fork/exit/
//!    thread/access sequences over up to four processes, on both profiles, plus memfd operations
//!    (memfd_create up to two descriptors per process, ftruncate to 0..=16 pages, fallocate
//!    allocate/KEEP_SIZE/PUNCH_HOLE at unaligned offsets, close, shared and private mmap of a
//!    descriptor at a page offset, MADV_COLD/PAGEOUT, userfaultfd registrations and
//!    unregistrations, released when their descriptor closes); forks copy the descriptor table.
//!    THP knob flips, MADV_HUGEPAGE and khugepaged steps meet the huge arena too. After every
//!    operation `check_invariants()` is Ok (page-cache refcounts included), nothing panics, and
//!    after every process exited no frame is in use (page tables, PGDs, anonymous and shmem pages,
//!    the page cache of every memfd closed at exit). It also draws hugetlb operations: a pool of
//!    POOL 2 MiB pages is set first (and resized at random); MAP_HUGETLB mmaps (private or
//!    shared, MAP_NORESERVE sometimes, MAP_FIXED into a 16 MiB 2 MiB-aligned huge arena or
//!    anywhere), MFD_HUGETLB memfds with ftruncate/fallocate/PUNCH_HOLE at 2 MiB scale and mmaps
//!    of them, aligned and unaligned munmap/mprotect/madvise/mremap at huge page scale, stores,
//!    loads and memsets (SIGBUS on an exhausted pool is fine). After every process exited only
//!    the pool's pages are in use (HugePages_Total * 512 frames), all free and none reserved.
//! 2. `private_memory_matches_shadow`: private anonymous memory only (no DONTFORK/WIPEONFORK):
//!    a page-level shadow of every process's address space (which pages are mapped, their
//!    protection and four sampled bytes) predicts every syscall result, every access outcome
//!    (value or SIGSEGV) and the /proc/PID/maps layout. Checks COW isolation across forks and
//!    TLB coherence (a second thread on CPU 1).
//! 3. `profiles_agree_without_fork`: without fork, Linux518 and Linux519 give identical results,
//!    errnos, load values, maps and pagemap present/exclusive/file bits (memfd operations too).
//! 4. `page_cache_data_is_never_lost_while_the_file_holds_it`: one memfd of NF pages mapped
//!    shared, a second shared and a private mapping coming and going; stores, memsets,
//!    MADV_DONTNEED/PAGEOUT, PUNCH_HOLE, ftruncate (shrink, grow, shrink-then-grow) and
//!    fallocate. A byte shadow of the file plus per-page shadows of the private COW copies
//!    predict every access: shared mappings see the file (SIGBUS past the last page), private
//!    ones their COW copy or else the file. As in 5.19 shmem_setattr(), truncation zeroes from the
//!    new size on and drops COW copies past it (unmap_mapping_range(even_cows=1)); hole punching
//!    zeroes the range but keeps COW copies (even_cows=0).
//! 5. `hugetlb_data_follows_fork_semantics`: one process with a private MAP_HUGETLB mapping and
//!    a shared mapping of an MFD_HUGETLB memfd (HN huge pages each), then stores, memsets,
//!    loads, MADV_DONTNEED, hole punches, forks and exits; sampled bytes of every huge page are
//!    shadowed per process (private) and per file (shared). A child reads everything as of the
//!    fork; later private writes never leak between processes, shared ones always do. As in
//!    5.18/5.19, MADV_DONTNEED on the shared mapping clears its VM_MAYSHARE, after which a
//!    fault on a file hole there gives an anonymous page (shared with later children) that
//!    never reaches the file. At the end the pool is whole again (no page in use, no
//!    reservation).

use std::collections::BTreeMap;

use mmlab::fs::proc::{PM_FILE, PM_MMAP_EXCLUSIVE, PM_PRESENT, PM_SWAP};
use mmlab::mm::memfd::{MFD_CLOEXEC, MFD_HUGETLB};
use mmlab::mm::shmem::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE};
use mmlab::uapi::*;
use mmlab::{Config, Errno, Kernel, Profile, Signal, Tid};
use proptest::prelude::*;

mod common;
use common::{exit_all_leaves_nothing, expect, HPAGE, OFFS, PAGE};

const ARENA_PAGES: u64 = 64;
/// Page offsets relative to the arena start that ops may target (a little outside on each side).
const PAGE_LO: i64 = -2;
const PAGE_HI: i64 = ARENA_PAGES as i64 + 2;
const MAX_PROCS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// addr = 0
    No,
    /// addr = an arena address as a hint
    Hint,
    Fixed,
    NoReplace,
}

#[derive(Clone, Debug)]
enum Op {
    Mmap {
        p: usize,
        t: usize,
        page: i64,
        pages: u64,
        prot: u64,
        shared: bool,
        fixed: Place,
        populate: bool,
    },
    Munmap {
        p: usize,
        t: usize,
        at: At,
        len: u64,
    },
    /// mode: 0 none, 1 MAYMOVE, 2 MAYMOVE|FIXED, 3 MAYMOVE|DONTUNMAP, 4 MAYMOVE|DONTUNMAP|FIXED
    Mremap {
        p: usize,
        t: usize,
        at: At,
        old: u64,
        new: u64,
        mode: u8,
        dst: At,
    },
    Mprotect {
        p: usize,
        t: usize,
        at: At,
        len: u64,
        prot: u64,
    },
    Madvise {
        p: usize,
        t: usize,
        at: At,
        len: u64,
        advice: u64,
    },
    Fork {
        p: usize,
        t: usize,
    },
    Exit {
        p: usize,
    },
    Thread {
        p: usize,
    },
    SetCpu {
        p: usize,
        t: usize,
        cpu: usize,
    },
    /// `off` indexes the sampled offsets of the scale of `at` (OFFS or HOFFS).
    Store {
        p: usize,
        t: usize,
        at: At,
        off: usize,
        val: u8,
    },
    Load {
        p: usize,
        t: usize,
        at: At,
        off: usize,
    },
    /// `pages` 4 KiB pages from `at`.
    Memset {
        p: usize,
        t: usize,
        at: At,
        pages: u64,
        val: u8,
    },
    /// memfd_create() unless the process already has two descriptors (MFD_HUGETLB if `huge`).
    MemfdCreate {
        p: usize,
        t: usize,
        cloexec: bool,
        huge: bool,
    },
    /// `fd` picks one of the process's descriptors (EBADF when it has none).
    Ftruncate {
        p: usize,
        t: usize,
        fd: usize,
        len: i64,
    },
    Fallocate {
        p: usize,
        t: usize,
        fd: usize,
        mode: u64,
        off: i64,
        len: i64,
    },
    Close {
        p: usize,
        t: usize,
        fd: usize,
    },
    MmapFd {
        p: usize,
        t: usize,
        fd: usize,
        page: i64,
        pages: u64,
        prot: u64,
        shared: bool,
        fixed: Place,
        populate: bool,
        /// File offset in pages.
        off: u64,
    },
    /// A new userfaultfd (after UFFDIO_API) registers the range with `mode` (UFFDIO_REGISTER_
    /// MODE_* bits; 4 asks for MINOR), or with `mode` 0 unregisters it.
    Uffd {
        p: usize,
        t: usize,
        at: At,
        len: u64,
        mode: u64,
    },
    /// set_nr_hugepages(n).
    SetPool {
        n: u64,
    },
    /// Write transparent_hugepage/enabled: always, madvise or never.
    ThpEnabled {
        mode: usize,
    },
    /// khugepaged on the PMD range holding `at`: the scan step, then (if it succeeded, or
    /// always when `force`) the collapse step.
    Khugepaged {
        p: usize,
        t: usize,
        at: At,
        force: bool,
    },
    /// mmap of `len` bytes with MAP_HUGETLB (anonymous when `fd` is None; else of one of the
    /// process's descriptors at file offset `off`, without MAP_HUGETLB when `flag` is false).
    HMmap {
        p: usize,
        t: usize,
        fd: Option<usize>,
        flag: bool,
        at: HAt,
        len: u64,
        prot: u64,
        shared: bool,
        noreserve: bool,
        fixed: Place,
        populate: bool,
        off: u64,
    },
}

/// An address for the hugetlb operations of property 1: `region` 0 is the 2 MiB aligned huge
/// arena, others one of the addresses non-fixed hugetlb mmaps/mremaps returned; plus `hpage`
/// huge pages and `sub` base pages.
#[derive(Clone, Copy, Debug)]
struct HAt {
    region: usize,
    hpage: i64,
    sub: u64,
}

/// Where an operation lands: a page of the 4 KiB arena, or an address at huge page scale.
#[derive(Clone, Copy, Debug)]
enum At {
    Page(i64),
    Huge(HAt),
}

/// Which operations a property draws from.
#[derive(Clone, Copy)]
struct Gen {
    shared: bool,
    fork: bool,
    /// Advice beyond DONTNEED/FREE (DONTFORK, DOFORK, WIPEONFORK, KEEPONFORK, REMOVE).
    all_advice: bool,
    /// mremap with old_len 0 (duplicating a shared mapping).
    zero_old: bool,
    /// memfd_create/ftruncate/fallocate/close and mmap of a memfd (plus MADV_COLD/PAGEOUT).
    memfd: bool,
    /// hugetlb: MAP_HUGETLB mmaps, MFD_HUGETLB memfds and 2 MiB scale operations in the huge
    /// arena (the World needs one: `World::with_huge_arena`), pool resizing.
    hugetlb: bool,
    /// userfaultfd registrations (the profiles differ there: 5.18 has no uffd-wp on shmem).
    uffd: bool,
}

fn prot_s() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(PROT_NONE),
        1 => Just(PROT_READ),
        3 => Just(PROT_READ | PROT_WRITE),
        1 => Just(PROT_WRITE),
        1 => Just(PROT_READ | PROT_EXEC),
        1 => Just(PROT_READ | PROT_WRITE | PROT_EXEC),
    ]
}

fn page_s() -> impl Strategy<Value = i64> {
    PAGE_LO..PAGE_HI
}

/// Where an mmap goes: mostly MAP_FIXED, else anywhere, at a hint or FIXED_NOREPLACE.
fn place_s() -> impl Strategy<Value = Place> {
    prop_oneof![
        2 => Just(Place::No),
        1 => Just(Place::Hint),
        4 => Just(Place::Fixed),
        1 => Just(Place::NoReplace)
    ]
}

/// A length in bytes: 1..16 pages, sometimes not a multiple of the page size.
fn len_s() -> impl Strategy<Value = u64> {
    (
        1u64..=16,
        prop_oneof![4 => Just(0u64), 1 => Just(1u64), 1 => Just(PAGE - 1)],
    )
        .prop_map(|(n, sub)| n * PAGE - sub)
}

/// The process and thread an operation runs in.
fn pt_s() -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    (0usize..8, 0usize..2)
}

// The operations drawn at both scales: `at` places them (a 4 KiB arena page or a huge page
// address) and `len` sizes them.

fn munmap_s(at: BoxedStrategy<At>, len: BoxedStrategy<u64>) -> BoxedStrategy<Op> {
    (pt_s(), at, len)
        .prop_map(|((p, t), at, len)| Op::Munmap { p, t, at, len })
        .boxed()
}

/// mremap from `at` to a `dst` drawn alike; old_len is 0 a tenth of the time with `zero_old`.
fn mremap_s(at: BoxedStrategy<At>, len: BoxedStrategy<u64>, zero_old: bool) -> BoxedStrategy<Op> {
    let lens = (len.clone(), len, prop::bool::weighted(0.1));
    (pt_s(), at.clone(), lens, 0u8..5, at)
        .prop_map(move |((p, t), at, (old, new, zero), mode, dst)| {
            let old = if zero && zero_old { 0 } else { old };
            // DONTUNMAP needs old_len == new_len (after page alignment).
            let new = if mode >= 3 { old.max(PAGE) } else { new };
            Op::Mremap {
                p,
                t,
                at,
                old,
                new,
                mode,
                dst,
            }
        })
        .boxed()
}

fn mprotect_s(at: BoxedStrategy<At>, len: BoxedStrategy<u64>) -> BoxedStrategy<Op> {
    (pt_s(), at, len, prot_s())
        .prop_map(|((p, t), at, len, prot)| Op::Mprotect {
            p,
            t,
            at,
            len,
            prot,
        })
        .boxed()
}

fn madvise_s(
    at: BoxedStrategy<At>,
    len: BoxedStrategy<u64>,
    advices: Vec<u64>,
) -> BoxedStrategy<Op> {
    (pt_s(), at, len, prop::sample::select(advices))
        .prop_map(|((p, t), at, len, advice)| Op::Madvise {
            p,
            t,
            at,
            len,
            advice,
        })
        .boxed()
}

/// A store to one of the `offs` sampled offsets of the scale of `at`.
fn store_s(at: BoxedStrategy<At>, offs: usize) -> BoxedStrategy<Op> {
    (pt_s(), at, 0..offs, any::<u8>())
        .prop_map(|((p, t), at, off, val)| Op::Store { p, t, at, off, val })
        .boxed()
}

fn load_s(at: BoxedStrategy<At>, offs: usize) -> BoxedStrategy<Op> {
    (pt_s(), at, 0..offs)
        .prop_map(|((p, t), at, off)| Op::Load { p, t, at, off })
        .boxed()
}

/// A memset of 1..=4 base pages: at huge scale it crosses a huge page boundary when `at` is
/// near the end of one.
fn memset_s(at: BoxedStrategy<At>) -> BoxedStrategy<Op> {
    (pt_s(), at, 1u64..=4, any::<u8>())
        .prop_map(|((p, t), at, pages, val)| Op::Memset {
            p,
            t,
            at,
            pages,
            val,
        })
        .boxed()
}

fn op_s(g: Gen) -> BoxedStrategy<Op> {
    let mmap = (
        pt_s(),
        page_s(),
        1u64..=16,
        prot_s(),
        any::<bool>(),
        place_s(),
        prop::bool::weighted(0.25),
    )
        .prop_map(
            move |((p, t), page, pages, prot, sh, fixed, populate)| Op::Mmap {
                p,
                t,
                page,
                pages,
                prot,
                shared: sh && g.shared,
                fixed,
                populate,
            },
        );
    let mut advices: Vec<u64> = if g.all_advice {
        vec![
            MADV_DONTNEED,
            MADV_DONTNEED,
            MADV_FREE,
            MADV_DONTFORK,
            MADV_DOFORK,
            MADV_WIPEONFORK,
            MADV_KEEPONFORK,
            MADV_REMOVE,
        ]
    } else {
        vec![MADV_DONTNEED, MADV_DONTNEED, MADV_FREE]
    };
    if g.memfd {
        advices.extend([MADV_PAGEOUT, MADV_PAGEOUT, MADV_COLD]);
    }
    let fork = pt_s().prop_map(|(p, t)| Op::Fork { p, t });
    let exit = (0usize..8).prop_map(|p| Op::Exit { p });
    let thread = (0usize..8).prop_map(|p| Op::Thread { p });
    let setcpu = (pt_s(), 0usize..2).prop_map(|((p, t), cpu)| Op::SetCpu { p, t, cpu });
    let at = page_s().prop_map(At::Page).boxed();
    let len = len_s().boxed();
    let pages = (1u64..=16).prop_map(|n| n * PAGE).boxed();
    let mut arms: Vec<(u32, BoxedStrategy<Op>)> = vec![
        (6, mmap.boxed()),
        (3, munmap_s(at.clone(), len.clone())),
        (4, mremap_s(at.clone(), pages, g.zero_old)),
        (3, mprotect_s(at.clone(), len.clone())),
        (3, madvise_s(at.clone(), len, advices)),
        (1, thread.boxed()),
        (1, setcpu.boxed()),
        (7, store_s(at.clone(), OFFS.len())),
        (6, load_s(at.clone(), OFFS.len())),
        (2, memset_s(at)),
    ];
    if g.fork {
        arms.push((3, fork.boxed()));
        arms.push((1, exit.boxed()));
    }
    if g.memfd {
        arms.extend(memfd_ops_s(g.hugetlb, g.uffd));
    }
    if g.hugetlb {
        arms.extend(huge_ops_s());
    }
    proptest::strategy::Union::new_weighted(arms).boxed()
}

/// A file size: 0..=16 pages, sometimes not page aligned.
fn file_len_s() -> impl Strategy<Value = i64> {
    (
        0i64..=16,
        prop_oneof![4 => Just(0i64), 1 => Just(1i64), 1 => 1i64..PAGE as i64],
    )
        .prop_map(|(n, sub)| (n * PAGE as i64 - sub).max(0))
}

/// A byte offset or length, often page aligned, sometimes not.
fn bytes_s(max_pages: i64) -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => (0..=max_pages).prop_map(|n| n * PAGE as i64),
        1 => 0..=max_pages * PAGE as i64,
    ]
}

/// The memfd operations of property 1.
fn memfd_ops_s(hugetlb: bool, uffd: bool) -> Vec<(u32, BoxedStrategy<Op>)> {
    let create = (
        pt_s(),
        prop::bool::weighted(0.3),
        prop::bool::weighted(if hugetlb { 0.5 } else { 0.0 }),
    )
        .prop_map(|((p, t), cloexec, huge)| Op::MemfdCreate {
            p,
            t,
            cloexec,
            huge,
        });
    let ftruncate = (pt_s(), 0usize..2, file_len_s()).prop_map(|((p, t), fd, len)| Op::Ftruncate {
        p,
        t,
        fd,
        len,
    });
    let fallocate = (
        pt_s(),
        0usize..2,
        prop::sample::select(vec![
            0,
            FALLOC_FL_KEEP_SIZE,
            FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
            FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
        ]),
        bytes_s(16),
        bytes_s(8),
    )
        .prop_map(|((p, t), fd, mode, off, len)| Op::Fallocate {
            p,
            t,
            fd,
            mode,
            off,
            len: len.max(1),
        });
    let close = (pt_s(), 0usize..2).prop_map(|((p, t), fd)| Op::Close { p, t, fd });
    let mmap = (
        pt_s(),
        0usize..2,
        page_s(),
        1u64..=16,
        prot_s(),
        any::<bool>(),
        prop_oneof![
            1 => Just(Place::No),
            6 => Just(Place::Fixed),
            1 => Just(Place::NoReplace)
        ],
        prop::bool::weighted(0.2),
        0u64..16,
    )
        .prop_map(
            |((p, t), fd, page, pages, prot, shared, fixed, populate, off)| Op::MmapFd {
                p,
                t,
                fd,
                page,
                pages,
                prot,
                shared,
                fixed,
                populate,
                off,
            },
        );
    // userfaultfd registrations come and go with the descriptors (close releases them).
    let uffd_op = (
        pt_s(),
        page_s().prop_map(At::Page),
        len_s(),
        prop::sample::select(vec![0u64, 1, 2, 3, 4]),
    )
        .prop_map(|((p, t), at, len, mode)| Op::Uffd {
            p,
            t,
            at,
            len,
            mode,
        });
    let mut arms = vec![
        (5, create.boxed()),
        (3, ftruncate.boxed()),
        (3, fallocate.boxed()),
        (1, close.boxed()),
        (6, mmap.boxed()),
    ];
    if uffd {
        arms.push((3, uffd_op.boxed()));
    }
    arms
}

/// The 2 MiB huge page size.
/// Huge pages in the huge arena of property 1.
const HARENA_HPAGES: u64 = 8;
/// The hugetlb pool property 1 starts with.
const POOL: u64 = 6;
/// Sampled byte offsets inside a huge page.
const HOFFS: [u64; 6] = [0, 1, 4095, 4096, 1 << 20, HPAGE - 1];

fn hat_s() -> impl Strategy<Value = HAt> {
    (
        prop_oneof![3 => Just(0usize), 1 => 1usize..4],
        -1i64..=HARENA_HPAGES as i64,
        prop_oneof![8 => Just(0u64), 1 => 1u64..512, 1 => Just(511u64)],
    )
        .prop_map(|(region, hpage, sub)| HAt { region, hpage, sub })
}

/// A length in bytes: 1..=4 huge pages, sometimes not a multiple of 2 MiB (or of 4 KiB).
fn hlen_s() -> impl Strategy<Value = u64> {
    (
        1u64..=4,
        prop_oneof![6 => Just(0u64), 1 => Just(PAGE), 1 => 1..HPAGE, 1 => Just(1u64)],
    )
        .prop_map(|(n, sub)| n * HPAGE - sub)
}

/// A byte offset or length at huge page scale: often 2 MiB aligned, sometimes near a boundary,
/// sometimes anywhere.
fn hbytes_s(max_hpages: i64) -> impl Strategy<Value = i64> {
    let h = HPAGE as i64;
    prop_oneof![
        4 => (0..=max_hpages).prop_map(move |n| n * h),
        1 => (0..=max_hpages, -4i64..=4).prop_map(move |(n, d)| (n * h + d * PAGE as i64).max(0)),
        1 => 0..=max_hpages * h,
    ]
}

/// The hugetlb operations of property 1 (ftruncate and fallocate at huge page scale reuse the
/// memfd operations; they pick any descriptor, so both scales meet both kinds of file).
fn huge_ops_s() -> Vec<(u32, BoxedStrategy<Op>)> {
    let pool = (0u64..=8).prop_map(|n| Op::SetPool { n });
    let mmap = (
        pt_s(),
        prop_oneof![2 => Just(None), 1 => (0usize..2).prop_map(Some)],
        prop::bool::weighted(0.8),
        hat_s(),
        hlen_s(),
        prot_s(),
        (any::<bool>(), prop::bool::weighted(0.3)),
        place_s(),
        prop::bool::weighted(0.2),
        prop_oneof![6 => (0u64..3).prop_map(|n| n * HPAGE), 1 => (0u64..1024).prop_map(|n| n * PAGE)],
    )
        .prop_map(
            |((p, t), fd, flag, at, len, prot, (shared, noreserve), fixed, populate, off)| {
                Op::HMmap {
                    p,
                    t,
                    fd,
                    flag,
                    at,
                    len,
                    prot,
                    shared,
                    noreserve,
                    fixed,
                    populate,
                    off,
                }
            },
        );
    let at = hat_s().prop_map(At::Huge).boxed();
    let len = hlen_s().boxed();
    let advices = vec![
        MADV_DONTNEED,
        MADV_DONTNEED,
        MADV_DONTNEED,
        MADV_FREE,
        MADV_REMOVE,
        MADV_REMOVE,
        MADV_DONTFORK,
        MADV_DOFORK,
        MADV_WIPEONFORK,
        MADV_PAGEOUT,
        MADV_HUGEPAGE,
        MADV_HUGEPAGE,
        MADV_NOHUGEPAGE,
        MADV_COLD,
        MADV_FREE,
    ];
    // Mostly "always", so the 4 KiB-scale arena ops meet THPs without MADV_HUGEPAGE first.
    let thp = prop_oneof![3 => Just(0usize), 1 => Just(1usize), 1 => Just(2usize)]
        .prop_map(|mode| Op::ThpEnabled { mode });
    let khugepaged =
        (pt_s(), hat_s(), prop::bool::weighted(0.2)).prop_map(|((p, t), at, force)| {
            Op::Khugepaged {
                p,
                t,
                at: At::Huge(at),
                force,
            }
        });
    let create =
        (pt_s(), prop::bool::weighted(0.3)).prop_map(|((p, t), cloexec)| Op::MemfdCreate {
            p,
            t,
            cloexec,
            huge: true,
        });
    let ftruncate = (
        pt_s(),
        0usize..2,
        prop_oneof![4 => (0i64..=4).prop_map(|n| n * HPAGE as i64), 1 => hbytes_s(4)],
    )
        .prop_map(|((p, t), fd, len)| Op::Ftruncate { p, t, fd, len });
    let fallocate = (
        pt_s(),
        0usize..2,
        prop::sample::select(vec![
            0,
            FALLOC_FL_KEEP_SIZE,
            FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
            FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
        ]),
        hbytes_s(4),
        hbytes_s(3),
    )
        .prop_map(|((p, t), fd, mode, off, len)| Op::Fallocate {
            p,
            t,
            fd,
            mode,
            off,
            len: len.max(1),
        });
    vec![
        (1, pool.boxed()),
        (6, mmap.boxed()),
        (2, munmap_s(at.clone(), len.clone())),
        (2, mprotect_s(at.clone(), len.clone())),
        (3, madvise_s(at.clone(), len.clone(), advices)),
        (2, mremap_s(at.clone(), len, false)),
        (5, store_s(at.clone(), HOFFS.len())),
        (4, load_s(at.clone(), HOFFS.len())),
        (1, memset_s(at)),
        (2, create.boxed()),
        (2, ftruncate.boxed()),
        (2, fallocate.boxed()),
        (3, thp.boxed()),
        (3, khugepaged.boxed()),
    ]
}

/// The arena starts inaccessible or read-write (so that accesses often succeed).
fn arena_prot_s() -> impl Strategy<Value = u64> {
    prop_oneof![Just(PROT_NONE), Just(PROT_READ | PROT_WRITE)]
}

fn ops_s(g: Gen) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op_s(g), 1..60)
}

/// The processes of a run: index 0 is the initial one; each has one or two threads.
struct World {
    k: Kernel,
    procs: Vec<Vec<Tid>>,
    base: u64,
    /// The 2 MiB aligned start of the huge arena (0 without one).
    hbase: u64,
    /// Recent addresses of non-fixed hugetlb mmaps and moves (regions 1.. of `HAt`).
    hmaps: Vec<u64>,
}

impl World {
    fn new(profile: Profile) -> World {
        World::with_arena(profile, PROT_NONE)
    }

    /// One process with the 64-page arena mapped private with `prot`.
    fn with_arena(profile: Profile, prot: u64) -> World {
        let mut k = Kernel::new(Config::new(profile));
        let t = k.spawn_process(0).expect("spawn");
        let base = k
            .mmap(
                t,
                0,
                ARENA_PAGES * PAGE,
                prot,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
            .expect("arena");
        World {
            k,
            procs: vec![vec![t]],
            base,
            hbase: 0,
            hmaps: Vec::new(),
        }
    }

    /// `with_arena`, a hugetlb pool of `pool` pages and a huge arena of HARENA_HPAGES 2 MiB
    /// aligned huge pages mapped private with `prot` (4 KiB pages, for hugetlb to replace).
    fn with_huge_arena(profile: Profile, prot: u64, pool: u64) -> World {
        let mut w = World::with_arena(profile, prot);
        assert_eq!(w.k.set_nr_hugepages(pool), pool, "pool");
        let t = w.procs[0][0];
        let a =
            w.k.mmap(
                t,
                0,
                (HARENA_HPAGES + 1) * HPAGE,
                prot,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
            .expect("huge arena");
        w.hbase = a.next_multiple_of(HPAGE);
        w
    }

    fn haddr(&self, at: HAt) -> u64 {
        let base = if at.region == 0 || self.hmaps.is_empty() {
            self.hbase
        } else {
            self.hmaps[(at.region - 1) % self.hmaps.len()]
        };
        (base as i64 + at.hpage * HPAGE as i64) as u64 + at.sub * PAGE
    }

    /// Remember an address a hugetlb mapping went to (the last three).
    fn note_hmap(&mut self, a: u64) {
        if a != self.hbase && !self.hmaps.contains(&a) {
            if self.hmaps.len() >= 3 {
                self.hmaps.remove(0);
            }
            self.hmaps.push(a);
        }
    }

    fn addr(&self, page: i64) -> u64 {
        (self.base as i64 + page * PAGE as i64) as u64
    }

    fn at(&self, at: At) -> u64 {
        match at {
            At::Page(page) => self.addr(page),
            At::Huge(h) => self.haddr(h),
        }
    }

    /// The `off`th sampled byte at `at` (OFFS or HOFFS by its scale).
    fn byte(&self, at: At, off: usize) -> u64 {
        self.at(at)
            + match at {
                At::Page(_) => OFFS[off],
                At::Huge(_) => HOFFS[off],
            }
    }

    /// An arena page for property 2, whose page-level shadow knows no huge page scale.
    fn page(&self, at: At) -> Result<u64, String> {
        match at {
            At::Page(page) => Ok(self.addr(page)),
            At::Huge(_) => Err("property 2 draws no hugetlb operations".into()),
        }
    }

    fn tid(&self, p: usize, t: usize) -> (usize, Tid) {
        let p = p % self.procs.len();
        let th = &self.procs[p];
        (p, th[t % th.len()])
    }

    /// One of the process's descriptors (-1, so EBADF, when it has none).
    fn fd(&self, tid: Tid, i: usize) -> i64 {
        let fds = self.k.fds(tid).expect("fds");
        if fds.is_empty() {
            -1
        } else {
            fds[i % fds.len()] as i64
        }
    }

    fn exit_all(&mut self) -> Result<(), String> {
        while let Some(th) = self.procs.pop() {
            self.k.exit(th[0]).map_err(|e| format!("exit: {e:?}"))?;
            self.k
                .check_invariants()
                .map_err(|v| format!("after exit: {v}"))?;
        }
        Ok(())
    }
}

fn mremap_flags(mode: u8) -> u64 {
    match mode {
        0 => 0,
        1 => MREMAP_MAYMOVE,
        2 => MREMAP_MAYMOVE | MREMAP_FIXED,
        3 => MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
        _ => MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED,
    }
}

fn mmap_flags(shared: bool, fixed: Place, populate: bool) -> u64 {
    let mut f = MAP_ANONYMOUS | if shared { MAP_SHARED } else { MAP_PRIVATE };
    match fixed {
        Place::Fixed => f |= MAP_FIXED,
        Place::NoReplace => f |= MAP_FIXED_NOREPLACE,
        _ => {}
    }
    if populate {
        f |= MAP_POPULATE;
    }
    f
}

/// Apply one op; returns a user-visible description of its result (for property 3).
fn apply(w: &mut World, op: &Op) -> String {
    match *op {
        Op::Mmap {
            p,
            t,
            page,
            pages,
            prot,
            shared,
            fixed,
            populate,
        } => {
            let (_, tid) = w.tid(p, t);
            let addr = if fixed == Place::No { 0 } else { w.addr(page) };
            let r = w.k.mmap(
                tid,
                addr,
                pages * PAGE,
                prot,
                mmap_flags(shared, fixed, populate),
                -1,
                0,
            );
            format!("mmap {r:x?}")
        }
        Op::Munmap { p, t, at, len } => {
            let (_, tid) = w.tid(p, t);
            format!("munmap {:?}", w.k.munmap(tid, w.at(at), len))
        }
        Op::Mremap {
            p,
            t,
            at,
            old,
            new,
            mode,
            dst,
        } => {
            let (_, tid) = w.tid(p, t);
            let a = w.at(at);
            let r = w.k.mremap(tid, a, old, new, mremap_flags(mode), w.at(dst));
            // A hugetlb mapping moved where the kernel chose is a place later operations target.
            if let (Ok(to), At::Huge(_)) = (r, at) {
                if to != a && mode != 2 && mode != 4 {
                    w.note_hmap(to);
                }
            }
            format!("mremap {r:x?}")
        }
        Op::Mprotect {
            p,
            t,
            at,
            len,
            prot,
        } => {
            let (_, tid) = w.tid(p, t);
            format!("mprotect {:?}", w.k.mprotect(tid, w.at(at), len, prot))
        }
        Op::Madvise {
            p,
            t,
            at,
            len,
            advice,
        } => {
            let (_, tid) = w.tid(p, t);
            format!("madvise {:?}", w.k.madvise(tid, w.at(at), len, advice))
        }
        Op::Fork { p, t } => {
            if w.procs.len() >= MAX_PROCS {
                return "fork skipped".into();
            }
            let (_, tid) = w.tid(p, t);
            match w.k.fork(tid) {
                Ok(c) => {
                    w.procs.push(vec![c]);
                    "fork ok".into()
                }
                Err(e) => format!("fork {e:?}"),
            }
        }
        Op::Exit { p } => {
            if w.procs.len() < 2 {
                return "exit skipped".into();
            }
            let i = 1 + p % (w.procs.len() - 1);
            let th = w.procs.remove(i);
            format!("exit {:?}", w.k.exit(th[0]))
        }
        Op::Thread { p } => {
            let p = p % w.procs.len();
            if w.procs[p].len() >= 2 {
                return "thread skipped".into();
            }
            match w.k.spawn_thread(w.procs[p][0], 1) {
                Ok(t) => {
                    w.procs[p].push(t);
                    "thread ok".into()
                }
                Err(e) => format!("thread {e:?}"),
            }
        }
        Op::SetCpu { p, t, cpu } => {
            let (_, tid) = w.tid(p, t);
            format!("setcpu {:?}", w.k.set_cpu(tid, cpu))
        }
        Op::Store { p, t, at, off, val } => {
            let (_, tid) = w.tid(p, t);
            format!("store {:?}", w.k.store(tid, w.byte(at, off), val))
        }
        Op::Load { p, t, at, off } => {
            let (_, tid) = w.tid(p, t);
            format!("load {:?}", w.k.load(tid, w.byte(at, off)))
        }
        Op::Memset {
            p,
            t,
            at,
            pages,
            val,
        } => {
            let (_, tid) = w.tid(p, t);
            format!("memset {:?}", w.k.memset(tid, w.at(at), val, pages * PAGE))
        }
        Op::MemfdCreate {
            p,
            t,
            cloexec,
            huge,
        } => {
            let (_, tid) = w.tid(p, t);
            if w.k.fds(tid).expect("fds").len() >= 2 {
                return "memfd_create skipped".into();
            }
            let flags =
                (if cloexec { MFD_CLOEXEC } else { 0 }) | if huge { MFD_HUGETLB } else { 0 };
            format!("memfd_create {:?}", w.k.memfd_create(tid, "prop", flags))
        }
        Op::Ftruncate { p, t, fd, len } => {
            let (_, tid) = w.tid(p, t);
            let fd = w.fd(tid, fd);
            format!("ftruncate {fd} {:?}", w.k.ftruncate(tid, fd, len))
        }
        Op::Fallocate {
            p,
            t,
            fd,
            mode,
            off,
            len,
        } => {
            let (_, tid) = w.tid(p, t);
            let fd = w.fd(tid, fd);
            format!(
                "fallocate {fd} {:?}",
                w.k.fallocate(tid, fd, mode, off, len)
            )
        }
        Op::Close { p, t, fd } => {
            let (_, tid) = w.tid(p, t);
            let fd = w.fd(tid, fd);
            format!("close {fd} {:?}", w.k.close(tid, fd))
        }
        Op::MmapFd {
            p,
            t,
            fd,
            page,
            pages,
            prot,
            shared,
            fixed,
            populate,
            off,
        } => {
            let (_, tid) = w.tid(p, t);
            let fd = w.fd(tid, fd);
            let addr = if fixed == Place::No { 0 } else { w.addr(page) };
            let flags = mmap_flags(shared, fixed, populate) & !MAP_ANONYMOUS;
            let r =
                w.k.mmap(tid, addr, pages * PAGE, prot, flags, fd, off * PAGE);
            format!("mmap fd {fd} {r:x?}")
        }
        Op::Uffd {
            p,
            t,
            at,
            len,
            mode,
        } => {
            let (_, tid) = w.tid(p, t);
            let fd = match w.k.userfaultfd(tid, 0) {
                Ok(fd) => fd as i64,
                Err(e) => return format!("userfaultfd {e:?}"),
            };
            let api = w.k.uffdio_api(tid, fd, mmlab::mm::userfaultfd::UFFD_API, 0);
            let r = if mode == 0 {
                w.k.uffdio_unregister(tid, fd, w.at(at), len).map(|_| 0)
            } else {
                w.k.uffdio_register(tid, fd, w.at(at), len, mode)
            };
            format!("uffd {fd} api {api:?} mode {mode}: {r:?}")
        }
        Op::SetPool { n } => format!("nr_hugepages {}", w.k.set_nr_hugepages(n)),
        Op::ThpEnabled { mode } => {
            let v = ["always", "madvise", "never"][mode % 3];
            format!("thp enabled {v}: {:?}", w.k.thp_sysfs_write("enabled", v))
        }
        Op::Khugepaged { p, t, at, force } => {
            let (_, tid) = w.tid(p, t);
            let a = w.at(at);
            let scan = w.k.khugepaged_scan(tid, a);
            if force || scan == Ok(mmlab::mm::khugepaged::ScanResult::Succeed) {
                let c = w.k.khugepaged_collapse(tid, a);
                format!("khugepaged {scan:?} then {c:?}")
            } else {
                format!("khugepaged {scan:?}")
            }
        }
        Op::HMmap {
            p,
            t,
            fd,
            flag,
            at,
            len,
            prot,
            shared,
            noreserve,
            fixed,
            populate,
            off,
        } => {
            let (_, tid) = w.tid(p, t);
            let addr = if fixed == Place::No { 0 } else { w.haddr(at) };
            let mut flags = mmap_flags(shared, fixed, populate);
            let fd = match fd {
                None => {
                    flags |= MAP_HUGETLB;
                    -1
                }
                Some(i) => {
                    flags &= !MAP_ANONYMOUS;
                    if flag {
                        flags |= MAP_HUGETLB;
                    }
                    w.fd(tid, i)
                }
            };
            if noreserve {
                flags |= MAP_NORESERVE;
            }
            let r = w.k.mmap(tid, addr, len, prot, flags, fd, off);
            if let (Ok(a), false) = (r, matches!(fixed, Place::Fixed | Place::NoReplace)) {
                w.note_hmap(a);
            }
            format!("hugetlb mmap fd {fd} {r:x?}")
        }
    }
}

fn run_invariants(profile: Profile, arena_prot: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut w = World::with_huge_arena(profile, arena_prot, POOL);
    for (i, op) in ops.iter().enumerate() {
        let r = apply(&mut w, op);
        if let Err(v) = w.k.check_invariants() {
            return Err(TestCaseError::fail(format!(
                "{profile:?}: after op {i} {op:?} -> {r}: {v}"
            )));
        }
    }
    w.exit_all().map_err(TestCaseError::fail)?;
    check_pool_idle(&w.k).map_err(|m| TestCaseError::fail(format!("{profile:?}: {m}")))
}

/// After every process exited: the pool's pages (and the huge zero page) are all that stay
/// allocated (pool pages are never freed to the buddy allocator while nr_hugepages holds
/// them), all free, none reserved but those a partial mremap leaked.
fn check_pool_idle(k: &Kernel) -> Result<(), String> {
    let total = k.meminfo("HugePages_Total").expect("HugePages_Total");
    let free = k.meminfo("HugePages_Free").expect("HugePages_Free");
    let rsvd = k.meminfo("HugePages_Rsvd").expect("HugePages_Rsvd");
    // The huge zero page, once allocated, outlives its users.
    let zero = if k.huge_zero_page_allocated() { 512 } else { 0 };
    expect(
        "frames in use after every process exited",
        k.frames_in_use(),
        total * 512 + zero,
    )?;
    expect("HugePages_Free after every process exited", free, total)?;
    // Surplus pages stay only to back reservations a partial mremap leaked, when the pool was
    // shrunk below them (set_max_huge_pages() keeps resv_huge_pages): the pool is then those.
    let surp = k.meminfo("HugePages_Surp").expect("HugePages_Surp");
    if surp > 0 {
        expect(
            "HugePages_Total with surplus pages after every process exited",
            total,
            k.hugetlb_resv_leaked(),
        )?;
    }
    // Reservations a partial mremap dropped stay counted, as in Linux.
    expect(
        "HugePages_Rsvd after every process exited",
        rsvd,
        k.hugetlb_resv_leaked(),
    )
}

// ---------------------------------------------------------------------------------------------
// Property 2: the shadow model of private anonymous memory.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PState {
    prot: u64,
    bytes: [u8; 4],
}

impl PState {
    fn readable(&self) -> bool {
        self.prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0
    }
    fn writable(&self) -> bool {
        self.prot & PROT_WRITE != 0
    }
}

type Shadow = BTreeMap<u64, PState>;

fn range_pages(start: u64, len: u64) -> impl Iterator<Item = u64> {
    let end = start + len.div_ceil(PAGE) * PAGE;
    (start..end).step_by(PAGE as usize)
}

/// The kernel's view (maps) as page -> prot.
fn kernel_layout(k: &Kernel, tid: Tid) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for e in k.maps(tid).expect("maps") {
        let prot = (if e.read { PROT_READ } else { 0 })
            | (if e.write { PROT_WRITE } else { 0 })
            | (if e.exec { PROT_EXEC } else { 0 });
        assert!(!e.shared, "property 2 maps no shared memory");
        for a in (e.start..e.end).step_by(PAGE as usize) {
            m.insert(a, prot);
        }
    }
    m
}

fn check_layout(w: &World, sh: &[Shadow]) -> Result<(), String> {
    for (i, th) in w.procs.iter().enumerate() {
        let km = kernel_layout(&w.k, th[0]);
        let sm: BTreeMap<u64, u64> = sh[i].iter().map(|(&a, s)| (a, s.prot)).collect();
        if km != sm {
            let diff: Vec<String> = km
                .keys()
                .chain(sm.keys())
                .filter(|a| km.get(a) != sm.get(a))
                .take(8)
                .map(|a| format!("{a:#x}: kernel {:?} shadow {:?}", km.get(a), sm.get(a)))
                .collect();
            return Err(format!("process {i}: layout differs: {diff:?}"));
        }
    }
    Ok(())
}

/// Apply one op to kernel and shadow, checking every result the shadow predicts.
fn apply_shadow(w: &mut World, sh: &mut Vec<Shadow>, op: &Op) -> Result<(), String> {
    match *op {
        Op::Mmap {
            p,
            t,
            page,
            pages,
            prot,
            fixed,
            populate,
            ..
        } => {
            let (pi, tid) = w.tid(p, t);
            let addr = if fixed == Place::No { 0 } else { w.addr(page) };
            let len = pages * PAGE;
            let r = w.k.mmap(
                tid,
                addr,
                len,
                prot,
                mmap_flags(false, fixed, populate),
                -1,
                0,
            );
            let s = &mut sh[pi];
            let occupied = range_pages(addr, len).any(|a| s.contains_key(&a));
            match fixed {
                Place::Fixed => expect("mmap FIXED", r, Ok(addr))?,
                Place::NoReplace if occupied => expect("mmap NOREPLACE", r, Err(Errno::EEXIST))?,
                Place::NoReplace => expect("mmap NOREPLACE", r, Ok(addr))?,
                Place::No | Place::Hint => {
                    let a = r.map_err(|e| format!("mmap failed: {e:?}"))?;
                    if range_pages(a, len).any(|x| s.contains_key(&x)) {
                        return Err(format!("mmap without FIXED at {a:#x} clobbered a mapping"));
                    }
                    if fixed == Place::Hint && !occupied {
                        expect("mmap free hint", a, addr)?;
                    }
                }
            }
            if let Ok(a) = r {
                for x in range_pages(a, len) {
                    s.insert(
                        x,
                        PState {
                            prot,
                            bytes: [0; 4],
                        },
                    );
                }
            }
        }
        Op::Munmap { p, t, at, len } => {
            let (pi, tid) = w.tid(p, t);
            let a = w.page(at)?;
            expect("munmap", w.k.munmap(tid, a, len), Ok(()))?;
            for x in range_pages(a, len) {
                sh[pi].remove(&x);
            }
        }
        Op::Mprotect {
            p,
            t,
            at,
            len,
            prot,
        } => {
            let (pi, tid) = w.tid(p, t);
            let a = w.page(at)?;
            let r = w.k.mprotect(tid, a, len, prot);
            let s = &mut sh[pi];
            let mut all = true;
            for x in range_pages(a, len) {
                match s.get_mut(&x) {
                    Some(st) => st.prot = prot,
                    None => {
                        all = false;
                        break;
                    }
                }
            }
            expect("mprotect", r, if all { Ok(()) } else { Err(Errno::ENOMEM) })?;
        }
        Op::Madvise {
            p,
            t,
            at,
            len,
            advice,
        } => {
            let (pi, tid) = w.tid(p, t);
            let a = w.page(at)?;
            let r = w.k.madvise(tid, a, len, advice);
            let s = &mut sh[pi];
            let mut all = true;
            for x in range_pages(a, len) {
                match s.get_mut(&x) {
                    // Without reclaim, MADV_FREE pages keep their contents in this model.
                    Some(st) if advice == MADV_DONTNEED => st.bytes = [0; 4],
                    Some(_) => {}
                    None => all = false,
                }
            }
            expect("madvise", r, if all { Ok(()) } else { Err(Errno::ENOMEM) })?;
        }
        Op::Mremap {
            p,
            t,
            at,
            old,
            new,
            mode,
            dst,
        } => {
            let (pi, tid) = w.tid(p, t);
            let a = w.page(at)?;
            let r =
                w.k.mremap(tid, a, old, new, mremap_flags(mode), w.page(dst)?);
            let s = &mut sh[pi];
            match r {
                Ok(to) => {
                    if !s.contains_key(&a) {
                        return Err(format!("mremap of unmapped {a:#x} succeeded"));
                    }
                    let snap: Vec<Option<PState>> =
                        range_pages(a, old).map(|x| s.get(&x).copied()).collect();
                    let prot = snap[0].expect("mapped").prot;
                    let dontunmap = mode >= 3;
                    for x in range_pages(a, old) {
                        if dontunmap {
                            if let Some(st) = s.get_mut(&x) {
                                st.bytes = [0; 4];
                            }
                        } else {
                            s.remove(&x);
                        }
                    }
                    if to != a && mode != 2 && mode != 4 {
                        // A kernel-chosen destination must have been free.
                        if range_pages(to, new).any(|x| s.contains_key(&x)) {
                            return Err(format!("mremap moved onto a mapping at {to:#x}"));
                        }
                    }
                    let keep = (old.min(new) / PAGE) as usize;
                    for (i, x) in range_pages(to, new).enumerate() {
                        let st = if i < keep {
                            snap[i]
                        } else {
                            Some(PState {
                                prot,
                                bytes: [0; 4],
                            })
                        };
                        match st {
                            Some(st) => s.insert(x, st),
                            None => s.remove(&x),
                        };
                    }
                }
                Err(_) => {
                    // Failed calls may have unmapped the destination (FIXED) or the shrunk tail
                    // before failing; take what the kernel unmapped, then the layout check
                    // verifies nothing else changed.
                    let km = kernel_layout(&w.k, tid);
                    s.retain(|x, _| km.contains_key(x));
                }
            }
        }
        Op::Fork { p, t } => {
            if w.procs.len() >= MAX_PROCS {
                return Ok(());
            }
            let (pi, tid) = w.tid(p, t);
            let c = w.k.fork(tid).map_err(|e| format!("fork: {e:?}"))?;
            w.procs.push(vec![c]);
            let copy = sh[pi].clone();
            sh.push(copy);
        }
        Op::Exit { p } => {
            if w.procs.len() < 2 {
                return Ok(());
            }
            let i = 1 + p % (w.procs.len() - 1);
            let th = w.procs.remove(i);
            sh.remove(i);
            expect("exit", w.k.exit(th[0]), Ok(()))?;
        }
        Op::Thread { .. } | Op::SetCpu { .. } => {
            apply(w, op);
        }
        Op::MemfdCreate { .. }
        | Op::Ftruncate { .. }
        | Op::Fallocate { .. }
        | Op::Close { .. }
        | Op::MmapFd { .. } => return Err("property 2 draws no memfd operations".into()),
        Op::SetPool { .. }
        | Op::HMmap { .. }
        | Op::ThpEnabled { .. }
        | Op::Khugepaged { .. }
        | Op::Uffd { .. } => return Err("property 2 draws no hugetlb operations".into()),
        Op::Store { p, t, at, off, val } => {
            let (pi, tid) = w.tid(p, t);
            let a = w.page(at)?;
            let r = w.k.store(tid, a + OFFS[off], val);
            match sh[pi].get_mut(&a) {
                Some(st) if st.writable() => {
                    expect(&format!("store {a:#x}"), r, Ok(()))?;
                    st.bytes[off] = val;
                }
                _ => expect(&format!("store {a:#x}"), r, Err(Signal::Segv))?,
            }
        }
        Op::Load { p, t, at, off } => {
            let (pi, tid) = w.tid(p, t);
            let a = w.page(at)?;
            let r = w.k.load(tid, a + OFFS[off]);
            let want = match sh[pi].get(&a) {
                Some(st) if st.readable() => Ok(st.bytes[off]),
                _ => Err(Signal::Segv),
            };
            expect(&format!("process {pi} load {:#x}", a + OFFS[off]), r, want)?;
        }
        Op::Memset {
            p,
            t,
            at,
            pages,
            val,
        } => {
            let (pi, tid) = w.tid(p, t);
            let a = w.page(at)?;
            let r = w.k.memset(tid, a, val, pages * PAGE);
            let mut want = Ok(());
            for x in range_pages(a, pages * PAGE) {
                match sh[pi].get_mut(&x) {
                    Some(st) if st.writable() => st.bytes = [val; 4],
                    _ => {
                        want = Err(Signal::Segv);
                        break;
                    }
                }
            }
            expect(&format!("memset {a:#x}"), r, want)?;
        }
    }
    Ok(())
}

/// Every sampled byte of every readable shadow page, read back through the first thread.
fn check_contents(w: &mut World, sh: &[Shadow]) -> Result<(), String> {
    for (i, s) in sh.iter().enumerate() {
        check_one(w, i, s)?;
    }
    Ok(())
}

fn check_one(w: &mut World, i: usize, s: &Shadow) -> Result<(), String> {
    let tid = w.procs[i][0];
    for (&a, st) in s {
        if !st.readable() {
            continue;
        }
        for (j, off) in OFFS.iter().enumerate() {
            expect(
                &format!("process {i} load {:#x}", a + off),
                w.k.load(tid, a + off),
                Ok(st.bytes[j]),
            )?;
        }
    }
    Ok(())
}

fn run_shadow(profile: Profile, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut w = World::new(profile);
    let arena_prot = PROT_NONE;
    let mut sh: Vec<Shadow> = vec![range_pages(w.base, ARENA_PAGES * PAGE)
        .map(|a| {
            (
                a,
                PState {
                    prot: arena_prot,
                    bytes: [0; 4],
                },
            )
        })
        .collect()];
    for (i, op) in ops.iter().enumerate() {
        let fail = |m: String| TestCaseError::fail(format!("{profile:?}: op {i} {op:?}: {m}"));
        apply_shadow(&mut w, &mut sh, op).map_err(fail)?;
        if matches!(op, Op::Fork { .. }) && sh.len() == w.procs.len() {
            // Read every sampled byte the new child should have inherited.
            let c = w.procs.len() - 1;
            check_one(&mut w, c, &sh[c]).map_err(fail)?;
        }
        check_layout(&w, &sh).map_err(fail)?;
        w.k.check_invariants().map_err(|v| fail(v.to_string()))?;
    }
    check_contents(&mut w, &sh).map_err(|m| TestCaseError::fail(format!("{profile:?}: {m}")))?;
    w.k.check_invariants()
        .map_err(|v| TestCaseError::fail(format!("{profile:?}: {v}")))?;
    let tids: Vec<Tid> = w.procs.drain(..).rev().map(|th| th[0]).collect();
    exit_all_leaves_nothing(&mut w.k, tids).map_err(TestCaseError::fail)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Property 3: the profiles agree on everything user-visible when nothing forks.

fn observe(w: &World) -> Vec<String> {
    let mut out = Vec::new();
    for th in &w.procs {
        let tid = th[0];
        out.push(format!("{:?}", w.k.maps(tid).expect("maps")));
        let mut bits = String::new();
        for page in PAGE_LO..PAGE_HI {
            let pm = w.k.pagemap(tid, w.addr(page)).expect("pagemap");
            let b = pm & (PM_PRESENT | PM_MMAP_EXCLUSIVE | PM_FILE | PM_SWAP);
            bits.push_str(&format!("{:x}", b >> 56));
            bits.push(',');
        }
        out.push(bits);
    }
    out
}

fn run_profiles(arena_prot: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut a = World::with_arena(Profile::Linux518, arena_prot);
    let mut b = World::with_arena(Profile::Linux519, arena_prot);
    prop_assert_eq!(a.base, b.base);
    for (i, op) in ops.iter().enumerate() {
        let ra = apply(&mut a, op);
        let rb = apply(&mut b, op);
        prop_assert_eq!(&ra, &rb, "op {} {:?}: results differ", i, op);
        prop_assert_eq!(observe(&a), observe(&b), "op {} {:?}: state differs", i, op);
        a.k.check_invariants()
            .map_err(|v| TestCaseError::fail(format!("5.18 op {i}: {v}")))?;
        b.k.check_invariants()
            .map_err(|v| TestCaseError::fail(format!("5.19 op {i}: {v}")))?;
    }
    // A final sweep of every sampled byte in the arena.
    for page in PAGE_LO..PAGE_HI {
        for off in OFFS {
            let (ta, tb) = (a.procs[0][0], b.procs[0][0]);
            let va = a.k.load(ta, a.addr(page) + off);
            let vb = b.k.load(tb, b.addr(page) + off);
            prop_assert_eq!(va, vb, "final load at page {} +{}", page, off);
        }
    }
    a.exit_all().map_err(TestCaseError::fail)?;
    b.exit_all().map_err(TestCaseError::fail)?;
    prop_assert_eq!(a.k.frames_in_use(), 0);
    prop_assert_eq!(b.k.frames_in_use(), 0);
    Ok(())
}

const G_ALL: Gen = Gen {
    shared: true,
    fork: true,
    all_advice: true,
    zero_old: true,
    memfd: true,
    hugetlb: true,
    uffd: true,
};
const G_PRIVATE: Gen = Gen {
    shared: false,
    fork: true,
    all_advice: false,
    zero_old: false,
    memfd: false,
    hugetlb: false,
    uffd: false,
};
const G_NOFORK: Gen = Gen {
    shared: true,
    fork: false,
    all_advice: true,
    zero_old: true,
    memfd: true,
    hugetlb: false,
    uffd: false,
};

// ---------------------------------------------------------------------------------------------
// Property 4: page-cache data is never lost while the file holds it.

/// Pages of the memfd in property 4 (its size never exceeds this).
const NF: u64 = 6;

/// Which mapping of the memfd an access goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// The main shared mapping of the whole file (pgoff 0, NF pages, always there).
    Main,
    /// The optional second shared mapping.
    Second,
    /// The optional private mapping.
    Private,
}

#[derive(Clone, Debug)]
enum FOp {
    Store {
        via: Via,
        page: u64,
        off: u64,
        val: u8,
    },
    Memset {
        via: Via,
        page: u64,
        off: u64,
        len: u64,
        val: u8,
    },
    Load {
        via: Via,
        page: u64,
        off: u64,
    },
    Dontneed {
        via: Via,
        page: u64,
        pages: u64,
    },
    Pageout {
        via: Via,
        page: u64,
        pages: u64,
    },
    /// (Re)create the second shared mapping (MAP_POPULATE sometimes).
    MapSecond {
        pgoff: u64,
        pages: u64,
        populate: bool,
    },
    UnmapSecond,
    /// (Re)create the private mapping.
    MapPrivate {
        pgoff: u64,
        pages: u64,
        populate: bool,
    },
    UnmapPrivate,
    Punch {
        off: u64,
        len: u64,
    },
    /// ftruncate to `len` (None: to the current size).
    Truncate {
        len: Option<u64>,
    },
    /// ftruncate to `len`, then back to the full NF pages.
    ShrinkGrow {
        len: u64,
    },
    /// fallocate (allocate, or KEEP_SIZE) inside the first NF pages.
    Falloc {
        off: u64,
        len: u64,
        keep: bool,
    },
}

fn via_s() -> impl Strategy<Value = Via> {
    prop_oneof![3 => Just(Via::Main), 1 => Just(Via::Second), 2 => Just(Via::Private)]
}

/// A byte offset inside a page, biased to the edges.
fn in_page_s() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(0u64),
        1 => Just(PAGE - 1),
        1 => Just(PAGE / 2),
        3 => 0..PAGE,
    ]
}

/// A byte position in the file (0..=NF pages), often page aligned.
fn fpos_s() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => (0..=NF).prop_map(|n| n * PAGE),
        2 => 0..=NF * PAGE,
        1 => (1..=NF, 1u64..64).prop_map(|(n, d)| n * PAGE - d),
    ]
}

fn fop_s() -> impl Strategy<Value = FOp> {
    prop_oneof![
        8 => (via_s(), 0..NF, in_page_s(), any::<u8>())
            .prop_map(|(via, page, off, val)| FOp::Store { via, page, off, val }),
        4 => (via_s(), 0..NF, in_page_s(), 1..=2 * PAGE, 1u8..=255)
            .prop_map(|(via, page, off, len, val)| FOp::Memset { via, page, off, len, val }),
        8 => (via_s(), 0..NF, in_page_s())
            .prop_map(|(via, page, off)| FOp::Load { via, page, off }),
        2 => (via_s(), 0..NF, 1..=NF)
            .prop_map(|(via, page, pages)| FOp::Dontneed { via, page, pages }),
        2 => (via_s(), 0..NF, 1..=NF)
            .prop_map(|(via, page, pages)| FOp::Pageout { via, page, pages }),
        2 => (0..NF, 1..=NF, prop::bool::weighted(0.3))
            .prop_map(|(pgoff, pages, populate)| FOp::MapSecond { pgoff, pages, populate }),
        1 => Just(FOp::UnmapSecond),
        2 => (0..NF, 1..=NF, prop::bool::weighted(0.3))
            .prop_map(|(pgoff, pages, populate)| FOp::MapPrivate { pgoff, pages, populate }),
        1 => Just(FOp::UnmapPrivate),
        3 => (fpos_s(), 1..=3 * PAGE).prop_map(|(off, len)| FOp::Punch { off, len }),
        2 => prop_oneof![2 => fpos_s().prop_map(Some), 1 => Just(None)]
            .prop_map(|len| FOp::Truncate { len }),
        2 => fpos_s().prop_map(|len| FOp::ShrinkGrow { len }),
        1 => (fpos_s(), 1..=2 * PAGE, any::<bool>()).prop_map(|(off, len, keep)| FOp::Falloc {
            off: off.min(NF * PAGE - 1),
            len,
            keep,
        }),
    ]
}

/// One mapping of the memfd: address, first file page, pages.
#[derive(Clone, Copy, Debug)]
struct FMap {
    addr: u64,
    pgoff: u64,
    pages: u64,
}

/// The kernel, one process with one memfd, and the shadow of the file and its mappings.
struct FileWorld {
    k: Kernel,
    t: Tid,
    fd: i64,
    main: FMap,
    second: Option<FMap>,
    private: Option<FMap>,
    /// The file's bytes (2*NF pages so mappings past NF pages index it; past `size` only the
    /// rest of the last partial page can be non-zero).
    data: Vec<u8>,
    size: u64,
    /// The private mapping's COW copies, by file page.
    cow: BTreeMap<u64, Vec<u8>>,
}

impl FileWorld {
    fn new(profile: Profile) -> Result<FileWorld, String> {
        let mut k = Kernel::new(Config::new(profile));
        let t = k.spawn_process(0).expect("spawn");
        let fd = k
            .memfd_create(t, "shadow", 0)
            .map_err(|e| format!("{e:?}"))? as i64;
        k.ftruncate(t, fd, (NF * PAGE) as i64)
            .map_err(|e| format!("ftruncate: {e:?}"))?;
        let addr = k
            .mmap(t, 0, NF * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            .map_err(|e| format!("mmap: {e:?}"))?;
        Ok(FileWorld {
            k,
            t,
            fd,
            main: FMap {
                addr,
                pgoff: 0,
                pages: NF,
            },
            second: None,
            private: None,
            data: vec![0; (2 * NF * PAGE) as usize],
            size: NF * PAGE,
            cow: BTreeMap::new(),
        })
    }

    fn map(&self, via: Via) -> Option<FMap> {
        match via {
            Via::Main => Some(self.main),
            Via::Second => self.second,
            Via::Private => self.private,
        }
    }

    /// Pages of the file that may be faulted (the last, partial one included).
    fn file_pages(&self) -> u64 {
        self.size.div_ceil(PAGE)
    }

    /// The expected result of loading file byte `pos` through `via`.
    fn expect_load(&self, via: Via, pos: u64) -> Result<u8, Signal> {
        let idx = pos / PAGE;
        if idx >= self.file_pages() {
            return Err(Signal::Bus);
        }
        if via == Via::Private {
            if let Some(c) = self.cow.get(&idx) {
                return Ok(c[(pos % PAGE) as usize]);
            }
        }
        Ok(self.data[pos as usize])
    }

    /// Store into the shadow; Err(Bus) past EOF.
    fn shadow_store(&mut self, via: Via, pos: u64, val: u8) -> Result<(), Signal> {
        let idx = pos / PAGE;
        if idx >= self.file_pages() {
            return Err(Signal::Bus);
        }
        if via == Via::Private {
            let lo = (idx * PAGE) as usize;
            let data = &self.data;
            let c = self
                .cow
                .entry(idx)
                .or_insert_with(|| data[lo..lo + PAGE as usize].to_vec());
            c[(pos % PAGE) as usize] = val;
        } else {
            self.data[pos as usize] = val;
        }
        Ok(())
    }

    fn check_load(&mut self, via: Via, m: FMap, page: u64, off: u64) -> Result<(), String> {
        let pos = (m.pgoff + page) * PAGE + off;
        let got = self.k.load(self.t, m.addr + page * PAGE + off);
        expect(
            &format!("{via:?} load of file byte {pos:#x} (size {:#x})", self.size),
            got,
            self.expect_load(via, pos),
        )
    }

    /// ftruncate as shmem_setattr() does it: shrinking (or keeping the size) zeroes everything
    /// from the new size on and drops private COW copies of the pages wholly past it.
    fn truncate(&mut self, len: u64) -> Result<(), String> {
        expect(
            &format!("ftruncate({len:#x})"),
            self.k.ftruncate(self.t, self.fd, len as i64),
            Ok(()),
        )?;
        if len <= self.size {
            self.data[len as usize..].fill(0);
            let keep = len.div_ceil(PAGE);
            self.cow.retain(|&i, _| i < keep);
        }
        self.size = len;
        Ok(())
    }

    fn unmap(&mut self, m: Option<FMap>) -> Result<(), String> {
        if let Some(m) = m {
            expect(
                "munmap",
                self.k.munmap(self.t, m.addr, m.pages * PAGE),
                Ok(()),
            )?;
        }
        Ok(())
    }

    fn mmap(
        &mut self,
        shared: bool,
        pgoff: u64,
        pages: u64,
        populate: bool,
    ) -> Result<FMap, String> {
        let flags = (if shared { MAP_SHARED } else { MAP_PRIVATE })
            | if populate { MAP_POPULATE } else { 0 };
        let addr = self
            .k
            .mmap(
                self.t,
                0,
                pages * PAGE,
                PROT_READ | PROT_WRITE,
                flags,
                self.fd,
                pgoff * PAGE,
            )
            .map_err(|e| format!("mmap: {e:?}"))?;
        Ok(FMap { addr, pgoff, pages })
    }

    fn apply(&mut self, op: &FOp) -> Result<(), String> {
        match *op {
            FOp::Store {
                via,
                page,
                off,
                val,
            } => {
                let Some(m) = self.map(via) else {
                    return Ok(());
                };
                let page = page % m.pages;
                let pos = (m.pgoff + page) * PAGE + off;
                let got = self.k.store(self.t, m.addr + page * PAGE + off, val);
                let want = self.shadow_store(via, pos, val);
                expect(&format!("{via:?} store to file byte {pos:#x}"), got, want)?;
                self.check_load(via, m, page, off)?;
            }
            FOp::Memset {
                via,
                page,
                off,
                len,
                val,
            } => {
                let Some(m) = self.map(via) else {
                    return Ok(());
                };
                let page = page % m.pages;
                let start = page * PAGE + off;
                let len = len.min(m.pages * PAGE - start);
                let got = self.k.memset(self.t, m.addr + start, val, len);
                // memset() fills page by page and stops at the first page that faults.
                let mut want = Ok(());
                let pos = m.pgoff * PAGE + start;
                let mut p = pos;
                while p < pos + len {
                    let n = (PAGE - p % PAGE).min(pos + len - p);
                    if let Err(e) = self.shadow_store(via, p, val) {
                        want = Err(e);
                        break;
                    }
                    for q in p + 1..p + n {
                        self.shadow_store(via, q, val).expect("same page");
                    }
                    p += n;
                }
                expect(
                    &format!("{via:?} memset file bytes {pos:#x}+{len:#x}"),
                    got,
                    want,
                )?;
            }
            FOp::Load { via, page, off } => {
                let Some(m) = self.map(via) else {
                    return Ok(());
                };
                let page = page % m.pages;
                for o in [off.saturating_sub(1), off, (off + 1).min(PAGE - 1)] {
                    self.check_load(via, m, page, o)?;
                }
            }
            FOp::Dontneed { via, page, pages } | FOp::Pageout { via, page, pages } => {
                let Some(m) = self.map(via) else {
                    return Ok(());
                };
                let page = page % m.pages;
                let pages = pages.min(m.pages - page);
                let advice = if matches!(op, FOp::Dontneed { .. }) {
                    MADV_DONTNEED
                } else {
                    MADV_PAGEOUT
                };
                let r = self
                    .k
                    .madvise(self.t, m.addr + page * PAGE, pages * PAGE, advice);
                expect(&format!("madvise({advice})"), r, Ok(()))?;
                if via == Via::Private && advice == MADV_DONTNEED {
                    // The COW copies are gone: the file shows through again.
                    for i in m.pgoff + page..m.pgoff + page + pages {
                        self.cow.remove(&i);
                    }
                }
            }
            FOp::MapSecond {
                pgoff,
                pages,
                populate,
            } => {
                {
                    let m = self.second.take();
                    self.unmap(m)?
                };
                self.second = Some(self.mmap(true, pgoff, pages, populate)?);
            }
            FOp::UnmapSecond => {
                let m = self.second.take();
                self.unmap(m)?
            }
            FOp::MapPrivate {
                pgoff,
                pages,
                populate,
            } => {
                {
                    let m = self.private.take();
                    self.unmap(m)?
                };
                self.cow.clear();
                self.private = Some(self.mmap(false, pgoff, pages, populate)?);
                // MAP_POPULATE of a private writable mapping breaks COW on every page in the
                // file (faultin with FOLL_WRITE): the copies hold the file's data, so nothing
                // to record beyond what the shadow already predicts.
                if populate {
                    let m = self.private.expect("private");
                    for i in m.pgoff..(m.pgoff + m.pages).min(self.file_pages()) {
                        let lo = (i * PAGE) as usize;
                        self.cow
                            .insert(i, self.data[lo..lo + PAGE as usize].to_vec());
                    }
                }
            }
            FOp::UnmapPrivate => {
                {
                    let m = self.private.take();
                    self.unmap(m)?
                };
                self.cow.clear();
            }
            FOp::Punch { off, len } => {
                let r = self.k.fallocate(
                    self.t,
                    self.fd,
                    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    off as i64,
                    len as i64,
                );
                expect(&format!("punch {off:#x}+{len:#x}"), r, Ok(()))?;
                let end = (off + len).min(self.data.len() as u64);
                self.data[off as usize..end as usize].fill(0);
            }
            FOp::Truncate { len } => self.truncate(len.unwrap_or(self.size))?,
            FOp::ShrinkGrow { len } => {
                self.truncate(len.min(self.size))?;
                self.truncate(NF * PAGE)?;
            }
            FOp::Falloc { off, len, keep } => {
                let len = len.min(NF * PAGE - off);
                let mode = if keep { FALLOC_FL_KEEP_SIZE } else { 0 };
                let r = self
                    .k
                    .fallocate(self.t, self.fd, mode, off as i64, len as i64);
                expect(&format!("fallocate({mode}) {off:#x}+{len:#x}"), r, Ok(()))?;
                if !keep {
                    self.size = self.size.max(off + len);
                }
            }
        }
        Ok(())
    }

    /// Every byte of every page through every mapping (every 7th byte plus the page edges).
    fn sweep(&mut self) -> Result<(), String> {
        for via in [Via::Main, Via::Second, Via::Private] {
            let Some(m) = self.map(via) else { continue };
            for page in 0..m.pages {
                for off in (0..PAGE).step_by(7).chain([1, PAGE - 2, PAGE - 1]) {
                    self.check_load(via, m, page, off)?;
                }
            }
        }
        Ok(())
    }
}

fn run_file_shadow(profile: Profile, ops: &[FOp]) -> Result<(), TestCaseError> {
    let mut w = FileWorld::new(profile).map_err(TestCaseError::fail)?;
    for (i, op) in ops.iter().enumerate() {
        let fail = |m: String| TestCaseError::fail(format!("{profile:?}: op {i} {op:?}: {m}"));
        w.apply(op).map_err(fail)?;
        w.k.check_invariants().map_err(|v| fail(v.to_string()))?;
    }
    w.sweep()
        .map_err(|m| TestCaseError::fail(format!("{profile:?}: final sweep: {m}")))?;
    w.k.check_invariants()
        .map_err(|v| TestCaseError::fail(format!("{profile:?}: {v}")))?;
    expect("close", w.k.close(w.t, w.fd), Ok(())).map_err(TestCaseError::fail)?;
    // The mappings still hold the file: nothing is lost by closing the descriptor.
    w.sweep()
        .map_err(|m| TestCaseError::fail(format!("{profile:?}: after close: {m}")))?;
    w.k.exit(w.t)
        .map_err(|e| TestCaseError::fail(format!("exit: {e:?}")))?;
    w.k.check_invariants()
        .map_err(|v| TestCaseError::fail(format!("{profile:?}: after exit: {v}")))?;
    prop_assert_eq!(w.k.frames_in_use(), 0, "{:?}: page cache leaked", profile);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Property 5: hugetlb data across forks.

/// Huge pages in each mapping of property 5.
const HN: u64 = 2;
/// Processes at most in property 5.
const HPROCS: usize = 3;
/// The pool of property 5: enough that no fault ever fails (each process's private copies
/// and anonymous pages in its shared mapping once MADV_DONTNEED demoted it, the file's pages
/// and the first process's reservations: at most 2 * HPROCS * HN + HN + HN).
const HPOOL: u64 = (2 * HPROCS as u64 + 2) * HN;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HVia {
    /// The private MAP_HUGETLB mapping (anonymous).
    Private,
    /// The shared mapping of the MFD_HUGETLB memfd.
    Shared,
}

#[derive(Clone, Debug)]
enum HOp {
    Store {
        p: usize,
        via: HVia,
        hp: u64,
        off: usize,
        val: u8,
    },
    Load {
        p: usize,
        via: HVia,
        hp: u64,
        off: usize,
    },
    /// memset of `pages` base pages from sampled offset `off` (within the mapping).
    Memset {
        p: usize,
        via: HVia,
        hp: u64,
        off: usize,
        pages: u64,
        val: u8,
    },
    /// MADV_DONTNEED of one huge page: a private page is gone (zero again), a shared one stays
    /// in the file.
    Dontneed {
        p: usize,
        via: HVia,
        hp: u64,
    },
    /// PUNCH_HOLE|KEEP_SIZE of the memfd: whole huge pages removed, partial ones zeroed.
    Punch {
        off: u64,
        len: u64,
    },
    Fork {
        p: usize,
    },
    /// Exit of a process other than the first.
    Exit {
        p: usize,
    },
}

fn hvia_s() -> impl Strategy<Value = HVia> {
    prop_oneof![Just(HVia::Private), Just(HVia::Shared)]
}

fn hop_s() -> impl Strategy<Value = HOp> {
    let hoffs = 0..HOFFS.len();
    prop_oneof![
        8 => (0usize..4, hvia_s(), 0..HN, hoffs.clone(), any::<u8>())
            .prop_map(|(p, via, hp, off, val)| HOp::Store { p, via, hp, off, val }),
        6 => (0usize..4, hvia_s(), 0..HN, hoffs.clone())
            .prop_map(|(p, via, hp, off)| HOp::Load { p, via, hp, off }),
        2 => (0usize..4, hvia_s(), 0..HN, hoffs, 1u64..=3, any::<u8>())
            .prop_map(|(p, via, hp, off, pages, val)| HOp::Memset { p, via, hp, off, pages, val }),
        2 => (0usize..4, hvia_s(), 0..HN).prop_map(|(p, via, hp)| HOp::Dontneed { p, via, hp }),
        2 => (
            prop_oneof![
                2 => (0..HN).prop_map(|h| h * HPAGE),
                2 => (0..HN, 0..HOFFS.len()).prop_map(|(h, o)| h * HPAGE + HOFFS[o]),
                1 => 0..HN * HPAGE,
            ],
            prop_oneof![2 => Just(HPAGE), 1 => 1..=2 * HPAGE, 1 => 1u64..=2 * PAGE],
        )
            .prop_map(|(off, len)| HOp::Punch { off, len }),
        3 => (0usize..4).prop_map(|p| HOp::Fork { p }),
        1 => (0usize..4).prop_map(|p| HOp::Exit { p }),
    ]
}

/// Sampled bytes of one mapping: [huge page][HOFFS index].
type HBytes = [[u8; HOFFS.len()]; HN as usize];

/// What backs one huge page of a process's shared mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HShared {
    /// Not mapped: the next access faults.
    Unmapped,
    /// The file's page.
    File,
    /// An anonymous page (index into `HugeWorld::anon`): what a fault on a file hole gives
    /// once MADV_DONTNEED cleared VM_MAYSHARE (5.19), shared with forked children.
    Anon(usize),
}

/// One process: its first thread, the shadow of its private mapping and what backs each
/// huge page of its shared mapping.
struct HProc {
    t: Tid,
    private: HBytes,
    shared: [HShared; HN as usize],
    /// MADV_DONTNEED cleared the shared VMA's VM_MAYSHARE.
    demoted: bool,
}

struct HugeWorld {
    k: Kernel,
    procs: Vec<HProc>,
    fd: i64,
    /// Both mappings sit at the same addresses in every process (fork copies them).
    private_at: u64,
    shared_at: u64,
    /// The memfd's sampled bytes (every process sees the same file).
    file: HBytes,
    /// Which huge pages the memfd holds.
    file_present: [bool; HN as usize],
    /// Anonymous pages of demoted shared mappings.
    anon: Vec<[u8; HOFFS.len()]>,
}

impl HugeWorld {
    fn new(profile: Profile) -> Result<HugeWorld, String> {
        let mut k = Kernel::new(Config::new(profile));
        expect("nr_hugepages", k.set_nr_hugepages(HPOOL), HPOOL)?;
        let t = k.spawn_process(0).expect("spawn");
        let rw = PROT_READ | PROT_WRITE;
        let private_at = k
            .mmap(
                t,
                0,
                HN * HPAGE,
                rw,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
                -1,
                0,
            )
            .map_err(|e| format!("private mmap: {e:?}"))?;
        let fd = k
            .memfd_create(t, "huge", MFD_HUGETLB)
            .map_err(|e| format!("memfd_create: {e:?}"))? as i64;
        k.ftruncate(t, fd, (HN * HPAGE) as i64)
            .map_err(|e| format!("ftruncate: {e:?}"))?;
        let shared_at = k
            .mmap(t, 0, HN * HPAGE, rw, MAP_SHARED, fd, 0)
            .map_err(|e| format!("shared mmap: {e:?}"))?;
        Ok(HugeWorld {
            k,
            procs: vec![HProc {
                t,
                private: [[0; HOFFS.len()]; HN as usize],
                shared: [HShared::Unmapped; HN as usize],
                demoted: false,
            }],
            fd,
            private_at,
            shared_at,
            file: [[0; HOFFS.len()]; HN as usize],
            file_present: [false; HN as usize],
            anon: Vec::new(),
        })
    }

    /// The sampled bytes an access to huge page `hp` of `via` in process `p` reaches,
    /// faulting it in as hugetlb_no_page() would: a file page if the file holds one, else a
    /// new page, which joins the file unless the VMA lost VM_MAYSHARE.
    fn page(&mut self, p: usize, via: HVia, hp: u64) -> &mut [u8; HOFFS.len()] {
        let h = hp as usize;
        if via == HVia::Private {
            return &mut self.procs[p].private[h];
        }
        if self.procs[p].shared[h] == HShared::Unmapped {
            self.procs[p].shared[h] = if self.file_present[h] {
                HShared::File
            } else if self.procs[p].demoted {
                self.anon.push([0; HOFFS.len()]);
                HShared::Anon(self.anon.len() - 1)
            } else {
                self.file_present[h] = true;
                HShared::File
            };
        }
        match self.procs[p].shared[h] {
            HShared::Anon(i) => &mut self.anon[i],
            _ => &mut self.file[h],
        }
    }

    fn at(&self, via: HVia) -> u64 {
        match via {
            HVia::Private => self.private_at,
            HVia::Shared => self.shared_at,
        }
    }

    /// Set the sampled bytes of `via` in `[lo, hi)` (offsets in the mapping) to `val`.
    fn fill(&mut self, p: usize, via: HVia, lo: u64, hi: u64, val: u8) {
        for hp in 0..HN {
            let base = hp * HPAGE;
            if hi <= base || lo >= base + HPAGE {
                continue;
            }
            for (i, b) in self.page(p, via, hp).iter_mut().enumerate() {
                if (lo..hi).contains(&(base + HOFFS[i])) {
                    *b = val;
                }
            }
        }
    }

    fn check_load(&mut self, p: usize, via: HVia, hp: u64, off: usize) -> Result<(), String> {
        let a = self.at(via) + hp * HPAGE + HOFFS[off];
        let want = self.page(p, via, hp)[off];
        expect(
            &format!(
                "process {p} {via:?} load of huge page {hp} +{:#x}",
                HOFFS[off]
            ),
            self.k.load(self.procs[p].t, a),
            Ok(want),
        )
    }

    /// Every sampled byte of both mappings in process `p`.
    fn check_proc(&mut self, p: usize) -> Result<(), String> {
        for via in [HVia::Private, HVia::Shared] {
            for hp in 0..HN {
                for off in 0..HOFFS.len() {
                    self.check_load(p, via, hp, off)?;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, op: &HOp) -> Result<(), String> {
        let n = self.procs.len();
        match *op {
            HOp::Store {
                p,
                via,
                hp,
                off,
                val,
            } => {
                let p = p % n;
                let a = self.at(via) + hp * HPAGE + HOFFS[off];
                expect(
                    &format!("process {p} {via:?} store"),
                    self.k.store(self.procs[p].t, a, val),
                    Ok(()),
                )?;
                self.page(p, via, hp)[off] = val;
                self.check_load(p, via, hp, off)?;
            }
            HOp::Load { p, via, hp, off } => self.check_load(p % n, via, hp, off)?,
            HOp::Memset {
                p,
                via,
                hp,
                off,
                pages,
                val,
            } => {
                let p = p % n;
                let lo = hp * HPAGE + HOFFS[off];
                let hi = (lo + pages * PAGE).min(HN * HPAGE);
                expect(
                    &format!("process {p} {via:?} memset {lo:#x}..{hi:#x}"),
                    self.k
                        .memset(self.procs[p].t, self.at(via) + lo, val, hi - lo),
                    Ok(()),
                )?;
                self.fill(p, via, lo, hi, val);
            }
            HOp::Dontneed { p, via, hp } => {
                let p = p % n;
                let a = self.at(via) + hp * HPAGE;
                expect(
                    &format!("process {p} {via:?} MADV_DONTNEED"),
                    self.k.madvise(self.procs[p].t, a, HPAGE, MADV_DONTNEED),
                    Ok(()),
                )?;
                match via {
                    HVia::Private => self.fill(p, via, hp * HPAGE, (hp + 1) * HPAGE, 0),
                    HVia::Shared => {
                        self.procs[p].shared[hp as usize] = HShared::Unmapped;
                        self.procs[p].demoted = true;
                    }
                }
            }
            HOp::Punch { off, len } => {
                let r = self.k.fallocate(
                    self.procs[0].t,
                    self.fd,
                    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    off as i64,
                    len as i64,
                );
                expect(&format!("punch {off:#x}+{len:#x}"), r, Ok(()))?;
                // Whole huge pages leave the file and every mapping of them (anonymous pages
                // of demoted mappings too: hugetlbfs punches with even_cows); the edges of
                // the range are zeroed in the file's pages.
                for hp in 0..HN as usize {
                    let (lo, hi) = (hp as u64 * HPAGE, (hp as u64 + 1) * HPAGE);
                    if off <= lo && hi <= off + len {
                        self.file_present[hp] = false;
                        self.file[hp] = [0; HOFFS.len()];
                        for pr in &mut self.procs {
                            pr.shared[hp] = HShared::Unmapped;
                        }
                    } else if off < hi && lo < off + len {
                        for (i, b) in self.file[hp].iter_mut().enumerate() {
                            if (off..off + len).contains(&(lo + HOFFS[i])) {
                                *b = 0;
                            }
                        }
                    }
                }
            }
            HOp::Fork { p } => {
                if n >= HPROCS {
                    return Ok(());
                }
                let p = p % n;
                let c = self
                    .k
                    .fork(self.procs[p].t)
                    .map_err(|e| format!("fork: {e:?}"))?;
                let parent = &self.procs[p];
                let child = HProc {
                    t: c,
                    private: parent.private,
                    shared: parent.shared,
                    demoted: parent.demoted,
                };
                self.procs.push(child);
                // The child sees everything as of the fork.
                self.check_proc(n)?;
            }
            HOp::Exit { p } => {
                if n < 2 {
                    return Ok(());
                }
                let i = 1 + p % (n - 1);
                let pr = self.procs.remove(i);
                expect("exit", self.k.exit(pr.t), Ok(()))?;
            }
        }
        Ok(())
    }
}

fn run_huge_shadow(profile: Profile, ops: &[HOp]) -> Result<(), TestCaseError> {
    let mut w = HugeWorld::new(profile).map_err(TestCaseError::fail)?;
    for (i, op) in ops.iter().enumerate() {
        let fail = |m: String| TestCaseError::fail(format!("{profile:?}: op {i} {op:?}: {m}"));
        w.apply(op).map_err(fail)?;
        w.k.check_invariants().map_err(|v| fail(v.to_string()))?;
    }
    for p in 0..w.procs.len() {
        w.check_proc(p)
            .map_err(|m| TestCaseError::fail(format!("{profile:?}: final sweep: {m}")))?;
    }
    while let Some(pr) = w.procs.pop() {
        w.k.exit(pr.t)
            .map_err(|e| TestCaseError::fail(format!("exit: {e:?}")))?;
        w.k.check_invariants()
            .map_err(|v| TestCaseError::fail(format!("{profile:?}: after exit: {v}")))?;
    }
    check_pool_idle(&w.k).map_err(|m| TestCaseError::fail(format!("{profile:?}: {m}")))
}

// ---------------------------------------------------------------------------------------------
// The properties. Case counts keep the file to a few seconds in release mode on two cores.

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(1024)
    })]

    #[test]
    fn invariants_hold_and_nothing_leaks(arena_prot in arena_prot_s(), ops in ops_s(G_ALL)) {
        run_invariants(Profile::Linux518, arena_prot, &ops)?;
        run_invariants(Profile::Linux519, arena_prot, &ops)?;
    }

    #[test]
    fn private_memory_matches_shadow(ops in ops_s(G_PRIVATE)) {
        run_shadow(Profile::Linux518, &ops)?;
        run_shadow(Profile::Linux519, &ops)?;
    }

    #[test]
    fn profiles_agree_without_fork(arena_prot in arena_prot_s(), ops in ops_s(G_NOFORK)) {
        run_profiles(arena_prot, &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(1024)
    })]

    #[test]
    fn page_cache_data_is_never_lost_while_the_file_holds_it(
        ops in prop::collection::vec(fop_s(), 1..80)
    ) {
        run_file_shadow(Profile::Linux519, &ops)?;
        run_file_shadow(Profile::Linux518, &ops)?;
    }

    #[test]
    fn hugetlb_data_follows_fork_semantics(ops in prop::collection::vec(hop_s(), 1..60)) {
        run_huge_shadow(Profile::Linux519, &ops)?;
        run_huge_shadow(Profile::Linux518, &ops)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Regression tests: minimal reproducers of the model bugs these properties found (all fixed).

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
        assert_eq!(k.frames_in_use(), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Regression tests for more model bugs the properties found (all fixed).

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
