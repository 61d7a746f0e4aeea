//! The short seeded model-only campaign CI runs: it fails if the fuzzer finds a panic, an
//! invariant violation or a shadow mismatch (findings 001, 002, 003 and 010 are fixed, and each
//! has its reproducer in scenarios/regressions).

use std::time::Duration;

use mmlab_fuzz::campaign::{run_campaign, Plan, Silent};
use mmlab_fuzz::gen::GenConfig;
use mmlab_fuzz::judge::Kind;
use mmlab_fuzz::shrink::Budget;
use mmlab_scenario::ModelBackend;

#[test]
fn seeded_model_campaign_finds_nothing_new() {
    let plan = Plan {
        seed: 5190,
        cases: Some(3000),
        budget: None,
        shard: (1, 1),
        gen: GenConfig::default(),
        shrink: true,
        shrink_budget: Budget {
            tries: 400,
            time: Duration::from_secs(20),
            keep_settings: false,
        },
    };
    let r = run_campaign::<ModelBackend>(&plan, None, &mut Silent);
    assert_eq!(r.cases, 3000);
    let mut new = String::new();
    for f in &r.findings {
        let fatal = matches!(f.finding.kind, Kind::Panic | Kind::Violation | Kind::Shadow);
        if fatal {
            new.push_str(&format!(
                "{} (case seed {}): {}\n{}\n",
                f.finding.signature, f.seed, f.finding.detail, f.case
            ));
        } else {
            eprintln!(
                "not a model failure: {} (case seed {})",
                f.finding.signature, f.seed
            );
        }
    }
    assert!(new.is_empty(), "the fuzzer found new failures:\n{new}");
}
