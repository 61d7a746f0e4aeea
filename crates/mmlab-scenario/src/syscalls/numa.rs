//! The NUMA syscalls: memory policies (set_mempolicy, get_mempolicy, mbind) and moving
//! pages between nodes (move_pages, migrate_pages). Arrays and node masks are user memory
//! the scenario fills with stores (a mask is bits of longs: `store(mask, 1)` is node 0).

use super::{addr, int, HostCall, SyscallDef};
use crate::ast::Radix;

/// The table of the NUMA calls.
pub(super) static NUMA: &[SyscallDef] = &[
    SyscallDef {
        name: "set_mempolicy",
        args: &[int("mode"), int("nodemask"), int("maxnode")],
        returns: Radix::Dec,
        doc: "0; the thread's policy (`MPOL_DEFAULT/PREFERRED/BIND/INTERLEAVE/LOCAL/PREFERRED_MANY`, \
              `MPOL_F_STATIC_NODES/RELATIVE_NODES`); the mask is `maxnode - 1` bits",
        model: |k, t, a| k.set_mempolicy(t, a[0].num(), a[1].num(), a[2].num()),
        host: HostCall::Raw(libc::SYS_set_mempolicy),
    },
    SyscallDef {
        name: "get_mempolicy",
        args: &[
            int("policy"),
            int("nodemask"),
            int("maxnode"),
            addr("addr"),
            int("flags"),
        ],
        returns: Radix::Dec,
        doc: "0; the policy as an int at `policy`, its nodes at `nodemask`; `MPOL_F_NODE \\| \
              MPOL_F_ADDR`: the node of the page at `addr` (faulted in); `MPOL_F_MEMS_ALLOWED`",
        model: |k, t, a| {
            k.get_mempolicy(t, a[0].num(), a[1].num(), a[2].num(), a[3].num(), a[4].num())
        },
        host: HostCall::Raw(libc::SYS_get_mempolicy),
    },
    SyscallDef {
        name: "mbind",
        args: &[
            addr("addr"),
            int("len"),
            int("mode"),
            int("nodemask"),
            int("maxnode"),
            int("flags"),
        ],
        returns: Radix::Dec,
        doc: "0; the range's policy (VMAs split and merged); `MPOL_MF_MOVE`/`MOVE_ALL` migrate \
              misplaced pages, `MPOL_MF_STRICT` makes one left behind `EIO`",
        model: |k, t, a| {
            k.mbind(
                t,
                a[0].num(),
                a[1].num(),
                a[2].num(),
                a[3].num(),
                a[4].num(),
                a[5].num(),
            )
        },
        host: HostCall::Raw(libc::SYS_mbind),
    },
    SyscallDef {
        name: "move_pages",
        args: &[
            int("pid"),
            int("count"),
            addr("pages"),
            int("nodes"),
            int("status"),
            int("flags"),
        ],
        returns: Radix::Dec,
        doc: "0 or the pages not moved; `pages` holds `count` pointers, `nodes` (or `NULL`: \
              only report) `count` ints, `status` gets an int per page: its node or `-errno` \
              (`MPOL_MF_MOVE`, `MPOL_MF_MOVE_ALL`)",
        model: |k, t, a| {
            k.move_pages(
                t,
                a[0].num(),
                a[1].num(),
                a[2].num(),
                a[3].num(),
                a[4].num(),
                a[5].num(),
            )
        },
        host: HostCall::Raw(libc::SYS_move_pages),
    },
    SyscallDef {
        name: "migrate_pages",
        args: &[
            int("pid"),
            int("maxnode"),
            int("old_nodes"),
            int("new_nodes"),
        ],
        returns: Radix::Dec,
        doc: "the pages not moved; every page of the process on the old nodes moves to the new \
              ones (pid 0: the caller)",
        model: |k, t, a| k.migrate_pages(t, a[0].num(), a[1].num(), a[2].num(), a[3].num()),
        host: HostCall::Raw(libc::SYS_migrate_pages),
    },
];
