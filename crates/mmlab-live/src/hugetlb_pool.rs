//! The host's 2 MiB hugetlb pool: its size knobs and its HugePages_* counts, for the live
//! backend and the benchmarks. Pages other users hold or have reserved (a reservation Linux
//! leaked included) stay theirs: both size the pool on top of them.

use crate::host_state;
use crate::hostlock::HostLock;

/// The 2 MiB pool's size knob.
pub const NR_HUGEPAGES: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
/// Surplus pages the kernel may add to the 2 MiB pool on demand.
pub const NR_OVERCOMMIT_HUGEPAGES: &str =
    "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_overcommit_hugepages";

pub fn read_u64(path: &str) -> Result<u64, String> {
    let s = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    s.trim()
        .parse()
        .map_err(|_| format!("{path}: not a number: {:?}", s.trim()))
}

/// Size the 2 MiB pool at `pages` through the host journal, which gives the host its own size
/// back (`restore`).
pub fn write_nr_hugepages(turn: &HostLock, pages: u64) -> Result<(), String> {
    let before = read_u64(NR_HUGEPAGES)?;
    host_state::write(
        turn,
        NR_HUGEPAGES,
        &format!("{before}\n"),
        &format!("{pages}\n"),
    )
    .map_err(|e| format!("writing {pages} to {NR_HUGEPAGES}: {e}"))
}

/// Give the host back the pool size it had before this process changed it.
pub fn restore() {
    host_state::restore(|path| path == NR_HUGEPAGES);
}

/// /proc/meminfo's view of the default-size hugetlb pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolCounts {
    pub size_kb: u64,
    pub total: u64,
    pub free: u64,
    pub rsvd: u64,
}

impl PoolCounts {
    /// Parse /proc/meminfo text.
    pub fn parse(s: &str) -> Option<PoolCounts> {
        let field = |name: &str| {
            s.lines().find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| *k == name)
                    .and_then(|(_, v)| v.split_whitespace().next()?.parse::<u64>().ok())
            })
        };
        Some(PoolCounts {
            size_kb: field("Hugepagesize")?,
            total: field("HugePages_Total")?,
            free: field("HugePages_Free")?,
            rsvd: field("HugePages_Rsvd")?,
        })
    }

    pub fn read() -> Result<PoolCounts, String> {
        let s =
            std::fs::read_to_string("/proc/meminfo").map_err(|e| format!("/proc/meminfo: {e}"))?;
        PoolCounts::parse(&s).ok_or_else(|| {
            "/proc/meminfo has no Hugepagesize/HugePages_{Total,Free,Rsvd}".to_string()
        })
    }

    /// What the pool's other users have: pages in use and free pages reserved.
    pub fn held(&self) -> Held {
        Held {
            used: self.total.saturating_sub(self.free),
            rsvd: self.rsvd,
        }
    }
}

/// Pages of the pool that belong to someone else: a pool of `n + used + rsvd` pages offers
/// exactly `n` to a newcomer, as an empty pool of `n` would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    pub used: u64,
    pub rsvd: u64,
}

impl Held {
    pub fn pages(&self) -> u64 {
        self.used + self.rsvd
    }
}

/// The pool sized to give the caller `pages` of its own for as long as this lives.
pub struct HugePool(());

impl HugePool {
    pub fn size(turn: &HostLock, pages: u64) -> Result<HugePool, String> {
        let want = pages + PoolCounts::read()?.held().pages();
        write_nr_hugepages(turn, want).map_err(|e| format!("{e} (needs root)"))?;
        let pool = HugePool(());
        if read_u64(NR_HUGEPAGES)? < want {
            return Err(format!("the host could not make {pages} huge pages"));
        }
        Ok(pool)
    }
}

impl Drop for HugePool {
    fn drop(&mut self) {
        restore();
    }
}

#[cfg(test)]
mod tests {
    use super::{Held, PoolCounts};

    #[test]
    fn meminfo_fields_and_held_pages() {
        let s = "MemTotal:       24683848 kB\nHugePages_Total:       4\nHugePages_Free:        3\n\
                 HugePages_Rsvd:        1\nHugePages_Surp:        0\nHugepagesize:       2048 kB\n";
        let c = PoolCounts::parse(s).unwrap();
        assert_eq!(
            c,
            PoolCounts {
                size_kb: 2048,
                total: 4,
                free: 3,
                rsvd: 1
            }
        );
        assert_eq!(c.held(), Held { used: 1, rsvd: 1 });
        assert_eq!(c.held().pages(), 2);
        assert_eq!(PoolCounts::parse("MemTotal: 1 kB\n"), None);
    }
}
