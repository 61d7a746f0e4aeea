//! `HostBackend`: scenario tasks are real processes and threads (agents) on the host kernel.

use std::io::{IoSlice, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};

use mmlab::fs::proc::MapsEntry;
use mmlab::{Errno, Signal};
use mmlab_scenario::backend::*;
use mmlab_scenario::syscalls::{keyed_value, ArgKind, CgroupOp, HostCall};
use nix::sys::socket::{
    sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};

use crate::hostlock::HostLock;
use crate::hugetlb_pool::{
    self, read_u64, write_nr_hugepages, Held, PoolCounts, NR_HUGEPAGES, NR_OVERCOMMIT_HUGEPAGES,
};
use crate::proto::{
    encode_request, op, request, ArgSlot, Reply, Request, IOCTL_WORDS, MAX_NAME, REPLY_BYTES,
};
use crate::{host_state, memcg, procfs, swap_areas, sysfs, thp_knobs};

/// How to start an agent process: a program and the arguments before the channel's fd.
#[derive(Clone, Debug)]
pub struct AgentCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

struct Task {
    pid: i32,
    /// The thread's id (gettid), for /proc/PID/task/TID.
    tid: i32,
    chan: UnixStream,
    /// The thread sleeps in handle_userfault(): its access's reply is still to come.
    asleep: bool,
    /// voluntary_ctxt_switches when it was last seen going to sleep.
    switches: u64,
    /// The reply of an access that finished after a wake, until `finish` takes it.
    finished: Option<Reply>,
    /// The thread sleeps inside a syscall until its userfaultfd events are read.
    in_syscall: bool,
    /// The channel for the child of a fork() that sleeps until its FORK event is read.
    pending_fork: Option<UnixStream>,
    /// The si_code of the signal its last access raised, from the agent's handler.
    si_code: Option<u64>,
}

/// How long a woken thread gets to finish or to fall asleep again before the runner moves on.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(300);

/// Does the thread sleep in handle_userfault()? (/proc/PID/task/TID/wchan)
fn in_userfault(pid: i32, tid: i32) -> bool {
    wchan(pid, tid) == "handle_userfault"
}

/// Does the thread sleep until a userfaultfd event it caused is read?
fn in_event_wait(pid: i32, tid: i32) -> bool {
    wchan(pid, tid) == "userfaultfd_event_wait_completion"
}

/// Wait until process `pid` has finished exiting (a zombie, or reaped): past cgroup_exit(),
/// so it has left its cgroups, as a process the model ends leaves them at once. Its channels
/// close earlier, in exit_files(). Bounded in case the process never gets there.
fn wait_exited(pid: i32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return;
        };
        // The state follows the command name's closing parenthesis.
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        if matches!(state, Some("Z" | "X")) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Where the thread sleeps (the kernel function in /proc/PID/task/TID/wchan).
fn wchan(pid: i32, tid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan"))
        .map(|w| w.trim().to_string())
        .unwrap_or_default()
}

/// The thread's voluntary context switches (/proc/PID/task/TID/status).
fn voluntary_switches(pid: i32, tid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Is a reply waiting on the channel (within `ms` milliseconds)?
fn readable(chan: &UnixStream, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd: chan.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd on a live socket.
    unsafe { libc::poll(&mut p, 1, ms) > 0 }
}

fn read_reply(chan: &mut UnixStream) -> Result<Reply, Errno> {
    let mut b = [0u8; REPLY_BYTES];
    chan.read_exact(&mut b).map_err(|_| Errno::ESRCH)?;
    Ok(Reply::decode(&b))
}

/// An access's reply: its value, or its signal (whose si_code, the reply's last word, goes to
/// `si_code`).
fn access_result(r: Reply, si_code: &mut Option<u64>) -> Result<u64, Signal> {
    *si_code = (r.status < 0).then_some(r.v[2]);
    if r.status < 0 {
        Err(signal_of(r.status))
    } else {
        Ok(r.v[0])
    }
}

/// The host kernel as a scenario backend.
pub struct HostBackend {
    agent: AgentCommand,
    tasks: Vec<Option<Task>>,
    children: Vec<Child>,
    zero_pfn: Option<u64>,
    /// The host, ours from the first scenario that runs on it until this backend is dropped.
    lock: Option<HostLock>,
    /// What others held in the pool when this backend first sized it (see `size_pool`).
    others: Option<Held>,
    /// While a scenario's pool is set: the pages it is sized on top of, which /proc/meminfo's
    /// HugePages_* figures are reported without.
    pool_offset: Option<Held>,
    /// The files the running scenario's `sysfs_write` steps wrote, given back at its end.
    sysfs_written: Vec<String>,
    /// The running scenario's swap areas: the name steps use, the path swapon(2) takes.
    swap_names: Vec<(String, String)>,
    /// The origin of `now_ns`.
    epoch: std::time::Instant,
    /// The running scenario's directory (`scenario_dir`), its agents' working directory.
    files_dir: Option<std::path::PathBuf>,
    /// Per scenario process (by pid): the minor faults its agent took for itself while it
    /// served fork(), thread() and uffd_read() (see `minflt`).
    agent_faults: std::collections::HashMap<i32, u64>,
    /// Every process of the running scenario, in order of creation: those left unreaped at
    /// its end are reaped here (see `reap_orphans`).
    pids: Vec<i32>,
    /// A `cgroup_v1` scenario's memory cgroup hierarchy, removed when it ends.
    cgroups: Option<memcg::Hierarchy>,
}

fn channel() -> Result<(UnixStream, OwnedFd), Errno> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::empty(),
    )
    .map_err(|e| Errno::from_code(e as i32).unwrap_or(Errno::EIO))?;
    nix::fcntl::fcntl(
        ours.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(|_| Errno::EIO)?;
    Ok((UnixStream::from(ours), theirs))
}

/// A fork()'s reply that came after it slept until its FORK event was read: the faults the
/// parent's agent took for itself meanwhile (see `HostBackend::minflt`).
fn fork_replied(agent_faults: &mut std::collections::HashMap<i32, u64>, pid: i32, r: &Reply) {
    if r.status == 0 {
        *agent_faults.entry(pid).or_default() += r.v[1];
    }
}

/// A file operation's result as a syscall's (0 or the errno).
fn io_result(r: std::io::Result<()>) -> Result<u64, Errno> {
    r.map(|_| 0).map_err(|e| sysfs::errno(&e))
}

fn errno_of(status: i64) -> Errno {
    Errno::from_code(status as i32).unwrap_or(Errno::EIO)
}

fn signal_of(status: i64) -> Signal {
    match -status as i32 {
        libc::SIGSEGV => Signal::Segv,
        libc::SIGBUS => Signal::Bus,
        _ => Signal::Kill,
    }
}

impl HostBackend {
    /// A backend that starts agents with `agent`.
    pub fn new(agent: AgentCommand) -> HostBackend {
        HostBackend {
            agent,
            tasks: Vec::new(),
            children: Vec::new(),
            zero_pfn: None,
            lock: None,
            others: None,
            pool_offset: None,
            sysfs_written: Vec::new(),
            swap_names: Vec::new(),
            epoch: std::time::Instant::now(),
            files_dir: None,
            agent_faults: std::collections::HashMap::new(),
            pids: Vec::new(),
            cgroups: None,
        }
    }

    /// The runner is the child subreaper of its agents (PR_SET_CHILD_SUBREAPER): a forked
    /// child whose parent exited without reaping it comes to the runner, not to the host's
    /// init (which need not reap it), and `kill_tasks` reaps it.
    fn become_subreaper() {
        // SAFETY: sets a flag of this process.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }

    /// End and reap every process of the scenario that is the runner's child: a spawned agent,
    /// or a forked one whose parent exited first (it came to the runner, the subreaper), alive
    /// when its process group's leader was already gone, so the group kill missed it. In order
    /// of creation, so that each parent is reaped (and has handed its children on) before
    /// them. A pid that is not the runner's child (reaped in the scenario) is ECHILD at once;
    /// only a pid that is still our unreaped child is killed, so a reused pid never is.
    fn reap_orphans(&mut self) {
        for pid in std::mem::take(&mut self.pids) {
            loop {
                // SAFETY: polls one process of ours, without its status.
                let r = unsafe {
                    libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL | libc::WNOHANG)
                };
                if r == 0 {
                    // SAFETY: `pid` is our child and not yet reaped, so it names that process.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    // SAFETY: waits for that child, without its status.
                    while unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL) } < 0
                        && errno_is_eintr()
                    {}
                }
                if r >= 0 || !errno_is_eintr() {
                    break;
                }
            }
        }
    }

    /// Why this host cannot run scenarios at all, if it cannot.
    pub fn unavailable() -> Option<String> {
        if !cfg!(target_os = "linux") {
            return Some("the live backend needs Linux".into());
        }
        if !nix::unistd::geteuid().is_root() {
            return Some("needs root: /proc/PID/pagemap shows PFNs only with CAP_SYS_ADMIN".into());
        }
        None
    }

    /// End every scenario process and give the host back its settings.
    fn kill_all(&mut self) {
        self.kill_tasks();
        self.restore_host();
    }

    /// Give the host back every setting a scenario changed (the pool, the THP knobs, the swap
    /// areas).
    fn restore_host(&mut self) {
        self.pool_offset = None;
        self.swap_names.clear();
        self.cgroups = None;
        host_state::restore_all();
    }

    /// The path swapon(2) and swapoff(2) take for a scenario's swap path: a header's name
    /// translated, an absolute path as it is.
    fn swap_path<'a>(&'a self, name: &'a str) -> Result<&'a str, Errno> {
        if name.starts_with('/') {
            return Ok(name);
        }
        self.swap_names
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.as_str())
            .ok_or(Errno::ENOENT)
    }

    /// Make the 2 MiB pool offer `want` pages (or, for `None`, be what the host had), and check
    /// that a scenario asking for `want` pages finds all of them free. Pages others hold or have
    /// reserved (measured once into `others`, before this backend's first scenario could take
    /// any) are added on top, so the scenario sees an empty pool of `want` pages; the pages it
    /// is sized on top of are returned, for `meminfo` to report HugePages_* without them. On an
    /// error the caller gives the host its pool back.
    fn size_pool(
        turn: &HostLock,
        want: Option<u64>,
        others: &mut Option<Held>,
    ) -> Result<Option<Held>, Skip> {
        let Some(n) = want else {
            hugetlb_pool::restore();
            return Ok(None);
        };
        if !std::path::Path::new(NR_HUGEPAGES).exists() {
            return Err(Skip("no 2 MiB hugetlb pool on this kernel".into()));
        }
        let counts = PoolCounts::read().map_err(Skip)?;
        if counts.size_kb != 2048 {
            return Err(Skip(format!(
                "the default huge page size is {} kB, not 2048 kB: MAP_HUGETLB and \
                 /proc/meminfo's HugePages_* would not be about the 2 MiB pool",
                counts.size_kb
            )));
        }
        // Surplus pages would let faults and reservations past the pool succeed.
        let overcommit = read_u64(NR_OVERCOMMIT_HUGEPAGES).unwrap_or(0);
        if overcommit != 0 {
            return Err(Skip(format!(
                "nr_overcommit_hugepages is {overcommit}: surplus pages would change what \
                 an exhausted pool does; the host's setting is left alone"
            )));
        }
        let others = *others.get_or_insert(counts.held());
        let size = n + others.pages();
        // Pages of the previous scenario's processes may still be on their way back (a forked
        // child dies after its killed parent), and a pool cannot shrink past pages in use: try
        // for a little while to get the size, with only what others held at the start taken.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            if read_u64(NR_HUGEPAGES).map_err(Skip)? != size {
                write_nr_hugepages(turn, size).map_err(Skip)?;
            }
            let now = read_u64(NR_HUGEPAGES).map_err(Skip)?;
            let held = PoolCounts::read().map_err(Skip)?.held();
            if now == size && held == others {
                return Ok(Some(others));
            }
            if std::time::Instant::now() >= deadline {
                return Err(Skip(if now != size {
                    format!(
                        "needs {n} free 2 MiB huge pages on top of {} others hold; the kernel \
                         could set up only {now} (memory too fragmented?)",
                        others.pages()
                    )
                } else {
                    format!(
                        "needs {n} free 2 MiB huge pages: others held {} in use and {} reserved \
                         when this run started, and now {} and {} (something else on the host \
                         uses the pool)",
                        others.used, others.rsvd, held.used, held.rsvd
                    )
                }));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// End every scenario process (the agents' process groups).
    fn kill_tasks(&mut self) {
        for c in &mut self.children {
            // The agent leads a process group holding every process forked from it.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = c.wait();
            host_state::agent_ended(c.id() as i32);
        }
        self.children.clear();
        self.reap_orphans();
        self.tasks.clear();
        self.agent_faults.clear();
    }

    fn task(&mut self, t: TaskId) -> Result<&mut Task, Errno> {
        self.tasks
            .get_mut(t)
            .and_then(Option::as_mut)
            .ok_or(Errno::ESRCH)
    }

    /// Send a request (with an optional channel to pass along) and read the reply.
    fn call(&mut self, t: TaskId, req: Request, pass: Option<&OwnedFd>) -> Result<Reply, Errno> {
        self.call_with(t, req, pass, &[])
    }

    /// `call`, with `tail` sent after the request (a string argument's bytes).
    fn call_with(
        &mut self,
        t: TaskId,
        req: Request,
        pass: Option<&OwnedFd>,
        tail: &[u8],
    ) -> Result<Reply, Errno> {
        let task = self.task(t)?;
        let bytes = encode_request(&req);
        let sent = match pass {
            Some(fd) => {
                let fds = [fd.as_raw_fd()];
                sendmsg::<()>(
                    task.chan.as_raw_fd(),
                    &[IoSlice::new(&bytes)],
                    &[ControlMessage::ScmRights(&fds)],
                    MsgFlags::empty(),
                    None,
                )
                .map(|n| n == bytes.len())
            }
            None => Ok(task.chan.write_all(&bytes).is_ok()),
        };
        let sent = sent.map(|ok| ok && task.chan.write_all(tail).is_ok());
        if !matches!(sent, Ok(true)) {
            return Err(Errno::ESRCH);
        }
        // The reply, unless the thread falls asleep until a userfaultfd event it caused is
        // read, or in handle_userfault() on a fault the call took on user memory (`sleeping`
        // then says so and `finish_syscall` collects the reply).
        loop {
            if readable(&task.chan, 2) {
                return read_reply(&mut task.chan);
            }
            if in_event_wait(task.pid, task.tid) || in_userfault(task.pid, task.tid) {
                task.asleep = true;
                task.in_syscall = true;
                task.switches = voluntary_switches(task.pid, task.tid);
                return Err(Errno::EINTR);
            }
        }
    }

    fn sys(&mut self, t: TaskId, req: Request) -> Result<u64, Errno> {
        self.sys_with(t, req, &[])
    }

    /// `sys`, with `tail` sent after the request.
    fn sys_with(&mut self, t: TaskId, req: Request, tail: &[u8]) -> Result<u64, Errno> {
        let r = self.call_with(t, req, None, tail)?;
        if r.status == 0 {
            Ok(r.v[0])
        } else {
            Err(errno_of(r.status))
        }
    }

    fn access_req(&mut self, t: TaskId, req: Request) -> Result<Reply, Signal> {
        let pid = self.task(t).map_err(|_| Signal::Kill)?.pid;
        let r = self.call(t, req, None).map_err(|_| {
            wait_exited(pid);
            Signal::Kill
        })?;
        if let Ok(task) = self.task(t) {
            task.si_code = (r.status < 0).then_some(r.v[2]);
        }
        if r.status < 0 {
            Err(signal_of(r.status))
        } else {
            Ok(r)
        }
    }

    /// Send an access and wait for its reply, unless the thread falls asleep in
    /// handle_userfault() first.
    fn access_or_sleep(&mut self, t: TaskId, req: Request) -> Result<u64, Signal> {
        let task = self.task(t).map_err(|_| Signal::Kill)?;
        if task.chan.write_all(&encode_request(&req)).is_err() {
            return Err(Signal::Kill);
        }
        loop {
            if readable(&task.chan, 2) {
                let r = read_reply(&mut task.chan).map_err(|_| {
                    wait_exited(task.pid);
                    Signal::Kill
                })?;
                return access_result(r, &mut task.si_code);
            }
            if in_userfault(task.pid, task.tid) {
                task.asleep = true;
                task.switches = voluntary_switches(task.pid, task.tid);
                return Err(Signal::Userfault);
            }
        }
    }

    /// After a call that may wake faults: give each sleeping thread the time to finish its
    /// access or to fall asleep again, as the model's woken tasks do at once.
    fn settle(&mut self) {
        let agent_faults = &mut self.agent_faults;
        for task in self.tasks.iter_mut().flatten().filter(|t| t.asleep) {
            let until = std::time::Instant::now() + SETTLE;
            while std::time::Instant::now() < until {
                if readable(&task.chan, 1) {
                    task.finished = read_reply(&mut task.chan).ok();
                    task.asleep = false;
                    if let Some(r) = task.finished.filter(|_| task.pending_fork.is_some()) {
                        fork_replied(agent_faults, task.pid, &r);
                    }
                    break;
                }
                let n = voluntary_switches(task.pid, task.tid);
                if n > task.switches && in_userfault(task.pid, task.tid) {
                    // Woken, retried, and asleep on a new fault (an access's retry, or the
                    // next page of a populating syscall).
                    task.switches = n;
                    break;
                }
            }
        }
    }

    /// A syscall of the table, made the way its declaration says.
    fn make_syscall(&mut self, t: TaskId, call: &Syscall) -> Result<u64, Errno> {
        match call.def.host {
            HostCall::Raw(nr) => {
                let mut req = request(op::SYSCALL, &[nr as u64]);
                let mut kinds = 0;
                // The string argument, a swap path translated to the host's.
                let mut tail = String::new();
                for (i, (v, a)) in call.args.iter().zip(call.def.args).enumerate() {
                    let slot = match a.kind {
                        ArgKind::Fd => ArgSlot::Fd,
                        ArgKind::Str | ArgKind::Path | ArgKind::FilePath => ArgSlot::Str,
                        ArgKind::Addr | ArgKind::Hint | ArgKind::Int => ArgSlot::Value,
                    };
                    kinds = slot.set(kinds, i);
                    req[3 + i] = match v {
                        ArgValue::Num(n) => *n,
                        ArgValue::Str(text) => {
                            tail = match a.kind {
                                ArgKind::Path => self.swap_path(text)?,
                                _ => text,
                            }
                            .to_string();
                            if tail.len() > MAX_NAME || tail.contains('\0') {
                                // Longer than the protocol carries (and than any name Linux
                                // accepts), or cut short by a NUL.
                                return Err(Errno::EINVAL);
                            }
                            tail.len() as u64
                        }
                    };
                }
                req[2] = kinds;
                self.sys_with(t, req, tail.as_bytes())
            }
            HostCall::Ioctl { req: code, out } => {
                let words: Vec<u64> = call.args.iter().map(ArgValue::num).collect();
                let Some((&fd, fields)) = words.split_first() else {
                    return Err(Errno::EBADF);
                };
                if fields.len() > IOCTL_WORDS {
                    // A declaration the protocol cannot carry (the table's tests keep to it).
                    return Err(Errno::EINVAL);
                }
                let mut req = request(op::IOCTL, &[fd, code, out.map_or(0, |o| o as u64 + 1)]);
                req[4..4 + fields.len()].copy_from_slice(fields);
                self.sys(t, req)
            }
            HostCall::Affinity => self.sys(t, request(op::SETAFFINITY, &[call.args[0].num()])),
            HostCall::Capset => {
                let a: Vec<u64> = call.args.iter().map(ArgValue::num).collect();
                self.sys(t, request(op::CAPSET, &a))
            }
            HostCall::Prlimit { set, max } => {
                let pid = self.task(t)?.pid;
                let a: Vec<u64> = call.args.iter().map(ArgValue::num).collect();
                Self::prlimit(pid, a[0], set.then(|| (a[1], a[2])))
                    .map(|(c, m)| if max { m } else { c })
            }
            HostCall::Cgroup(CgroupOp::Read) => {
                let text = self.sysfs_read(call.args[0].text())?;
                keyed_value(&text, call.args[1].text()).ok_or(Errno::ENOENT)
            }
            HostCall::Cgroup(CgroupOp::Mkdir) => {
                io_result(std::fs::create_dir(self.cgroup_path(call)?))
            }
            HostCall::Cgroup(CgroupOp::Rmdir) => {
                io_result(std::fs::remove_dir(self.cgroup_path(call)?))
            }
            HostCall::Cgroup(CgroupOp::Attach) => {
                let procs = self.cgroup_path(call)?.join("cgroup.procs");
                let pid = self.task(t)?.pid;
                io_result(memcg::write_file(&procs, &pid.to_string()))
            }
            HostCall::ProcPidWrite(file) => {
                let pid = self.task(t)?.pid;
                let path = PathBuf::from(format!("/proc/{pid}/{file}"));
                io_result(memcg::write_file(
                    &path,
                    &(call.args[0].num() as i64).to_string(),
                ))
            }
            HostCall::Agent(sub) => {
                let mut req = request(op::AGENT, &[sub]);
                for (i, v) in call.args.iter().enumerate() {
                    req[2 + i] = v.num();
                }
                self.sys(t, req)
            }
        }
    }

    /// The host directory of a cgroup step's group. Only a cgroup_v1 scenario has cgroup steps
    /// here (a v2 one is model-only); the host's real root is never changed.
    fn cgroup_path(&self, call: &Syscall) -> Result<PathBuf, Errno> {
        let h = self.cgroups.as_ref().ok_or(Errno::ENOSYS)?;
        h.host_path(call.args[0].text()).ok_or(Errno::EPERM)
    }

    /// prlimit64() of process `pid`, made by the runner (root, as the agent is): the old soft and
    /// hard limits, after setting `new` if given. The resource is the kernel's `unsigned int`.
    fn prlimit(pid: i32, resource: u64, new: Option<(u64, u64)>) -> Result<(u64, u64), Errno> {
        let new = new.map(|(cur, max)| libc::rlimit64 {
            rlim_cur: cur,
            rlim_max: max,
        });
        let mut old = libc::rlimit64 {
            rlim_cur: 0,
            rlim_max: 0,
        };
        let newp = new
            .as_ref()
            .map_or(std::ptr::null(), |n| n as *const libc::rlimit64);
        // SAFETY: both structs live on this frame for the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_prlimit64,
                pid as libc::c_long,
                resource as u32 as libc::c_long,
                newp,
                &mut old as *mut libc::rlimit64,
            )
        };
        if rc == -1 {
            let e = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO);
            return Err(Errno::from_code(e).unwrap_or(Errno::EIO));
        }
        Ok((old.rlim_cur, old.rlim_max))
    }

    /// Everything `prepare` checks and sets up once the previous scenario's processes are gone.
    fn prepare_checks(&mut self, setup: &Setup) -> Result<(), Skip> {
        if let Some(reason) = &setup.model_only {
            return Err(Skip(format!("model-only: {reason}")));
        }
        match setup.profile.as_deref() {
            None | Some("linux-5.19") => {}
            Some(p) => {
                return Err(Skip(format!(
                    "profile {p} describes another kernel; the host runs {}",
                    host_release()
                )))
            }
        }
        // This host's memory controller is v1: `cgroup_v1 on` is how it already is.
        let v1 = setup.features.iter().any(|(n, on)| n == "cgroup_v1" && *on);
        if setup.features.len() > usize::from(v1) {
            return Err(Skip("feature switches exist only in the model".into()));
        }
        if let Some(reason) = setup
            .sysfs_writes
            .iter()
            .filter(|p| !(v1 && memcg::below_mount(p).is_some()))
            .find_map(|p| sysfs::refused(p))
        {
            return Err(Skip(reason));
        }
        if let Some(p) = setup.swap_paths.iter().find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() || m.file_type().is_block_device())
        }) {
            return Err(Skip(format!(
                "names {p}: the host backend never swaps the machine's own files or devices on \
                 or off (a scenario's areas come from its swap headers)"
            )));
        }
        if let Some(reason) = HostBackend::unavailable() {
            return Err(Skip(reason));
        }
        let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
        if setup.cpus.unwrap_or(1) > online {
            return Err(Skip(format!(
                "needs {} CPUs, the host has {online}",
                setup.cpus.unwrap_or(1)
            )));
        }
        if let Some(want) = setup.fault_around_bytes {
            // debugfs belongs to the machine: run only if the host is already set that way.
            let have = std::fs::read_to_string("/sys/kernel/debug/fault_around_bytes")
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok());
            if have != Some(want) {
                return Err(Skip(format!(
                    "needs fault_around_bytes {want}; the host has {}",
                    have.map_or("no debugfs knob".into(), |h| h.to_string())
                )));
            }
        }
        let turn = self
            .lock
            .as_ref()
            .expect("prepare takes the host lock first");
        self.pool_offset = Self::size_pool(turn, setup.hugepages, &mut self.others)?;
        thp_knobs::set(turn, &setup.thp, &setup.sysfs_writes)?;
        if self.zero_pfn.is_none() {
            self.zero_pfn = Some(
                procfs::zero_pfn()
                    .map_err(|e| Skip(format!("cannot find the zero page's PFN: {e}")))?,
            );
        }
        self.swap_names = swap_areas::set_up(turn, &setup.swap)?;
        if v1 {
            self.cgroups = Some(memcg::Hierarchy::new(turn).map_err(Skip)?);
        }
        Ok(())
    }

    /// A new task on `chan`; HELLO tells its thread id, and the minor faults the new thread
    /// has taken so far, which are returned with the task.
    fn add_task(&mut self, pid: i32, chan: UnixStream) -> Result<(TaskId, u64), Errno> {
        if !self.pids.contains(&pid) {
            self.pids.push(pid);
        }
        self.tasks.push(Some(Task {
            pid,
            tid: pid,
            chan,
            asleep: false,
            switches: 0,
            finished: None,
            in_syscall: false,
            pending_fork: None,
            si_code: None,
        }));
        let t = self.tasks.len() - 1;
        let hello = self.call(t, request(op::HELLO, &[]), None)?;
        self.task(t)?.tid = hello.v[1] as i32;
        Ok((t, hello.v[2]))
    }

    /// Count `n` minor faults of process `pid` as its agent's own, not the scenario's.
    fn agent_faulted(&mut self, pid: i32, n: u64) {
        *self.agent_faults.entry(pid).or_default() += n;
    }
}

impl Drop for HostBackend {
    fn drop(&mut self) {
        self.kill_all();
        if let Err(e) = crate::scenario_dir::remove() {
            eprintln!("mmlab: {e}");
        }
    }
}

impl Backend for HostBackend {
    fn name(&self) -> &'static str {
        "host"
    }

    fn prepare(&mut self, setup: &Setup) -> Result<(), Skip> {
        if self.lock.is_none() && HostBackend::unavailable().is_none() {
            self.lock = Some(HostLock::acquire().map_err(Skip)?);
            HostBackend::become_subreaper();
        }
        // The pool is left as the previous scenario had it until this one says what it wants.
        self.kill_tasks();
        let r = self
            .prepare_checks(setup)
            .and_then(|_| crate::scenario_dir::make(setup.files).map_err(Skip));
        match r {
            Ok(dir) => {
                self.files_dir = Some(dir);
                Ok(())
            }
            Err(e) => {
                // A skipped scenario runs nothing: the host gets its own pool and knobs back.
                self.restore_host();
                Err(e)
            }
        }
    }

    fn spawn_process(&mut self, cpu: usize) -> Result<TaskId, Errno> {
        let (chan, theirs) = channel()?;
        let keep = theirs.as_raw_fd();
        let mut cmd = Command::new(&self.agent.program);
        cmd.args(&self.agent.args)
            .arg(keep.to_string())
            .process_group(0);
        if let Some(dir) = &self.files_dir {
            cmd.current_dir(dir);
        }
        // SAFETY: close_range() and fcntl() are async-signal-safe and change only descriptor
        // flags. The agent keeps stdin, stdout, stderr and its channel: nothing else of the
        // runner's (a descriptor holding the host lock, a test harness's) goes into the
        // scenario's process, whose descriptors then start at 3 as on the model.
        unsafe {
            cmd.pre_exec(move || {
                libc::syscall(
                    libc::SYS_close_range,
                    3u32,
                    u32::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                );
                libc::fcntl(keep, libc::F_SETFD, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|_| Errno::ENOENT)?;
        drop(theirs);
        let pid = child.id() as i32;
        host_state::agent_started(pid);
        self.children.push(child);
        let (t, _) = self.add_task(pid, chan)?;
        self.sys(t, request(op::SETAFFINITY, &[cpu as u64]))?;
        Ok(t)
    }

    fn fork(&mut self, t: TaskId) -> Result<TaskId, Errno> {
        let (chan, theirs) = channel()?;
        let pid = self.call(t, request(op::FORK, &[]), Some(&theirs));
        drop(theirs);
        if self.task(t)?.in_syscall {
            // Asleep until the FORK event is read: the child's channel waits with it.
            self.task(t)?.pending_fork = Some(chan);
            return Err(Errno::EINTR);
        }
        let pid = pid?;
        if pid.status != 0 {
            return Err(errno_of(pid.status));
        }
        let parent = self.task(t)?.pid;
        self.agent_faulted(parent, pid.v[1]);
        // The child's own start-up faults are its own count's; no window of the scenario's
        // spans them.
        self.add_task(pid.v[0] as i32, chan).map(|(c, _)| c)
    }

    fn thread(&mut self, t: TaskId, cpu: usize) -> Result<TaskId, Errno> {
        let (chan, theirs) = channel()?;
        let r = self.call(t, request(op::THREAD, &[cpu as u64]), Some(&theirs))?;
        drop(theirs);
        if r.status != 0 {
            return Err(errno_of(r.status));
        }
        let pid = self.task(t)?.pid;
        // The calling thread's faults in pthread_create() and the new thread's in its start-up
        // are the agent's.
        let (new, started) = self.add_task(pid, chan)?;
        self.agent_faulted(pid, r.v[1] + started);
        Ok(new)
    }

    fn exit(&mut self, t: TaskId, code: u32) -> Result<(), Errno> {
        let pid = self.task(t)?.pid;
        // A pidfd taken now, while the process cannot have been reaped (its parent's next
        // wait is a later step), says when it has become a zombie.
        let pidfd = pidfd_open(pid);
        let (status, sig) = ((code >> 8) & 0xff, code & 0x7f);
        let bytes = encode_request(&request(op::EXIT, &[status as u64, sig as u64]));
        let _ = self.task(t)?.chan.write_all(&bytes);
        // Every channel of the process closes only after exit_mm() has released its memory.
        for slot in &mut self.tasks {
            if slot.as_ref().is_some_and(|x| x.pid == pid) {
                let mut task = slot.take().expect("task");
                let mut sink = [0u8; 64];
                while matches!(task.chan.read(&mut sink), Ok(n) if n > 0) {}
            }
        }
        // The channels close in exit_files(), before exit_notify() makes the process a
        // zombie: a forked child's parent could not reap it yet. Wait for the pidfd to turn
        // readable (the whole thread group has exited), so that the next step's wait4 does.
        if let Some(fd) = pidfd {
            zombie_wait(&fd);
        }
        if let Some(i) = self.children.iter().position(|c| c.id() as i32 == pid) {
            let _ = self.children.remove(i).wait();
            host_state::agent_ended(pid);
        } else {
            wait_exited(pid);
        }
        // A later process may get the pid.
        self.agent_faults.remove(&pid);
        Ok(())
    }

    fn syscall(&mut self, t: TaskId, call: &Syscall) -> Result<u64, Errno> {
        let r = self.make_syscall(t, call);
        if self.tasks.iter().flatten().any(|t| t.asleep) {
            self.settle();
        }
        r
    }

    fn access(&mut self, t: TaskId, a: Access) -> Result<u64, Signal> {
        let req = match a {
            Access::Load(addr) => request(op::LOAD, &[addr]),
            Access::Store(addr, v) => request(op::STORE, &[addr, v as u64]),
            Access::Memset(addr, v, len) => request(op::MEMSET, &[addr, v as u64, len]),
            Access::Touch(addr, len) => request(op::TOUCH, &[addr, len]),
            Access::Fill(addr, len, p) => {
                request(op::FILL, &[addr, len, p.seed as u64, p.shift as u64])
            }
        };
        self.access_or_sleep(t, req)
    }

    fn finish(&mut self, t: TaskId) -> Result<u64, Signal> {
        let task = self.task(t).map_err(|_| Signal::Kill)?;
        if let Some(r) = task.finished.take() {
            return access_result(r, &mut task.si_code);
        }
        if task.asleep && readable(&task.chan, SETTLE.as_millis() as i32) {
            task.asleep = false;
            let r = read_reply(&mut task.chan).map_err(|_| Signal::Kill)?;
            return access_result(r, &mut task.si_code);
        }
        Err(Signal::Userfault)
    }

    fn sleeping(&mut self, t: TaskId) -> bool {
        self.task(t).is_ok_and(|task| task.in_syscall)
    }

    fn finish_syscall(&mut self, t: TaskId) -> Option<Result<u64, Errno>> {
        let task = self.tasks.get_mut(t).and_then(Option::as_mut)?;
        let reply = match task.finished.take() {
            Some(r) => r,
            None if readable(&task.chan, SETTLE.as_millis() as i32) => {
                let r = read_reply(&mut task.chan).ok()?;
                if task.pending_fork.is_some() {
                    fork_replied(&mut self.agent_faults, task.pid, &r);
                }
                r
            }
            None => return None,
        };
        task.asleep = false;
        task.in_syscall = false;
        if reply.status != 0 {
            return Some(Err(errno_of(reply.status)));
        }
        match task.pending_fork.take() {
            Some(chan) => Some(
                self.add_task(reply.v[0] as i32, chan)
                    .map(|(c, _)| c as u64),
            ),
            None => Some(Ok(reply.v[0])),
        }
    }

    fn uffd_read(&mut self, t: TaskId, fd: i64) -> Result<Option<UffdMsg>, Errno> {
        let (pid, tid) = self.task(t).map(|task| (task.pid, task.tid))?;
        let before = procfs::thread_minflt(pid, tid);
        let r = self.call(t, request(op::UFFD_READ, &[fd as u64]), None);
        // Reading an event wakes the task that caused it.
        if self.tasks.iter().flatten().any(|t| t.asleep) {
            self.settle();
        }
        // The reader's faults are the agent's own (its stack and data, written after a FORK
        // event it read let a fork() complete: shared copy-on-write with the child until the
        // forking thread, which settle() waited for, made them writable again).
        if let (Ok(a), Ok(b)) = (before, procfs::thread_minflt(pid, tid)) {
            self.agent_faulted(pid, b.saturating_sub(a));
        }
        let r = r?;
        if r.status != 0 {
            return Err(errno_of(r.status));
        }
        let event = r.v[0] & 0xff;
        Ok((event != 0).then_some(UffdMsg {
            event,
            arg: [r.v[1], r.v[2], r.v[0] >> 8],
        }))
    }

    fn mismatch(
        &mut self,
        t: TaskId,
        addr: u64,
        len: u64,
        val: u8,
    ) -> Result<Option<(u64, u8)>, Signal> {
        let r = self.access_req(t, request(op::MISMATCH, &[addr, len, val as u64]))?;
        Ok((r.v[0] != 0).then(|| (addr + r.v[0] - 1, r.v[1] as u8)))
    }
    fn runs_model_probes(&self) -> bool {
        false
    }
    fn si_code(&mut self, t: TaskId) -> Option<u64> {
        self.task(t).ok()?.si_code.take()
    }
    fn mismatch_pattern(
        &mut self,
        t: TaskId,
        addr: u64,
        len: u64,
        p: Pattern,
    ) -> Result<Option<(u64, u8)>, Signal> {
        let req = request(
            op::MISMATCH_PATTERN,
            &[addr, len, p.seed as u64, p.shift as u64],
        );
        let r = self.access_req(t, req)?;
        Ok((r.v[0] != 0).then(|| (addr + r.v[0] - 1, r.v[1] as u8)))
    }
    fn mem_cmp(
        &mut self,
        t: TaskId,
        a: u64,
        b: u64,
        len: u64,
    ) -> Result<Option<(u64, u8, u8)>, Signal> {
        let r = self.access_req(t, request(op::MEMCMP, &[a, b, len]))?;
        Ok((r.v[0] != 0).then(|| (r.v[0] - 1, r.v[1] as u8, r.v[2] as u8)))
    }
    fn pagemap(&mut self, t: TaskId, addr: u64) -> Result<u64, Errno> {
        let pid = self.task(t)?.pid;
        procfs::pagemap(pid, addr)
    }
    fn zero_pfn(&mut self) -> u64 {
        self.zero_pfn.unwrap_or(0)
    }
    /// The process's minor faults less those its agent took for itself while it served
    /// fork(), thread() and uffd_read() (fuzz finding 011): /proc/PID/stat counts every
    /// thread's faults, the agent's own included, and the model, having no agent, counts none
    /// of those, so a scenario's `minflt()` delta across such a step counts only the
    /// scenario's faults. The copy-on-write faults the agent would take later, at times of the
    /// scheduler's, it takes before it replies (see `agent::prefault_writable`).
    fn minflt(&mut self, t: TaskId) -> Result<u64, Errno> {
        let pid = self.task(t)?.pid;
        let own = self.agent_faults.get(&pid).copied().unwrap_or(0);
        Ok(procfs::minflt(pid)?.saturating_sub(own))
    }
    fn status(&mut self, t: TaskId, name: &str) -> Result<u64, String> {
        let pid = self.task(t).map_err(|e| e.to_string())?.pid;
        procfs::status(pid, name)
    }
    fn majflt(&mut self, t: TaskId) -> Result<u64, Errno> {
        let pid = self.task(t)?.pid;
        procfs::majflt(pid)
    }
    fn maps(&mut self, t: TaskId) -> Result<Vec<MapsEntry>, Errno> {
        let pid = self.task(t)?.pid;
        procfs::maps(pid)
    }
    fn vmstat(&mut self, name: &str) -> Result<u64, String> {
        procfs::vmstat(name)
    }
    fn meminfo(&mut self, name: &str) -> Result<u64, String> {
        let v = procfs::meminfo(name)?;
        let Some(others) = self.pool_offset else {
            return Ok(v);
        };
        Ok(match name {
            "HugePages_Total" => v.saturating_sub(others.pages()),
            "HugePages_Free" | "HugePages_Rsvd" => v.saturating_sub(others.rsvd),
            _ => v,
        })
    }
    fn smaps(&mut self, t: TaskId, addr: u64) -> Result<Option<Vec<(String, u64)>>, String> {
        let pid = self.task(t).map_err(|e| e.to_string())?.pid;
        procfs::smaps(pid, addr).map_err(|e| e.to_string())
    }
    fn model_probe(&mut self, _t: TaskId, probe: &ModelProbe) -> Result<ProbeValue, String> {
        Err(format!(
            "{probe:?} looks inside the model; the host kernel has no such view"
        ))
    }
    fn check(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn sleep(&mut self, ns: u64) {
        std::thread::sleep(std::time::Duration::from_nanos(ns));
    }
    fn now_ns(&mut self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
    fn sysfs_read(&mut self, path: &str) -> Result<String, Errno> {
        match self.cgroups.as_ref().and_then(|h| h.host_path(path)) {
            Some(p) => std::fs::read_to_string(p).map_err(|e| sysfs::errno(&e)),
            None => sysfs::read(path),
        }
    }
    fn sysfs_write(&mut self, path: &str, value: &str) -> Result<(), Errno> {
        // A file of the scenario's own cgroups: not given back, the groups go at its end.
        if let Some(p) = self.cgroups.as_ref().and_then(|h| h.host_path(path)) {
            return memcg::write_file(&p, value).map_err(|e| sysfs::errno(&e));
        }
        let turn = self.lock.as_ref().ok_or(Errno::EPERM)?;
        if !self.sysfs_written.iter().any(|p| p == path) {
            self.sysfs_written.push(path.to_string());
        }
        sysfs::write(turn, path, value)
    }
    /// The sysfs writes are given back, then the swap areas: swapoff reads what the
    /// scenario's processes have swapped out back into them (they live until the next
    /// `prepare`), which takes a while for many pages but leaves nothing behind.
    fn teardown(&mut self) -> Result<(), String> {
        self.cgroups = None;
        sysfs::restore(&self.sysfs_written);
        self.sysfs_written.clear();
        self.swap_names.clear();
        self.files_dir = None;
        let dir = crate::scenario_dir::remove();
        swap_areas::give_back().and(dir)
    }

    /// The agent makes wait4() with WNOHANG added, so it never sleeps: 0 from a call that
    /// lacked it means the task would sleep.
    fn wait4(&mut self, t: TaskId, pid: i32, options: u32) -> Reaping {
        let r = self.call(
            t,
            request(op::WAIT4, &[pid as u32 as u64, options as u64]),
            None,
        )?;
        if r.status != 0 {
            return Err(errno_of(r.status));
        }
        let child = r.v[0] & 0xffff_ffff;
        if child == 0 {
            return Ok(None);
        }
        Ok(Some(mmlab::wait::Reaped {
            pid: child,
            status: (r.v[0] >> 32) as u32,
            ru: mmlab::sys::Rusage {
                minflt: r.v[1],
                majflt: r.v[2] & 0xffff_ffff,
                maxrss: r.v[2] >> 32,
            },
        }))
    }
    /// RUSAGE_SELF's ru_minflt less the agent's own faults, as `minflt()`.
    fn getrusage(&mut self, t: TaskId, who: i32) -> Result<mmlab::sys::Rusage, Errno> {
        let r = self.call(t, request(op::GETRUSAGE, &[who as u32 as u64]), None)?;
        if r.status != 0 {
            return Err(errno_of(r.status));
        }
        let pid = self.task(t)?.pid;
        let own = match who {
            mmlab::uapi::resource::RUSAGE_SELF => self.agent_faults.get(&pid).copied(),
            _ => None,
        };
        Ok(mmlab::sys::Rusage {
            minflt: r.v[0].saturating_sub(own.unwrap_or(0)),
            majflt: r.v[1],
            maxrss: r.v[2],
        })
    }
    fn fstat(&mut self, t: TaskId, fd: i64) -> Result<mmlab::fs::stat::Kstat, Errno> {
        let r = self.call(t, request(op::FSTAT, &[fd as u64]), None)?;
        if r.status != 0 {
            return Err(errno_of(r.status));
        }
        Ok(mmlab::fs::stat::Kstat {
            size: r.v[0],
            blocks: r.v[1],
            mode: r.v[2] & 0xffff_ffff,
            nlink: r.v[2] >> 32,
        })
    }
    fn swaps(&mut self, name: &str) -> Result<Option<SwapsLine>, String> {
        let path = self
            .swap_path(name)
            .map_err(|_| format!("no swap area is named \"{name}\""))?
            .to_string();
        let text =
            std::fs::read_to_string("/proc/swaps").map_err(|e| format!("/proc/swaps: {e}"))?;
        Ok(parse_proc_swaps(&text)
            .into_iter()
            .find(|l| l.filename == path))
    }
}

/// `uname -r` of the host.
pub fn host_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| format!("Linux {}", u.release().to_string_lossy()))
        .unwrap_or_else(|_| "an unknown kernel".into())
}

/// pidfd_open(2) of a process, None if it cannot be had.
fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: the syscall returns a new descriptor of ours or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a fresh descriptor nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Wait until a pidfd's process has exited and become a zombie (pidfd_poll() reports POLLIN
/// once exit_notify() has run for the whole thread group).
fn zombie_wait(fd: &OwnedFd) {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: polls one descriptor of ours; EINTR is retried.
    while unsafe { libc::poll(&mut p, 1, -1) } < 0 {}
}

fn errno_is_eintr() -> bool {
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
}
