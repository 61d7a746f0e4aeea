//! The file syscalls: open by path in the scenario's directory (or /dev/zero,
//! /proc/self/fd/N), descriptors, read and write through the page cache, seeking, syncing.

use crate::ast::Radix;

use super::{addr, arg, fd, int, Arg, ArgKind, HostCall, SyscallDef};

/// A path argument of the file calls.
const PATH: Arg = arg("path", ArgKind::FilePath);
/// open(2)'s optional mode (used with O_CREAT and O_TMPFILE).
const MODE: Arg = Arg {
    default: Some(0),
    ..int("mode")
};

/// open, openat, dup, dup2, unlink, read, write, pread, pwrite, lseek, fsync, fdatasync, msync.
pub(super) static FILES: &[SyscallDef] = &[
    SyscallDef {
        name: "open",
        args: &[PATH, int("flags"), MODE],
        returns: Radix::Dec,
        doc: "a descriptor for a file of the scenario's directory (`files` header), \
              `\"/dev/zero\"` or `\"/proc/self/fd/N\"` (`O_RDONLY/WRONLY/RDWR`, `O_CREAT`, \
              `O_EXCL`, `O_TRUNC`, `O_APPEND`, `O_DIRECT`, `O_CLOEXEC`, `O_DIRECTORY`, \
              `O_TMPFILE`, `O_PATH`); `O_DIRECT` is `EINVAL` on tmpfs (no FMODE_CAN_ODIRECT)",
        model: |k, t, a| {
            k.open(t, a[0].text(), a[1].num(), a[2].num())
                .map(|fd| fd as u64)
        },
        host: HostCall::Raw(libc::SYS_open),
    },
    SyscallDef {
        name: "openat",
        args: &[arg("dirfd", ArgKind::Fd), PATH, int("flags"), MODE],
        returns: Radix::Dec,
        doc: "as `open`, a relative path from `AT_FDCWD` (the scenario's directory) or a \
              descriptor of the directory",
        model: |k, t, a| {
            k.openat(t, a[0].int(), a[1].text(), a[2].num(), a[3].num())
                .map(|fd| fd as u64)
        },
        host: HostCall::Raw(libc::SYS_openat),
    },
    SyscallDef {
        name: "unlink",
        args: &[PATH],
        returns: Radix::Dec,
        doc: "0; the name goes, the file lives while a descriptor or mapping holds it",
        model: |k, t, a| k.unlink(t, a[0].text()).map(|_| 0),
        host: HostCall::Raw(libc::SYS_unlink),
    },
    SyscallDef {
        name: "dup",
        args: &[fd()],
        returns: Radix::Dec,
        doc: "the lowest free descriptor, sharing the open file (and its offset)",
        model: |k, t, a| k.dup(t, a[0].int()).map(|fd| fd as u64),
        host: HostCall::Raw(libc::SYS_dup),
    },
    SyscallDef {
        name: "dup2",
        args: &[fd(), arg("newfd", ArgKind::Fd)],
        returns: Radix::Dec,
        doc: "`newfd`, closed first if open",
        model: |k, t, a| k.dup2(t, a[0].int(), a[1].int()).map(|fd| fd as u64),
        host: HostCall::Raw(libc::SYS_dup2),
    },
    SyscallDef {
        name: "read",
        args: &[fd(), addr("buf"), int("count")],
        returns: Radix::Dec,
        doc: "the bytes read into `buf` from the file offset (0 at EOF); a buffer page that \
              cannot be written ends it (`EFAULT` if first)",
        model: |k, t, a| k.read(t, a[0].int(), a[1].num(), a[2].num()),
        host: HostCall::Raw(libc::SYS_read),
    },
    SyscallDef {
        name: "write",
        args: &[fd(), addr("buf"), int("count")],
        returns: Radix::Dec,
        doc: "the bytes written from `buf` at the file offset (`O_APPEND`: at EOF); a buffer \
              page that cannot be read ends it (`EFAULT` if first)",
        model: |k, t, a| k.write(t, a[0].int(), a[1].num(), a[2].num()),
        host: HostCall::Raw(libc::SYS_write),
    },
    SyscallDef {
        name: "pread",
        args: &[fd(), addr("buf"), int("count"), int("off")],
        returns: Radix::Dec,
        doc: "as `read`, at `off`, the file offset untouched (pread64)",
        model: |k, t, a| k.pread64(t, a[0].int(), a[1].num(), a[2].num(), a[3].int()),
        host: HostCall::Raw(libc::SYS_pread64),
    },
    SyscallDef {
        name: "pwrite",
        args: &[fd(), addr("buf"), int("count"), int("off")],
        returns: Radix::Dec,
        doc: "as `write`, at `off` (still at EOF with `O_APPEND`), the file offset untouched \
              (pwrite64)",
        model: |k, t, a| k.pwrite64(t, a[0].int(), a[1].num(), a[2].num(), a[3].int()),
        host: HostCall::Raw(libc::SYS_pwrite64),
    },
    SyscallDef {
        name: "lseek",
        args: &[fd(), int("off"), int("whence")],
        returns: Radix::Dec,
        doc: "the new offset (`SEEK_SET/CUR/END`, `SEEK_DATA`, `SEEK_HOLE`)",
        model: |k, t, a| k.lseek(t, a[0].int(), a[1].int(), a[2].num()),
        host: HostCall::Raw(libc::SYS_lseek),
    },
    SyscallDef {
        name: "fsync",
        args: &[fd()],
        returns: Radix::Dec,
        doc: "0; a disk file's dirty pages are written back",
        model: |k, t, a| k.fsync(t, a[0].int()).map(|_| 0),
        host: HostCall::Raw(libc::SYS_fsync),
    },
    SyscallDef {
        name: "fdatasync",
        args: &[fd()],
        returns: Radix::Dec,
        doc: "0; as `fsync`",
        model: |k, t, a| k.fsync(t, a[0].int()).map(|_| 0),
        host: HostCall::Raw(libc::SYS_fdatasync),
    },
    SyscallDef {
        name: "msync",
        args: &[addr("addr"), int("len"), int("flags")],
        returns: Radix::Dec,
        doc: "0 (`MS_ASYNC`, `MS_SYNC`: shared file mappings written back, `MS_INVALIDATE`); \
              `ENOMEM` over unmapped gaps, `EBUSY` to invalidate locked memory",
        model: |k, t, a| k.msync(t, a[0].num(), a[1].num(), a[2].num()).map(|_| 0),
        host: HostCall::Raw(libc::SYS_msync),
    },
];
