//! mm/memfd.c: memfd_create().

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::mm::filemap::Aops;
use crate::sched::Tid;

pub const MFD_CLOEXEC: u64 = 0x1;
pub const MFD_ALLOW_SEALING: u64 = 0x2;
pub const MFD_HUGETLB: u64 = 0x4;
/// The huge page size encoding (MFD_HUGE_SHIFT, MFD_HUGE_MASK) allowed with MFD_HUGETLB.
pub const MFD_HUGE_SHIFT: u64 = 26;
pub const MFD_HUGE_MASK: u64 = 0x3f;
/// NAME_MAX minus the "memfd:" prefix.
pub const MFD_NAME_MAX_LEN: usize = 255 - 6;

/// fcntl() commands for seals.
pub const F_ADD_SEALS: u64 = 1033;
pub const F_GET_SEALS: u64 = 1034;
/// The seals (include/uapi/linux/fcntl.h).
pub const F_SEAL_SEAL: u64 = 0x0001;
pub const F_SEAL_SHRINK: u64 = 0x0002;
pub const F_SEAL_GROW: u64 = 0x0004;
pub const F_SEAL_WRITE: u64 = 0x0008;
pub const F_SEAL_FUTURE_WRITE: u64 = 0x0010;
/// The seal names a scenario may use.
pub const SEAL_NAMES: &[(&str, u64)] = &[
    ("F_ADD_SEALS", F_ADD_SEALS),
    ("F_GET_SEALS", F_GET_SEALS),
    ("F_SEAL_SEAL", F_SEAL_SEAL),
    ("F_SEAL_SHRINK", F_SEAL_SHRINK),
    ("F_SEAL_GROW", F_SEAL_GROW),
    ("F_SEAL_WRITE", F_SEAL_WRITE),
    ("F_SEAL_FUTURE_WRITE", F_SEAL_FUTURE_WRITE),
];
const F_ALL_SEALS: u64 =
    F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;

impl Kernel {
    /// memfd_create(2): a new, empty shmem file, or a hugetlbfs file with MFD_HUGETLB (2 MiB
    /// pages). MFD_ALLOW_SEALING lifts the F_SEAL_SEAL every other shmem file carries.
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
        let a_ops = if huge { Aops::Hugetlbfs } else { Aops::Shmem };
        let ino = self.inode_new(0, Some(name.to_string()), a_ops);
        if flags & MFD_ALLOW_SEALING != 0 {
            self.inodes[ino].seals &= !F_SEAL_SEAL;
        }
        let pid = self.tasks[tid].pid;
        let fd = self.fd_install_new(pid, crate::fs::file::FileKind::Inode(ino), true, true);
        if fd.is_err() {
            self.shmem_put_unreferenced(ino);
        }
        fd
    }

    /// fcntl(F_ADD_SEALS / F_GET_SEALS) → memfd_fcntl(). Other commands are not modelled
    /// (EINVAL, as for a command fcntl does not know).
    pub fn fcntl_seals(&mut self, tid: Tid, fd: i64, cmd: u64, arg: u64) -> SysResult<u64> {
        self.enter(tid)?;
        let file = self.fget(tid, fd)?.clone();
        let ino = file.inode().ok_or(Errno::EINVAL)?;
        match cmd {
            F_GET_SEALS => Ok(self.inodes[ino].seals),
            F_ADD_SEALS => {
                // memfd_add_seals()
                if !file.writable {
                    return Err(Errno::EPERM);
                }
                if arg & !F_ALL_SEALS != 0 {
                    return Err(Errno::EINVAL);
                }
                if self.inodes[ino].seals & F_SEAL_SEAL != 0 {
                    return Err(Errno::EPERM);
                }
                if arg & F_SEAL_WRITE != 0 && self.inodes[ino].seals & F_SEAL_WRITE == 0 {
                    // mapping_deny_writable(): no VM_SHARED mapping may exist; then
                    // memfd_wait_for_pins(): no page may stay pinned.
                    let mapped = self
                        .i_mmap_overlaps(ino, 0, u64::MAX)
                        .iter()
                        .any(|f| f.flags & crate::mm::vma::vm::VM_SHARED != 0);
                    let pinned = self.inodes[ino].i_mapping.pages(..).any(|(_, p)| {
                        self.extra_refs.contains_key(&p) || self.page_maybe_dma_pinned(p)
                    });
                    if mapped || pinned {
                        return Err(Errno::EBUSY);
                    }
                }
                self.inodes[ino].seals |= arg;
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        }
    }
}
