//! Swap over a network filesystem (SWP_FS_OPS through ->swap_rw() to a host file): random
//! stores, MADV_PAGEOUT ranges, loads and completions in random order, against a shadow of
//! each page's byte. After swap-out the host file holds the page at slot * 4096; after
//! swap-in the page holds what was written; the invariants hold after every step.

mod common;

use common::{kernel_with_process, proptest_config, PAGE};
use mmlab::uapi::*;
use mmlab::{Kernel, Signal, Tid};
use proptest::prelude::*;

const PAGES: u64 = 48;

#[derive(Clone, Debug)]
enum Op {
    /// Fill page `i` with a byte.
    Store(u64, u8),
    /// MADV_PAGEOUT of `len` pages from page `i`.
    Pageout(u64, u64),
    /// Load page `i` and compare with the shadow.
    Load(u64),
    /// Complete the request in flight at this index (modulo how many there are).
    Complete(usize),
}

fn op_s() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..PAGES, 1u8..=255).prop_map(|(i, b)| Op::Store(i, b)),
        (0..PAGES, 1..=PAGES).prop_map(|(i, n)| Op::Pageout(i, n)),
        (0..PAGES).prop_map(Op::Load),
        any::<usize>().prop_map(Op::Complete),
    ]
}

fn nfs_kernel(deferred: bool) -> (Kernel, Tid, u64) {
    let (mut k, t) = kernel_with_process();
    k.create_nfs_swap_file("nfs0", 8 << 20, false, None)
        .expect("host file");
    k.swapon(t, "nfs0", 0).expect("swapon");
    k.swap_fs_io.deferred = deferred;
    let p = k
        .mmap(
            t,
            0,
            PAGES * PAGE,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1,
            0,
        )
        .expect("mmap");
    (k, t, p)
}

/// An access that may sleep for its swap-in: requests complete in the order `pick` gives
/// until the task is woken, then the access is retried. `store` Some: a one-page memset.
fn access(
    k: &mut Kernel,
    t: Tid,
    a: u64,
    store: Option<u8>,
    pick: &mut usize,
) -> Result<u8, String> {
    for _ in 0..64 {
        let r = match store {
            Some(b) => k.memset(t, a, b, PAGE).map(|_| b),
            None => k.load(t, a),
        };
        match r {
            Err(Signal::Userfault) => {
                let n = k.swap_fs_io.inflight();
                if n == 0 {
                    return Err("asleep with nothing in flight".into());
                }
                *pick = pick.wrapping_mul(31).wrapping_add(7);
                k.complete_swap_rw(*pick % n);
            }
            r => return r.map_err(|s| format!("{s:?}")),
        }
    }
    Err("never woken".into())
}

proptest! {
    #![proptest_config(proptest_config(64))]

    #[test]
    fn host_file_and_pages_keep_what_was_written(
        deferred in any::<bool>(),
        ops in prop::collection::vec(op_s(), 1..40),
    ) {
        let (mut k, t, p) = nfs_kernel(deferred);
        let mut shadow = vec![0u8; PAGES as usize];
        let mut pick = 0usize;
        for op in &ops {
            match *op {
                Op::Store(i, b) => {
                    access(&mut k, t, p + i * PAGE, Some(b), &mut pick).map_err(TestCaseError::fail)?;
                    shadow[i as usize] = b;
                }
                Op::Pageout(i, n) => {
                    let n = n.min(PAGES - i);
                    k.madvise(t, p + i * PAGE, n * PAGE, MADV_PAGEOUT).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                Op::Load(i) => {
                    let got = access(&mut k, t, p + i * PAGE + 4095, None, &mut pick).map_err(TestCaseError::fail)?;
                    prop_assert_eq!(got, shadow[i as usize], "page {} after swap-in", i);
                }
                Op::Complete(i) => {
                    let n = k.swap_fs_io.inflight();
                    if n > 0 {
                        k.complete_swap_rw(i % n);
                    }
                }
            }
            k.check_invariants().map_err(|v| TestCaseError::fail(v.to_string()))?;
        }
        while k.swap_fs_io.inflight() > 0 {
            pick = pick.wrapping_mul(31).wrapping_add(7);
            let n = k.swap_fs_io.inflight();
            k.complete_swap_rw(pick % n);
        }
        k.check_invariants().map_err(|v| TestCaseError::fail(v.to_string()))?;
        for i in 0..PAGES {
            let a = p + i * PAGE;
            let pm = k.pagemap(t, a).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if pm & (1 << 62) != 0 {
                // Swapped out, every write completed: the host file has the page.
                for off in [0, 2048, 4095] {
                    let b = k.swap_host_byte(t, a + off).map_err(TestCaseError::fail)?;
                    prop_assert_eq!(b, shadow[i as usize], "host file, page {} offset {}", i, off);
                }
            }
        }
        for i in 0..PAGES {
            let got = access(&mut k, t, p + i * PAGE, None, &mut pick).map_err(TestCaseError::fail)?;
            prop_assert_eq!(got, shadow[i as usize], "page {} at the end", i);
        }
    }
}
