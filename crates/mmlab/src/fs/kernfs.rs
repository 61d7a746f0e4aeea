//! The model's sysfs and procfs files, one registry: each directory lists its files, each
//! file its show handler, its store handler (the Linux store handler's parsing and errnos)
//! and its mode. Reads and writes go through `Kernel::sysfs_read` / `Kernel::sysfs_write`,
//! which resolve the path as the VFS would and give the errno a `cat` or `echo` gets.
//!
//! The registrations live beside the code whose state they show, as Linux keeps each
//! attribute in the file of its subsystem: `mm/thp_knobs.rs` (transparent_hugepage/),
//! `mm/khugepaged.rs` (transparent_hugepage/khugepaged/), `fs/sysfs_hugetlb.rs`
//! (hugepages/hugepages-2048kB/ and vm.nr_hugepages) and `fs/sysfs_proc.rs` (/proc/meminfo,
//! /proc/vmstat). A directory whose instances come and go (a memory cgroup, a kdamond) will be
//! one more `Dir` whose path has a wildcard component, resolved against the kernel's objects
//! at read or write time; `path_exists` then answers for the pattern.

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;

/// The filesystem a directory belongs to: it decides what writing a read-only file gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fs {
    /// sysfs: kernfs_fop_open() refuses to open a file without a write bit for writing
    /// (KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK): EACCES, even for root.
    Sysfs,
    /// procfs: root may open a 0444 file for writing (CAP_DAC_OVERRIDE); the write then finds
    /// no proc_write handler: EIO (pde_write()).
    Procfs,
    /// /proc/sys: proc_sys_permission() checks the table's mode for root too: EACCES.
    Sysctl,
}

impl Fs {
    /// The errno of writing a file that has no store handler.
    fn read_only_errno(self) -> Errno {
        match self {
            Fs::Sysfs | Fs::Sysctl => Errno::EACCES,
            Fs::Procfs => Errno::EIO,
        }
    }
}

/// A show handler: the file's contents as `cat` prints them, trailing newline included.
pub type ShowFn = fn(&Kernel, &Attr) -> String;
/// A store handler: parse and apply what was written (`echo VALUE` writes VALUE and a
/// newline), or the errno the Linux handler returns.
pub type StoreFn = fn(&mut Kernel, &Attr, &str) -> SysResult<()>;

/// One file: struct kobj_attribute (sysfs), a proc_dir_entry or a ctl_table entry.
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    /// The permission bits `ls -l` shows. Invariants: a write bit iff `store` is Some.
    pub mode: u16,
    pub show: ShowFn,
    pub store: Option<StoreFn>,
}

impl Attr {
    /// A read-only (0444) file.
    pub const fn ro(name: &'static str, show: ShowFn) -> Attr {
        Attr {
            name,
            mode: 0o444,
            show,
            store: None,
        }
    }

    /// A read-write (0644) file.
    pub const fn rw(name: &'static str, show: ShowFn, store: StoreFn) -> Attr {
        Attr {
            name,
            mode: 0o644,
            show,
            store: Some(store),
        }
    }
}

/// A directory of files (a kobject with its attribute group, a proc directory).
#[derive(Debug)]
pub struct Dir {
    /// Absolute, without a trailing slash.
    pub path: &'static str,
    pub fs: Fs,
    pub attrs: &'static [Attr],
}

/// Every directory the model serves.
pub static DIRS: &[Dir] = &[
    Dir {
        path: "/sys/kernel/mm/transparent_hugepage",
        fs: Fs::Sysfs,
        attrs: crate::mm::thp_knobs::THP_ATTRS,
    },
    Dir {
        path: "/sys/kernel/mm/transparent_hugepage/khugepaged",
        fs: Fs::Sysfs,
        attrs: crate::mm::khugepaged::KHUGEPAGED_ATTRS,
    },
    Dir {
        path: "/sys/kernel/mm/hugepages/hugepages-2048kB",
        fs: Fs::Sysfs,
        attrs: crate::fs::sysfs_hugetlb::HSTATE_ATTRS,
    },
    Dir {
        path: "/proc/sys/vm",
        fs: Fs::Sysctl,
        attrs: crate::fs::sysfs_hugetlb::VM_SYSCTLS,
    },
    Dir {
        path: "/proc/sys/vm",
        fs: Fs::Sysctl,
        attrs: crate::mm::page_alloc::RECLAIM_SYSCTLS,
    },
    Dir {
        path: "/proc",
        fs: Fs::Procfs,
        attrs: crate::fs::sysfs_proc::PROC_ATTRS,
    },
    Dir {
        path: "/sys/module/damon_reclaim/parameters",
        fs: Fs::Sysfs,
        attrs: crate::mm::damon::reclaim::PARAMS,
    },
];

/// What a path names.
#[derive(Debug)]
enum Node {
    File(&'static Dir, &'static Attr),
    /// A directory: reading or writing one is EISDIR.
    Dir,
    /// A file used as a directory (a component past it, or a trailing slash): ENOTDIR.
    NotDir,
    /// Nothing, in a directory that exists (a write would try to create it there).
    MissingInDir,
    /// Nothing, and no such directory either.
    Missing,
}

/// The components of an absolute path, as path lookup walks them ("//", "." and ".."
/// resolved); None for a relative path, which has no meaning without a working directory.
pub fn components(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix('/')?;
    let mut v: Vec<&str> = Vec::new();
    for c in rest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                v.pop();
            }
            c => v.push(c),
        }
    }
    Some(v)
}

/// Is `prefix` (components) a directory: the root, a registered directory or a parent of one?
fn is_dir(prefix: &[&str]) -> bool {
    DIRS.iter().any(|d| {
        let dc = components(d.path).expect("registered paths are absolute");
        dc.len() >= prefix.len() && dc[..prefix.len()] == *prefix
    })
}

/// path lookup over the registry.
fn lookup(path: &str) -> Node {
    let Some(c) = components(path) else {
        return Node::Missing;
    };
    if is_dir(&c) {
        return Node::Dir;
    }
    let (name, parent) = c.split_last().expect("the root is a directory");
    // A file named as an intermediate component makes the path ENOTDIR.
    for i in 1..c.len() {
        if file_at(&c[..i - 1], c[i - 1]).is_some() {
            return Node::NotDir;
        }
    }
    if let Some((d, a)) = file_at(parent, name) {
        // A trailing slash asks for a directory.
        if path.ends_with('/') {
            return Node::NotDir;
        }
        return Node::File(d, a);
    }
    if is_dir(parent) {
        Node::MissingInDir
    } else {
        Node::Missing
    }
}

/// The file `name` in the directory `parent` (components).
fn file_at(parent: &[&str], name: &str) -> Option<(&'static Dir, &'static Attr)> {
    DIRS.iter()
        .filter(|d| components(d.path).as_deref() == Some(parent))
        .find_map(|d| d.attrs.iter().find(|a| a.name == name).map(|a| (d, a)))
}

/// Does the model serve this path as a file (for parse-time checks of what a step reads or
/// writes)?
pub fn path_exists(path: &str) -> bool {
    if crate::fs::cgroupfs::is_cgroup_path(path) {
        let name = path.rsplit('/').next().unwrap_or("");
        return crate::fs::cgroupfs::is_cgroup_file(name);
    }
    matches!(lookup(path), Node::File(..))
        || crate::mm::damon::sysfs::pattern_is_file(path)
        || crate::fs::sysfs_hugetlb::is_node_file(path)
}

/// Does a file of a tree whose directories come and go (DAMON's) read as a number? None for
/// a path outside such a tree.
pub fn pattern_reads_as_number(path: &str) -> Option<bool> {
    crate::mm::damon::sysfs::pattern_reads_as_number(path)
        .or(crate::fs::sysfs_hugetlb::is_node_file(path).then_some(true))
}

/// Every file the model serves, by absolute path (for help texts and errors).
pub fn file_paths() -> impl Iterator<Item = String> {
    DIRS.iter().flat_map(|d| {
        d.attrs
            .iter()
            .map(move |a| format!("{}/{}", d.path, a.name))
    })
}

impl Kernel {
    /// Read a sysfs/procfs file of the model as `cat` prints it (with the trailing newline),
    /// or the errno the read gives: ENOENT for a path that names nothing, EISDIR for a
    /// directory, ENOTDIR for a file used as one.
    pub fn sysfs_read(&self, path: &str) -> SysResult<String> {
        // DAMON's tree resolves its own paths (its directories come and go).
        if let Some(r) = self.damon_sysfs_read(path) {
            return r;
        }
        if let Some(r) = self.node_hstate_read(path) {
            return r;
        }
        if crate::fs::cgroupfs::is_cgroup_path(path) {
            return self.cgroupfs_read(path);
        }
        match lookup(path) {
            Node::File(_, a) if a.mode & 0o444 == 0 => Err(Errno::EACCES),
            Node::File(_, a) => Ok((a.show)(self, a)),
            Node::Dir => Err(Errno::EISDIR),
            Node::NotDir => Err(Errno::ENOTDIR),
            Node::MissingInDir | Node::Missing => Err(Errno::ENOENT),
        }
    }

    /// Write a sysfs/procfs file as `echo VALUE > PATH` does: the store handler gets VALUE
    /// with a newline and gives its own errno (EINVAL, ERANGE ...); a read-only file gives
    /// what its filesystem gives root (EACCES in sysfs and /proc/sys, EIO in /proc); a new
    /// name in an existing directory EACCES (these filesystems cannot create files), one
    /// in a missing directory ENOENT; a directory EISDIR, a file used as one ENOTDIR.
    pub fn sysfs_write(&mut self, path: &str, value: &str) -> SysResult<()> {
        if let Some(r) = self.damon_sysfs_write(path, value) {
            return r;
        }
        if let Some(r) = self.node_hstate_write(path, &format!("{value}\n")) {
            return r;
        }
        if crate::fs::cgroupfs::is_cgroup_path(path) {
            return self.cgroupfs_write(path, &format!("{value}\n"));
        }
        match lookup(path) {
            Node::File(d, a) => match a.store {
                Some(store) if a.mode & 0o222 != 0 => store(self, a, &format!("{value}\n")),
                _ => Err(d.fs.read_only_errno()),
            },
            Node::MissingInDir => Err(Errno::EACCES),
            Node::Dir => Err(Errno::EISDIR),
            Node::NotDir => Err(Errno::ENOTDIR),
            Node::Missing => Err(Errno::ENOENT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn every_registered_file_reads_and_has_a_consistent_mode() {
        let k = Kernel::new(Config::default());
        let mut n = 0;
        for d in DIRS {
            for a in d.attrs {
                let p = format!("{}/{}", d.path, a.name);
                assert!(path_exists(&p), "{p}");
                assert_eq!(a.mode & 0o222 != 0, a.store.is_some(), "{p}: mode vs store");
                let s = k.sysfs_read(&p).unwrap_or_else(|e| panic!("{p}: {e:?}"));
                assert!(s.ends_with('\n'), "{p}: {s:?}");
                n += 1;
            }
        }
        assert_eq!(file_paths().count(), n);
        let mut names: Vec<String> = file_paths().collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "no path is registered twice");
    }

    #[test]
    fn paths_resolve_like_the_vfs() {
        let mut k = Kernel::new(Config::default());
        let en = "/sys/kernel/mm/transparent_hugepage/enabled";
        assert!(path_exists(en));
        assert!(path_exists(
            "/sys//kernel/mm/./transparent_hugepage/khugepaged/../enabled"
        ));
        assert!(!path_exists("/sys/kernel/mm"), "a directory is not a file");
        assert!(!path_exists("/sys/kernel/mm/transparent_hugepage/enable"));
        assert!(!path_exists("sys/kernel/mm/transparent_hugepage/enabled"));
        assert!(!path_exists(&format!("{en}/")));
        assert!(!path_exists(&format!("{en}/x")));
        assert_eq!(k.sysfs_read("/sys/kernel/mm/nope"), Err(Errno::ENOENT));
        assert_eq!(k.sysfs_read(&format!("{en}/x")), Err(Errno::ENOTDIR));
        assert_eq!(k.sysfs_read(&format!("{en}/")), Err(Errno::ENOTDIR));
        assert_eq!(k.sysfs_read("/sys/kernel/mm"), Err(Errno::EISDIR));
        assert_eq!(k.sysfs_write("/sys/kernel/mm/", "1"), Err(Errno::EISDIR));
        assert_eq!(k.sysfs_write(&format!("{en}/x"), "1"), Err(Errno::ENOTDIR));
        assert_eq!(
            k.sysfs_write("/sys/kernel/mm/transparent_hugepage/nope", "1"),
            Err(Errno::EACCES),
            "sysfs cannot create files"
        );
        assert_eq!(
            k.sysfs_write("/sys/kernel/nodir/x", "1"),
            Err(Errno::ENOENT)
        );
    }

    #[test]
    fn read_only_files_refuse_writes_as_their_filesystem_does() {
        let mut k = Kernel::new(Config::default());
        assert_eq!(
            k.sysfs_write("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "1"),
            Err(Errno::EACCES)
        );
        assert_eq!(
            k.sysfs_write(
                "/sys/kernel/mm/transparent_hugepage/khugepaged/full_scans",
                "0"
            ),
            Err(Errno::EACCES)
        );
        assert_eq!(
            k.sysfs_write(
                "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
                "1"
            ),
            Err(Errno::EACCES)
        );
        assert_eq!(k.sysfs_write("/proc/meminfo", "1"), Err(Errno::EIO));
        assert_eq!(k.sysfs_write("/proc/vmstat", "1"), Err(Errno::EIO));
    }
}
