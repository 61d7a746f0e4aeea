//! mm/workingset.c: shadow entries. An evicted page leaves the lruvec's age at eviction in
//! its slot; when it faults back, the distance to the current age tells whether it would
//! have stayed resident with that much more memory, and if so it starts active.

use crate::kernel::Kernel;
use crate::page::lru::LruList;
use crate::page::{Folio, PageFlags};

/// The shadow's workingset bit (the rest is the eviction age).
const SHADOW_WORKINGSET: u64 = 1;

impl Kernel {
    /// workingset_eviction(): the shadow for a folio leaving memory; the age moves on.
    pub(crate) fn workingset_eviction(&mut self, f: Folio) -> u64 {
        let ws = self.pages.folio_test(f, PageFlags::WORKINGSET);
        let age = self.lru.nonresident_age;
        self.lru.nonresident_age += self.pages.folio_nr_pages(f);
        (age << 1) | (u64::from(ws) * SHADOW_WORKINGSET)
    }

    /// workingset_activation(): an activated folio ages the lruvec too.
    pub(crate) fn workingset_age(&mut self, nr: u64) {
        self.lru.nonresident_age += nr;
    }

    /// workingset_refault(): a folio coming back where `shadow` was.
    pub(crate) fn workingset_refault(&mut self, f: Folio, shadow: u64) {
        let file = !self.pages.folio_test(f, PageFlags::SWAPBACKED);
        let nr = self.pages.folio_nr_pages(f);
        let v = &mut self.vmstat;
        if file {
            v.workingset_refault_file += nr;
        } else {
            v.workingset_refault_anon += nr;
        }
        let eviction = shadow >> 1;
        let distance = self.lru.nonresident_age.wrapping_sub(eviction);
        let l = &self.lru.lruvec;
        let mut ws = l.nr_pages(LruList::ActiveFile);
        if !file {
            ws += l.nr_pages(LruList::InactiveFile);
        }
        if self.total_swap_pages() > 0 {
            ws += l.nr_pages(LruList::ActiveAnon);
            if file {
                ws += l.nr_pages(LruList::InactiveAnon);
            }
        }
        if distance > ws {
            return;
        }
        self.pages.folio_set(f, PageFlags::ACTIVE);
        self.workingset_age(nr);
        let v = &mut self.vmstat;
        if file {
            v.workingset_activate_file += nr;
        } else {
            v.workingset_activate_anon += nr;
        }
        if shadow & SHADOW_WORKINGSET != 0 {
            self.pages.folio_set(f, PageFlags::WORKINGSET);
            // A refault of a page that was active: the list it came from costs reclaim.
            self.lru_note_cost(file, nr);
            let v = &mut self.vmstat;
            if file {
                v.workingset_restore_file += nr;
            } else {
                v.workingset_restore_anon += nr;
            }
        }
    }
}
