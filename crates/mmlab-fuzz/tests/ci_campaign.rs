//! The short seeded model-only campaign CI runs: it fails if the fuzzer finds a panic, an
//! invariant violation or a shadow mismatch that is not one of the open findings below.

use std::time::Duration;

use mmlab_fuzz::campaign::{run_campaign, Plan, Silent};
use mmlab_fuzz::gen::GenConfig;
use mmlab_fuzz::judge::Kind;
use mmlab_fuzz::shrink::Budget;
use mmlab_scenario::ModelBackend;

/// An open finding: a part of its signature, what its shrunk case must contain, and where it
/// is written up.
struct Open {
    signature: &'static str,
    case_has: &'static [&'static str],
    about: &'static str,
}

/// Findings reported (with a minimised scenario and an analysis in the fuzz findings) and not
/// fixed yet. Remove an entry when its bug is fixed; any other failure fails the test.
const OPEN: &[Open] = &[
    Open {
        signature: "a resolved fault must let the walk succeed",
        case_has: &["uffdio_writeprotect"],
        about:
            "fuzz-findings 001: uffd-wp on a write-only VMA maps PROT_NONE (5.19), the model loops",
    },
    Open {
        signature: "violation: invariant Refcount broken",
        case_has: &["model.get_page", "HUGETLB"],
        about: "fuzz-findings 002: a reference through a hugetlb subpage fails the Refcount rule",
    },
    Open {
        signature: "invariant TlbNotMorePermissive broken",
        case_has: &["fork()", "MADV_PAGEOUT"],
        about: "fuzz-findings 010: try_to_unmap()'s deferred flush covers only the last mm",
    },
    Open {
        signature: "nr_shmem_hugepages # vs #",
        case_has: &["model.get_page"],
        about: "fuzz-findings 003: a truncated shmem THP still referenced counts as NR_SHMEM_THPS",
    },
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
            keep_settings: false,
        },
    };
    let r = run_campaign::<ModelBackend>(&plan, None, &mut Silent);
    assert_eq!(r.cases, 3000);
    let mut new = String::new();
    for f in &r.findings {
        let fatal = matches!(f.finding.kind, Kind::Panic | Kind::Violation | Kind::Shadow);
        let open = OPEN.iter().find(|o| {
            f.finding.signature.contains(o.signature)
                && o.case_has.iter().all(|n| f.case.contains(n))
        });
        match open {
            Some(o) => eprintln!("open: {} (case seed {})", o.about, f.seed),
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
