//! The kernel and processes an `ops::Op` sequence runs on, and `apply`, which runs one op.

use mmlab::mm::memfd::{MFD_CLOEXEC, MFD_HUGETLB};
use mmlab::uapi::*;
use mmlab::{Config, Kernel, Profile, Tid};

use super::ops::{At, HAt, Op, Place, ARENA_PAGES, HARENA_HPAGES, MAX_PROCS};
use super::{exit_each, HOFFS, HPAGE, OFFS, PAGE};

/// The processes of a run: index 0 is the initial one; each has one or two threads.
pub struct World {
    pub k: Kernel,
    pub procs: Vec<Vec<Tid>>,
    pub base: u64,
    /// The 2 MiB aligned start of the huge arena (0 without one).
    pub hbase: u64,
    /// Recent addresses of non-fixed hugetlb mmaps and moves (regions 1.. of `HAt`).
    pub hmaps: Vec<u64>,
}

impl World {
    pub fn new(profile: Profile) -> World {
        World::with_arena(profile, PROT_NONE)
    }

    /// One process with the 64-page arena mapped private with `prot`.
    pub fn with_arena(profile: Profile, prot: u64) -> World {
        let mut k = Kernel::new(Config::new(profile));
        let t = k.spawn_process(0).expect("spawn");
        let base = k
            .mmap(
                t,
                0,
                ARENA_PAGES * PAGE,
                prot,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
            .expect("arena");
        World {
            k,
            procs: vec![vec![t]],
            base,
            hbase: 0,
            hmaps: Vec::new(),
        }
    }

    /// `with_arena`, a hugetlb pool of `pool` pages and a huge arena of HARENA_HPAGES 2 MiB
    /// aligned huge pages mapped private with `prot` (4 KiB pages, for hugetlb to replace).
    pub fn with_huge_arena(profile: Profile, prot: u64, pool: u64) -> World {
        let mut w = World::with_arena(profile, prot);
        assert_eq!(w.k.set_nr_hugepages(pool), pool, "pool");
        let t = w.procs[0][0];
        let a =
            w.k.mmap(
                t,
                0,
                (HARENA_HPAGES + 1) * HPAGE,
                prot,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
            .expect("huge arena");
        w.hbase = a.next_multiple_of(HPAGE);
        w
    }

    pub fn haddr(&self, at: HAt) -> u64 {
        let base = if at.region == 0 || self.hmaps.is_empty() {
            self.hbase
        } else {
            self.hmaps[(at.region - 1) % self.hmaps.len()]
        };
        (base as i64 + at.hpage * HPAGE as i64) as u64 + at.sub * PAGE
    }

    /// Remember an address a hugetlb mapping went to (the last three).
    pub fn note_hmap(&mut self, a: u64) {
        if a != self.hbase && !self.hmaps.contains(&a) {
            if self.hmaps.len() >= 3 {
                self.hmaps.remove(0);
            }
            self.hmaps.push(a);
        }
    }

    pub fn addr(&self, page: i64) -> u64 {
        (self.base as i64 + page * PAGE as i64) as u64
    }

    pub fn at(&self, at: At) -> u64 {
        match at {
            At::Page(page) => self.addr(page),
            At::Huge(h) => self.haddr(h),
        }
    }

    /// The `off`th sampled byte at `at` (OFFS or HOFFS by its scale).
    pub fn byte(&self, at: At, off: usize) -> u64 {
        self.at(at)
            + match at {
                At::Page(_) => OFFS[off],
                At::Huge(_) => HOFFS[off],
            }
    }

    pub fn tid(&self, p: usize, t: usize) -> (usize, Tid) {
        let p = p % self.procs.len();
        let th = &self.procs[p];
        (p, th[t % th.len()])
    }

    /// One of the process's descriptors (-1, so EBADF, when it has none).
    pub fn fd(&self, tid: Tid, i: usize) -> i64 {
        let fds = self.k.fds(tid).expect("fds");
        if fds.is_empty() {
            -1
        } else {
            fds[i % fds.len()] as i64
        }
    }

    /// Exit every process, the last first; the invariants must hold after each exit. Then
    /// every CPU's LRU batches drain, letting go of the last references to the pages.
    pub fn exit_all(&mut self) -> Result<(), String> {
        let tids: Vec<Tid> = self.procs.drain(..).rev().map(|th| th[0]).collect();
        exit_each(&mut self.k, tids)?;
        self.k.lru_add_drain_all();
        Ok(())
    }
}

pub fn mremap_flags(mode: u8) -> u64 {
    match mode {
        0 => 0,
        1 => MREMAP_MAYMOVE,
        2 => MREMAP_MAYMOVE | MREMAP_FIXED,
        3 => MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
        _ => MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED,
    }
}

pub fn mmap_flags(shared: bool, fixed: Place, populate: bool) -> u64 {
    let mut f = MAP_ANONYMOUS | if shared { MAP_SHARED } else { MAP_PRIVATE };
    match fixed {
        Place::Fixed => f |= MAP_FIXED,
        Place::NoReplace => f |= MAP_FIXED_NOREPLACE,
        _ => {}
    }
    if populate {
        f |= MAP_POPULATE;
    }
    f
}

/// Apply one op; returns a user-visible description of its result (`profiles_agree` compares
/// them).
pub fn apply(w: &mut World, op: &Op) -> String {
    match *op {
        Op::Mmap {
            p,
            t,
            page,
            pages,
            prot,
            shared,
            fixed,
            populate,
        } => {
            let (_, tid) = w.tid(p, t);
            let addr = if fixed == Place::No { 0 } else { w.addr(page) };
            let r = w.k.mmap(
                tid,
                addr,
                pages * PAGE,
                prot,
                mmap_flags(shared, fixed, populate),
                -1,
                0,
            );
            format!("mmap {r:x?}")
        }
        Op::Munmap { p, t, at, len } => {
            let (_, tid) = w.tid(p, t);
            format!("munmap {:?}", w.k.munmap(tid, w.at(at), len))
        }
        Op::Mremap {
            p,
            t,
            at,
            old,
            new,
            mode,
            dst,
        } => {
            let (_, tid) = w.tid(p, t);
            let a = w.at(at);
            let r = w.k.mremap(tid, a, old, new, mremap_flags(mode), w.at(dst));
            // A hugetlb mapping moved where the kernel chose is a place later operations target.
            if let (Ok(to), At::Huge(_)) = (r, at) {
                if to != a && mode != 2 && mode != 4 {
                    w.note_hmap(to);
                }
            }
            format!("mremap {r:x?}")
        }
        Op::Mprotect {
            p,
            t,
            at,
            len,
            prot,
        } => {
            let (_, tid) = w.tid(p, t);
            format!("mprotect {:?}", w.k.mprotect(tid, w.at(at), len, prot))
        }
        Op::Madvise {
            p,
            t,
            at,
            len,
            advice,
        } => {
            let (_, tid) = w.tid(p, t);
            format!("madvise {:?}", w.k.madvise(tid, w.at(at), len, advice))
        }
        Op::Fork { p, t } => {
            if w.procs.len() >= MAX_PROCS {
                return "fork skipped".into();
            }
            let (_, tid) = w.tid(p, t);
            match w.k.fork(tid) {
                Ok(c) => {
                    w.procs.push(vec![c]);
                    "fork ok".into()
                }
                Err(e) => format!("fork {e:?}"),
            }
        }
        Op::Exit { p } => {
            if w.procs.len() < 2 {
                return "exit skipped".into();
            }
            let i = 1 + p % (w.procs.len() - 1);
            let th = w.procs.remove(i);
            format!("exit {:?}", w.k.exit(th[0]))
        }
        Op::Thread { p } => {
            let p = p % w.procs.len();
            if w.procs[p].len() >= 2 {
                return "thread skipped".into();
            }
            match w.k.spawn_thread(w.procs[p][0], 1) {
                Ok(t) => {
                    w.procs[p].push(t);
                    "thread ok".into()
                }
                Err(e) => format!("thread {e:?}"),
            }
        }
        Op::SetCpu { p, t, cpu } => {
            let (_, tid) = w.tid(p, t);
            format!("setcpu {:?}", w.k.set_cpu(tid, cpu))
        }
        Op::Store { p, t, at, off, val } => {
            let (_, tid) = w.tid(p, t);
            format!("store {:?}", w.k.store(tid, w.byte(at, off), val))
        }
        Op::Load { p, t, at, off } => {
            let (_, tid) = w.tid(p, t);
            format!("load {:?}", w.k.load(tid, w.byte(at, off)))
        }
        Op::Memset {
            p,
            t,
            at,
            pages,
            val,
        } => {
            let (_, tid) = w.tid(p, t);
            format!("memset {:?}", w.k.memset(tid, w.at(at), val, pages * PAGE))
        }
        Op::MemfdCreate {
            p,
            t,
            cloexec,
            huge,
        } => {
            let (_, tid) = w.tid(p, t);
            if w.k.fds(tid).expect("fds").len() >= 2 {
                return "memfd_create skipped".into();
            }
            let flags =
                (if cloexec { MFD_CLOEXEC } else { 0 }) | if huge { MFD_HUGETLB } else { 0 };
            format!("memfd_create {:?}", w.k.memfd_create(tid, "prop", flags))
        }
        Op::Ftruncate { p, t, fd, len } => {
            let (_, tid) = w.tid(p, t);
            let fd = w.fd(tid, fd);
            format!("ftruncate {fd} {:?}", w.k.ftruncate(tid, fd, len))
        }
        Op::Fallocate {
            p,
            t,
            fd,
            mode,
            off,
            len,
        } => {
            let (_, tid) = w.tid(p, t);
            let fd = w.fd(tid, fd);
            format!(
                "fallocate {fd} {:?}",
                w.k.fallocate(tid, fd, mode, off, len)
            )
        }
        Op::Close { p, t, fd } => {
            let (_, tid) = w.tid(p, t);
            let fd = w.fd(tid, fd);
            format!("close {fd} {:?}", w.k.close(tid, fd))
        }
        Op::MmapFd {
            p,
            t,
            fd,
            page,
            pages,
            prot,
            shared,
            fixed,
            populate,
            off,
        } => {
            let (_, tid) = w.tid(p, t);
            let fd = w.fd(tid, fd);
            let addr = if fixed == Place::No { 0 } else { w.addr(page) };
            let flags = mmap_flags(shared, fixed, populate) & !MAP_ANONYMOUS;
            let r =
                w.k.mmap(tid, addr, pages * PAGE, prot, flags, fd, off * PAGE);
            format!("mmap fd {fd} {r:x?}")
        }
        Op::Uffd {
            p,
            t,
            at,
            len,
            mode,
        } => {
            let (_, tid) = w.tid(p, t);
            let fd = match w.k.userfaultfd(tid, 0) {
                Ok(fd) => fd as i64,
                Err(e) => return format!("userfaultfd {e:?}"),
            };
            let api =
                w.k.uffdio_api(tid, fd, mmlab::uapi::userfaultfd::UFFD_API, 0);
            let r = if mode == 0 {
                w.k.uffdio_unregister(tid, fd, w.at(at), len).map(|_| 0)
            } else {
                w.k.uffdio_register(tid, fd, w.at(at), len, mode)
            };
            format!("uffd {fd} api {api:?} mode {mode}: {r:?}")
        }
        Op::SetPool { n } => format!("nr_hugepages {}", w.k.set_nr_hugepages(n)),
        Op::ThpEnabled { mode } => {
            let v = ["always", "madvise", "never"][mode % 3];
            format!("thp enabled {v}: {:?}", w.k.thp_sysfs_write("enabled", v))
        }
        Op::Khugepaged { p, t, at, force } => {
            let (_, tid) = w.tid(p, t);
            let a = w.at(at);
            let scan = w.k.khugepaged_scan(tid, a);
            if force || scan == Ok(mmlab::mm::khugepaged::ScanResult::Succeed) {
                let c = w.k.khugepaged_collapse(tid, a);
                format!("khugepaged {scan:?} then {c:?}")
            } else {
                format!("khugepaged {scan:?}")
            }
        }
        Op::HMmap {
            p,
            t,
            fd,
            flag,
            at,
            len,
            prot,
            shared,
            noreserve,
            fixed,
            populate,
            off,
        } => {
            let (_, tid) = w.tid(p, t);
            let addr = if fixed == Place::No { 0 } else { w.haddr(at) };
            let mut flags = mmap_flags(shared, fixed, populate);
            let fd = match fd {
                None => {
                    flags |= MAP_HUGETLB;
                    -1
                }
                Some(i) => {
                    flags &= !MAP_ANONYMOUS;
                    if flag {
                        flags |= MAP_HUGETLB;
                    }
                    w.fd(tid, i)
                }
            };
            if noreserve {
                flags |= MAP_NORESERVE;
            }
            let r = w.k.mmap(tid, addr, len, prot, flags, fd, off);
            if let (Ok(a), false) = (r, matches!(fixed, Place::Fixed | Place::NoReplace)) {
                w.note_hmap(a);
            }
            format!("hugetlb mmap fd {fd} {r:x?}")
        }
    }
}
