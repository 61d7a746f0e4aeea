//! Open files and the per-process descriptor table (struct file, fdtable): what memfd_create()
//! returns, mmap() and ftruncate() take, fork() shares and exit() closes.

use std::collections::BTreeMap;

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::sched::{Pid, Tid};

/// The first descriptor a process gets (0-2 are stdin, stdout and stderr in a real process).
pub const FIRST_FD: i32 = 3;
/// RLIMIT_NOFILE's default soft limit.
pub const NR_OPEN_DEFAULT: i32 = 1024;

/// What an open file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A shmem or hugetlbfs inode (the file holds one reference on it).
    Inode(crate::fs::inode::Ino),
    /// An anonymous "[userfaultfd]" inode: the context it serves.
    Userfaultfd(usize),
    /// One end of a pipe (fs/pipe.rs).
    Pipe(crate::fs::pipe::PipeEnd),
    /// An io_uring instance (fs/io_uring.rs): the ring it is.
    IoUring(usize),
}

/// struct file.
#[derive(Clone, Debug)]
pub struct File {
    pub kind: FileKind,
    /// FMODE_READ / FMODE_WRITE.
    pub readable: bool,
    pub writable: bool,
    /// Descriptors (in any process) that refer to this open file.
    pub refs: u32,
}

/// A process's descriptor table.
#[derive(Clone, Debug, Default)]
pub struct FdTable {
    fds: BTreeMap<i32, usize>,
}

/// A descriptor argument as the syscalls read it: an `unsigned int` (or an `int`), so the
/// register's upper half is ignored; a value no table can hold is EBADF.
fn fd_arg(fd: i64) -> SysResult<i32> {
    i32::try_from(fd as u32).map_err(|_| Errno::EBADF)
}

impl File {
    /// The inode behind the file, if it is a shmem or hugetlbfs file (file_inode()).
    pub fn inode(&self) -> Option<crate::fs::inode::Ino> {
        match self.kind {
            FileKind::Inode(ino) => Some(ino),
            FileKind::Userfaultfd(_) | FileKind::Pipe(_) | FileKind::IoUring(_) => None,
        }
    }
}

impl Kernel {
    /// Open a file of `kind` and install it at the lowest free descriptor
    /// (get_unused_fd_flags()); a shmem file takes a reference on its inode.
    pub(crate) fn fd_install_new(
        &mut self,
        pid: Pid,
        kind: FileKind,
        readable: bool,
        writable: bool,
    ) -> SysResult<i32> {
        let fdt = &self.procs[pid].fds;
        let fd = (FIRST_FD..NR_OPEN_DEFAULT)
            .find(|n| !fdt.fds.contains_key(n))
            .ok_or(Errno::EMFILE)?;
        if let FileKind::Inode(ino) = kind {
            self.inodes[ino].refs += 1;
        }
        let file = self.files.insert(File {
            kind,
            readable,
            writable,
            refs: 1,
        });
        self.procs[pid].fds.fds.insert(fd, file);
        Ok(fd)
    }

    /// fdget(): the open file behind `fd` of `tid`'s process, or EBADF.
    pub(crate) fn fget(&self, tid: Tid, fd: i64) -> SysResult<&File> {
        let pid = self.task(tid)?.pid;
        let fd = fd_arg(fd)?;
        let file = *self.procs[pid].fds.fds.get(&fd).ok_or(Errno::EBADF)?;
        Ok(&self.files[file])
    }

    /// close(2).
    pub fn close(&mut self, tid: Tid, fd: i64) -> SysResult<()> {
        self.enter(tid)?;
        let pid = self.tasks[tid].pid;
        let fd = fd_arg(fd)?;
        let file = self.procs[pid].fds.fds.remove(&fd).ok_or(Errno::EBADF)?;
        self.fput(file);
        Ok(())
    }

    /// fput(): drop a descriptor's reference; the last one releases the inode reference.
    fn fput(&mut self, file: usize) {
        let f = &mut self.files[file];
        f.refs -= 1;
        if f.refs == 0 {
            match self.files.remove(file).kind {
                FileKind::Inode(ino) => self.shmem_put(ino),
                FileKind::Userfaultfd(ctx) => self.userfaultfd_release(ctx),
                FileKind::Pipe(end) => self.pipe_release(end),
                FileKind::IoUring(ring) => self.io_uring_release(ring),
            }
        }
    }

    /// dup_fd() at fork: the child's table refers to the same open files.
    pub(crate) fn dup_fds(&mut self, parent: Pid) -> FdTable {
        let t = self.procs[parent].fds.clone();
        for &file in t.fds.values() {
            self.files[file].refs += 1;
        }
        t
    }

    /// exit_files(): close every descriptor of the process.
    pub(crate) fn close_all(&mut self, fds: FdTable) {
        for file in fds.fds.into_values() {
            self.fput(file);
        }
    }

    /// The process's open descriptors (as /proc/PID/fd lists them).
    pub fn fds(&self, tid: Tid) -> SysResult<Vec<i32>> {
        Ok(self.procs[self.task(tid)?.pid]
            .fds
            .fds
            .keys()
            .copied()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_arguments_lose_their_upper_half() {
        assert_eq!(fd_arg(3), Ok(3));
        assert_eq!(fd_arg((1 << 32) | 3), Ok(3));
        assert_eq!(fd_arg(-1), Err(Errno::EBADF));
        assert_eq!(fd_arg(1 << 31), Err(Errno::EBADF));
    }
}
