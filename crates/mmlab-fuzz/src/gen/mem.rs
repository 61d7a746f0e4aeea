//! Mappings and accesses: mmap in its kinds (anonymous, shared, memfd, hugetlb, THP-aligned,
//! MAP_FIXED over a mapping, invalid arguments), munmap, mremap, mprotect, madvise with every
//! advice the language knows, loads, stores, memset, touch, `mem()` checks, and `repeat`.

use mmlab::uapi::*;
use mmlab_scenario::backend::{Access, Syscall};
use mmlab_scenario::Backend;
use rand::RngExt;

use super::text::{self, addr, size};
use super::{nums, reach_limit, Gen, Kind, Region, Res, Ret, ALIGNED_SLOTS};
use crate::refmem::{HPAGE, PAGE};

/// prot values by weight.
const PROTS: &[(u32, &[(&str, u64)])] = &[
    (60, &[("PROT_READ", PROT_READ), ("PROT_WRITE", PROT_WRITE)]),
    (14, &[("PROT_READ", PROT_READ)]),
    (8, &[]),
    (
        5,
        &[
            ("PROT_READ", PROT_READ),
            ("PROT_WRITE", PROT_WRITE),
            ("PROT_EXEC", PROT_EXEC),
        ],
    ),
    (4, &[("PROT_WRITE", PROT_WRITE)]),
    (4, &[("PROT_EXEC", PROT_EXEC)]),
    (5, &[("PROT_READ", PROT_READ), ("PROT_EXEC", PROT_EXEC)]),
];

/// Advice by weight; 99 is no advice at all (EINVAL).
const ADVICE: &[(u32, &str)] = &[
    (14, "MADV_DONTNEED"),
    (7, "MADV_FREE"),
    (6, "MADV_REMOVE"),
    (6, "MADV_POPULATE_READ"),
    (8, "MADV_POPULATE_WRITE"),
    (6, "MADV_PAGEOUT"),
    (5, "MADV_COLD"),
    (4, "MADV_WILLNEED"),
    (6, "MADV_HUGEPAGE"),
    (3, "MADV_NOHUGEPAGE"),
    (3, "MADV_DONTFORK"),
    (2, "MADV_DOFORK"),
    (4, "MADV_WIPEONFORK"),
    (2, "MADV_KEEPONFORK"),
    (2, "MADV_MERGEABLE"),
    (2, "MADV_UNMERGEABLE"),
    (1, "MADV_NORMAL"),
    (1, "MADV_RANDOM"),
    (1, "MADV_SEQUENTIAL"),
    (1, "MADV_DONTDUMP"),
    (1, "MADV_DODUMP"),
    (3, "MADV_DONTNEED_LOCKED"),
    (1, "99"),
];

/// Slots are 8 MiB apart: room for two huge pages and a wide gap on each side.
const ALIGNED_SLOT: u64 = 8 << 20;

/// MAP_SHARED or MAP_PRIVATE, by name.
fn map_type(shared: bool) -> (&'static str, u64) {
    if shared {
        ("MAP_SHARED", MAP_SHARED)
    } else {
        ("MAP_PRIVATE", MAP_PRIVATE)
    }
}

/// A scenario constant's value (the advice names above, all in mmlab's uapi table).
fn uapi(name: &str) -> u64 {
    NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| name.parse().expect("a uapi name or a number"))
}

fn weighted<'x, T>(g: &mut Gen, xs: &'x [(u32, T)]) -> &'x T {
    let total: u32 = xs.iter().map(|x| x.0).sum();
    let mut r = g.rng.random_range(0..total);
    for (w, x) in xs {
        if r < *w {
            return x;
        }
        r -= w;
    }
    &xs[0].1
}

/// One body line of a `repeat` block.
enum BodyOp {
    Sys(String, Syscall),
    Acc(String, Access),
}

impl Gen<'_> {
    pub(super) fn prot(&mut self) -> (String, u64) {
        let p = *weighted(self, PROTS);
        text::flags(p, "PROT_NONE")
    }

    /// A region of `t`'s process, the more recent the likelier.
    pub(super) fn pick_region(
        &mut self,
        t: usize,
        want: impl Fn(&Region) -> bool,
    ) -> Option<Region> {
        let p = self.tasks[t].proc;
        let rs: Vec<Region> = self.procs[p]
            .regions
            .iter()
            .filter(|r| want(r))
            .cloned()
            .collect();
        if rs.is_empty() {
            return None;
        }
        let n = rs.len();
        let i = if self.chance(0.5) {
            n - 1 - self.rng.random_range(0..n.min(3))
        } else {
            self.rng.random_range(0..n)
        };
        Some(rs[i].clone())
    }

    /// How far a range starting at `a` in `t`'s process may reach (see `reach_limit`): a real
    /// process has its own program, libraries and stack above its highest mapping, the
    /// model's has nothing there, and the case stays below.
    pub(super) fn limit(&mut self, t: usize, a: u64) -> u64 {
        let id = self.tasks[t].id;
        reach_limit(&self.b.maps(id).unwrap_or_default(), a)
    }

    /// An address within the process's reach (see `limit`).
    pub(super) fn pick_addr(&mut self, t: usize) -> Option<(Region, i64)> {
        for _ in 0..4 {
            let (r, off) = self.pick_any_addr(t)?;
            let a = r.base.wrapping_add_signed(off);
            if a < self.limit(t, a) {
                return Some((r, off));
            }
        }
        None
    }

    /// An address: often one written recently or in a registered range, else in or around a
    /// region.
    fn pick_any_addr(&mut self, t: usize) -> Option<(Region, i64)> {
        let p = self.tasks[t].proc;
        let hot = self.procs[p].hot.clone();
        if !hot.is_empty() && self.chance(0.4) {
            let (r, off) = hot[self.rng.random_range(0..hot.len())].clone();
            let off = match self.rng.random_range(0..4) {
                0 | 1 => off,
                2 => off + self.rng.random_range(-64..64),
                _ => (off & !(PAGE as i64 - 1)) + self.rng.random_range(0..PAGE as i64),
            };
            return Some((r, off));
        }
        let ranges: Vec<(Region, i64, u64)> = self
            .uffds
            .iter()
            .filter(|u| u.owner == p)
            .flat_map(|u| u.ranges.iter().cloned())
            .collect();
        if !ranges.is_empty() && self.chance(0.35) {
            let (r, start, len) = ranges[self.rng.random_range(0..ranges.len())].clone();
            return Some((r, start + self.rng.random_range(0..len.max(1)) as i64));
        }
        let r = self.pick_region(t, |_| true)?;
        let len = r.len as i64;
        let off = match self.rng.random_range(0..100) {
            0..=79 => {
                let page = self.rng.random_range(0..r.len.div_ceil(PAGE)) as i64 * PAGE as i64;
                let byte = if self.chance(0.5) {
                    0
                } else {
                    self.rng.random_range(0..PAGE) as i64
                };
                (page + byte).min(len - 1)
            }
            80..=87 => len + self.rng.random_range(0..PAGE) as i64,
            88..=93 => -(self.rng.random_range(1..=PAGE) as i64),
            _ => len - 1 - self.rng.random_range(0..64),
        };
        Some((r, off))
    }

    /// A page range: around a recently written address, or in or around a region (units of
    /// huge pages on hugetlb): start, length; cut at the top of the process's mappings.
    pub(super) fn pick_range(&mut self, t: usize) -> Option<(Region, i64, u64)> {
        let hot = self.procs[self.tasks[t].proc].hot.clone();
        let (r, start, len) = if !hot.is_empty() && self.chance(0.3) {
            let (r, off) = hot[self.rng.random_range(0..hot.len())].clone();
            let unit = if r.huge { HPAGE } else { PAGE } as i64;
            let n = self.rng.random_range(1..=2) as u64;
            (r, off.div_euclid(unit) * unit, n * unit as u64)
        } else {
            let r = self.pick_region(t, |_| true)?;
            self.range_in(&r)
        };
        self.below(t, r, start, len)
    }

    /// The range cut to the process's reach (None if it starts out of it; see `limit`).
    pub(super) fn below(
        &mut self,
        t: usize,
        r: Region,
        start: i64,
        len: u64,
    ) -> Option<(Region, i64, u64)> {
        let first = r.base.wrapping_add_signed(start);
        let end = self.limit(t, first);
        if first >= end {
            return None;
        }
        Some((r, start, len.min(end - first)))
    }

    /// How far an access starting at `off` in `r` may reach (see `limit`).
    pub(super) fn room(&mut self, t: usize, r: &Region, off: i64) -> u64 {
        let a = r.base.wrapping_add_signed(off);
        self.limit(t, a).saturating_sub(a)
    }

    /// Remember an address written (the last few).
    fn heat(&mut self, t: usize, r: &Region, off: i64) {
        let hot = &mut self.procs[self.tasks[t].proc].hot;
        if hot.len() >= 24 {
            hot.remove(0);
        }
        hot.push((r.clone(), off));
    }

    pub(super) fn range_in(&mut self, r: &Region) -> (Region, i64, u64) {
        let unit = if r.huge { HPAGE } else { PAGE };
        let pages = r.len.div_ceil(unit).max(1);
        let first = match self.rng.random_range(0..100) {
            0..=91 => self.rng.random_range(0..pages) as i64,
            92..=96 => pages as i64,
            _ => -1,
        };
        let room = (pages as i64 - first).max(1) as u64;
        let mut n = self.rng.random_range(1..=room);
        if self.chance(0.05) {
            n += 1;
        }
        let mut start = first * unit as i64;
        let mut len = n * unit;
        match self.rng.random_range(0..100) {
            0 => start += 1,
            1..=3 if r.huge => start += PAGE as i64,
            4..=5 => len -= if r.huge { PAGE } else { 100 },
            6 => len = 0,
            _ => {}
        }
        (r.clone(), start, len)
    }

    pub(super) fn add_region(&mut self, t: usize, r: Region) {
        let p = self.tasks[t].proc;
        self.procs[p].regions.push(r);
    }

    fn region_room(&self, t: usize) -> bool {
        self.procs[self.tasks[t].proc].regions.len() < 14
    }

    // ---- mmap ----

    pub(super) fn map_something(&mut self, t: usize) -> bool {
        // MAP_FIXED over a registered range may sleep on an UNMAP event.
        if !self.region_room(t) || !self.may_block(t) {
            return false;
        }
        match self.rng.random_range(0..100) {
            0..=31 => self.map_anon(t, false),
            32..=43 => self.map_anon(t, true),
            44..=63 => self.map_memfd(t, false),
            64..=73 => self.map_huge(t),
            74..=85 => self.map_thp(t),
            86..=94 => self.map_fixed_over(t),
            _ => self.map_bad(t),
        }
    }

    fn map_extras(&mut self, fl: &mut Vec<(&'static str, u64)>, private_anon: bool) {
        if self.chance(0.12) {
            fl.push(("MAP_POPULATE", MAP_POPULATE));
        }
        if self.chance(0.05) {
            fl.push(("MAP_LOCKED", MAP_LOCKED));
        }
        if self.chance(0.08) {
            fl.push(("MAP_NORESERVE", MAP_NORESERVE));
        }
        if private_anon && self.chance(0.03) {
            fl.push(("MAP_GROWSDOWN", MAP_GROWSDOWN));
        }
    }

    /// mmap() and, on success, a region named by the bound variable.
    #[allow(clippy::too_many_arguments)]
    fn mmap_region(
        &mut self,
        t: usize,
        at: (&str, u64),
        len: u64,
        prot: (String, u64),
        fl: &[(&'static str, u64)],
        fd: (&str, i64),
        off: u64,
        kind: Kind,
        huge: bool,
    ) -> Option<Region> {
        let (ft, fv) = text::flags(fl, "0");
        let var = self.fresh("p");
        let call = format!(
            "mmap({}, {}, {}, {ft}, {}, {})",
            at.0,
            size(len),
            prot.0,
            fd.0,
            size(off)
        );
        let sc = nums("mmap", &[at.1, len, prot.1, fv, fd.1 as u64, off]);
        let r = Region {
            var: var.clone(),
            base: 0,
            len,
            kind,
            huge,
            src: false,
        };
        match self.sys(t, &call, sc, Ret::Bind(var.clone())) {
            Res::Ok(a) => {
                let r = Region { base: a, ..r };
                self.add_region(t, r.clone());
                // Give it contents worth reading back, as a test would.
                if prot.1 & PROT_WRITE != 0 && self.may_block(t) && self.chance(0.35) {
                    let v: u8 = self.rng.random_range(1..=255);
                    let n = len.min(16 * PAGE);
                    let text = format!("memset({}, {}, {})", r.var, text::byte(v), size(n));
                    if self.access(t, &text, Access::Memset(a, v, n)).is_ok() {
                        self.heat(t, &r, 0);
                        self.heat(t, &r, n as i64 - 1);
                    }
                }
                Some(r)
            }
            Res::Asleep => {
                self.pending_regions.insert(var, r);
                None
            }
            Res::Err(_) => None,
        }
    }

    fn map_anon(&mut self, t: usize, shared: bool) -> bool {
        // Large ones one page short of whole huge pages (see `aligned_place`).
        let pages = if self.chance(0.04) {
            512 * self.rng.random_range(1..=2) - 1
        } else {
            self.pick(&[1, 1, 2, 3, 4, 4, 8, 16, 32, 64])
        };
        let prot = self.prot();
        let mut fl = vec![map_type(shared), ("MAP_ANONYMOUS", MAP_ANONYMOUS)];
        self.map_extras(&mut fl, !shared);
        let kind = if shared { Kind::SharedAnon } else { Kind::Anon };
        let at = if shared {
            self.shmem_place(pages * PAGE, &mut fl)
        } else {
            ("NULL".into(), 0)
        };
        self.mmap_region(
            t,
            (&at.0, at.1),
            pages * PAGE,
            prot,
            &fl,
            ("-1", -1),
            0,
            kind,
            false,
        );
        true
    }

    /// A 2 MiB-aligned place for a mapping, chosen by the case: the next of a row of slots
    /// far below both kernels' mmap areas, mapped with MAP_FIXED_NOREPLACE. The kernel's own
    /// alignment (hugetlbfs, shmem THP, and since 6.7 large anonymous mappings) leaves a gap
    /// above the mapping whose size depends on where ASLR put the mappings around it, and an
    /// aligned range carved from a larger reservation has the rest of it where ASLR put it:
    /// either way later placements and VMA bounds would differ from run to run. A slot is the
    /// same on every run and machine, with nothing else near it.
    fn aligned_place(&mut self) -> (String, u64) {
        let a = ALIGNED_SLOTS + self.slots * ALIGNED_SLOT;
        self.slots += 1;
        (text::num(a), a)
    }

    /// Where a shmem mapping (shared anonymous memory, a memfd) of `len` bytes goes: on the
    /// host, one of 2 MiB or more at an aligned place, as shmem_get_unmapped_area() aligns
    /// it where the shm mount may hold huge pages (see `aligned_place`); else where the
    /// kernel puts it.
    fn shmem_place(&mut self, len: u64, fl: &mut Vec<(&'static str, u64)>) -> (String, u64) {
        if self.cfg.host && len >= HPAGE {
            fl.push(("MAP_FIXED_NOREPLACE", MAP_FIXED_NOREPLACE));
            self.aligned_place()
        } else {
            ("NULL".into(), 0)
        }
    }

    /// Map a memfd of the process (making one if it has none); hugetlbfs memfds at an aligned
    /// place (see `aligned_place`).
    pub(super) fn map_memfd(&mut self, t: usize, huge: bool) -> bool {
        let p = self.tasks[t].proc;
        let fds: Vec<usize> = (0..self.procs[p].memfds.len())
            .filter(|&i| self.procs[p].memfds[i].huge == huge)
            .collect();
        let m = if fds.is_empty() || self.chance(0.3) {
            match self.create_memfd(t, huge, true) {
                Some(m) => m,
                None => return true,
            }
        } else {
            self.pick(&fds)
        };
        let f = self.procs[p].memfds[m].clone();
        let unit = if huge { HPAGE } else { PAGE };
        let units = (f.size / unit).max(1);
        let off = if self.chance(0.7) {
            0
        } else {
            self.rng.random_range(0..=units) * unit
        };
        let n = self.rng.random_range(1..=units + 1);
        let shared = self.chance(0.65);
        let mut fl = vec![map_type(shared)];
        self.map_extras(&mut fl, false);
        let at = if huge {
            fl.push(("MAP_FIXED_NOREPLACE", MAP_FIXED_NOREPLACE));
            self.aligned_place()
        } else {
            self.shmem_place(n * unit, &mut fl)
        };
        let prot = self.prot();
        let fdv = (f.var.as_str(), f.fd as i64);
        let kind = Kind::File { shared };
        self.mmap_region(t, (&at.0, at.1), n * unit, prot, &fl, fdv, off, kind, huge);
        true
    }

    /// MAP_HUGETLB memory (or a hugetlbfs memfd), at an aligned place.
    fn map_huge(&mut self, t: usize) -> bool {
        if self.chance(0.5) {
            return self.map_memfd(t, true);
        }
        let k = self.rng.random_range(1..=2);
        let (a, base) = self.aligned_place();
        let shared = self.chance(0.4);
        let mut fl = vec![
            map_type(shared),
            ("MAP_ANONYMOUS", MAP_ANONYMOUS),
            ("MAP_HUGETLB", MAP_HUGETLB),
            ("MAP_FIXED_NOREPLACE", MAP_FIXED_NOREPLACE),
        ];
        self.map_extras(&mut fl, false);
        let prot = self.prot();
        let kind = if shared { Kind::SharedAnon } else { Kind::Anon };
        let len = k * HPAGE;
        self.mmap_region(t, (&a, base), len, prot, &fl, ("-1", -1), 0, kind, true);
        true
    }

    /// A 2 MiB-aligned mapping where THPs can go: anonymous, shared or a memfd.
    fn map_thp(&mut self, t: usize) -> bool {
        let k = self.rng.random_range(1..=2);
        let len = k * HPAGE;
        let (kind, fd, mut fl) = match self.rng.random_range(0..100) {
            0..=54 => (
                Kind::Anon,
                None,
                vec![map_type(false), ("MAP_ANONYMOUS", MAP_ANONYMOUS)],
            ),
            55..=69 => (
                Kind::SharedAnon,
                None,
                vec![map_type(true), ("MAP_ANONYMOUS", MAP_ANONYMOUS)],
            ),
            n => {
                let shared = n < 92;
                let Some(m) = self.create_memfd(t, false, false) else {
                    return true;
                };
                self.ftruncate_to(t, m, len);
                (Kind::File { shared }, Some(m), vec![map_type(shared)])
            }
        };
        let (a, base) = self.aligned_place();
        fl.push(("MAP_FIXED_NOREPLACE", MAP_FIXED_NOREPLACE));
        let p = self.tasks[t].proc;
        let (fdt, fdv) = match fd {
            Some(m) => {
                let f = &self.procs[p].memfds[m];
                (f.var.clone(), f.fd as i64)
            }
            None => ("-1".into(), -1),
        };
        let rw = ("PROT_READ | PROT_WRITE".to_string(), PROT_READ | PROT_WRITE);
        let at = (a.as_str(), base);
        let fdx = (fdt.as_str(), fdv);
        let Some(r) = self.mmap_region(t, at, len, rw, &fl, fdx, 0, kind, false) else {
            return true;
        };
        if self.chance(0.4) {
            let call = format!("madvise({}, {}, MADV_HUGEPAGE)", r.var, size(len));
            let sc = nums("madvise", &[base, len, MADV_HUGEPAGE]);
            self.sys(t, &call, sc, Ret::Plain);
        }
        true
    }

    /// MAP_FIXED (or MAP_FIXED_NOREPLACE) over part of a mapping.
    fn map_fixed_over(&mut self, t: usize) -> bool {
        let Some((r, start, len)) = self.pick_range(t) else {
            return false;
        };
        let at = addr(&r.var, start);
        let noreplace = self.chance(0.2);
        let shared = self.chance(0.3);
        let mut fl = vec![
            map_type(shared),
            ("MAP_ANONYMOUS", MAP_ANONYMOUS),
            if noreplace {
                ("MAP_FIXED_NOREPLACE", MAP_FIXED_NOREPLACE)
            } else {
                ("MAP_FIXED", MAP_FIXED)
            },
        ];
        if r.huge && self.chance(0.7) {
            fl.push(("MAP_HUGETLB", MAP_HUGETLB));
        }
        self.map_extras(&mut fl, !shared);
        let prot = self.prot();
        let kind = if shared { Kind::SharedAnon } else { Kind::Anon };
        let huge = fl.iter().any(|f| f.1 == MAP_HUGETLB);
        let value = r.base.wrapping_add_signed(start);
        self.mmap_region(t, (&at, value), len, prot, &fl, ("-1", -1), 0, kind, huge);
        true
    }

    /// mmap() with an argument Linux refuses (each case its own errno).
    fn map_bad(&mut self, t: usize) -> bool {
        let rw = ("PROT_READ | PROT_WRITE".to_string(), PROT_READ | PROT_WRITE);
        let pa = [
            ("MAP_PRIVATE", MAP_PRIVATE),
            ("MAP_ANONYMOUS", MAP_ANONYMOUS),
        ];
        match self.rng.random_range(0..7) {
            0 => self.mmap_region(t, ("NULL", 0), 0, rw, &pa, ("-1", -1), 0, Kind::Anon, false),
            1 => self.mmap_region(
                t,
                ("NULL", 0),
                PAGE,
                rw,
                &[("MAP_ANONYMOUS", MAP_ANONYMOUS)],
                ("-1", -1),
                0,
                Kind::Anon,
                false,
            ),
            2 => self.mmap_region(
                t,
                ("NULL", 0),
                PAGE,
                rw,
                &[("MAP_SHARED", MAP_SHARED)],
                ("99", 99),
                0,
                Kind::File { shared: true },
                false,
            ),
            3 => self.mmap_region(
                t,
                ("0x10001001", 0x1000_1001),
                PAGE,
                rw,
                &[
                    ("MAP_PRIVATE", MAP_PRIVATE),
                    ("MAP_ANONYMOUS", MAP_ANONYMOUS),
                    ("MAP_FIXED", MAP_FIXED),
                ],
                ("-1", -1),
                0,
                Kind::Anon,
                false,
            ),
            4 => self.mmap_region(
                t,
                ("NULL", 0),
                1 << 46,
                rw,
                &pa,
                ("-1", -1),
                0,
                Kind::Anon,
                false,
            ),
            5 => {
                let p = self.tasks[t].proc;
                let Some(f) = self.procs[p].memfds.first().cloned() else {
                    return false;
                };
                self.mmap_region(
                    t,
                    ("NULL", 0),
                    PAGE,
                    rw,
                    &[("MAP_SHARED", MAP_SHARED)],
                    (&f.var, f.fd as i64),
                    100,
                    Kind::File { shared: true },
                    f.huge,
                )
            }
            _ => self.mmap_region(
                t,
                ("NULL", 0),
                PAGE,
                rw,
                &[
                    ("MAP_SHARED_VALIDATE", MAP_SHARED_VALIDATE),
                    ("MAP_ANONYMOUS", MAP_ANONYMOUS),
                    ("MAP_SYNC", MAP_SYNC),
                ],
                ("-1", -1),
                0,
                Kind::SharedAnon,
                false,
            ),
        };
        true
    }

    // ---- munmap, mremap, mprotect, madvise ----

    pub(super) fn munmap_something(&mut self, t: usize) -> bool {
        if !self.may_block(t) {
            return false;
        }
        let Some((r, start, len)) = self.pick_range(t) else {
            return false;
        };
        let call = format!("munmap({}, {})", addr(&r.var, start), size(len));
        let sc = nums("munmap", &[r.base.wrapping_add_signed(start), len]);
        self.sys(t, &call, sc, Ret::Plain);
        true
    }

    pub(super) fn mremap_something(&mut self, t: usize) -> bool {
        if !self.may_block(t) || !self.region_room(t) {
            return false;
        }
        let Some(r) = self.pick_region(t, |_| true) else {
            return false;
        };
        let unit = if r.huge { HPAGE } else { PAGE };
        let units = r.len.div_ceil(unit).max(1);
        let mut old_off = 0i64;
        let mut old_len = units * unit;
        let mut new_addr: Option<(String, u64)> = None;
        let mut fl: Vec<(&str, u64)> = vec![];
        let new_len;
        match self.rng.random_range(0..100) {
            // shrink in place
            0..=14 => new_len = self.rng.random_range(1..=units) * unit,
            // grow, in place or moving
            15..=44 => {
                new_len = (units + self.rng.random_range(1..=4)) * unit;
                if self.chance(0.7) {
                    fl.push(("MREMAP_MAYMOVE", MREMAP_MAYMOVE));
                }
            }
            // move part of it onto another mapping
            45..=64 => {
                let other = self.pick_region(t, |_| true).expect("one exists");
                let n = self.rng.random_range(1..=units);
                old_off = self.rng.random_range(0..=units - n) as i64 * unit as i64;
                old_len = n * unit;
                new_len = old_len;
                fl.push(("MREMAP_MAYMOVE", MREMAP_MAYMOVE));
                fl.push(("MREMAP_FIXED", MREMAP_FIXED));
                new_addr = Some((other.var.clone(), other.base));
            }
            // MREMAP_DONTUNMAP
            65..=79 => {
                new_len = old_len;
                fl.push(("MREMAP_MAYMOVE", MREMAP_MAYMOVE));
                fl.push(("MREMAP_DONTUNMAP", MREMAP_DONTUNMAP));
            }
            // old_len 0: a second mapping of shared pages
            80..=87 => {
                old_len = 0;
                new_len = units * unit;
                fl.push(("MREMAP_MAYMOVE", MREMAP_MAYMOVE));
            }
            // invalid arguments
            _ => {
                new_len = old_len;
                match self.rng.random_range(0..4) {
                    0 => old_off = 1,
                    1 => fl.push(("MREMAP_FIXED", MREMAP_FIXED)),
                    2 => fl.push(("8", 8)),
                    _ => fl.push(("MREMAP_DONTUNMAP", MREMAP_DONTUNMAP)),
                }
            }
        }
        if new_addr.is_none() && fl.iter().any(|f| f.1 == MREMAP_FIXED) {
            new_addr = Some(("NULL".into(), 0));
        }
        // Where the kernel picks the new place for hugetlb or 2 MiB and more, it aligns it and
        // leaves a gap ASLR sizes (see `aligned_place`): such moves go only to MREMAP_FIXED.
        let kernel_placed = fl.iter().any(|f| f.1 == MREMAP_MAYMOVE)
            && new_addr.is_none()
            && (r.huge || new_len >= HPAGE);
        if kernel_placed {
            return false;
        }
        // Growing in place or a target past the top of the mappings meets what a real
        // process has there and the model has not (see `top`).
        let old = r.base.wrapping_add_signed(old_off);
        let target = new_addr.as_ref().map_or(0, |n| n.1);
        let out = |g: &mut Self, at: u64| at.saturating_add(old_len.max(new_len)) > g.limit(t, at);
        if out(self, old) || target != 0 && out(self, target) {
            return false;
        }

        let (ft, fv) = text::flags(&fl, "0");
        let var = self.fresh("p");
        let old = r.base.wrapping_add_signed(old_off);
        let mut call = format!(
            "mremap({}, {}, {}, {ft}",
            addr(&r.var, old_off),
            size(old_len),
            size(new_len)
        );
        if let Some((na, _)) = &new_addr {
            call.push_str(&format!(", {na}"));
        }
        call.push(')');
        let sc = nums(
            "mremap",
            &[
                old,
                old_len,
                new_len,
                fv,
                new_addr.as_ref().map_or(0, |n| n.1),
            ],
        );
        let region = Region {
            var: var.clone(),
            base: 0,
            len: new_len,
            ..r
        };
        match self.sys(t, &call, sc, Ret::Bind(var.clone())) {
            Res::Ok(q) => self.add_region(t, Region { base: q, ..region }),
            Res::Asleep => {
                self.pending_regions.insert(var, region);
            }
            Res::Err(_) => {}
        }
        true
    }

    pub(super) fn mprotect_something(&mut self, t: usize) -> bool {
        let Some((r, start, len)) = self.pick_range(t) else {
            return false;
        };
        let (mut pt, mut pv) = self.prot();
        if self.chance(0.02) {
            pt.push_str(" | PROT_GROWSDOWN");
            pv |= PROT_GROWSDOWN;
        }
        let call = format!("mprotect({}, {}, {pt})", addr(&r.var, start), size(len));
        let sc = nums("mprotect", &[r.base.wrapping_add_signed(start), len, pv]);
        self.sys(t, &call, sc, Ret::Plain);
        true
    }

    pub(super) fn madvise_something(&mut self, t: usize) -> bool {
        let Some((r, start, len)) = self.pick_range(t) else {
            return false;
        };
        let mut name = *weighted(self, ADVICE);
        // Spend most advice where it acts (REMOVE on shared memory, FREE on private
        // anonymous memory); the rest finds the errnos.
        let shared = matches!(r.kind, Kind::SharedAnon | Kind::File { shared: true });
        let misplaced =
            name == "MADV_REMOVE" && !shared || name == "MADV_FREE" && r.kind != Kind::Anon;
        if misplaced && self.chance(0.7) {
            name = "MADV_DONTNEED";
        }
        // With swap on, pageout really swaps: spend more advice on it.
        if self.has_swap() && self.chance(0.2) {
            name = "MADV_PAGEOUT";
        }
        let advice = uapi(name);
        let may_sleep = matches!(
            advice,
            MADV_DONTNEED
                | MADV_DONTNEED_LOCKED
                | MADV_REMOVE
                | MADV_POPULATE_READ
                | MADV_POPULATE_WRITE
        );
        if may_sleep && !self.may_block(t) {
            return false;
        }
        let call = format!("madvise({}, {}, {name})", addr(&r.var, start), size(len));
        let sc = nums("madvise", &[r.base.wrapping_add_signed(start), len, advice]);
        self.sys(t, &call, sc, Ret::Plain);
        true
    }

    // ---- accesses ----

    pub(super) fn access_something(&mut self, t: usize) -> bool {
        if !self.may_block(t) {
            return false;
        }
        let Some((r, off)) = self.pick_addr(t) else {
            return false;
        };
        let at = addr(&r.var, off);
        let a = r.base.wrapping_add_signed(off);
        let v: u8 = self.rng.random_range(1..=255);
        let room = (r.len as i64 - off).max(1) as u64;
        let reach = self.room(t, &r, off);
        match self.rng.random_range(0..100) {
            0..=44 => {
                let _ = self.access(t, &format!("load({at})"), Access::Load(a));
            }
            45..=72 => {
                let text = format!("store({at}, {})", text::byte(v));
                if self.access(t, &text, Access::Store(a, v)).is_ok() {
                    self.heat(t, &r, off);
                }
            }
            73..=84 => {
                let len = self.pick(&[1, 100, PAGE, 2 * PAGE, 4 * PAGE, 16 * PAGE]);
                let len = if self.chance(0.8) { len.min(room) } else { len };
                let len = len.min(reach).max(1);
                let text = format!("memset({at}, {}, {})", text::byte(v), size(len));
                if self.access(t, &text, Access::Memset(a, v, len)).is_ok() {
                    self.heat(t, &r, off);
                    self.heat(t, &r, off + len as i64 - 1);
                }
            }
            85..=89 => {
                let len = self
                    .pick(&[PAGE, 4 * PAGE, 16 * PAGE, r.len])
                    .min(reach)
                    .max(1);
                let _ = self.access(
                    t,
                    &format!("touch({at}, {})", size(len)),
                    Access::Touch(a, len),
                );
            }
            _ => return self.mem_check(t, &r),
        }
        true
    }

    /// `expect mem(a, len) == v` where the shadow knows every byte is `v` and that the reads
    /// complete (the model's answer is then judged).
    fn mem_check(&mut self, t: usize, r: &Region) -> bool {
        let pages = r.len.div_ceil(PAGE);
        let first = self.rng.random_range(0..pages);
        let n = self.rng.random_range(1..=(pages - first).min(4));
        let (start, len) = (r.base + first * PAGE, n * PAGE);
        let id = self.tasks[t].id;
        let mut want = None;
        let mut a = start;
        while a < start + len {
            let e = self.b.predict(id, a, false);
            if e.alt.is_some() {
                return false;
            }
            match (e.fault, e.byte, want) {
                (Some(None), Some(b), None) => want = Some(b),
                (Some(None), Some(b), Some(w)) if b == w => {}
                _ => return false,
            }
            a += 1;
        }
        let Some(v) = want else {
            return false;
        };
        let tn = self.tname(t);
        let line = format!(
            "{tn}: expect mem({}, {}) == {}",
            addr(&r.var, (first * PAGE) as i64),
            size(len),
            text::byte(v)
        );
        let i = self.begin(line.clone());
        let _ = self.b.mismatch(id, start, len, v);
        self.end(i, line);
        true
    }

    // ---- repeat ----

    /// `repeat N { ... }` over steps that give the same outcome each time round (else the
    /// block is taken back and the case ends: the model already ran it).
    pub(super) fn repeat_something(&mut self, t: usize) -> bool {
        let p = self.tasks[t].proc;
        if self.uffds.iter().any(|u| u.owner == p) {
            return false;
        }
        let mut body = vec![];
        for _ in 0..self.rng.random_range(1..=3) {
            let Some((r, off)) = self.pick_addr(t) else {
                return false;
            };
            let at = addr(&r.var, off);
            let a = r.base.wrapping_add_signed(off);
            let (_, start, len) = self.range_in(&r);
            let Some((_, start, len)) = self.below(t, r.clone(), start, len) else {
                return false;
            };
            let range = (addr(&r.var, start), r.base.wrapping_add_signed(start), len);
            let op = match self.rng.random_range(0..5) {
                0 => BodyOp::Acc(format!("load({at})"), Access::Load(a)),
                1 => {
                    let v: u8 = self.rng.random_range(1..=255);
                    BodyOp::Acc(
                        format!("store({at}, {})", text::byte(v)),
                        Access::Store(a, v),
                    )
                }
                2 => {
                    let (pt, pv) = self.prot();
                    BodyOp::Sys(
                        format!("mprotect({}, {}, {pt})", range.0, size(range.2)),
                        nums("mprotect", &[range.1, range.2, pv]),
                    )
                }
                _ => {
                    let name = self.pick(&[
                        "MADV_DONTNEED",
                        "MADV_COLD",
                        "MADV_PAGEOUT",
                        "MADV_WILLNEED",
                        "MADV_POPULATE_WRITE",
                    ]);
                    BodyOp::Sys(
                        format!("madvise({}, {}, {name})", range.0, size(range.2)),
                        nums("madvise", &[range.1, range.2, uapi(name)]),
                    )
                }
            };
            body.push(op);
        }
        let n = self.rng.random_range(2..=5);
        let tn = self.tname(t);
        let id = self.tasks[t].id;
        let first = self.begin(format!("repeat {n} {{"));
        for op in &body {
            let line = match op {
                BodyOp::Sys(s, _) | BodyOp::Acc(s, _) => format!("  {tn}: {s}"),
            };
            self.out.push(line);
        }
        self.out.push("}".into());
        let mut seen: Vec<Vec<String>> = vec![vec![]; body.len()];
        for _ in 0..n {
            for (k, op) in body.iter().enumerate() {
                let form = match op {
                    BodyOp::Sys(s, c) => match self.b.syscall(id, c) {
                        _ if self.b.sleeping(id) => "asleep".to_string(),
                        Ok(_) => format!("  {tn}: {s}"),
                        Err(e) => format!("  {tn}: expect {s} fails {}", e.name()),
                    },
                    BodyOp::Acc(s, a) => match self.b.access(id, *a) {
                        Err(mmlab::Signal::Userfault) => "asleep".to_string(),
                        Err(sig) => format!("  {}", text::faults(&tn, s, sig)),
                        Ok(v) if matches!(a, Access::Load(_)) => {
                            format!("  {tn}: expect {s} == {}", text::byte(v as u8))
                        }
                        Ok(_) => format!("  {tn}: {s}"),
                    },
                };
                let _ = self.b.check();
                seen[k].push(form);
            }
        }
        let same = seen
            .iter()
            .all(|f| f.iter().all(|x| x == &f[0] && x != "asleep"));
        if !same {
            self.out.truncate(first);
            self.steps = usize::MAX;
            return true;
        }
        for (k, f) in seen.into_iter().enumerate() {
            self.out[first + 1 + k] = f[0].clone();
        }
        self.steps += body.len() * n;
        true
    }
}
