//! A campaign: cases by seed (case i of seed S is the case of seed S + i), split over shards
//! by index (shard K/N runs i ≡ K-1 mod N, so N independent jobs cover the campaign exactly
//! once), each case generated, judged and — the first time a failure shows — shrunk. Results
//! are a JSON document; `merge` combines the documents of a campaign's shards.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mmlab_scenario::Backend;

use crate::gen::{generate, GenConfig};
use crate::judge::{judge, quiet_panics, Finding, Kind};
use crate::shrink::{shrink, Budget};

/// The results document's version (bump when its shape changes).
pub const VERSION: u32 = 1;

/// How many seeds of other occurrences a finding keeps.
const MORE_SEEDS: usize = 20;

/// What a campaign runs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seed: u64,
    /// Cases of the whole campaign (all shards together); None: until the budget is spent.
    pub cases: Option<u64>,
    pub budget: Option<Duration>,
    /// (K, N): this job is shard K of N (1-based).
    pub shard: (u64, u64),
    pub gen: GenConfig,
    pub shrink: bool,
    /// Shrinking effort per finding.
    pub shrink_budget: Budget,
}

/// One kind of failure a campaign found, with the smallest case that shows it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Found {
    #[serde(flatten)]
    pub finding: Finding,
    /// The seed of the case that was shrunk.
    pub seed: u64,
    /// Lines of the generated case, and of the shrunk one.
    pub lines: usize,
    pub minimised_lines: usize,
    /// The shrunk case (a `.mml` text).
    pub case: String,
    /// How many cases failed this way, and (some of) their seeds.
    pub occurrences: u64,
    pub seeds: Vec<u64>,
    /// For a divergence: in how many of the fresh host runs the shrunk case diverged the same
    /// way, of how many (a host backend that ran hundreds of cases is not a fresh machine).
    #[serde(default)]
    pub reproduced: Option<(u32, u32)>,
}

/// A campaign's (or a shard's, or merged shards') results.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Results {
    pub version: u32,
    pub seed: u64,
    /// "K/N", or "merged" for several shards.
    pub shard: String,
    pub both: bool,
    pub cases: u64,
    /// Cases the host skipped, by reason.
    pub host_skipped: BTreeMap<String, u64>,
    /// Seconds spent (summed over merged shards).
    pub seconds: f64,
    /// Cases by the kind of failure they showed.
    pub failed: BTreeMap<Kind, u64>,
    pub findings: Vec<Found>,
}

impl Results {
    fn add(&mut self, f: Found) {
        *self.failed.entry(f.finding.kind).or_default() += f.occurrences;
        match self
            .findings
            .iter_mut()
            .find(|g| g.finding.signature == f.finding.signature)
        {
            Some(g) => {
                let occurrences = g.occurrences + f.occurrences;
                let mut seeds: Vec<u64> = g.seeds.iter().chain(&f.seeds).copied().collect();
                seeds.extend([g.seed, f.seed]);
                // The smaller case, unless that would lose the fresh-host check.
                let smaller = f.minimised_lines < g.minimised_lines;
                let best = if smaller && (f.reproduced.is_some() || g.reproduced.is_none()) {
                    f
                } else {
                    g.clone()
                };
                seeds.retain(|s| *s != best.seed);
                seeds.sort_unstable();
                seeds.dedup();
                seeds.truncate(MORE_SEEDS);
                *g = Found {
                    occurrences,
                    seeds,
                    ..best
                };
            }
            None => self.findings.push(f),
        }
    }

    /// Combine shard results of one campaign.
    pub fn merge(parts: &[Results]) -> Result<Results, String> {
        let first = parts.first().ok_or("nothing to merge")?;
        let mut m = Results {
            version: VERSION,
            seed: first.seed,
            shard: "merged".into(),
            both: first.both,
            ..Default::default()
        };
        for p in parts {
            if p.version != VERSION {
                return Err(format!(
                    "results version {} (this mmlab writes {VERSION})",
                    p.version
                ));
            }
            if p.seed != first.seed || p.both != first.both {
                return Err(format!(
                    "shard {} is from another campaign (seed {}, both {}; expected seed {}, both {})",
                    p.shard, p.seed, p.both, first.seed, first.both
                ));
            }
            m.cases += p.cases;
            m.seconds += p.seconds;
            for (k, v) in &p.host_skipped {
                *m.host_skipped.entry(k.clone()).or_default() += v;
            }
            for f in &p.findings {
                m.add(f.clone());
            }
        }
        Ok(m)
    }
}

/// What the runner reports as it goes (a progress bar, or nothing).
pub trait Progress {
    fn case_done(&mut self, done: u64, findings: usize);
    fn found(&mut self, f: &Found);
}

/// Reports nothing (tests, scripts).
pub struct Silent;

impl Progress for Silent {
    fn case_done(&mut self, _: u64, _: usize) {}
    fn found(&mut self, _: &Found) {}
}

/// Generate case `seed` (a panic while generating leaves the text up to the call that did).
pub fn case_text(seed: u64, gen: &GenConfig) -> String {
    quiet_panics();
    let mut lines = vec![];
    let _ = catch_unwind(AssertUnwindSafe(|| generate(seed, gen, &mut lines)));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Fresh host runs a shrunk divergence is checked with.
const FRESH_RUNS: u32 = 3;

/// Run the plan; `host` makes a host backend when the plan compares with the host kernel (one
/// for the campaign, and a fresh one for each check of a shrunk divergence).
pub fn run_campaign<H: Backend>(
    plan: &Plan,
    host: Option<&dyn Fn() -> H>,
    progress: &mut dyn Progress,
) -> Results {
    let mut backend = host.map(|make| make());
    let start = Instant::now();
    let (k, n) = plan.shard;
    let mut res = Results {
        version: VERSION,
        seed: plan.seed,
        shard: format!("{k}/{n}"),
        both: backend.is_some(),
        ..Default::default()
    };
    let mut i = k - 1;
    loop {
        if plan.cases.is_some_and(|c| i >= c) || plan.budget.is_some_and(|b| start.elapsed() >= b) {
            break;
        }
        let seed = plan.seed.wrapping_add(i);
        let name = format!("fuzz-{seed}.mml");
        let text = case_text(seed, &plan.gen);
        let out = judge(&text, &name, backend.as_mut());
        res.cases += 1;
        if let Some(r) = out.host_skip {
            *res.host_skipped.entry(r).or_default() += 1;
        }
        if let Some(f) = out.finding {
            let seen = res
                .findings
                .iter()
                .any(|g| g.finding.signature == f.signature);
            let lines = text.lines().count();
            // A hang costs the whole deadline per try: it is reported as generated.
            let shrink_it = plan.shrink && !seen && f.kind != Kind::Hang;
            let (case, minimised_lines) = if shrink_it {
                let sig = f.signature.clone();
                // A divergence must show twice: a candidate that diverges only sometimes (an
                // expression that came to depend on where ASLR put a mapping) is no smaller
                // version of this one.
                let runs = if f.kind == Kind::Divergence { 2 } else { 1 };
                let small = shrink(
                    &text,
                    |t| {
                        (0..runs).all(|_| {
                            judge(t, &name, backend.as_mut())
                                .finding
                                .is_some_and(|g| g.signature == sig)
                        })
                    },
                    plan.shrink_budget,
                );
                let n = small.lines().count();
                (small, n)
            } else {
                (text.clone(), lines)
            };
            // The finding as the shrunk case shows it (its line numbers are the case's).
            let finding = if shrink_it {
                judge(&case, &name, backend.as_mut())
                    .finding
                    .filter(|g| g.signature == f.signature)
                    .unwrap_or(f)
            } else {
                f
            };
            let reproduced = match host {
                Some(make) if !seen && finding.kind == Kind::Divergence => {
                    // One host backend at a time: each holds the host (its lock) while it lives.
                    drop(backend.take());
                    let again = (0..FRESH_RUNS)
                        .filter(|_| {
                            judge(&case, &name, Some(&mut make()))
                                .finding
                                .is_some_and(|g| g.signature == finding.signature)
                        })
                        .count();
                    backend = Some(make());
                    Some((again as u32, FRESH_RUNS))
                }
                _ => None,
            };
            let found = Found {
                finding,
                seed,
                lines,
                minimised_lines,
                case,
                occurrences: 1,
                seeds: vec![],
                reproduced,
            };
            if !seen {
                progress.found(&found);
            }
            res.add(found);
        }
        progress.case_done(res.cases, res.findings.len());
        i += n;
    }
    res.seconds = start.elapsed().as_secs_f64();
    res
}

/// Where a finding's case is written: `<dir>/<kind>-<seed>.mml`, with its finding on top.
pub fn write_case(dir: &std::path::Path, f: &Found) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}-{}.mml", f.finding.kind.name(), f.seed));
    let mut text = format!(
        "# mmlab fuzz: {} (case seed {}, {} lines shrunk to {})\n# {}\n",
        f.finding.signature, f.seed, f.lines, f.minimised_lines, f.finding.detail
    );
    if let Some((k, n)) = f.reproduced {
        text.push_str(&format!("# diverged again in {k} of {n} fresh host runs\n"));
    }
    text.push_str(&f.case);
    std::fs::write(&path, text)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmlab_scenario::ModelBackend;

    fn plan(cases: u64, shard: (u64, u64)) -> Plan {
        Plan {
            seed: 7,
            cases: Some(cases),
            budget: None,
            shard,
            gen: GenConfig::default(),
            shrink: false,
            shrink_budget: Budget {
                tries: 0,
                time: Duration::ZERO,
                keep_settings: false,
            },
        }
    }

    #[test]
    fn shards_split_a_campaign_and_merge_back_whole() {
        let parts: Vec<Results> = (1..=3)
            .map(|k| run_campaign::<ModelBackend>(&plan(10, (k, 3)), None, &mut Silent))
            .collect();
        assert_eq!(parts.iter().map(|r| r.cases).collect::<Vec<_>>(), [4, 3, 3]);
        let all = Results::merge(&parts).expect("one campaign");
        assert_eq!(all.cases, 10);
        assert_eq!(all.shard, "merged");
        let whole = run_campaign::<ModelBackend>(&plan(10, (1, 1)), None, &mut Silent);
        assert_eq!(whole.failed, all.failed);
    }

    #[test]
    fn merging_keeps_one_finding_per_signature_with_the_smallest_case() {
        let found = |seed, lines| Found {
            finding: Finding {
                kind: Kind::Violation,
                signature: "violation: x".into(),
                detail: String::new(),
                line: None,
            },
            seed,
            lines: 50,
            minimised_lines: lines,
            case: format!("{lines} lines"),
            occurrences: 1,
            seeds: vec![],
            reproduced: None,
        };
        let mut a = Results {
            version: VERSION,
            seed: 1,
            ..Default::default()
        };
        a.add(found(3, 9));
        let mut b = a.clone();
        b.findings.clear();
        b.failed.clear();
        b.add(found(8, 4));
        let m = Results::merge(&[a, b]).expect("same campaign");
        assert_eq!(m.findings.len(), 1);
        assert_eq!(m.findings[0].occurrences, 2);
        assert_eq!(m.findings[0].seed, 8);
        assert_eq!(m.findings[0].seeds, [3]);
        assert_eq!(m.failed[&Kind::Violation], 2);
        let other = Results {
            version: VERSION,
            seed: 2,
            ..Default::default()
        };
        assert!(Results::merge(&[m, other]).is_err());
    }
}
