//! Property: without fork, Linux518 and Linux519 give identical results, errnos, load values,
//! maps and pagemap present/exclusive/file bits (memfd operations too).

use mmlab::fs::proc::{PM_FILE, PM_MMAP_EXCLUSIVE, PM_PRESENT, PM_SWAP};
use mmlab::Profile;
use proptest::prelude::*;

mod common;
use common::ops::{arena_prot_s, ops_s, Gen, Op, PAGE_HI, PAGE_LO};
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
    a.k.lru_add_drain_all();
    prop_assert_eq!(a.k.frames_in_use(), 0);
    b.k.lru_add_drain_all();
    prop_assert_eq!(b.k.frames_in_use(), 0);
    Ok(())
}

// Case counts keep the file to a few seconds in release mode on two cores.
proptest! {
    #![proptest_config(common::proptest_config(1024))]

    #[test]
    fn profiles_agree_without_fork(arena_prot in arena_prot_s(), ops in ops_s(G_NOFORK)) {
        run_profiles(arena_prot, &ops)?;
    }
}
