//! Swap: the header's areas (`swap SIZE`, `swap zram SIZE`, a `swapfile` to swap on later
//! with a priority, one swapon refuses), swapoff and swapon of them mid-case, `swaps()`
//! probes, and MADV_PAGEOUT of recently written memory followed by what brings it back.
//!
//! Areas are small (4-32 MiB) so that a few THP pageouts fill them and add_to_swap() fails.
//! Swapping is invisible to data: the shadow goes on predicting contents (a lazily freed page
//! may read zero once reclaim discarded it, see refmem.rs).

use mmlab_scenario::backend::{Access, ArgValue, Syscall};
use mmlab_scenario::Backend;
use rand::RngExt;

use super::text::{self, addr, size};
use super::{nums, Gen, Kind, Ret};
use crate::refmem::{HPAGE, PAGE};

/// SWAP_FLAG_PREFER (include/linux/swap.h): the low 15 bits are the priority.
const SWAP_FLAG_PREFER: u64 = 0x8000;
/// SWAP_FLAG_DISCARD.
const SWAP_FLAG_DISCARD: u64 = 0x10000;

/// A swap area the header declares.
#[derive(Clone, Debug)]
pub(super) struct SwapArea {
    /// The name steps use (`swap0`, `zram0`, a `swapfile` NAME).
    pub name: String,
    /// Swapped on (as far as the generator saw).
    pub on: bool,
    /// swapon refuses it (a `swapfile` with holes, without a signature, empty).
    pub bad: bool,
}

impl Gen<'_> {
    /// Swap header lines, in a good share of cases.
    pub(super) fn swap_header(&mut self) {
        if !self.chance(0.4) {
            return;
        }
        let sizes = ["4M", "4M", "8M", "16M", "32M"];
        let (mut files, mut zrams) = (0, 0);
        let n = if self.chance(0.2) { 2 } else { 1 };
        for _ in 0..n {
            let sz = self.pick(&sizes);
            if self.chance(0.3) {
                self.out.push(format!("swap zram {sz}"));
                self.swaps.push(SwapArea {
                    name: format!("zram{zrams}"),
                    on: true,
                    bad: false,
                });
                zrams += 1;
            } else {
                self.out.push(format!("swap {sz}"));
                self.swaps.push(SwapArea {
                    name: format!("swap{files}"),
                    on: true,
                    bad: false,
                });
                files += 1;
            }
        }
        if self.chance(0.25) {
            // A spare file the body swaps on, often with a priority above the others.
            let sz = self.pick(&sizes);
            self.out.push(format!("swapfile spare {sz}"));
            self.swaps.push(SwapArea {
                name: "spare".into(),
                on: false,
                bad: false,
            });
        }
        if self.chance(0.1) {
            let (sz, how) = self.pick(&[("64K", "holes"), ("64K", "nosig"), ("0", "empty")]);
            self.out.push(format!("swapfile bad {sz} {how}"));
            self.swaps.push(SwapArea {
                name: "bad".into(),
                on: false,
                bad: true,
            });
        }
    }

    pub(super) fn has_swap(&self) -> bool {
        self.swaps.iter().any(|s| s.on)
    }

    /// A swap step: swapon, swapoff, a `swaps()` probe, or a pageout and what follows it.
    pub(super) fn swap_something(&mut self, t: usize) -> bool {
        if self.swaps.is_empty() {
            return false;
        }
        match self.rng.random_range(0..100) {
            0..=29 => self.swaps_probe(t),
            30..=44 => self.swapoff(t),
            45..=62 => self.swapon(t),
            _ => self.pageout_and_back(t),
        }
    }

    fn swap_call(&mut self, t: usize, name: &str, area: &str, flags: Option<u64>) -> bool {
        let (text, args) = match flags {
            Some(f) => (
                format!("{name}(\"{area}\", {})", text::num(f)),
                vec![ArgValue::Str(area.into()), ArgValue::Num(f)],
            ),
            None => (
                format!("{name}(\"{area}\")"),
                vec![ArgValue::Str(area.into())],
            ),
        };
        let sc = Syscall::new(name, args).expect("swapon(path, flags) / swapoff(path)");
        matches!(self.sys(t, &text, sc, Ret::Plain), super::Res::Ok(_))
    }

    fn swapon(&mut self, t: usize) -> bool {
        let i = self.rng.random_range(0..self.swaps.len());
        let name = self.swaps[i].name.clone();
        // Mostly areas that are off; one that is on finds EBUSY.
        if self.swaps[i].on && self.chance(0.7) {
            return false;
        }
        let mut flags = match self.rng.random_range(0..10) {
            0..=4 => 0,
            5..=8 => SWAP_FLAG_PREFER | self.rng.random_range(0..=10),
            _ => SWAP_FLAG_PREFER | 0x7fff,
        };
        if self.chance(0.15) {
            flags |= SWAP_FLAG_DISCARD;
        }
        if self.swap_call(t, "swapon", &name, Some(flags)) {
            self.swaps[i].on = true;
        }
        true
    }

    fn swapoff(&mut self, t: usize) -> bool {
        let i = self.rng.random_range(0..self.swaps.len());
        let name = self.swaps[i].name.clone();
        if !self.swaps[i].on && self.chance(0.8) {
            return false;
        }
        if self.swap_call(t, "swapoff", &name, None) {
            self.swaps[i].on = false;
        }
        true
    }

    /// `expect swaps("NAME").FIELD == v` of an area that is on. `.used` is model-only: 5.19's
    /// per-CPU slot cache holds 64 slots at a time, 6.18 has none (a known divergence).
    fn swaps_probe(&mut self, t: usize) -> bool {
        let on: Vec<String> = self
            .swaps
            .iter()
            .filter(|s| s.on && !s.bad)
            .map(|s| s.name.clone())
            .collect();
        if on.is_empty() {
            return false;
        }
        let name = on[self.rng.random_range(0..on.len())].clone();
        let fields: &[&str] = if self.cfg.host {
            &["size", "priority"]
        } else {
            &["size", "used", "used", "used", "priority"]
        };
        let field = self.pick(fields);
        self.probe_line(t, |g| {
            let l = g.b.swaps(&name).ok()??;
            let v = match field {
                "size" => text::num(l.size_kb),
                "used" => text::num(l.used_kb),
                _ => l.priority.to_string(),
            };
            Some(format!("expect swaps(\"{name}\").{field} == {v}"))
        })
    }

    /// MADV_PAGEOUT of a recently written range (or a whole region), then, often, an access
    /// that brings a page back (a load, a store, MADV_WILLNEED, or a pagemap read first).
    fn pageout_and_back(&mut self, t: usize) -> bool {
        let p = self.tasks[t].proc;
        let hot = self.procs[p].hot.clone();
        let (r, start, len) = if !hot.is_empty() && self.chance(0.7) {
            let (r, off) = hot[self.rng.random_range(0..hot.len())].clone();
            let unit = if r.huge { HPAGE } else { PAGE } as i64;
            let n = self.pick(&[1u64, 1, 2, 4, 512]);
            let start = off.div_euclid(unit) * unit;
            (r, start, n * unit as u64)
        } else {
            let Some(r) = self.pick_region(t, |r| !r.src) else {
                return false;
            };
            let len = r.len;
            (r, 0, len)
        };
        let Some((r, start, len)) = self.below(t, r, start, len) else {
            return false;
        };
        if r.kind == Kind::Anon && start < 0 {
            return false;
        }
        let call = format!(
            "madvise({}, {}, MADV_PAGEOUT)",
            addr(&r.var, start),
            size(len)
        );
        let sc = nums(
            "madvise",
            &[
                r.base.wrapping_add_signed(start),
                len,
                mmlab::uapi::MADV_PAGEOUT,
            ],
        );
        self.sys(t, &call, sc, Ret::Plain);
        if self.chance(0.3) {
            self.probe_line(t, |g| {
                let id = g.tasks[t].id;
                let v = g.b.pagemap(id, r.base.wrapping_add_signed(start)).ok()?;
                Some(format!(
                    "expect pagemap({}).swapped == {}",
                    addr(&r.var, start),
                    v >> 62 & 1
                ))
            });
        }
        if self.chance(0.6) && self.may_block(t) {
            // What brings it back: a load or a store of a page of the range.
            let pages = (len / PAGE).max(1);
            let off = start + (self.rng.random_range(0..pages) * PAGE) as i64;
            let off = off + self.pick(&[0i64, 0, 1, 100, PAGE as i64 - 1]);
            let a = r.base.wrapping_add_signed(off);
            if a >= self.limit(t, a) {
                return true;
            }
            let at = addr(&r.var, off);
            if self.chance(0.6) {
                let _ = self.access(t, &format!("load({at})"), Access::Load(a));
            } else {
                let v: u8 = self.rng.random_range(1..=255);
                let text = format!("store({at}, {})", text::byte(v));
                let _ = self.access(t, &text, Access::Store(a, v));
            }
        }
        true
    }
}
