//! The memcg scenarios hold under every cgroup2 mount they do not pin: each runs with
//! `memory_recursiveprot` and `memory_localevents` switched off and on, except an option its
//! own `feature` line fixes (the selftests' expectations that depend on it have one file per
//! setting). v1 scenarios have no cgroup2 options and run as written.

use std::path::Path;

use mmlab_scenario::suite::{collect, load};
use mmlab_scenario::{run, ModelBackend, Status};

const OPTIONS: [&str; 2] = ["memory_recursiveprot", "memory_localevents"];

#[test]
fn memcg_scenarios_pass_under_every_mount_option_they_leave_open() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/memcg");
    let (files, errors) = collect(&[dir]);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(files.len() >= 10, "found {} memcg scenarios", files.len());
    let mut runs = 0;
    for f in files {
        let sc = load(&f).unwrap_or_else(|e| panic!("{e}"));
        if sc.features.iter().any(|(n, on)| n == "cgroup_v1" && *on) {
            continue;
        }
        for mask in 0..4 {
            let mut variant = sc.clone();
            let mut applies = true;
            for (i, opt) in OPTIONS.iter().enumerate() {
                let on = mask & (1 << i) != 0;
                match sc.features.iter().find(|(n, _)| n == opt) {
                    Some(&(_, pinned)) => applies &= pinned == on,
                    None => variant.features.push((opt.to_string(), on)),
                }
            }
            if !applies {
                continue;
            }
            let r = run(&variant, &mut ModelBackend::default());
            assert_eq!(
                r.status,
                Status::Pass,
                "{} with {:?}: {:?}",
                f.display(),
                variant.features,
                r.failures
            );
            runs += 1;
        }
    }
    assert!(runs >= 30, "only {runs} runs");
}
