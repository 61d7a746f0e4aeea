//! Property: uffd-wp protection is exactly where 5.19 leaves it. Three registered (MODE_WP)
//! regions, private anonymous, shmem and hugetlbfs (shared), take random write-protects and
//! un-protects, stores from a faulting thread, loads, MADV_DONTNEED/PAGEOUT, hole punches, an
//! mprotect RO→RW round trip, MADV_POPULATE_WRITE, and forks whose unregistered child writes
//! once. A shadow of each page's entry (present, uffd-wp bit or marker, writable) and first
//! byte predicts every access: a store to a protected page sleeps with one WRITE|WP message for
//! that page and lands once the handler un-protects it, a populate sleeps at each protected
//! page in turn, any other store lands at once, and no message is left over.
//! The shadow's rules, each checked against 5.19's source and, where the host still behaves the
//! same, by a scenario on the host: anon protects only present entries and loses the
//! protection with the page (DONTNEED); shmem protects none entries with markers, and hugetlb
//! does where a PMD table exists; DONTNEED, PAGEOUT and a punch keep markers; PAGEOUT leaves
//! anon (no swap) alone and is EINVAL on hugetlb; resolving maps a shared entry writable; an
//! mprotect round trip leaves shmem and hugetlb uffd-wp entries writable (no writenotify in
//! 5.19); a fork child without EVENT_FORK is unregistered, and its write to a read-only shared
//! hugetlb entry COWs away from the file. On hugetlb markers the model keeps the later fix of
//! hugetlb_change_protection() (docs/notes/userfaultfd-5.19.md, deliberate differences).
//! The invariant checker runs after every step; at the end no frame is left.

use mmlab::mm::memfd::MFD_HUGETLB;
use mmlab::mm::shmem::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE};
use mmlab::uapi::userfaultfd::UFFDIO_WRITEPROTECT_MODE_WP;
use mmlab::uapi::userfaultfd::{UFFDIO_REGISTER_MODE_WP, UFFD_API};
use mmlab::uapi::userfaultfd::{UFFD_PAGEFAULT_FLAG_WP, UFFD_PAGEFAULT_FLAG_WRITE};
use mmlab::uapi::*;
use mmlab::{Config, Errno, Kernel, Profile, Signal, Tid};
use proptest::prelude::*;

mod common;
use common::{exit_all_leaves_nothing, expect, HPAGE, OFFS, PAGE};

/// Pages per region (4 KiB for anon and shmem, 2 MiB for hugetlb).
const NP: [u64; 3] = [8, 8, 2];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Anon,
    Shmem,
    Hugetlb,
}

const KINDS: [Kind; 3] = [Kind::Anon, Kind::Shmem, Kind::Hugetlb];

#[derive(Clone, Copy, Debug)]
enum Op {
    Protect {
        r: usize,
        first: u64,
        count: u64,
    },
    Unprotect {
        r: usize,
        first: u64,
        count: u64,
    },
    Store {
        r: usize,
        page: u64,
        off: u64,
        val: u8,
    },
    Load {
        r: usize,
        page: u64,
    },
    Madvise {
        r: usize,
        first: u64,
        count: u64,
        advice: u64,
    },
    Punch {
        r: usize,
        first: u64,
        count: u64,
    },
    MprotectRoundTrip {
        r: usize,
    },
    /// MADV_POPULATE_WRITE over a range, sleeping at each protected page in turn.
    Populate {
        r: usize,
        first: u64,
        count: u64,
    },
    ForkChildStores {
        r: usize,
        page: u64,
        val: u8,
    },
}

/// A page range inside region `r`: (r, first, count).
fn range_s() -> impl Strategy<Value = (usize, u64, u64)> {
    (0usize..3).prop_flat_map(|r| {
        (0..NP[r]).prop_flat_map(move |first| (Just(r), Just(first), 1..=NP[r] - first))
    })
}

fn page_s() -> impl Strategy<Value = (usize, u64)> {
    (0usize..3).prop_flat_map(|r| (Just(r), 0..NP[r]))
}

fn op_s() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => range_s().prop_map(|(r, first, count)| Op::Protect { r, first, count }),
        2 => range_s().prop_map(|(r, first, count)| Op::Unprotect { r, first, count }),
        8 => (page_s(), prop::sample::select(OFFS.to_vec()), any::<u8>())
            .prop_map(|((r, page), off, val)| Op::Store { r, page, off, val }),
        3 => page_s().prop_map(|(r, page)| Op::Load { r, page }),
        2 => (range_s(), prop::sample::select(vec![MADV_DONTNEED, MADV_PAGEOUT]))
            .prop_map(|((r, first, count), advice)| Op::Madvise { r, first, count, advice }),
        1 => range_s()
            .prop_filter("anonymous memory has no file to punch", |(r, _, _)| *r != 0)
            .prop_map(|(r, first, count)| Op::Punch { r, first, count }),
        1 => (0usize..3).prop_map(|r| Op::MprotectRoundTrip { r }),
        2 => range_s().prop_map(|(r, first, count)| Op::Populate { r, first, count }),
        1 => (page_s(), any::<u8>()).prop_map(|((r, page), val)| Op::ForkChildStores { r, page, val }),
    ]
}

/// One registered region and its shadow: the parent's entry for each page, and the page's
/// first byte as the parent reads it.
struct Region {
    kind: Kind,
    base: u64,
    page: u64,
    fd: i64,
    /// A page is mapped (anon: written, or read as the zero page).
    present: Vec<bool>,
    /// The uffd-wp bit of a present entry, or a uffd-wp marker on a none one.
    uffd: Vec<bool>,
    /// A present entry is writable.
    writable: Vec<bool>,
    data: Vec<u8>,
}

impl Region {
    fn addr(&self, page: u64) -> u64 {
        self.base + page * self.page
    }

    /// Whether the parent's store to page `i` sleeps for a WP message. Anonymous entries with
    /// uffd-wp are never writable (vm_page_prot of a private mapping has no write bit); shmem
    /// and hugetlb ones are after an mprotect round trip in 5.19 (see `MprotectRoundTrip`).
    fn traps(&self, i: usize) -> bool {
        self.uffd[i] && !(self.present[i] && self.writable[i])
    }

    /// A zap that keeps uffd-wp as a marker (file memory) or drops it with the page (anon).
    fn zap(&mut self, i: usize) {
        if self.kind == Kind::Anon {
            self.uffd[i] = false;
            self.data[i] = 0;
        }
        self.present[i] = false;
        self.writable[i] = false;
    }
}

/// How often the runs reach the cases the property is about; the test asserts a floor on each.
#[derive(Debug, Default)]
struct Coverage {
    /// Stores that slept on a present uffd-wp entry.
    traps_present: usize,
    /// Stores that slept on a marker.
    traps_marker: usize,
    /// Stores that went through a uffd-wp entry an mprotect round trip made writable.
    lost_to_mprotect: usize,
    /// hugetlb wr-protects of a none entry with no PMD table (no marker in 5.19).
    hugetlb_no_table: usize,
    /// Fork children whose hugetlb store COWed into an anonymous page.
    hugetlb_shared_cow: usize,
    /// Pages a MADV_POPULATE_WRITE slept at.
    populate_sleeps: usize,
}

struct World {
    k: Kernel,
    /// The faulting thread.
    t: Tid,
    /// The handler thread, which owns the userfaultfd.
    h: Tid,
    uffd: i64,
    regions: Vec<Region>,
    /// 1 GiB ranges (addr >> 30) where the process has a PMD table: hugetlb_change_protection()
    /// in 5.19 puts a marker on a none huge entry only where huge_pte_offset() finds a slot
    /// (pre-allocation came in 6.2). Any fault allocates one, and so does wr-protecting shmem.
    pmd_tables: std::collections::BTreeSet<u64>,
    cover: Coverage,
}

impl World {
    fn new() -> World {
        let mut k = Kernel::new(Config::new(Profile::Linux519));
        assert_eq!(k.set_nr_hugepages(4), 4, "pool");
        let t = k.spawn_process(0).expect("spawn");
        let h = k.spawn_thread(t, 1).expect("handler");
        let uffd = k
            .userfaultfd(h, mmlab::uapi::O_NONBLOCK)
            .expect("userfaultfd") as i64;
        k.uffdio_api(h, uffd, UFFD_API, 0).expect("UFFDIO_API");
        let rw = PROT_READ | PROT_WRITE;
        let mut regions = Vec::new();
        for (kind, n) in KINDS.into_iter().zip(NP) {
            let page = if kind == Kind::Hugetlb { HPAGE } else { PAGE };
            let len = n * page;
            let (base, fd) = if kind == Kind::Anon {
                let b = k.mmap(t, 0, len, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                (b.expect("anon"), -1)
            } else {
                let flags = if kind == Kind::Hugetlb {
                    MFD_HUGETLB
                } else {
                    0
                };
                let fd = k.memfd_create(t, "wp", flags).expect("memfd") as i64;
                k.ftruncate(t, fd, len as i64).expect("ftruncate");
                (k.mmap(t, 0, len, rw, MAP_SHARED, fd, 0).expect("map"), fd)
            };
            k.uffdio_register(h, uffd, base, len, UFFDIO_REGISTER_MODE_WP)
                .expect("register");
            regions.push(Region {
                kind,
                base,
                page,
                fd,
                present: vec![false; n as usize],
                uffd: vec![false; n as usize],
                writable: vec![false; n as usize],
                data: vec![0; n as usize],
            });
        }
        World {
            k,
            t,
            h,
            uffd,
            regions,
            pmd_tables: Default::default(),
            cover: Coverage::default(),
        }
    }

    fn writeprotect(&mut self, r: usize, first: u64, count: u64, on: bool) -> Result<(), String> {
        let g = &self.regions[r];
        let mode = if on { UFFDIO_WRITEPROTECT_MODE_WP } else { 0 };
        let got =
            self.k
                .uffdio_writeprotect(self.h, self.uffd, g.addr(first), count * g.page, mode);
        expect("UFFDIO_WRITEPROTECT", got, Ok(()))?;
        let g = &mut self.regions[r];
        for i in first..first + count {
            let gib = g.addr(i) >> 30;
            let i = i as usize;
            if !on {
                // Resolving clears the bit and rewrites the entry with vm_page_prot: writable
                // in a shared mapping, read-only (COW on the next write) in a private one.
                g.uffd[i] = false;
                g.writable[i] = g.present[i] && g.kind != Kind::Anon;
                continue;
            }
            // Anon protects only present entries; shmem wr-protects none entries with markers
            // (page tables allocated); hugetlb only where a PMD table already exists.
            let takes = g.present[i]
                || match g.kind {
                    Kind::Anon => false,
                    Kind::Shmem => {
                        self.pmd_tables.insert(gib);
                        true
                    }
                    Kind::Hugetlb => self.pmd_tables.contains(&gib),
                };
            if g.kind == Kind::Hugetlb && !takes {
                self.cover.hugetlb_no_table += 1;
            }
            if takes {
                g.uffd[i] = true;
                g.writable[i] = false;
            }
        }
        Ok(())
    }

    /// The handler's side of one WP fault of the faulting thread at page `page`: the message,
    /// then the page un-protected, which wakes the thread.
    fn handle_wp_fault(&mut self, r: usize, page: u64) -> Result<(), String> {
        let g = &self.regions[r];
        let (a, size) = (g.addr(page), g.page);
        expect(
            "the faulting thread sleeps",
            self.k.uffd_sleeping(self.t),
            true,
        )?;
        let m = self
            .k
            .uffd_read(self.h, self.uffd)
            .map_err(|e| format!("read: {e:?}"))?;
        let m = m.ok_or("no message for a sleeping WP fault")?;
        expect("message page", m.address() & !(size - 1), a)?;
        expect(
            "message flags",
            m.arg[0],
            UFFD_PAGEFAULT_FLAG_WRITE | UFFD_PAGEFAULT_FLAG_WP,
        )?;
        self.writeprotect(r, page, 1, false)?;
        expect(
            "un-protect wakes the thread",
            self.k.uffd_sleeping(self.t),
            false,
        )
    }

    /// MADV_POPULATE_WRITE: GUP write-faults the range in order; it sleeps inside madvise() at
    /// every protected page until the handler un-protects it, then goes on.
    fn populate(&mut self, r: usize, first: u64, count: u64) -> Result<(), String> {
        let g = &self.regions[r];
        let (a, len) = (g.addr(first), count * g.page);
        let mut res = self
            .k
            .madvise(self.t, a, len, MADV_POPULATE_WRITE)
            .map(|_| 0);
        for i in first..first + count {
            if self.regions[r].traps(i as usize) {
                expect("populate sleeps", res, Err(Errno::ERESTARTNOINTR))?;
                self.cover.populate_sleeps += 1;
                self.handle_wp_fault(r, i)?;
                res = self.k.restart_syscall(self.t);
            }
        }
        expect("populate", res, Ok(0))?;
        self.pmd_tables.insert(a >> 30);
        let g = &mut self.regions[r];
        for i in first..first + count {
            let i = i as usize;
            (g.present[i], g.writable[i]) = (true, true);
        }
        Ok(())
    }

    /// The faulting thread's store: it sleeps on a protected page until the handler reads the
    /// message and un-protects that page, then it lands.
    fn store(&mut self, r: usize, page: u64, off: u64, val: u8) -> Result<(), String> {
        let a = self.regions[r].addr(page) + off;
        let g = &self.regions[r];
        let i = page as usize;
        if g.uffd[i] && g.present[i] && g.writable[i] {
            self.cover.lost_to_mprotect += 1;
        }
        if g.traps(i) {
            if g.present[i] {
                self.cover.traps_present += 1;
            } else {
                self.cover.traps_marker += 1;
            }
            expect(
                "store to a protected page",
                self.k.store(self.t, a, val),
                Err(Signal::Userfault),
            )?;
            self.handle_wp_fault(r, page)?;
        }
        expect("store", self.k.store(self.t, a, val), Ok(()))?;
        self.pmd_tables.insert(a >> 30);
        let g = &mut self.regions[r];
        let i = page as usize;
        g.present[i] = true;
        // Anon: a fresh or reused page is mapped writable; file memory: the shared fault or
        // the resolve mapped it writable.
        g.writable[i] = true;
        if off == 0 {
            g.data[page as usize] = val;
        }
        Ok(())
    }

    fn apply(&mut self, op: Op) -> Result<(), String> {
        match op {
            Op::Protect { r, first, count } => self.writeprotect(r, first, count, true)?,
            Op::Unprotect { r, first, count } => self.writeprotect(r, first, count, false)?,
            Op::Store { r, page, off, val } => self.store(r, page, off, val)?,
            Op::Load { r, page } => {
                let g = &self.regions[r];
                let want = Ok(g.data[page as usize]);
                expect("load", self.k.load(self.h, g.addr(page)), want)?;
                self.pmd_tables.insert(g.addr(page) >> 30);
                let g = &mut self.regions[r];
                let i = page as usize;
                if !g.present[i] {
                    // A read maps the zero page read-only (anon), the cache page with
                    // vm_page_prot (shared: writable), or from a marker read-only with uffd-wp.
                    g.present[i] = true;
                    g.writable[i] = g.kind != Kind::Anon && !g.uffd[i];
                }
            }
            Op::Madvise {
                r,
                first,
                count,
                advice,
            } => {
                let g = &self.regions[r];
                if g.kind == Kind::Hugetlb && advice == MADV_DONTNEED {
                    // 5.19's DONTNEED clears a shared hugetlb VMA's VM_MAYSHARE, which takes
                    // it away from the file: the scenarios cover that, the shadow does not.
                    return Ok(());
                }
                let got = self
                    .k
                    .madvise(self.t, g.addr(first), count * g.page, advice);
                if g.kind == Kind::Hugetlb {
                    return expect("PAGEOUT on hugetlb", got, Err(Errno::EINVAL));
                }
                expect("madvise", got, Ok(()))?;
                // PAGEOUT with no swap leaves anon mapped; it unmaps the shmem pages it can
                // isolate (try_to_unmap_one() keeps uffd-wp as a marker) and keeps the data in
                // the page cache. A page still in another CPU's LRU batch cannot be isolated
                // and stays mapped (5.19 drains only the caller's batch), so the shadow asks
                // pagemap which pages went.
                for i in first..first + count {
                    let g = &self.regions[r];
                    let gone = advice == MADV_DONTNEED
                        || (g.kind != Kind::Anon
                            && self
                                .k
                                .pagemap(self.t, g.addr(i))
                                .map_or(true, |pm| pm >> 63 == 0));
                    if gone {
                        self.regions[r].zap(i as usize);
                    }
                }
            }
            Op::Punch { r, first, count } => {
                let g = &self.regions[r];
                let mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
                let (off, len) = (first * g.page, count * g.page);
                let got = self.k.fallocate(self.t, g.fd, mode, off as i64, len as i64);
                expect("punch", got, Ok(()))?;
                // unmap_mapping_range() keeps markers; the new page reads zero.
                let g = &mut self.regions[r];
                for i in first..first + count {
                    g.zap(i as usize);
                    g.data[i as usize] = 0;
                }
            }
            Op::Populate { r, first, count } => self.populate(r, first, count)?,
            Op::MprotectRoundTrip { r } => {
                let g = &self.regions[r];
                let len = g.present.len() as u64 * g.page;
                for prot in [PROT_READ, PROT_READ | PROT_WRITE] {
                    expect(
                        "mprotect",
                        self.k.mprotect(self.t, g.base, len, prot),
                        Ok(()),
                    )?;
                }
                // 5.19 keeps the uffd-wp bit (_PAGE_CHG_MASK) but rewrites the entry with
                // vm_page_prot, writable for a shared mapping: uffd-wp on shmem and hugetlb is
                // lost to the next write (fixed in 6.2 by "mm/userfaultfd: enable
                // writenotify while userfaultfd-wp is enabled for a VMA"). Anon stays
                // read-only.
                let g = &mut self.regions[r];
                if g.kind != Kind::Anon {
                    g.writable.clone_from(&g.present);
                }
            }
            Op::ForkChildStores { r, page, val } => {
                let c = self.k.fork(self.t).map_err(|e| format!("fork: {e:?}"))?;
                let a = self.regions[r].addr(page);
                expect(
                    "the unregistered child's store",
                    self.k.store(c, a, val),
                    Ok(()),
                )?;
                expect("the child's load", self.k.load(c, a), Ok(val))?;
                expect("child exit", self.k.exit(c), Ok(()))?;
                // The child is unregistered: no trap. Shared memory takes its store, except
                // where the parent's hugetlb entry is read-only: the child's copy of it is too,
                // and 5.19's hugetlb_wp() then COWs into an anonymous page inside the shared
                // mapping (fixed by "mm/hugetlb: support write-faults in shared mappings").
                let g = &mut self.regions[r];
                let i = page as usize;
                let hugetlb_cow = g.kind == Kind::Hugetlb && g.present[i] && !g.writable[i];
                self.cover.hugetlb_shared_cow += hugetlb_cow as usize;
                if g.kind != Kind::Anon && !hugetlb_cow {
                    g.data[i] = val;
                }
            }
        }
        Ok(())
    }

    /// Every page reads as the shadow says, and no message waits unread.
    fn check_all(&mut self) -> Result<(), String> {
        for r in 0..self.regions.len() {
            for i in 0..self.regions[r].data.len() {
                let g = &self.regions[r];
                let got = self.k.load(self.h, g.addr(i as u64));
                expect(&format!("{:?} page {i}", g.kind), got, Ok(g.data[i]))?;
            }
        }
        let left = self.k.uffd_read(self.h, self.uffd);
        expect(
            "messages left",
            left.map(|m| m.is_some()),
            Err(Errno::EAGAIN),
        )
    }
}

fn run(ops: &[Op], cover: &mut Coverage) -> Result<(), TestCaseError> {
    let mut w = World::new();
    for (n, op) in ops.iter().enumerate() {
        let fail = |m: String| TestCaseError::fail(format!("op {n} {op:?}: {m}"));
        w.apply(*op).map_err(fail)?;
        w.k.check_invariants().map_err(|v| fail(v.to_string()))?;
    }
    w.check_all()
        .map_err(|m| TestCaseError::fail(format!("at the end: {m}")))?;
    // The pool's pages are frames too: give them back once nothing holds them.
    expect("exit", w.k.exit(w.t), Ok(())).map_err(TestCaseError::fail)?;
    expect("pool shrinks to 0", w.k.set_nr_hugepages(0), 0).map_err(TestCaseError::fail)?;
    exit_all_leaves_nothing(&mut w.k, []).map_err(TestCaseError::fail)?;
    let c = w.cover;
    cover.traps_present += c.traps_present;
    cover.traps_marker += c.traps_marker;
    cover.lost_to_mprotect += c.lost_to_mprotect;
    cover.hugetlb_no_table += c.hugetlb_no_table;
    cover.hugetlb_shared_cow += c.hugetlb_shared_cow;
    cover.populate_sleeps += c.populate_sleeps;
    Ok(())
}

#[test]
fn uffd_wp_protection_is_where_the_handler_put_it() {
    let cover = std::cell::RefCell::new(Coverage::default());
    let mut runner = proptest::test_runner::TestRunner::new(common::proptest_config(1024));
    let ops = prop::collection::vec(op_s(), 1..60);
    if let Err(e) = runner.run(&ops, |ops| run(&ops, &mut cover.borrow_mut())) {
        panic!("{e}");
    }
    let c = cover.into_inner();
    eprintln!("coverage: {c:?}");
    assert!(c.traps_present >= 200, "{c:?}");
    assert!(c.traps_marker >= 100, "{c:?}");
    assert!(c.lost_to_mprotect >= 20, "{c:?}");
    assert!(c.hugetlb_no_table >= 20, "{c:?}");
    assert!(c.hugetlb_shared_cow >= 10, "{c:?}");
    assert!(c.populate_sleeps >= 100, "{c:?}");
}
