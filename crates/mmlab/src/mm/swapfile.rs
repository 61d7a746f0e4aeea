//! mm/swapfile.c and mm/swap_slots.c: swap devices (struct swap_info_struct), their swap_map
//! of per-slot counts, slot allocation (clusters on solid-state devices, the rotational
//! scan, the per-CPU slot caches), swapon/swapoff and /proc/swaps, as in 5.19.
//!
//! The model has no VFS yet: a swap "file" is one of the objects the scenario header declared
//! (`swapfile NAME SIZE`, `swap SIZE`, `swap zram SIZE`), looked up by that name, plus a few
//! absolute paths (`/dev/null`, directories) whose swapon errors are worth showing.

use std::collections::{BTreeMap, VecDeque};

use crate::errno::{Errno, SysResult};
use crate::fs::nfs::NfsSwapFile;
use crate::kernel::Kernel;
use crate::mm::swap_table::{SlotTable, SwapStore};
use crate::pgtable::swp::{SwpEntry, MAX_SWAPFILES};
use crate::sched::Tid;
use std::sync::Arc;

/// SWAP_HAS_CACHE: a swap-cache folio (or one being read in) holds the slot.
pub const SWAP_HAS_CACHE: u8 = 0x40;
/// COUNT_CONTINUED: the count goes on in a continuation.
pub const COUNT_CONTINUED: u8 = 0x80;
/// SWAP_MAP_MAX: the largest count the byte holds by itself.
pub const SWAP_MAP_MAX: u8 = 0x3e;
/// SWAP_MAP_BAD: the header page and bad pages.
pub const SWAP_MAP_BAD: u8 = 0x3f;
/// SWAP_MAP_SHMEM: the slot belongs to a shmem page-cache entry.
pub const SWAP_MAP_SHMEM: u8 = 0xbf;
/// SWAPFILE_CLUSTER with CONFIG_THP_SWAP (HPAGE_PMD_NR).
pub const SWAPFILE_CLUSTER: u64 = 512;
/// SWAP_BATCH = SWAP_SLOTS_CACHE_SIZE: slots a CPU's slot cache takes at a time.
pub const SWAP_BATCH: usize = 64;
/// SWAP_CLUSTER_COLS: clusters per cache line of cluster_info (64 / 8-byte entries).
const SWAP_CLUSTER_COLS: u64 = 8;
/// SWAP_FLAGS_VALID: SWAP_FLAG_PRIO_MASK | PREFER | DISCARD | DISCARD_ONCE | DISCARD_PAGES.
pub const SWAP_FLAGS_VALID: u64 = 0x7fff
    | SWAP_FLAG_PREFER
    | SWAP_FLAG_DISCARD
    | SWAP_FLAG_DISCARD_ONCE
    | SWAP_FLAG_DISCARD_PAGES;
/// SWAP_FLAG_PREFER: the low 15 bits are the priority.
pub const SWAP_FLAG_PREFER: u64 = 0x8000;
/// SWAP_FLAG_DISCARD.
pub const SWAP_FLAG_DISCARD: u64 = 0x10000;
/// SWAP_FLAG_DISCARD_ONCE: discard the area at swapon only.
pub const SWAP_FLAG_DISCARD_ONCE: u64 = 0x20000;
/// SWAP_FLAG_DISCARD_PAGES: discard freed clusters only.
pub const SWAP_FLAG_DISCARD_PAGES: u64 = 0x40000;

bitflags::bitflags! {
    /// swap_info_struct.flags (enum in include/linux/swap.h).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct SwpFlags: u32 {
        const USED = 1 << 0;
        const WRITEOK = 1 << 1;
        const DISCARDABLE = 1 << 2;
        const DISCARDING = 1 << 3;
        const SOLIDSTATE = 1 << 4;
        const CONTINUED = 1 << 5;
        const BLKDEV = 1 << 6;
        const ACTIVATED = 1 << 7;
        const FS_OPS = 1 << 8;
        const AREA_DISCARD = 1 << 9;
        const PAGE_DISCARD = 1 << 10;
        const STABLE_WRITES = 1 << 11;
        const SYNCHRONOUS_IO = 1 << 12;
    }
}

/// How a header-declared swap file was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapFileKind {
    /// Allocated (fallocate) and given a swap header (mkswap).
    Mkswap,
    /// Sparse: a size but no blocks (swapon: "swapfile has holes").
    Holes,
    /// Allocated, no swap header.
    NoSignature,
    /// Zero length.
    Empty,
}

/// What a swapon path names in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SwapObject {
    /// A regular file on the disk (rotational, block I/O).
    File { bytes: u64, kind: SwapFileKind },
    /// A zram block device, mkswap'd.
    Zram { bytes: u64 },
    /// A file on the model's network filesystem (fs/nfs.rs), backed by a host file.
    Nfs { bytes: u64 },
}

/// A free swap cluster list and the per-CPU clusters (swap_cluster_info, percpu_cluster),
/// only on solid-state devices.
#[derive(Clone, Debug)]
struct Clusters {
    /// Slots in use per cluster (cluster_count()).
    count: Vec<u32>,
    /// Clusters allocated whole to a THP (CLUSTER_FLAG_HUGE).
    huge: Vec<bool>,
    /// free_clusters, head first.
    free: VecDeque<u64>,
    /// Each CPU's current cluster and the next offset to try in it.
    percpu: Vec<Option<(u64, u64)>>,
}

/// struct swap_info_struct: one swap device.
#[derive(Clone, Debug)]
pub struct SwapInfo {
    pub name: String,
    pub prio: i32,
    pub flags: SwpFlags,
    /// Slots including the header page.
    pub max: u64,
    /// Usable slots.
    pub pages: u64,
    pub inuse_pages: u64,
    lowest_bit: u64,
    highest_bit: u64,
    cluster_next: u64,
    cluster_nr: u64,
    /// swap_map[]: per slot the count, SWAP_HAS_CACHE, COUNT_CONTINUED.
    pub swap_map: Vec<u8>,
    /// The continuation digit of slots with COUNT_CONTINUED (base SWAP_MAP_MAX + 1).
    cont: BTreeMap<u64, u64>,
    clusters: Option<Clusters>,
    /// The device's contents by slot (what swap_writepage() wrote).
    pub(crate) store: SwapStore,
    /// sis->swap_file where its address_space does the I/O (SWP_FS_OPS): the host file.
    pub(crate) swap_file: Option<Arc<NfsSwapFile>>,
    /// SWP_FS_OPS: the slots whose content a completed write put in the swap file.
    pub(crate) written: SlotTable<u8>,
}

impl SwapInfo {
    /// Host bytes this device's structures take beyond the struct itself (an estimate, see
    /// `SwapState::host_bytes`): swap_map, the continuations, the cluster arrays, the
    /// per-slot store and the name.
    pub fn host_bytes(&self) -> usize {
        use std::mem::size_of;
        let clusters = self.clusters.as_ref().map_or(0, |c| {
            c.count.capacity() * size_of::<u32>()
                + c.huge.capacity() * size_of::<bool>()
                + c.free.capacity() * size_of::<u64>()
                + c.percpu.capacity() * size_of::<Option<(u64, u64)>>()
        });
        self.swap_map.capacity()
            + btree_bytes::<u64, u64>(self.cont.len())
            + clusters
            + self.store.host_bytes()
            + self.name.capacity()
    }

    /// swap_count(): the references of PTEs to a slot (continuations included), or
    /// SWAP_MAP_SHMEM for a slot a shmem page-cache entry owns.
    pub fn swap_count(&self, offset: u64) -> u64 {
        let c = self.swap_map[offset as usize] & !SWAP_HAS_CACHE;
        if c == SWAP_MAP_SHMEM || c == SWAP_MAP_BAD {
            return u64::from(c);
        }
        let low = u64::from(c & !COUNT_CONTINUED);
        low + self.cont.get(&offset).copied().unwrap_or(0) * (u64::from(SWAP_MAP_MAX) + 1)
    }

    /// The offsets holding a count continuation (add_swap_count_continuation()'s pages).
    pub fn continued_offsets(&self) -> impl Iterator<Item = u64> + '_ {
        self.cont.keys().copied()
    }

    /// Does the slot have SWAP_HAS_CACHE?
    pub fn has_cache(&self, offset: u64) -> bool {
        let b = self.swap_map[offset as usize];
        b != SWAP_MAP_BAD && b & SWAP_HAS_CACHE != 0
    }

    /// Is the slot a shmem page-cache entry's?
    pub fn is_shmem(&self, offset: u64) -> bool {
        self.swap_map[offset as usize] & !SWAP_HAS_CACHE == SWAP_MAP_SHMEM
    }

    /// Is the device a solid-state one with clusters (where a THP can go whole)?
    fn is_blkdev_with_clusters(&self) -> bool {
        self.flags.contains(SwpFlags::BLKDEV) && self.clusters.is_some()
    }

    /// Store a count (below the continuation) for a slot, keeping its SWAP_HAS_CACHE.
    fn set_count(&mut self, offset: u64, count: u64, cache: bool) {
        let base = u64::from(SWAP_MAP_MAX) + 1;
        let (low, high) = (count % base, count / base);
        let mut b = low as u8;
        if high > 0 {
            b |= COUNT_CONTINUED;
            self.cont.insert(offset, high);
            self.flags |= SwpFlags::CONTINUED;
        } else {
            self.cont.remove(&offset);
        }
        if cache {
            b |= SWAP_HAS_CACHE;
        }
        self.swap_map[offset as usize] = b;
    }
}

/// The swap devices, the global counters and the per-CPU slot caches.
#[derive(Clone, Debug)]
pub struct SwapState {
    /// swap_info[]: index = swap type.
    pub devices: Vec<Option<SwapInfo>>,
    /// nr_swap_pages: free slots of every WRITEOK device (SwapFree).
    pub nr_swap_pages: i64,
    /// total_swap_pages (SwapTotal).
    pub total_swap_pages: i64,
    /// least_priority: the last automatic priority handed out.
    least_priority: i32,
    /// nr_rotate_swap: rotational devices on (they turn VMA readahead off).
    pub nr_rotate_swap: u32,
    /// The objects swapon paths name (header-declared files and zram devices).
    objects: BTreeMap<String, SwapObject>,
    /// The host files behind the declared network-filesystem swap files.
    nfs_files: BTreeMap<String, Arc<NfsSwapFile>>,
    /// Per CPU: the slot cache (swap_slots_cache.slots) and the return cache (slots_ret).
    slots: Vec<(VecDeque<SwpEntry>, Vec<SwpEntry>)>,
    /// swap_slot_cache_active.
    cache_active: bool,
    /// Round-robin rotation among devices of equal priority (plist_requeue()).
    rr: u64,
    /// The device-order seed for solid-state cluster starts (prandom in swapon).
    seed: u64,
}

impl Default for SwapState {
    fn default() -> Self {
        SwapState {
            devices: Vec::new(),
            nr_swap_pages: 0,
            total_swap_pages: 0,
            // The first automatic priority is -2.
            least_priority: -1,
            nr_rotate_swap: 0,
            objects: BTreeMap::new(),
            nfs_files: BTreeMap::new(),
            slots: Vec::new(),
            cache_active: false,
            rr: 0,
            seed: 0x2545_f491_4f6c_dd1d,
        }
    }
}

/// The result of resolving a swapon/swapoff path.
enum Resolved {
    Object(String, SwapObject),
    Dir,
    CharDev,
}

impl SwapState {
    /// Host bytes the swap devices take (swap_map, continuations, clusters, the per-slot store,
    /// names) with the slot caches and the declared objects, for the memory-per-swapped-page
    /// benchmark. An estimate from capacities and element sizes: a Vec or VecDeque counts
    /// `capacity * size_of::<T>()`, a BTreeMap `btree_bytes` (the allocator's own overhead is
    /// not counted).
    pub fn host_bytes(&self) -> usize {
        use std::mem::size_of;
        let devices = self.devices.capacity() * size_of::<Option<SwapInfo>>()
            + self
                .devices
                .iter()
                .flatten()
                .map(SwapInfo::host_bytes)
                .sum::<usize>();
        let objects = btree_bytes::<String, SwapObject>(self.objects.len())
            + self.objects.keys().map(String::capacity).sum::<usize>();
        let slots = self.slots.capacity() * size_of::<(VecDeque<SwpEntry>, Vec<SwpEntry>)>()
            + self
                .slots
                .iter()
                .map(|(c, r)| (c.capacity() + r.capacity()) * size_of::<SwpEntry>())
                .sum::<usize>();
        devices + objects + slots
    }

    /// The active device of type `typ`.
    pub fn si(&self, typ: u32) -> Option<&SwapInfo> {
        self.devices.get(typ as usize)?.as_ref()
    }

    fn si_mut(&mut self, typ: u32) -> Option<&mut SwapInfo> {
        self.devices.get_mut(typ as usize)?.as_mut()
    }

    /// The device of a swap entry, with the entry's offset.
    pub fn device_of(&self, e: SwpEntry) -> Option<&SwapInfo> {
        self.si(e.typ).filter(|si| e.offset < si.max)
    }

    fn resolve(&self, path: &str) -> SysResult<Resolved> {
        match path {
            "/dev/null" | "/dev/zero" => Ok(Resolved::CharDev),
            "/" | "/tmp" | "/dev" | "/proc" => Ok(Resolved::Dir),
            p => match self.objects.get(p) {
                Some(&o) => Ok(Resolved::Object(p.to_string(), o)),
                None => Err(Errno::ENOENT),
            },
        }
    }
}

/// An estimate of the heap a `BTreeMap<K, V>` of `len` entries takes: std's nodes hold up to
/// 11 entries (keys and values in arrays, a parent pointer, index and length); inserting in
/// ascending order, as slots are mostly allocated, leaves about 6 in each leaf; one internal
/// node (a leaf plus 12 edge pointers) per 6 nodes below it.
pub(crate) fn btree_bytes<K, V>(len: usize) -> usize {
    use std::mem::size_of;
    const CAPACITY: usize = 11;
    const FILL: usize = 6;
    if len == 0 {
        return 0;
    }
    let leaf = CAPACITY * (size_of::<K>() + size_of::<V>()) + size_of::<usize>() + 4;
    let internal = leaf + (CAPACITY + 1) * size_of::<usize>();
    let mut bytes = len.div_ceil(FILL) * leaf;
    let mut nodes = len.div_ceil(FILL);
    while nodes > 1 {
        nodes = nodes.div_ceil(FILL);
        bytes += nodes * internal;
    }
    bytes
}

/// A small deterministic generator standing in for prandom_u32_max() at swapon.
fn next_rand(seed: &mut u64, bound: u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    if bound == 0 {
        0
    } else {
        *seed % bound
    }
}

impl Kernel {
    /// Declare a swap file for swapon (the `swapfile`/`swap` scenario headers).
    pub fn create_swap_file(
        &mut self,
        name: &str,
        bytes: u64,
        kind: SwapFileKind,
    ) -> Result<(), String> {
        self.declare_swap_object(name, SwapObject::File { bytes, kind })
    }

    /// Declare a zram device of `bytes` (disksize), mkswap'd (the `swap zram` header).
    pub fn create_zram(&mut self, name: &str, bytes: u64) -> Result<(), String> {
        self.declare_swap_object(name, SwapObject::Zram { bytes })
    }

    /// Declare a swap file on the model's network filesystem (the `swapfile_fs` header),
    /// backed by a host file of `bytes` at `path` (a temporary one if None), sparse if
    /// `holes`.
    pub fn create_nfs_swap_file(
        &mut self,
        name: &str,
        bytes: u64,
        holes: bool,
        path: Option<&std::path::Path>,
    ) -> Result<(), String> {
        let f = NfsSwapFile::create(path, name, bytes, holes)
            .map_err(|e| format!("swap file `{name}` on the host: {e}"))?;
        self.declare_swap_object(name, SwapObject::Nfs { bytes })?;
        self.swap.nfs_files.insert(name.to_string(), Arc::new(f));
        Ok(())
    }

    fn declare_swap_object(&mut self, name: &str, o: SwapObject) -> Result<(), String> {
        if name.is_empty() || name.starts_with('/') {
            return Err(format!(
                "swap object name `{name}`: a plain name, not a path"
            ));
        }
        if self.swap.objects.insert(name.to_string(), o).is_some() {
            return Err(format!("swap object `{name}` declared twice"));
        }
        Ok(())
    }

    /// swapon(2). Errors in 5.19's order: bad flags EINVAL, no free type EPERM, open errors
    /// (ENOENT, EISDIR), a swap file already active EBUSY, no ->read_folio (a character
    /// device) EINVAL, a missing signature or an empty header EINVAL, holes EINVAL.
    pub fn swapon(&mut self, _tid: Tid, path: &str, flags: u64) -> SysResult<u64> {
        if flags & !SWAP_FLAGS_VALID != 0 {
            return Err(Errno::EINVAL);
        }
        // alloc_swap_info(): the lowest free type.
        let typ = match self.swap.devices.iter().position(Option::is_none) {
            Some(t) => t,
            None if (self.swap.devices.len() as u32) < MAX_SWAPFILES => self.swap.devices.len(),
            None => return Err(Errno::EPERM),
        };
        let (name, obj) = match self.swap.resolve(path)? {
            Resolved::Dir => return Err(Errno::EISDIR),
            Resolved::CharDev => return Err(Errno::EINVAL),
            Resolved::Object(n, o) => (n, o),
        };
        if self.swap.devices.iter().flatten().any(|si| si.name == name) {
            return Err(Errno::EBUSY);
        }
        let bytes = match obj {
            SwapObject::File { bytes, kind } => match kind {
                SwapFileKind::Mkswap => bytes,
                // read_swap_header(): no "SWAPSPACE2" (an empty file reads as zeroes).
                SwapFileKind::NoSignature | SwapFileKind::Empty => return Err(Errno::EINVAL),
                // mkswap writes the header into the hole; iomap_swapfile_activate() then finds
                // the unallocated extents.
                SwapFileKind::Holes => return Err(Errno::EINVAL),
            },
            SwapObject::Zram { bytes } => bytes,
            SwapObject::Nfs { bytes } => bytes,
        };
        // The header's last_page: mkswap gives last_page = size in pages - 1; 0 is an empty
        // swap file, and a file smaller than a page has no signature.
        let max = bytes / crate::hw::PAGE_SIZE;
        if max < 2 {
            return Err(Errno::EINVAL);
        }
        let zram = matches!(obj, SwapObject::Zram { .. });
        let mut si = SwapInfo {
            name,
            prio: 0,
            flags: SwpFlags::USED,
            max,
            pages: max - 1,
            inuse_pages: 0,
            lowest_bit: 1,
            highest_bit: max - 1,
            cluster_next: 1,
            cluster_nr: 0,
            swap_map: vec![0; max as usize],
            cont: BTreeMap::new(),
            clusters: None,
            store: SwapStore::new(self.phys.mode(), max),
            swap_file: None,
            written: SlotTable::new(max),
        };
        si.swap_map[0] = SWAP_MAP_BAD;
        if zram {
            // zram: a block device with rw_page, stable pages, not rotational.
            si.flags |= SwpFlags::BLKDEV
                | SwpFlags::STABLE_WRITES
                | SwpFlags::SYNCHRONOUS_IO
                | SwpFlags::SOLIDSTATE;
            self.swap.seed = self.swap.seed.wrapping_add(0x9e37_79b9_7f4a_7c15) | 1;
            si.cluster_next = 1 + next_rand(&mut self.swap.seed, si.highest_bit);
            si.clusters = Some(self.setup_clusters(&si));
        } else {
            if let SwapObject::Nfs { .. } = obj {
                // setup_swap_extents(): the file's ->swap_activate().
                let file = Arc::clone(&self.swap.nfs_files[&si.name]);
                nfs_swap_activate(&mut si, file)?;
            }
            // A swap file on the rotational disk (NFS has no bdev: rotational too).
            self.swap.nr_rotate_swap += 1;
        }
        if flags & SWAP_FLAG_DISCARD != 0 {
            // Both the model's disk (under a swap file) and zram take discards, as this
            // host's virtio disk and zram do (bdev_max_discard_sectors() != 0): the area and
            // per-cluster discards, DISCARD_ONCE keeping only the first, else DISCARD_PAGES
            // only the second.
            si.flags |= SwpFlags::DISCARDABLE | SwpFlags::AREA_DISCARD | SwpFlags::PAGE_DISCARD;
            if flags & SWAP_FLAG_DISCARD_ONCE != 0 {
                si.flags.remove(SwpFlags::PAGE_DISCARD);
            } else if flags & SWAP_FLAG_DISCARD_PAGES != 0 {
                si.flags.remove(SwpFlags::AREA_DISCARD);
            }
        }
        // setup_swap_info(): PREFER gives the priority, otherwise --least_priority.
        si.prio = if flags & SWAP_FLAG_PREFER != 0 {
            (flags & 0x7fff) as i32
        } else {
            self.swap.least_priority -= 1;
            self.swap.least_priority
        };
        si.flags |= SwpFlags::WRITEOK;
        self.swap.nr_swap_pages += si.pages as i64;
        self.swap.total_swap_pages += si.pages as i64;
        if self.swap.devices.len() <= typ {
            self.swap.devices.resize(typ + 1, None);
        }
        self.swap.devices[typ] = Some(si);
        self.swap_cache.init_type(typ as u32, max);
        self.check_cache_active();
        Ok(0)
    }

    /// setup_clusters(): the cluster counts (the header page is one use of cluster 0) and
    /// free_clusters in 5.19's column-interleaved order, starting at a random column.
    fn setup_clusters(&self, si: &SwapInfo) -> Clusters {
        let nr = si.max.div_ceil(SWAPFILE_CLUSTER);
        let mut count = vec![0u32; nr as usize];
        count[0] = 1;
        // A last partial cluster's missing slots are counted as in use (never free).
        let tail = nr * SWAPFILE_CLUSTER - si.max;
        if tail > 0 {
            count[nr as usize - 1] += tail as u32;
        }
        let col = si.cluster_next % SWAP_CLUSTER_COLS;
        let mut free = VecDeque::new();
        for k in 0..SWAP_CLUSTER_COLS {
            let j = (k + col) % SWAP_CLUSTER_COLS;
            for i in 0..nr.div_ceil(SWAP_CLUSTER_COLS) {
                let idx = i * SWAP_CLUSTER_COLS + j;
                if idx < nr && count[idx as usize] == 0 {
                    free.push_back(idx);
                }
            }
        }
        Clusters {
            count,
            huge: vec![false; nr as usize],
            free,
            percpu: vec![None; self.tlbs.len()],
        }
    }

    /// swapoff(2): EINVAL for a path that is not an active swap device; otherwise every
    /// page comes back (try_to_unuse()) and the device goes. ENOMEM if that fails.
    pub fn swapoff(&mut self, tid: Tid, path: &str) -> SysResult<u64> {
        let name = match self.swap.resolve(path)? {
            Resolved::Object(n, _) => n,
            Resolved::Dir | Resolved::CharDev => return Err(Errno::EINVAL),
        };
        let Some(typ) = self.swap.devices.iter().position(|d| {
            d.as_ref()
                .is_some_and(|si| si.name == name && si.flags.contains(SwpFlags::WRITEOK))
        }) else {
            return Err(Errno::EINVAL);
        };
        let typ = typ as u32;
        // del_from_avail_list(); automatic priorities above it move up by one.
        let (prio, pages) = {
            let si = self.swap.si_mut(typ).expect("found above");
            si.flags.remove(SwpFlags::WRITEOK);
            (si.prio, si.pages)
        };
        if prio < 0 {
            for si in self.swap.devices.iter_mut().flatten() {
                if si.prio < prio {
                    si.prio += 1;
                }
            }
            self.swap.least_priority += 1;
        }
        let free = (pages - self.swap.si(typ).expect("found").inuse_pages) as i64;
        self.swap.nr_swap_pages -= free;
        self.swap.total_swap_pages -= pages as i64;
        // try_to_unuse() waits on each page's lock and writeback: the device's requests in
        // flight complete first.
        self.swap_rw_complete_all(Some(typ));
        // disable_swap_slots_cache_lock(): the caches drain and stay off meanwhile.
        self.drain_swap_slots();
        self.swap.cache_active = false;
        if let Err(e) = self.try_to_unuse(tid, typ) {
            // reinsert_swap_info()
            let si = self.swap.si_mut(typ).expect("still there");
            si.flags |= SwpFlags::WRITEOK;
            let free = (si.pages - si.inuse_pages) as i64;
            self.swap.nr_swap_pages += free;
            self.swap.total_swap_pages += pages as i64;
            self.check_cache_active();
            return Err(e);
        }
        let mut si = self.swap.devices[typ as usize].take().expect("still there");
        destroy_swap_extents(&mut si);
        if !si.flags.contains(SwpFlags::SOLIDSTATE) {
            self.swap.nr_rotate_swap -= 1;
        }
        self.swap_cache.exit_type(typ);
        self.check_cache_active();
        Ok(0)
    }

    /// /proc/swaps (swap_show()).
    pub fn proc_swaps(&self) -> String {
        let mut s = String::from("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
        for si in self.swap.devices.iter().flatten() {
            if !si.flags.contains(SwpFlags::WRITEOK) {
                continue;
            }
            let bytes = si.pages * 4;
            let inuse = si.inuse_pages * 4;
            let len = si.name.len();
            let pad = if len < 40 { 40 - len } else { 1 };
            let kind = if si.flags.contains(SwpFlags::BLKDEV) {
                "partition"
            } else {
                "file\t"
            };
            s += &format!(
                "{}{:>pad$}{}\t{}\t{}{}\t{}{}\n",
                si.name,
                " ",
                kind,
                bytes,
                if bytes < 10_000_000 { "\t" } else { "" },
                inuse,
                if inuse < 10_000_000 { "\t" } else { "" },
                si.prio,
            );
        }
        s
    }

    /// The devices in the order get_swap_pages() tries them: higher priority first; equal
    /// priorities in turn (each attempt requeues the device it tried). An automatic
    /// (negative) priority is 1 on the avail list of the device's own NUMA node only
    /// (setup_swap_info()); the model's devices, a zram disk and a file on a virtio disk as on
    /// this host, have no node (swap_node() is NUMA_NO_NODE), so each keeps -prio there and
    /// automatic areas are used in the order they were swapped on.
    fn swap_avail_order(&mut self) -> Vec<u32> {
        let mut v: Vec<(i32, u32)> = self
            .swap
            .devices
            .iter()
            .enumerate()
            .filter_map(|(t, d)| {
                let si = d.as_ref()?;
                (si.flags.contains(SwpFlags::WRITEOK) && si.inuse_pages < si.pages)
                    .then_some((si.prio, t as u32))
            })
            .collect();
        v.sort_by_key(|&(p, t)| (std::cmp::Reverse(p), t));
        let rr = self.swap.rr;
        self.swap.rr = self.swap.rr.wrapping_add(1);
        // Rotate each group of equal priority by the requeue count.
        let mut out = Vec::with_capacity(v.len());
        let mut i = 0;
        while i < v.len() {
            let j = (i..v.len()).find(|&j| v[j].0 != v[i].0).unwrap_or(v.len());
            let n = j - i;
            for k in 0..n {
                out.push(v[i + (k + rr as usize) % n].1);
            }
            i = j;
        }
        out
    }

    /// get_swap_pages(): up to `n` order-0 slots (each set to SWAP_HAS_CACHE), or one
    /// cluster for a THP (`huge`), which only a block device with clusters can give and
    /// only the first device is asked for.
    pub(crate) fn get_swap_pages(&mut self, n: usize, huge: bool) -> Vec<SwpEntry> {
        let mut got = Vec::new();
        let cpu = self.current_cpu;
        for typ in self.swap_avail_order() {
            let si = self.swap.si_mut(typ).expect("listed");
            if huge {
                if let Some(off) = si
                    .is_blkdev_with_clusters()
                    .then(|| swap_alloc_cluster(si))
                    .flatten()
                {
                    got.push(SwpEntry::new(typ, off));
                    self.swap.nr_swap_pages -= SWAPFILE_CLUSTER as i64;
                }
                return got;
            }
            let before = got.len();
            while got.len() < n {
                let Some(off) = scan_swap_map_slot(si, cpu) else {
                    break;
                };
                got.push(SwpEntry::new(typ, off));
            }
            self.swap.nr_swap_pages -= (got.len() - before) as i64;
            if got.len() == n {
                break;
            }
        }
        got
    }

    /// check_cache_active(): the per-CPU slot caches work while free swap is plentiful.
    fn check_cache_active(&mut self) {
        let cpus = self.tlbs.len() as i64;
        let free = self.swap.nr_swap_pages;
        if self.swap.slots.len() != self.tlbs.len() {
            self.swap.slots = vec![Default::default(); self.tlbs.len()];
        }
        if !self.swap.cache_active {
            if free > cpus * 5 * SWAP_BATCH as i64 {
                self.swap.cache_active = true;
            }
        } else if free < cpus * 2 * SWAP_BATCH as i64 {
            self.swap.cache_active = false;
            self.drain_swap_slots();
        }
    }

    /// drain_slots_cache_cpu() on every CPU: cached slots go back (free_swap_slot's return
    /// cache is flushed too).
    fn drain_swap_slots(&mut self) {
        for cpu in 0..self.swap.slots.len() {
            let (cache, ret) = std::mem::take(&mut self.swap.slots[cpu]);
            let mut v: Vec<SwpEntry> = cache.into_iter().collect();
            self.swapcache_free_entries(&v);
            v = ret;
            self.swapcache_free_entries(&v);
        }
    }

    /// folio_alloc_swap() for one page: from this CPU's slot cache (refilled 64 at a time)
    /// while it is active, else straight from get_swap_pages().
    pub(crate) fn get_swap_page_one(&mut self) -> Option<SwpEntry> {
        self.check_cache_active();
        let cpu = self.current_cpu;
        if self.swap.cache_active {
            if self.swap.slots[cpu].0.is_empty() {
                let got = self.get_swap_pages(SWAP_BATCH, false);
                self.swap.slots[cpu].0.extend(got);
            }
            if let Some(e) = self.swap.slots[cpu].0.pop_front() {
                return Some(e);
            }
        }
        self.get_swap_pages(1, false).pop()
    }

    /// free_swap_slot(): a slot whose count and cache are gone goes to this CPU's return
    /// cache, flushed 64 at a time; straight back with the caches off.
    pub(crate) fn free_swap_slot(&mut self, e: SwpEntry) {
        let cpu = self.current_cpu;
        if self.swap.cache_active && self.swap.slots.len() > cpu {
            self.swap.slots[cpu].1.push(e);
            if self.swap.slots[cpu].1.len() >= SWAP_BATCH {
                let v = std::mem::take(&mut self.swap.slots[cpu].1);
                self.swapcache_free_entries(&v);
            }
        } else {
            self.swapcache_free_entries(&[e]);
        }
    }

    /// swapcache_free_entries(): each slot's map goes to 0 and the device counts it free
    /// (swap_range_free()), its cluster too; the swap cache's shadow for it goes.
    fn swapcache_free_entries(&mut self, v: &[SwpEntry]) {
        for &e in v {
            let Some(si) = self.swap.si_mut(e.typ) else {
                continue;
            };
            if si.swap_map[e.offset as usize] == 0 {
                continue;
            }
            si.swap_map[e.offset as usize] = 0;
            si.cont.remove(&e.offset);
            si.store.discard(e.offset);
            si.written.set(e.offset, 0);
            swap_range_free(si, e.offset, 1);
            if si.flags.contains(SwpFlags::WRITEOK) {
                self.swap.nr_swap_pages += 1;
            }
            self.swap_cache_clear_shadow(e);
            self.mem_cgroup_uncharge_swap(e);
        }
    }

    /// __swap_entry_free() and its callers' count drop: one reference to the slot goes
    /// (swap_free(), or the PTE part of free_swap_and_cache()); the slot itself is freed when
    /// nothing, not even the swap cache, holds it. Returns the slot's map byte afterwards.
    pub(crate) fn swap_entry_put(&mut self, e: SwpEntry) -> u8 {
        let Some(si) = self.swap.si_mut(e.typ) else {
            return 0;
        };
        let off = e.offset;
        let cache = si.has_cache(off);
        if si.is_shmem(off) {
            si.set_count(off, 0, cache);
        } else {
            let count = si.swap_count(off).saturating_sub(1);
            si.set_count(off, count, cache);
        }
        let b = si.swap_map[off as usize];
        if b == 0 {
            // The slot waits in the return cache marked SWAP_HAS_CACHE.
            si.swap_map[off as usize] = SWAP_HAS_CACHE;
            self.free_swap_slot(e);
        }
        b
    }

    /// __swap_duplicate(): one more reference to a slot in use (fork, try_to_unmap()).
    /// EIO-like false for a slot nothing uses (a stale entry).
    pub(crate) fn swap_duplicate(&mut self, e: SwpEntry) -> bool {
        let Some(si) = self.swap.si_mut(e.typ) else {
            return false;
        };
        let off = e.offset;
        let b = si.swap_map[off as usize];
        if b == 0 || b == SWAP_MAP_BAD || si.is_shmem(off) {
            return false;
        }
        let cache = si.has_cache(off);
        let count = si.swap_count(off);
        if count == 0 && !cache {
            return false;
        }
        si.set_count(off, count + 1, cache);
        true
    }

    /// swap_shmem_alloc(): the slot now belongs to a shmem page-cache entry.
    pub(crate) fn swap_shmem_alloc(&mut self, e: SwpEntry) {
        if let Some(si) = self.swap.si_mut(e.typ) {
            let cache = si.has_cache(e.offset);
            si.swap_map[e.offset as usize] =
                SWAP_MAP_SHMEM | if cache { SWAP_HAS_CACHE } else { 0 };
            si.cont.remove(&e.offset);
        }
    }

    /// swapcache_prepare(): take SWAP_HAS_CACHE for a page about to be read in. Err(EEXIST)
    /// if a cache page holds it already, Err(ENOENT) if the slot is unused.
    pub(crate) fn swapcache_prepare(&mut self, e: SwpEntry) -> SysResult<()> {
        let si = self.swap.si_mut(e.typ).ok_or(Errno::ENOENT)?;
        let off = e.offset;
        if off >= si.max {
            return Err(Errno::ENOENT);
        }
        if si.has_cache(off) {
            return Err(Errno::EEXIST);
        }
        let b = si.swap_map[off as usize];
        if b == 0 || b == SWAP_MAP_BAD {
            return Err(Errno::ENOENT);
        }
        si.swap_map[off as usize] |= SWAP_HAS_CACHE;
        Ok(())
    }

    /// put_swap_page() for one slot: SWAP_HAS_CACHE goes; a slot nothing else counts is freed.
    pub(crate) fn put_swap_entry(&mut self, e: SwpEntry) {
        let Some(si) = self.swap.si_mut(e.typ) else {
            return;
        };
        let off = e.offset;
        if !si.has_cache(off) {
            return;
        }
        if si.swap_map[off as usize] & !SWAP_HAS_CACHE == 0 {
            // Still SWAP_HAS_CACHE while it waits in the return cache.
            self.free_swap_slot(e);
        } else {
            si.swap_map[off as usize] &= !SWAP_HAS_CACHE;
        }
    }

    /// __swap_count(): the map count of an entry's slot (0 for no such slot).
    pub(crate) fn swap_count_of(&self, e: SwpEntry) -> u64 {
        self.swap
            .device_of(e)
            .map_or(0, |si| si.swap_count(e.offset))
    }

    /// vm_swap_full(): more than half of the swap space is in use.
    pub(crate) fn vm_swap_full(&self) -> bool {
        self.swap.nr_swap_pages * 2 < self.swap.total_swap_pages
    }

    /// The flags of an entry's device (empty for none).
    pub(crate) fn swap_flags_of(&self, e: SwpEntry) -> SwpFlags {
        self.swap
            .device_of(e)
            .map_or(SwpFlags::empty(), |si| si.flags)
    }

    /// The slots the per-CPU slot and return caches hold (SWAP_HAS_CACHE without a page).
    pub(crate) fn swap_slot_cache_entries(&self) -> std::collections::HashSet<SwpEntry> {
        self.swap
            .slots
            .iter()
            .flat_map(|(cache, ret)| cache.iter().chain(ret).copied())
            .collect()
    }

    /// get_nr_swap_pages() (SwapFree in pages).
    pub fn nr_swap_pages(&self) -> i64 {
        self.swap.nr_swap_pages
    }

    /// total_swap_pages (SwapTotal in pages).
    pub fn total_swap_pages(&self) -> i64 {
        self.swap.total_swap_pages
    }
}

/// scan_swap_map_slots() for one slot with usage SWAP_HAS_CACHE: a solid-state device takes
/// the next free slot of this CPU's cluster (a new free cluster when it is used up); a
/// rotational one moves every SWAPFILE_CLUSTER allocations to the first run of that many free
/// slots, else takes the next free slot after `cluster_next`, wrapping.
fn scan_swap_map_slot(si: &mut SwapInfo, cpu: usize) -> Option<u64> {
    if si.inuse_pages == si.pages {
        return None;
    }
    let off = match si.clusters.as_mut() {
        Some(c) => ssd_cluster_slot(c, &si.swap_map, cpu).or_else(|| linear_scan(si))?,
        None => rotational_slot(si)?,
    };
    si.swap_map[off as usize] = SWAP_HAS_CACHE;
    swap_range_alloc(si, off, 1);
    si.cluster_next = off + 1;
    Some(off)
}

/// scan_swap_map_try_ssd_cluster(): the CPU's cluster, or the head of free_clusters.
fn ssd_cluster_slot(c: &mut Clusters, map: &[u8], cpu: usize) -> Option<u64> {
    loop {
        let (idx, next) = match c.percpu[cpu] {
            Some(p) => p,
            None => {
                let idx = c.free.pop_front()?;
                (idx, idx * SWAPFILE_CLUSTER)
            }
        };
        let end = ((idx + 1) * SWAPFILE_CLUSTER).min(map.len() as u64);
        if let Some(off) = (next..end).find(|&o| map[o as usize] == 0) {
            c.percpu[cpu] = Some((idx, off + 1));
            return Some(off);
        }
        c.percpu[cpu] = None;
    }
}

/// The fall-back scan of a device without a free cluster: the next free slot from
/// cluster_next, wrapping to lowest_bit.
fn linear_scan(si: &SwapInfo) -> Option<u64> {
    let from = si.cluster_next.clamp(si.lowest_bit, si.highest_bit + 1);
    (from..=si.highest_bit)
        .chain(si.lowest_bit..from)
        .find(|&o| si.swap_map[o as usize] == 0)
}

/// The rotational branch of scan_swap_map_slots().
fn rotational_slot(si: &mut SwapInfo) -> Option<u64> {
    if si.cluster_nr == 0 {
        si.cluster_nr = SWAPFILE_CLUSTER - 1;
        if si.pages - si.inuse_pages >= SWAPFILE_CLUSTER {
            // Look for SWAPFILE_CLUSTER free slots in a row from lowest_bit.
            let mut last = si.lowest_bit + SWAPFILE_CLUSTER - 1;
            let mut off = si.lowest_bit;
            while last <= si.highest_bit {
                if si.swap_map[off as usize] != 0 {
                    last = off + SWAPFILE_CLUSTER;
                } else if off == last {
                    si.cluster_next = last + 1 - SWAPFILE_CLUSTER;
                    break;
                }
                off += 1;
            }
        }
    } else {
        si.cluster_nr -= 1;
    }
    linear_scan(si)
}

/// swap_alloc_cluster(): a whole free cluster for a THP, marked huge.
fn swap_alloc_cluster(si: &mut SwapInfo) -> Option<u64> {
    let c = si.clusters.as_mut()?;
    let idx = c.free.pop_front()?;
    c.huge[idx as usize] = true;
    let off = idx * SWAPFILE_CLUSTER;
    for o in off..off + SWAPFILE_CLUSTER {
        si.swap_map[o as usize] = SWAP_HAS_CACHE;
    }
    swap_range_alloc(si, off, SWAPFILE_CLUSTER);
    Some(off)
}

/// swap_range_alloc(): the device's bounds and use count, and the cluster's count.
fn swap_range_alloc(si: &mut SwapInfo, off: u64, n: u64) {
    if off == si.lowest_bit {
        si.lowest_bit += n;
    }
    if off + n - 1 == si.highest_bit {
        si.highest_bit = si.highest_bit.saturating_sub(n);
    }
    si.inuse_pages += n;
    if si.inuse_pages == si.pages {
        si.lowest_bit = si.max;
        si.highest_bit = 0;
    }
    if let Some(c) = si.clusters.as_mut() {
        let idx = (off / SWAPFILE_CLUSTER) as usize;
        if n == 1 {
            c.count[idx] += 1;
        } else {
            c.count[idx] = n as u32;
        }
    }
}

/// nfs_swap_activate(): a file with holes is refused (EINVAL); otherwise one extent covers
/// it and the filesystem keeps the I/O (SWP_FS_OPS), which ->swap_rw() will do.
fn nfs_swap_activate(si: &mut SwapInfo, file: Arc<NfsSwapFile>) -> crate::errno::SysResult<()> {
    if file.has_holes() {
        return Err(Errno::EINVAL);
    }
    si.flags |= SwpFlags::ACTIVATED | SwpFlags::FS_OPS;
    si.swap_file = Some(file);
    Ok(())
}

/// destroy_swap_extents(): an activated file is told it no longer backs swap
/// (->swap_deactivate(), nfs_swap_deactivate()).
fn destroy_swap_extents(si: &mut SwapInfo) {
    if si.flags.contains(SwpFlags::ACTIVATED) {
        si.flags.remove(SwpFlags::ACTIVATED);
        si.swap_file = None;
    }
}

/// swap_range_free(): the slot is free again; a cluster that empties goes back on the free
/// list's tail.
fn swap_range_free(si: &mut SwapInfo, off: u64, n: u64) {
    if off < si.lowest_bit {
        si.lowest_bit = off;
    }
    if off + n - 1 > si.highest_bit || si.highest_bit == 0 {
        si.highest_bit = si.highest_bit.max(off + n - 1);
    }
    si.inuse_pages -= n;
    if let Some(c) = si.clusters.as_mut() {
        let idx = (off / SWAPFILE_CLUSTER) as usize;
        c.count[idx] -= n as u32;
        if c.count[idx] == 0 {
            c.huge[idx] = false;
            for p in c.percpu.iter_mut() {
                if p.is_some_and(|(i, _)| i == idx as u64) {
                    *p = None;
                }
            }
            c.free.push_back(idx as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "MM: handle THP in swap_*page_fs()": a THP that reaches SWP_FS_OPS swap whole is one
    /// bio_vec of thp_size() bytes, written as its 512 pages and counted pswpout += 512 (and
    /// thp_swpout) when the request completes. No 5.19 filesystem gets there (NFS is not
    /// SWP_BLKDEV, so get_swap_pages() never gives it a huge cluster: the fix is latent), so
    /// the device here is given clusters by hand. 5.18 wrote only the first PAGE_SIZE through
    /// ->direct_IO() and counted one pswpout: the other 511 pages were lost, which the
    /// SwapFsContentKept rule catches.
    #[test]
    fn a_whole_thp_on_fs_ops_swap_is_written_and_counted_by_its_pages() {
        use crate::uapi::*;
        const HPAGE: u64 = 2 << 20;
        for profile in crate::Profile::all() {
            let mut k = Kernel::new(crate::Config::new(profile));
            let t = k.spawn_process(0).expect("process");
            k.thp_sysfs_write("enabled", "always").expect("knob");
            k.create_nfs_swap_file("nfs0", 8 << 20, false, None)
                .expect("host file");
            k.swapon(t, "nfs0", 0).expect("swapon");
            let clusters = k.setup_clusters(k.swap.si(0).expect("on"));
            let si = k.swap.si_mut(0).expect("on");
            si.flags |= SwpFlags::BLKDEV | SwpFlags::SOLIDSTATE;
            si.clusters = Some(clusters);
            let rw = PROT_READ | PROT_WRITE;
            let r = k
                .mmap(t, 0, 2 * HPAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                .expect("mmap");
            let h = (r + HPAGE - 1) & !(HPAGE - 1);
            k.memset(t, h, 0x21, HPAGE).expect("fill");
            k.madvise(t, h, HPAGE, MADV_PAGEOUT).expect("pageout");
            assert_eq!(k.vmstat.thp_swpout_fallback, 0, "{profile}: swapped whole");
            let new = profile == crate::Profile::Linux519;
            assert_eq!(k.vmstat.pswpout, if new { 512 } else { 1 }, "{profile}");
            assert_eq!(k.vmstat.thp_swpout, u64::from(new), "{profile}");
            assert_eq!(k.swap_fs_io.pages, if new { 512 } else { 1 }, "{profile}");
            if new {
                k.check_invariants().expect("nothing lost");
                assert_eq!(k.swap_host_byte(t, h + 511 * 4096), Ok(0x21));
                assert_eq!(k.load(t, h + 300 * 4096), Ok(0x21));
            } else {
                let v = k.check_invariants().expect_err("511 pages lost");
                assert!(v.to_string().contains("SwapFsContentKept"), "{v}");
            }
        }
    }

    #[test]
    fn discard_flags_follow_swapons_once_and_pages_rules() {
        let cases = [
            (0, SwpFlags::empty()),
            (
                SWAP_FLAG_DISCARD,
                SwpFlags::AREA_DISCARD | SwpFlags::PAGE_DISCARD,
            ),
            (
                SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_ONCE,
                SwpFlags::AREA_DISCARD,
            ),
            (
                SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_PAGES,
                SwpFlags::PAGE_DISCARD,
            ),
            // ONCE wins when both are given (checked first in 5.19's swapon).
            (
                SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_ONCE | SWAP_FLAG_DISCARD_PAGES,
                SwpFlags::AREA_DISCARD,
            ),
            // Without SWAP_FLAG_DISCARD the sub-flags do nothing.
            (SWAP_FLAG_DISCARD_ONCE, SwpFlags::empty()),
        ];
        for (flags, want) in cases {
            let mut k = Kernel::new(crate::Config::default());
            let t = k.spawn_process(0).unwrap();
            k.create_swap_file("f", 1 << 20, SwapFileKind::Mkswap)
                .unwrap();
            k.swapon(t, "f", flags).unwrap();
            let got =
                k.swap.si(0).unwrap().flags & (SwpFlags::AREA_DISCARD | SwpFlags::PAGE_DISCARD);
            assert_eq!(got, want, "flags {flags:#x}");
            let discardable = k.swap.si(0).unwrap().flags.contains(SwpFlags::DISCARDABLE);
            assert_eq!(
                discardable,
                flags & SWAP_FLAG_DISCARD != 0,
                "flags {flags:#x}"
            );
        }
    }
}
