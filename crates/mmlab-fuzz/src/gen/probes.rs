//! Observations, written as expectations of what the model saw: pagemap bits and PFN
//! relations, smaps fields, maps lines, vma_count, minflt and vmstat deltas, meminfo; and the
//! model-only probes (khugepaged steps, page references, TLB flush counts, raw PTEs).
//!
//! On the host's behalf some things are left out, each for a reason: absolute PFNs and
//! addresses (only relations and offsets from the scenario's own variables are written), the
//! soft-dirty bit (this host's kernel has no CONFIG_MEM_SOFT_DIRTY), smaps LazyFree (it moves
//! through per-CPU LRU batches other tasks on the CPU share), system-wide gauges and counters
//! other work moves (vmstat is compared as a delta with `>=`, on event counters only; meminfo
//! only for the hugetlb pool, which the host backend reports without foreign use).

use mmlab::mm::khugepaged::ScanResult;
use mmlab_scenario::backend::ModelProbe;
use mmlab_scenario::backend::ProbeValue;
use mmlab_scenario::Backend;
use rand::RngExt;

use super::text::{self, addr};
use super::{Gen, Region};

const PAGEMAP_BITS: &[(&str, u32)] = &[
    ("present", 63),
    ("swapped", 62),
    ("file", 61),
    ("uffd_wp", 57),
    ("exclusive", 56),
    ("soft_dirty", 55),
];

/// /proc/vmstat event counters (they only grow); gauges are left to the model.
const VMSTAT_EVENTS: &[&str] = &[
    "pgfault",
    "pgreuse",
    "thp_fault_alloc",
    "thp_fault_fallback",
    "thp_split_page",
    "thp_split_page_failed",
    "thp_deferred_split_page",
    "thp_split_pmd",
    "thp_file_alloc",
    "thp_file_fallback",
    "thp_file_mapped",
];

impl Gen<'_> {
    pub(super) fn observe_something(&mut self, t: usize) -> bool {
        match self.rng.random_range(0..100) {
            0..=34 => self.pagemap_bit(t),
            35..=44 => self.pfn_relation(t),
            45..=64 => self.smaps_field(t),
            65..=72 => self.maps_field(t),
            73..=77 => self.vma_count(t),
            78..=89 => self.minflt(t),
            90..=94 => self.meminfo(t),
            _ => self.vmstat(t),
        }
    }

    /// A probe line: written, then its value filled in (or taken back if the probe cannot
    /// answer, which only a probe without effects may do).
    pub(super) fn probe_line(
        &mut self,
        t: usize,
        f: impl FnOnce(&mut Self) -> Option<String>,
    ) -> bool {
        let tn = self.tname(t);
        let i = self.begin(format!("{tn}: expect 0 == 0"));
        match f(self) {
            Some(line) => {
                self.end(i, format!("{tn}: {line}"));
                true
            }
            None => {
                self.undo(i);
                false
            }
        }
    }

    fn pagemap_bit(&mut self, t: usize) -> bool {
        let Some((r, off)) = self.pick_addr(t) else {
            return false;
        };
        let host = self.cfg.host;
        let bits: Vec<(&str, u32)> = PAGEMAP_BITS
            .iter()
            .copied()
            .filter(|b| !host || b.0 != "soft_dirty")
            .collect();
        let (name, bit) = self.pick(&bits);
        let id = self.tasks[t].id;
        self.probe_line(t, |g| {
            let raw = g.b.pagemap(id, r.base.wrapping_add_signed(off)).ok()?;
            Some(format!(
                "expect pagemap({}).{name} == {}",
                addr(&r.var, off),
                raw >> bit & 1
            ))
        })
    }

    /// Two PFNs compared (or one with the zero page, or with a saved one), where both entries
    /// are present: absolute PFNs differ between machines, relations do not.
    fn pfn_relation(&mut self, t: usize) -> bool {
        let Some((r1, o1)) = self.pick_addr(t) else {
            return false;
        };
        let Some((r2, o2)) = self.pick_addr(t) else {
            return false;
        };
        let id = self.tasks[t].id;
        let (a1, a2) = (
            r1.base.wrapping_add_signed(o1),
            r2.base.wrapping_add_signed(o2),
        );
        let (Ok(p1), Ok(p2)) = (self.b.pagemap(id, a1), self.b.pagemap(id, a2)) else {
            return false;
        };
        const PRESENT: u64 = 1 << 63;
        const PFN: u64 = (1 << 55) - 1;
        if p1 & PRESENT == 0 {
            return false;
        }
        let zero = self.chance(0.3);
        let (rhs, other) = if zero || p2 & PRESENT == 0 {
            ("zero_pfn()".to_string(), self.b.zero_pfn())
        } else {
            (format!("pagemap({}).pfn", addr(&r2.var, o2)), p2 & PFN)
        };
        let op = if p1 & PFN == other { "==" } else { "!=" };
        let lhs = addr(&r1.var, o1);
        self.probe_line(t, |g| {
            // The runner reads both entries (and the zero page) again.
            g.b.pagemap(id, a1).ok()?;
            if !zero && p2 & PRESENT != 0 {
                g.b.pagemap(id, a2).ok()?;
            }
            Some(format!("expect pagemap({lhs}).pfn {op} {rhs}"))
        })
    }

    fn smaps_field(&mut self, t: usize) -> bool {
        let Some((r, off)) = self.pick_addr(t) else {
            return false;
        };
        let id = self.tasks[t].id;
        let host = self.cfg.host;
        let pick: f64 = self.rng.random();
        self.probe_line(t, |g| {
            let fields = g.b.smaps(id, r.base.wrapping_add_signed(off)).ok()??;
            let usable: Vec<&(String, u64)> = fields
                .iter()
                .filter(|(k, _)| k != "lazyfree" || !host)
                // Only fields the language names (the model prints `swappss`, which the
                // scenario language's table did not list when this was written).
                .filter(|(k, _)| mmlab_scenario::lang::SMAPS_FIELDS.contains(&k.as_str()))
                .collect();
            let (k, v) = usable.get((pick * usable.len() as f64) as usize)?;
            Some(format!("expect smaps({}).{k} == {v}", addr(&r.var, off)))
        })
    }

    fn maps_field(&mut self, t: usize) -> bool {
        let Some((r, off)) = self.pick_addr(t) else {
            return false;
        };
        let id = self.tasks[t].id;
        let which = self.rng.random_range(0..4);
        self.probe_line(t, |g| {
            let a = r.base.wrapping_add_signed(off);
            let maps = g.b.maps(id).ok()?;
            let m = maps.iter().find(|m| m.start <= a && a < m.end)?;
            let at = addr(&r.var, off);
            let rel = |v: u64| addr(&r.var, v.wrapping_sub(r.base) as i64);
            Some(match which {
                0 => format!("expect maps({at}).start == {}", rel(m.start)),
                1 => format!("expect maps({at}).end == {}", rel(m.end)),
                2 => {
                    let prot = m.read as u64 | (m.write as u64) << 1 | (m.exec as u64) << 2;
                    format!("expect maps({at}).prot == {prot}")
                }
                _ => format!("expect maps({at}).shared == {}", m.shared as u64),
            })
        })
    }

    fn vma_count(&mut self, t: usize) -> bool {
        let Some(r) = self.pick_region(t, |_| true) else {
            return false;
        };
        // Within the reach of the mappings (see `limit`), never an empty or inverted range.
        let room = self.limit(t, r.base).saturating_sub(r.base);
        if room == 0 {
            return false;
        }
        let lo = -(self.pick(&[0u64, 0, 4096, 2 << 20]) as i64);
        let hi = (r.len as i64 + self.pick(&[0u64, 0, 4096, 2 << 20]) as i64).min(room as i64);
        let id = self.tasks[t].id;
        self.probe_line(t, |g| {
            let (a, b) = (
                r.base.wrapping_add_signed(lo),
                r.base.wrapping_add_signed(hi),
            );
            let n =
                g.b.maps(id)
                    .ok()?
                    .iter()
                    .filter(|m| m.start < b && m.end > a)
                    .count();
            Some(format!(
                "expect vma_count({}, {}) == {n}",
                addr(&r.var, lo),
                addr(&r.var, hi)
            ))
        })
    }

    /// A counter as its growth since an earlier reading (`expect CALL - v OP d`), or a new
    /// reading (`v = CALL`) when there is none; `read` makes the call again, as the runner
    /// will. Returns the new reading, if it took one.
    #[allow(clippy::too_many_arguments)]
    fn counter_line(
        &mut self,
        t: usize,
        call: &str,
        now: u64,
        last: Option<(String, u64)>,
        op: &str,
        prefix: &'static str,
        read: impl Fn(&mut Self),
    ) -> Option<(String, u64)> {
        let tn = self.tname(t);
        match last {
            Some((var, base)) => {
                let i = self.begin(format!("{tn}: expect {call} - {var} {op} 0"));
                read(self);
                let d = text::num(now.wrapping_sub(base));
                self.end(i, format!("{tn}: expect {call} - {var} {op} {d}"));
                None
            }
            None => {
                let var = self.fresh(prefix);
                let line = format!("{tn}: {var} = {call}");
                let i = self.begin(line.clone());
                read(self);
                self.end(i, line);
                Some((var, now))
            }
        }
    }

    /// minflt() against the process's last reading (taken first if there is none).
    fn minflt(&mut self, t: usize) -> bool {
        let p = self.tasks[t].proc;
        let id = self.tasks[t].id;
        let Ok(now) = self.b.minflt(id) else {
            return false;
        };
        let last = self.procs[p].minflt.clone().filter(|_| self.chance(0.8));
        let read = move |g: &mut Self| {
            let _ = g.b.minflt(id);
        };
        if let Some(new) = self.counter_line(t, "minflt()", now, last, "==", "f", read) {
            self.procs[p].minflt = Some(new);
        }
        true
    }

    fn meminfo(&mut self, t: usize) -> bool {
        let names: &[&str] = if self.cfg.host {
            &[
                "HugePages_Total",
                "HugePages_Free",
                "HugePages_Rsvd",
                "HugePages_Surp",
                "Hugepagesize",
            ]
        } else {
            mmlab::fs::proc::MEMINFO_NAMES
        };
        let name = self.pick(names);
        self.probe_line(t, |g| {
            let v = g.b.meminfo(name).ok()?;
            Some(format!("expect meminfo({name}) == {v}"))
        })
    }

    /// vmstat: a reading, later its growth (`>=` on the host, where others count too).
    fn vmstat(&mut self, t: usize) -> bool {
        let names: &[&str] = if self.cfg.host {
            VMSTAT_EVENTS
        } else {
            mmlab::vmstat::VmStat::LINUX_NAMES
        };
        let name = self.pick(names);
        let Ok(now) = self.b.vmstat(name) else {
            return false;
        };
        let op = if self.cfg.host { ">=" } else { "==" };
        let last = self.vmstat_vars.get(name).cloned();
        let read = move |g: &mut Self| {
            let _ = g.b.vmstat(name);
        };
        let call = format!("vmstat({name})");
        if let Some(new) = self.counter_line(t, &call, now, last, op, "v", read) {
            self.vmstat_vars.insert(name.to_string(), new);
        }
        true
    }

    // ---- model-only ----

    pub(super) fn model_probe_something(&mut self, t: usize) -> bool {
        if !self.model_probes() {
            return false;
        }
        let Some((r, off)) = self.pick_addr(t) else {
            return false;
        };
        let id = self.tasks[t].id;
        let a = r.base.wrapping_add_signed(off);
        let at = addr(&r.var, off);
        let tn = self.tname(t);
        match self.rng.random_range(0..100) {
            0..=29 => {
                let (name, probe) = if self.chance(0.5) {
                    ("model.khugepaged_scan", ModelProbe::KhugepagedScan(a))
                } else {
                    (
                        "model.khugepaged_collapse",
                        ModelProbe::KhugepagedCollapse(a),
                    )
                };
                let i = self.begin(format!("{tn}: expect {name}({at}) == SCAN_FAIL"));
                match self.b.model_probe(id, &probe) {
                    Ok(ProbeValue::Num(v)) => {
                        let scan = ScanResult::ALL
                            .iter()
                            .find(|(s, _)| *s as u64 == v)
                            .map_or(v.to_string(), |(_, n)| n.to_string());
                        self.end(i, format!("{tn}: expect {name}({at}) == {scan}"));
                    }
                    // A probe error ends a scenario: keep the line, the case ends with it.
                    _ => {
                        let line = self.out[i].clone();
                        self.end(i, line);
                        self.steps = usize::MAX;
                    }
                }
            }
            30..=49 => return self.page_reference(t, &r, off),
            50..=64 => {
                let pick: f64 = self.rng.random();
                return self.probe_line(t, |g| {
                    let v = match g.b.model_probe(id, &ModelProbe::Page(a)).ok()? {
                        ProbeValue::Record(f) => f,
                        ProbeValue::Num(_) => return None,
                    };
                    let (k, x) = v[(pick * v.len() as f64) as usize];
                    Some(format!("expect model.page({at}).{k} == {x}"))
                });
            }
            65..=79 => {
                return self.probe_line(t, |g| {
                    let v = match g.b.model_probe(id, &ModelProbe::Pte(a)).ok()? {
                        ProbeValue::Num(v) => v,
                        ProbeValue::Record(_) => return None,
                    };
                    Some(format!("expect model.pte({at}) == {}", text::num(v)))
                })
            }
            80..=89 => {
                return self.probe_line(t, |g| {
                    let v = match g.b.model_probe(id, &ModelProbe::TlbFlushes(None)).ok()? {
                        ProbeValue::Num(v) => v,
                        ProbeValue::Record(_) => return None,
                    };
                    Some(format!("expect model.tlb_flushes() == {v}"))
                })
            }
            _ => {
                let name = self.pick(&["cow_fault", "cow_reuse", "zero_page_map", "anon_fault"]);
                return self.probe_line(t, |g| {
                    let probe = ModelProbe::Counter(name.to_string());
                    let v = match g.b.model_probe(id, &probe).ok()? {
                        ProbeValue::Num(v) => v,
                        ProbeValue::Record(_) => return None,
                    };
                    Some(format!("expect model.counter({name}) == {v}"))
                });
            }
        }
        true
    }

    /// model.get_page on a mapped page (looked up first with the pure model.page; a refused
    /// one takes no reference and is taken back), or model.put_page of a reference taken
    /// earlier.
    fn page_reference(&mut self, t: usize, r: &Region, off: i64) -> bool {
        let id = self.tasks[t].id;
        let tn = self.tname(t);
        if let Some((var, pfn)) = self.page_refs.pop() {
            if self.chance(0.6) {
                let i = self.begin(format!("{tn}: model.put_page({var})"));
                let _ = self.b.model_probe(id, &ModelProbe::PutPage(pfn));
                let line = self.out[i].clone();
                self.end(i, line);
                return true;
            }
            self.page_refs.push((var, pfn));
        }
        let a = r.base.wrapping_add_signed(off);
        if self.b.model_probe(id, &ModelProbe::Page(a)).is_err() {
            return false;
        }
        let var = self.fresh("g");
        let i = self.begin(format!(
            "{tn}: {var} = model.get_page({})",
            addr(&r.var, off)
        ));
        match self.b.model_probe(id, &ModelProbe::GetPage(a)) {
            Ok(ProbeValue::Num(pfn)) => {
                let line = self.out[i].clone();
                self.end(i, line);
                self.page_refs.push((var, pfn));
                true
            }
            // No normal page there (the zero page, say): it took no reference.
            _ => {
                self.undo(i);
                false
            }
        }
    }
}
