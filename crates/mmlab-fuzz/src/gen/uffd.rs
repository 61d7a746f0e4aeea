//! userfaultfd: contexts (userfaultfd(2) and UFFDIO_API with a random feature set), ranges
//! registered MISSING, WP or MINOR, the fills (COPY, ZEROPAGE, CONTINUE), write protection and
//! wakes, and a handler that reads messages and resolves them as a handler thread would.

use mmlab::uapi::userfaultfd::*;
use mmlab::uapi::*;
use mmlab_scenario::backend::{Access, UffdMsg};
use mmlab_scenario::Backend;
use rand::RngExt;

use super::text::{self, addr, size};
use super::{nums, Gen, Kind, Region, Res, Ret, Uffd};
use crate::refmem::{HPAGE, PAGE};

/// The ioctls' mode flags, by name.
const MODES: &[(&str, u64)] = &[
    ("UFFDIO_COPY_MODE_DONTWAKE", UFFDIO_COPY_MODE_DONTWAKE),
    ("UFFDIO_COPY_MODE_WP", UFFDIO_COPY_MODE_WP),
    (
        "UFFDIO_ZEROPAGE_MODE_DONTWAKE",
        UFFDIO_ZEROPAGE_MODE_DONTWAKE,
    ),
    ("UFFDIO_WRITEPROTECT_MODE_WP", UFFDIO_WRITEPROTECT_MODE_WP),
    (
        "UFFDIO_WRITEPROTECT_MODE_DONTWAKE",
        UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
    ),
    (
        "UFFDIO_CONTINUE_MODE_DONTWAKE",
        UFFDIO_CONTINUE_MODE_DONTWAKE,
    ),
];

fn mode(name: &str) -> (&str, u64) {
    *MODES
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a UFFDIO_*_MODE_* name")
}

const EVENTS: &[(&str, u64)] = &[
    ("UFFD_EVENT_PAGEFAULT", UFFD_EVENT_PAGEFAULT),
    ("UFFD_EVENT_FORK", UFFD_EVENT_FORK),
    ("UFFD_EVENT_REMAP", UFFD_EVENT_REMAP),
    ("UFFD_EVENT_REMOVE", UFFD_EVENT_REMOVE),
    ("UFFD_EVENT_UNMAP", UFFD_EVENT_UNMAP),
];

const FAULT_FLAGS: &[(&str, u64)] = &[
    ("UFFD_PAGEFAULT_FLAG_WRITE", UFFD_PAGEFAULT_FLAG_WRITE),
    ("UFFD_PAGEFAULT_FLAG_WP", UFFD_PAGEFAULT_FLAG_WP),
    ("UFFD_PAGEFAULT_FLAG_MINOR", UFFD_PAGEFAULT_FLAG_MINOR),
];

impl Gen<'_> {
    pub(super) fn uffd_something(&mut self, t: usize) -> bool {
        let p = self.tasks[t].proc;
        let mine: Vec<usize> = (0..self.uffds.len())
            .filter(|&u| self.uffds[u].holders.contains(&p))
            .collect();
        let owned = self.uffds.iter().filter(|u| u.owner == p).count();
        if mine.is_empty() || owned < 2 && self.chance(0.12) {
            return self.new_uffd(t);
        }
        let u = self.pick(&mine);
        if self.uffds[u].ranges.is_empty() && self.chance(0.6) {
            return self.register(t, u);
        }
        match self.rng.random_range(0..100) {
            0..=29 => self.register(t, u),
            30..=36 => self.unregister(t, u),
            37..=56 => self.fill(t, u),
            57..=73 => self.writeprotect(t, u),
            74..=78 => self.wake(t, u),
            79..=90 => self.read_and_resolve(t, u),
            91..=95 => self.api(t, u),
            _ => self.close_uffd(t, u),
        }
    }

    /// userfaultfd() and (mostly) UFFDIO_API, with a second task in the process to handle it.
    fn new_uffd(&mut self, t: usize) -> bool {
        let p = self.tasks[t].proc;
        let others = self
            .awake()
            .into_iter()
            .filter(|&k| k != t && self.tasks[k].proc == p)
            .count();
        if others == 0 && !self.new_thread(t) {
            return false;
        }
        let mut fl = vec![];
        let nonblock = self.chance(0.8);
        if nonblock {
            fl.push(("O_NONBLOCK", O_NONBLOCK));
        }
        if self.chance(0.3) {
            fl.push(("O_CLOEXEC", O_CLOEXEC));
        }
        if self.chance(0.08) {
            fl.push(("UFFD_USER_MODE_ONLY", UFFD_USER_MODE_ONLY));
        }
        let (ft, fv) = text::flags(&fl, "0");
        let var = self.fresh("u");
        let call = format!("userfaultfd({ft})");
        let Res::Ok(fd) = self.sys(t, &call, nums("userfaultfd", &[fv]), Ret::Bind(var.clone()))
        else {
            return true;
        };
        self.uffds.push(Uffd {
            fd_text: var,
            fd,
            owner: p,
            holders: vec![p],
            features: 0,
            nonblock,
            api: false,
            ranges: vec![],
        });
        if self.chance(0.9) {
            let u = self.uffds.len() - 1;
            self.api(t, u);
        }
        true
    }

    /// UFFDIO_API with a random feature set (again on a context that has it: EINVAL).
    fn api(&mut self, t: usize, u: usize) -> bool {
        let chosen: Vec<(&str, u64)> = FEATURES
            .iter()
            .copied()
            .filter(|_| self.rng.random_bool(0.3))
            .collect();
        let (ft, fv) = text::flags(&chosen, "0");
        let api = if self.chance(0.03) {
            ("0xab", 0xab)
        } else {
            ("UFFD_API", UFFD_API)
        };
        let f = self.uffds[u].clone();
        let call = format!("uffdio_api({}, {}, {ft})", f.fd_text, api.0);
        let sc = nums("uffdio_api", &[f.fd, api.1, fv]);
        // Later kernels report more features than 5.19's: compare 5.19's bits.
        let ret = Ret::Check(Some("UFFD_API_FEATURES"), UFFD_API_FEATURES);
        if let Res::Ok(_) = self.sys(t, &call, sc, ret) {
            self.uffds[u].api = true;
            self.uffds[u].features = fv;
        }
        true
    }

    /// A page range of a region of the context's process (never the handler's copy source).
    fn owner_range(&mut self, u: usize) -> Option<(Region, i64, u64)> {
        let owner = self.uffds[u].owner;
        let ranges = self.uffds[u].ranges.clone();
        let (r, start, len) = if !ranges.is_empty() && self.chance(0.6) {
            let (r, start, len) = ranges[self.rng.random_range(0..ranges.len())].clone();
            // One unit of it, or all of it.
            let unit = if r.huge { HPAGE } else { PAGE };
            if self.chance(0.5) {
                let k = self.rng.random_range(0..len.div_ceil(unit).max(1));
                (r, start + (k * unit) as i64, unit)
            } else {
                (r, start, len)
            }
        } else {
            let rs: Vec<Region> = self.procs[owner]
                .regions
                .iter()
                .filter(|r| !r.src)
                .cloned()
                .collect();
            if rs.is_empty() {
                return None;
            }
            let r = rs[self.rng.random_range(0..rs.len())].clone();
            self.range_in(&r)
        };
        // Within the reach of the mm it serves (see `limit`).
        let holder = self.tasks.iter().position(|k| k.proc == owner && k.born)?;
        self.below(holder, r, start, len)
    }

    /// A range ioctl's first arguments as text (`fd, start, len`), with the descriptor and
    /// the start address.
    fn range_args(&self, u: usize, at: &(String, u64), len: u64) -> (String, u64, u64) {
        let f = &self.uffds[u];
        (
            format!("{}, {}, {}", f.fd_text, at.0, size(len)),
            f.fd,
            at.1,
        )
    }

    /// On the host, is something of the context's mm mapped at or above `a`? A registration
    /// with nothing above fails differently in the model's bare address space (see
    /// `Shadow::nothing_above`).
    fn fits_registration(&mut self, u: usize, a: u64) -> bool {
        if !self.cfg.host {
            return true;
        }
        let owner = self.uffds[u].owner;
        let Some(k) = self.tasks.iter().position(|k| k.proc == owner && k.born) else {
            return false;
        };
        let id = self.tasks[k].id;
        self.b.maps(id).is_ok_and(|m| m.iter().any(|e| e.end > a))
    }

    fn register(&mut self, t: usize, u: usize) -> bool {
        let Some((r, start, len)) = self.owner_range(u) else {
            return false;
        };
        if !self.fits_registration(u, r.base.wrapping_add_signed(start)) {
            return false;
        }
        let modes = [
            ("UFFDIO_REGISTER_MODE_MISSING", UFFDIO_REGISTER_MODE_MISSING),
            ("UFFDIO_REGISTER_MODE_WP", UFFDIO_REGISTER_MODE_WP),
            ("UFFDIO_REGISTER_MODE_MINOR", UFFDIO_REGISTER_MODE_MINOR),
        ];
        let chosen: Vec<(&str, u64)> = match self.rng.random_range(0..100) {
            0..=39 => vec![modes[0]],
            40..=64 => vec![modes[1]],
            65..=74 => vec![modes[2]],
            75..=89 => vec![modes[0], modes[1]],
            90..=94 => modes.to_vec(),
            _ => vec![],
        };
        let (mt, mode) = text::flags(&chosen, "0");
        let at = (addr(&r.var, start), r.base.wrapping_add_signed(start));
        let (args, fd, first) = self.range_args(u, &at, len);
        let call = format!("uffdio_register({args}, {mt})");
        let sc = nums("uffdio_register", &[fd, first, len, mode]);
        // Later kernels add UFFDIO_POISON and UFFDIO_MOVE to the mask: compare 5.19's bits.
        let ret = Ret::Check(Some("UFFD_API_RANGE_IOCTLS"), UFFD_API_RANGE_IOCTLS);
        if let Res::Ok(_) = self.sys(t, &call, sc, ret) {
            self.uffds[u].ranges.push((r, start, len));
        }
        true
    }

    fn unregister(&mut self, t: usize, u: usize) -> bool {
        let Some((r, start, len)) = self.owner_range(u) else {
            return false;
        };
        if !self.fits_registration(u, r.base.wrapping_add_signed(start)) {
            return false;
        }
        let at = (addr(&r.var, start), r.base.wrapping_add_signed(start));
        self.unregister_range(t, u, at, len);
        true
    }

    fn unregister_range(&mut self, t: usize, u: usize, at: (String, u64), len: u64) {
        let (args, fd, start) = self.range_args(u, &at, len);
        let sc = nums("uffdio_unregister", &[fd, start, len]);
        self.sys(t, &format!("uffdio_unregister({args})"), sc, Ret::Plain);
    }

    /// The handler's UFFDIO_COPY source in `t`'s process: 2 MiB and a page of private memory, the
    /// first pages filled with a pattern (made on first use).
    fn copy_source(&mut self, t: usize) -> Option<Region> {
        if let Some(r) = self.pick_region(t, |r| r.src) {
            return Some(r);
        }
        let var = self.fresh("s");
        // One page over 2 MiB: 6.7+ would align a mapping of whole huge pages.
        let call = "mmap(NULL, HPAGE_SIZE + PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)";
        let sc = nums(
            "mmap",
            &[
                0,
                HPAGE + PAGE,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
                u64::MAX,
                0,
            ],
        );
        let Res::Ok(base) = self.sys(t, call, sc, Ret::Bind(var.clone())) else {
            return None;
        };
        let r = Region {
            var,
            base,
            len: HPAGE + PAGE,
            kind: Kind::Anon,
            huge: false,
            src: true,
        };
        self.add_region(t, r.clone());
        let v: u8 = self.rng.random_range(1..=255);
        let text = format!("memset({}, {}, 16 * PAGE_SIZE)", r.var, text::byte(v));
        let _ = self.access(t, &text, Access::Memset(base, v, 16 * PAGE));
        Some(r)
    }

    /// UFFDIO_COPY, UFFDIO_ZEROPAGE or UFFDIO_CONTINUE into a registered-or-not range.
    fn fill(&mut self, t: usize, u: usize) -> bool {
        let Some((r, start, len)) = self.owner_range(u) else {
            return false;
        };
        let dst = (addr(&r.var, start), r.base.wrapping_add_signed(start));
        match self.rng.random_range(0..100) {
            0..=49 => {
                // Mostly the handler's own source; sometimes any mapping of the caller,
                // which may itself be registered (then the copy may sleep on it).
                let src = if self.chance(0.85) {
                    self.copy_source(t).map(|s| (s, 0))
                } else if self.may_block(t) {
                    self.pick_addr(t)
                } else {
                    None
                };
                let Some((s, off)) = src else {
                    return true;
                };
                // The source, too, stays within its mm's reach (see `limit`).
                let len = len.min(self.room(t, &s, off));
                if len == 0 {
                    return true;
                }
                let m = self.pick(&[
                    None,
                    None,
                    Some("UFFDIO_COPY_MODE_DONTWAKE"),
                    Some("UFFDIO_COPY_MODE_WP"),
                ]);
                self.copy(t, u, dst, &s, off, len, m);
            }
            50..=74 => {
                let m = self.pick(&[None, None, Some("UFFDIO_ZEROPAGE_MODE_DONTWAKE")]);
                self.fill_in_place(t, u, false, dst, len, m);
            }
            _ => {
                let m = self.pick(&[None, None, Some("UFFDIO_CONTINUE_MODE_DONTWAKE")]);
                self.fill_in_place(t, u, true, dst, len, m);
            }
        }
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        t: usize,
        u: usize,
        dst: (String, u64),
        src: &Region,
        off: i64,
        len: u64,
        m: Option<&str>,
    ) {
        let f = self.uffds[u].clone();
        let (mt, mv) = m.map_or(("0", 0), mode);
        let call = format!(
            "uffdio_copy({}, {}, {}, {}, {mt})",
            f.fd_text,
            dst.0,
            addr(&src.var, off),
            size(len)
        );
        let sc = nums(
            "uffdio_copy",
            &[f.fd, dst.1, src.base.wrapping_add_signed(off), len, mv],
        );
        self.sys(t, &call, sc, Ret::Check(None, 0));
    }

    /// UFFDIO_CONTINUE (`cont`) or UFFDIO_ZEROPAGE over `len` bytes at `dst`.
    fn fill_in_place(
        &mut self,
        t: usize,
        u: usize,
        cont: bool,
        dst: (String, u64),
        len: u64,
        m: Option<&str>,
    ) {
        let (mt, mode) = m.map_or(("0", 0), mode);
        let name = if cont {
            "uffdio_continue"
        } else {
            "uffdio_zeropage"
        };
        let (args, fd, start) = self.range_args(u, &dst, len);
        let call = format!("{name}({args}, {mt})");
        let sc = if cont {
            nums("uffdio_continue", &[fd, start, len, mode])
        } else {
            nums("uffdio_zeropage", &[fd, start, len, mode])
        };
        self.sys(t, &call, sc, Ret::Check(None, 0));
    }

    fn writeprotect(&mut self, t: usize, u: usize) -> bool {
        let Some((r, start, len)) = self.owner_range(u) else {
            return false;
        };
        let m = match self.rng.random_range(0..100) {
            0..=49 => vec![mode("UFFDIO_WRITEPROTECT_MODE_WP")],
            50..=84 => vec![],
            85..=92 => vec![mode("UFFDIO_WRITEPROTECT_MODE_DONTWAKE")],
            _ => vec![
                mode("UFFDIO_WRITEPROTECT_MODE_WP"),
                mode("UFFDIO_WRITEPROTECT_MODE_DONTWAKE"),
            ],
        };
        self.wp(
            t,
            u,
            (addr(&r.var, start), r.base.wrapping_add_signed(start)),
            len,
            &m,
        );
        true
    }

    fn wp(&mut self, t: usize, u: usize, at: (String, u64), len: u64, m: &[(&str, u64)]) {
        let (mt, mode) = text::flags(m, "0");
        let (args, fd, start) = self.range_args(u, &at, len);
        let sc = nums("uffdio_writeprotect", &[fd, start, len, mode]);
        self.sys(
            t,
            &format!("uffdio_writeprotect({args}, {mt})"),
            sc,
            Ret::Plain,
        );
    }

    fn wake(&mut self, t: usize, u: usize) -> bool {
        let Some((r, start, len)) = self.owner_range(u) else {
            return false;
        };
        self.wake_range(
            t,
            u,
            (addr(&r.var, start), r.base.wrapping_add_signed(start)),
            len,
        );
        true
    }

    fn wake_range(&mut self, t: usize, u: usize, at: (String, u64), len: u64) {
        let (args, fd, start) = self.range_args(u, &at, len);
        let sc = nums("uffdio_wake", &[fd, start, len]);
        self.sys(t, &format!("uffdio_wake({args})"), sc, Ret::Plain);
    }

    fn close_uffd(&mut self, t: usize, u: usize) -> bool {
        let f = self.uffds[u].clone();
        let call = format!("close({})", f.fd_text);
        if let Res::Ok(_) = self.sys(t, &call, nums("close", &[f.fd]), Ret::Plain) {
            let p = self.tasks[t].proc;
            self.uffds[u].holders.retain(|h| *h != p);
        }
        true
    }

    /// A handler step for the sleepers of `owner`'s mm: an awake holder reads and resolves.
    pub(super) fn serve(&mut self, owner: usize) -> bool {
        let awake = self.awake();
        let mut options = vec![];
        for (u, f) in self.uffds.iter().enumerate() {
            if f.owner != owner {
                continue;
            }
            for &h in &awake {
                if f.holders.contains(&self.tasks[h].proc) {
                    options.push((u, h));
                }
            }
        }
        if options.is_empty() {
            return false;
        }
        let (u, h) = self.pick(&options);
        self.read_and_resolve(h, u)
    }

    /// The region of `owner` holding `a`, as `var + off`.
    fn rel(&self, owner: usize, a: u64) -> Option<(Region, String)> {
        let r = self.procs[owner]
            .regions
            .iter()
            .rev()
            .find(|r| r.base <= a && a < r.base + r.len)?;
        Some((r.clone(), addr(&r.var, a.wrapping_sub(r.base) as i64)))
    }

    /// `expect LHS == RHS` as a step of its own.
    fn expect_line(&mut self, t: usize, lhs: &str, rhs: &str) {
        let line = format!("{}: expect {lhs} == {rhs}", self.tname(t));
        let i = self.begin(line.clone());
        self.end(i, line);
    }

    /// read(2) one message (only when there is one, or when the descriptor says EAGAIN), state
    /// what it says, and resolve a page fault the way a handler would.
    pub(super) fn read_and_resolve(&mut self, h: usize, u: usize) -> bool {
        let f = self.uffds[u].clone();
        let tn = self.tname(h);
        let id = self.tasks[h].id;
        let var = self.fresh("m");
        let i = self.begin(format!("{tn}: {var} = uffd_read({})", f.fd_text));
        let m = match self.b.uffd_read(id, f.fd as i64) {
            Ok(Some(m)) => m,
            Ok(None) => {
                self.undo(i);
                return false;
            }
            Err(e) => {
                let line = format!("{tn}: expect uffd_read({}) fails {}", f.fd_text, e.name());
                self.end(i, line);
                return true;
            }
        };
        let line = self.out[i].clone();
        self.end(i, line);
        let event = EVENTS
            .iter()
            .find(|e| e.1 == m.event)
            .map_or(text::num(m.event), |e| e.0.to_string());
        self.expect_line(h, &format!("{var}.event"), &event);
        match m.event {
            UFFD_EVENT_PAGEFAULT => self.resolve_fault(h, u, &var, m),
            UFFD_EVENT_FORK => {
                if let Some(child) = self.pending_forks.pop_front() {
                    let hp = self.tasks[h].proc;
                    self.uffds.push(Uffd {
                        fd_text: format!("{var}.ufd"),
                        fd: m.arg[0] & 0xffff_ffff,
                        owner: child,
                        holders: vec![hp],
                        features: f.features,
                        nonblock: f.nonblock,
                        api: true,
                        ranges: vec![],
                    });
                }
            }
            UFFD_EVENT_REMAP => {
                if let Some((_, from)) = self.rel(f.owner, m.arg[0]) {
                    self.expect_line(h, &format!("{var}.from"), &from);
                }
                self.expect_line(h, &format!("{var}.len"), &size(m.arg[2]));
            }
            _ => {
                if let Some((_, start)) = self.rel(f.owner, m.arg[0]) {
                    self.expect_line(h, &format!("{var}.start"), &start);
                    let end = m.arg[1].wrapping_sub(m.arg[0]);
                    self.expect_line(h, &format!("{var}.end - {var}.start"), &size(end));
                }
            }
        }
        true
    }

    fn resolve_fault(&mut self, h: usize, u: usize, var: &str, m: UffdMsg) {
        let (flags, a) = (m.arg[0], m.arg[1]);
        let chosen: Vec<(&str, u64)> = FAULT_FLAGS
            .iter()
            .copied()
            .filter(|f| flags & f.1 != 0)
            .collect();
        let (ft, _) = text::flags(&chosen, "0");
        self.expect_line(h, &format!("{var}.flags"), &ft);
        let owner = self.uffds[u].owner;
        let region = self.rel(owner, a);
        if let Some((_, at)) = &region {
            self.expect_line(h, &format!("{var}.address"), at);
        }
        let huge = region.as_ref().is_some_and(|r| r.0.huge);
        let (unit, unit_t) = if huge {
            (HPAGE, "HPAGE_SIZE")
        } else {
            (PAGE, "PAGE_SIZE")
        };
        let dst = (format!("{var}.address & ~({unit_t} - 1)"), a & !(unit - 1));
        let roll = self.rng.random_range(0..100);
        if flags & UFFD_PAGEFAULT_FLAG_WP != 0 {
            if roll < 85 {
                self.wp(h, u, dst, unit, &[]);
            } else {
                self.wake_range(h, u, dst, unit);
            }
        } else if flags & UFFD_PAGEFAULT_FLAG_MINOR != 0 {
            if roll < 85 {
                self.fill_in_place(h, u, true, dst, unit, None);
            } else {
                self.wake_range(h, u, dst, unit);
            }
        } else {
            match roll {
                0..=59 => {
                    if let Some(s) = self.copy_source(h) {
                        self.copy(h, u, dst, &s, 0, unit, None);
                    }
                }
                60..=84 => self.fill_in_place(h, u, false, dst, unit, None),
                85..=92 => self.wake_range(h, u, dst, unit),
                _ => self.unregister_range(h, u, dst, unit),
            }
        }
        // Collect what the resolution woke, sometimes at once.
        if self.chance(0.6) {
            let woken: Vec<usize> = self
                .asleep()
                .into_iter()
                .filter(|&s| self.b.woken(self.tasks[s].id))
                .collect();
            for s in woken {
                self.wait(s);
            }
        }
    }
}
