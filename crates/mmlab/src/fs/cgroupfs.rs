//! The cgroup filesystem's files (kernel/cgroup/cgroup.c's cgroup_base_files and
//! mm/memcontrol.c's memory_files and mem_cgroup_legacy_files), served at `/sys/fs/cgroup`
//! (cgroup2) or `/sys/fs/cgroup/memory` (the v1 memory hierarchy) through
//! `Kernel::sysfs_read` / `sysfs_write`: each cgroup directory is resolved against the live
//! hierarchy at the time of the read or write.

use crate::cgroup::{CgroupMode, ROOT_CGROUP};
use crate::config::Profile;
use crate::errno::{Errno, SysResult};
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::memcontrol::{mem, show_pages, swap, MemcgEvent, EVENT_NAMES, ROOT_MEMCG};
use crate::mm::page_counter::{self, memparse_pages, PAGE_COUNTER_MAX};
use crate::page::lru::LruList;
use crate::page::{Folio, PageFlags};

/// The cgroup2 mount point.
pub const CGROUP2_ROOT: &str = "/sys/fs/cgroup";
/// The v1 memory hierarchy's mount point.
pub const CGROUP1_MEMORY_ROOT: &str = "/sys/fs/cgroup/memory";

/// Where a file exists (CFTYPE_NOT_ON_ROOT, CFTYPE_ONLY_ON_ROOT, or a memory file that
/// needs the cgroup's own memcg).
#[derive(Clone, Copy, PartialEq, Eq)]
enum On {
    /// Every cgroup (cgroup core files).
    All,
    /// Every cgroup with its own memcg, the root included.
    Memcg,
    /// Those with their own memcg, not the root.
    NotRoot,
}

/// The cgroup2 files: name, where, mode.
const V2_FILES: &[(&str, On, u16)] = &[
    ("cgroup.procs", On::All, 0o644),
    ("cgroup.controllers", On::All, 0o444),
    ("cgroup.subtree_control", On::All, 0o644),
    ("memory.current", On::NotRoot, 0o444),
    ("memory.min", On::NotRoot, 0o644),
    ("memory.low", On::NotRoot, 0o644),
    ("memory.high", On::NotRoot, 0o644),
    ("memory.max", On::NotRoot, 0o644),
    ("memory.events", On::NotRoot, 0o444),
    ("memory.events.local", On::NotRoot, 0o444),
    ("memory.stat", On::Memcg, 0o444),
    ("memory.oom.group", On::NotRoot, 0o644),
    ("memory.reclaim", On::Memcg, 0o200),
    ("memory.swap.current", On::NotRoot, 0o444),
    ("memory.swap.high", On::NotRoot, 0o644),
    ("memory.swap.max", On::NotRoot, 0o644),
    ("memory.swap.events", On::NotRoot, 0o444),
];

/// The v1 memory hierarchy's files (every cgroup there has a memcg).
const V1_FILES: &[(&str, On, u16)] = &[
    ("cgroup.procs", On::All, 0o644),
    ("memory.usage_in_bytes", On::Memcg, 0o444),
    ("memory.max_usage_in_bytes", On::Memcg, 0o644),
    ("memory.limit_in_bytes", On::Memcg, 0o644),
    ("memory.failcnt", On::Memcg, 0o644),
    ("memory.stat", On::Memcg, 0o444),
    ("memory.use_hierarchy", On::Memcg, 0o644),
    ("memory.swappiness", On::Memcg, 0o644),
    ("memory.oom_control", On::Memcg, 0o644),
    ("memory.memsw.usage_in_bytes", On::Memcg, 0o444),
    ("memory.memsw.max_usage_in_bytes", On::Memcg, 0o644),
    ("memory.memsw.limit_in_bytes", On::Memcg, 0o644),
    ("memory.memsw.failcnt", On::Memcg, 0o644),
];

/// Is `name` a cgroup file name of either hierarchy (for parse-time path checks)?
pub fn is_cgroup_file(name: &str) -> bool {
    V2_FILES.iter().chain(V1_FILES).any(|f| f.0 == name)
}

/// Does a cgroup file read as one number (a counter, not a tunable that may read `max`)?
pub fn reads_as_number(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    matches!(
        name,
        "memory.current"
            | "memory.swap.current"
            | "memory.oom.group"
            | "memory.usage_in_bytes"
            | "memory.max_usage_in_bytes"
            | "memory.limit_in_bytes"
            | "memory.failcnt"
            | "memory.use_hierarchy"
            | "memory.swappiness"
            | "memory.memsw.usage_in_bytes"
            | "memory.memsw.max_usage_in_bytes"
            | "memory.memsw.limit_in_bytes"
            | "memory.memsw.failcnt"
    )
}

/// Does a path lie under a cgroup mount (as the model serves it)?
pub fn is_cgroup_path(path: &str) -> bool {
    path == CGROUP2_ROOT || path.starts_with("/sys/fs/cgroup/")
}

/// What a path under the mount names: a cgroup directory, or a file in one.
enum CgNode {
    Dir,
    File { cg: usize, name: String, mode: u16 },
}

impl Kernel {
    /// The mount point of the hierarchy the memory controller is on.
    fn cgroup_mount_root(&self) -> &'static str {
        match self.cgroup.mount.mode {
            CgroupMode::V2 => CGROUP2_ROOT,
            CgroupMode::V1 => CGROUP1_MEMORY_ROOT,
        }
    }

    /// The files a cgroup's directory lists.
    fn cgroup_files(&self, cg: usize) -> impl Iterator<Item = &'static (&'static str, On, u16)> {
        let own = self.cgroup.cgroups[cg].memcg.is_some();
        let table = match self.cgroup.mount.mode {
            CgroupMode::V2 => V2_FILES,
            CgroupMode::V1 => V1_FILES,
        };
        let old = self.cfg.profile == Profile::Linux518;
        table.iter().filter(move |f| {
            let here = match f.1 {
                On::All => true,
                On::Memcg => own,
                On::NotRoot => own && cg != ROOT_CGROUP,
            };
            // memory.reclaim is new in 5.19.
            here && !(old && f.0 == "memory.reclaim")
        })
    }

    /// Is `name` a file in cgroup `cg` (mkdir of that name is EEXIST)?
    pub(crate) fn cgroup_file_exists(&self, cg: usize, name: &str) -> bool {
        self.cgroup_files(cg).any(|f| f.0 == name)
    }

    /// Path lookup under the mount.
    fn cgroup_lookup_path(&self, path: &str) -> SysResult<CgNode> {
        let rel = path
            .strip_prefix(self.cgroup_mount_root())
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .ok_or(Errno::ENOENT)?;
        if self.cgroup.lookup(rel).is_ok() {
            return Ok(CgNode::Dir);
        }
        let (dir, name) = rel.rsplit_once('/').ok_or(Errno::ENOENT)?;
        let cg = self.cgroup.lookup(dir)?;
        let f = self
            .cgroup_files(cg)
            .find(|f| f.0 == name)
            .ok_or(Errno::ENOENT)?;
        Ok(CgNode::File {
            cg,
            name: name.to_string(),
            mode: f.2,
        })
    }

    /// The cgroup directory a path names (for mkdir, rmdir and attach).
    pub fn cgroup_dir(&self, path: &str) -> SysResult<String> {
        let rel = path
            .strip_prefix(self.cgroup_mount_root())
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .ok_or(Errno::ENOENT)?;
        Ok(rel.to_string())
    }

    /// Read a cgroup file (cgroup_seqfile_show()): a file without a show method (write-only)
    /// is EINVAL.
    pub(crate) fn cgroupfs_read(&self, path: &str) -> SysResult<String> {
        match self.cgroup_lookup_path(path)? {
            CgNode::Dir => Err(Errno::EISDIR),
            CgNode::File { mode, .. } if mode & 0o444 == 0 => Err(Errno::EINVAL),
            CgNode::File { cg, name, .. } => Ok(self.cgroupfs_show(cg, &name)),
        }
    }

    /// Write a cgroup file (cgroup_file_write()): a file without a write method is EINVAL.
    pub(crate) fn cgroupfs_write(&mut self, path: &str, buf: &str) -> SysResult<()> {
        match self.cgroup_lookup_path(path)? {
            CgNode::Dir => Err(Errno::EISDIR),
            CgNode::File { mode, .. } if mode & 0o222 == 0 => Err(Errno::EINVAL),
            CgNode::File { cg, name, .. } => {
                // The writer is no task of the model (the runner writes as a shell would), so
                // an OOM kill a memory.max write causes never takes it for the allocating task.
                let writer = std::mem::replace(&mut self.current, usize::MAX);
                let r = self.cgroupfs_store(cg, &name, buf);
                self.current = writer;
                r
            }
        }
    }

    fn cgroupfs_show(&self, cg: usize, name: &str) -> String {
        let c = &self.cgroup.cgroups[cg];
        let m = self.cgroup.memcg_of(cg);
        let counters = &self.memcg.counters;
        let memcg = &self.memcg.memcgs[m];
        let flat = |keys: &[&str], vals: &[u64]| -> String {
            keys.iter()
                .zip(vals)
                .map(|(k, v)| format!("{k} {v}\n"))
                .collect()
        };
        match name {
            "cgroup.procs" => self
                .cgroup
                .procs(cg)
                .iter()
                .map(|p| format!("{p}\n"))
                .collect(),
            "cgroup.controllers" => {
                let has = cg == ROOT_CGROUP
                    || self.cgroup.cgroups[c.parent.expect("not root")].subtree_memory;
                if has { "memory\n" } else { "\n" }.to_string()
            }
            "cgroup.subtree_control" => {
                if c.subtree_memory { "memory\n" } else { "\n" }.to_string()
            }
            "memory.current" => format!("{}\n", counters[mem(m)].usage * PAGE_SIZE),
            "memory.min" => show_pages(counters[mem(m)].min),
            "memory.low" => show_pages(counters[mem(m)].low),
            "memory.high" => show_pages(counters[mem(m)].high),
            "memory.max" => show_pages(counters[mem(m)].max),
            "memory.events" => flat(&EVENT_NAMES, &memcg.events),
            "memory.events.local" => flat(&EVENT_NAMES, &memcg.events_local),
            "memory.oom.group" => format!("{}\n", u8::from(memcg.oom_group)),
            "memory.swap.current" => format!("{}\n", counters[swap(m)].usage * PAGE_SIZE),
            "memory.swap.high" => show_pages(counters[swap(m)].high),
            "memory.swap.max" => show_pages(counters[swap(m)].max),
            "memory.swap.events" => flat(&["high", "max", "fail"], &memcg.swap_events),
            "memory.stat" if self.cgroup.mount.mode == CgroupMode::V2 => self.memory_stat_v2(m),
            "memory.stat" => self.memory_stat_v1(m),
            "memory.usage_in_bytes" => format!("{}\n", self.mem_cgroup_usage(m, false) * PAGE_SIZE),
            "memory.memsw.usage_in_bytes" => {
                format!("{}\n", self.mem_cgroup_usage(m, true) * PAGE_SIZE)
            }
            "memory.max_usage_in_bytes" => format!("{}\n", counters[mem(m)].watermark * PAGE_SIZE),
            "memory.memsw.max_usage_in_bytes" => {
                format!("{}\n", counters[swap(m)].watermark * PAGE_SIZE)
            }
            "memory.limit_in_bytes" => format!("{}\n", counters[mem(m)].max * PAGE_SIZE),
            "memory.memsw.limit_in_bytes" => format!("{}\n", counters[swap(m)].max * PAGE_SIZE),
            "memory.failcnt" => format!("{}\n", counters[mem(m)].failcnt),
            "memory.memsw.failcnt" => format!("{}\n", counters[swap(m)].failcnt),
            "memory.use_hierarchy" => "1\n".to_string(),
            "memory.swappiness" => format!("{}\n", self.mem_cgroup_swappiness(m)),
            "memory.oom_control" => format!(
                "oom_kill_disable {}\nunder_oom 0\noom_kill {}\n",
                u8::from(memcg.oom_kill_disable),
                memcg.events[MemcgEvent::OomKill as usize]
            ),
            _ => unreachable!("every listed file has a show"),
        }
    }

    fn cgroupfs_store(&mut self, cg: usize, name: &str, buf: &str) -> SysResult<()> {
        let m = self.cgroup.memcg_of(cg);
        let cs = &mut self.memcg.counters;
        match name {
            "cgroup.procs" => {
                let pid: usize = buf.trim().parse().map_err(|_| Errno::EINVAL)?;
                let dir = self.cgroup_path(cg);
                self.cgroup_attach(&dir, pid)
            }
            "cgroup.subtree_control" => self.cgroup_subtree_control_write(cg, buf),
            "memory.min" => {
                let v = memparse_pages(buf, "max")?;
                page_counter::set_protection(cs, mem(m), Some(v), None);
                Ok(())
            }
            "memory.low" => {
                let v = memparse_pages(buf, "max")?;
                page_counter::set_protection(cs, mem(m), None, Some(v));
                Ok(())
            }
            "memory.high" => {
                cs[mem(m)].high = memparse_pages(buf, "max")?;
                self.memory_high_enforce(m);
                Ok(())
            }
            "memory.max" => {
                cs[mem(m)].max = memparse_pages(buf, "max")?;
                self.memory_max_enforce(m);
                Ok(())
            }
            "memory.swap.high" => {
                cs[swap(m)].high = memparse_pages(buf, "max")?;
                Ok(())
            }
            "memory.swap.max" => {
                cs[swap(m)].max = memparse_pages(buf, "max")?;
                Ok(())
            }
            "memory.oom.group" => {
                let v = kstrtoint(buf.trim())?;
                if v != 0 && v != 1 {
                    return Err(Errno::EINVAL);
                }
                self.memcg.memcgs[m].oom_group = v == 1;
                Ok(())
            }
            "memory.reclaim" => {
                let nr = memparse_pages(buf, "")?;
                self.memory_reclaim(m, nr)
            }
            "memory.limit_in_bytes" | "memory.memsw.limit_in_bytes" => {
                let v = memparse_pages(buf, "-1")?;
                if m == ROOT_MEMCG {
                    return Err(Errno::EINVAL);
                }
                self.mem_cgroup_resize_max(m, v, name == "memory.memsw.limit_in_bytes")
            }
            "memory.max_usage_in_bytes" => {
                cs[mem(m)].watermark = cs[mem(m)].usage;
                Ok(())
            }
            "memory.memsw.max_usage_in_bytes" => {
                cs[swap(m)].watermark = cs[swap(m)].usage;
                Ok(())
            }
            "memory.failcnt" => {
                cs[mem(m)].failcnt = 0;
                Ok(())
            }
            "memory.memsw.failcnt" => {
                cs[swap(m)].failcnt = 0;
                Ok(())
            }
            "memory.use_hierarchy" => match kstrtoull(buf.trim())? {
                1 => Ok(()),
                _ => Err(Errno::EINVAL),
            },
            "memory.swappiness" => {
                let v = kstrtoull(buf.trim())?;
                if v > 200 {
                    return Err(Errno::EINVAL);
                }
                if m == ROOT_MEMCG {
                    self.pgdat.swappiness = v;
                } else {
                    self.memcg.memcgs[m].swappiness = v;
                }
                Ok(())
            }
            "memory.oom_control" => {
                let v = kstrtoull(buf.trim())?;
                if m == ROOT_MEMCG || v > 1 {
                    return Err(Errno::EINVAL);
                }
                self.memcg.memcgs[m].oom_kill_disable = v == 1;
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// The path of cgroup `cg` below the mount ("/a/b").
    fn cgroup_path(&self, cg: usize) -> String {
        let mut parts = Vec::new();
        let mut at = cg;
        while let Some(p) = self.cgroup.cgroups[at].parent {
            parts.push(self.cgroup.cgroups[at].name.clone());
            at = p;
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    /// mem_cgroup_resize_max() (v1 limit_in_bytes / memsw.limit_in_bytes): memory.max may
    /// not pass memsw.max (EINVAL); above the usage, reclaim a page at a time, EBUSY once a
    /// pass frees nothing.
    fn mem_cgroup_resize_max(&mut self, m: usize, max: u64, memsw: bool) -> SysResult<()> {
        let mut drained = false;
        loop {
            let cs = &mut self.memcg.counters;
            let invariant = if memsw {
                max >= cs[mem(m)].max
            } else {
                max <= cs[swap(m)].max
            };
            if !invariant {
                return Err(Errno::EINVAL);
            }
            let c = if memsw { swap(m) } else { mem(m) };
            if page_counter::set_max(cs, c, max).is_ok() {
                return Ok(());
            }
            if !drained {
                self.drain_all_stock(m);
                drained = true;
                continue;
            }
            let g = crate::page::Gfp::KERNEL;
            if self.try_to_free_mem_cgroup_pages(m, 1, g, !memsw) == 0 {
                return Err(Errno::EBUSY);
            }
        }
    }

    /// mem_cgroup_usage(): the counter, or for the root the page statistics.
    fn mem_cgroup_usage(&self, m: usize, memsw: bool) -> u64 {
        if m != ROOT_MEMCG {
            return self.memcg.counters[if memsw { swap(m) } else { mem(m) }].usage;
        }
        let s = self.memcg_page_stat(ROOT_MEMCG);
        s.file + s.anon
    }

    /// The page statistics of a memcg's subtree, counted from the folios charged there.
    fn memcg_page_stat(&self, m: usize) -> PageStat {
        let mut s = PageStat::default();
        for pfn in self.pages.pfns() {
            if self.pages.is_free(pfn) || self.pages.compound_head(pfn) != pfn {
                continue;
            }
            let f = Folio(pfn);
            let Some(owner) = self.folio_memcg(f) else {
                continue;
            };
            if !self.memcg.is_descendant(owner, m) {
                continue;
            }
            let nr = self.pages.folio_nr_pages(f);
            let large = self.pages.folio_test_large(f);
            let mapped = self.pages.folio_mapcount(f) > 0;
            use crate::page::folio::FolioKind as K;
            match self.pages.folio_kind(f) {
                K::Anon | K::AnonThp => {
                    if mapped {
                        s.anon += nr;
                        s.anon_thp += if large { nr } else { 0 };
                    }
                }
                K::File | K::FileThp => {
                    s.file += nr;
                    if mapped {
                        s.file_mapped += nr;
                    }
                    if self.pages.folio_test(f, PageFlags::SWAPBACKED) {
                        s.shmem += nr;
                        s.shmem_thp += if large { nr } else { 0 };
                    } else {
                        s.file_thp += if large { nr } else { 0 };
                    }
                }
                K::PageTable => s.pagetables += nr,
                K::Hugetlb | K::Other => {}
            }
        }
        s
    }

    /// memory_stat_format(): the cgroup2 keys the model keeps, hierarchical.
    fn memory_stat_v2(&self, m: usize) -> String {
        let s = self.memcg_page_stat(m);
        let events = self.memcg_subtree_stat(m);
        let mut out = String::new();
        for (k, v) in [
            ("anon", s.anon),
            ("file", s.file),
            ("kernel", s.pagetables),
            ("pagetables", s.pagetables),
            ("shmem", s.shmem),
            ("file_mapped", s.file_mapped),
            ("anon_thp", s.anon_thp),
            ("file_thp", s.file_thp),
            ("shmem_thp", s.shmem_thp),
        ] {
            out += &format!("{k} {}\n", v * PAGE_SIZE);
        }
        for lru in LruList::ALL {
            let k = lru.vmstat_name().trim_start_matches("nr_");
            out += &format!("{k} {}\n", self.mem_cgroup_lru_pages(m, lru) * PAGE_SIZE);
        }
        for (k, v) in [
            ("pgrefill", events[2]),
            ("pgscan", events[0]),
            ("pgsteal", events[1]),
        ] {
            out += &format!("{k} {v}\n");
        }
        out
    }

    /// memcg1_stat_show(): the v1 keys the model keeps, local then `total_` (hierarchical),
    /// in pages' bytes.
    fn memory_stat_v1(&self, m: usize) -> String {
        let local_lru = |lru| self.lru.lruvec.memcg(m).nr_pages(lru);
        let s = self.memcg_page_stat(m);
        let keys = |s: &PageStat, lru: &dyn Fn(LruList) -> u64| {
            vec![
                ("cache", s.file),
                ("rss", s.anon),
                ("rss_huge", s.anon_thp),
                ("shmem", s.shmem),
                ("mapped_file", s.file_mapped),
                ("inactive_anon", lru(LruList::InactiveAnon)),
                ("active_anon", lru(LruList::ActiveAnon)),
                ("inactive_file", lru(LruList::InactiveFile)),
                ("active_file", lru(LruList::ActiveFile)),
                ("unevictable", lru(LruList::Unevictable)),
            ]
        };
        let own = self.memcg_own_page_stat(m);
        let mut out = String::new();
        for (k, v) in keys(&own, &local_lru) {
            out += &format!("{k} {}\n", v * PAGE_SIZE);
        }
        let (mut lim, mut swlim) = (PAGE_COUNTER_MAX, PAGE_COUNTER_MAX);
        let mut at = Some(m);
        while let Some(c) = at {
            lim = lim.min(self.memcg.counters[mem(c)].max);
            swlim = swlim.min(self.memcg.counters[swap(c)].max);
            at = self.memcg.parent(c);
        }
        out += &format!("hierarchical_memory_limit {}\n", lim * PAGE_SIZE);
        out += &format!("hierarchical_memsw_limit {}\n", swlim * PAGE_SIZE);
        let total_lru = |lru| self.mem_cgroup_lru_pages(m, lru);
        for (k, v) in keys(&s, &total_lru) {
            out += &format!("total_{k} {}\n", v * PAGE_SIZE);
        }
        out
    }

    /// The page statistics of the memcg alone (v1's local keys): the subtree's less its
    /// children's subtrees.
    fn memcg_own_page_stat(&self, m: usize) -> PageStat {
        let mut s = self.memcg_page_stat(m);
        for c in (0..self.memcg.memcgs.len()).filter(|&c| self.memcg.parent(c) == Some(m)) {
            s.subtract(&self.memcg_page_stat(c));
        }
        s
    }

    /// pgscan, pgsteal and pgrefill summed over a memcg's subtree.
    fn memcg_subtree_stat(&self, m: usize) -> [u64; 3] {
        let mut t = [0; 3];
        for c in self.mem_cgroup_iter(m) {
            for (i, v) in self.memcg.memcgs[c].stat.iter().enumerate() {
                t[i] += v;
            }
        }
        t
    }
}

/// Page counts by kind, for memory.stat.
#[derive(Default)]
struct PageStat {
    anon: u64,
    anon_thp: u64,
    file: u64,
    file_mapped: u64,
    file_thp: u64,
    shmem: u64,
    shmem_thp: u64,
    pagetables: u64,
}

impl PageStat {
    fn subtract(&mut self, o: &PageStat) {
        self.anon -= o.anon;
        self.anon_thp -= o.anon_thp;
        self.file -= o.file;
        self.file_mapped -= o.file_mapped;
        self.file_thp -= o.file_thp;
        self.shmem -= o.shmem;
        self.shmem_thp -= o.shmem_thp;
        self.pagetables -= o.pagetables;
    }
}

/// kstrtoull(s, 0): a whole unsigned number in any base; ERANGE past 64 bits.
fn kstrtoull(s: &str) -> SysResult<u64> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(Errno::EINVAL);
    }
    u64::from_str_radix(digits, radix).map_err(|_| Errno::ERANGE)
}

/// kstrtoint(s, 0): a signed int in any base; ERANGE outside 32 bits.
fn kstrtoint(s: &str) -> SysResult<i64> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = kstrtoull(rest)?;
    let v = if neg { -(v as i128) } else { v as i128 };
    if v < i32::MIN as i128 || v > i32::MAX as i128 {
        return Err(Errno::ERANGE);
    }
    Ok(v as i64)
}
