//! struct inode (include/linux/fs.h) for the filesystems the model has: tmpfs
//! (shmem_inode_info), hugetlbfs (hugetlbfs_inode_info) and a disk filesystem over a simulated
//! block device (`crate::fs::diskfs`), each with its page cache.

use std::collections::{BTreeMap, BTreeSet};

use crate::mm::filemap::{AddressSpace, Aops};
use crate::mm::memfd::F_SEAL_SEAL;

/// An inode's handle.
pub type Ino = usize;

/// An inode: its size, its page cache and what its filesystem keeps beside them.
#[derive(Debug)]
pub struct Inode {
    /// The inode number (get_next_ino()).
    pub i_ino: u64,
    pub i_size: u64,
    /// Open references: one per file, per VMA mapping it and per name in a directory.
    pub refs: u32,
    /// i_mode: the file type (S_IFREG) and permission bits.
    pub mode: u64,
    /// i_nlink: the names the file has (0 for a memfd and an unlinked file).
    pub nlink: u32,
    /// The memfd name (None for the "dev/zero" file behind shared anonymous memory).
    pub name: Option<String>,
    /// The F_SEAL_* seals (shmem_inode_info / hugetlbfs_inode_info ->seals).
    pub seals: u64,
    pub i_mapping: AddressSpace,
    pub info: InodeInfo,
}

/// The filesystem's own part of the inode.
#[derive(Debug)]
pub enum InodeInfo {
    /// shmem_inode_info: `fallocend` is the page index fallocate() has allocated up to, which
    /// may lie past i_size with KEEP_SIZE (a THP split keeps the pages below it).
    Shmem { fallocend: u64 },
    /// The inode's resv_map: huge page indices reserved for shared mappings and not yet
    /// instantiated.
    Hugetlbfs { resv: BTreeSet<u64> },
    /// The disk filesystem's block map: the file's blocks on the device by page index.
    Disk {
        blocks: BTreeMap<u64, crate::fs::diskfs::Block>,
    },
}

impl Inode {
    /// A new inode of `size` bytes whose page cache uses `a_ops`. Only
    /// memfd_create(MFD_ALLOW_SEALING) lifts the F_SEAL_SEAL every other file starts with.
    pub fn new(i_ino: u64, size: u64, name: Option<String>, a_ops: Aops) -> Inode {
        let info = match a_ops {
            Aops::Shmem => InodeInfo::Shmem { fallocend: 0 },
            Aops::Hugetlbfs => InodeInfo::Hugetlbfs {
                resv: BTreeSet::new(),
            },
            Aops::Disk => InodeInfo::Disk {
                blocks: BTreeMap::new(),
            },
        };
        Inode {
            i_ino,
            i_size: size,
            refs: 0,
            // shmem_file_setup(): S_IFREG | S_IRWXUGO, and clear_nlink() (it is unlinked).
            mode: crate::uapi::fcntl::S_IFREG | 0o777,
            nlink: 0,
            name,
            seals: F_SEAL_SEAL,
            i_mapping: AddressSpace::new(a_ops),
            info,
        }
    }

    /// is_file_hugepages(): a hugetlbfs file.
    pub fn is_hugetlbfs(&self) -> bool {
        self.i_mapping.a_ops == Aops::Hugetlbfs
    }

    /// Is the page cache over the disk filesystem's blocks (not swap-backed)?
    pub fn is_disk(&self) -> bool {
        self.i_mapping.a_ops == Aops::Disk
    }

    /// The hugetlbfs reservation map (None for a shmem inode).
    pub fn resv(&self) -> Option<&BTreeSet<u64>> {
        match &self.info {
            InodeInfo::Hugetlbfs { resv } => Some(resv),
            InodeInfo::Shmem { .. } | InodeInfo::Disk { .. } => None,
        }
    }

    /// The hugetlbfs reservation map, to change (None for a shmem inode).
    pub fn resv_mut(&mut self) -> Option<&mut BTreeSet<u64>> {
        match &mut self.info {
            InodeInfo::Hugetlbfs { resv } => Some(resv),
            InodeInfo::Shmem { .. } | InodeInfo::Disk { .. } => None,
        }
    }

    /// The shmem inode's fallocend (0 for hugetlbfs, which keeps none).
    pub fn fallocend(&self) -> u64 {
        match self.info {
            InodeInfo::Shmem { fallocend } => fallocend,
            InodeInfo::Hugetlbfs { .. } | InodeInfo::Disk { .. } => 0,
        }
    }
}
