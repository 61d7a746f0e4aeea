//! mm/memfd.c: memfd_create().

use crate::errno::{Errno, SysResult};
use crate::kernel::{Kernel, Tid};

pub const MFD_CLOEXEC: u64 = 0x1;
pub const MFD_ALLOW_SEALING: u64 = 0x2;
pub const MFD_HUGETLB: u64 = 0x4;
/// The huge page size encoding (MFD_HUGE_SHIFT, MFD_HUGE_MASK) allowed with MFD_HUGETLB.
pub const MFD_HUGE_SHIFT: u64 = 26;
pub const MFD_HUGE_MASK: u64 = 0x3f;
/// NAME_MAX minus the "memfd:" prefix.
pub const MFD_NAME_MAX_LEN: usize = 255 - 6;

impl Kernel {
    /// memfd_create(2): a new, empty shmem file, or a hugetlbfs file with MFD_HUGETLB (2 MiB
    /// pages). Sealing is accepted but no seals are enforced yet (fcntl(F_ADD_SEALS) is not
    /// modelled).
    pub fn memfd_create(&mut self, tid: Tid, name: &str, flags: u64) -> SysResult<i32> {
        self.enter(tid)?;
        let all = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB;
        let allowed = if flags & MFD_HUGETLB == 0 {
            all
        } else {
            all | (MFD_HUGE_MASK << MFD_HUGE_SHIFT)
        };
        if flags & !allowed != 0 || flags >> 32 != 0 {
            return Err(Errno::EINVAL);
        }
        if name.len() > MFD_NAME_MAX_LEN {
            return Err(Errno::EINVAL);
        }
        let huge = flags & MFD_HUGETLB != 0;
        // hugetlb_file_setup(): only the 2 MiB size (log2 21, or 0 for the default) exists here.
        if huge && !matches!((flags >> MFD_HUGE_SHIFT) & MFD_HUGE_MASK, 0 | 21) {
            return Err(Errno::ENODEV);
        }
        let ino = self.shmem_new(0, Some(name.to_string()), huge);
        let pid = self.tasks[tid].pid;
        let fd = self.fd_install_new(pid, crate::fs::file::FileKind::Shmem(ino), true, true);
        if fd.is_err() {
            self.shmem_put_unreferenced(ino);
        }
        fd
    }
}
