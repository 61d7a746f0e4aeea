//! Linux errno values (x86_64, include/uapi/asm-generic/errno-base.h and errno.h).

use std::fmt;

/// Declares `Errno` with its user-visible values, the table of them and their C names, from
/// one list.
macro_rules! errnos {
    ($($name:ident = $code:literal,)*) => {
        /// An error number as a syscall returns it (the positive value; user space sees `-1`
        /// and `errno`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
        #[repr(i32)]
        pub enum Errno {
            $($name = $code,)*
            /// Kernel-internal, never returned to user space: the task sleeps in
            /// handle_userfault() inside the syscall (a fault GUP may wait on);
            /// `Kernel::restart_syscall()` carries the syscall on once a handler has woken
            /// the task.
            ERESTARTNOINTR = 513,
        }

        const ALL: &[Errno] = &[$(Errno::$name,)*];

        impl Errno {
            /// The C name (`"EFAULT"`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Errno::$name => stringify!($name),)*
                    Errno::ERESTARTNOINTR => "ERESTARTNOINTR",
                }
            }
        }
    };
}

errnos! {
    EPERM = 1,
    ENOENT = 2,
    ESRCH = 3,
    EINTR = 4,
    EIO = 5,
    ENXIO = 6,
    EBADF = 9,
    ECHILD = 10,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENODEV = 19,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    ENFILE = 23,
    EMFILE = 24,
    ENOTTY = 25,
    EFBIG = 27,
    ENOSPC = 28,
    ESPIPE = 29,
    EPIPE = 32,
    ERANGE = 34,
    ENAMETOOLONG = 36,
    ENOSYS = 38,
    EOVERFLOW = 75,
    EOPNOTSUPP = 95,
}

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
