//! The agent keeps itself out of the scenario's way (`mmlab_live::agent_space`): what it maps
//! after start lies in its far region, a scenario's mappings neither hold its pages nor lose
//! their holes to it, and its channels leave the scenario's descriptor numbers as on the model.

mod common;

use std::path::{Path, PathBuf};

use mmlab::fs::proc::MapsEntry;
use mmlab::Signal;
use mmlab_live::agent_space::in_region;
use mmlab_scenario::backend::{Access, Backend, Setup};
use mmlab_scenario::diff::{compare, Verdict};
use mmlab_scenario::suite::run_file;
use mmlab_scenario::{ModelBackend, Status};

fn scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agent-apart");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn scenarios_that_the_agent_used_to_disturb_agree_with_the_model() {
    let Some(mut h) = common::host() else { return };
    let files = scenarios();
    assert_eq!(files.len(), 4);
    for f in files {
        let m = run_file(&f, &mut ModelBackend::default()).unwrap();
        let hr = run_file(&f, &mut h).unwrap();
        assert_eq!(m.status, Status::Pass, "{}: {:?}", f.display(), m.failures);
        assert_eq!(
            hr.status,
            Status::Pass,
            "{}: {:?}",
            f.display(),
            hr.failures
        );
        assert_eq!(compare(&m, &hr, &[]).0, Verdict::Agree, "{}", f.display());
    }
}

/// The lines of `after` that `before` does not have, as ranges; the brk heap (which malloc may
/// grow, next to the program and far from any mapping a scenario makes) aside.
fn new_ranges(before: &[MapsEntry], after: &[MapsEntry]) -> Vec<(u64, u64)> {
    after
        .iter()
        .filter(|a| a.name != "[heap]" && !before.iter().any(|b| b == *a))
        .map(|a| (a.start, a.end))
        .collect()
}

#[test]
fn threads_and_forks_map_nothing_of_the_agents_outside_its_region() {
    let Some(mut h) = common::host() else { return };
    h.prepare(&Setup::default()).unwrap();
    let p = h.spawn_process(0).unwrap();
    let before = h.maps(p).unwrap();
    let t = h.thread(p, 0).unwrap();
    let u = h.thread(t, 0).unwrap();
    let c = h.fork(u).unwrap();
    let ct = h.thread(c, 0).unwrap();
    // Every task still answers: a load of the null page faults in each.
    for task in [p, t, u, c, ct] {
        assert_eq!(h.access(task, Access::Load(0)), Err(Signal::Segv));
    }
    for task in [p, c] {
        let fresh = new_ranges(&before, &h.maps(task).unwrap());
        assert!(
            !fresh.is_empty(),
            "the threads' stacks are mapped somewhere"
        );
        for (start, end) in fresh {
            assert!(
                in_region(start, end),
                "task {task}: the agent mapped {start:#x}-{end:#x} outside its region"
            );
        }
    }
}
