//! Property: page-cache data is never lost while the file holds it. One memfd of NF pages
//! mapped shared, a second shared and a private mapping coming and going; stores, memsets,
//! MADV_DONTNEED/PAGEOUT, PUNCH_HOLE, ftruncate (shrink, grow, shrink-then-grow) and
//! fallocate. A byte shadow of the file plus per-page shadows of the private COW copies
//! predict every access: shared mappings see the file (SIGBUS past the last page), private
//! ones their COW copy or else the file. As in 5.19 shmem_setattr(), truncation zeroes from the
//! new size on and drops COW copies past it (unmap_mapping_range(even_cows=1)); hole punching
//! zeroes the range but keeps COW copies (even_cows=0).

use std::collections::BTreeMap;

use mmlab::mm::shmem::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE};
use mmlab::uapi::*;
use mmlab::{Config, Kernel, Profile, Signal, Tid};
use proptest::prelude::*;

mod common;
use common::{expect, PAGE};

/// Pages of the memfd (its size never exceeds this).
const NF: u64 = 6;

/// Which mapping of the memfd an access goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// The main shared mapping of the whole file (pgoff 0, NF pages, always there).
    Main,
    /// The optional second shared mapping.
    Second,
    /// The optional private mapping.
    Private,
}

#[derive(Clone, Debug)]
enum FOp {
    Store {
        via: Via,
        page: u64,
        off: u64,
        val: u8,
    },
    Memset {
        via: Via,
        page: u64,
        off: u64,
        len: u64,
        val: u8,
    },
    Load {
        via: Via,
        page: u64,
        off: u64,
    },
    Dontneed {
        via: Via,
        page: u64,
        pages: u64,
    },
    Pageout {
        via: Via,
        page: u64,
        pages: u64,
    },
    /// (Re)create the second shared mapping (MAP_POPULATE sometimes).
    MapSecond {
        pgoff: u64,
        pages: u64,
        populate: bool,
    },
    UnmapSecond,
    /// (Re)create the private mapping.
    MapPrivate {
        pgoff: u64,
        pages: u64,
        populate: bool,
    },
    UnmapPrivate,
    Punch {
        off: u64,
        len: u64,
    },
    /// ftruncate to `len` (None: to the current size).
    Truncate {
        len: Option<u64>,
    },
    /// ftruncate to `len`, then back to the full NF pages.
    ShrinkGrow {
        len: u64,
    },
    /// fallocate (allocate, or KEEP_SIZE) inside the first NF pages.
    Falloc {
        off: u64,
        len: u64,
        keep: bool,
    },
}

fn via_s() -> impl Strategy<Value = Via> {
    prop_oneof![3 => Just(Via::Main), 1 => Just(Via::Second), 2 => Just(Via::Private)]
}

/// A byte offset inside a page, biased to the edges.
fn in_page_s() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(0u64),
        1 => Just(PAGE - 1),
        1 => Just(PAGE / 2),
        3 => 0..PAGE,
    ]
}

/// A byte position in the file (0..=NF pages), often page aligned.
fn fpos_s() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => (0..=NF).prop_map(|n| n * PAGE),
        2 => 0..=NF * PAGE,
        1 => (1..=NF, 1u64..64).prop_map(|(n, d)| n * PAGE - d),
    ]
}

fn fop_s() -> impl Strategy<Value = FOp> {
    prop_oneof![
        8 => (via_s(), 0..NF, in_page_s(), any::<u8>())
            .prop_map(|(via, page, off, val)| FOp::Store { via, page, off, val }),
        4 => (via_s(), 0..NF, in_page_s(), 1..=2 * PAGE, 1u8..=255)
            .prop_map(|(via, page, off, len, val)| FOp::Memset { via, page, off, len, val }),
        8 => (via_s(), 0..NF, in_page_s())
            .prop_map(|(via, page, off)| FOp::Load { via, page, off }),
        2 => (via_s(), 0..NF, 1..=NF)
            .prop_map(|(via, page, pages)| FOp::Dontneed { via, page, pages }),
        2 => (via_s(), 0..NF, 1..=NF)
            .prop_map(|(via, page, pages)| FOp::Pageout { via, page, pages }),
        2 => (0..NF, 1..=NF, prop::bool::weighted(0.3))
            .prop_map(|(pgoff, pages, populate)| FOp::MapSecond { pgoff, pages, populate }),
        1 => Just(FOp::UnmapSecond),
        2 => (0..NF, 1..=NF, prop::bool::weighted(0.3))
            .prop_map(|(pgoff, pages, populate)| FOp::MapPrivate { pgoff, pages, populate }),
        1 => Just(FOp::UnmapPrivate),
        3 => (fpos_s(), 1..=3 * PAGE).prop_map(|(off, len)| FOp::Punch { off, len }),
        2 => prop_oneof![2 => fpos_s().prop_map(Some), 1 => Just(None)]
            .prop_map(|len| FOp::Truncate { len }),
        2 => fpos_s().prop_map(|len| FOp::ShrinkGrow { len }),
        1 => (fpos_s(), 1..=2 * PAGE, any::<bool>()).prop_map(|(off, len, keep)| FOp::Falloc {
            off: off.min(NF * PAGE - 1),
            len,
            keep,
        }),
    ]
}

/// One mapping of the memfd: address, first file page, pages.
#[derive(Clone, Copy, Debug)]
struct FMap {
    addr: u64,
    pgoff: u64,
    pages: u64,
}

/// The kernel, one process with one memfd, and the shadow of the file and its mappings.
struct FileWorld {
    k: Kernel,
    t: Tid,
    fd: i64,
    main: FMap,
    second: Option<FMap>,
    private: Option<FMap>,
    /// The file's bytes (2*NF pages so mappings past NF pages index it; past `size` only the
    /// rest of the last partial page can be non-zero).
    data: Vec<u8>,
    size: u64,
    /// The private mapping's COW copies, by file page.
    cow: BTreeMap<u64, Vec<u8>>,
}

impl FileWorld {
    fn new(profile: Profile) -> Result<FileWorld, String> {
        let mut k = Kernel::new(Config::new(profile));
        let t = k.spawn_process(0).expect("spawn");
        let fd = k
            .memfd_create(t, "shadow", 0)
            .map_err(|e| format!("{e:?}"))? as i64;
        k.ftruncate(t, fd, (NF * PAGE) as i64)
            .map_err(|e| format!("ftruncate: {e:?}"))?;
        let addr = k
            .mmap(t, 0, NF * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            .map_err(|e| format!("mmap: {e:?}"))?;
        Ok(FileWorld {
            k,
            t,
            fd,
            main: FMap {
                addr,
                pgoff: 0,
                pages: NF,
            },
            second: None,
            private: None,
            data: vec![0; (2 * NF * PAGE) as usize],
            size: NF * PAGE,
            cow: BTreeMap::new(),
        })
    }

    fn map(&self, via: Via) -> Option<FMap> {
        match via {
            Via::Main => Some(self.main),
            Via::Second => self.second,
            Via::Private => self.private,
        }
    }

    /// Pages of the file that may be faulted (the last, partial one included).
    fn file_pages(&self) -> u64 {
        self.size.div_ceil(PAGE)
    }

    /// The expected result of loading file byte `pos` through `via`.
    fn expect_load(&self, via: Via, pos: u64) -> Result<u8, Signal> {
        let idx = pos / PAGE;
        if idx >= self.file_pages() {
            return Err(Signal::Bus);
        }
        if via == Via::Private {
            if let Some(c) = self.cow.get(&idx) {
                return Ok(c[(pos % PAGE) as usize]);
            }
        }
        Ok(self.data[pos as usize])
    }

    /// Store into the shadow; Err(Bus) past EOF.
    fn shadow_store(&mut self, via: Via, pos: u64, val: u8) -> Result<(), Signal> {
        let idx = pos / PAGE;
        if idx >= self.file_pages() {
            return Err(Signal::Bus);
        }
        if via == Via::Private {
            let lo = (idx * PAGE) as usize;
            let data = &self.data;
            let c = self
                .cow
                .entry(idx)
                .or_insert_with(|| data[lo..lo + PAGE as usize].to_vec());
            c[(pos % PAGE) as usize] = val;
        } else {
            self.data[pos as usize] = val;
        }
        Ok(())
    }

    fn check_load(&mut self, via: Via, m: FMap, page: u64, off: u64) -> Result<(), String> {
        let pos = (m.pgoff + page) * PAGE + off;
        let got = self.k.load(self.t, m.addr + page * PAGE + off);
        expect(
            &format!("{via:?} load of file byte {pos:#x} (size {:#x})", self.size),
            got,
            self.expect_load(via, pos),
        )
    }

    /// ftruncate as shmem_setattr() does it: shrinking (or keeping the size) zeroes everything
    /// from the new size on and drops private COW copies of the pages wholly past it.
    fn truncate(&mut self, len: u64) -> Result<(), String> {
        expect(
            &format!("ftruncate({len:#x})"),
            self.k.ftruncate(self.t, self.fd, len as i64),
            Ok(()),
        )?;
        if len <= self.size {
            self.data[len as usize..].fill(0);
            let keep = len.div_ceil(PAGE);
            self.cow.retain(|&i, _| i < keep);
        }
        self.size = len;
        Ok(())
    }

    fn unmap(&mut self, m: Option<FMap>) -> Result<(), String> {
        if let Some(m) = m {
            expect(
                "munmap",
                self.k.munmap(self.t, m.addr, m.pages * PAGE),
                Ok(()),
            )?;
        }
        Ok(())
    }

    fn mmap(
        &mut self,
        shared: bool,
        pgoff: u64,
        pages: u64,
        populate: bool,
    ) -> Result<FMap, String> {
        let flags = (if shared { MAP_SHARED } else { MAP_PRIVATE })
            | if populate { MAP_POPULATE } else { 0 };
        let addr = self
            .k
            .mmap(
                self.t,
                0,
                pages * PAGE,
                PROT_READ | PROT_WRITE,
                flags,
                self.fd,
                pgoff * PAGE,
            )
            .map_err(|e| format!("mmap: {e:?}"))?;
        Ok(FMap { addr, pgoff, pages })
    }

    fn apply(&mut self, op: &FOp) -> Result<(), String> {
        match *op {
            FOp::Store {
                via,
                page,
                off,
                val,
            } => {
                let Some(m) = self.map(via) else {
                    return Ok(());
                };
                let page = page % m.pages;
                let pos = (m.pgoff + page) * PAGE + off;
                let got = self.k.store(self.t, m.addr + page * PAGE + off, val);
                let want = self.shadow_store(via, pos, val);
                expect(&format!("{via:?} store to file byte {pos:#x}"), got, want)?;
                self.check_load(via, m, page, off)?;
            }
            FOp::Memset {
                via,
                page,
                off,
                len,
                val,
            } => {
                let Some(m) = self.map(via) else {
                    return Ok(());
                };
                let page = page % m.pages;
                let start = page * PAGE + off;
                let len = len.min(m.pages * PAGE - start);
                let got = self.k.memset(self.t, m.addr + start, val, len);
                // memset() fills page by page and stops at the first page that faults.
                let mut want = Ok(());
                let pos = m.pgoff * PAGE + start;
                let mut p = pos;
                while p < pos + len {
                    let n = (PAGE - p % PAGE).min(pos + len - p);
                    if let Err(e) = self.shadow_store(via, p, val) {
                        want = Err(e);
                        break;
                    }
                    for q in p + 1..p + n {
                        self.shadow_store(via, q, val).expect("same page");
                    }
                    p += n;
                }
                expect(
                    &format!("{via:?} memset file bytes {pos:#x}+{len:#x}"),
                    got,
                    want,
                )?;
            }
            FOp::Load { via, page, off } => {
                let Some(m) = self.map(via) else {
                    return Ok(());
                };
                let page = page % m.pages;
                for o in [off.saturating_sub(1), off, (off + 1).min(PAGE - 1)] {
                    self.check_load(via, m, page, o)?;
                }
            }
            FOp::Dontneed { via, page, pages } | FOp::Pageout { via, page, pages } => {
                let Some(m) = self.map(via) else {
                    return Ok(());
                };
                let page = page % m.pages;
                let pages = pages.min(m.pages - page);
                let advice = if matches!(op, FOp::Dontneed { .. }) {
                    MADV_DONTNEED
                } else {
                    MADV_PAGEOUT
                };
                let r = self
                    .k
                    .madvise(self.t, m.addr + page * PAGE, pages * PAGE, advice);
                expect(&format!("madvise({advice})"), r, Ok(()))?;
                if via == Via::Private && advice == MADV_DONTNEED {
                    // The COW copies are gone: the file shows through again.
                    for i in m.pgoff + page..m.pgoff + page + pages {
                        self.cow.remove(&i);
                    }
                }
            }
            FOp::MapSecond {
                pgoff,
                pages,
                populate,
            } => {
                {
                    let m = self.second.take();
                    self.unmap(m)?
                };
                self.second = Some(self.mmap(true, pgoff, pages, populate)?);
            }
            FOp::UnmapSecond => {
                let m = self.second.take();
                self.unmap(m)?
            }
            FOp::MapPrivate {
                pgoff,
                pages,
                populate,
            } => {
                {
                    let m = self.private.take();
                    self.unmap(m)?
                };
                self.cow.clear();
                self.private = Some(self.mmap(false, pgoff, pages, populate)?);
                // MAP_POPULATE of a private writable mapping breaks COW on every page in the
                // file (faultin with FOLL_WRITE): the copies hold the file's data, so nothing
                // to record beyond what the shadow already predicts.
                if populate {
                    let m = self.private.expect("private");
                    for i in m.pgoff..(m.pgoff + m.pages).min(self.file_pages()) {
                        let lo = (i * PAGE) as usize;
                        self.cow
                            .insert(i, self.data[lo..lo + PAGE as usize].to_vec());
                    }
                }
            }
            FOp::UnmapPrivate => {
                {
                    let m = self.private.take();
                    self.unmap(m)?
                };
                self.cow.clear();
            }
            FOp::Punch { off, len } => {
                let r = self.k.fallocate(
                    self.t,
                    self.fd,
                    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    off as i64,
                    len as i64,
                );
                expect(&format!("punch {off:#x}+{len:#x}"), r, Ok(()))?;
                let end = (off + len).min(self.data.len() as u64);
                self.data[off as usize..end as usize].fill(0);
            }
            FOp::Truncate { len } => self.truncate(len.unwrap_or(self.size))?,
            FOp::ShrinkGrow { len } => {
                self.truncate(len.min(self.size))?;
                self.truncate(NF * PAGE)?;
            }
            FOp::Falloc { off, len, keep } => {
                let len = len.min(NF * PAGE - off);
                let mode = if keep { FALLOC_FL_KEEP_SIZE } else { 0 };
                let r = self
                    .k
                    .fallocate(self.t, self.fd, mode, off as i64, len as i64);
                expect(&format!("fallocate({mode}) {off:#x}+{len:#x}"), r, Ok(()))?;
                if !keep {
                    self.size = self.size.max(off + len);
                }
            }
        }
        Ok(())
    }

    /// Every byte of every page through every mapping (every 7th byte plus the page edges).
    fn sweep(&mut self) -> Result<(), String> {
        for via in [Via::Main, Via::Second, Via::Private] {
            let Some(m) = self.map(via) else { continue };
            for page in 0..m.pages {
                for off in (0..PAGE).step_by(7).chain([1, PAGE - 2, PAGE - 1]) {
                    self.check_load(via, m, page, off)?;
                }
            }
        }
        Ok(())
    }
}

fn run_file_shadow(profile: Profile, ops: &[FOp]) -> Result<(), TestCaseError> {
    let mut w = FileWorld::new(profile).map_err(TestCaseError::fail)?;
    for (i, op) in ops.iter().enumerate() {
        let fail = |m: String| TestCaseError::fail(format!("{profile:?}: op {i} {op:?}: {m}"));
        w.apply(op).map_err(fail)?;
        w.k.check_invariants().map_err(|v| fail(v.to_string()))?;
    }
    w.sweep()
        .map_err(|m| TestCaseError::fail(format!("{profile:?}: final sweep: {m}")))?;
    w.k.check_invariants()
        .map_err(|v| TestCaseError::fail(format!("{profile:?}: {v}")))?;
    expect("close", w.k.close(w.t, w.fd), Ok(())).map_err(TestCaseError::fail)?;
    // The mappings still hold the file: nothing is lost by closing the descriptor.
    w.sweep()
        .map_err(|m| TestCaseError::fail(format!("{profile:?}: after close: {m}")))?;
    w.k.exit(w.t)
        .map_err(|e| TestCaseError::fail(format!("exit: {e:?}")))?;
    w.k.check_invariants()
        .map_err(|v| TestCaseError::fail(format!("{profile:?}: after exit: {v}")))?;
    w.k.lru_add_drain_all();
    prop_assert_eq!(w.k.frames_in_use(), 0, "{:?}: page cache leaked", profile);
    Ok(())
}

// Case counts keep the file to a few seconds in release mode on two cores.
proptest! {
    #![proptest_config(common::proptest_config(1024))]

    #[test]
    fn page_cache_data_is_never_lost_while_the_file_holds_it(
        ops in prop::collection::vec(fop_s(), 1..80)
    ) {
        run_file_shadow(Profile::Linux519, &ops)?;
        run_file_shadow(Profile::Linux518, &ops)?;
    }
}
