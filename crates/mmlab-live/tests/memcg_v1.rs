//! `cgroup_v1` scenarios on the host: their groups live under a group of the runner's own and
//! are gone when the scenario ends, failed or not; a cgroup2 scenario is skipped.

mod common;

use std::path::Path;

use mmlab_scenario::{parse, run, Status};

/// The parent of this process's groups.
fn parent() -> String {
    format!("/sys/fs/cgroup/memory/mmlab-{}", std::process::id())
}

#[test]
fn a_failed_v1_scenario_leaves_no_group_behind() {
    let Some(mut h) = common::host() else { return };
    if !Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        eprintln!("skipped: no v1 memory controller");
        return;
    }
    let text = "title \"t\"\nfeature cgroup_v1 on\nprocess P\n\
        P: cgroup_create(\"/sys/fs/cgroup/memory/t\")\n\
        P: cgroup_create(\"/sys/fs/cgroup/memory/t/u\")\n\
        P: sysfs_write(\"/sys/fs/cgroup/memory/t/u/memory.limit_in_bytes\", \"8M\")\n\
        P: expect sysfs_read(\"/sys/fs/cgroup/memory/t/u/memory.limit_in_bytes\") == 8M\n\
        P: C = fork()\n\
        C: cgroup_attach(\"/sys/fs/cgroup/memory/t/u\")\n\
        C: p = mmap(NULL, 1M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\n\
        C: memset(p, 1, 1M)\n\
        P: expect sysfs_read(\"/sys/fs/cgroup/memory/t/u/memory.usage_in_bytes\") >= 1M\n\
        P: expect sysfs_read(\"/sys/fs/cgroup/memory/t/memory.usage_in_bytes\") == 0\n";
    let sc = parse(text, Path::new("t.mml")).expect("parses");
    let r = run(&sc, &mut h);
    assert_eq!(r.status, Status::Fail, "{:?}", r.failures);
    // Only the last line failed: the group t holds its child's usage (use_hierarchy 1).
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert_eq!(r.failures[0].line, 13, "{:?}", r.failures);
    assert!(!Path::new(&parent()).exists(), "{} is left", parent());
}

#[test]
fn a_cgroup2_scenario_is_skipped_with_its_reason() {
    let Some(mut h) = common::host() else { return };
    let text = "title \"t\"\nprocess P\nP: cgroup_create(\"/sys/fs/cgroup/t\")\n";
    let r = run(&parse(text, Path::new("t.mml")).expect("parses"), &mut h);
    assert_eq!(r.status, Status::Skip);
    let reason = r.skip_reason.unwrap_or_default();
    assert!(reason.contains("cgroup v2"), "{reason}");
    assert!(!Path::new(&parent()).exists());
}
