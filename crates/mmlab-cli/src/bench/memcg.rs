//! The memcg row of `mmlab bench`: anonymous 4 KiB write faults by a process in a cgroup three
//! levels deep (each level with its own memcg, so a charge walks three page counters below the
//! root's), against the same faults outside any cgroup, both on the model: the cost charging
//! adds to the fault path.

use mmlab::Kernel;

use super::row::{Quantity, Row, Spread, Target};
use super::{anon_map, kernel, model_anon_faults, timed_stores, PAGE};

const CG: &str = "/sys/fs/cgroup";

/// Faults/s of a process in `/a/b/c`, each of a, b and c with a memcg.
fn faults_in_cgroup(bytes: u64) -> f64 {
    let (mut k, t) = kernel(bytes);
    for (dir, parent) in [("/a", ""), ("/a/b", "/a"), ("/a/b/c", "/a/b")] {
        k.sysfs_write(&format!("{CG}{parent}/cgroup.subtree_control"), "+memory")
            .expect("subtree_control");
        k.cgroup_mkdir(dir).expect("mkdir");
    }
    let pid = k.task(t).expect("task").pid;
    k.cgroup_attach("/a/b/c", pid).expect("attach");
    let p = anon_map(&mut k, t, bytes);
    let secs = timed_stores(&mut k, t, p, bytes, PAGE);
    let rate = k.minflt(t).expect("minflt") as f64 / secs;
    assert!(charged(&k, "/a/b/c") >= bytes, "the faults were charged");
    rate
}

/// memory.current of a cgroup.
fn charged(k: &Kernel, dir: &str) -> u64 {
    let s = k
        .sysfs_read(&format!("{CG}{dir}/memory.current"))
        .expect("memory.current");
    s.trim().parse().expect("a number")
}

/// The row: per run, the rate inside the cgroup over the rate outside (target: 0.8 or more).
pub fn row(bytes: u64, runs: usize) -> Row {
    let ratios = (0..runs)
        .map(|_| faults_in_cgroup(bytes) / model_anon_faults(bytes).0)
        .collect();
    Row::new(
        "anon faults in a 3-deep memcg / outside",
        Quantity::Rate("x"),
        Spread::of(ratios),
        None,
        Target::RatioAtLeast(0.8),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_measures_charged_faults_and_holds_the_ratio_to_its_target() {
        // faults_in_cgroup() asserts the faults were charged to the 3-deep cgroup.
        assert!(faults_in_cgroup(4 << 20) > 0.0);
        let r = row(16 << 20, 3);
        assert_eq!(r.model.runs, 3);
        assert!(r.model.median > 0.0);
        assert_eq!(r.met, r.model.median >= 0.8);
        eprintln!("in-cgroup / outside fault rate: {:.3}", r.model.median);
    }
}
