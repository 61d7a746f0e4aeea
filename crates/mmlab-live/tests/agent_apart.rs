//! The agent keeps itself out of the scenario's way (`mmlab_live::agent_space`): what it maps
//! after start lies in its far region, a scenario's mappings neither hold its pages nor lose
//! their holes to it, and its channels leave the scenario's descriptor numbers as on the model.

mod common;

use mmlab::fs::proc::MapsEntry;
use mmlab::Signal;
use mmlab_live::agent_space::in_region;
use mmlab_scenario::backend::{Access, Backend, Setup};

#[test]
fn scenarios_that_the_agent_used_to_disturb_agree_with_the_model() {
    let Some(mut h) = common::host() else { return };
    let files = common::scenarios_in("agent-apart");
    assert_eq!(files.len(), 4);
    for f in files {
        common::assert_passes_and_agrees(&f, &mut h);
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
