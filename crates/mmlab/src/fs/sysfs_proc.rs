//! The procfs files served through the kernfs registry: /proc/meminfo (fs/proc/meminfo.c)
//! and /proc/vmstat (mm/vmstat.c), read-only, generated from the model's counters. Each
//! prints the lines Linux prints, in Linux's order and format, for what the model keeps; a
//! line for something the model does not keep (buffers, slab, swap ...) is left out rather
//! than shown as a made-up zero.

use crate::fs::kernfs::Attr;
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::vmstat::VmStat;

/// The files of /proc.
pub(crate) static PROC_ATTRS: &[Attr] = &[
    Attr::ro("meminfo", meminfo_proc_show),
    Attr::ro("vmstat", vmstat_show),
];

/// How a /proc/meminfo line prints its value.
#[derive(Clone, Copy)]
enum Line {
    /// show_val_kb(): a field kept by `Kernel::meminfo`, in kB.
    Kb(&'static str),
    /// show_val_kb() of a sum of LRU list sizes (vmstat names), in pages.
    Lru(&'static str, &'static [&'static str]),
    /// hugetlb_report_meminfo()'s "%5lu" counts.
    Count(&'static str),
}

/// meminfo_proc_show() and hugetlb_report_meminfo(), the lines the model keeps.
const MEMINFO: &[Line] = &[
    Line::Kb("MemTotal"),
    Line::Kb("MemFree"),
    Line::Lru("Active", &["nr_active_anon", "nr_active_file"]),
    Line::Lru("Inactive", &["nr_inactive_anon", "nr_inactive_file"]),
    Line::Lru("Active(anon)", &["nr_active_anon"]),
    Line::Lru("Inactive(anon)", &["nr_inactive_anon"]),
    Line::Lru("Active(file)", &["nr_active_file"]),
    Line::Lru("Inactive(file)", &["nr_inactive_file"]),
    Line::Lru("Unevictable", &["nr_unevictable"]),
    Line::Kb("Mlocked"),
    Line::Kb("AnonPages"),
    Line::Kb("Shmem"),
    Line::Kb("AnonHugePages"),
    Line::Kb("ShmemHugePages"),
    Line::Kb("ShmemPmdMapped"),
    Line::Count("HugePages_Total"),
    Line::Count("HugePages_Free"),
    Line::Count("HugePages_Rsvd"),
    Line::Count("HugePages_Surp"),
    Line::Kb("Hugepagesize"),
    Line::Kb("Hugetlb"),
];

/// meminfo_proc_show(): "Name:" padded to 16 columns, the value in 8 and " kB"; the
/// HugePages_* counts in 5 columns after the name padded to 19.
fn meminfo_proc_show(k: &Kernel, _: &Attr) -> String {
    let field = |name: &str| k.meminfo(name).expect("a field the model keeps");
    let mut out = String::new();
    for &line in MEMINFO {
        let (name, text) = match line {
            Line::Kb(name) => (name, format!("{:>8} kB", field(name))),
            Line::Lru(name, lists) => {
                let pages: u64 = lists
                    .iter()
                    .map(|l| k.counter(l).expect("an LRU list"))
                    .sum();
                (name, format!("{:>8} kB", pages * (PAGE_SIZE >> 10)))
            }
            Line::Count(name) => (name, format!("   {:>5}", field(name))),
        };
        out += &format!("{:<16}{text}\n", format!("{name}:"));
    }
    out
}

/// vmstat_show(): "name value" per counter, in vmstat_text order.
fn vmstat_show(k: &Kernel, _: &Attr) -> String {
    VmStat::LINUX_NAMES
        .iter()
        .map(|n| format!("{n} {}\n", k.counter(n).expect("a counter the model keeps")))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::{Config, Kernel};

    #[test]
    fn meminfo_prints_linux_lines() {
        let mut k = Kernel::new(Config::default());
        k.set_nr_hugepages(3);
        let m = k.sysfs_read("/proc/meminfo").unwrap();
        let total = k.meminfo("MemTotal").unwrap();
        assert!(
            m.starts_with(&format!("MemTotal:       {total:>8} kB\n")),
            "{m}"
        );
        assert!(m.contains("\nHugePages_Total:       3\n"), "{m}");
        assert!(m.contains("\nHugePages_Free:        3\n"), "{m}");
        assert!(m.contains("\nHugepagesize:       2048 kB\n"), "{m}");
        assert!(m.contains("\nHugetlb:            6144 kB\n"), "{m}");
        assert!(m.contains("\nInactive(anon):        0 kB\n"), "{m}");
        assert!(m.lines().all(|l| l.len() >= 24), "{m}");
    }

    #[test]
    fn vmstat_lists_every_linux_counter_once() {
        let k = Kernel::new(Config::default());
        let v = k.sysfs_read("/proc/vmstat").unwrap();
        let names: Vec<&str> = v.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(names, crate::vmstat::VmStat::LINUX_NAMES);
        assert_eq!(
            names[0], "nr_free_pages",
            "vmstat_text order: zone items first"
        );
        let free = k.counter("nr_free_pages").unwrap();
        assert!(v.starts_with(&format!("nr_free_pages {free}\n")));
    }
}
