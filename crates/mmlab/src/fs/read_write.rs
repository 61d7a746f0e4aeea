//! fs/read_write.c: read(2), write(2), pread64(2), pwrite64(2) and lseek(2) on the model's
//! files, with each filesystem's read_iter/write_iter/llseek: shmem_file_read_iter(),
//! hugetlbfs_read_iter(), generic_perform_write() through shmem_write_begin/end or the disk
//! filesystem's, /dev/zero's read_zero()/write_zero(); and fsync(2).

use crate::errno::{Errno, SysResult};
use crate::fs::diskfs::UserIo;
use crate::fs::file::FileKind;
use crate::fs::inode::Ino;
use crate::hw::{PAGE_SIZE, TASK_SIZE};
use crate::kernel::Kernel;
use crate::mm::hugetlb::HPAGE_SIZE;
use crate::sched::Tid;
use crate::uapi::fcntl::*;

/// MAX_RW_COUNT: INT_MAX rounded down to a page, the most one read or write moves.
pub const MAX_RW_COUNT: u64 = (i32::MAX as u64) & !(PAGE_SIZE - 1);
/// MAX_LFS_FILESIZE: tmpfs' and hugetlbfs' s_maxbytes.
pub const MAX_LFS_FILESIZE: u64 = i64::MAX as u64;

/// access_ok(): the range lies below TASK_SIZE_MAX without wrapping.
fn access_ok(addr: u64, len: u64) -> bool {
    len <= TASK_SIZE && addr <= TASK_SIZE - len
}

/// rw_verify_area(): a count that is negative as ssize_t, a negative position, or one the
/// count carries past LLONG_MAX, is EINVAL.
fn rw_verify_area(pos: u64, count: u64) -> SysResult<()> {
    if (count as i64) < 0 || (pos as i64) < 0 || (pos.wrapping_add(count) as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// How a copy between user memory and the kernel ended: the bytes moved, and whether a page
/// of the user range could not be reached.
struct Copied {
    done: u64,
    faulted: bool,
}

impl Copied {
    /// What read(2) or write(2) returns: the bytes moved, or EFAULT when none were.
    fn result(self) -> SysResult<u64> {
        if self.done == 0 && self.faulted {
            Err(Errno::EFAULT)
        } else {
            Ok(self.done)
        }
    }
}

impl Kernel {
    /// read(2) (ksys_read()): from f_pos, which moves on by what was read.
    pub fn read(&mut self, tid: Tid, fd: i64, buf: u64, count: u64) -> SysResult<u64> {
        self.enter(tid)?;
        let file = self.fget_index(tid, fd)?;
        let pos = self.files[file].pos;
        let n = self.vfs_read(tid, file, UserIo { buf, count, pos })?;
        self.files[file].pos = pos + n;
        Ok(n)
    }

    /// pread64(2): at `pos`, f_pos untouched; a negative position is EINVAL before the
    /// descriptor is looked at.
    pub fn pread64(&mut self, tid: Tid, fd: i64, buf: u64, count: u64, pos: i64) -> SysResult<u64> {
        self.enter(tid)?;
        if pos < 0 {
            return Err(Errno::EINVAL);
        }
        let file = self.fget_index(tid, fd)?;
        self.vfs_read(
            tid,
            file,
            UserIo {
                buf,
                count,
                pos: pos as u64,
            },
        )
    }

    /// write(2) (ksys_write()): at f_pos (at the end with O_APPEND), which moves on.
    pub fn write(&mut self, tid: Tid, fd: i64, buf: u64, count: u64) -> SysResult<u64> {
        self.enter(tid)?;
        let file = self.fget_index(tid, fd)?;
        let pos = self.files[file].pos;
        let (n, end) = self.vfs_write(tid, file, UserIo { buf, count, pos })?;
        self.files[file].pos = end;
        Ok(n)
    }

    /// pwrite64(2): at `pos` (still at the end with O_APPEND, as Linux does), f_pos untouched.
    pub fn pwrite64(
        &mut self,
        tid: Tid,
        fd: i64,
        buf: u64,
        count: u64,
        pos: i64,
    ) -> SysResult<u64> {
        self.enter(tid)?;
        if pos < 0 {
            return Err(Errno::EINVAL);
        }
        let file = self.fget_index(tid, fd)?;
        self.vfs_write(
            tid,
            file,
            UserIo {
                buf,
                count,
                pos: pos as u64,
            },
        )
        .map(|(n, _)| n)
    }

    /// vfs_read(): FMODE_READ, FMODE_CAN_READ, access_ok(), rw_verify_area(), the count
    /// clamped to MAX_RW_COUNT, then the file's read.
    fn vfs_read(&mut self, tid: Tid, file: usize, io: UserIo) -> SysResult<u64> {
        let UserIo { buf, count, pos } = io;
        let f = self.files[file].clone();
        if !f.readable {
            return Err(Errno::EBADF);
        }
        if !access_ok(buf, count) {
            return Err(Errno::EFAULT);
        }
        rw_verify_area(pos, count)?;
        let count = count.min(MAX_RW_COUNT);
        match f.kind {
            // read_zero(): clear_user() a page at a time.
            FileKind::DevZero => self.clear_user(tid, buf, count).result(),
            // generic_read_dir().
            FileKind::Dir => Err(Errno::EISDIR),
            // userfaultfd's read is the `uffd_read` probe's; read(2) of it is not modelled.
            // io_uring's file has no read.
            FileKind::Userfaultfd(_) | FileKind::IoUring(_) => Err(Errno::EINVAL),
            FileKind::Pipe(_) if count == 0 => Ok(0),
            FileKind::Pipe(end) => self.pipe_to_user(tid, end, buf, count),
            FileKind::Inode(ino) if f.flags & O_DIRECT != 0 => {
                self.direct_read(tid, ino, UserIo { buf, count, pos })
            }
            FileKind::Inode(ino) => self.filemap_read(tid, ino, UserIo { buf, count, pos }),
        }
    }

    /// vfs_write(): FMODE_WRITE, FMODE_CAN_WRITE (hugetlbfs has no write), access_ok(),
    /// rw_verify_area(), MAX_RW_COUNT; returns the bytes written and where the file position
    /// ends.
    fn vfs_write(&mut self, tid: Tid, file: usize, io: UserIo) -> SysResult<(u64, u64)> {
        let UserIo { buf, count, pos } = io;
        let f = self.files[file].clone();
        if !f.writable {
            return Err(Errno::EBADF);
        }
        let ino = match f.kind {
            FileKind::Inode(ino) if self.inodes[ino].is_hugetlbfs() => return Err(Errno::EINVAL),
            FileKind::Userfaultfd(_) | FileKind::Dir | FileKind::IoUring(_) => {
                return Err(Errno::EINVAL)
            }
            FileKind::Pipe(end) => return self.pipe_write_user(tid, end.pipe, buf, count, pos),
            FileKind::DevZero | FileKind::Inode(_) => f.inode(),
        };
        if !access_ok(buf, count) {
            return Err(Errno::EFAULT);
        }
        rw_verify_area(pos, count)?;
        let count = count.min(MAX_RW_COUNT);
        // write_zero(): everything is taken, nothing is read.
        let Some(ino) = ino else {
            return Ok((count, pos + count));
        };
        // generic_write_checks(): O_APPEND writes at i_size; nothing past s_maxbytes.
        let pos = if f.flags & O_APPEND != 0 {
            self.inodes[ino].i_size
        } else {
            pos
        };
        if count == 0 {
            return Ok((0, pos));
        }
        let maxbytes = self.s_maxbytes(ino);
        if pos >= maxbytes {
            return Err(Errno::EFBIG);
        }
        let count = count.min(maxbytes - pos);
        let io = UserIo { buf, count, pos };
        let n = if f.flags & O_DIRECT != 0 {
            self.direct_write(tid, ino, io)?
        } else {
            self.generic_perform_write(tid, ino, io)?
        };
        Ok((n, pos + n))
    }

    /// The filesystem's s_maxbytes.
    pub(crate) fn s_maxbytes(&self, ino: Ino) -> u64 {
        if self.inodes[ino].is_disk() {
            crate::fs::diskfs::DISK_MAXBYTES
        } else {
            MAX_LFS_FILESIZE
        }
    }

    /// clear_user() of `len` bytes at `addr`, page by page (read_zero()).
    fn clear_user(&mut self, tid: Tid, addr: u64, len: u64) -> Copied {
        self.copy_out(tid, addr, len, |_, _, out| out.fill(0))
    }

    /// copy_to_user() of `len` bytes at `addr`, each chunk up to a page boundary filled by
    /// `fill(kernel, offset into the copy, chunk)`; stops at the first page it cannot write.
    fn copy_out(
        &mut self,
        tid: Tid,
        addr: u64,
        len: u64,
        mut fill: impl FnMut(&mut Kernel, u64, &mut [u8]),
    ) -> Copied {
        let mut done = 0;
        let mut chunk = Vec::new();
        while done < len {
            let a = addr + done;
            let n = (PAGE_SIZE - a % PAGE_SIZE).min(len - done);
            chunk.resize(n as usize, 0);
            fill(self, done, &mut chunk);
            if let Err((k, _)) = self.copy_to_user(tid, a, &chunk) {
                return Copied {
                    done: done + k as u64,
                    faulted: true,
                };
            }
            done += n;
        }
        Copied {
            done,
            faulted: false,
        }
    }

    /// copy_from_user() of up to `len` bytes at `addr` into `out`: the bytes before the first
    /// page that cannot be read (a kernel-mode fault, not FAULT_FLAG_USER).
    pub(crate) fn copy_from_user(&mut self, tid: Tid, addr: u64, out: &mut Vec<u8>, len: u64) {
        out.clear();
        let mut a = addr;
        while (out.len() as u64) < len {
            let n = (PAGE_SIZE - a % PAGE_SIZE).min(len - out.len() as u64);
            let Ok(pfn) = self.translate_user(tid, a) else {
                return;
            };
            let off = (a % PAGE_SIZE) as usize;
            out.extend((0..n as usize).map(|i| self.phys.load(pfn, off + i)));
            a += n;
        }
    }

    /// The read_iter of a file in the page cache (filemap_read(), shmem_file_read_iter(),
    /// hugetlbfs_read_iter()): up to i_size, page by page; a hole reads as zeroes without
    /// being allocated on tmpfs and hugetlbfs, and is read in on the disk filesystem.
    fn filemap_read(&mut self, tid: Tid, ino: Ino, io: UserIo) -> SysResult<u64> {
        let UserIo { buf, count, pos } = io;
        let size = self.inodes[ino].i_size;
        if pos >= size || count == 0 {
            return Ok(0);
        }
        let len = count.min(size - pos);
        let mut err = None;
        let copied = self.copy_out(tid, buf, len, |k, off, out| {
            let mut at = pos + off;
            let mut o = 0;
            while o < out.len() {
                let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(out.len() - o);
                match k.file_read_page(ino, at) {
                    Ok(Some(pfn)) => {
                        let p = (at % PAGE_SIZE) as usize;
                        for (i, b) in out[o..o + n].iter_mut().enumerate() {
                            *b = k.phys.load(pfn, p + i);
                        }
                    }
                    Ok(None) => out[o..o + n].fill(0),
                    Err(e) => {
                        err.get_or_insert(e);
                        out[o..o + n].fill(0);
                    }
                }
                o += n;
                at += n as u64;
            }
        });
        match err {
            Some(e) if copied.done == 0 => Err(e),
            _ => copied.result(),
        }
    }

    /// The frame holding byte `at` of the file for a read, if the file has one there:
    /// shmem's SGP_READ (a swapped-out page comes back, a hole stays one), hugetlbfs' page
    /// cache lookup, the disk filesystem's filemap_get_pages() (read in if absent).
    fn file_read_page(&mut self, ino: Ino, at: u64) -> SysResult<Option<crate::page::Pfn>> {
        let inode = &self.inodes[ino];
        if inode.is_hugetlbfs() {
            let head = inode.i_mapping.page(at / HPAGE_SIZE);
            return Ok(head.map(|h| crate::page::Pfn(h.0 + (at % HPAGE_SIZE) / PAGE_SIZE)));
        }
        let index = at / PAGE_SIZE;
        if inode.is_disk() {
            return self.disk_get_page(ino, index).map(Some);
        }
        match inode.i_mapping.entry(index) {
            Some(crate::mm::filemap::Slot::Folio(pfn)) => Ok(Some(pfn)),
            Some(crate::mm::filemap::Slot::Swap(_)) => {
                self.shmem_getpage_gfp(ino, index, None).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// generic_perform_write(): a page-sized chunk at a time, the user bytes first faulted in
    /// (none readable: EFAULT, or the count so far), then the filesystem's write_begin (tmpfs:
    /// the seals, shmem_getpage(SGP_WRITE); disk: the page read in), the copy, write_end
    /// (uptodate, dirty, i_size).
    fn generic_perform_write(&mut self, tid: Tid, ino: Ino, io: UserIo) -> SysResult<u64> {
        let UserIo { buf, count, pos } = io;
        let mut done = 0;
        let mut bytes = Vec::new();
        while done < count {
            let at = pos + done;
            let want = (PAGE_SIZE - at % PAGE_SIZE).min(count - done);
            self.copy_from_user(tid, buf + done, &mut bytes, want);
            if bytes.is_empty() {
                return if done == 0 {
                    Err(Errno::EFAULT)
                } else {
                    Ok(done)
                };
            }
            let n = bytes.len() as u64;
            let pfn = match self.write_begin(ino, at, n) {
                Ok(pfn) => pfn,
                Err(e) if done == 0 => return Err(e),
                Err(_) => return Ok(done),
            };
            let off = (at % PAGE_SIZE) as usize;
            for (i, &b) in bytes.iter().enumerate() {
                self.phys.store(pfn, off + i, b);
            }
            let f = self.pages.folio(pfn);
            self.pages.folio_set(f, crate::page::PageFlags::UPTODATE);
            self.set_page_dirty(pfn);
            self.mark_inode_dirty(ino);
            if at + n > self.inodes[ino].i_size {
                self.inodes[ino].i_size = at + n;
            }
            done += n;
            if n < want {
                // The rest of the chunk was not readable.
                break;
            }
        }
        Ok(done)
    }

    /// a_ops->write_begin() for `len` bytes at `at`: the page to copy into.
    fn write_begin(&mut self, ino: Ino, at: u64, len: u64) -> SysResult<crate::page::Pfn> {
        use crate::mm::memfd::{F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_WRITE};
        let inode = &self.inodes[ino];
        if inode.is_disk() {
            return self.disk_get_page(ino, at / PAGE_SIZE);
        }
        // shmem_write_begin(): the write seals refuse, the grow seal refuses growth.
        if inode.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0
            || (inode.seals & F_SEAL_GROW != 0 && at + len > inode.i_size)
        {
            return Err(Errno::EPERM);
        }
        self.shmem_getpage_gfp(ino, at / PAGE_SIZE, None)
    }

    /// lseek(2) (ksys_lseek()): whence beyond SEEK_HOLE is EINVAL; then the file's llseek.
    pub fn lseek(&mut self, tid: Tid, fd: i64, offset: i64, whence: u64) -> SysResult<u64> {
        self.enter(tid)?;
        let file = self.fget_index(tid, fd)?;
        if whence as u32 as u64 > SEEK_HOLE {
            return Err(Errno::EINVAL);
        }
        let f = &self.files[file];
        let (kind, cur) = (f.kind, f.pos);
        let new = match kind {
            // null_lseek() for /dev/zero, noop_llseek() for userfaultfd.
            FileKind::DevZero => 0,
            FileKind::Userfaultfd(_) => return Ok(cur),
            // no_llseek(): pipes and io_uring.
            FileKind::Pipe(_) | FileKind::IoUring(_) => return Err(Errno::ESPIPE),
            FileKind::Dir => self.llseek_size(cur, offset, whence, MAX_LFS_FILESIZE, 0)?,
            FileKind::Inode(ino) => {
                let (size, max) = (self.inodes[ino].i_size, self.s_maxbytes(ino));
                match whence as u32 as u64 {
                    SEEK_DATA | SEEK_HOLE if !self.inodes[ino].is_hugetlbfs() => {
                        // shmem_file_llseek() / iomap_seek_data() and iomap_seek_hole().
                        if offset < 0 || offset as u64 >= size {
                            return Err(Errno::ENXIO);
                        }
                        let at =
                            self.seek_hole_data(ino, offset as u64, size, whence == SEEK_DATA)?;
                        if at > max {
                            return Err(Errno::EINVAL);
                        }
                        at
                    }
                    _ => self.llseek_size(cur, offset, whence, max, size)?,
                }
            }
        };
        self.files[file].pos = new;
        Ok(new)
    }

    /// generic_file_llseek_size() for SEEK_SET/CUR/END (SEEK_DATA/HOLE as holes only past
    /// EOF), then vfs_setpos(): negative or past `max` is EINVAL.
    fn llseek_size(
        &self,
        cur: u64,
        offset: i64,
        whence: u64,
        max: u64,
        eof: u64,
    ) -> SysResult<u64> {
        let target = match whence as u32 as u64 {
            SEEK_SET => offset,
            SEEK_END => (eof as i64).wrapping_add(offset),
            SEEK_CUR if offset == 0 => return Ok(cur),
            SEEK_CUR => (cur as i64).wrapping_add(offset),
            SEEK_DATA if offset < 0 || offset as u64 >= eof => return Err(Errno::ENXIO),
            SEEK_DATA => offset,
            _ if offset < 0 || offset as u64 >= eof => return Err(Errno::ENXIO),
            _ => eof as i64,
        };
        if target < 0 || target as u64 > max {
            return Err(Errno::EINVAL);
        }
        Ok(target as u64)
    }

    /// mapping_seek_hole_data() (tmpfs: a page in the cache and uptodate, or out on swap, is
    /// data) and the disk filesystem's iomap seek (a block written, or a page dirty in the
    /// cache, is data): the first data or hole byte at or after `start`, before `end`; a
    /// hole is found at `end` at the latest, data not at all (ENXIO).
    fn seek_hole_data(&self, ino: Ino, start: u64, end: u64, data: bool) -> SysResult<u64> {
        let mut index = start / PAGE_SIZE;
        let last = (end - 1) / PAGE_SIZE;
        while index <= last {
            if self.index_has_data(ino, index) == data {
                return Ok((index * PAGE_SIZE).max(start));
            }
            index += 1;
        }
        if data {
            Err(Errno::ENXIO)
        } else {
            Ok(end)
        }
    }

    /// Does page `index` of the file hold data for SEEK_DATA/SEEK_HOLE?
    fn index_has_data(&self, ino: Ino, index: u64) -> bool {
        use crate::mm::filemap::Slot;
        let inode = &self.inodes[ino];
        let entry = inode.i_mapping.entry(index);
        if inode.is_disk() {
            return self.disk_block_written(ino, index)
                || entry.and_then(Slot::page).is_some_and(|p| {
                    self.pages
                        .folio_test(self.pages.folio(p), crate::page::PageFlags::DIRTY)
                });
        }
        match entry {
            Some(Slot::Swap(_)) => true,
            Some(Slot::Folio(p)) => self
                .pages
                .folio_test(self.pages.folio(p), crate::page::PageFlags::UPTODATE),
            _ => false,
        }
    }

    /// fsync(2) and fdatasync(2) (vfs_fsync_range() over the whole file): tmpfs, hugetlbfs
    /// and directories have noop_fsync(); the disk filesystem writes its dirty pages back;
    /// /dev/zero and userfaultfd have no fsync (EINVAL).
    pub fn fsync(&mut self, tid: Tid, fd: i64) -> SysResult<()> {
        self.enter(tid)?;
        let file = self.fget_index(tid, fd)?;
        match self.files[file].kind {
            FileKind::Inode(ino) => {
                self.vfs_fsync_range(ino, 0, u64::MAX);
                Ok(())
            }
            FileKind::Dir => Ok(()),
            FileKind::DevZero
            | FileKind::Userfaultfd(_)
            | FileKind::Pipe(_)
            | FileKind::IoUring(_) => Err(Errno::EINVAL),
        }
    }

    /// vfs_fsync_range() on an inode for bytes `[start, end]`: the disk filesystem's dirty
    /// pages there are written back (filemap_write_and_wait_range()); others have nothing to
    /// write.
    pub(crate) fn vfs_fsync_range(&mut self, ino: Ino, start: u64, end: u64) {
        if self.inodes[ino].is_disk() {
            self.filemap_write_range(ino, start / PAGE_SIZE, end / PAGE_SIZE);
        }
    }
}
