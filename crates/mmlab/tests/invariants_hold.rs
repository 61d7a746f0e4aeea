//! Property: the invariants hold and nothing leaks. Random mmap/munmap/mremap/mprotect/
//! madvise/fork/exit/thread/access sequences over up to four processes, on both profiles, plus
//! memfd operations (memfd_create up to two descriptors per process, ftruncate to 0..=16 pages,
//! fallocate allocate/KEEP_SIZE/PUNCH_HOLE at unaligned offsets, close, shared and private mmap
//! of a descriptor at a page offset, MADV_COLD/PAGEOUT, userfaultfd registrations and
//! unregistrations, released when their descriptor closes); forks copy the descriptor table.
//! THP knob flips, MADV_HUGEPAGE and khugepaged steps meet the huge arena too. After every
//! operation `check_invariants()` is Ok (page-cache refcounts included), nothing panics, and
//! after every process exited no frame is in use (page tables, PGDs, anonymous and shmem pages,
//! the page cache of every memfd closed at exit). It also draws hugetlb operations: a pool of
//! POOL 2 MiB pages is set first (and resized at random); MAP_HUGETLB mmaps (private or
//! shared, MAP_NORESERVE sometimes, MAP_FIXED into a 16 MiB 2 MiB-aligned huge arena or
//! anywhere), MFD_HUGETLB memfds with ftruncate/fallocate/PUNCH_HOLE at 2 MiB scale and mmaps
//! of them, aligned and unaligned munmap/mprotect/madvise/mremap at huge page scale, stores,
//! loads and memsets (SIGBUS on an exhausted pool is fine). After every process exited only
//! the pool's pages are in use (HugePages_Total * 512 frames), all free and none reserved.

use mmlab::Profile;
use proptest::prelude::*;

mod common;
use common::check_pool_idle;
use common::ops::{arena_prot_s, ops_s, Gen, Op};
use common::world::{apply, World};

/// Every operation.
const G_ALL: Gen = Gen {
    shared: true,
    fork: true,
    all_advice: true,
    zero_old: true,
    memfd: true,
    hugetlb: true,
    uffd: true,
};

/// The hugetlb pool the run starts with.
const POOL: u64 = 6;

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

// Case counts keep the file to a few seconds in release mode on two cores.
proptest! {
    #![proptest_config(common::proptest_config(1024))]

    #[test]
    fn invariants_hold_and_nothing_leaks(arena_prot in arena_prot_s(), ops in ops_s(G_ALL)) {
        run_invariants(Profile::Linux518, arena_prot, &ops)?;
        run_invariants(Profile::Linux519, arena_prot, &ops)?;
    }
}
