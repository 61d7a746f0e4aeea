//! Linux errno values (x86_64, include/uapi/asm-generic/errno-base.h and errno.h).

use std::fmt;

/// An error number as a syscall returns it (the positive value; user space sees `-1` and `errno`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[repr(i32)]
pub enum Errno {
    EPERM = 1,
    ENOENT = 2,
    ESRCH = 3,
    EINTR = 4,
    EIO = 5,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENODEV = 19,
    EINVAL = 22,
    ENFILE = 23,
    EMFILE = 24,
    ENOTTY = 25,
    EFBIG = 27,
    ENOSPC = 28,
    ESPIPE = 29,
    ERANGE = 34,
    ENOSYS = 38,
    EOVERFLOW = 75,
    EOPNOTSUPP = 95,
    /// Kernel-internal, never returned to user space: the task sleeps in handle_userfault()
    /// inside the syscall (a fault GUP may wait on); `Kernel::restart_syscall()` carries the
    /// syscall on once a handler has woken the task.
    ERESTARTNOINTR = 513,
}

const ALL: &[Errno] = &[
    Errno::EPERM,
    Errno::ENOENT,
    Errno::ESRCH,
    Errno::EINTR,
    Errno::EIO,
    Errno::EBADF,
    Errno::EAGAIN,
    Errno::ENOMEM,
    Errno::EACCES,
    Errno::EFAULT,
    Errno::EBUSY,
    Errno::EEXIST,
    Errno::ENODEV,
    Errno::EINVAL,
    Errno::ENFILE,
    Errno::ENOTTY,
    Errno::EMFILE,
    Errno::EFBIG,
    Errno::ENOSPC,
    Errno::ESPIPE,
    Errno::ERANGE,
    Errno::ENOSYS,
    Errno::EOVERFLOW,
    Errno::EOPNOTSUPP,
];

impl Errno {
    /// The errno number.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The errno for a number, if mmlab knows it.
    pub fn from_code(code: i32) -> Option<Errno> {
        ALL.iter().copied().find(|e| e.code() == code)
    }

    /// The errno for its C name (`"EFAULT"`).
    pub fn from_name(name: &str) -> Option<Errno> {
        ALL.iter().copied().find(|e| e.name() == name)
    }

    /// The C name (`"EFAULT"`).
    pub fn name(self) -> &'static str {
        match self {
            Errno::EPERM => "EPERM",
            Errno::ENOENT => "ENOENT",
            Errno::ESRCH => "ESRCH",
            Errno::EINTR => "EINTR",
            Errno::EIO => "EIO",
            Errno::EBADF => "EBADF",
            Errno::EAGAIN => "EAGAIN",
            Errno::ENOMEM => "ENOMEM",
            Errno::EACCES => "EACCES",
            Errno::EFAULT => "EFAULT",
            Errno::EBUSY => "EBUSY",
            Errno::EEXIST => "EEXIST",
            Errno::ENODEV => "ENODEV",
            Errno::EINVAL => "EINVAL",
            Errno::ENFILE => "ENFILE",
            Errno::ENOTTY => "ENOTTY",
            Errno::EMFILE => "EMFILE",
            Errno::EFBIG => "EFBIG",
            Errno::ENOSPC => "ENOSPC",
            Errno::ESPIPE => "ESPIPE",
            Errno::ERANGE => "ERANGE",
            Errno::ENOSYS => "ENOSYS",
            Errno::EOVERFLOW => "EOVERFLOW",
            Errno::EOPNOTSUPP => "EOPNOTSUPP",
            Errno::ERESTARTNOINTR => "ERESTARTNOINTR",
        }
    }

    /// Every errno user space can see, for name tables.
    pub fn all() -> &'static [Errno] {
        ALL
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

impl std::error::Error for Errno {}

/// A syscall result in the kernel's shape.
pub type SysResult<T> = Result<T, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for &e in ALL {
            assert_eq!(Errno::from_name(e.name()), Some(e));
            assert_eq!(Errno::from_code(e.code()), Some(e));
        }
        assert_eq!(Errno::EFAULT.code(), 14);
        assert_eq!(Errno::EOPNOTSUPP.code(), 95);
        assert_eq!(Errno::from_name("EWHAT"), None);
    }
}
