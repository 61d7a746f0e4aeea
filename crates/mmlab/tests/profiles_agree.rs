//! Property: without fork, Linux518 and Linux519 give identical results, errnos, load values,
//! maps and pagemap present/exclusive/file bits (memfd operations too).

use mmlab::fs::proc::{PM_FILE, PM_MMAP_EXCLUSIVE, PM_PRESENT, PM_SWAP};
use mmlab::uapi::{MADV_COLD, MADV_PAGEOUT, PROT_EXEC, PROT_READ, PROT_WRITE};
use mmlab::Profile;
use proptest::prelude::*;

mod common;
use common::ops::{arena_prot_s, ops_s, At, Gen, Op, Place, PAGE_HI, PAGE_LO};
use common::world::{apply, World};
use common::OFFS;

/// No fork, no hugetlb and no userfaultfd (the profiles differ there: 5.18 has no uffd-wp on
/// shmem).
const G_NOFORK: Gen = Gen {
    shared: true,
    fork: false,
    all_advice: true,
    zero_old: true,
    memfd: true,
    hugetlb: false,
    uffd: false,
};

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

/// Does the op's outcome depend on which pages wait in a per-CPU LRU batch? MADV_COLD and
/// MADV_PAGEOUT isolate only folios on an LRU list (folio_isolate_lru()), and drain only the
/// calling CPU's batches first.
fn isolates_from_lru(op: &Op) -> bool {
    matches!(op, Op::Madvise { advice, .. } if *advice == MADV_PAGEOUT || *advice == MADV_COLD)
}

fn run_profiles(arena_prot: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut a = World::with_arena(Profile::Linux518, arena_prot);
    let mut b = World::with_arena(Profile::Linux519, arena_prot);
    prop_assert_eq!(a.base, b.base);
    for (i, op) in ops.iter().enumerate() {
        // Which pages wait in a CPU's LRU batch differs between the profiles, as Linux's do:
        // 5.18's do_wp_page() drains this CPU's batches (lru_add_drain()) before its reuse
        // check of an anonymous page off the LRU; 5.19 reuses a PG_anon_exclusive page at
        // once ("mm: remember exclusively mapped anonymous pages with PG_anon_exclusive").
        // Both drain every CPU before an op that sees the difference; `batch_drain_differs`
        // shows it.
        if isolates_from_lru(op) {
            a.k.lru_add_drain_all();
            b.k.lru_add_drain_all();
        }
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
    a.k.lru_add_drain_all();
    prop_assert_eq!(a.k.frames_in_use(), 0);
    b.k.lru_add_drain_all();
    prop_assert_eq!(b.k.frames_in_use(), 0);
    Ok(())
}

/// The case the property once failed on: thread 1 (CPU 1) write-faults three anonymous pages
/// into its batch, mprotect() write-protects their PTEs, MAP_POPULATE puts eleven shmem pages into
/// CPU 0's batch, and thread 0 writes one of the anonymous pages again. 5.18's do_wp_page()
/// drains CPU 0's batch before reusing it, 5.19's does not (the page is PG_anon_exclusive):
/// so MADV_PAGEOUT from CPU 1 finds the first shmem page on the LRU and unmaps it in 5.18
/// only.
#[test]
fn batch_drain_differs() {
    let ops = [
        Op::Thread { p: 0 },
        Op::Mprotect {
            p: 0,
            t: 0,
            at: At::Page(28),
            len: 15 * 4096,
            prot: PROT_READ | PROT_WRITE | PROT_EXEC,
        },
        Op::Memset {
            p: 0,
            t: 1,
            at: At::Page(40),
            pages: 3,
            val: 0,
        },
        Op::Mprotect {
            p: 0,
            t: 0,
            at: At::Page(37),
            len: 6 * 4096,
            prot: PROT_READ | PROT_WRITE,
        },
        Op::Mmap {
            p: 0,
            t: 0,
            page: 7,
            pages: 11,
            prot: PROT_READ,
            shared: true,
            fixed: Place::Fixed,
            populate: true,
        },
        Op::Store {
            p: 0,
            t: 0,
            at: At::Page(40),
            off: 0,
            val: 0,
        },
        Op::Madvise {
            p: 0,
            t: 1,
            at: At::Page(0),
            len: 8 * 4096,
            advice: MADV_PAGEOUT,
        },
    ];
    let present = |profile| {
        let mut w = World::with_arena(profile, 0);
        for op in &ops {
            apply(&mut w, op);
        }
        w.k.pagemap(w.procs[0][0], w.addr(7)).expect("pagemap") & PM_PRESENT != 0
    };
    assert!(
        !present(Profile::Linux518),
        "5.18: the drained shmem page is paged out"
    );
    assert!(
        present(Profile::Linux519),
        "5.19: the shmem page waits in CPU 0's batch"
    );
    run_profiles(0, &ops).expect("the profiles agree once both drain before MADV_PAGEOUT");
}

// Case counts keep the file to a few seconds in release mode on two cores.
proptest! {
    #![proptest_config(common::proptest_config(1024))]

    #[test]
    fn profiles_agree_without_fork(arena_prot in arena_prot_s(), ops in ops_s(G_NOFORK)) {
        run_profiles(arena_prot, &ops)?;
    }
}
