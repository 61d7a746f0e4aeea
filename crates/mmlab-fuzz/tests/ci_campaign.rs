//! The short seeded model-only campaign CI runs: it fails if the fuzzer finds a panic, an
//! invariant violation or a shadow mismatch that is not one of the open findings below.

use std::time::Duration;

use mmlab_fuzz::campaign::{run_campaign, Plan, Silent};
use mmlab_fuzz::gen::GenConfig;
use mmlab_fuzz::judge::Kind;
use mmlab_fuzz::shrink::Budget;
use mmlab_scenario::ModelBackend;

/// Findings reported (with a minimised scenario and an analysis) and not fixed yet, by the
/// start of their signature. Remove an entry when its bug is fixed; a new failure of any
/// other signature fails the test.
const OPEN: &[(&str, &str)] = &[
    (
        "panic at crates/mmlab/src/kernel.rs:",
        "fuzz-findings 001: uffd-wp on a write-only VMA maps PROT_NONE (5.19), the model loops",
    ),
    (
        "violation: invariant Refcount broken",
        "fuzz-findings 002: model.get_page on a hugetlb page takes a subpage reference",
    ),
    (
        "violation: invariant VmstatMatchesPages broken",
        "fuzz-findings 003: a truncated shmem THP still referenced counts as NR_SHMEM_THPS",
    ),
];

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
        },
    };
    let r = run_campaign::<ModelBackend>(&plan, None, &mut Silent);
    assert_eq!(r.cases, 3000);
    let mut new = String::new();
    for f in &r.findings {
        let fatal = matches!(f.finding.kind, Kind::Panic | Kind::Violation | Kind::Shadow);
        match OPEN
            .iter()
            .find(|(sig, _)| f.finding.signature.starts_with(sig))
        {
            Some((_, why)) => eprintln!("open: {why} (case seed {})", f.seed),
            None if fatal => new.push_str(&format!(
                "{} (case seed {}): {}\n{}\n",
                f.finding.signature, f.seed, f.finding.detail, f.case
            )),
            None => eprintln!(
                "not a model failure: {} (case seed {})",
                f.finding.signature, f.seed
            ),
        }
    }
    assert!(new.is_empty(), "the fuzzer found new failures:\n{new}");
}
