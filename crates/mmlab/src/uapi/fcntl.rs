//! include/uapi/asm-generic/fcntl.h, include/uapi/linux/fs.h (SEEK_*) and
//! include/uapi/asm-generic/mman-common.h (MS_*): the flags of open(2), lseek(2) and msync(2)
//! on x86-64, each value spelt once.

pub use super::{O_CLOEXEC, O_NONBLOCK};

pub const O_ACCMODE: u64 = 0o3;
pub const O_RDONLY: u64 = 0o0;
pub const O_WRONLY: u64 = 0o1;
pub const O_RDWR: u64 = 0o2;
pub const O_CREAT: u64 = 0o100;
pub const O_EXCL: u64 = 0o200;
pub const O_NOCTTY: u64 = 0o400;
pub const O_TRUNC: u64 = 0o1000;
pub const O_APPEND: u64 = 0o2000;
pub const O_DSYNC: u64 = 0o10000;
pub const O_DIRECT: u64 = 0o40000;
pub const O_LARGEFILE: u64 = 0o100000;
pub const O_DIRECTORY: u64 = 0o200000;
pub const O_NOFOLLOW: u64 = 0o400000;
pub const O_NOATIME: u64 = 0o1000000;
/// __O_SYNC | O_DSYNC.
pub const O_SYNC: u64 = 0o4010000;
pub const O_PATH: u64 = 0o10000000;
/// __O_TMPFILE | O_DIRECTORY.
pub const O_TMPFILE: u64 = 0o20200000;

/// openat(2)'s "relative to the working directory" descriptor (a scenario's directory).
pub const AT_FDCWD: u64 = -100i64 as u64;

pub const SEEK_SET: u64 = 0;
pub const SEEK_CUR: u64 = 1;
pub const SEEK_END: u64 = 2;
pub const SEEK_DATA: u64 = 3;
pub const SEEK_HOLE: u64 = 4;

pub const MS_ASYNC: u64 = 1;
pub const MS_INVALIDATE: u64 = 2;
pub const MS_SYNC: u64 = 4;

/// st_mode's file types (include/uapi/linux/stat.h).
pub const S_IFMT: u64 = 0o170000;
pub const S_IFDIR: u64 = 0o040000;
pub const S_IFCHR: u64 = 0o020000;
pub const S_IFREG: u64 = 0o100000;

/// Names a scenario may use, in one table.
macro_rules! named {
    ($($n:ident),* $(,)?) => { &[$((stringify!($n), $n)),*] };
}

/// The open, lseek and msync names.
pub const NAMES: &[(&str, u64)] = named![
    O_ACCMODE,
    O_RDONLY,
    O_WRONLY,
    O_RDWR,
    O_CREAT,
    O_EXCL,
    O_NOCTTY,
    O_TRUNC,
    O_APPEND,
    O_NONBLOCK,
    O_DSYNC,
    O_DIRECT,
    O_LARGEFILE,
    O_DIRECTORY,
    O_NOFOLLOW,
    O_NOATIME,
    O_CLOEXEC,
    O_SYNC,
    O_PATH,
    O_TMPFILE,
    AT_FDCWD,
    SEEK_SET,
    SEEK_CUR,
    SEEK_END,
    SEEK_DATA,
    SEEK_HOLE,
    MS_ASYNC,
    MS_INVALIDATE,
    MS_SYNC,
    S_IFMT,
    S_IFDIR,
    S_IFCHR,
    S_IFREG,
];
