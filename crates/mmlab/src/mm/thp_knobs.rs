//! /sys/kernel/mm/transparent_hugepage/: the THP and khugepaged knobs, read and written as
//! the 5.19 sysfs handlers do (enabled_store, defrag_store, shmem_enabled_store,
//! single_hugepage_flag_store and the khugepaged attributes), and the registration of
//! huge_memory.c's files in the kernfs registry.

use crate::errno::{Errno, SysResult};
use crate::fs::kernfs::Attr;
use crate::fs::sysfs_input::{kstrtouint, kstrtoul, sysfs_streq};
use crate::kernel::Kernel;

/// `enabled`: when anonymous faults may allocate a huge page.
pub const ENABLED: &[&str] = &["always", "madvise", "never"];
/// `defrag`: how hard an allocation tries (the model never compacts, so it only reads back).
pub const DEFRAG: &[&str] = &["always", "defer", "defer+madvise", "madvise", "never"];
/// `shmem_enabled` for the internal shm mount (memfd, shared anonymous memory).
pub const SHMEM_ENABLED: &[&str] = &["always", "within_size", "advise", "never", "deny", "force"];

/// The knob values (indices into the tables above for the string knobs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThpKnobs {
    pub enabled: usize,
    pub defrag: usize,
    pub shmem_enabled: usize,
    /// SHMEM_SB(shm_mnt)->huge: the internal mount's own setting, which follows
    /// `shmem_enabled` except for `deny` and `force` (those only override it).
    pub shm_mnt_huge: usize,
    /// `use_zero_page`: read faults map the huge zero page.
    pub use_zero_page: bool,
    /// khugepaged/max_ptes_none: empty (or zero-page) PTEs a collapse may fill.
    pub max_ptes_none: u64,
    /// khugepaged/max_ptes_swap: swapped-out PTEs a collapse may read back.
    pub max_ptes_swap: u64,
    /// khugepaged/max_ptes_shared: PTEs of pages mapped more than once a collapse may copy.
    pub max_ptes_shared: u64,
    /// khugepaged/pages_to_scan: the scan budget of one khugepaged pass.
    pub pages_to_scan: u64,
    /// khugepaged/scan_sleep_millisecs: khugepaged's sleep between two passes.
    pub scan_sleep_millisecs: u64,
    /// khugepaged/alloc_sleep_millisecs: khugepaged's sleep after a huge page allocation
    /// failed, before it tries once more.
    pub alloc_sleep_millisecs: u64,
    /// khugepaged/defrag (TRANSPARENT_HUGEPAGE_DEFRAG_KHUGEPAGED_FLAG): khugepaged's
    /// allocations may reclaim and compact (GFP_TRANSHUGE) rather than not (_LIGHT).
    pub khugepaged_defrag: bool,
}

impl Default for ThpKnobs {
    /// CONFIG_TRANSPARENT_HUGEPAGE_MADVISE=y (this host's setting), the khugepaged defaults
    /// set in khugepaged_init() (HPAGE_PMD_NR - 1, HPAGE_PMD_NR / 8, HPAGE_PMD_NR / 2, 8 PMDs)
    /// and khugepaged.c's initial sleeps (10 s between passes, 60 s after a failed allocation);
    /// transparent_hugepage_flags starts with the khugepaged defrag bit set.
    fn default() -> Self {
        ThpKnobs {
            enabled: 1,
            defrag: 3,
            shmem_enabled: 3,
            shm_mnt_huge: 3,
            use_zero_page: true,
            max_ptes_none: 511,
            max_ptes_swap: 64,
            max_ptes_shared: 256,
            pages_to_scan: 4096,
            scan_sleep_millisecs: 10_000,
            alloc_sleep_millisecs: 60_000,
            khugepaged_defrag: true,
        }
    }
}

/// The knob names `write`/`read` accept, relative to /sys/kernel/mm/transparent_hugepage/.
pub const NAMES: &[&str] = &[
    "enabled",
    "defrag",
    "shmem_enabled",
    "use_zero_page",
    "hpage_pmd_size",
    "khugepaged/max_ptes_none",
    "khugepaged/max_ptes_swap",
    "khugepaged/max_ptes_shared",
    "khugepaged/pages_to_scan",
    "khugepaged/scan_sleep_millisecs",
    "khugepaged/alloc_sleep_millisecs",
    "khugepaged/defrag",
];

/// A "[selected]" list as the show handlers print it.
fn show_choice(table: &[&str], cur: usize) -> String {
    table
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i == cur {
                format!("[{s}]")
            } else {
                s.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// sysfs_streq() against each choice of a table.
fn pick(table: &[&str], val: &str) -> SysResult<usize> {
    table
        .iter()
        .position(|s| sysfs_streq(val, s))
        .ok_or(Errno::EINVAL)
}

/// single_hugepage_flag_store(): kstrtoul()'s errno, then 0 or 1.
fn flag(val: &str) -> SysResult<bool> {
    match kstrtoul(val)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Errno::EINVAL),
    }
}

/// The khugepaged max_ptes_* stores: kstrtoul(), at most HPAGE_PMD_NR - 1; every failure
/// is EINVAL.
fn max_ptes(val: &str) -> SysResult<u64> {
    match kstrtoul(val) {
        Ok(n) if n <= 511 => Ok(n),
        _ => Err(Errno::EINVAL),
    }
}

/// The khugepaged millisecond and page-count stores: kstrtouint(); every failure is EINVAL.
fn uint(val: &str) -> SysResult<u64> {
    kstrtouint(val).map(u64::from).map_err(|_| Errno::EINVAL)
}

/// huge_memory.c's hugepage_attr: the files of /sys/kernel/mm/transparent_hugepage/.
pub(crate) static THP_ATTRS: &[Attr] = &[
    Attr::rw("enabled", show_knob, enabled_store),
    Attr::rw("defrag", show_knob, store_knob),
    Attr::rw("use_zero_page", show_knob, store_knob),
    Attr::ro("hpage_pmd_size", show_knob),
    Attr::rw("shmem_enabled", show_knob, store_knob),
];

/// The show handler of a knob of this directory.
fn show_knob(k: &Kernel, a: &Attr) -> String {
    let v = k.thp.knobs.read(a.name).expect("a registered knob");
    format!("{v}\n")
}

/// The store handler of a knob whose store only sets it.
fn store_knob(k: &mut Kernel, a: &Attr, val: &str) -> SysResult<()> {
    k.thp.knobs.write(a.name, val)
}

/// enabled_store(): set the mode, then start_stop_khugepaged().
fn enabled_store(k: &mut Kernel, a: &Attr, val: &str) -> SysResult<()> {
    k.khugepaged_sync_thread();
    k.thp.knobs.write(a.name, val)?;
    k.start_stop_khugepaged();
    Ok(())
}

impl ThpKnobs {
    /// Read a knob as `cat` shows it (without the newline); None for an unknown name.
    pub fn read(&self, name: &str) -> Option<String> {
        Some(match name {
            "enabled" => show_choice(ENABLED, self.enabled),
            "defrag" => show_choice(DEFRAG, self.defrag),
            "shmem_enabled" => show_choice(SHMEM_ENABLED, self.shmem_enabled),
            "use_zero_page" => (self.use_zero_page as u8).to_string(),
            "hpage_pmd_size" => (2u64 << 20).to_string(),
            "khugepaged/max_ptes_none" => self.max_ptes_none.to_string(),
            "khugepaged/max_ptes_swap" => self.max_ptes_swap.to_string(),
            "khugepaged/max_ptes_shared" => self.max_ptes_shared.to_string(),
            "khugepaged/pages_to_scan" => self.pages_to_scan.to_string(),
            "khugepaged/scan_sleep_millisecs" => self.scan_sleep_millisecs.to_string(),
            "khugepaged/alloc_sleep_millisecs" => self.alloc_sleep_millisecs.to_string(),
            "khugepaged/defrag" => (self.khugepaged_defrag as u8).to_string(),
            _ => return None,
        })
    }

    /// Write a knob (`val` as the store handler receives it, a trailing newline allowed):
    /// the handler's errno for a value it refuses, ENOENT for an unknown name, EACCES for
    /// the read-only hpage_pmd_size. Only the value changes: what a store does beyond that
    /// (start_stop_khugepaged(), waking khugepaged) is the registered handler's part.
    pub fn write(&mut self, name: &str, val: &str) -> SysResult<()> {
        match name {
            "enabled" => self.enabled = pick(ENABLED, val)?,
            "defrag" => self.defrag = pick(DEFRAG, val)?,
            "shmem_enabled" => {
                // shmem_enabled_store(): at most 15 bytes.
                if val.len() + 1 > 16 {
                    return Err(Errno::EINVAL);
                }
                self.shmem_enabled = pick(SHMEM_ENABLED, val)?;
                if self.shmem_enabled <= 3 {
                    self.shm_mnt_huge = self.shmem_enabled;
                }
            }
            "use_zero_page" => self.use_zero_page = flag(val)?,
            "hpage_pmd_size" => return Err(Errno::EACCES),
            "khugepaged/max_ptes_none" => self.max_ptes_none = max_ptes(val)?,
            "khugepaged/max_ptes_swap" => self.max_ptes_swap = max_ptes(val)?,
            "khugepaged/max_ptes_shared" => self.max_ptes_shared = max_ptes(val)?,
            "khugepaged/pages_to_scan" => match uint(val)? {
                0 => return Err(Errno::EINVAL),
                n => self.pages_to_scan = n,
            },
            "khugepaged/scan_sleep_millisecs" => self.scan_sleep_millisecs = uint(val)?,
            "khugepaged/alloc_sleep_millisecs" => self.alloc_sleep_millisecs = uint(val)?,
            "khugepaged/defrag" => self.khugepaged_defrag = flag(val)?,
            _ => return Err(Errno::ENOENT),
        }
        Ok(())
    }

    /// `enabled` is "always".
    pub fn always(&self) -> bool {
        self.enabled == 0
    }

    /// `enabled` is "madvise".
    pub fn madvise(&self) -> bool {
        self.enabled == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_read_and_write_like_sysfs() {
        let mut k = ThpKnobs::default();
        assert_eq!(k.read("enabled").unwrap(), "always [madvise] never");
        k.write("enabled", "always\n").unwrap();
        assert_eq!(k.read("enabled").unwrap(), "[always] madvise never");
        assert_eq!(k.write("enabled", "sometimes"), Err(Errno::EINVAL));
        assert_eq!(k.write("enabled", " always"), Err(Errno::EINVAL));
        assert_eq!(
            k.read("defrag").unwrap(),
            "always defer defer+madvise [madvise] never"
        );
        assert_eq!(k.write("use_zero_page", "2"), Err(Errno::EINVAL));
        k.write("use_zero_page", "0").unwrap();
        assert!(!k.use_zero_page);
        assert_eq!(
            k.write("khugepaged/max_ptes_none", "512"),
            Err(Errno::EINVAL)
        );
        k.write("khugepaged/max_ptes_none", "0").unwrap();
        assert_eq!(k.write("khugepaged/pages_to_scan", "0"), Err(Errno::EINVAL));
        assert_eq!(
            k.write("khugepaged/max_ptes_swap", "-1"),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            k.write("khugepaged/pages_to_scan", "4294967296"),
            Err(Errno::EINVAL),
            "pages_to_scan_store() turns kstrtouint()'s ERANGE into EINVAL"
        );
        assert_eq!(
            k.write("use_zero_page", "99999999999999999999"),
            Err(Errno::ERANGE),
            "single_hugepage_flag_store() passes kstrtoul()'s errno on"
        );
        k.write("use_zero_page", "+1\n").unwrap();
        assert!(k.use_zero_page);
        k.write("khugepaged/scan_sleep_millisecs", "0").unwrap();
        assert_eq!(k.read("khugepaged/scan_sleep_millisecs").unwrap(), "0");
        assert_eq!(
            k.write("shmem_enabled", "within_size_too_long"),
            Err(Errno::EINVAL)
        );
        k.write("khugepaged/defrag", "0").unwrap();
        assert_eq!(k.read("khugepaged/defrag").unwrap(), "0");
        assert_eq!(k.write("hpage_pmd_size", "1"), Err(Errno::EACCES));
        assert_eq!(k.write("nope", "1"), Err(Errno::ENOENT));
        assert_eq!(k.read("hpage_pmd_size").unwrap(), "2097152");
    }
}
