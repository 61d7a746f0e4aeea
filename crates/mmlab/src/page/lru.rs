//! The LRU lists of a node (struct lruvec): folios linked through page->lru, newest at the
//! head, reclaim taking from the tail (include/linux/mm_inline.h, 5.19).

use super::{Folio, PageAlloc, PageFlags, Pfn, LRU_NONE};

/// enum lru_list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum LruList {
    InactiveAnon = 0,
    ActiveAnon = 1,
    InactiveFile = 2,
    ActiveFile = 3,
    Unevictable = 4,
}

impl LruList {
    /// Every list, in enum lru_list order.
    pub const ALL: [LruList; 5] = [
        LruList::InactiveAnon,
        LruList::ActiveAnon,
        LruList::InactiveFile,
        LruList::ActiveFile,
        LruList::Unevictable,
    ];
    /// The /proc/vmstat counter of the list (nr_inactive_anon, ...).
    pub fn vmstat_name(self) -> &'static str {
        match self {
            LruList::InactiveAnon => "nr_inactive_anon",
            LruList::ActiveAnon => "nr_active_anon",
            LruList::InactiveFile => "nr_inactive_file",
            LruList::ActiveFile => "nr_active_file",
            LruList::Unevictable => "nr_unevictable",
        }
    }
}

/// One list: its two ends and how many pages its folios hold.
#[derive(Clone, Copy, Debug)]
struct ListHead {
    /// The newest folio (list_add() puts folios here).
    first: u32,
    /// The oldest folio (where reclaim isolates from).
    last: u32,
    nr_pages: u64,
}

impl Default for ListHead {
    fn default() -> Self {
        ListHead {
            first: LRU_NONE,
            last: LRU_NONE,
            nr_pages: 0,
        }
    }
}

/// struct lruvec of the one node.
#[derive(Clone, Debug, Default)]
pub struct Lruvec {
    lists: [ListHead; 5],
}

/// folio_lru_list(): the list a folio belongs on by its flags.
pub fn folio_lru_list(mem: &PageAlloc, f: Folio) -> LruList {
    if mem.folio_test(f, PageFlags::UNEVICTABLE) {
        return LruList::Unevictable;
    }
    let file = !mem.folio_test(f, PageFlags::SWAPBACKED);
    let active = mem.folio_test(f, PageFlags::ACTIVE);
    match (file, active) {
        (false, false) => LruList::InactiveAnon,
        (false, true) => LruList::ActiveAnon,
        (true, false) => LruList::InactiveFile,
        (true, true) => LruList::ActiveFile,
    }
}

impl Lruvec {
    /// lruvec_add_folio(): at the head of the list its flags name; an unevictable folio is
    /// only counted (5.19 links nothing on LRU_UNEVICTABLE).
    pub fn add(&mut self, mem: &mut PageAlloc, f: Folio) {
        let lru = folio_lru_list(mem, f);
        let h = &mut self.lists[lru as usize];
        if lru == LruList::Unevictable {
            h.nr_pages += mem.folio_nr_pages(f);
            return;
        }
        let old = h.first;
        *mem.lru_links(f.0) = [LRU_NONE, old];
        if old == LRU_NONE {
            h.last = f.0 .0 as u32;
        } else {
            mem.lru_links(Pfn(old as u64))[0] = f.0 .0 as u32;
        }
        h.first = f.0 .0 as u32;
        h.nr_pages += mem.folio_nr_pages(f);
    }

    /// lruvec_add_folio_tail(): at the tail, next in line for reclaim.
    pub fn add_tail(&mut self, mem: &mut PageAlloc, f: Folio) {
        let lru = folio_lru_list(mem, f);
        let h = &mut self.lists[lru as usize];
        let old = h.last;
        *mem.lru_links(f.0) = [old, LRU_NONE];
        if old == LRU_NONE {
            h.first = f.0 .0 as u32;
        } else {
            mem.lru_links(Pfn(old as u64))[1] = f.0 .0 as u32;
        }
        h.last = f.0 .0 as u32;
        h.nr_pages += mem.folio_nr_pages(f);
    }

    /// lruvec_del_folio(): off the list its flags name (the caller changes the flags after);
    /// an unevictable folio only stops being counted.
    pub fn del(&mut self, mem: &mut PageAlloc, f: Folio) {
        let lru = folio_lru_list(mem, f);
        if lru == LruList::Unevictable {
            self.lists[lru as usize].nr_pages -= mem.folio_nr_pages(f);
            return;
        }
        let [prev, next] = *mem.lru_links(f.0);
        let h = &mut self.lists[lru as usize];
        if prev == LRU_NONE {
            h.first = next;
        } else {
            mem.lru_links(Pfn(prev as u64))[1] = next;
        }
        if next == LRU_NONE {
            h.last = prev;
        } else {
            mem.lru_links(Pfn(next as u64))[0] = prev;
        }
        *mem.lru_links(f.0) = [LRU_NONE; 2];
        h.nr_pages -= mem.folio_nr_pages(f);
    }

    /// Pages on a list (lruvec_page_state() of NR_LRU_BASE + lru).
    pub fn nr_pages(&self, lru: LruList) -> u64 {
        self.lists[lru as usize].nr_pages
    }

    /// The folios of a list from the oldest (tail) to the newest.
    pub fn oldest_first<'a>(
        &self,
        mem: &'a PageAlloc,
        lru: LruList,
    ) -> impl Iterator<Item = Folio> + 'a {
        let mut at = self.lists[lru as usize].last;
        std::iter::from_fn(move || {
            (at != LRU_NONE).then(|| {
                let f = Folio(Pfn(at as u64));
                at = mem.page(f.0).lru[0];
                f
            })
        })
    }
}

/// mem_cgroup_lruvec() for every memory cgroup of the node: one lruvec per memcg, indexed by
/// the memcg's number (a folio's `memcg` slot less one; an uncharged folio uses the root's, as
/// mem_cgroup_lruvec(NULL) does). The methods without a memcg act on the lruvec the folio's
/// own charge names, or answer for the whole node (lruvec_page_state() of the node).
#[derive(Clone, Debug, Default)]
pub struct MemcgLruvecs {
    vecs: Vec<Lruvec>,
}

impl MemcgLruvecs {
    /// folio_lruvec(): the lruvec of the memcg the folio is charged to.
    fn of(&mut self, mem: &PageAlloc, f: Folio) -> &mut Lruvec {
        let i = mem.page(f.0).memcg.saturating_sub(1) as usize;
        if self.vecs.len() <= i {
            self.vecs.resize_with(i + 1, Lruvec::default);
        }
        &mut self.vecs[i]
    }
    /// lruvec_add_folio() on the folio's own lruvec.
    pub fn add(&mut self, mem: &mut PageAlloc, f: Folio) {
        self.of(mem, f).add(mem, f);
    }
    /// lruvec_add_folio_tail() on the folio's own lruvec.
    pub fn add_tail(&mut self, mem: &mut PageAlloc, f: Folio) {
        self.of(mem, f).add_tail(mem, f);
    }
    /// lruvec_del_folio() from the folio's own lruvec.
    pub fn del(&mut self, mem: &mut PageAlloc, f: Folio) {
        self.of(mem, f).del(mem, f);
    }
    /// The node's pages on a list (node_page_state()).
    pub fn nr_pages(&self, lru: LruList) -> u64 {
        self.vecs.iter().map(|v| v.nr_pages(lru)).sum()
    }
    /// The folios of a list, every memcg's lruvec in turn, each from its oldest.
    pub fn oldest_first<'a>(
        &'a self,
        mem: &'a PageAlloc,
        lru: LruList,
    ) -> impl Iterator<Item = Folio> + 'a {
        self.vecs.iter().flat_map(move |v| v.oldest_first(mem, lru))
    }
    /// The lruvec of memcg number `i` (empty if it never held a folio).
    pub fn memcg(&self, i: usize) -> &Lruvec {
        static EMPTY: Lruvec = Lruvec {
            lists: [ListHead {
                first: LRU_NONE,
                last: LRU_NONE,
                nr_pages: 0,
            }; 5],
        };
        self.vecs.get(i).unwrap_or(&EMPTY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_keep_order_and_counts() {
        let mut mem = PageAlloc::new(64 << 20);
        let mut lru = Lruvec::default();
        let fs: Vec<Folio> = (0..3)
            .map(|_| {
                let p = mem.rmqueue(0, 0).unwrap();
                mem.page_mut(p).flags = PageFlags::SWAPBACKED | PageFlags::ANON;
                Folio(p)
            })
            .collect();
        for &f in &fs {
            lru.add(&mut mem, f);
        }
        let order: Vec<_> = lru.oldest_first(&mem, LruList::InactiveAnon).collect();
        assert_eq!(order, fs, "the first added is the oldest");
        lru.del(&mut mem, fs[1]);
        mem.folio_set(fs[1], PageFlags::ACTIVE);
        lru.add(&mut mem, fs[1]);
        assert_eq!(lru.nr_pages(LruList::InactiveAnon), 2);
        assert_eq!(lru.nr_pages(LruList::ActiveAnon), 1);
        lru.del(&mut mem, fs[2]);
        lru.add_tail(&mut mem, fs[2]);
        let order: Vec<_> = lru.oldest_first(&mem, LruList::InactiveAnon).collect();
        assert_eq!(order, vec![fs[2], fs[0]]);
    }

    #[test]
    fn unevictable_folios_are_counted_not_linked() {
        let mut mem = PageAlloc::new(64 << 20);
        let mut lru = Lruvec::default();
        let p = mem.rmqueue(0, 0).unwrap();
        mem.page_mut(p).flags = PageFlags::SWAPBACKED | PageFlags::UNEVICTABLE;
        lru.add(&mut mem, Folio(p));
        assert_eq!(lru.nr_pages(LruList::Unevictable), 1);
        assert_eq!(lru.oldest_first(&mem, LruList::Unevictable).count(), 0);
        assert_eq!(*mem.lru_links(p), [LRU_NONE; 2], "no links written");
        lru.del(&mut mem, Folio(p));
        assert_eq!(lru.nr_pages(LruList::Unevictable), 0);
    }
}
