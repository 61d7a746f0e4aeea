//! The shadow: a `Backend` that hands every call to the model and checks what comes back
//! against the reference semantics of `refmem` — each byte a load reads, each signal an access
//! raises where the rules leave no choice — and keeps the model's invariant violation. A load
//! that contradicts the shadow is a finding; what the shadow cannot know it does not judge.

use std::collections::{HashMap, VecDeque};

use mmlab::fs::proc::MapsEntry;
use mmlab::mm::memfd::MFD_HUGETLB;
use mmlab::uapi::userfaultfd::UFFD_EVENT_FORK;
use mmlab::uapi::*;
use mmlab::{Errno, Signal};
use mmlab_scenario::backend::*;
use mmlab_scenario::Backend;

use crate::refmem::{back_kind, Expect, FileId, MmId, RefMem, HPAGE, PAGE};

/// A syscall's arguments as numbers (a string, memfd_create's name, reads as 0).
fn args(call: &Syscall) -> Vec<u64> {
    call.args.iter().map(|a| a.num()).collect()
}

/// A load, store or fault the shadow predicted otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// What happened, with addresses.
    pub what: String,
    /// The kind, without addresses: the access, the memory and the way it differed.
    pub kind: String,
}

/// What a descriptor of the shadow's processes refers to.
#[derive(Clone, Copy, Debug)]
enum Fd {
    File(FileId),
    /// A userfaultfd context and the mm it serves (None: the shadow does not know which).
    Uffd(Option<MmId>),
}

/// A syscall asleep (until its userfaultfd events are read, or in handle_userfault()).
struct Asleep {
    /// None for fork().
    call: Option<Syscall>,
    mm: MmId,
    /// It slept half way (ERESTARTNOINTR): its effect comes when it returns.
    restarted: bool,
    /// madvise(DONTNEED/REMOVE) waits for the REMOVE event before it zaps.
    deferred: bool,
}

/// The model behind a shadow of its memory contents.
pub struct Shadow<B: Backend> {
    pub inner: B,
    mem: RefMem,
    task_mm: HashMap<TaskId, MmId>,
    fds: HashMap<MmId, HashMap<i64, Fd>>,
    asleep: HashMap<TaskId, Access>,
    asleep_sys: HashMap<TaskId, Asleep>,
    done: HashMap<TaskId, Result<u64, Signal>>,
    done_sys: HashMap<TaskId, Result<u64, Errno>>,
    /// Children of forks whose UFFD_EVENT_FORK is not read yet, oldest first.
    unread_forks: VecDeque<MmId>,
    pub mismatches: Vec<Mismatch>,
    /// The first invariant violation the model's checker reported.
    pub violation: Option<String>,
    /// Why the case cannot be compared with the host, if it cannot: the first call that
    /// reached at or above the top of its process's mappings (where a real process has its
    /// program, libraries and stack and the model's has nothing), or that let the kernel
    /// place a mapping it aligns to 2 MiB (see `placed_by_kernel`).
    pub host_unfit: Option<String>,
}

impl<B: Backend> Shadow<B> {
    pub fn new(inner: B) -> Self {
        Shadow {
            inner,
            mem: RefMem::default(),
            task_mm: HashMap::new(),
            fds: HashMap::new(),
            asleep: HashMap::new(),
            asleep_sys: HashMap::new(),
            done: HashMap::new(),
            done_sys: HashMap::new(),
            unread_forks: VecDeque::new(),
            mismatches: vec![],
            violation: None,
            host_unfit: None,
        }
    }

    /// What the shadow expects of a load (`write` false) or store at `addr` by task `t`.
    pub fn predict(&self, t: TaskId, addr: u64, write: bool) -> Expect {
        match self.task_mm.get(&t) {
            Some(&mm) => self.mem.predict(mm, addr, write),
            None => Expect::default(),
        }
    }

    /// Has the access or syscall task `t` slept in finished (so `wait()` returns)?
    pub fn woken(&self, t: TaskId) -> bool {
        self.done.contains_key(&t) || self.done_sys.contains_key(&t)
    }

    fn fd(&self, mm: MmId, fd: i64) -> Option<Fd> {
        self.fds.get(&mm)?.get(&fd).copied()
    }

    fn file(&self, mm: MmId, fd: i64) -> Option<FileId> {
        match self.fd(mm, fd) {
            Some(Fd::File(f)) => Some(f),
            _ => None,
        }
    }

    /// The mm a userfaultfd descriptor of `mm` serves; None if unknown.
    fn uffd_mm(&self, mm: MmId, fd: i64) -> Option<MmId> {
        match self.fd(mm, fd) {
            Some(Fd::Uffd(m)) => m,
            _ => None,
        }
    }

    /// A fill through a context the shadow cannot place: forget the range everywhere.
    fn forget_everywhere(&mut self, start: u64, end: u64) {
        let mms: Vec<MmId> = self.fds.keys().copied().collect();
        for m in mms {
            self.mem.forget_contents(m, start, end);
        }
    }

    /// The mappings of the mm of task `t`, or of `mm` (a userfaultfd's) if given.
    fn maps_of(&mut self, t: TaskId, mm: Option<MmId>) -> Option<Vec<MapsEntry>> {
        let task = match mm {
            Some(m) => *self.task_mm.iter().find(|(_, x)| **x == m)?.0,
            None => t,
        };
        self.inner.maps(task).ok()
    }

    /// Note a call reaching [start, start + len) in the mm of task `t` (or, for a userfaultfd
    /// ioctl, the mm it serves) if that goes at or above the end of its highest mapping.
    fn reach(&mut self, t: TaskId, mm: Option<MmId>, start: u64, len: u64, what: &str) {
        if self.host_unfit.is_some() || len == 0 {
            return;
        }
        let Some(maps) = self.maps_of(t, mm) else {
            return;
        };
        let top = crate::gen::reach_limit(&maps, start);
        // With nothing mapped yet there is no top to keep below (a MAP_FIXED at a literal
        // address far below the program is all a case does then).
        if top > 0 && start.saturating_add(len) > top {
            self.host_unfit = Some(format!(
                "{what} reaches {:#x}, above the top of the mappings at {top:#x}",
                start.saturating_add(len)
            ));
        }
    }

    /// Note an mmap() or mremap() that let the kernel choose the place of a mapping it aligns
    /// to 2 MiB: hugetlbfs, shmem of 2 MiB or more (shmem_get_unmapped_area()), private
    /// anonymous memory a multiple of 2 MiB long (since 6.7). The gap the alignment leaves
    /// depends on where ASLR put the neighbours, so later placements differ between runs.
    fn placed_by_kernel(&mut self, mm: MmId, call: &Syscall, r: Result<u64, Errno>) {
        let Ok(at) = r else {
            return;
        };
        if self.host_unfit.is_some() {
            return;
        }
        let a = args(call);
        let why = match (call.name(), a.as_slice()) {
            ("mmap", &[addr, len, _, flags, fd, _])
                if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) == 0 && at != addr =>
            {
                let anon = flags & MAP_ANONYMOUS != 0;
                let shared = flags & MAP_SHARED != 0;
                let file = (!anon).then(|| self.file(mm, fd as i64)).flatten();
                let huge =
                    flags & MAP_HUGETLB != 0 || file.is_some_and(|f| self.mem.is_huge_file(f));
                let shmem = (anon && shared) || (!anon && !huge);
                let aligned = huge
                    || shmem && len >= HPAGE
                    || anon && !shared && len != 0 && len % HPAGE == 0;
                aligned.then(|| format!("mmap() of {len:#x} bytes placed by the kernel at {at:#x}"))
            }
            ("mremap", &[old, _, new_len, flags, _])
                if flags & MREMAP_FIXED == 0 && at != old && new_len >= HPAGE =>
            {
                Some(format!(
                    "mremap() moved {new_len:#x} bytes to {at:#x}, a place the kernel chose"
                ))
            }
            _ => None,
        };
        if let Some(why) = why {
            self.host_unfit = Some(format!("{why}: a place it aligns to 2 MiB"));
        }
    }

    /// Note a UFFDIO_(UN)REGISTER at `start` with no mapping at or above it in the mm it
    /// serves: 5.19 finds no VMA there and fails with ENOMEM, where a real process (which
    /// always has its stack above) gets EINVAL.
    fn nothing_above(&mut self, t: TaskId, mm: Option<MmId>, start: u64, what: &str) {
        if self.host_unfit.is_some() {
            return;
        }
        let Some(maps) = self.maps_of(t, mm) else {
            return;
        };
        if maps.iter().all(|m| m.end <= start) {
            self.host_unfit = Some(format!("{what} at {start:#x} with nothing mapped above"));
        }
    }

    /// The ranges a syscall reaches, checked with `reach`.
    fn reaches(&mut self, t: TaskId, call: &Syscall) {
        let a = args(call);
        let ctx = |s: &Self, fd: u64| s.task_mm.get(&t).and_then(|&mm| s.uffd_mm(mm, fd as i64));
        match (call.name(), a.as_slice()) {
            ("mmap", &[addr, len, _, flags, ..])
                if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 =>
            {
                self.reach(t, None, addr, len, "mmap(MAP_FIXED)")
            }
            ("munmap" | "mprotect" | "madvise", &[addr, len, ..]) => {
                self.reach(t, None, addr, len, call.name())
            }
            ("mremap", &[old, old_len, new_len, flags, new_addr]) => {
                self.reach(t, None, old, old_len.max(new_len), "mremap");
                if flags & MREMAP_FIXED != 0 {
                    self.reach(t, None, new_addr, new_len, "mremap(MREMAP_FIXED)");
                }
            }
            ("uffdio_copy", &[fd, dst, src, len, _]) => {
                let m = ctx(self, fd);
                self.reach(t, m, dst, len, "UFFDIO_COPY");
                self.reach(t, None, src, len, "UFFDIO_COPY's source");
            }
            ("uffdio_register" | "uffdio_unregister", &[fd, start, len, ..]) => {
                let m = ctx(self, fd);
                self.reach(t, m, start, len, call.name());
                self.nothing_above(t, m, start, call.name());
            }
            (
                "uffdio_zeropage" | "uffdio_continue" | "uffdio_writeprotect" | "uffdio_wake",
                &[fd, start, len, ..],
            ) => {
                let m = ctx(self, fd);
                self.reach(t, m, start, len, call.name())
            }
            _ => {}
        }
    }

    /// The effect of a syscall that returned `r`.
    fn apply(&mut self, mm: MmId, call: &Syscall, r: Result<u64, Errno>) {
        let a = args(call);
        match (call.name(), a.as_slice()) {
            ("mmap", &[addr, len, prot, flags, fd, off]) => match r {
                Ok(at) => {
                    let file = if flags & MAP_ANONYMOUS != 0 {
                        None
                    } else {
                        match self.file(mm, fd as i64) {
                            Some(f) => Some(f),
                            None => return self.mem.forget(mm, at, at.saturating_add(len)),
                        }
                    };
                    self.mem.mmap(mm, at, len, prot, flags, file, off);
                }
                // A failed MAP_FIXED may already have unmapped what was there.
                Err(_) if flags & MAP_FIXED != 0 => {
                    let huge = flags & MAP_HUGETLB != 0
                        || self
                            .file(mm, fd as i64)
                            .is_some_and(|f| self.mem.is_huge_file(f));
                    let unit = if huge { 2 << 20 } else { PAGE };
                    self.mem
                        .forget(mm, addr, addr.saturating_add(len.div_ceil(unit) * unit))
                }
                Err(_) => {}
            },
            ("munmap", &[addr, len]) if r.is_ok() => self.mem.munmap(mm, addr, len),
            ("mremap", &[old, old_len, new_len, flags, new_addr]) => match r {
                // `feature mremap_efault_fix off`: 5.18 returns EFAULT from vma_to_resize()
                // as the address 14 (the sign bug), having changed nothing.
                Ok(new) if new < PAGE => {}
                Ok(new) => self.mem.mremap(mm, old, old_len, new_len, flags, new),
                // mremap_to() unmaps the target and the old tail before it may still fail
                // (EINVAL comes from the argument checks, before that).
                Err(e) if flags & MREMAP_FIXED != 0 && e != Errno::EINVAL => {
                    self.mem
                        .forget(mm, new_addr, new_addr.saturating_add(new_len));
                    if old_len > new_len {
                        self.mem.forget(mm, old + new_len, old + old_len);
                    }
                }
                Err(_) => {}
            },
            ("mprotect", &[addr, len, prot]) => self.mem.mprotect(mm, addr, len, prot, r.is_ok()),
            ("madvise", &[addr, len, advice]) => match r {
                // madvise_walk_vmas() acts on every mapped part and then reports the hole.
                Ok(_) => self.mem.madvise(mm, addr, len, advice),
                Err(Errno::ENOMEM)
                    if !matches!(advice, MADV_POPULATE_READ | MADV_POPULATE_WRITE) =>
                {
                    self.mem.madvise(mm, addr, len, advice)
                }
                Err(_) => self.mem.madvise_failed(mm, addr, len, advice),
            },
            ("memfd_create", &[_, flags]) => {
                if let Ok(fd) = r {
                    let f = self.mem.new_file(flags & MFD_HUGETLB != 0, 0);
                    self.fds
                        .entry(mm)
                        .or_default()
                        .insert(fd as i64, Fd::File(f));
                }
            }
            ("ftruncate", &[fd, len]) => {
                if let (Ok(_), Some(f)) = (r, self.file(mm, fd as i64)) {
                    self.mem.truncate(f, len)
                }
            }
            ("fallocate", &[fd, mode, off, len]) => match (r, self.file(mm, fd as i64)) {
                (Ok(_), Some(f)) => self.mem.fallocate(f, mode, off, len),
                // hugetlbfs_fallocate() keeps the pages it got before running out.
                (Err(Errno::ENOSPC | Errno::ENOMEM | Errno::EINTR), Some(f)) => self.mem.taint(f),
                _ => {}
            },
            ("close", &[fd]) if r.is_ok() => {
                if let Some(t) = self.fds.get_mut(&mm) {
                    t.remove(&(fd as i64));
                }
            }
            ("userfaultfd", _) => {
                if let Ok(fd) = r {
                    self.fds
                        .entry(mm)
                        .or_default()
                        .insert(fd as i64, Fd::Uffd(Some(mm)));
                }
            }
            ("uffdio_register", &[fd, start, len, _]) => {
                // Even a failed registration may have registered part of the range.
                match self.uffd_mm(mm, fd as i64) {
                    Some(m) => self.mem.registered(m, start, start.saturating_add(len)),
                    None => {
                        let mms: Vec<MmId> = self.fds.keys().copied().collect();
                        for m in mms {
                            self.mem.registered(m, start, start.saturating_add(len));
                        }
                    }
                }
            }
            ("uffdio_copy", &[fd, dst, src, len, _]) => {
                self.fill(mm, fd as i64, dst, len, r, Some(src))
            }
            ("uffdio_zeropage", &[fd, start, len, _]) => {
                self.fill(mm, fd as i64, start, len, r, None)
            }
            // CONTINUE maps what the page cache holds; the rest change no contents.
            _ => {}
        }
    }

    /// UFFDIO_COPY (from `src` in the caller's memory) or UFFDIO_ZEROPAGE. Only EAGAIN
    /// follows a partial fill (__mcopy_atomic() returns the bytes copied, if any).
    fn fill(
        &mut self,
        mm: MmId,
        fd: i64,
        dst: u64,
        len: u64,
        r: Result<u64, Errno>,
        src: Option<u64>,
    ) {
        let end = dst.saturating_add(len);
        match (r, self.uffd_mm(mm, fd)) {
            (Ok(_), Some(target)) => {
                let bytes = match src {
                    Some(s) => self.mem.read_range(mm, s, len),
                    None => vec![Some(0); len as usize],
                };
                self.mem.filled(target, dst, &bytes);
            }
            (Ok(_) | Err(Errno::EAGAIN), None) => self.forget_everywhere(dst, end),
            (Err(Errno::EAGAIN), Some(target)) => self.mem.forget_contents(target, dst, end),
            _ => {}
        }
    }

    /// The combined expectation of the pages an access range touches: the first certain
    /// signal after pages that certainly complete; unknown once any page is unknown.
    fn predict_range(&self, mm: MmId, addr: u64, len: u64, write: bool) -> Expect {
        let mut a = addr;
        let end = addr.saturating_add(len);
        while a < end {
            match self.mem.predict(mm, a, write).fault {
                Some(None) => {}
                f => {
                    return Expect {
                        fault: f,
                        ..Expect::default()
                    }
                }
            }
            a = (a & !(PAGE - 1)) + PAGE;
        }
        Expect {
            fault: Some(None),
            ..Expect::default()
        }
    }

    /// Compare an access's outcome with the expectation; note a mismatch.
    fn judge(&mut self, what: &str, mm: MmId, addr: u64, e: Expect, r: Result<u64, Signal>) {
        let kind = back_kind(self.mem.vpage(mm, addr));
        let bad = match (e.fault, r) {
            (Some(Some(sig)), Ok(_)) => Some((
                "fault",
                format!("it completed; the shadow expected {}", sig.name()),
            )),
            (Some(Some(sig)), Err(got)) if got != sig => Some((
                "fault",
                format!(
                    "it raised {}; the shadow expected {}",
                    got.name(),
                    sig.name()
                ),
            )),
            (Some(None), Err(got)) => Some((
                "fault",
                format!(
                    "it raised {}; the shadow expected it to complete",
                    got.name()
                ),
            )),
            (_, Ok(v)) if what == "load" => match e.byte {
                Some(b) if e.wrong(v as u8) => Some((
                    "value",
                    match e.alt {
                        Some(z) => format!(
                            "it read {v:#04x}; the shadow expected {b:#04x} or {z:#04x} (a lazily freed page)"
                        ),
                        None => format!("it read {v:#04x}; the shadow expected {b:#04x}"),
                    },
                )),
                _ => None,
            },
            _ => None,
        };
        if let Some((class, msg)) = bad {
            self.mismatches.push(Mismatch {
                what: format!("{what} at {addr:#x} ({kind}): {msg}"),
                kind: format!("{what} {kind}: {class}"),
            });
        }
    }

    /// An access finished with `r` (at once, or after a sleep: `late`).
    fn completed(&mut self, mm: MmId, a: Access, r: Result<u64, Signal>, e: Expect, late: bool) {
        match a {
            Access::Load(addr) => {
                self.judge("load", mm, addr, e, r);
                if let Ok(v) = r {
                    self.mem.loaded_value(mm, addr, v as u8);
                }
            }
            Access::Store(addr, v) => {
                self.judge("store", mm, addr, e, r);
                if r.is_ok() {
                    self.mem.stored(mm, addr, Some(v));
                }
            }
            Access::Memset(addr, v, len) => {
                self.judge("memset", mm, addr, e, r);
                let end = addr.saturating_add(len);
                // A woken memset is retried from its start by the model but resumed where
                // it faulted by a real one: bytes written meanwhile are not the shadow's call.
                match (r.is_ok(), late) {
                    (true, false) => self.mem.write_range(mm, addr, end, Some(v)),
                    (true, true) => self.mem.write_range(mm, addr, end, None),
                    (false, false) => self.mem.write_until_fault(mm, addr, end, Some(v)),
                    (false, true) => self.mem.forget_contents(mm, addr, end),
                }
            }
            Access::Fill(addr, len, _) => {
                // The shadow keeps single bytes, not patterns: the range's contents are
                // no longer known.
                self.judge("fill", mm, addr, e, r);
                let end = addr.saturating_add(len);
                match r {
                    Ok(_) => self.mem.write_range(mm, addr, end, None),
                    Err(_) => self.mem.forget_contents(mm, addr, end),
                }
            }
            Access::Touch(addr, len) => {
                self.judge("touch", mm, addr, e, r);
                if r.is_ok() {
                    let mut p = addr;
                    while p < addr.saturating_add(len) {
                        self.mem.loaded(mm, p);
                        p = (p & !(PAGE - 1)) + PAGE;
                    }
                }
            }
        }
    }

    fn expect_access(&self, mm: MmId, a: Access) -> Expect {
        match a {
            Access::Load(addr) => self.mem.predict(mm, addr, false),
            Access::Store(addr, _) => self.mem.predict(mm, addr, true),
            Access::Memset(addr, _, len) | Access::Fill(addr, len, _) => {
                self.predict_range(mm, addr, len, true)
            }
            Access::Touch(addr, len) => self.predict_range(mm, addr, len, false),
        }
    }

    /// Collect the accesses and syscalls that finished since the last call (a wake retries
    /// an access at once, inside whatever call woke it).
    fn poll(&mut self) {
        let sleepers: Vec<TaskId> = self.asleep.keys().copied().collect();
        for t in sleepers {
            let r = self.inner.finish(t);
            if r == Err(Signal::Userfault) {
                continue;
            }
            let a = self.asleep.remove(&t).expect("listed");
            self.done.insert(t, r);
            if let Some(&mm) = self.task_mm.get(&t) {
                let e = self.expect_access(mm, a);
                self.completed(mm, a, r, e, true);
            }
        }
        let sleepers: Vec<TaskId> = self.asleep_sys.keys().copied().collect();
        for t in sleepers {
            let Some(r) = self.inner.finish_syscall(t) else {
                continue;
            };
            let s = self.asleep_sys.remove(&t).expect("listed");
            self.done_sys.insert(t, r);
            self.syscall_returned(s, r);
        }
    }

    /// A syscall that slept returned `r`.
    fn syscall_returned(&mut self, s: Asleep, r: Result<u64, Errno>) {
        let Some(call) = s.call else {
            return;
        };
        if s.restarted {
            self.mem.set_unsettled(s.mm, false);
        }
        if s.restarted || s.deferred {
            self.apply(s.mm, &call, r);
        }
        if s.restarted {
            // GUP populated part of it before sleeping: when a private copy was taken is
            // not known.
            match (call.name(), args(&call).as_slice()) {
                ("madvise", &[addr, len, _]) => {
                    self.mem
                        .forget_private_copies(s.mm, addr, addr.saturating_add(len))
                }
                ("mremap", &[_, _, new_len, ..]) => {
                    if let Ok(new) = r {
                        self.mem.forget_private_copies(s.mm, new, new + new_len)
                    }
                }
                _ => {}
            }
        }
    }

    /// Remove a process's tasks and address space after exit_group().
    fn exited(&mut self, mm: MmId) {
        let tasks: Vec<TaskId> = self
            .task_mm
            .iter()
            .filter(|(_, m)| **m == mm)
            .map(|(t, _)| *t)
            .collect();
        for t in tasks {
            self.task_mm.remove(&t);
            self.asleep.remove(&t);
            self.asleep_sys.remove(&t);
        }
        self.fds.remove(&mm);
        self.mem.drop_mm(mm);
    }
}

impl<B: Backend> Backend for Shadow<B> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn prepare(&mut self, setup: &Setup) -> Result<(), Skip> {
        self.mem = RefMem::default();
        self.task_mm.clear();
        self.fds.clear();
        self.asleep.clear();
        self.asleep_sys.clear();
        self.done.clear();
        self.done_sys.clear();
        self.unread_forks.clear();
        self.mismatches.clear();
        self.violation = None;
        self.host_unfit = None;
        self.inner.prepare(setup)
    }

    fn spawn_process(&mut self, cpu: usize) -> Result<TaskId, Errno> {
        let r = self.inner.spawn_process(cpu);
        if let Ok(t) = r {
            let mm = self.mem.new_mm();
            self.task_mm.insert(t, mm);
            self.fds.insert(mm, HashMap::new());
        }
        r
    }

    fn fork(&mut self, t: TaskId) -> Result<TaskId, Errno> {
        let r = self.inner.fork(t);
        if let (Ok(c), Some(&mm)) = (r, self.task_mm.get(&t)) {
            let child = self.mem.fork_mm(mm);
            self.task_mm.insert(c, child);
            let fds = self.fds.get(&mm).cloned().unwrap_or_default();
            self.fds.insert(child, fds);
            if self.inner.sleeping(t) {
                self.unread_forks.push_back(child);
                self.asleep_sys.insert(
                    t,
                    Asleep {
                        call: None,
                        mm,
                        restarted: false,
                        deferred: false,
                    },
                );
            }
        }
        self.poll();
        r
    }

    fn thread(&mut self, t: TaskId, cpu: usize) -> Result<TaskId, Errno> {
        let r = self.inner.thread(t, cpu);
        if let (Ok(n), Some(&mm)) = (r, self.task_mm.get(&t)) {
            self.task_mm.insert(n, mm);
        }
        r
    }

    fn exit(&mut self, t: TaskId, code: u32) -> Result<(), Errno> {
        let r = self.inner.exit(t, code);
        if let (Ok(()), Some(&mm)) = (r, self.task_mm.get(&t)) {
            self.exited(mm);
        }
        self.poll();
        r
    }

    fn syscall(&mut self, t: TaskId, call: &Syscall) -> Result<u64, Errno> {
        self.reaches(t, call);
        let r = self.inner.syscall(t, call);
        if let Some(&mm) = self.task_mm.get(&t) {
            self.placed_by_kernel(mm, call, r);
            if self.inner.sleeping(t) {
                let restarted = r == Err(Errno::ERESTARTNOINTR);
                let a = args(call);
                let zap = match (call.name(), a.as_slice()) {
                    ("madvise", &[addr, len, advice]) => {
                        matches!(advice, MADV_DONTNEED | MADV_DONTNEED_LOCKED | MADV_REMOVE)
                            .then_some((addr, len))
                    }
                    _ => None,
                };
                let deferred = !restarted && zap.is_some();
                if restarted {
                    self.mem.set_unsettled(mm, true);
                } else if let (true, Some((addr, len))) = (deferred, zap) {
                    self.mem.forget_contents(mm, addr, addr.saturating_add(len));
                } else {
                    self.apply(mm, call, r);
                }
                self.asleep_sys.insert(
                    t,
                    Asleep {
                        call: Some(call.clone()),
                        mm,
                        restarted,
                        deferred,
                    },
                );
            } else {
                self.apply(mm, call, r);
            }
        }
        self.poll();
        r
    }

    fn access(&mut self, t: TaskId, a: Access) -> Result<u64, Signal> {
        let Some(&mm) = self.task_mm.get(&t) else {
            return self.inner.access(t, a);
        };
        let (start, len) = match a {
            Access::Load(x) | Access::Store(x, _) => (x, 1),
            Access::Memset(x, _, n) | Access::Touch(x, n) | Access::Fill(x, n, _) => (x, n),
        };
        self.reach(t, None, start, len, "an access");
        let e = self.expect_access(mm, a);
        let r = self.inner.access(t, a);
        if r == Err(Signal::Userfault) {
            self.asleep.insert(t, a);
            if let Access::Memset(addr, _, len) | Access::Fill(addr, len, _) = a {
                self.mem.forget_contents(mm, addr, addr.saturating_add(len));
            }
        } else {
            self.completed(mm, a, r, e, false);
        }
        self.poll();
        r
    }

    fn finish(&mut self, t: TaskId) -> Result<u64, Signal> {
        self.poll();
        self.done.remove(&t).unwrap_or(Err(Signal::Userfault))
    }

    fn fstat(&mut self, t: TaskId, fd: i64) -> Result<mmlab::fs::stat::Kstat, Errno> {
        self.inner.fstat(t, fd)
    }
    fn wait4(&mut self, t: TaskId, pid: i32, options: u32) -> Reaping {
        self.inner.wait4(t, pid, options)
    }
    fn getrusage(&mut self, t: TaskId, who: i32) -> Result<mmlab::sys::Rusage, Errno> {
        self.inner.getrusage(t, who)
    }
    fn uffd_read(&mut self, t: TaskId, fd: i64) -> Result<Option<UffdMsg>, Errno> {
        let r = self.inner.uffd_read(t, fd);
        if let (Ok(Some(m)), Some(&mm)) = (&r, self.task_mm.get(&t)) {
            if m.event == UFFD_EVENT_FORK {
                let child = self.unread_forks.pop_front();
                self.fds
                    .entry(mm)
                    .or_default()
                    .insert(m.arg[0] as i64, Fd::Uffd(child));
            }
        }
        self.poll();
        r
    }

    fn sleeping(&mut self, t: TaskId) -> bool {
        self.inner.sleeping(t)
    }

    fn finish_syscall(&mut self, t: TaskId) -> Option<Result<u64, Errno>> {
        self.poll();
        self.done_sys.remove(&t)
    }

    fn si_code(&mut self, t: TaskId) -> Option<u64> {
        self.inner.si_code(t)
    }
    fn runs_model_probes(&self) -> bool {
        self.inner.runs_model_probes()
    }
    fn status(&mut self, t: TaskId, name: &str) -> Result<u64, String> {
        self.inner.status(t, name)
    }
    fn majflt(&mut self, t: TaskId) -> Result<u64, Errno> {
        self.inner.majflt(t)
    }
    fn mismatch_pattern(
        &mut self,
        t: TaskId,
        addr: u64,
        len: u64,
        pat: Pattern,
    ) -> Result<Option<(u64, u8)>, Signal> {
        self.reach(t, None, addr, len, "mem()");
        self.inner.mismatch_pattern(t, addr, len, pat)
    }
    fn mem_cmp(
        &mut self,
        t: TaskId,
        a: u64,
        b: u64,
        len: u64,
    ) -> Result<Option<(u64, u8, u8)>, Signal> {
        self.reach(t, None, a, len, "mem()");
        self.reach(t, None, b, len, "mem()");
        self.inner.mem_cmp(t, a, b, len)
    }
    fn mismatch(
        &mut self,
        t: TaskId,
        addr: u64,
        len: u64,
        val: u8,
    ) -> Result<Option<(u64, u8)>, Signal> {
        self.reach(t, None, addr, len, "mem()");
        let r = self.inner.mismatch(t, addr, len, val);
        let Some(&mm) = self.task_mm.get(&t) else {
            return r;
        };
        let e = self.predict_range(mm, addr, len, false);
        let read_to = match r {
            Ok(None) => addr.saturating_add(len),
            Ok(Some((at, _))) => at,
            Err(_) => addr,
        };
        self.judge("mem", mm, addr, e, r.map(|_| 0));
        let mut a = addr;
        while a < read_to {
            let p = self.mem.predict(mm, a, false);
            if p.wrong(val) {
                self.judge("load", mm, a, p, Ok(u64::from(val)));
                break;
            }
            self.mem.loaded_value(mm, a, val);
            a += 1;
        }
        if let Ok(Some((at, got))) = r {
            let p = self.mem.predict(mm, at, false);
            self.judge("load", mm, at, p, Ok(u64::from(got)));
            self.mem.loaded_value(mm, at, got);
        }
        r
    }

    fn pagemap(&mut self, t: TaskId, addr: u64) -> Result<u64, Errno> {
        self.reach(t, None, addr, 1, "pagemap()");
        self.inner.pagemap(t, addr)
    }
    fn zero_pfn(&mut self) -> u64 {
        self.inner.zero_pfn()
    }
    fn minflt(&mut self, t: TaskId) -> Result<u64, Errno> {
        self.inner.minflt(t)
    }
    fn maps(&mut self, t: TaskId) -> Result<Vec<MapsEntry>, Errno> {
        self.inner.maps(t)
    }
    fn vmstat(&mut self, name: &str) -> Result<u64, String> {
        self.inner.vmstat(name)
    }
    fn meminfo(&mut self, name: &str) -> Result<u64, String> {
        self.inner.meminfo(name)
    }
    fn smaps(&mut self, t: TaskId, addr: u64) -> Result<Option<Vec<(String, u64)>>, String> {
        self.reach(t, None, addr, 1, "smaps()");
        self.inner.smaps(t, addr)
    }
    fn swaps(&mut self, name: &str) -> Result<Option<SwapsLine>, String> {
        self.inner.swaps(name)
    }
    fn model_probe(&mut self, t: TaskId, probe: &ModelProbe) -> Result<ProbeValue, String> {
        self.inner.model_probe(t, probe)
    }

    fn sleep(&mut self, ns: u64) {
        self.inner.sleep(ns);
        self.poll();
    }
    fn now_ns(&mut self) -> u64 {
        self.inner.now_ns()
    }
    fn sysfs_read(&mut self, path: &str) -> Result<String, Errno> {
        self.inner.sysfs_read(path)
    }
    fn sysfs_write(&mut self, path: &str, value: &str) -> Result<(), Errno> {
        self.inner.sysfs_write(path, value)
    }
    fn take_trace(&mut self) -> Option<Vec<mmlab::trace::Event>> {
        self.inner.take_trace()
    }

    fn check(&mut self) -> Result<(), String> {
        let r = self.inner.check();
        if let Err(v) = &r {
            self.violation.get_or_insert_with(|| v.clone());
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmlab_scenario::ModelBackend;

    fn map_page(s: &mut Shadow<ModelBackend>, t: TaskId) -> u64 {
        let flags = MAP_PRIVATE | MAP_ANONYMOUS;
        let call = Syscall::nums(
            "mmap",
            &[0, PAGE, PROT_READ | PROT_WRITE, flags, u64::MAX, 0],
        )
        .expect("mmap");
        s.syscall(t, &call).expect("mmap")
    }

    #[test]
    fn a_byte_changed_behind_the_shadow_is_a_mismatch() {
        let mut s = Shadow::new(ModelBackend::default());
        s.prepare(&Setup::default()).expect("prepares");
        let t = s.spawn_process(0).expect("process");
        let a = map_page(&mut s, t);
        s.access(t, Access::Store(a + 3, 0x11)).expect("store");
        assert_eq!(s.access(t, Access::Load(a + 3)), Ok(0x11));
        assert!(s.mismatches.is_empty(), "{:?}", s.mismatches);
        // A store the shadow does not see, as a model bug writing the wrong page would be.
        let k = s.inner.kernel().expect("prepared");
        k.store(t, a + 3, 0x12).expect("store");
        assert_eq!(s.access(t, Access::Load(a + 3)), Ok(0x12));
        assert_eq!(s.mismatches.len(), 1);
        assert_eq!(s.mismatches[0].kind, "load private-anon: value");
        assert!(
            s.mismatches[0].what.contains("expected 0x11"),
            "{:?}",
            s.mismatches
        );
    }

    #[test]
    fn a_fault_the_shadow_does_not_expect_is_a_mismatch() {
        let mut s = Shadow::new(ModelBackend::default());
        s.prepare(&Setup::default()).expect("prepares");
        let t = s.spawn_process(0).expect("process");
        let a = map_page(&mut s, t);
        let k = s.inner.kernel().expect("prepared");
        k.munmap(t, a, PAGE).expect("munmap");
        assert_eq!(s.access(t, Access::Load(a)), Err(Signal::Segv));
        assert_eq!(s.mismatches.len(), 1);
        assert_eq!(s.mismatches[0].kind, "load private-anon: fault");
    }

    #[test]
    fn what_the_shadow_cannot_know_it_does_not_judge() {
        let mut s = Shadow::new(ModelBackend::default());
        s.prepare(&Setup::default()).expect("prepares");
        let t = s.spawn_process(0).expect("process");
        let a = map_page(&mut s, t);
        s.access(t, Access::Store(a, 0x11)).expect("store");
        let free = Syscall::nums("madvise", &[a, PAGE, MADV_FREE]).expect("madvise");
        s.syscall(t, &free).expect("madvise");
        // The model keeps the page (nothing reclaims it); zero would be right too.
        let k = s.inner.kernel().expect("prepared");
        k.store(t, a, 0).expect("store");
        assert_eq!(s.access(t, Access::Load(a)), Ok(0));
        assert!(s.mismatches.is_empty(), "{:?}", s.mismatches);
    }
}
