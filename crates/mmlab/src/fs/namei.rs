//! fs/namei.c and fs/open.c for the scenario's directory: the one directory a scenario's
//! relative paths name, on tmpfs or on the disk filesystem, plus the two absolute paths the
//! model serves (/dev/zero and the /proc/self/fd/N magic links). Path lookup, open(2) and
//! openat(2) (build_open_flags(), do_last()/do_open(), do_dentry_open()) and unlink(2).

use std::collections::BTreeMap;

use crate::errno::{Errno, SysResult};
use crate::fs::file::{File, FileKind};
use crate::fs::inode::Ino;
use crate::kernel::Kernel;
use crate::mm::filemap::Aops;
use crate::sched::Tid;
use crate::uapi::fcntl::*;

/// Which filesystem the scenario's directory is on (`files tmpfs`, `files disk`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FsType {
    /// tmpfs: the page cache is the file (shmem_aops, no direct I/O).
    #[default]
    Tmpfs,
    /// A disk filesystem: page cache over blocks of a simulated block device, written back.
    Disk,
}

impl std::str::FromStr for FsType {
    type Err = String;
    fn from_str(s: &str) -> Result<FsType, String> {
        match s {
            "tmpfs" => Ok(FsType::Tmpfs),
            "disk" => Ok(FsType::Disk),
            _ => Err(format!("files {s}: the kinds are `tmpfs` and `disk`")),
        }
    }
}

/// The scenario's directory: its filesystem and its names.
#[derive(Debug, Default)]
pub struct ScenarioDir {
    pub fs: FsType,
    /// The directory's entries (dentries), each holding a reference on its inode.
    entries: BTreeMap<String, Ino>,
}

/// NAME_MAX and PATH_MAX (include/uapi/linux/limits.h).
const NAME_MAX: usize = 255;
const PATH_MAX: usize = 4096;
/// The umask a scenario's processes run with (the host agent's too).
pub const UMASK: u64 = 0o022;

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// The scenario's directory itself (`"."`).
    Dir,
    /// A name in the directory that exists, and the name.
    File(Ino, String),
    /// A name in the directory that does not exist (yet).
    Missing(String),
    /// /dev/zero.
    DevZero,
    /// /proc/self/fd/N: the open file behind descriptor N.
    FdLink(usize),
}

/// Is `path` one a scenario may name: relative, inside its directory (no `..`), or one of
/// the absolute paths the model serves? The check pass refuses the others, so that a host run
/// never opens or unlinks anything outside the scenario's directory.
pub fn scenario_path_ok(path: &str) -> bool {
    if path == "/dev/zero" {
        return true;
    }
    if let Some(n) = path.strip_prefix("/proc/self/fd/") {
        return !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    }
    !path.starts_with('/') && !path.split('/').any(|c| c == "..")
}

impl Kernel {
    /// Put the scenario's directory on `fs` (before the first file is made).
    pub fn set_files_fs(&mut self, fs: FsType) {
        self.dir.fs = fs;
    }

    /// The filesystem the scenario's directory is on.
    pub fn files_fs(&self) -> FsType {
        self.dir.fs
    }

    /// How many names the scenario's directory holds.
    pub(crate) fn dir_entries(&self) -> u64 {
        self.dir.entries.len() as u64
    }

    /// path_lookupat() of `path` for `tid`: `at_dir` says whether a relative path starts in
    /// the scenario's directory (AT_FDCWD or a descriptor of it).
    fn lookup(&self, tid: Tid, path: &str, dirfd: i64) -> SysResult<Target> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if path == "/dev/zero" {
            return Ok(Target::DevZero);
        }
        if let Some(n) = path.strip_prefix("/proc/self/fd/") {
            let fd: i64 = n.parse().map_err(|_| Errno::ENOENT)?;
            return self
                .fget_raw_index(tid, fd)
                .map(Target::FdLink)
                .map_err(|_| Errno::ENOENT);
        }
        if path.starts_with('/') || !scenario_path_ok(path) {
            // Nothing else exists on the model's machine.
            return Err(Errno::ENOENT);
        }
        // A relative path starts at dirfd: AT_FDCWD, or an open directory.
        if dirfd as i32 != AT_FDCWD as i32 {
            let file = &self.files[self.fget_index(tid, dirfd)?];
            if file.kind != FileKind::Dir {
                return Err(Errno::ENOTDIR);
            }
        }
        let comps: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if comps.iter().any(|c| c.len() > NAME_MAX) {
            return Err(Errno::ENAMETOOLONG);
        }
        match comps.as_slice() {
            [] => Ok(Target::Dir),
            [name] => {
                let found = self.dir.entries.get(*name).copied();
                match found {
                    // A trailing slash asks for a directory.
                    Some(_) if path.ends_with('/') => Err(Errno::ENOTDIR),
                    Some(ino) => Ok(Target::File(ino, name.to_string())),
                    None => Ok(Target::Missing(name.to_string())),
                }
            }
            // The model's directory has no subdirectories: a file on the way is ENOTDIR.
            [first, ..] => match self.dir.entries.get(*first) {
                Some(_) => Err(Errno::ENOTDIR),
                None => Err(Errno::ENOENT),
            },
        }
    }

    /// open(2): openat(AT_FDCWD, ...).
    pub fn open(&mut self, tid: Tid, path: &str, flags: u64, mode: u64) -> SysResult<i32> {
        self.openat(tid, AT_FDCWD as i64, path, flags, mode)
    }

    /// openat(2) → do_sys_openat2(): build_open_flags(), the lookup, do_open() and
    /// do_dentry_open(), the new file at the lowest free descriptor.
    pub fn openat(
        &mut self,
        tid: Tid,
        dirfd: i64,
        path: &str,
        flags: u64,
        mode: u64,
    ) -> SysResult<i32> {
        self.enter(tid)?;
        let pid = self.tasks[tid].pid;
        // build_open_flags(): open(2) drops unknown bits (only openat2() refuses them); 5.19
        // adds O_LARGEFILE on 64-bit.
        let mut flags = (flags & 0o37777777) | O_LARGEFILE;
        let tmpfile = flags & (O_TMPFILE & !O_DIRECTORY) != 0;
        // O_TMPFILE_MASK: __O_TMPFILE with O_DIRECTORY and without O_CREAT, and write access.
        if tmpfile && (flags & (O_TMPFILE | O_CREAT) != O_TMPFILE || flags & O_ACCMODE == O_RDONLY)
        {
            return Err(Errno::EINVAL);
        }
        if flags & O_PATH != 0 {
            flags &= O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC;
        }
        let acc = flags & O_ACCMODE;
        // O_ACCMODE 3 is "no access" for ioctl-only opens; a regular file refuses it below.
        let (readable, writable) = match acc {
            _ if flags & O_PATH != 0 => (false, false),
            O_RDONLY => (true, false),
            O_WRONLY => (false, true),
            O_RDWR => (true, true),
            _ => (false, false),
        };
        // ACC_MODE(): access mode 3 asks for read and write permission (and gives neither
        // FMODE_READ nor FMODE_WRITE); O_TRUNC asks for write permission.
        let may_write = flags & O_PATH == 0 && (acc != O_RDONLY || flags & O_TRUNC != 0);
        let target = self.lookup(tid, path, dirfd)?;
        if tmpfile {
            if target != Target::Dir {
                return Err(match target {
                    Target::Missing(_) => Errno::ENOENT,
                    _ => Errno::ENOTDIR,
                });
            }
            let ino = self.dir_new_inode(mode);
            self.inodes[ino].nlink = 0;
            let file = File::new(FileKind::Inode(ino), readable, writable, flags);
            let r = self.do_dentry_open(pid, file);
            self.shmem_put_unreferenced(ino);
            return r;
        }
        let kind = match target {
            Target::Missing(name) if flags & O_CREAT != 0 => {
                if path.ends_with('/') {
                    return Err(Errno::EISDIR);
                }
                let ino = self.dir_new_inode(mode);
                self.inodes[ino].nlink = 1;
                self.inodes[ino].refs += 1;
                self.dir.entries.insert(name, ino);
                FileKind::Inode(ino)
            }
            Target::Missing(_) => return Err(Errno::ENOENT),
            _ if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL => return Err(Errno::EEXIST),
            Target::Dir if flags & O_CREAT != 0 || may_write => return Err(Errno::EISDIR),
            Target::Dir => FileKind::Dir,
            _ if flags & O_DIRECTORY != 0 => return Err(Errno::ENOTDIR),
            Target::File(ino, _) => FileKind::Inode(ino),
            Target::DevZero => FileKind::DevZero,
            // proc_fd_link(): the same inode (or device) opened anew, with its own offset and
            // mode; an anonymous inode (userfaultfd) cannot be reopened.
            Target::FdLink(f) => match self.files[f].kind {
                // The model does not reopen pipes (fifo_open() would count a new reader or
                // writer) or io_uring's anonymous inode.
                FileKind::Userfaultfd(_) | FileKind::Pipe(_) | FileKind::IoUring(_) => {
                    return Err(Errno::ENXIO)
                }
                k => k,
            },
        };
        let file = File::new(kind, readable, writable, flags);
        let fd = self.do_dentry_open(pid, file)?;
        // do_open(): O_TRUNC on a regular file, once it is open (handle_truncate()).
        if let FileKind::Inode(ino) = kind {
            if flags & O_TRUNC != 0 && flags & O_PATH == 0 && self.inodes[ino].i_size != 0 {
                if let Err(e) = self.do_truncate(ino, 0) {
                    self.close(tid, fd as i64)?;
                    return Err(e);
                }
            }
        }
        Ok(fd)
    }

    /// A new regular file on the directory's filesystem, mode masked by the umask.
    fn dir_new_inode(&mut self, mode: u64) -> Ino {
        let a_ops = match self.dir.fs {
            FsType::Tmpfs => Aops::Shmem,
            FsType::Disk => Aops::Disk,
        };
        let ino = self.inode_new(0, None, a_ops);
        self.inodes[ino].mode = S_IFREG | (mode & 0o7777 & !UMASK);
        ino
    }

    /// do_dentry_open(): FMODE_CAN_ODIRECT only where the mapping's a_ops have direct_IO
    /// (the disk filesystem's; not shmem's, hugetlbfs', a device's or tmpfs directory's in
    /// 5.19), and O_DIRECT without it is EINVAL; then fd_install().
    fn do_dentry_open(&mut self, pid: crate::sched::Pid, file: File) -> SysResult<i32> {
        let can_odirect = match file.kind {
            FileKind::Inode(ino) => self.inodes[ino].is_disk(),
            FileKind::Dir => self.dir.fs == FsType::Disk,
            FileKind::DevZero
            | FileKind::Userfaultfd(_)
            | FileKind::Pipe(_)
            | FileKind::IoUring(_) => false,
        };
        if file.flags & O_DIRECT != 0 && file.flags & O_PATH == 0 && !can_odirect {
            return Err(Errno::EINVAL);
        }
        let flags = file.flags & !(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
        self.fd_install_file(pid, File { flags, ..file })
    }

    /// unlink(2) (do_unlinkat()): the name goes; the inode lives on while a file or a mapping
    /// holds it.
    pub fn unlink(&mut self, tid: Tid, path: &str) -> SysResult<()> {
        self.enter(tid)?;
        match self.lookup(tid, path, AT_FDCWD as i64)? {
            Target::File(ino, name) => {
                self.dir.entries.remove(&name);
                self.inodes[ino].nlink = 0;
                self.shmem_put(ino);
                Ok(())
            }
            Target::Missing(_) => Err(Errno::ENOENT),
            Target::Dir => Err(Errno::EISDIR),
            // Not the model's to remove (and the check pass keeps scenarios off them).
            Target::DevZero | Target::FdLink(_) => Err(Errno::EACCES),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_inside_the_directory_pass() {
        assert!(scenario_path_ok("f"));
        assert!(scenario_path_ok("./f"));
        assert!(scenario_path_ok("a/b"));
        assert!(scenario_path_ok("/dev/zero"));
        assert!(scenario_path_ok("/proc/self/fd/3"));
        assert!(!scenario_path_ok("/proc/self/fd/"));
        assert!(!scenario_path_ok("/proc/self/fd/3/x"));
        assert!(!scenario_path_ok("../f"));
        assert!(!scenario_path_ok("a/../../f"));
        assert!(!scenario_path_ok("/etc/passwd"));
    }
}
