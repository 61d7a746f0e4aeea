//! The flags of vmsplice() (include/linux/splice.h): SPLICE_F_*.

pub const SPLICE_F_MOVE: u64 = 0x01;
pub const SPLICE_F_NONBLOCK: u64 = 0x02;
pub const SPLICE_F_MORE: u64 = 0x04;
pub const SPLICE_F_GIFT: u64 = 0x08;
/// SPLICE_F_ALL: every flag splice and vmsplice accept.
pub const SPLICE_F_ALL: u64 = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT;

/// The names a scenario may use.
pub const NAMES: &[(&str, u64)] = &[
    ("SPLICE_F_MOVE", SPLICE_F_MOVE),
    ("SPLICE_F_NONBLOCK", SPLICE_F_NONBLOCK),
    ("SPLICE_F_MORE", SPLICE_F_MORE),
    ("SPLICE_F_GIFT", SPLICE_F_GIFT),
];
