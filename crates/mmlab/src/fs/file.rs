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
    /// A shmem, hugetlbfs or disk-filesystem inode (the file holds one reference on it).
    Inode(crate::fs::inode::Ino),
    /// An anonymous "[userfaultfd]" inode: the context it serves.
    Userfaultfd(usize),
    /// One end of a pipe (fs/pipe.rs).
    Pipe(crate::fs::pipe::PipeEnd),
    /// An io_uring instance (fs/io_uring.rs): the ring it is.
    IoUring(usize),
    /// /dev/zero (drivers/char/mem.c): reads zeroes, swallows writes, maps as anonymous memory.
    DevZero,
    /// The scenario's directory, opened for reading (O_RDONLY, O_DIRECTORY).
    Dir,
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
    /// f_flags as open() leaves them: the access mode, O_APPEND, O_DIRECT, O_NONBLOCK, ...
    /// (O_CREAT, O_EXCL, O_NOCTTY and O_TRUNC cleared, do_dentry_open()).
    pub flags: u64,
    /// f_pos: where read(2) and write(2) go on, shared by dup()ed descriptors.
    pub pos: u64,
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
    /// A file of `kind` opened with `flags`, no descriptor yet.
    pub fn new(kind: FileKind, readable: bool, writable: bool, flags: u64) -> File {
        File {
            kind,
            readable,
            writable,
            refs: 1,
            flags,
            pos: 0,
        }
    }

    /// The inode behind the file, if it is a shmem, hugetlbfs or disk file (file_inode()).
    pub fn inode(&self) -> Option<crate::fs::inode::Ino> {
        match self.kind {
            FileKind::Inode(ino) => Some(ino),
            FileKind::Userfaultfd(_)
            | FileKind::DevZero
            | FileKind::Dir
            | FileKind::Pipe(_)
            | FileKind::IoUring(_) => None,
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
        self.fd_install_file(pid, File::new(kind, readable, writable, 0))
    }

    /// get_unused_fd_flags() + fd_install() of a new open file; a file of an inode takes a
    /// reference on it.
    pub(crate) fn fd_install_file(&mut self, pid: Pid, file: File) -> SysResult<i32> {
        let fd = self.get_unused_fd(pid, FIRST_FD)?;
        if let FileKind::Inode(ino) = file.kind {
            self.inodes[ino].refs += 1;
        }
        let file = self.files.insert(file);
        self.procs[pid].fds.fds.insert(fd, file);
        Ok(fd)
    }

    /// The lowest free descriptor from `from` up (alloc_fd()), EMFILE past RLIMIT_NOFILE.
    fn get_unused_fd(&self, pid: Pid, from: i32) -> SysResult<i32> {
        let fdt = &self.procs[pid].fds;
        (from..NR_OPEN_DEFAULT)
            .find(|n| !fdt.fds.contains_key(n))
            .ok_or(Errno::EMFILE)
    }

    /// The open file's handle behind `fd` of `tid`'s process, O_PATH files included
    /// (fdget_raw()), or EBADF.
    pub(crate) fn fget_raw_index(&self, tid: Tid, fd: i64) -> SysResult<usize> {
        let pid = self.task(tid)?.pid;
        let fd = fd_arg(fd)?;
        self.procs[pid]
            .fds
            .fds
            .get(&fd)
            .copied()
            .ok_or(Errno::EBADF)
    }

    /// fdget(): as fget_raw_index(), but an O_PATH file is EBADF too.
    pub(crate) fn fget_index(&self, tid: Tid, fd: i64) -> SysResult<usize> {
        let file = self.fget_raw_index(tid, fd)?;
        if self.files[file].flags & crate::uapi::fcntl::O_PATH != 0 {
            return Err(Errno::EBADF);
        }
        Ok(file)
    }

    /// dup(2): the lowest free descriptor refers to the same open file (shared offset).
    pub fn dup(&mut self, tid: Tid, oldfd: i64) -> SysResult<i32> {
        self.enter(tid)?;
        let file = self.fget_raw_index(tid, oldfd)?;
        let pid = self.tasks[tid].pid;
        let fd = self.get_unused_fd(pid, FIRST_FD)?;
        self.files[file].refs += 1;
        self.procs[pid].fds.fds.insert(fd, file);
        Ok(fd)
    }

    /// dup2(2) (ksys_dup3() through do_dup2()): `newfd` refers to `oldfd`'s file, whatever
    /// it referred to closed first; the same descriptor twice is returned as it is if open.
    pub fn dup2(&mut self, tid: Tid, oldfd: i64, newfd: i64) -> SysResult<i32> {
        self.enter(tid)?;
        let pid = self.tasks[tid].pid;
        let file = self.fget_raw_index(tid, oldfd)?;
        // newfd >= rlimit(RLIMIT_NOFILE): EBADF.
        let new = fd_arg(newfd)?;
        if new >= NR_OPEN_DEFAULT {
            return Err(Errno::EBADF);
        }
        if fd_arg(oldfd)? == new {
            return Ok(new);
        }
        self.files[file].refs += 1;
        if let Some(old) = self.procs[pid].fds.fds.insert(new, file) {
            self.fput(old);
        }
        Ok(new)
    }

    /// fdget(): the open file behind `fd` of `tid`'s process, or EBADF.
    pub(crate) fn fget(&self, tid: Tid, fd: i64) -> SysResult<&File> {
        Ok(&self.files[self.fget_index(tid, fd)?])
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
                FileKind::DevZero | FileKind::Dir => {}
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
