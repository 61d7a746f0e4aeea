//! fs/stat.c: fstat(2) (vfs_getattr() → generic_fillattr() or the filesystem's getattr),
//! the fields a scenario reads: size, blocks (512-byte units), mode and link count.

use crate::errno::SysResult;
use crate::fs::file::FileKind;
use crate::fs::namei::FsType;
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::sched::Tid;
use crate::uapi::fcntl::{S_IFCHR, S_IFDIR};

/// The 512-byte blocks of one page (BLOCKS_PER_PAGE).
const BLOCKS_PER_PAGE: u64 = PAGE_SIZE / 512;
/// BOGO_DIRENT_SIZE: what each entry adds to a tmpfs directory's size.
const BOGO_DIRENT_SIZE: u64 = 20;

/// struct kstat, the fields the model keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kstat {
    pub size: u64,
    pub blocks: u64,
    pub mode: u64,
    pub nlink: u64,
}

impl Kernel {
    /// fstat(2) (vfs_fstat() through fdget_raw(): an O_PATH descriptor works too).
    pub fn fstat(&mut self, tid: Tid, fd: i64) -> SysResult<Kstat> {
        self.enter(tid)?;
        let file = self.fget_raw_index(tid, fd)?;
        Ok(match self.files[file].kind {
            FileKind::Inode(ino) => {
                let inode = &self.inodes[ino];
                // tmpfs counts its pages in the cache and out on swap (shmem_recalc_inode());
                // hugetlbfs its huge pages in the cache (huge_add_to_page_cache()); the disk
                // filesystem its blocks.
                let pages = if inode.is_disk() {
                    self.disk_nr_blocks(ino)
                } else if inode.is_hugetlbfs() {
                    inode.i_mapping.pages(..).count() as u64 * crate::mm::hugetlb::HPAGE_NR
                } else {
                    inode.i_mapping.pages(..).count() as u64
                        + inode.i_mapping.swap_entries(0..u64::MAX).len() as u64
                };
                Kstat {
                    size: inode.i_size,
                    blocks: pages * BLOCKS_PER_PAGE,
                    mode: inode.mode,
                    nlink: inode.nlink.into(),
                }
            }
            // /dev/zero: crw-rw-rw-.
            FileKind::DevZero => Kstat {
                size: 0,
                blocks: 0,
                mode: S_IFCHR | 0o666,
                nlink: 1,
            },
            // The scenario's directory, made 0700: tmpfs sizes it by its entries, a disk
            // filesystem by its one block.
            FileKind::Dir => {
                let (size, blocks) = match self.dir.fs {
                    FsType::Tmpfs => ((self.dir_entries() + 2) * BOGO_DIRENT_SIZE, 0),
                    FsType::Disk => (PAGE_SIZE, BLOCKS_PER_PAGE),
                };
                Kstat {
                    size,
                    blocks,
                    mode: S_IFDIR | 0o700,
                    nlink: 2,
                }
            }
            // A pipe's inode: a FIFO, S_IRUSR | S_IWUSR.
            FileKind::Pipe(_) => Kstat {
                size: 0,
                blocks: 0,
                mode: 0o010000 | 0o600,
                nlink: 1,
            },
            // An anonymous inode: S_IRUSR | S_IWUSR.
            FileKind::Userfaultfd(_) | FileKind::IoUring(_) => Kstat {
                size: 0,
                blocks: 0,
                mode: 0o600,
                nlink: 1,
            },
        })
    }
}
