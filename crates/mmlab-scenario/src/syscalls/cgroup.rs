//! The cgroup steps: mkdir and rmdir in the cgroup filesystem, a move into cgroup.procs, and
//! one key of a flat-keyed cgroup file (memory.events, memory.stat, memory.oom_control). Paths
//! are absolute under the mount (`/sys/fs/cgroup/...`, or `/sys/fs/cgroup/memory/...` with
//! `feature cgroup_v1 on`). The host backend makes them itself in a v1 hierarchy of its own
//! (see `HostCall::Cgroup`); a v2 scenario is skipped there.

use mmlab::{Errno, Kernel, SysResult};

use super::{arg, ArgKind, ArgValue, HostCall, SyscallDef};
use crate::ast::Radix;

/// The cgroup directory a full path names, relative to the mount.
fn dir(k: &Kernel, a: &ArgValue) -> SysResult<String> {
    k.cgroup_dir(a.text())
}

/// What a cgroup step does, for the host runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupOp {
    Mkdir,
    Rmdir,
    Attach,
    Read,
}

/// The value of `key` in flat-keyed text (`key value` lines).
pub fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The value of `key` in a flat-keyed file.
fn keyed(k: &Kernel, file: &str, key: &str) -> SysResult<u64> {
    keyed_value(&k.sysfs_read(file)?, key).ok_or(Errno::ENOENT)
}

pub(super) static CGROUP: &[SyscallDef] = &[
    SyscallDef {
        name: "cgroup_create",
        args: &[arg("path", ArgKind::Str)],
        returns: Radix::Dec,
        doc: "0; mkdir of a cgroup (`EEXIST`, `ENOENT` without its parent)",
        model: |k, _, a| {
            let d = dir(k, &a[0])?;
            k.cgroup_mkdir(&d).map(|_| 0)
        },
        host: HostCall::Cgroup(CgroupOp::Mkdir),
    },
    SyscallDef {
        name: "cgroup_rmdir",
        args: &[arg("path", ArgKind::Str)],
        returns: Radix::Dec,
        doc: "0; rmdir of a cgroup (`EBUSY` with processes or children in it)",
        model: |k, _, a| {
            let d = dir(k, &a[0])?;
            k.cgroup_rmdir(&d).map(|_| 0)
        },
        host: HostCall::Cgroup(CgroupOp::Rmdir),
    },
    SyscallDef {
        name: "cgroup_attach",
        args: &[arg("path", ArgKind::Str)],
        returns: Radix::Dec,
        doc: "0; moves the calling task's process into the cgroup, as writing its pid to \
              `cgroup.procs` does (`ENOENT` for a removed cgroup, `EBUSY` for a v2 cgroup that \
              enables controllers for its children)",
        model: |k, t, a| {
            let d = dir(k, &a[0])?;
            let pid = k.task(t)?.pid;
            k.cgroup_attach(&d, pid).map(|_| 0)
        },
        host: HostCall::Cgroup(CgroupOp::Attach),
    },
    SyscallDef {
        name: "cgroup_read",
        args: &[arg("file", ArgKind::Str), arg("key", ArgKind::Str)],
        returns: Radix::Dec,
        doc: "the number after `key` in a flat-keyed cgroup file (`memory.events`, \
              `memory.events.local`, `memory.stat`, `memory.swap.events`, \
              `memory.oom_control`); `ENOENT` if the file has no such key",
        model: |k, _, a| keyed(k, a[0].text(), a[1].text()),
        host: HostCall::Cgroup(CgroupOp::Read),
    },
];
