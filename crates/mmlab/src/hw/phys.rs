//! Physical memory: what each frame holds. Data frames keep real bytes (allocated on first
//! write, unless every byte is the same) or a content tag; page-table frames keep 512
//! entries. Metadata lives in `page`.

use crate::config::ContentMode;
use crate::hw::PTRS_PER_TABLE;
use crate::page::Pfn;

/// One page-table page's entries.
pub type Table = [u64; PTRS_PER_TABLE];

const PAGE_BYTES: usize = 4096;

/// `Bytes` mode: the slots from here hold a frame whose 4096 bytes are all the low byte, with
/// no page behind it (a memset() or fill of a whole page writes one: no 4 KiB to allocate,
/// zero and write).
const UNIFORM: u32 = 0xffff_ff00;

/// A data frame's contents outside memory (on a swap device): the content tag, or the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameImage {
    /// ContentMode::Tagged: the frame's tag.
    Tag(u8),
    /// ContentMode::Bytes: the frame's 4096 bytes.
    Bytes(Box<[u8; PAGE_BYTES]>),
}

/// The contents of every frame, indexed by PFN.
pub struct PhysMem {
    mode: ContentMode,
    /// Per PFN: for table frames, the index into `tables`; for data frames in `Bytes` mode,
    /// 0 (never written: all zero), 1 + index into `bytes`, or `UNIFORM | byte`; in `Tagged`
    /// mode, the tag byte.
    slot: Vec<u32>,
    tables: Vec<Table>,
    free_tables: Vec<u32>,
    bytes: Vec<Box<[u8; PAGE_BYTES]>>,
    free_bytes: Vec<u32>,
}

impl PhysMem {
    /// Empty memory of `frames` frames. The slots are reserved for all of them and grow into
    /// that reservation as frames are first used (only the touched part is resident).
    pub fn new(mode: ContentMode, frames: u64) -> PhysMem {
        PhysMem {
            mode,
            slot: Vec::with_capacity(frames as usize),
            tables: Vec::new(),
            free_tables: Vec::new(),
            bytes: Vec::new(),
            free_bytes: Vec::new(),
        }
    }

    /// The content mode frames were created with.
    pub fn mode(&self) -> ContentMode {
        self.mode
    }

    /// Make sure `pfn` has a slot.
    #[inline]
    pub fn reserve(&mut self, pfn: Pfn) {
        if self.slot.len() <= pfn.0 as usize {
            self.slot.resize(pfn.0 as usize + 1, 0);
        }
    }

    // ---- page-table frames ----

    /// Turn `pfn` into a zeroed page-table frame.
    pub fn make_table(&mut self, pfn: Pfn) {
        self.reserve(pfn);
        let idx = match self.free_tables.pop() {
            Some(i) => {
                self.tables[i as usize] = [0; PTRS_PER_TABLE];
                i
            }
            None => {
                self.tables.push([0; PTRS_PER_TABLE]);
                (self.tables.len() - 1) as u32
            }
        };
        self.slot[pfn.0 as usize] = idx;
    }

    /// Release a page-table frame's entries (the frame itself goes back to the allocator).
    pub fn drop_table(&mut self, pfn: Pfn) {
        let idx = self.slot[pfn.0 as usize];
        self.free_tables.push(idx);
        self.slot[pfn.0 as usize] = 0;
    }

    /// The entries of a page-table frame.
    #[inline]
    pub fn table(&self, pfn: Pfn) -> &Table {
        &self.tables[self.slot[pfn.0 as usize] as usize]
    }

    /// The entries of a page-table frame, for update.
    #[inline]
    pub fn table_mut(&mut self, pfn: Pfn) -> &mut Table {
        let i = self.slot[pfn.0 as usize] as usize;
        &mut self.tables[i]
    }

    // ---- data frames ----

    /// Forget a data frame's contents (it reads as zero afterwards), as the allocator's
    /// __GFP_ZERO would on reuse.
    pub fn clear(&mut self, pfn: Pfn) {
        self.clear_range(pfn, 1);
    }

    /// clear() of the `n` frames from `pfn` (a compound page's), with one bounds check.
    pub fn clear_range(&mut self, pfn: Pfn, n: u64) {
        self.reserve(Pfn(pfn.0 + n - 1));
        let slots = &mut self.slot[pfn.0 as usize..(pfn.0 + n) as usize];
        if self.mode == ContentMode::Bytes {
            self.free_bytes.extend(
                slots
                    .iter()
                    .filter(|&&s| s != 0 && s < UNIFORM)
                    .map(|&s| s - 1),
            );
        }
        slots.fill(0);
    }

    /// copy_user_highpage(): copy one data frame's contents to another.
    pub fn copy(&mut self, from: Pfn, to: Pfn) {
        self.reserve(from.max(to));
        match self.mode {
            ContentMode::Tagged => self.slot[to.0 as usize] = self.slot[from.0 as usize],
            ContentMode::Bytes => {
                let src = self.slot[from.0 as usize];
                if src == 0 || src >= UNIFORM {
                    self.clear(to);
                    self.slot[to.0 as usize] = src;
                } else {
                    let data = *self.bytes[(src - 1) as usize];
                    *self.bytes_mut(to) = data;
                }
            }
        }
    }

    /// Read one byte of a data frame.
    #[inline]
    pub fn load(&self, pfn: Pfn, off: usize) -> u8 {
        let s = self.slot.get(pfn.0 as usize).copied().unwrap_or(0);
        match self.mode {
            ContentMode::Tagged => s as u8,
            ContentMode::Bytes if s == 0 => 0,
            ContentMode::Bytes if s >= UNIFORM => s as u8,
            ContentMode::Bytes => self.bytes[(s - 1) as usize][off],
        }
    }

    /// Write one byte of a data frame.
    #[inline]
    pub fn store(&mut self, pfn: Pfn, off: usize, val: u8) {
        self.fill_with(pfn, off, 1, |_| val);
    }

    /// Write a run of bytes inside one data frame.
    pub fn fill(&mut self, pfn: Pfn, off: usize, len: usize, val: u8) {
        self.fill_with(pfn, off, len, |_| val);
    }

    /// Write `len` bytes from `off` of one data frame, byte `i` of the run being `byte_at(i)`:
    /// store() of each in turn, with the frame looked up once (large user fills run here).
    /// A frame left with one byte value throughout keeps no page.
    #[inline]
    pub fn fill_with(&mut self, pfn: Pfn, off: usize, len: usize, byte_at: impl Fn(usize) -> u8) {
        self.reserve(pfn);
        let s = &mut self.slot[pfn.0 as usize];
        match self.mode {
            // The tag is the last byte stored.
            ContentMode::Tagged if len > 0 => *s = byte_at(len - 1) as u32,
            ContentMode::Tagged => {}
            ContentMode::Bytes => {
                // What the whole frame would read as one value, if it still does after the write.
                let now = (*s == 0 || *s >= UNIFORM).then_some(*s as u8);
                let uniform = (len > 0).then(|| byte_at(0)).filter(|&b| {
                    (len == PAGE_BYTES || now == Some(b)) && (1..len).all(|i| byte_at(i) == b)
                });
                if let Some(b) = uniform {
                    if *s != 0 && *s < UNIFORM {
                        self.free_bytes.push(*s - 1);
                    }
                    *s = UNIFORM | b as u32;
                    return;
                }
                let run = &mut self.bytes_mut(pfn)[off..off + len];
                for (i, b) in run.iter_mut().enumerate() {
                    *b = byte_at(i);
                }
            }
        }
    }

    /// The first byte in `off..off+len` of a frame that differs from `val`, if any.
    pub fn find_mismatch(&self, pfn: Pfn, off: usize, len: usize, val: u8) -> Option<(usize, u8)> {
        self.find_mismatch_with(pfn, off, len, |_| val)
    }

    /// The first byte in `off..off+len` of a frame that differs from the one expected there
    /// (`byte_at(i)` for the run's byte `i`), if any, with the frame looked up once.
    pub fn find_mismatch_with(
        &self,
        pfn: Pfn,
        off: usize,
        len: usize,
        byte_at: impl Fn(usize) -> u8,
    ) -> Option<(usize, u8)> {
        let s = self.slot.get(pfn.0 as usize).copied().unwrap_or(0);
        if self.mode == ContentMode::Tagged || s == 0 || s >= UNIFORM {
            let b = self.load(pfn, off);
            return (0..len).find(|&i| byte_at(i) != b).map(|i| (off + i, b));
        }
        let page = &self.bytes[(s - 1) as usize];
        page[off..off + len]
            .iter()
            .enumerate()
            .position(|(i, &b)| b != byte_at(i))
            .map(|i| (off + i, page[off + i]))
    }

    /// What a data frame holds, taken out for backing store (swap_writepage()'s copy):
    /// None for a frame that reads all zero.
    pub fn image(&self, pfn: Pfn) -> Option<FrameImage> {
        let s = self.slot.get(pfn.0 as usize).copied().unwrap_or(0);
        match self.mode {
            ContentMode::Tagged => (s != 0).then_some(FrameImage::Tag(s as u8)),
            ContentMode::Bytes if s == 0 => None,
            ContentMode::Bytes if s >= UNIFORM => {
                Some(FrameImage::Bytes(Box::new([s as u8; PAGE_BYTES])))
            }
            ContentMode::Bytes => Some(FrameImage::Bytes(self.bytes[(s - 1) as usize].clone())),
        }
    }

    /// Fill a data frame from backing store (swap_readpage()); None reads as zeroes.
    pub fn set_image(&mut self, pfn: Pfn, img: Option<&FrameImage>) {
        match img {
            None => self.clear(pfn),
            Some(FrameImage::Tag(t)) => self.store(pfn, 0, *t),
            Some(FrameImage::Bytes(b)) => self.fill_with(pfn, 0, PAGE_BYTES, |i| b[i]),
        }
    }

    fn bytes_mut(&mut self, pfn: Pfn) -> &mut [u8; PAGE_BYTES] {
        self.reserve(pfn);
        let s = self.slot[pfn.0 as usize];
        let idx = if s != 0 && s < UNIFORM {
            (s - 1) as usize
        } else {
            // The frame reads as one value so far (zero if never written).
            let val = s as u8;
            let i = match self.free_bytes.pop() {
                Some(i) => {
                    self.bytes[i as usize].fill(val);
                    i as usize
                }
                None => {
                    self.bytes.push(Box::new([val; PAGE_BYTES]));
                    self.bytes.len() - 1
                }
            };
            self.slot[pfn.0 as usize] = i as u32 + 1;
            i
        };
        &mut self.bytes[idx]
    }

    /// Host bytes this structure holds, for the memory-per-page benchmark.
    pub fn host_bytes(&self) -> usize {
        self.slot.len() * 4
            + self.tables.capacity() * std::mem::size_of::<Table>()
            + self.bytes.len() * PAGE_BYTES
            + self.bytes.capacity() * 8
            + (self.free_tables.capacity() + self.free_bytes.capacity()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_mode_keeps_what_was_written_and_copies() {
        let mut m = PhysMem::new(ContentMode::Bytes, 1 << 16);
        assert_eq!(m.load(Pfn(7), 100), 0, "a never-written frame reads zero");
        m.store(Pfn(7), 100, 0xab);
        m.fill(Pfn(7), 200, 10, 0x11);
        assert_eq!(m.load(Pfn(7), 100), 0xab);
        assert_eq!(m.find_mismatch(Pfn(7), 200, 10, 0x11), None);
        assert_eq!(m.find_mismatch(Pfn(7), 199, 11, 0x11), Some((199, 0)));
        m.copy(Pfn(7), Pfn(9));
        assert_eq!(m.load(Pfn(9), 100), 0xab);
        m.clear(Pfn(7));
        assert_eq!(m.load(Pfn(7), 100), 0);
        assert_eq!(m.load(Pfn(9), 100), 0xab, "the copy is independent");
    }

    #[test]
    fn a_frame_of_one_byte_value_keeps_no_page_and_reads_the_same() {
        let mut m = PhysMem::new(ContentMode::Bytes, 1 << 16);
        m.fill(Pfn(1), 0, PAGE_BYTES, 0x5a);
        assert_eq!(m.host_bytes(), 2 * 4, "no page behind a uniform frame");
        assert_eq!(m.load(Pfn(1), 4095), 0x5a);
        assert_eq!(m.find_mismatch(Pfn(1), 10, 100, 0x5a), None);
        assert_eq!(
            m.image(Pfn(1)),
            Some(FrameImage::Bytes(Box::new([0x5a; PAGE_BYTES])))
        );
        m.fill(Pfn(2), 0, 1, 0);
        assert_eq!(
            m.image(Pfn(2)),
            Some(FrameImage::Bytes(Box::new([0; PAGE_BYTES]))),
            "a written frame of zeroes is not a never-written one"
        );
        m.copy(Pfn(1), Pfn(3));
        m.store(Pfn(1), 7, 1);
        assert_eq!((m.load(Pfn(1), 7), m.load(Pfn(1), 8)), (1, 0x5a));
        assert_eq!(m.find_mismatch(Pfn(1), 0, 100, 0x5a), Some((7, 1)));
        assert_eq!(m.load(Pfn(3), 7), 0x5a, "the copy is independent");
        m.fill_with(Pfn(1), 0, PAGE_BYTES, |_| 9);
        assert_eq!(m.load(Pfn(1), 7), 9, "a whole-page fill drops the page");
        m.store(Pfn(4), 0, 3);
        let page = m.image(Pfn(4));
        m.set_image(Pfn(1), page.as_ref());
        assert_eq!((m.load(Pfn(1), 0), m.load(Pfn(1), 1)), (3, 0));
    }

    #[test]
    fn tables_are_zeroed_when_reused() {
        let mut m = PhysMem::new(ContentMode::Tagged, 1 << 16);
        m.make_table(Pfn(3));
        m.table_mut(Pfn(3))[5] = 42;
        m.drop_table(Pfn(3));
        m.make_table(Pfn(4));
        assert_eq!(m.table(Pfn(4))[5], 0);
    }
}
