//! reclaim_throttle() (mm/vmscan.c, 5.19): who sleeps on which of pgdat->reclaim_wait[], for
//! how long, and what wakes them. The pressure comes from swap over NFS with completions held
//! back (`swap_fs_io.deferred`): every page reclaim writes stays under writeback, so direct
//! reclaim frees nothing and kswapd meets its own pages again under writeback.

use mmlab::trace::Event;
use mmlab::uapi::*;
use mmlab::{Config, Kernel, Profile, Signal, Tid};

const MIB: u64 = 1 << 20;
/// One jiffy at HZ=250, in ns.
const JIFFY: u64 = 4_000_000;

/// A 64M machine with 128M of NFS swap whose requests stay in flight, tracing on, and one
/// process with a 100M anonymous mapping.
fn pressure(profile: Profile) -> (Kernel, Tid, u64) {
    let mut k = Kernel::new(Config {
        memory_bytes: 64 * MIB,
        ..Config::new(profile)
    });
    let t = k.spawn_process(0).expect("process");
    k.create_nfs_swap_file("nfs0", 128 * MIB, false, None)
        .expect("host file");
    k.swapon(t, "nfs0", 0).expect("swapon");
    let rw = PROT_READ | PROT_WRITE;
    let p = k
        .mmap(t, 0, 100 * MIB, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        .expect("mmap");
    k.swap_fs_io.deferred = true;
    k.set_tracing(true);
    (k, t, p)
}

fn counter(k: &Kernel, name: &str) -> u64 {
    k.counter(name)
        .unwrap_or_else(|| panic!("no counter {name}"))
}

/// The mm_vmscan_throttled events in the trace since the last call: (reason, usec_timeout,
/// usec_delayed).
fn throttled(k: &mut Kernel) -> Vec<(&'static str, u64, u64)> {
    k.take_trace()
        .into_iter()
        .filter_map(|e| match e {
            Event::VmscanThrottled {
                reason,
                usec_timeout,
                usec_delayed,
                ..
            } => Some((reason, usec_timeout, usec_delayed)),
            _ => None,
        })
        .collect()
}

/// Run memory out: the user fault sleeps on NOPROGRESS (its fault returns VM_FAULT_RETRY),
/// and kswapd, run at the end of the step, sleeps on WRITEBACK.
fn run_out(k: &mut Kernel, t: Tid, p: u64) {
    assert_eq!(k.memset(t, p, 1, 100 * MIB), Err(Signal::Userfault));
    k.finish_step();
}

/// `run_out()` on 5.19, and the address whose fault the task will retry.
fn asleep_in_fault() -> (Kernel, Tid, u64, u64) {
    let (mut k, t, p) = pressure(Profile::Linux519);
    run_out(&mut k, t, p);
    let at = k.fault_retry_addr(t).expect("a fault to retry");
    (k, t, p, at)
}

#[test]
fn a_direct_reclaimer_without_progress_sleeps_one_jiffy() {
    let (mut k, t, p) = pressure(Profile::Linux519);
    run_out(&mut k, t, p);
    assert_eq!(counter(&k, "reclaim_wait_noprogress"), 1);
    assert_eq!(
        k.vmstat.pgsteal_direct, 0,
        "no progress: that is why it sleeps"
    );
    let until = k.reclaim_throttle_until(t).expect("asleep in reclaim");
    assert_eq!(until, JIFFY, "schedule_timeout(1) from jiffy 0");
    assert!(k.fault_retry_addr(t).is_some(), "its fault will be retried");
    k.advance_time(JIFFY - 1);
    assert_eq!(
        k.reclaim_throttle_until(t),
        Some(until),
        "not before the tick"
    );
    assert!(throttled(&mut k)
        .iter()
        .all(|&(r, ..)| r != "VMSCAN_THROTTLE_NOPROGRESS"));
    k.advance_time(1);
    assert_eq!(k.reclaim_throttle_until(t), None, "woken by its timeout");
    assert_eq!(counter(&k, "reclaim_wait_noprogress"), 0);
    assert_eq!(counter(&k, "reclaim_throttle_timeouts"), 1);
    assert_eq!(
        throttled(&mut k),
        vec![("VMSCAN_THROTTLE_NOPROGRESS", 4000, 4000)]
    );
    k.check_invariants().expect("invariants");
}

#[test]
fn the_retried_fault_goes_on_once_writeback_completed() {
    let (mut k, t, p, at) = asleep_in_fault();
    k.swap_fs_io.deferred = false;
    while k.complete_swap_rw(0).is_some() {}
    k.advance_time(JIFFY);
    assert_eq!(k.reclaim_throttle_until(t), None);
    // The CPU resumes at the faulting page; reclaim now finds clean pages.
    assert_eq!(k.memset(t, at, 1, p + 100 * MIB - at), Ok(()));
    assert_eq!(k.fault_retry_addr(t), None);
    assert!(k.vmstat.pgsteal_direct > 0);
    assert_eq!(k.find_mismatch(t, p, 100 * MIB, 1), Ok(None));
    assert_eq!(k.vmstat.oom_kill, 0);
    k.check_invariants().expect("invariants");
}

#[test]
fn a_retried_fault_does_not_sleep_again_and_without_progress_ends_in_oom() {
    let (mut k, t, p, at) = asleep_in_fault();
    k.advance_time(JIFFY);
    let sleeps = counter(&k, "reclaim_throttle_sleeps");
    // FAULT_FLAG_TRIED: past the throttle, as Linux's task after its sleep; with every write
    // still in flight nothing can be freed, and the OOM killer takes the only process.
    assert_eq!(k.memset(t, at, 1, p + 100 * MIB - at), Err(Signal::Kill));
    assert_eq!(counter(&k, "reclaim_throttle_sleeps"), sleeps);
    assert_eq!(k.vmstat.oom_kill, 1);
}

#[test]
fn kswapd_sleeps_on_writeback_until_more_than_a_batch_is_written() {
    let (mut k, t, p) = pressure(Profile::Linux519);
    run_out(&mut k, t, p);
    assert_eq!(counter(&k, "reclaim_wait_writeback"), 1, "kswapd");
    assert_eq!(counter(&k, "nr_writeback_throttled"), 1);
    throttled(&mut k);
    let mut written = 0;
    while counter(&k, "reclaim_wait_writeback") == 1 {
        assert_eq!(k.vmstat.nr_throttled_written, written);
        assert!(written <= 32, "still asleep after {written} pages written");
        written += k.complete_swap_rw(0).expect("a request in flight") as u64;
    }
    // acct_reclaim_writeback(): the 33rd page (more than SWAP_CLUSTER_MAX per sleeper)
    // wakes the queue; the pages after it, with no sleeper left, are not counted.
    assert!(written > 32);
    assert_eq!(k.vmstat.nr_throttled_written, 33);
    assert_eq!(counter(&k, "nr_writeback_throttled"), 0);
    assert_eq!(
        throttled(&mut k),
        vec![("VMSCAN_THROTTLE_WRITEBACK", 100_000, 0)]
    );
    // The NOPROGRESS sleeper is not on that queue: completions do not wake it.
    assert_eq!(counter(&k, "reclaim_wait_noprogress"), 1);
}

#[test]
fn kswapd_writeback_sleep_times_out_after_hz_over_10() {
    let (mut k, t, p) = pressure(Profile::Linux519);
    run_out(&mut k, t, p);
    throttled(&mut k);
    k.advance_time(100_000_000 - 1);
    let before = throttled(&mut k);
    assert!(
        before
            .iter()
            .all(|&(r, ..)| r == "VMSCAN_THROTTLE_NOPROGRESS"),
        "{before:?}"
    );
    k.advance_time(1);
    assert_eq!(
        throttled(&mut k).first(),
        Some(&("VMSCAN_THROTTLE_WRITEBACK", 100_000, 100_000))
    );
}

#[test]
fn a_fault_that_cannot_retry_does_not_sleep() {
    let (mut k, t, p) = pressure(Profile::Linux519);
    // MADV_POPULATE_WRITE faults through GUP: no FAULT_FLAG_USER, the model cannot suspend
    // it, and it reclaims on without sleeping.
    let _ = k.madvise(t, p, 100 * MIB, MADV_POPULATE_WRITE);
    assert!(k.vmstat.allocstall_movable > 0, "it reclaimed directly");
    assert_eq!(k.vmstat.pgsteal_direct, 0, "with no progress");
    assert_eq!(counter(&k, "reclaim_wait_noprogress"), 0);
    assert!(throttled(&mut k)
        .iter()
        .all(|&(r, ..)| r != "VMSCAN_THROTTLE_NOPROGRESS"));
    assert_eq!(k.reclaim_throttle_until(t), None);
}

#[test]
fn linux_5_18_throttles_the_same_but_its_nfs_swap_leaves_no_writeback() {
    let (mut k, t, p) = pressure(Profile::Linux518);
    assert_eq!(k.memset(t, p, 1, 100 * MIB), Ok(()));
    k.finish_step();
    assert!(k.vmstat.pgsteal_direct > 0);
    assert_eq!(counter(&k, "reclaim_throttle_sleeps"), 0);
    assert_eq!(k.vmstat.nr_throttled_written, 0);
    assert!(throttled(&mut k).is_empty());
}
