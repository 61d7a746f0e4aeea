//! Time and the sysfs/procfs files: `sleep(MS)`, `sysfs_read`, `sysfs_write` (good values and
//! ones the store handler refuses) and, on the model, a wait for khugepaged's next full scan.
//!
//! On the host only files whose value the case itself fixed are read (the THP knobs its header
//! or an earlier write set, and `hpage_pmd_size`): the rest show the machine's own state (its
//! khugepaged's counters, a hugetlb pool other users share). Writes there stay with the THP
//! knobs (the host backend gives them back afterwards), never khugepaged's sleep times (a
//! write wakes the machine's khugepaged, which then scans the case's memory at a time of its
//! own), and waits and long sleeps stay on the model.

use mmlab::fs::kernfs;
use mmlab_scenario::sysfs::FileValue;
use mmlab_scenario::Backend;
use rand::RngExt;

use super::text;
use super::Gen;

pub(super) const THP_DIR: &str = "/sys/kernel/mm/transparent_hugepage";
const FULL_SCANS: &str = "/sys/kernel/mm/transparent_hugepage/khugepaged/full_scans";
const SCAN_SLEEP: &str = "/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs";

/// The THP knobs a case may write on the host (each one the host backend restores).
const HOST_WRITABLE: &[&str] = &[
    "enabled",
    "defrag",
    "shmem_enabled",
    "use_zero_page",
    "khugepaged/defrag",
    "khugepaged/max_ptes_none",
    "khugepaged/max_ptes_swap",
    "khugepaged/max_ptes_shared",
    "khugepaged/pages_to_scan",
    // read-only: EACCES
    "hpage_pmd_size",
];

/// The runner's poll interval for `expect ... within MS` (`run::POLL_NS`).
const POLL_NS: u64 = 1_000_000;

impl Gen<'_> {
    pub(super) fn time_something(&mut self, t: usize) -> bool {
        match self.rng.random_range(0..100) {
            0..=24 => self.sleep_for(t),
            25..=54 => self.sysfs_read_line(t),
            55..=89 => self.sysfs_write_line(t),
            _ => self.khugepaged_wait(t),
        }
    }

    /// `sleep(MS)`: short on the host (the runner really sleeps), up to a few khugepaged
    /// periods on the model (virtual time).
    fn sleep_for(&mut self, t: usize) -> bool {
        let ms = if self.cfg.host {
            self.pick(&[1, 5, 20, 50])
        } else {
            self.pick(&[1, 10, 100, 1000, 10_000, 30_000])
        };
        let tn = self.tname(t);
        let i = self.begin(format!("{tn}: sleep({ms})"));
        self.b.sleep(ms * 1_000_000);
        self.end(i, format!("{tn}: sleep({ms})"));
        true
    }

    /// Files a read may name: on the host those whose value the case fixed.
    fn readable_files(&self) -> Vec<String> {
        if self.cfg.host {
            return self.settled.clone();
        }
        kernfs::file_paths().collect()
    }

    /// `expect sysfs_read("P") == V` with what the model shows (a one-line file).
    fn sysfs_read_line(&mut self, t: usize) -> bool {
        let files = self.readable_files();
        if files.is_empty() {
            return false;
        }
        let path = self.pick_string(&files);
        self.probe_line(t, |g| {
            let shown = match g.b.sysfs_read(&path) {
                Ok(s) => s,
                Err(e) => return Some(format!("expect sysfs_read(\"{path}\") fails {}", e.name())),
            };
            if shown.trim().contains('\n') {
                return None;
            }
            let value = match FileValue::of(&shown) {
                FileValue::Num(v) => text::num(v),
                FileValue::Text(s) => format!("\"{s}\""),
            };
            Some(format!("expect sysfs_read(\"{path}\") == {value}"))
        })
    }

    /// `sysfs_write("P", V)`: one of the file's choices, a number it takes or refuses, or a
    /// word no numeric file takes.
    fn sysfs_write_line(&mut self, t: usize) -> bool {
        let files: Vec<String> = if self.cfg.host {
            HOST_WRITABLE
                .iter()
                .map(|n| format!("{THP_DIR}/{n}"))
                .collect()
        } else {
            kernfs::file_paths().collect()
        };
        let path = self.pick_string(&files);
        let Ok(shown) = self.b.sysfs_read(&path) else {
            return false;
        };
        if shown.trim().contains('\n') {
            return false;
        }
        let value = if shown.contains('[') {
            let mut words: Vec<String> = shown
                .split_whitespace()
                .map(|w| w.trim_matches(|c| c == '[' || c == ']').to_string())
                .collect();
            words.push("often".into());
            format!("\"{}\"", self.pick_string(&words))
        } else if self.chance(0.05) {
            "\"x\"".into()
        } else if path.contains("hugepages") {
            // The pool: small, as the memory is the model's.
            self.rng.random_range(0..=8u64).to_string()
        } else {
            let v = self.pick(&[0u64, 1, 2, 8, 64, 100, 255, 256, 511, 512, 4096, 10_000]);
            v.to_string()
        };
        let tn = self.tname(t);
        let text = format!("sysfs_write(\"{path}\", {value})");
        let i = self.begin(format!("{tn}: {text}"));
        let r = self.b.sysfs_write(&path, value.trim_matches('"'));
        let line = match r {
            Ok(()) => {
                if self.cfg.host && !self.settled.contains(&path) {
                    self.settled.push(path);
                }
                format!("{tn}: {text}")
            }
            Err(e) => format!("{tn}: expect {text} fails {}", e.name()),
        };
        self.end(i, line);
        true
    }

    /// On the model: khugepaged's next full scan, waited for as a scenario would (after a
    /// shorter sleep, sometimes). Evaluated here as the runner does (at once, then every
    /// millisecond of virtual time until it holds or the time is up); a wait that would fail
    /// is written as the sleep it amounts to.
    fn khugepaged_wait(&mut self, t: usize) -> bool {
        if self.cfg.host {
            return false;
        }
        let tn = self.tname(t);
        if self.chance(0.5) {
            let ms = self.pick(&[10u64, 100, 1000]);
            let text = format!("sysfs_write(\"{SCAN_SLEEP}\", {ms})");
            let i = self.begin(format!("{tn}: {text}"));
            let r = self.b.sysfs_write(SCAN_SLEEP, &ms.to_string());
            self.end(i, format!("{tn}: {text}"));
            if r.is_err() {
                return true;
            }
        }
        let Some(n) = self.full_scans() else {
            return false;
        };
        let var = self.fresh("scans");
        let i = self.begin(format!("{tn}: {var} = sysfs_read(\"{FULL_SCANS}\")"));
        self.end(i, format!("{tn}: {var} = sysfs_read(\"{FULL_SCANS}\")"));
        let ms = self.pick(&[100u64, 1000, 20_000]);
        let wait = format!("{tn}: expect sysfs_read(\"{FULL_SCANS}\") > {var} within {ms}");
        let i = self.begin(wait.clone());
        let deadline = self.b.now_ns().saturating_add(ms * 1_000_000);
        let held = loop {
            let now_scans = self.full_scans();
            let now = self.b.now_ns();
            if now_scans.is_some_and(|s| s > n) {
                break true;
            }
            if now >= deadline {
                break false;
            }
            self.b.sleep(POLL_NS.min(deadline - now));
        };
        self.end(
            i,
            if held {
                wait
            } else {
                format!("{tn}: sleep({ms})")
            },
        );
        true
    }

    fn full_scans(&mut self) -> Option<u64> {
        match FileValue::of(&self.b.sysfs_read(FULL_SCANS).ok()?) {
            FileValue::Num(v) => Some(v),
            FileValue::Text(_) => None,
        }
    }

    fn pick_string(&mut self, xs: &[String]) -> String {
        xs[self.rng.random_range(0..xs.len())].clone()
    }
}
