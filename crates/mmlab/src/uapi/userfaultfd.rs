//! include/uapi/linux/userfaultfd.h: the API version, ioctl numbers and masks, register and
//! ioctl modes, features and message fields, with each value spelt once.

use super::{O_CLOEXEC, O_NONBLOCK};

/// UFFD_API: the only API version.
pub const UFFD_API: u64 = 0xAA;
/// userfaultfd(2)'s own flag (beside O_CLOEXEC and O_NONBLOCK).
pub const UFFD_USER_MODE_ONLY: u64 = 1;

pub const UFFD_FEATURE_PAGEFAULT_FLAG_WP: u64 = 1 << 0;
pub const UFFD_FEATURE_EVENT_FORK: u64 = 1 << 1;
pub const UFFD_FEATURE_EVENT_REMAP: u64 = 1 << 2;
pub const UFFD_FEATURE_EVENT_REMOVE: u64 = 1 << 3;
pub const UFFD_FEATURE_MISSING_HUGETLBFS: u64 = 1 << 4;
pub const UFFD_FEATURE_MISSING_SHMEM: u64 = 1 << 5;
pub const UFFD_FEATURE_EVENT_UNMAP: u64 = 1 << 6;
pub const UFFD_FEATURE_SIGBUS: u64 = 1 << 7;
pub const UFFD_FEATURE_THREAD_ID: u64 = 1 << 8;
pub const UFFD_FEATURE_MINOR_HUGETLBFS: u64 = 1 << 9;
pub const UFFD_FEATURE_MINOR_SHMEM: u64 = 1 << 10;
pub const UFFD_FEATURE_EXACT_ADDRESS: u64 = 1 << 11;
/// The feature 5.18 lacked: uffd-wp on shmem and hugetlbfs.
pub const UFFD_FEATURE_WP_HUGETLBFS_SHMEM: u64 = 1 << 12;
/// UFFD_API_FEATURES (5.19 on x86-64 with PTE markers).
pub const UFFD_API_FEATURES: u64 = (1 << 13) - 1;

/// The ioctl numbers (_UFFDIO_*), as bits of the `ioctls` masks.
pub const _UFFDIO_REGISTER: u64 = 0x00;
pub const _UFFDIO_UNREGISTER: u64 = 0x01;
pub const _UFFDIO_WAKE: u64 = 0x02;
pub const _UFFDIO_COPY: u64 = 0x03;
pub const _UFFDIO_ZEROPAGE: u64 = 0x04;
pub const _UFFDIO_WRITEPROTECT: u64 = 0x06;
pub const _UFFDIO_CONTINUE: u64 = 0x07;
pub const _UFFDIO_API: u64 = 0x3F;
/// UFFD_API_IOCTLS: what UFFDIO_API reports.
pub const UFFD_API_IOCTLS: u64 = 1 << _UFFDIO_REGISTER | 1 << _UFFDIO_UNREGISTER | 1 << _UFFDIO_API;
/// UFFD_API_RANGE_IOCTLS: what UFFDIO_REGISTER reports for a range without hugetlb.
pub const UFFD_API_RANGE_IOCTLS: u64 = 1 << _UFFDIO_WAKE
    | 1 << _UFFDIO_COPY
    | 1 << _UFFDIO_ZEROPAGE
    | 1 << _UFFDIO_WRITEPROTECT
    | 1 << _UFFDIO_CONTINUE;
/// UFFD_API_RANGE_IOCTLS_BASIC: the same with hugetlb in the range (no ZEROPAGE).
pub const UFFD_API_RANGE_IOCTLS_BASIC: u64 =
    1 << _UFFDIO_WAKE | 1 << _UFFDIO_COPY | 1 << _UFFDIO_WRITEPROTECT | 1 << _UFFDIO_CONTINUE;

/// UFFDIO_REGISTER modes.
pub const UFFDIO_REGISTER_MODE_MISSING: u64 = 1 << 0;
pub const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
pub const UFFDIO_REGISTER_MODE_MINOR: u64 = 1 << 2;

/// The resolving ioctls' modes.
pub const UFFDIO_COPY_MODE_DONTWAKE: u64 = 1 << 0;
pub const UFFDIO_COPY_MODE_WP: u64 = 1 << 1;
pub const UFFDIO_ZEROPAGE_MODE_DONTWAKE: u64 = 1 << 0;
pub const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1 << 0;
pub const UFFDIO_WRITEPROTECT_MODE_DONTWAKE: u64 = 1 << 1;
pub const UFFDIO_CONTINUE_MODE_DONTWAKE: u64 = 1 << 0;

/// uffd_msg.event values.
pub const UFFD_EVENT_PAGEFAULT: u64 = 0x12;
pub const UFFD_EVENT_FORK: u64 = 0x13;
pub const UFFD_EVENT_REMAP: u64 = 0x14;
pub const UFFD_EVENT_REMOVE: u64 = 0x15;
pub const UFFD_EVENT_UNMAP: u64 = 0x16;
/// uffd_msg.arg.pagefault.flags.
pub const UFFD_PAGEFAULT_FLAG_WRITE: u64 = 1 << 0;
pub const UFFD_PAGEFAULT_FLAG_WP: u64 = 1 << 1;
pub const UFFD_PAGEFAULT_FLAG_MINOR: u64 = 1 << 2;

/// Names a scenario may use for `$x` in one table.
macro_rules! named {
    ($($n:ident),* $(,)?) => { &[$((stringify!($n), $n)),*] };
}

/// The feature bits 5.19 knows, by name.
pub const FEATURES: &[(&str, u64)] = named![
    UFFD_FEATURE_PAGEFAULT_FLAG_WP,
    UFFD_FEATURE_EVENT_FORK,
    UFFD_FEATURE_EVENT_REMAP,
    UFFD_FEATURE_EVENT_REMOVE,
    UFFD_FEATURE_MISSING_HUGETLBFS,
    UFFD_FEATURE_MISSING_SHMEM,
    UFFD_FEATURE_EVENT_UNMAP,
    UFFD_FEATURE_SIGBUS,
    UFFD_FEATURE_THREAD_ID,
    UFFD_FEATURE_MINOR_HUGETLBFS,
    UFFD_FEATURE_MINOR_SHMEM,
    UFFD_FEATURE_EXACT_ADDRESS,
    UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
];

/// Every other constant of the header a scenario may name.
const OTHERS: &[(&str, u64)] = named![
    UFFD_API,
    UFFD_USER_MODE_ONLY,
    UFFD_API_FEATURES,
    UFFD_API_IOCTLS,
    UFFD_API_RANGE_IOCTLS,
    UFFD_API_RANGE_IOCTLS_BASIC,
    UFFDIO_REGISTER_MODE_MISSING,
    UFFDIO_REGISTER_MODE_WP,
    UFFDIO_REGISTER_MODE_MINOR,
    _UFFDIO_REGISTER,
    _UFFDIO_UNREGISTER,
    _UFFDIO_WAKE,
    _UFFDIO_COPY,
    _UFFDIO_ZEROPAGE,
    _UFFDIO_WRITEPROTECT,
    _UFFDIO_CONTINUE,
    _UFFDIO_API,
    UFFDIO_COPY_MODE_DONTWAKE,
    UFFDIO_COPY_MODE_WP,
    UFFDIO_ZEROPAGE_MODE_DONTWAKE,
    UFFDIO_WRITEPROTECT_MODE_WP,
    UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
    UFFDIO_CONTINUE_MODE_DONTWAKE,
    UFFD_EVENT_PAGEFAULT,
    UFFD_EVENT_FORK,
    UFFD_EVENT_REMAP,
    UFFD_EVENT_REMOVE,
    UFFD_EVENT_UNMAP,
    UFFD_PAGEFAULT_FLAG_WRITE,
    UFFD_PAGEFAULT_FLAG_WP,
    UFFD_PAGEFAULT_FLAG_MINOR,
];

/// The userfaultfd constants a scenario may name (with O_NONBLOCK and O_CLOEXEC, which
/// userfaultfd(2) takes too).
pub fn constant(name: &str) -> Option<u64> {
    let fcntl = named![O_NONBLOCK, O_CLOEXEC];
    OTHERS
        .iter()
        .chain(FEATURES)
        .chain(fcntl)
        .find(|(n, _)| *n == name)
        .map(|&(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feature_mask_is_every_feature() {
        let all = FEATURES.iter().fold(0, |m, &(_, v)| m | v);
        assert_eq!(all, UFFD_API_FEATURES);
        assert_eq!(constant("UFFDIO_COPY_MODE_WP"), Some(2));
        assert_eq!(constant("O_NONBLOCK"), Some(0o4000));
        assert_eq!(constant("UFFD_NOPE"), None);
    }
}
