//! struct inode (include/linux/fs.h) for the two in-memory filesystems the model has: tmpfs
//! (shmem_inode_info) and hugetlbfs (hugetlbfs_inode_info), each with its page cache.

use std::collections::BTreeSet;

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
    /// Open references: one per file and per VMA mapping it.
    pub refs: u32,
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
        };
        Inode {
            i_ino,
            i_size: size,
            refs: 0,
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

    /// The hugetlbfs reservation map (None for a shmem inode).
    pub fn resv(&self) -> Option<&BTreeSet<u64>> {
        match &self.info {
            InodeInfo::Hugetlbfs { resv } => Some(resv),
            InodeInfo::Shmem { .. } => None,
        }
    }

    /// The hugetlbfs reservation map, to change (None for a shmem inode).
    pub fn resv_mut(&mut self) -> Option<&mut BTreeSet<u64>> {
        match &mut self.info {
            InodeInfo::Hugetlbfs { resv } => Some(resv),
            InodeInfo::Shmem { .. } => None,
        }
    }

    /// The shmem inode's fallocend (0 for hugetlbfs, which keeps none).
    pub fn fallocend(&self) -> u64 {
        match self.info {
            InodeInfo::Shmem { fallocend } => fallocend,
            InodeInfo::Hugetlbfs { .. } => 0,
        }
    }
}
