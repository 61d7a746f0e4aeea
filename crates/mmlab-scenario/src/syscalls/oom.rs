//! The OOM killer's per-process knob: a task writes its process's `/proc/PID/oom_score_adj`.

use super::{int, HostCall, SyscallDef};
use crate::ast::Radix;

pub(super) static OOM: &[SyscallDef] = &[SyscallDef {
    name: "oom_score_adj",
    args: &[int("value")],
    returns: Radix::Dec,
    doc: "0; writes `value` to the calling task's `/proc/PID/oom_score_adj` (-1000 exempts the \
          process from the OOM killer and from an `oom.group` kill; 1000 makes it the first \
          victim): `EINVAL` outside -1000..1000, `EACCES` below the floor a privileged write \
          set, without `CAP_SYS_RESOURCE`",
    model: |k, t, a| k.oom_score_adj_write(t, a[0].int()).map(|_| 0),
    host: HostCall::ProcPidWrite("oom_score_adj"),
}];
