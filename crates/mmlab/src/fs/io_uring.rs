//! io_uring's registered buffers (fs/io_uring.c in 5.19: io_sqe_buffers_register(),
//! io_pin_pages(), io_sqe_buffers_unregister(), io_import_fixed()): IORING_REGISTER_BUFFERS
//! takes a long-term R/W pin on every page of each buffer (pin_user_pages() with FOLL_WRITE |
//! FOLL_LONGTERM); an IORING_OP_WRITE_FIXED reads through those pins, so it shows what the
//! pinned pages hold, whatever the process's page tables map by then. The model's ring runs
//! only that one opcode, and only into a pipe.

use crate::errno::{Errno, SysResult};
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::filemap::Aops;
use crate::mm::gup::FollFlags;
use crate::mm::vma::Backing;
use crate::page::Pfn;
use crate::sched::Tid;

use super::file::FileKind;

/// IORING_MAX_ENTRIES: the most submission entries a ring may ask for.
pub const IORING_MAX_ENTRIES: u64 = 32768;
/// IORING_MAX_REG_BUFFERS: the most buffers one registration may name.
pub const IORING_MAX_REG_BUFFERS: u64 = 1 << 14;
/// The largest buffer io_buffer_validate() accepts (SZ_1G).
const MAX_BUFFER: u64 = 1 << 30;

/// One registered buffer (struct io_mapped_ubuf): its user range and the pages pinned for
/// it (none for a sparse, zero-length slot).
#[derive(Clone, Debug)]
pub struct MappedUbuf {
    pub ubuf: u64,
    pub len: u64,
    pub pages: Vec<Pfn>,
}

/// struct io_ring_ctx, the part the model keeps: the registered buffers.
#[derive(Clone, Debug, Default)]
pub struct IoRing {
    pub user_bufs: Vec<MappedUbuf>,
}

impl Kernel {
    /// io_uring_setup(2) with default parameters: a ring of `entries` (1 to
    /// IORING_MAX_ENTRIES, else EINVAL); returns its descriptor.
    pub fn io_uring_setup(&mut self, tid: Tid, entries: u64) -> SysResult<u64> {
        self.enter(tid)?;
        if entries == 0 || entries > IORING_MAX_ENTRIES {
            return Err(Errno::EINVAL);
        }
        let pid = self.tasks[tid].pid;
        let ring = self.rings.insert(IoRing::default());
        match self.fd_install_new(pid, FileKind::IoUring(ring), true, true) {
            Ok(fd) => Ok(fd as u64),
            Err(e) => {
                self.rings.remove(ring);
                Err(e)
            }
        }
    }

    /// The ring behind `fd`: EBADF if none is open there, EOPNOTSUPP if it is another file
    /// (io_uring_register()'s io_is_uring_fops() test).
    fn ring_of(&self, tid: Tid, fd: i64) -> SysResult<usize> {
        match self.fget(tid, fd)?.kind {
            FileKind::IoUring(r) => Ok(r),
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    /// io_uring_register(IORING_REGISTER_BUFFERS) with `nr` iovecs of `len` bytes each, laid
    /// end to end from `addr` (`addr` 0 and `len` 0: sparse slots). EBUSY if buffers are
    /// registered already, EINVAL for 0 or more than IORING_MAX_REG_BUFFERS of them; each is
    /// io_buffer_validate()d (EFAULT, EOVERFLOW) and pinned by io_pin_pages(): a short pin is
    /// EFAULT (GUP's own error if none was taken), a file mapping other than shmem or hugetlbfs
    /// EOPNOTSUPP. A failure gives every pin of the call back.
    pub fn io_uring_register_buffers(
        &mut self,
        tid: Tid,
        fd: i64,
        addr: u64,
        len: u64,
        nr: u64,
    ) -> SysResult<u64> {
        let mm = self.enter(tid)?;
        let ring = self.ring_of(tid, fd)?;
        if !self.rings[ring].user_bufs.is_empty() {
            return Err(Errno::EBUSY);
        }
        if nr == 0 || nr > IORING_MAX_REG_BUFFERS {
            return Err(Errno::EINVAL);
        }
        let mut bufs = Vec::new();
        let mut result = Ok(0);
        for i in 0..nr {
            let ubuf = addr.wrapping_add(i.wrapping_mul(len));
            match self.io_sqe_buffer_register(mm, ubuf, len) {
                Ok(b) => bufs.push(b),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_err() {
            for b in bufs {
                self.unpin_user_pages(&b.pages, false);
            }
        } else {
            self.rings[ring].user_bufs = bufs;
        }
        result
    }

    /// io_buffer_validate() and io_pin_pages() for one iovec.
    fn io_sqe_buffer_register(
        &mut self,
        mm: crate::mm::MmId,
        ubuf: u64,
        len: u64,
    ) -> SysResult<MappedUbuf> {
        if ubuf == 0 {
            return if len == 0 {
                Ok(MappedUbuf {
                    ubuf,
                    len,
                    pages: vec![],
                })
            } else {
                Err(Errno::EFAULT)
            };
        }
        if len == 0 || len > MAX_BUFFER {
            return Err(Errno::EFAULT);
        }
        let end = ubuf
            .checked_add(len + PAGE_SIZE - 1)
            .ok_or(Errno::EOVERFLOW)?;
        let nr_pages = (end >> crate::hw::PAGE_SHIFT) - (ubuf >> crate::hw::PAGE_SHIFT);
        let pages = self.gup(
            mm,
            ubuf,
            nr_pages,
            FollFlags::PIN | FollFlags::WRITE | FollFlags::LONGTERM,
        );
        let pages = match pages {
            Ok(p) if p.len() as u64 == nr_pages => p,
            Ok(p) => {
                self.unpin_user_pages(&p, false);
                return Err(Errno::EFAULT);
            }
            Err(e) => return Err(e),
        };
        // "don't support file backed memory": shmem and hugetlbfs files only.
        let file_backed = (0..nr_pages).any(|i| {
            let a = (ubuf & !(PAGE_SIZE - 1)) + i * PAGE_SIZE;
            self.mms[mm]
                .vmas
                .lookup(a)
                .is_some_and(|v| match v.backing {
                    // vma_is_shmem() or is_file_hugepages(): the model's files are one or the
                    // other; any other kind of file refuses.
                    Backing::File(ino) => !matches!(
                        self.inodes[ino].i_mapping.a_ops,
                        Aops::Shmem | Aops::Hugetlbfs
                    ),
                    Backing::Anon => false,
                })
        });
        if file_backed {
            self.unpin_user_pages(&pages, false);
            return Err(Errno::EOPNOTSUPP);
        }
        Ok(MappedUbuf { ubuf, len, pages })
    }

    /// io_uring_register(IORING_UNREGISTER_BUFFERS): every pin given back; ENXIO if none
    /// are registered.
    pub fn io_uring_unregister_buffers(&mut self, tid: Tid, fd: i64) -> SysResult<u64> {
        self.enter(tid)?;
        let ring = self.ring_of(tid, fd)?;
        if self.rings[ring].user_bufs.is_empty() {
            return Err(Errno::ENXIO);
        }
        self.io_sqe_buffers_unregister(ring);
        Ok(0)
    }

    /// __io_sqe_buffers_unregister(): unpin every registered page.
    fn io_sqe_buffers_unregister(&mut self, ring: usize) {
        for b in std::mem::take(&mut self.rings[ring].user_bufs) {
            self.unpin_user_pages(&b.pages, false);
        }
    }

    /// An IORING_OP_WRITE_FIXED of `len` bytes at `addr` of registered buffer `index` into
    /// the pipe whose write end is `fd`, submitted and waited for: the CQE's result, the bytes
    /// written. io_import_fixed()'s EFAULT for an index or range outside the buffers; the
    /// bytes come from the pinned pages.
    pub fn io_uring_write_fixed(
        &mut self,
        tid: Tid,
        ring_fd: i64,
        fd: i64,
        index: u64,
        addr: u64,
        len: u64,
    ) -> SysResult<u64> {
        self.enter(tid)?;
        let ring = self.ring_of(tid, ring_fd)?;
        let b = self.rings[ring]
            .user_bufs
            .get(index as usize)
            .ok_or(Errno::EFAULT)?;
        let end = addr.checked_add(len).ok_or(Errno::EFAULT)?;
        if addr < b.ubuf || end > b.ubuf + b.len || b.pages.is_empty() {
            return Err(Errno::EFAULT);
        }
        let base = b.ubuf & !(PAGE_SIZE - 1);
        let bytes: Vec<u8> = (addr..end)
            .map(|a| {
                let off = a - base;
                let pfn = b.pages[(off / PAGE_SIZE) as usize];
                self.phys.load(pfn, (off % PAGE_SIZE) as usize)
            })
            .collect();
        let pipe = self.pipe_for_write(tid, fd)?;
        self.pipe_write_kernel(pipe, &bytes)
    }

    /// io_ring_ctx_free(): the last file reference is gone; registered buffers are unpinned.
    pub(crate) fn io_uring_release(&mut self, ring: usize) {
        self.io_sqe_buffers_unregister(ring);
        self.rings.remove(ring);
    }

    /// The FOLL_PIN pins rings hold, per page (for the invariants).
    pub(crate) fn ring_pins(&self) -> impl Iterator<Item = Pfn> + '_ {
        self.rings
            .iter()
            .flat_map(|(_, r)| r.user_bufs.iter().flat_map(|b| b.pages.iter().copied()))
    }
}
