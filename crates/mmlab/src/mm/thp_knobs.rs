//! /sys/kernel/mm/transparent_hugepage/: the THP and khugepaged knobs, read and written as
//! the 5.19 sysfs handlers do (enabled_store, defrag_store, shmem_enabled_store,
//! single_hugepage_flag_store and the khugepaged attributes).

use crate::errno::{Errno, SysResult};

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
}

impl Default for ThpKnobs {
    /// CONFIG_TRANSPARENT_HUGEPAGE_MADVISE=y (this host's setting) and the khugepaged defaults
    /// set in khugepaged_init() (HPAGE_PMD_NR - 1, HPAGE_PMD_NR / 8, HPAGE_PMD_NR / 2, 8 PMDs).
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

/// sysfs_streq() against a table: a trailing newline is allowed, nothing else.
fn pick(table: &[&str], val: &str) -> SysResult<usize> {
    let v = val.strip_suffix('\n').unwrap_or(val);
    table.iter().position(|s| *s == v).ok_or(Errno::EINVAL)
}

/// kstrtoul(buf, 10): decimal digits, an optional trailing newline.
fn number(val: &str) -> SysResult<u64> {
    let v = val.strip_suffix('\n').unwrap_or(val);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Errno::EINVAL);
    }
    v.parse().map_err(|_| Errno::ERANGE)
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
            _ => return None,
        })
    }

    /// Write a knob: EINVAL for a value its handler refuses, ENOENT for an unknown name,
    /// EACCES for the read-only hpage_pmd_size.
    pub fn write(&mut self, name: &str, val: &str) -> SysResult<()> {
        let limit = |n: u64| if n > 511 { Err(Errno::EINVAL) } else { Ok(n) };
        match name {
            "enabled" => self.enabled = pick(ENABLED, val)?,
            "defrag" => self.defrag = pick(DEFRAG, val)?,
            "shmem_enabled" => {
                self.shmem_enabled = pick(SHMEM_ENABLED, val)?;
                if self.shmem_enabled <= 3 {
                    self.shm_mnt_huge = self.shmem_enabled;
                }
            }
            "use_zero_page" => {
                self.use_zero_page = match number(val)? {
                    0 => false,
                    1 => true,
                    _ => return Err(Errno::EINVAL),
                }
            }
            "hpage_pmd_size" => return Err(Errno::EACCES),
            "khugepaged/max_ptes_none" => self.max_ptes_none = limit(number(val)?)?,
            "khugepaged/max_ptes_swap" => self.max_ptes_swap = limit(number(val)?)?,
            "khugepaged/max_ptes_shared" => self.max_ptes_shared = limit(number(val)?)?,
            // kstrtouint(): a value past u32 is ERANGE.
            "khugepaged/pages_to_scan" => match number(val)? {
                0 => return Err(Errno::EINVAL),
                n if n > u32::MAX as u64 => return Err(Errno::ERANGE),
                n => self.pages_to_scan = n,
            },
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
        assert_eq!(k.write("hpage_pmd_size", "1"), Err(Errno::EACCES));
        assert_eq!(k.write("nope", "1"), Err(Errno::ENOENT));
        assert_eq!(k.read("hpage_pmd_size").unwrap(), "2097152");
    }
}
