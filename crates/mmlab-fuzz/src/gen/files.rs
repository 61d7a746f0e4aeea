//! memfds: memfd_create (shmem or hugetlbfs), ftruncate, fallocate (allocate, punch, modes
//! shmem refuses), fcntl seals, close.

use mmlab::mm::memfd::*;
use mmlab::mm::shmem::*;
use mmlab_scenario::backend::{ArgValue, Syscall};
use rand::RngExt;

use super::text::{self, size};
use super::{nums, Gen, Memfd, Res, Ret};
use crate::refmem::{HPAGE, PAGE};

impl Gen<'_> {
    pub(super) fn file_something(&mut self, t: usize) -> bool {
        let p = self.tasks[t].proc;
        let n = self.procs[p].memfds.len();
        if n == 0 || self.chance(0.15) && n < 4 {
            let (huge, sized) = (self.chance(0.25), self.chance(0.6));
            return self.create_memfd(t, huge, sized).is_some();
        }
        let m = self.rng.random_range(0..n);
        match self.rng.random_range(0..100) {
            0..=29 => {
                let unit = if self.procs[p].memfds[m].huge {
                    HPAGE
                } else {
                    PAGE
                };
                let mut len = self.rng.random_range(0..=8) * unit;
                if self.chance(0.1) {
                    len += 100;
                }
                self.ftruncate_to(t, m, len);
            }
            30..=64 => self.fallocate(t, m),
            65..=79 => self.seal(t, m),
            80..=84 => self.close_memfd(t, m),
            _ => {
                let huge = self.procs[p].memfds[m].huge;
                return self.map_memfd(t, huge);
            }
        }
        true
    }

    /// memfd_create(); with `sized`, an ftruncate() to a few pages after it.
    pub(super) fn create_memfd(&mut self, t: usize, huge: bool, sized: bool) -> Option<usize> {
        let mut fl = vec![];
        if self.chance(0.3) {
            fl.push(("MFD_CLOEXEC", MFD_CLOEXEC));
        }
        if self.chance(0.4) {
            fl.push(("MFD_ALLOW_SEALING", MFD_ALLOW_SEALING));
        }
        if huge {
            fl.push(("MFD_HUGETLB", MFD_HUGETLB));
        }
        let (ft, fv) = text::flags(&fl, "0");
        let var = self.fresh("fd");
        let call = format!("memfd_create(\"{var}\", {ft})");
        let sc = Syscall::new(
            "memfd_create",
            vec![ArgValue::Str(var.clone()), ArgValue::Num(fv)],
        )
        .expect("memfd_create(name, flags)");
        let Res::Ok(fd) = self.sys(t, &call, sc, Ret::Bind(var.clone())) else {
            return None;
        };
        let p = self.tasks[t].proc;
        self.procs[p].memfds.push(Memfd {
            var,
            fd,
            huge,
            size: 0,
        });
        let m = self.procs[p].memfds.len() - 1;
        if sized {
            let unit = if huge { HPAGE } else { PAGE };
            let n = if huge {
                self.rng.random_range(1..=2)
            } else {
                self.pick(&[1, 2, 4, 8, 16, 32])
            };
            self.ftruncate_to(t, m, n * unit);
        }
        Some(m)
    }

    pub(super) fn ftruncate_to(&mut self, t: usize, m: usize, len: u64) {
        let p = self.tasks[t].proc;
        let f = self.procs[p].memfds[m].clone();
        let call = format!("ftruncate({}, {})", f.var, size(len));
        let sc = nums("ftruncate", &[f.fd, len]);
        if let Res::Ok(_) = self.sys(t, &call, sc, Ret::Plain) {
            self.procs[p].memfds[m].size = len;
        }
    }

    fn fallocate(&mut self, t: usize, m: usize) {
        let p = self.tasks[t].proc;
        let f = self.procs[p].memfds[m].clone();
        let unit = if f.huge { HPAGE } else { PAGE };
        let units = (f.size / unit).max(1);
        let (mode_t, mode) = match self.rng.random_range(0..100) {
            0..=29 => ("0".to_string(), 0),
            30..=39 => ("FALLOC_FL_KEEP_SIZE".to_string(), FALLOC_FL_KEEP_SIZE),
            40..=89 => (
                "FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE".to_string(),
                FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
            ),
            90..=93 => ("FALLOC_FL_PUNCH_HOLE".to_string(), FALLOC_FL_PUNCH_HOLE),
            94..=96 => ("FALLOC_FL_ZERO_RANGE".to_string(), FALLOC_FL_ZERO_RANGE),
            _ => (
                "FALLOC_FL_COLLAPSE_RANGE".to_string(),
                FALLOC_FL_COLLAPSE_RANGE,
            ),
        };
        let mut off = self.rng.random_range(0..=units) * unit;
        let mut len = self.rng.random_range(1..=units + 1) * unit;
        if self.chance(0.25) {
            // Partial pages: shmem zeroes them in place, hugetlbfs too (since 5.19-rc4).
            off += self.rng.random_range(1..PAGE);
            len = self.rng.random_range(1..=2 * PAGE);
        }
        let call = format!(
            "fallocate({}, {mode_t}, {}, {})",
            f.var,
            size(off),
            size(len)
        );
        let sc = nums("fallocate", &[f.fd, mode, off, len]);
        if let Res::Ok(_) = self.sys(t, &call, sc, Ret::Plain) {
            if mode == 0 {
                let s = &mut self.procs[p].memfds[m].size;
                *s = (*s).max(off + len);
            }
        }
    }

    fn seal(&mut self, t: usize, m: usize) {
        let p = self.tasks[t].proc;
        let f = self.procs[p].memfds[m].clone();
        if self.chance(0.4) {
            let call = format!("fcntl({}, F_GET_SEALS, 0)", f.var);
            let sc = nums("fcntl", &[f.fd, F_GET_SEALS, 0]);
            self.sys(t, &call, sc, Ret::Check(None, 0));
            return;
        }
        let all = [
            ("F_SEAL_SEAL", F_SEAL_SEAL),
            ("F_SEAL_SHRINK", F_SEAL_SHRINK),
            ("F_SEAL_GROW", F_SEAL_GROW),
            ("F_SEAL_WRITE", F_SEAL_WRITE),
            ("F_SEAL_FUTURE_WRITE", F_SEAL_FUTURE_WRITE),
        ];
        let mut chosen: Vec<(&str, u64)> = all
            .iter()
            .copied()
            .filter(|_| self.rng.random_bool(0.25))
            .collect();
        if chosen.is_empty() {
            chosen.push(self.pick(&all));
        }
        let (st, sv) = text::flags(&chosen, "0");
        let call = format!("fcntl({}, F_ADD_SEALS, {st})", f.var);
        let sc = nums("fcntl", &[f.fd, F_ADD_SEALS, sv]);
        self.sys(t, &call, sc, Ret::Plain);
    }

    fn close_memfd(&mut self, t: usize, m: usize) {
        let p = self.tasks[t].proc;
        let f = self.procs[p].memfds[m].clone();
        let call = format!("close({})", f.var);
        if let Res::Ok(_) = self.sys(t, &call, nums("close", &[f.fd]), Ret::Plain) {
            self.procs[p].memfds.remove(m);
        }
    }
}
