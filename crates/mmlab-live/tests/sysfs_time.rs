//! `sysfs_read`/`sysfs_write`, `sleep` and `expect ... within` on the host kernel: the
//! scenarios of tests/sysfs-time agree with the model, every file a scenario writes is given
//! back when it ends, and a scenario that would write under DAMON's or the cgroup tree is not
//! run on the host.

mod common;

use mmlab_scenario::backend::{Backend, Setup};

/// The host files the scenarios write.
const WRITTEN: &[&str] = &[
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/sys/kernel/mm/transparent_hugepage/shmem_enabled",
    "/sys/kernel/mm/transparent_hugepage/khugepaged/max_ptes_none",
    "/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs",
];

fn host_files() -> Vec<String> {
    WRITTEN
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

#[test]
fn sysfs_and_time_scenarios_agree_and_the_host_gets_its_files_back() {
    let Some(mut h) = common::host() else { return };
    // The first prepare takes the host lock, which the backend keeps until it is dropped: the
    // files are read under it.
    h.prepare(&Setup::default()).unwrap();
    let before = host_files();
    let files = common::scenarios_in("sysfs-time");
    assert_eq!(files.len(), 2);
    for f in files {
        common::assert_passes_and_agrees(&f, &mut h);
        assert_eq!(host_files(), before, "{}: files given back", f.display());
    }
}

#[test]
fn writes_under_damon_or_cgroups_are_never_made() {
    let Some(mut h) = common::host() else { return };
    for path in [
        "/sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds",
        "/sys/kernel/mm/transparent_hugepage/../damon/admin/kdamonds/nr_kdamonds",
        "/sys/fs/cgroup/memory.max",
    ] {
        let setup = Setup {
            sysfs_writes: vec![path.to_string()],
            ..Default::default()
        };
        let e = h.prepare(&setup).expect_err("skipped");
        assert!(e.0.contains("never writes under"), "{path}: {}", e.0);
        assert_eq!(
            h.sysfs_write(path, "1"),
            Err(mmlab::Errno::EPERM),
            "{path}: refused even when asked directly"
        );
    }
}
