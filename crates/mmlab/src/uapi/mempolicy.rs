//! include/uapi/linux/mempolicy.h: policy modes, mode flags, mbind/move_pages flags and
//! get_mempolicy flags (x86_64 values).

/// Policy modes (enum in the header).
pub const MPOL_DEFAULT: u64 = 0;
pub const MPOL_PREFERRED: u64 = 1;
pub const MPOL_BIND: u64 = 2;
pub const MPOL_INTERLEAVE: u64 = 3;
pub const MPOL_LOCAL: u64 = 4;
pub const MPOL_PREFERRED_MANY: u64 = 5;
/// MPOL_MAX: the first value that is not a mode.
pub const MPOL_MAX: u64 = 6;

/// Mode flags, or'ed into the mode argument.
pub const MPOL_F_NUMA_BALANCING: u64 = 1 << 13;
pub const MPOL_F_RELATIVE_NODES: u64 = 1 << 14;
pub const MPOL_F_STATIC_NODES: u64 = 1 << 15;
/// MPOL_MODE_FLAGS.
pub const MPOL_MODE_FLAGS: u64 =
    MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING;

/// get_mempolicy() flags.
pub const MPOL_F_NODE: u64 = 1 << 0;
pub const MPOL_F_ADDR: u64 = 1 << 1;
pub const MPOL_F_MEMS_ALLOWED: u64 = 1 << 2;

/// mbind() / move_pages() flags.
pub const MPOL_MF_STRICT: u64 = 1 << 0;
pub const MPOL_MF_MOVE: u64 = 1 << 1;
pub const MPOL_MF_MOVE_ALL: u64 = 1 << 2;
pub const MPOL_MF_LAZY: u64 = 1 << 3;
/// MPOL_MF_VALID: the flags mbind() accepts.
pub const MPOL_MF_VALID: u64 = MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL;

/// MAX_NUMNODES of a CONFIG_NODES_SHIFT=10 kernel (distribution x86_64 configs, and this
/// host's): node numbers from there on are refused outright.
pub const MAX_NUMNODES: u64 = 1 << 10;

/// The header's names.
pub const NAMES: &[(&str, u64)] = &[
    ("MPOL_DEFAULT", MPOL_DEFAULT),
    ("MPOL_PREFERRED", MPOL_PREFERRED),
    ("MPOL_BIND", MPOL_BIND),
    ("MPOL_INTERLEAVE", MPOL_INTERLEAVE),
    ("MPOL_LOCAL", MPOL_LOCAL),
    ("MPOL_PREFERRED_MANY", MPOL_PREFERRED_MANY),
    ("MPOL_F_NUMA_BALANCING", MPOL_F_NUMA_BALANCING),
    ("MPOL_F_RELATIVE_NODES", MPOL_F_RELATIVE_NODES),
    ("MPOL_F_STATIC_NODES", MPOL_F_STATIC_NODES),
    ("MPOL_F_NODE", MPOL_F_NODE),
    ("MPOL_F_ADDR", MPOL_F_ADDR),
    ("MPOL_F_MEMS_ALLOWED", MPOL_F_MEMS_ALLOWED),
    ("MPOL_MF_STRICT", MPOL_MF_STRICT),
    ("MPOL_MF_MOVE", MPOL_MF_MOVE),
    ("MPOL_MF_MOVE_ALL", MPOL_MF_MOVE_ALL),
    ("MPOL_MF_LAZY", MPOL_MF_LAZY),
];
