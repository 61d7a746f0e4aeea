//! A disk filesystem (ext2/ext4-like, 4 KiB blocks) over a simulated block device with
//! 512-byte logical blocks: its address_space_operations (read_folio, writepage, direct_IO),
//! truncation, and direct I/O that bypasses the page cache (iomap_dio_rw()'s alignment rule).
//! Each file's blocks live in its inode's block map; the device counts what it transfers.

use crate::errno::{Errno, SysResult};
use crate::fs::inode::{Ino, InodeInfo};
use crate::hw::phys::FrameImage;
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::memory::ZapDetails;
use crate::page::{Folio, Gfp, PageFlags, Pfn};
use crate::sched::Tid;

/// ext4's s_maxbytes with 4 KiB blocks and extents: 2^32 - 1 blocks.
pub const DISK_MAXBYTES: u64 = ((1u64 << 32) - 1) * PAGE_SIZE;
/// bdev_logical_block_size(): direct I/O offsets, lengths and buffers align to it.
pub const LOGICAL_BLOCK_SIZE: u64 = 512;

/// One block of a file on the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// Allocated by fallocate() and never written (an unwritten extent): reads as zeroes,
    /// a hole to SEEK_DATA.
    Unwritten,
    /// Written: its contents (None: all zero).
    Written(Option<FrameImage>),
}

/// A read or write of user memory: the buffer, the byte count, the file position.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UserIo {
    pub buf: u64,
    pub count: u64,
    pub pos: u64,
}

/// The simulated block device's transfer counts (pages), as /proc/vmstat's pgpgin/pgpgout
/// count the sectors.
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockDevice {
    pub reads: u64,
    pub writes: u64,
}

impl Kernel {
    /// The inode's block map.
    fn blocks(&self, ino: Ino) -> Option<&std::collections::BTreeMap<u64, Block>> {
        match &self.inodes[ino].info {
            InodeInfo::Disk { blocks } => Some(blocks),
            _ => None,
        }
    }

    fn blocks_mut(&mut self, ino: Ino) -> Option<&mut std::collections::BTreeMap<u64, Block>> {
        match &mut self.inodes[ino].info {
            InodeInfo::Disk { blocks } => Some(blocks),
            _ => None,
        }
    }

    /// Has block `index` of the file been written (data for SEEK_DATA)?
    pub(crate) fn disk_block_written(&self, ino: Ino, index: u64) -> bool {
        self.blocks(ino)
            .is_some_and(|b| matches!(b.get(&index), Some(Block::Written(_))))
    }

    /// The blocks the file holds on the device, counting the pages dirty in the cache that
    /// have none yet (ext4's delayed allocation reserves them: i_blocks shows them at once).
    pub(crate) fn disk_nr_blocks(&self, ino: Ino) -> u64 {
        let Some(blocks) = self.blocks(ino) else {
            return 0;
        };
        let delalloc = self.inodes[ino]
            .i_mapping
            .pages(..)
            .filter(|&(i, p)| {
                !blocks.contains_key(&i)
                    && self.pages.folio_test(self.pages.folio(p), PageFlags::DIRTY)
            })
            .count() as u64;
        blocks.len() as u64 + delalloc
    }

    /// filemap_get_pages() → filemap_read_folio(): the cached page at `index`, or a new one
    /// read from the device (a hole or an unwritten block reads as zeroes), added to the page
    /// cache and the file LRU, uptodate.
    pub(crate) fn disk_get_page(&mut self, ino: Ino, index: u64) -> SysResult<Pfn> {
        if let Some(pfn) = self.inodes[ino].i_mapping.page(index) {
            return Ok(pfn);
        }
        let f = self
            .alloc_folio(Gfp::HIGHUSER_MOVABLE, 0)
            .ok_or(Errno::ENOMEM)?;
        let pfn = f.pfn();
        let img = match self.blocks(ino).and_then(|b| b.get(&index)) {
            Some(Block::Written(img)) => Some(img.clone()),
            _ => None,
        };
        self.bdev.reads += img.is_some() as u64;
        let img = img.flatten();
        self.phys.set_image(pfn, img.as_ref());
        let p = self.pages.page_mut(pfn);
        p.set_mapping(Some(ino as u32));
        p.index = index;
        self.inodes[ino].i_mapping.add_page(index, pfn);
        self.pages.folio_set(f, PageFlags::UPTODATE);
        self.folio_add_lru(f);
        Ok(pfn)
    }

    /// The disk filesystem's writepage(): the page's bytes go to its block, the page is clean.
    /// The write completes at once (the simulated device has no queue).
    pub(crate) fn disk_writepage(&mut self, f: Folio) {
        let pfn = f.pfn();
        let ino = self.pages.folio_mapping(f);
        let index = self.pages.page(pfn).index();
        self.pages.folio_clear(f, PageFlags::DIRTY);
        let img = self.phys.image(pfn);
        if let Some(b) = ino.and_then(|i| self.blocks_mut(i as usize)) {
            b.insert(index, Block::Written(img));
        }
        self.bdev.writes += 1;
    }

    /// Direct I/O's alignment (iomap_dio_bio_iter()): position, length and user buffer on
    /// logical block boundaries, else EINVAL.
    fn dio_aligned(pos: u64, count: u64, buf: u64) -> SysResult<()> {
        if (pos | count | buf) & (LOGICAL_BLOCK_SIZE - 1) != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// An O_DIRECT read (iomap_dio_rw()): dirty cached pages of the range are written back
    /// first, then each bio takes the user pages (FOLL_GET | FOLL_WRITE) and the device's
    /// blocks land in them, up to i_size; pages GUP cannot take fail it with GUP's error.
    pub(crate) fn direct_read(&mut self, tid: Tid, ino: Ino, io: UserIo) -> SysResult<u64> {
        let UserIo { buf, count, pos } = io;
        Self::dio_aligned(pos, count, buf)?;
        let size = self.inodes[ino].i_size;
        if pos >= size || count == 0 {
            return Ok(0);
        }
        let (first, last) = (pos / PAGE_SIZE, (pos + count - 1) / PAGE_SIZE);
        self.filemap_write_range(ino, first, last);
        let mut done = 0;
        while done < count {
            // A bio that cannot take its pages fails the whole call (iomap_dio_rw() sets
            // dio->error), the bytes already read in place.
            let d = self.dio_get_pages(tid, buf + done, count - done, true)?;
            let n = d.len().min(count - done);
            let bytes = self.device_read(ino, pos + done, n);
            self.dio_store(&d, &bytes);
            self.dio_release(d, true);
            done += n;
        }
        // iomap_dio_complete(): a read past EOF is cut back to i_size.
        Ok(done.min(size - pos))
    }

    /// `n` bytes of the file from `pos` as the device holds them, a transfer per page.
    fn device_read(&mut self, ino: Ino, pos: u64, n: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(n as usize);
        while (out.len() as u64) < n {
            let at = pos + out.len() as u64;
            let k = (PAGE_SIZE - at % PAGE_SIZE).min(n - out.len() as u64);
            out.extend(self.block_bytes(ino, at / PAGE_SIZE, (at % PAGE_SIZE) as usize, k));
            self.bdev.reads += 1;
        }
        out
    }

    /// `n` bytes of block `index` from `off`, as the device holds them.
    fn block_bytes(&self, ino: Ino, index: u64, off: usize, n: u64) -> Vec<u8> {
        let mut out = vec![0u8; n as usize];
        if let Some(Block::Written(Some(img))) = self.blocks(ino).and_then(|b| b.get(&index)) {
            match img {
                FrameImage::Bytes(b) => out.copy_from_slice(&b[off..off + n as usize]),
                FrameImage::Tag(t) => out.fill(*t),
            }
        }
        out
    }

    /// Block `index` of the file holds the page of bytes `block` now.
    fn write_block(&mut self, ino: Ino, index: u64, block: Vec<u8>) {
        let img = match <Box<[u8; PAGE_SIZE as usize]>>::try_from(block.into_boxed_slice()) {
            Ok(b) if b.iter().any(|&x| x != 0) => Some(FrameImage::Bytes(b)),
            _ => None,
        };
        if let Some(b) = self.blocks_mut(ino) {
            b.insert(index, Block::Written(img));
        }
    }

    /// An O_DIRECT write (iomap_dio_rw()): dirty cached pages of the range are written back,
    /// each bio takes the user pages (FOLL_GET) and their bytes go straight to the device,
    /// then the cached pages of the range are invalidated (unmapped, dropped:
    /// kiocb_invalidate_post_direct_write()); i_size grows. Pages GUP cannot take fail it
    /// with GUP's error, the bytes before them written.
    pub(crate) fn direct_write(&mut self, tid: Tid, ino: Ino, io: UserIo) -> SysResult<u64> {
        let UserIo { buf, count, pos } = io;
        Self::dio_aligned(pos, count, buf)?;
        let (first, last) = (pos / PAGE_SIZE, (pos + count - 1) / PAGE_SIZE);
        self.filemap_write_range(ino, first, last);
        let mut done = 0;
        let mut err = None;
        while done < count {
            let d = match self.dio_get_pages(tid, buf + done, count - done, false) {
                Ok(d) => d,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            };
            let n = d.len().min(count - done);
            let bytes = self.dio_load(&d, n);
            self.dio_release(d, false);
            self.device_write(ino, pos + done, &bytes);
            done += n;
        }
        self.drop_cached_range(ino, (first, last + 1), false);
        let size = self.inodes[ino].i_size;
        if let Some(e) = err {
            // ext4_handle_inode_extension(): a failed extending write is truncated back to
            // i_size (ext4_truncate_failed_write()); what it wrote inside stays.
            if pos + done > size {
                self.inodes[ino].i_size = pos + done;
                self.disk_setsize(ino, size)?;
            }
            return Err(e);
        }
        self.inodes[ino].i_size = size.max(pos + done);
        Ok(done)
    }

    /// `bytes` written to the file's blocks from `pos`, a transfer per page.
    fn device_write(&mut self, ino: Ino, pos: u64, bytes: &[u8]) {
        let mut put = 0;
        while put < bytes.len() {
            let at = pos + put as u64;
            let k = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(bytes.len() - put);
            let index = at / PAGE_SIZE;
            let mut block = self.block_bytes(ino, index, 0, PAGE_SIZE);
            let off = (at % PAGE_SIZE) as usize;
            block[off..off + k].copy_from_slice(&bytes[put..put + k]);
            self.write_block(ino, index, block);
            self.bdev.writes += 1;
            put += k;
        }
    }

    /// invalidate_inode_pages2_range() and truncate_pagecache(): the cached pages `[from, to)`
    /// leave every mapping (private COW copies too if `even_cows`) and the cache.
    fn drop_cached_range(&mut self, ino: Ino, (from, to): (u64, u64), even_cows: bool) {
        let details = ZapDetails {
            even_cows,
            drop_marker: false,
        };
        self.unmap_mapping_range(ino, (from, to), details);
        let victims: Vec<(u64, Pfn)> = self.inodes[ino].i_mapping.pages(from..to).collect();
        for (i, pfn) in victims {
            self.delete_from_page_cache(ino, i, pfn);
        }
    }

    /// The disk filesystem's fallocate() for bytes `[offset, end)` (ext4_fallocate()):
    /// allocation gives every block not yet there an unwritten one (reads as zeroes, a hole to
    /// SEEK_DATA), growing i_size unless KEEP_SIZE; PUNCH_HOLE unmaps the whole pages from
    /// shared mappings, drops their pages and blocks and zeroes the partial ones.
    pub(crate) fn disk_fallocate(
        &mut self,
        ino: Ino,
        mode: u64,
        offset: u64,
        end: u64,
    ) -> SysResult<()> {
        use crate::mm::shmem::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE};
        if end > DISK_MAXBYTES {
            return Err(Errno::EFBIG);
        }
        if mode & FALLOC_FL_PUNCH_HOLE == 0 {
            if let Some(b) = self.blocks_mut(ino) {
                for i in offset / PAGE_SIZE..end.div_ceil(PAGE_SIZE) {
                    b.entry(i).or_insert(Block::Unwritten);
                }
            }
            if mode & FALLOC_FL_KEEP_SIZE == 0 && end > self.inodes[ino].i_size {
                self.inodes[ino].i_size = end;
            }
            return Ok(());
        }
        let end = end.min(self.inodes[ino].i_size.max(offset));
        let (first, last) = (offset.div_ceil(PAGE_SIZE), end / PAGE_SIZE);
        if last > first {
            self.drop_cached_range(ino, (first, last), false);
            if let Some(b) = self.blocks_mut(ino) {
                b.retain(|&i, _| i < first || i >= last);
            }
        }
        // The partial pages at the edges are zeroed in the cache, to be written back.
        let mut at = offset;
        while at < end {
            let n = (PAGE_SIZE - at % PAGE_SIZE).min(end - at);
            if n < PAGE_SIZE {
                let pfn = self.disk_get_page(ino, at / PAGE_SIZE)?;
                self.phys
                    .fill(pfn, (at % PAGE_SIZE) as usize, n as usize, 0);
                self.set_page_dirty(pfn);
                self.mark_inode_dirty(ino);
            }
            at += n;
        }
        Ok(())
    }

    /// The disk filesystem's setattr(ATTR_SIZE) (ext4_setattr() → truncate_pagecache() and
    /// ext4_truncate()): past s_maxbytes is EFBIG; shrinking unmaps the cut part everywhere,
    /// private copies included, drops its pages and blocks and zeroes the tail of the last
    /// page, in the cache and on the device.
    pub(crate) fn disk_setsize(&mut self, ino: Ino, new: u64) -> SysResult<()> {
        if new > DISK_MAXBYTES {
            return Err(Errno::EFBIG);
        }
        let old = self.inodes[ino].i_size;
        self.inodes[ino].i_size = new;
        if new >= old {
            return Ok(());
        }
        let keep = new.div_ceil(PAGE_SIZE);
        self.drop_cached_range(ino, (keep, u64::MAX), true);
        if let Some(b) = self.blocks_mut(ino) {
            b.retain(|&i, _| i < keep);
        }
        let tail = (new % PAGE_SIZE) as usize;
        if tail != 0 {
            let index = new / PAGE_SIZE;
            if let Some(pfn) = self.inodes[ino].i_mapping.page(index) {
                self.phys.fill(pfn, tail, PAGE_SIZE as usize - tail, 0);
            }
            if self.disk_block_written(ino, index) {
                let mut block = self.block_bytes(ino, index, 0, PAGE_SIZE);
                block[tail..].fill(0);
                self.write_block(ino, index, block);
            }
        }
        Ok(())
    }
}
