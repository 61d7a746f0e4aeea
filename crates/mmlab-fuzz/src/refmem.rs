//! The shadow's reference semantics of memory contents: what a user program may rely on about
//! the bytes it reads back, written from the man pages and the mm rules (private mappings copy,
//! shared ones share their file's page cache, DONTNEED and hole punching give zeroes, truncation
//! makes the end of a file SIGBUS) rather than from the model's page tables and struct pages.
//!
//! An address space is a map from user page to what backs it; a file is a map from page index
//! to data. Where the shadow lost track (a call that failed half way), bytes and outcomes
//! become unknown: nothing is guessed. Where Linux leaves a choice, the shadow keeps both: a
//! page MADV_FREE made lazy reads its old data or, once reclaim discarded it, zero throughout
//! (until a write makes it an ordinary page again), and the first load that tells them apart
//! settles which. Swapping itself is invisible to data.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use mmlab::mm::shmem::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE};
use mmlab::uapi::*;
use mmlab::Signal;

pub const PAGE: u64 = 4096;
pub const HPAGE: u64 = 2 << 20;
/// 4 KiB pages in a 2 MiB huge page.
const SUBPAGES: u64 = HPAGE / PAGE;

pub type MmId = usize;
pub type FileId = usize;

fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

/// One page's bytes, each known or not.
#[derive(Clone, Debug)]
pub struct Bytes {
    val: [u8; PAGE as usize],
    known: [u64; PAGE as usize / 64],
}

/// The contents of a 4 KiB page.
#[derive(Clone, Debug)]
pub enum Data {
    Zero,
    Unknown,
    Bytes(Rc<Bytes>),
    /// A private anonymous page MADV_FREE made lazy: one of two pages.
    Lazy(Rc<Lazy>),
}

/// A lazily freed page (MADV_FREE): `keep` if reclaim left it, `dropped` if reclaim discarded
/// it (zero, then what was written since). While `live` (nothing written since MADV_FREE)
/// reclaim may still discard it; a write dirties the page (5.19's try_to_unmap_one() keeps a
/// dirty lazyfree page), so which of the two it is no longer changes, though the shadow may
/// not know yet.
#[derive(Clone, Debug)]
pub struct Lazy {
    keep: Data,
    dropped: Data,
    live: bool,
}

impl Data {
    fn filled(v: Option<u8>) -> Data {
        match v {
            Some(0) => Data::Zero,
            None => Data::Unknown,
            Some(b) => Data::Bytes(Rc::new(Bytes {
                val: [b; PAGE as usize],
                known: [!0; PAGE as usize / 64],
            })),
        }
    }

    pub fn get(&self, off: usize) -> Option<u8> {
        match self {
            Data::Zero => Some(0),
            Data::Unknown => None,
            Data::Bytes(b) => (b.known[off / 64] >> (off % 64) & 1 == 1).then_some(b.val[off]),
            Data::Lazy(l) => match (l.keep.get(off), l.dropped.get(off)) {
                (Some(k), Some(d)) if k == d => Some(k),
                _ => None,
            },
        }
    }

    /// The byte a load at `off` reads and another it may read instead (a lazily freed page
    /// reclaim may have discarded); (None, None) when unknown.
    pub fn choices(&self, off: usize) -> (Option<u8>, Option<u8>) {
        match self {
            Data::Lazy(l) => match (l.keep.get(off), l.dropped.get(off)) {
                (Some(k), Some(d)) if k == d => (Some(k), None),
                (Some(k), Some(d)) => (Some(k), Some(d)),
                _ => (None, None),
            },
            d => (d.get(off), None),
        }
    }

    /// MADV_FREE: the page becomes lazy. A lazy page already written since an earlier
    /// MADV_FREE would have three possible pasts: the shadow forgets it.
    fn lazy(&mut self) {
        *self = match std::mem::replace(self, Data::Unknown) {
            Data::Zero => Data::Zero,
            Data::Unknown => Data::Unknown,
            Data::Lazy(l) if l.live => Data::Lazy(l),
            Data::Lazy(_) => Data::Unknown,
            d @ Data::Bytes(_) => Data::Lazy(Rc::new(Lazy {
                keep: d,
                dropped: Data::Zero,
                live: true,
            })),
        }
    }

    /// A load at `off` read `v`: settle a lazy page if `v` tells its two pages apart.
    fn read(&mut self, off: usize, v: u8) {
        let Data::Lazy(l) = self else {
            return;
        };
        let (k, d) = (l.keep.get(off), l.dropped.get(off));
        if k == d {
            return;
        }
        if d == Some(v) {
            *self = l.dropped.clone();
        } else if k == Some(v) && !l.live {
            *self = l.keep.clone();
        }
    }

    fn bytes_mut(&mut self) -> &mut Bytes {
        let b = match std::mem::replace(self, Data::Unknown) {
            Data::Bytes(b) => b,
            Data::Zero => Rc::new(Bytes {
                val: [0; PAGE as usize],
                known: [!0; PAGE as usize / 64],
            }),
            Data::Unknown | Data::Lazy(_) => Rc::new(Bytes {
                val: [0; PAGE as usize],
                known: [0; PAGE as usize / 64],
            }),
        };
        *self = Data::Bytes(b);
        match self {
            Data::Bytes(b) => Rc::make_mut(b),
            _ => unreachable!("set to Bytes just above"),
        }
    }

    /// Bytes [from, to) become `v` (None: unknown).
    pub fn fill(&mut self, from: usize, to: usize, v: Option<u8>) {
        if from == 0 && to == PAGE as usize {
            *self = Data::filled(v);
            return;
        }
        if let Data::Lazy(l) = self {
            let l = Rc::make_mut(l);
            l.keep.fill(from, to, v);
            l.dropped.fill(from, to, v);
            l.live = false;
            return;
        }
        let b = self.bytes_mut();
        for off in from..to {
            b.val[off] = v.unwrap_or(0);
            if v.is_some() {
                b.known[off / 64] |= 1 << (off % 64);
            } else {
                b.known[off / 64] &= !(1 << (off % 64));
            }
        }
    }

    /// A page built from per-byte values.
    fn from_bytes(bytes: &[Option<u8>]) -> Data {
        let mut d = Data::Zero;
        for (off, v) in bytes.iter().enumerate() {
            if *v != Some(0) {
                d.fill(off, off + 1, *v);
            }
        }
        d
    }
}

/// A private file mapping's page: not copied (it reads the file), its own copy, or either
/// (a call that may have copied it failed half way).
#[derive(Clone, Debug)]
pub enum Cow {
    No,
    Copy(Data),
    Maybe,
}

/// What backs one user page.
#[derive(Clone, Debug)]
pub enum Back {
    /// The shadow does not know (it may not even be mapped); `file` is a shared file it may
    /// write to.
    Unknown { file: Option<FileId> },
    /// Private anonymous memory.
    Anon(Data),
    /// Page `idx` of a file (shmem, a hugetlbfs file, or the object behind shared anonymous
    /// memory); a private mapping's own copy once it wrote (or populated for writing).
    File {
        file: FileId,
        idx: u64,
        shared: bool,
        cow: Cow,
    },
}

impl Back {
    /// The shared file a write to this page may reach.
    fn shared_file(&self) -> Option<FileId> {
        match *self {
            Back::File {
                file, shared: true, ..
            } => Some(file),
            Back::Unknown { file } => file,
            _ => None,
        }
    }
}

/// One mapped user page.
#[derive(Clone, Debug)]
pub struct Vpage {
    /// PROT_* bits; None when a failed call may or may not have changed them.
    pub prot: Option<u64>,
    pub back: Back,
    /// VM_LOCKED: making it writable populates it (and so copies a private file page).
    pub locked: bool,
    /// MADV_DONTFORK / MADV_WIPEONFORK; None when unknown.
    pub dontfork: Option<bool>,
    pub wipeonfork: Option<bool>,
    /// Registered with userfaultfd: an access may sleep or raise SIGBUS.
    pub uffd: bool,
    /// hugetlbfs: a fault may fail for want of a pool page.
    pub huge: bool,
}

impl Vpage {
    fn unknown(file: Option<FileId>) -> Vpage {
        Vpage {
            prot: None,
            back: Back::Unknown { file },
            locked: false,
            dontfork: None,
            wipeonfork: None,
            uffd: true,
            huge: false,
        }
    }
}

/// An address space.
#[derive(Clone, Debug)]
pub struct Mm {
    pages: BTreeMap<u64, Vpage>,
    /// Every mapping is known, so an address with no page is unmapped (SIGSEGV).
    layout_known: bool,
    /// Syscalls of this mm asleep half done: nothing is predicted until they return.
    unsettled: u32,
}

/// A file: shmem (memfd, shared anonymous memory) or hugetlbfs.
#[derive(Clone, Debug)]
pub struct File {
    pub huge: bool,
    /// i_size; None once a failed call may have changed it.
    size: Option<u64>,
    /// The pages in the page cache (a hole reads zeroes).
    pages: BTreeMap<u64, Data>,
    /// The shadow lost track of this file's contents.
    tainted: bool,
}

impl File {
    fn data(&self, idx: u64) -> Data {
        if self.tainted {
            return Data::Unknown;
        }
        self.pages.get(&idx).cloned().unwrap_or(Data::Zero)
    }

    /// The page cache page at `idx`, allocated (zeroed) if it was a hole; hugetlbfs allocates
    /// the whole huge page.
    fn page_mut(&mut self, idx: u64) -> &mut Data {
        if self.huge && !self.pages.contains_key(&idx) {
            let first = idx / SUBPAGES * SUBPAGES;
            for i in first..first + SUBPAGES {
                self.pages.insert(i, Data::Zero);
            }
        }
        self.pages.entry(idx).or_insert(Data::Zero)
    }

    /// Is page `idx` inside i_size for a fault? hugetlb_fault() counts whole huge pages.
    fn within_eof(&self, idx: u64) -> Option<bool> {
        let size = self.size?;
        Some(if self.huge {
            idx / SUBPAGES < size / HPAGE
        } else {
            idx < size.div_ceil(PAGE)
        })
    }
}

/// What the shadow expects of an access.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// Some(None): it completes; Some(Some(sig)): it raises `sig`; None: unknown.
    pub fault: Option<Option<Signal>>,
    /// The byte a load reads if it completes.
    pub byte: Option<u8>,
    /// Another byte it may read instead: zero, where reclaim may have discarded a lazily
    /// freed page.
    pub alt: Option<u8>,
}

impl Expect {
    /// Does a load reading `v` contradict the expectation?
    pub fn wrong(&self, v: u8) -> bool {
        self.byte.is_some_and(|b| b != v) && self.alt != Some(v)
    }
}

/// The shadow's memory: address spaces and files.
#[derive(Default)]
pub struct RefMem {
    mms: HashMap<MmId, Mm>,
    next_mm: MmId,
    files: Vec<File>,
}

/// A kind name for reports: what backs the page at an address.
pub fn back_kind(vp: Option<&Vpage>) -> &'static str {
    match vp.map(|v| &v.back) {
        None => "unmapped",
        Some(Back::Unknown { .. }) => "unknown",
        Some(Back::Anon(_)) if vp.is_some_and(|v| v.huge) => "hugetlb-private-anon",
        Some(Back::Anon(_)) => "private-anon",
        Some(Back::File { shared: true, .. }) if vp.is_some_and(|v| v.huge) => "hugetlb-shared",
        Some(Back::File { shared: true, .. }) => "shared-file",
        Some(Back::File { .. }) if vp.is_some_and(|v| v.huge) => "hugetlb-private-file",
        Some(Back::File { .. }) => "private-file",
    }
}

impl RefMem {
    pub fn new_mm(&mut self) -> MmId {
        let id = self.next_mm;
        self.next_mm += 1;
        self.mms.insert(
            id,
            Mm {
                pages: BTreeMap::new(),
                layout_known: true,
                unsettled: 0,
            },
        );
        id
    }

    pub fn drop_mm(&mut self, mm: MmId) {
        self.mms.remove(&mm);
    }

    pub fn new_file(&mut self, huge: bool, size: u64) -> FileId {
        self.files.push(File {
            huge,
            size: Some(size),
            pages: BTreeMap::new(),
            tainted: false,
        });
        self.files.len() - 1
    }

    pub fn is_huge_file(&self, f: FileId) -> bool {
        self.files[f].huge
    }

    pub fn vpage(&self, mm: MmId, addr: u64) -> Option<&Vpage> {
        self.mms.get(&mm)?.pages.get(&(addr & !(PAGE - 1)))
    }

    /// A syscall of `mm` sleeps half way (or finished): predictions pause until it returns.
    pub fn set_unsettled(&mut self, mm: MmId, asleep: bool) {
        if let Some(m) = self.mms.get_mut(&mm) {
            if asleep {
                m.unsettled += 1;
            } else {
                m.unsettled = m.unsettled.saturating_sub(1);
            }
        }
    }

    /// fork(): the child's copy of `parent` (dup_mmap()): VM_DONTCOPY areas are left out,
    /// VM_WIPEONFORK ones start empty, VM_LOCKED is not inherited, the rest is copied by value.
    pub fn fork_mm(&mut self, parent: MmId) -> MmId {
        let child = self.new_mm();
        let Some(p) = self.mms.get(&parent).cloned() else {
            return child;
        };
        let mut pages = BTreeMap::new();
        for (a, vp) in p.pages {
            let mut v = vp;
            if p.unsettled > 0 {
                pages.insert(a, Vpage::unknown(v.back.shared_file()));
                continue;
            }
            match v.dontfork {
                Some(true) => continue,
                None => {
                    pages.insert(a, Vpage::unknown(v.back.shared_file()));
                    continue;
                }
                Some(false) => {}
            }
            match (v.wipeonfork, &v.back) {
                (Some(true), Back::Anon(_)) => v.back = Back::Anon(Data::Zero),
                (None, Back::Anon(_)) => v.back = Back::Anon(Data::Unknown),
                _ => {}
            }
            v.locked = false;
            pages.insert(a, v);
        }
        let m = self.mms.get_mut(&child).expect("just made");
        m.pages = pages;
        m.layout_known = p.layout_known && p.unsettled == 0;
        child
    }

    /// Pages of `mm` in [start, end), page-aligned outward.
    fn range(mm: &mut Mm, start: u64, end: u64) -> impl Iterator<Item = (&u64, &mut Vpage)> {
        let s = start & !(PAGE - 1);
        let e = round_up(end, PAGE).max(s);
        mm.pages.range_mut(s..e)
    }

    /// Forget everything about [start, end): it may be mapped or not, hold anything.
    pub fn forget(&mut self, mm: MmId, start: u64, end: u64) {
        if let Some(m) = self.mms.get_mut(&mm) {
            let mut a = start & !(PAGE - 1);
            while a < end {
                let file = m.pages.get(&a).and_then(|v| v.back.shared_file());
                m.pages.insert(a, Vpage::unknown(file));
                a += PAGE;
            }
        }
    }

    /// Forget the contents (not the mapping) of the mapped pages in [start, end).
    pub fn forget_contents(&mut self, mm: MmId, start: u64, end: u64) {
        self.forget_some(mm, start, end, false);
    }

    /// Forget whether the private file pages of [start, end) have their own copies (a
    /// populate that slept half way broke COW at a time the shadow cannot place).
    pub fn forget_private_copies(&mut self, mm: MmId, start: u64, end: u64) {
        self.forget_some(mm, start, end, true);
    }

    fn forget_some(&mut self, mm: MmId, start: u64, end: u64, private_file_only: bool) {
        let Some(m) = self.mms.get_mut(&mm) else {
            return;
        };
        for (_, vp) in Self::range(m, start, end) {
            if private_file_only && !matches!(vp.back, Back::File { shared: false, .. }) {
                continue;
            }
            match &mut vp.back {
                Back::Anon(d) => *d = Data::Unknown,
                Back::File {
                    shared: false,
                    cow: cow @ Cow::No,
                    ..
                } => *cow = Cow::Maybe,
                Back::File {
                    shared: false,
                    cow: Cow::Copy(d),
                    ..
                } => *d = Data::Unknown,
                Back::File { shared: false, .. } => {}
                Back::File { file, idx, .. } => {
                    let f = &mut self.files[*file];
                    *f.page_mut(*idx) = Data::Unknown;
                }
                Back::Unknown { file } => {
                    if let Some(f) = *file {
                        self.files[f].tainted = true;
                    }
                }
            }
        }
    }

    /// A successful mmap() at `addr`; `file` is the descriptor's file, None for anonymous
    /// memory (shared anonymous memory gets its own shmem object, as shmem_zero_setup() does).
    #[allow(clippy::too_many_arguments)]
    pub fn mmap(
        &mut self,
        mm: MmId,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u64,
        file: Option<FileId>,
        off: u64,
    ) {
        let huge = flags & MAP_HUGETLB != 0 || file.is_some_and(|f| self.files[f].huge);
        let len = round_up(len, if huge { HPAGE } else { PAGE });
        let shared = flags & MAP_TYPE != MAP_PRIVATE;
        let (file, off) = match file {
            Some(f) => (Some(f), off),
            None if shared => (Some(self.new_file(huge, len)), 0),
            None => (None, 0),
        };
        if let Some(f) = file {
            // hugetlbfs_file_mmap() grows i_size to cover a writable mapping.
            let fl = &mut self.files[f];
            if fl.huge && prot & PROT_WRITE != 0 {
                fl.size = fl.size.map(|s| s.max(off + len));
            }
        }
        let Some(m) = self.mms.get_mut(&mm) else {
            return;
        };
        for i in 0..len / PAGE {
            let back = match file {
                Some(f) => Back::File {
                    file: f,
                    idx: off / PAGE + i,
                    shared,
                    cow: Cow::No,
                },
                None => Back::Anon(Data::Zero),
            };
            m.pages.insert(
                addr + i * PAGE,
                Vpage {
                    prot: Some(prot),
                    back,
                    locked: flags & MAP_LOCKED != 0,
                    dontfork: Some(false),
                    wipeonfork: Some(false),
                    uffd: false,
                    huge,
                },
            );
        }
        if flags & MAP_GROWSDOWN != 0 {
            m.layout_known = false;
        }
        let populate =
            flags & MAP_LOCKED != 0 || flags & MAP_POPULATE != 0 && flags & MAP_NONBLOCK == 0;
        if populate && prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
            self.populate(mm, addr, addr + len, prot & PROT_WRITE != 0 && !shared);
        }
    }

    /// GUP over [start, end) (MAP_POPULATE, mlock, MADV_POPULATE_*): what the faults leave
    /// behind. A write populate of a private file page copies it (FOLL_WRITE breaks COW).
    fn populate(&mut self, mm: MmId, start: u64, end: u64, write: bool) {
        let mut a = start & !(PAGE - 1);
        while a < end {
            let Some(vp) = self.vpage(mm, a) else {
                a += PAGE;
                continue;
            };
            if vp.uffd {
                // A registered page may be left unpopulated (the fault is SIGBUS and ignored).
                self.forget_contents(mm, a, a + PAGE);
            } else if self.in_file_eof(vp) != Some(false) {
                if write {
                    self.break_cow(mm, a);
                } else {
                    self.commit_read(mm, a);
                }
            }
            a += PAGE;
        }
    }

    fn in_file_eof(&self, vp: &Vpage) -> Option<bool> {
        match &vp.back {
            Back::File { file, idx, .. } => self.files[*file].within_eof(*idx),
            _ => Some(true),
        }
    }

    pub fn munmap(&mut self, mm: MmId, start: u64, len: u64) {
        let end = start.saturating_add(len);
        if let Some(m) = self.mms.get_mut(&mm) {
            let keys: Vec<u64> = Self::range(m, start, end).map(|(a, _)| *a).collect();
            for k in keys {
                m.pages.remove(&k);
            }
        }
    }

    /// mprotect(): `ok` false when it failed, maybe half way (ENOMEM at a hole).
    pub fn mprotect(&mut self, mm: MmId, start: u64, len: u64, prot: u64, ok: bool) {
        let Some(m) = self.mms.get_mut(&mm) else {
            return;
        };
        if prot & (PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
            // The range extends to the start (end) of a growsdown (up) VMA.
            m.layout_known = false;
            for vp in m.pages.values_mut() {
                vp.prot = None;
            }
            return;
        }
        let mut populate = vec![];
        for (a, vp) in Self::range(m, start, start.saturating_add(len)) {
            if !ok {
                vp.prot = None;
                continue;
            }
            // mprotect_fixup(): a locked private mapping made writable is populated.
            if let (Some(old), true) = (vp.prot, vp.locked) {
                let shared = matches!(vp.back, Back::File { shared: true, .. });
                if old & PROT_WRITE == 0 && prot & PROT_WRITE != 0 && !shared {
                    populate.push(*a);
                }
            }
            vp.prot = Some(prot);
        }
        for a in populate {
            self.populate(mm, a, a + PAGE, true);
        }
    }

    /// A private page's own copy of its file page (wp_page_copy() on a file-backed page);
    /// hugetlb copies the whole huge page.
    fn break_cow(&mut self, mm: MmId, addr: u64) {
        let page = addr & !(PAGE - 1);
        let (first, n) = match self.vpage(mm, page) {
            Some(v) if v.huge => (page & !(HPAGE - 1), SUBPAGES),
            _ => (page, 1),
        };
        let Some(m) = self.mms.get_mut(&mm) else {
            return;
        };
        for i in 0..n {
            if let Some(Vpage {
                back:
                    Back::File {
                        file,
                        idx,
                        shared: false,
                        cow,
                    },
                ..
            }) = m.pages.get_mut(&(first + i * PAGE))
            {
                match cow {
                    Cow::No => *cow = Cow::Copy(self.files[*file].data(*idx)),
                    Cow::Maybe => *cow = Cow::Copy(Data::Unknown),
                    Cow::Copy(_) => {}
                }
            }
        }
    }

    /// What a successful read fault leaves behind: shmem adds a page to the page cache;
    /// hugetlb_no_page() gives a private mapping of a hole its own zeroed huge page instead.
    fn commit_read(&mut self, mm: MmId, addr: u64) {
        let page = addr & !(PAGE - 1);
        let Some(Vpage {
            back:
                Back::File {
                    file,
                    idx,
                    shared,
                    cow: Cow::No,
                },
            ..
        }) = self.vpage(mm, page).cloned()
        else {
            return;
        };
        let f = &mut self.files[file];
        if f.pages.contains_key(&idx) || f.tainted {
            return;
        }
        if f.huge && !shared {
            let first = page & !(HPAGE - 1);
            if let Some(m) = self.mms.get_mut(&mm) {
                for (_, vp) in m.pages.range_mut(first..first + HPAGE) {
                    if let Back::File {
                        file: g,
                        shared: false,
                        cow: cow @ Cow::No,
                        ..
                    } = &mut vp.back
                    {
                        if *g == file {
                            *cow = Cow::Copy(Data::Zero);
                        }
                    }
                }
            }
        } else {
            f.page_mut(idx);
        }
    }

    /// The expected outcome of a load (or a store, `write`) at `addr`.
    pub fn predict(&self, mm: MmId, addr: u64, write: bool) -> Expect {
        let Some(m) = self.mms.get(&mm) else {
            return Expect::default();
        };
        if m.unsettled > 0 {
            return Expect::default();
        }
        let Some(vp) = m.pages.get(&(addr & !(PAGE - 1))) else {
            return Expect {
                fault: m.layout_known.then_some(Some(Signal::Segv)),
                ..Expect::default()
            };
        };
        let off = (addr & (PAGE - 1)) as usize;
        let (byte, alt) = match &vp.back {
            Back::Unknown { .. }
            | Back::File {
                cow: Cow::Maybe, ..
            } => (None, None),
            Back::Anon(d)
            | Back::File {
                cow: Cow::Copy(d), ..
            } => d.choices(off),
            Back::File { file, idx, .. } => (self.files[*file].data(*idx).get(off), None),
        };
        let fault = match vp.prot {
            None => None,
            // x86: any of read, write, exec lets a read fault in (vma_is_accessible()).
            Some(p) if p & (PROT_READ | PROT_WRITE | PROT_EXEC) == 0 => Some(Some(Signal::Segv)),
            Some(p) if write && p & PROT_WRITE == 0 => Some(Some(Signal::Segv)),
            Some(_) if vp.uffd || vp.huge => None,
            Some(_) => match &vp.back {
                Back::Unknown { .. } => None,
                Back::Anon(_)
                | Back::File {
                    cow: Cow::Copy(_), ..
                } => Some(None),
                // Copied or not: a copy completes, the file's page beyond EOF does not.
                Back::File {
                    file,
                    idx,
                    cow: Cow::Maybe,
                    ..
                } => match self.files[*file].within_eof(*idx) {
                    Some(true) => Some(None),
                    _ => None,
                },
                Back::File { file, idx, .. } => self.files[*file]
                    .within_eof(*idx)
                    .map(|inside| (!inside).then_some(Signal::Bus)),
            },
        };
        Expect { fault, byte, alt }
    }

    /// A load (or touch) at `addr` completed.
    pub fn loaded(&mut self, mm: MmId, addr: u64) {
        self.commit_read(mm, addr);
    }

    /// A load at `addr` completed and read `v`: a lazily freed page may be settled by it.
    pub fn loaded_value(&mut self, mm: MmId, addr: u64, v: u8) {
        self.commit_read(mm, addr);
        let off = (addr & (PAGE - 1)) as usize;
        if let Some(Vpage {
            back: Back::Anon(d),
            ..
        }) = self
            .mms
            .get_mut(&mm)
            .and_then(|m| m.pages.get_mut(&(addr & !(PAGE - 1))))
        {
            d.read(off, v);
        }
    }

    /// A store of `v` (None: an unknown byte) at `addr` completed.
    pub fn stored(&mut self, mm: MmId, addr: u64, v: Option<u8>) {
        self.write_range(mm, addr, addr + 1, v);
    }

    /// Bytes [start, end) of `mm` were written with `v` (all completed).
    pub fn write_range(&mut self, mm: MmId, start: u64, end: u64, v: Option<u8>) {
        let mut a = start;
        while a < end {
            let page = a & !(PAGE - 1);
            let to = (page + PAGE).min(end);
            let (from_off, to_off) = ((a - page) as usize, (to - page) as usize);
            if matches!(
                self.vpage(mm, page).map(|v| &v.back),
                Some(Back::File {
                    shared: false,
                    cow: Cow::No | Cow::Maybe,
                    ..
                })
            ) {
                self.break_cow(mm, page);
            }
            let Some(vp) = self.mms.get_mut(&mm).and_then(|m| m.pages.get_mut(&page)) else {
                a = to;
                continue;
            };
            match &mut vp.back {
                Back::Anon(d) => d.fill(from_off, to_off, v),
                Back::File {
                    cow: Cow::Copy(d), ..
                } => d.fill(from_off, to_off, v),
                Back::File { file, idx, .. } => {
                    let f = &mut self.files[*file];
                    if !f.tainted {
                        f.page_mut(*idx).fill(from_off, to_off, v);
                    }
                }
                Back::Unknown { file } => {
                    if let Some(f) = *file {
                        self.files[f].tainted = true;
                    }
                }
            }
            a = to;
        }
    }

    /// A write of [start, end) that faulted: the pages before the first that certainly
    /// faults were written, those after a page the shadow cannot judge may have been.
    pub fn write_until_fault(&mut self, mm: MmId, start: u64, end: u64, v: Option<u8>) {
        let mut a = start;
        while a < end {
            let to = ((a & !(PAGE - 1)) + PAGE).min(end);
            match self.predict(mm, a, true).fault {
                Some(None) => self.write_range(mm, a, to, v),
                Some(Some(_)) => return,
                None => return self.forget_contents(mm, a, end),
            }
            a = to;
        }
    }

    /// UFFDIO_COPY / UFFDIO_ZEROPAGE filled [dst, dst + bytes.len()) of `mm` with whole new
    /// pages (a private mapping gets its own anonymous page, a shared one a page cache page).
    pub fn filled(&mut self, mm: MmId, dst: u64, bytes: &[Option<u8>]) {
        for (i, chunk) in bytes.chunks(PAGE as usize).enumerate() {
            let page = (dst & !(PAGE - 1)) + i as u64 * PAGE;
            let data = Data::from_bytes(chunk);
            let Some(vp) = self.mms.get_mut(&mm).and_then(|m| m.pages.get_mut(&page)) else {
                continue;
            };
            match &mut vp.back {
                Back::Anon(d) => *d = data,
                Back::File {
                    shared: false, cow, ..
                } => *cow = Cow::Copy(data),
                Back::File { file, idx, .. } => *self.files[*file].page_mut(*idx) = data,
                Back::Unknown { file } => {
                    if let Some(f) = *file {
                        self.files[f].tainted = true;
                    }
                }
            }
        }
    }

    /// The bytes [src, src + len) a kernel copy (copy_from_user()) reads.
    pub fn read_range(&mut self, mm: MmId, src: u64, len: u64) -> Vec<Option<u8>> {
        (src..src + len)
            .map(|a| {
                if a & (PAGE - 1) == 0 || a == src {
                    self.commit_read(mm, a);
                }
                let e = self.predict(mm, a, false);
                if e.fault == Some(None) || e.fault.is_none() {
                    e.byte
                } else {
                    None
                }
            })
            .collect()
    }

    /// Mark pages of [start, end) registered with userfaultfd.
    pub fn registered(&mut self, mm: MmId, start: u64, end: u64) {
        if let Some(m) = self.mms.get_mut(&mm) {
            for (_, vp) in Self::range(m, start, end) {
                vp.uffd = true;
            }
        }
    }

    /// madvise() that succeeded on every mapped page of the range (Ok, or ENOMEM at a hole).
    pub fn madvise(&mut self, mm: MmId, start: u64, len: u64, advice: u64) {
        let end = start.saturating_add(len);
        let huge_end = self
            .vpage(mm, end.saturating_sub(1))
            .is_some_and(|v| v.huge);
        // 5.19's madvise_dontneed_free_valid_vma() rounds a hugetlb range's end up.
        let end = if huge_end && matches!(advice, MADV_DONTNEED | MADV_DONTNEED_LOCKED) {
            round_up(end, HPAGE)
        } else {
            end
        };
        match advice {
            MADV_DONTNEED | MADV_DONTNEED_LOCKED => self.zap(mm, start, end),
            MADV_FREE => self.free(mm, start, end),
            MADV_REMOVE => self.remove(mm, start, end),
            MADV_POPULATE_READ => self.populate(mm, start, end, false),
            MADV_POPULATE_WRITE => self.populate(mm, start, end, true),
            MADV_DONTFORK | MADV_DOFORK | MADV_WIPEONFORK | MADV_KEEPONFORK => {
                if let Some(m) = self.mms.get_mut(&mm) {
                    for (_, vp) in Self::range(m, start, end) {
                        match advice {
                            MADV_DONTFORK => vp.dontfork = Some(true),
                            MADV_DOFORK => vp.dontfork = Some(false),
                            MADV_WIPEONFORK => vp.wipeonfork = Some(true),
                            _ => vp.wipeonfork = Some(false),
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// MADV_FREE (madvise_free_single_vma()): private anonymous pages become lazy (old data
    /// or, after reclaim, zero); elsewhere 5.19 refuses it (EINVAL), so a success there is a
    /// range the shadow does not know.
    fn free(&mut self, mm: MmId, start: u64, end: u64) {
        let Some(m) = self.mms.get_mut(&mm) else {
            return;
        };
        let mut other = vec![];
        for (&a, vp) in Self::range(m, start, end) {
            match &mut vp.back {
                Back::Anon(d) if !vp.huge => d.lazy(),
                _ => other.push(a),
            }
        }
        for a in other {
            self.forget_contents(mm, a, a + PAGE);
        }
    }

    /// madvise() failed with another errno: it may have acted on part of the range.
    pub fn madvise_failed(&mut self, mm: MmId, start: u64, len: u64, advice: u64) {
        match advice {
            MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
                self.forget_private_copies(mm, start, start.saturating_add(len))
            }
            MADV_DONTNEED | MADV_DONTNEED_LOCKED | MADV_FREE | MADV_REMOVE => {
                let huge = self.vpage(mm, start).is_some_and(|v| v.huge);
                let end = round_up(start.saturating_add(len), if huge { HPAGE } else { PAGE });
                self.forget_contents(mm, start, end);
                if advice == MADV_REMOVE {
                    self.taint_files_in(mm, start, end);
                }
            }
            MADV_DONTFORK | MADV_DOFORK | MADV_WIPEONFORK | MADV_KEEPONFORK => {
                if let Some(m) = self.mms.get_mut(&mm) {
                    for (_, vp) in Self::range(m, start, start.saturating_add(len)) {
                        vp.dontfork = None;
                        vp.wipeonfork = None;
                    }
                }
            }
            _ => {}
        }
    }

    fn taint_files_in(&mut self, mm: MmId, start: u64, end: u64) {
        let files: Vec<FileId> = match self.mms.get_mut(&mm) {
            Some(m) => Self::range(m, start, end)
                .filter_map(|(_, vp)| match vp.back {
                    Back::File { file, .. } => Some(file),
                    _ => None,
                })
                .collect(),
            None => vec![],
        };
        for f in files {
            self.files[f].tainted = true;
        }
    }

    /// zap_page_range(): private pages go (anonymous memory reads zeroes again, a private file
    /// mapping its file); shared pages stay in their file. 5.19's __unmap_hugepage_range_final()
    /// also clears a shared hugetlb VMA's VM_MAYSHARE, after which its faults are private: the
    /// shadow stops predicting that VMA.
    fn zap(&mut self, mm: MmId, start: u64, end: u64) {
        let mut shared_huge = vec![];
        if let Some(m) = self.mms.get_mut(&mm) {
            for (_, vp) in Self::range(m, start, end) {
                match &mut vp.back {
                    Back::Anon(d) => *d = Data::Zero,
                    Back::File {
                        shared: false, cow, ..
                    } => *cow = Cow::No,
                    Back::File {
                        file, shared: true, ..
                    } if vp.huge => shared_huge.push(*file),
                    _ => {}
                }
            }
            for vp in m.pages.values_mut() {
                if let Back::File {
                    file, shared: true, ..
                } = vp.back
                {
                    if shared_huge.contains(&file) {
                        vp.back = Back::Unknown { file: Some(file) };
                    }
                }
            }
        }
    }

    /// MADV_REMOVE: punch the file range behind each mapped run of [start, end).
    fn remove(&mut self, mm: MmId, start: u64, end: u64) {
        let runs: Vec<(FileId, u64, u64)> = match self.mms.get_mut(&mm) {
            Some(m) => {
                let mut runs: Vec<(FileId, u64, u64)> = vec![];
                for (_, vp) in Self::range(m, start, end) {
                    if let Back::File { file, idx, .. } = vp.back {
                        match runs.last_mut() {
                            Some((f, _, e)) if *f == file && *e == idx * PAGE => *e += PAGE,
                            _ => runs.push((file, idx * PAGE, idx * PAGE + PAGE)),
                        }
                    }
                }
                runs
            }
            None => vec![],
        };
        for (f, s, e) in runs {
            self.punch(f, s, e);
        }
    }

    /// Drop the private copies of file `f`'s pages [first, last) in every address space.
    fn drop_cows(&mut self, f: FileId, first: u64, last: u64) {
        for m in self.mms.values_mut() {
            for vp in m.pages.values_mut() {
                if let Back::File {
                    file,
                    idx,
                    shared: false,
                    cow,
                } = &mut vp.back
                {
                    if *file == f && (first..last).contains(idx) {
                        *cow = Cow::No;
                    }
                }
            }
        }
    }

    /// FALLOC_FL_PUNCH_HOLE over bytes [start, end) of `f`. shmem_fallocate() removes the whole
    /// pages and zeroes the partial ones in place, leaving private copies alone
    /// (unmap_mapping_range() without even_cows); hugetlbfs_punch_hole() removes whole huge
    /// pages from every mapping, private copies included, and zeroes partial ones in place.
    fn punch(&mut self, f: FileId, start: u64, end: u64) {
        let unit = if self.files[f].huge { HPAGE } else { PAGE };
        let whole = (round_up(start, unit), end / unit * unit);
        let file = &mut self.files[f];
        if whole.0 < whole.1 {
            let (a, b) = (whole.0 / PAGE, whole.1 / PAGE);
            let gone: Vec<u64> = file.pages.range(a..b).map(|(i, _)| *i).collect();
            for i in gone {
                file.pages.remove(&i);
            }
            if file.huge {
                self.drop_cows(f, a, b);
            }
        }
        let file = &mut self.files[f];
        let mut zero = |from: u64, to: u64| {
            let mut a = from;
            while a < to {
                let idx = a / PAGE;
                let stop = ((idx + 1) * PAGE).min(to);
                if let Some(d) = file.pages.get_mut(&idx) {
                    d.fill((a % PAGE) as usize, (stop - idx * PAGE) as usize, Some(0));
                }
                a = stop;
            }
        };
        if whole.0 >= whole.1 {
            zero(start, end);
        } else {
            zero(start, whole.0);
            zero(whole.1, end);
        }
    }

    /// ftruncate(): shrinking removes the pages past the end, zeroes the tail of the last one
    /// and unmaps private copies past it too (truncate_pagecache(): even_cows).
    pub fn truncate(&mut self, f: FileId, len: u64) {
        let file = &mut self.files[f];
        file.size = Some(len);
        let keep = len.div_ceil(PAGE);
        let gone: Vec<u64> = file.pages.range(keep..).map(|(i, _)| *i).collect();
        for i in gone {
            file.pages.remove(&i);
        }
        if !len.is_multiple_of(PAGE) {
            if let Some(d) = file.pages.get_mut(&(keep - 1)) {
                d.fill((len % PAGE) as usize, PAGE as usize, Some(0));
            }
        }
        self.drop_cows(f, keep, u64::MAX);
    }

    /// fallocate() that succeeded.
    pub fn fallocate(&mut self, f: FileId, mode: u64, off: u64, len: u64) {
        let end = off.saturating_add(len);
        if mode & FALLOC_FL_PUNCH_HOLE != 0 {
            self.punch(f, off, end);
            return;
        }
        if mode & !FALLOC_FL_KEEP_SIZE != 0 {
            self.files[f].tainted = true;
            return;
        }
        let file = &mut self.files[f];
        for idx in off / PAGE..end.div_ceil(PAGE) {
            file.page_mut(idx);
        }
        if mode & FALLOC_FL_KEEP_SIZE == 0 {
            file.size = file.size.map(|s| s.max(end));
        }
    }

    /// A call on `f` failed after maybe changing part of it.
    pub fn taint(&mut self, f: FileId) {
        self.files[f].tainted = true;
        self.files[f].size = None;
    }

    /// mremap() that returned `new` (see mm/mremap.c: shrink in place, grow in place, or move
    /// the pages; MREMAP_DONTUNMAP leaves the old range mapped and empty; old_len 0 maps the
    /// same shared pages a second time).
    pub fn mremap(&mut self, mm: MmId, old: u64, old_len: u64, new_len: u64, flags: u64, new: u64) {
        let Some(first) = self.vpage(mm, old).cloned() else {
            // Mapped where the shadow saw nothing made (a stack a fault grew down): what
            // moved where is not known.
            self.forget(mm, old, old.saturating_add(old_len.max(new_len)));
            self.forget(mm, new, new.saturating_add(new_len));
            return;
        };
        let unit = if first.huge { HPAGE } else { PAGE };
        let (old_len, new_len) = (round_up(old_len, unit), round_up(new_len, unit));
        let Some(m) = self.mms.get_mut(&mm) else {
            return;
        };
        let extend = |last: &Vpage, k: u64| -> Vpage {
            let mut v = last.clone();
            v.back = match &last.back {
                Back::Anon(_) => Back::Anon(Data::Zero),
                Back::File {
                    file, idx, shared, ..
                } => Back::File {
                    file: *file,
                    idx: idx + k,
                    shared: *shared,
                    cow: Cow::No,
                },
                Back::Unknown { file } => Back::Unknown { file: *file },
            };
            v
        };
        if old_len == 0 {
            let shared = matches!(first.back, Back::File { shared: true, .. });
            for k in 0..new_len / PAGE {
                let v = if shared {
                    extend(&first, k)
                } else {
                    Vpage::unknown(first.back.shared_file())
                };
                m.pages.insert(new + k * PAGE, v);
            }
            return;
        }
        let moved: Vec<(u64, Vpage)> = m
            .pages
            .range(old..old + old_len.min(new_len))
            .map(|(a, v)| (a - old, v.clone()))
            .collect();
        let last = m
            .pages
            .range(old..old + old_len)
            .next_back()
            .map(|(a, v)| (a - old, v.clone()));
        if new != old || new_len < old_len {
            let from = if new == old { old + new_len } else { old };
            let gone: Vec<u64> = m
                .pages
                .range(from..old + old_len)
                .map(|(a, _)| *a)
                .collect();
            for a in gone {
                if flags & MREMAP_DONTUNMAP != 0 {
                    // The old VMA stays, its page tables moved away.
                    let vp = m.pages.get_mut(&a).expect("listed");
                    match &mut vp.back {
                        Back::Anon(d) => *d = Data::Zero,
                        Back::File { cow, .. } => *cow = Cow::No,
                        Back::Unknown { .. } => {}
                    }
                } else {
                    m.pages.remove(&a);
                }
            }
        }
        if new != old {
            let gone: Vec<u64> = m.pages.range(new..new + new_len).map(|(a, _)| *a).collect();
            for a in gone {
                m.pages.remove(&a);
            }
            for (off, v) in moved {
                m.pages.insert(new + off, v);
            }
        }
        let mut populate = None;
        if new_len > old_len {
            if let Some((off, lv)) = last {
                for k in 1..=(new_len - old_len) / PAGE {
                    let at = new + off + k * PAGE;
                    m.pages.insert(at, extend(&lv, k));
                }
                if lv.locked {
                    let shared = matches!(lv.back, Back::File { shared: true, .. });
                    let write = lv.prot.is_some_and(|p| p & PROT_WRITE != 0) && !shared;
                    populate = Some((new + old_len, new + new_len, write));
                }
            }
        }
        if let Some((s, e, w)) = populate {
            self.populate(mm, s, e, w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: u64 = PROT_READ | PROT_WRITE;
    const A: u64 = 0x10_0000;

    fn byte(m: &RefMem, mm: MmId, a: u64) -> Option<u8> {
        m.predict(mm, a, false).byte
    }

    #[test]
    fn private_anonymous_memory_is_copied_by_fork() {
        let mut m = RefMem::default();
        let p = m.new_mm();
        m.mmap(p, A, 2 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, None, 0);
        m.stored(p, A + 5, Some(7));
        let c = m.fork_mm(p);
        m.stored(c, A + 5, Some(9));
        assert_eq!(byte(&m, p, A + 5), Some(7));
        assert_eq!(byte(&m, c, A + 5), Some(9));
        assert_eq!(byte(&m, c, A + PAGE), Some(0));
        m.madvise(p, A, PAGE, MADV_DONTNEED);
        assert_eq!(byte(&m, p, A + 5), Some(0));
        assert_eq!(byte(&m, c, A + 5), Some(9));
    }

    #[test]
    fn shared_mappings_see_each_others_writes_and_private_ones_copy_on_write() {
        let mut m = RefMem::default();
        let p = m.new_mm();
        let f = m.new_file(false, 2 * PAGE);
        m.mmap(p, A, 2 * PAGE, RW, MAP_SHARED, Some(f), 0);
        m.mmap(p, A + 0x10_0000, 2 * PAGE, RW, MAP_PRIVATE, Some(f), 0);
        let q = A + 0x10_0000;
        m.stored(p, A, Some(1));
        assert_eq!(
            byte(&m, p, q),
            Some(1),
            "a private mapping reads the file until it writes"
        );
        m.stored(p, q, Some(2));
        m.stored(p, A, Some(3));
        assert_eq!(byte(&m, p, q), Some(2), "its own copy since");
        m.madvise(p, q, PAGE, MADV_DONTNEED);
        assert_eq!(
            byte(&m, p, q),
            Some(3),
            "DONTNEED drops the copy: the file again"
        );
    }

    #[test]
    fn mremap_from_a_page_the_shadow_never_saw_predicts_nothing_there() {
        let mut m = RefMem::default();
        let p = m.new_mm();
        m.mmap(p, A, 4 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, None, 0);
        m.munmap(p, A, PAGE);
        // The model's VMA grew back down over A (a stack's fault), then shrank to one page.
        m.mremap(p, A, 4 * PAGE, PAGE, 0, A);
        assert_eq!(m.predict(p, A + PAGE, false), Expect::default());
    }

    #[test]
    fn truncation_makes_the_end_sigbus_and_punching_zeroes() {
        let mut m = RefMem::default();
        let p = m.new_mm();
        let f = m.new_file(false, 4 * PAGE);
        m.mmap(p, A, 4 * PAGE, RW, MAP_SHARED, Some(f), 0);
        m.write_range(p, A, A + 4 * PAGE, Some(0x11));
        m.truncate(f, PAGE + 100);
        assert_eq!(byte(&m, p, A + PAGE + 99), Some(0x11));
        assert_eq!(
            byte(&m, p, A + PAGE + 100),
            Some(0),
            "the tail of the last page is zeroed"
        );
        assert_eq!(
            m.predict(p, A + 2 * PAGE, false).fault,
            Some(Some(Signal::Bus))
        );
        m.fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10, 20);
        assert_eq!(byte(&m, p, A + 9), Some(0x11));
        assert_eq!(byte(&m, p, A + 10), Some(0));
        assert_eq!(byte(&m, p, A + 30), Some(0x11));
    }

    #[test]
    fn mremap_moves_contents_and_free_makes_them_lazy() {
        let mut m = RefMem::default();
        let p = m.new_mm();
        m.mmap(p, A, 2 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, None, 0);
        m.stored(p, A + PAGE + 1, Some(5));
        let new = A + 0x20_0000;
        m.mremap(p, A, 2 * PAGE, 3 * PAGE, MREMAP_MAYMOVE, new);
        assert_eq!(m.predict(p, A, false).fault, Some(Some(Signal::Segv)));
        assert_eq!(byte(&m, p, new + PAGE + 1), Some(5));
        assert_eq!(byte(&m, p, new + 2 * PAGE), Some(0));
        m.madvise(p, new, 2 * PAGE, MADV_FREE);
        let e = m.predict(p, new + PAGE + 1, false);
        assert_eq!(
            (e.byte, e.alt),
            (Some(5), Some(0)),
            "MADV_FREE may or may not drop it"
        );
        assert!(!e.wrong(5) && !e.wrong(0) && e.wrong(6));
    }

    #[test]
    fn a_lazy_page_reads_old_data_or_zero_until_a_load_settles_it() {
        let mut m = RefMem::default();
        let p = m.new_mm();
        m.mmap(p, A, 2 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, None, 0);
        m.write_range(p, A, A + 2 * PAGE, Some(0x11));
        m.madvise(p, A, 2 * PAGE, MADV_FREE);
        // Read back as it was: still lazy (reclaim may yet discard it).
        m.loaded_value(p, A + 3, 0x11);
        assert_eq!(m.predict(p, A + 4, false).alt, Some(0));
        // Read as zero: it was discarded, an ordinary zero page from now on.
        m.loaded_value(p, A + 3, 0);
        let e = m.predict(p, A + 4, false);
        assert_eq!((e.byte, e.alt), (Some(0), None));
        // A write ends the lazy state: the written byte is certain, the rest is one page or
        // the other until a load tells.
        m.stored(p, A + PAGE, Some(0x22));
        let e = m.predict(p, A + PAGE, false);
        assert_eq!((e.byte, e.alt), (Some(0x22), None));
        let e = m.predict(p, A + PAGE + 1, false);
        assert_eq!((e.byte, e.alt), (Some(0x11), Some(0)));
        m.loaded_value(p, A + PAGE + 1, 0x11);
        let e = m.predict(p, A + PAGE + 2, false);
        assert_eq!(
            (e.byte, e.alt),
            (Some(0x11), None),
            "kept, and no longer lazy"
        );
        // fork copies the lazy state; freeing a page written since is forgotten.
        m.madvise(p, A, PAGE, MADV_FREE);
        let c = m.fork_mm(p);
        assert_eq!(m.predict(c, A, false).byte, Some(0));
        m.madvise(p, A + PAGE, PAGE, MADV_FREE);
        let e = m.predict(p, A + PAGE + 2, false);
        assert_eq!((e.byte, e.alt), (Some(0x11), Some(0)), "lazy again");
        m.stored(p, A + PAGE, Some(0x33));
        m.madvise(p, A + PAGE, PAGE, MADV_FREE);
        let e = m.predict(p, A + PAGE, false);
        assert_eq!((e.byte, e.alt), (None, None));
    }

    #[test]
    fn a_write_that_faults_half_way_leaves_the_rest_alone() {
        let mut m = RefMem::default();
        let p = m.new_mm();
        let f = m.new_file(false, PAGE);
        m.mmap(p, A, 2 * PAGE, RW, MAP_PRIVATE, Some(f), 0);
        m.write_until_fault(p, A, A + 2 * PAGE, Some(4));
        assert_eq!(byte(&m, p, A), Some(4));
        assert_eq!(
            m.predict(p, A + PAGE, true).fault,
            Some(Some(Signal::Bus)),
            "past EOF the page was not copied, so it still faults"
        );
    }
}
