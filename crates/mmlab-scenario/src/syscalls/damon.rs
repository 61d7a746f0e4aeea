//! The syscalls DAMON scenarios need: getpid(), whose number a scenario writes into
//! `pid_target`.

use super::{HostCall, SyscallDef};
use crate::ast::Radix;

pub(super) static DAMON: &[SyscallDef] = &[SyscallDef {
    name: "getpid",
    args: &[],
    returns: Radix::Dec,
    doc: "the process's pid (the model numbers processes from 1)",
    model: |k, t, _| k.task_tgid_nr(t).ok_or(mmlab::Errno::ESRCH),
    host: HostCall::Raw(libc::SYS_getpid),
}];
