//! Per-slot storage for a swap device, allocated a chunk at a time as slots are used, the way
//! 5.19's swap-cache xarray grows nodes: what the swap cache holds for each slot (a page or a
//! shadow) and what the device holds (a frame's content). A swapped-out page costs a few
//! bytes of host memory here, not a map entry.

use crate::hw::phys::FrameImage;
use crate::page::Pfn;

/// Slots per chunk (the span of two xarray nodes).
const CHUNK: usize = 128;

/// A sparse array of `T` by slot offset; `T::default()` is "nothing here".
#[derive(Clone, Debug, Default)]
pub struct SlotTable<T: Copy + Default + PartialEq> {
    chunks: Vec<Option<Box<[T; CHUNK]>>>,
    /// Slots holding something other than the default, per chunk (a chunk at 0 is freed).
    used: Vec<u16>,
}

impl<T: Copy + Default + PartialEq> SlotTable<T> {
    /// A table for `slots` slots, nothing allocated yet.
    pub fn new(slots: u64) -> Self {
        let n = (slots as usize).div_ceil(CHUNK);
        SlotTable {
            chunks: vec![None; n],
            used: vec![0; n],
        }
    }

    /// The value at `offset` (the default past the end or where nothing was stored).
    pub fn get(&self, offset: u64) -> T {
        let (c, i) = (offset as usize / CHUNK, offset as usize % CHUNK);
        match self.chunks.get(c) {
            Some(Some(chunk)) => chunk[i],
            _ => T::default(),
        }
    }

    /// Store `v` at `offset`, returning what was there.
    pub fn set(&mut self, offset: u64, v: T) -> T {
        let (c, i) = (offset as usize / CHUNK, offset as usize % CHUNK);
        let Some(slot) = self.chunks.get_mut(c) else {
            return T::default();
        };
        if slot.is_none() {
            if v == T::default() {
                return T::default();
            }
            *slot = Some(Box::new([T::default(); CHUNK]));
        }
        let chunk = slot.as_mut().expect("allocated above");
        let old = std::mem::replace(&mut chunk[i], v);
        let was = old != T::default();
        let is = v != T::default();
        if is && !was {
            self.used[c] += 1;
        } else if was && !is {
            self.used[c] -= 1;
            if self.used[c] == 0 {
                *slot = None;
            }
        }
        old
    }

    /// Every slot holding something, by offset.
    pub fn iter(&self) -> impl Iterator<Item = (u64, T)> + '_ {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk.iter().flat_map(move |ch| {
                ch.iter()
                    .enumerate()
                    .filter(|(_, v)| **v != T::default())
                    .map(move |(i, v)| ((c * CHUNK + i) as u64, *v))
            })
        })
    }

    /// Host bytes the table takes.
    pub fn host_bytes(&self) -> usize {
        let live = self.chunks.iter().filter(|c| c.is_some()).count();
        self.chunks.len() * (std::mem::size_of::<usize>() + 2)
            + live * CHUNK * std::mem::size_of::<T>()
    }
}

/// One swap-cache slot, packed into a word: empty (0), a page (its PFN, tag 1) or a shadow
/// (the eviction cookie, tag 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheWord(u64);

/// One swap-cache slot, unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheSlot {
    /// A page of a folio in the swap cache.
    Page(Pfn),
    /// What workingset_eviction() left: the eviction cookie.
    Shadow(u64),
}

impl CacheWord {
    /// The packed form of a slot (None: empty).
    pub fn pack(s: Option<CacheSlot>) -> CacheWord {
        CacheWord(match s {
            None => 0,
            Some(CacheSlot::Page(p)) => (p.0 << 2) | 1,
            Some(CacheSlot::Shadow(c)) => (c << 2) | 2,
        })
    }

    /// The slot this word holds.
    pub fn unpack(self) -> Option<CacheSlot> {
        match self.0 & 3 {
            1 => Some(CacheSlot::Page(Pfn(self.0 >> 2))),
            2 => Some(CacheSlot::Shadow(self.0 >> 2)),
            _ => None,
        }
    }
}

/// What a device holds for each slot: the frame tag (ContentMode::Tagged; 0 reads as zeroes)
/// or the frame's bytes (ContentMode::Bytes; absent reads as zeroes).
#[derive(Clone, Debug)]
pub enum SwapStore {
    Tags(SlotTable<u8>),
    Bytes(std::collections::HashMap<u64, FrameImage>),
}

impl SwapStore {
    /// An empty store for a device of `slots` slots in content `mode`.
    pub fn new(mode: crate::config::ContentMode, slots: u64) -> SwapStore {
        match mode {
            crate::config::ContentMode::Tagged => SwapStore::Tags(SlotTable::new(slots)),
            crate::config::ContentMode::Bytes => SwapStore::Bytes(Default::default()),
        }
    }

    /// Keep a frame's content at `offset` (None: all zero).
    pub fn write(&mut self, offset: u64, img: Option<FrameImage>) {
        match (self, img) {
            (SwapStore::Tags(t), Some(FrameImage::Tag(v))) => {
                t.set(offset, v);
            }
            (SwapStore::Tags(t), _) => {
                t.set(offset, 0);
            }
            (SwapStore::Bytes(m), Some(img)) => {
                m.insert(offset, img);
            }
            (SwapStore::Bytes(m), None) => {
                m.remove(&offset);
            }
        }
    }

    /// The content at `offset` (None: all zero).
    pub fn read(&self, offset: u64) -> Option<FrameImage> {
        match self {
            SwapStore::Tags(t) => Some(t.get(offset)).filter(|&v| v != 0).map(FrameImage::Tag),
            SwapStore::Bytes(m) => m.get(&offset).cloned(),
        }
    }

    /// Forget the content at `offset` (the slot was freed).
    pub fn discard(&mut self, offset: u64) {
        self.write(offset, None);
    }

    /// Host bytes the store takes.
    pub fn host_bytes(&self) -> usize {
        match self {
            SwapStore::Tags(t) => t.host_bytes(),
            SwapStore::Bytes(m) => {
                m.capacity() * (8 + std::mem::size_of::<FrameImage>()) + m.len() * 4096
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_and_go_with_their_slots() {
        let mut t: SlotTable<u8> = SlotTable::new(1000);
        assert_eq!(
            t.host_bytes(),
            8 * 10,
            "nothing allocated but the chunk index"
        );
        assert_eq!(t.set(300, 7), 0);
        assert_eq!(t.get(300), 7);
        assert_eq!(t.get(301), 0);
        assert_eq!(t.iter().collect::<Vec<_>>(), vec![(300, 7)]);
        assert!(t.host_bytes() > 80);
        assert_eq!(t.set(300, 0), 7);
        assert_eq!(t.host_bytes(), 8 * 10, "the emptied chunk went");
        assert_eq!(t.set(5000, 1), 0, "past the end: ignored");
    }

    #[test]
    fn cache_words_round_trip() {
        for s in [
            None,
            Some(CacheSlot::Page(Pfn(0x1234))),
            Some(CacheSlot::Shadow(99)),
        ] {
            assert_eq!(CacheWord::pack(s).unpack(), s);
        }
    }
}
