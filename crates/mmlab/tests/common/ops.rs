//! The syscall sequences `invariants_hold`, `private_memory_shadow` and `profiles_agree` draw:
//! an `Op` language over up to four processes and a 64-page arena (plus, with `Gen::hugetlb`,
//! a 2 MiB aligned huge arena), and its proptest strategies. `Gen` says which operations a
//! suite draws; `world::apply` runs one.

use mmlab::mm::shmem::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE};
use mmlab::uapi::*;
use proptest::prelude::*;

use super::{HOFFS, HPAGE, OFFS, PAGE};

/// Pages of the 4 KiB arena.
pub const ARENA_PAGES: u64 = 64;
/// Page offsets relative to the arena start that ops may target (a little outside on each side).
pub const PAGE_LO: i64 = -2;
pub const PAGE_HI: i64 = ARENA_PAGES as i64 + 2;
/// Processes at most: the first and its forked children.
pub const MAX_PROCS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// addr = 0
    No,
    /// addr = an arena address as a hint
    Hint,
    Fixed,
    NoReplace,
}

#[derive(Clone, Debug)]
pub enum Op {
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

/// An address for the hugetlb operations (`Gen::hugetlb`): `region` 0 is the 2 MiB aligned huge
/// arena, others one of the addresses non-fixed hugetlb mmaps/mremaps returned; plus `hpage`
/// huge pages and `sub` base pages.
#[derive(Clone, Copy, Debug)]
pub struct HAt {
    pub region: usize,
    pub hpage: i64,
    pub sub: u64,
}

/// Where an operation lands: a page of the 4 KiB arena, or an address at huge page scale.
#[derive(Clone, Copy, Debug)]
pub enum At {
    Page(i64),
    Huge(HAt),
}

/// Which operations a suite draws from.
#[derive(Clone, Copy)]
pub struct Gen {
    pub shared: bool,
    pub fork: bool,
    /// Advice beyond DONTNEED/FREE (DONTFORK, DOFORK, WIPEONFORK, KEEPONFORK, REMOVE).
    pub all_advice: bool,
    /// mremap with old_len 0 (duplicating a shared mapping).
    pub zero_old: bool,
    /// memfd_create/ftruncate/fallocate/close and mmap of a memfd (plus MADV_COLD/PAGEOUT).
    pub memfd: bool,
    /// hugetlb: MAP_HUGETLB mmaps, MFD_HUGETLB memfds and 2 MiB scale operations in the huge
    /// arena (the World needs one: `World::with_huge_arena`), pool resizing.
    pub hugetlb: bool,
    /// userfaultfd registrations (the profiles differ there: 5.18 has no uffd-wp on shmem).
    pub uffd: bool,
}

pub fn prot_s() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(PROT_NONE),
        1 => Just(PROT_READ),
        3 => Just(PROT_READ | PROT_WRITE),
        1 => Just(PROT_WRITE),
        1 => Just(PROT_READ | PROT_EXEC),
        1 => Just(PROT_READ | PROT_WRITE | PROT_EXEC),
    ]
}

pub fn page_s() -> impl Strategy<Value = i64> {
    PAGE_LO..PAGE_HI
}

/// Where an mmap goes: mostly MAP_FIXED, else anywhere, at a hint or FIXED_NOREPLACE.
pub fn place_s() -> impl Strategy<Value = Place> {
    prop_oneof![
        2 => Just(Place::No),
        1 => Just(Place::Hint),
        4 => Just(Place::Fixed),
        1 => Just(Place::NoReplace)
    ]
}

/// A length in bytes: 1..16 pages, sometimes not a multiple of the page size.
pub fn len_s() -> impl Strategy<Value = u64> {
    (
        1u64..=16,
        prop_oneof![4 => Just(0u64), 1 => Just(1u64), 1 => Just(PAGE - 1)],
    )
        .prop_map(|(n, sub)| n * PAGE - sub)
}

/// The process and thread an operation runs in.
pub fn pt_s() -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    (0usize..8, 0usize..2)
}

// The operations drawn at both scales: `at` places them (a 4 KiB arena page or a huge page
// address) and `len` sizes them.

pub fn munmap_s(at: BoxedStrategy<At>, len: BoxedStrategy<u64>) -> BoxedStrategy<Op> {
    (pt_s(), at, len)
        .prop_map(|((p, t), at, len)| Op::Munmap { p, t, at, len })
        .boxed()
}

/// mremap from `at` to a `dst` drawn alike; old_len is 0 a tenth of the time with `zero_old`.
pub fn mremap_s(
    at: BoxedStrategy<At>,
    len: BoxedStrategy<u64>,
    zero_old: bool,
) -> BoxedStrategy<Op> {
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

pub fn mprotect_s(at: BoxedStrategy<At>, len: BoxedStrategy<u64>) -> BoxedStrategy<Op> {
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

pub fn madvise_s(
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
pub fn store_s(at: BoxedStrategy<At>, offs: usize) -> BoxedStrategy<Op> {
    (pt_s(), at, 0..offs, any::<u8>())
        .prop_map(|((p, t), at, off, val)| Op::Store { p, t, at, off, val })
        .boxed()
}

pub fn load_s(at: BoxedStrategy<At>, offs: usize) -> BoxedStrategy<Op> {
    (pt_s(), at, 0..offs)
        .prop_map(|((p, t), at, off)| Op::Load { p, t, at, off })
        .boxed()
}

/// A memset of 1..=4 base pages: at huge scale it crosses a huge page boundary when `at` is
/// near the end of one.
pub fn memset_s(at: BoxedStrategy<At>) -> BoxedStrategy<Op> {
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

pub fn op_s(g: Gen) -> BoxedStrategy<Op> {
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
pub fn file_len_s() -> impl Strategy<Value = i64> {
    (
        0i64..=16,
        prop_oneof![4 => Just(0i64), 1 => Just(1i64), 1 => 1i64..PAGE as i64],
    )
        .prop_map(|(n, sub)| (n * PAGE as i64 - sub).max(0))
}

/// A byte offset or length, often page aligned, sometimes not.
pub fn bytes_s(max_pages: i64) -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => (0..=max_pages).prop_map(|n| n * PAGE as i64),
        1 => 0..=max_pages * PAGE as i64,
    ]
}

/// fallocate() of one of the process's descriptors at `off` for `len` bytes (at least one):
/// allocate, KEEP_SIZE, or (as often as both) PUNCH_HOLE|KEEP_SIZE.
fn fallocate_s(off: BoxedStrategy<i64>, len: BoxedStrategy<i64>) -> BoxedStrategy<Op> {
    let mode = prop::sample::select(vec![
        0,
        FALLOC_FL_KEEP_SIZE,
        FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
        FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
    ]);
    (pt_s(), 0usize..2, mode, off, len)
        .prop_map(|((p, t), fd, mode, off, len)| Op::Fallocate {
            p,
            t,
            fd,
            mode,
            off,
            len: len.max(1),
        })
        .boxed()
}

/// The memfd operations (`Gen::memfd`).
pub fn memfd_ops_s(hugetlb: bool, uffd: bool) -> Vec<(u32, BoxedStrategy<Op>)> {
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
    let fallocate = fallocate_s(bytes_s(16).boxed(), bytes_s(8).boxed());
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
        (3, fallocate),
        (1, close.boxed()),
        (6, mmap.boxed()),
    ];
    if uffd {
        arms.push((3, uffd_op.boxed()));
    }
    arms
}

/// Huge pages in the huge arena (`World::with_huge_arena`).
pub const HARENA_HPAGES: u64 = 8;

pub fn hat_s() -> impl Strategy<Value = HAt> {
    (
        prop_oneof![3 => Just(0usize), 1 => 1usize..4],
        -1i64..=HARENA_HPAGES as i64,
        prop_oneof![8 => Just(0u64), 1 => 1u64..512, 1 => Just(511u64)],
    )
        .prop_map(|(region, hpage, sub)| HAt { region, hpage, sub })
}

/// A length in bytes: 1..=4 huge pages, sometimes not a multiple of 2 MiB (or of 4 KiB).
pub fn hlen_s() -> impl Strategy<Value = u64> {
    (
        1u64..=4,
        prop_oneof![6 => Just(0u64), 1 => Just(PAGE), 1 => 1..HPAGE, 1 => Just(1u64)],
    )
        .prop_map(|(n, sub)| n * HPAGE - sub)
}

/// A byte offset or length at huge page scale: often 2 MiB aligned, sometimes near a boundary,
/// sometimes anywhere.
pub fn hbytes_s(max_hpages: i64) -> impl Strategy<Value = i64> {
    let h = HPAGE as i64;
    prop_oneof![
        4 => (0..=max_hpages).prop_map(move |n| n * h),
        1 => (0..=max_hpages, -4i64..=4).prop_map(move |(n, d)| (n * h + d * PAGE as i64).max(0)),
        1 => 0..=max_hpages * h,
    ]
}

/// The hugetlb operations (`Gen::hugetlb`; ftruncate and fallocate at huge page scale reuse the
/// memfd operations; they pick any descriptor, so both scales meet both kinds of file).
pub fn huge_ops_s() -> Vec<(u32, BoxedStrategy<Op>)> {
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
    let fallocate = fallocate_s(hbytes_s(4).boxed(), hbytes_s(3).boxed());
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
        (2, fallocate),
        (3, thp.boxed()),
        (3, khugepaged.boxed()),
    ]
}

/// The arena starts inaccessible or read-write (so that accesses often succeed).
pub fn arena_prot_s() -> impl Strategy<Value = u64> {
    prop_oneof![Just(PROT_NONE), Just(PROT_READ | PROT_WRITE)]
}

pub fn ops_s(g: Gen) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op_s(g), 1..60)
}
