//! The flags of the calls that make the kernel take references and pins on user pages:
//! pipe2()'s O_DIRECT (include/uapi/asm-generic/fcntl.h) and vmsplice()'s SPLICE_F_*
//! (include/linux/splice.h), x86_64 values.

/// pipe2(): packet mode.
pub const O_DIRECT: u64 = 0o40000;
pub const SPLICE_F_MOVE: u64 = 0x01;
pub const SPLICE_F_NONBLOCK: u64 = 0x02;
pub const SPLICE_F_MORE: u64 = 0x04;
pub const SPLICE_F_GIFT: u64 = 0x08;
/// SPLICE_F_ALL: every flag splice and vmsplice accept.
pub const SPLICE_F_ALL: u64 = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT;

/// The names a scenario may use.
pub const NAMES: &[(&str, u64)] = &[
    ("O_DIRECT", O_DIRECT),
    ("SPLICE_F_MOVE", SPLICE_F_MOVE),
    ("SPLICE_F_NONBLOCK", SPLICE_F_NONBLOCK),
    ("SPLICE_F_MORE", SPLICE_F_MORE),
    ("SPLICE_F_GIFT", SPLICE_F_GIFT),
];
