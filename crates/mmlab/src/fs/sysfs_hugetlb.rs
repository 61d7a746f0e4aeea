//! The 2 MiB hstate's files: mm/hugetlb.c's hstate_attrs under
//! /sys/kernel/mm/hugepages/hugepages-2048kB/, its vm.nr_hugepages and
//! vm.nr_overcommit_hugepages sysctls, and each node's per_node_hstate_attrs under
//! /sys/devices/system/node/nodeN/hugepages/hugepages-2048kB/.

use crate::errno::{Errno, SysResult};
use crate::fs::kernfs::Attr;
use crate::fs::sysfs_input::{kstrtoul, proc_doulongvec};
use crate::kernel::Kernel;

/// hstate_attrs for the 2 MiB hstate (nr_hugepages_mempolicy and demote are not modelled).
pub(crate) static HSTATE_ATTRS: &[Attr] = &[
    // nr_hugepages_show_common(): h->nr_huge_pages, surplus pages included.
    Attr::rw(
        "nr_hugepages",
        |k, _| format!("{}\n", k.hstate.nr_huge_pages),
        nr_hugepages_store,
    ),
    Attr::rw(
        "nr_overcommit_hugepages",
        show_overcommit,
        nr_overcommit_hugepages_store,
    ),
    Attr::ro("free_hugepages", |k, _| {
        format!("{}\n", k.hstate.free.len())
    }),
    Attr::ro("resv_hugepages", |k, _| {
        format!("{}\n", k.hstate.resv_huge_pages)
    }),
    Attr::ro("surplus_hugepages", |k, _| {
        format!("{}\n", k.hstate.surplus_huge_pages)
    }),
];

/// The hugetlb entries of vm_table (kernel/sysctl.c) under /proc/sys/vm.
pub(crate) static VM_SYSCTLS: &[Attr] = &[
    // hugetlb_sysctl_handler(): h->max_huge_pages, which set_max_huge_pages() leaves at
    // persistent_huge_pages() (surplus pages excluded).
    Attr::rw(
        "nr_hugepages",
        |k, _| format!("{}\n", k.hstate.persistent()),
        nr_hugepages_sysctl,
    ),
    Attr::rw(
        "nr_overcommit_hugepages",
        show_overcommit,
        nr_overcommit_sysctl,
    ),
];

/// nr_overcommit_hugepages_show() and the sysctl's read: h->nr_overcommit_huge_pages.
fn show_overcommit(k: &Kernel, _: &Attr) -> String {
    format!("{}\n", k.hstate.nr_overcommit_huge_pages)
}

/// nr_hugepages_store(): kstrtoul()'s errno, then set_max_huge_pages(), which succeeds even
/// when it cannot allocate every page asked for.
fn nr_hugepages_store(k: &mut Kernel, _: &Attr, val: &str) -> SysResult<()> {
    let n = kstrtoul(val)?;
    k.set_nr_hugepages(n);
    Ok(())
}

/// nr_overcommit_hugepages_store(): kstrtoul()'s errno, then the new limit.
fn nr_overcommit_hugepages_store(k: &mut Kernel, _: &Attr, val: &str) -> SysResult<()> {
    k.set_nr_overcommit_hugepages(kstrtoul(val)?);
    Ok(())
}

/// hugetlb_overcommit_handler() writing: proc_doulongvec_minmax()'s parse, then the limit.
fn nr_overcommit_sysctl(k: &mut Kernel, _: &Attr, val: &str) -> SysResult<()> {
    k.set_nr_overcommit_hugepages(proc_doulongvec(val)?);
    Ok(())
}

/// hugetlb_sysctl_handler() writing: proc_doulongvec_minmax()'s parse, then
/// set_max_huge_pages() as the sysfs file does.
fn nr_hugepages_sysctl(k: &mut Kernel, _: &Attr, val: &str) -> SysResult<()> {
    let n = proc_doulongvec(val)?;
    k.set_nr_hugepages(n);
    Ok(())
}

/// Where a node's hstate directory sits around its node number.
const NODE_DIR: (&str, &str) = (
    "/sys/devices/system/node/node",
    "/hugepages/hugepages-2048kB",
);

/// per_node_hstate_attrs: the files of a node's hstate directory.
const NODE_FILES: [&str; 3] = ["nr_hugepages", "free_hugepages", "surplus_hugepages"];

/// The node and file a per-node hstate path names, whatever nodes the machine has.
fn node_file(path: &str) -> Option<(usize, &'static str)> {
    let (num, rest) = path.strip_prefix(NODE_DIR.0)?.split_once('/')?;
    let nid: usize = num
        .parse()
        .ok()
        .filter(|n: &usize| *n < 64 && n.to_string() == num)?;
    let name = rest.strip_prefix(&NODE_DIR.1[1..])?.strip_prefix('/')?;
    NODE_FILES.iter().find(|&&f| f == name).map(|&f| (nid, f))
}

/// Is `path` a per-node hstate file (of some node: which nodes exist is the machine's)?
pub fn is_node_file(path: &str) -> bool {
    node_file(path).is_some()
}

impl Kernel {
    /// A read of a per-node hstate file (nr_hugepages_show() and friends with the node's
    /// counters), or None if `path` is not one; ENOENT for a node the machine does not have.
    pub(crate) fn node_hstate_read(&self, path: &str) -> Option<SysResult<String>> {
        let (nid, name) = node_file(path)?;
        if nid >= self.pages.nr_nodes() {
            return Some(Err(Errno::ENOENT));
        }
        let v = match name {
            "nr_hugepages" => self.hstate.nr_node(nid),
            "free_hugepages" => self.free_huge_pages_node(nid),
            _ => self.hstate.surplus_node(nid),
        };
        Some(Ok(format!("{v}\n")))
    }

    /// A write of a per-node hstate file, or None if `path` is not one: nr_hugepages sets the
    /// node's pool (__nr_hugepages_store_common() with the node); the others are read-only
    /// (EACCES); ENOENT for a node the machine does not have.
    pub(crate) fn node_hstate_write(&mut self, path: &str, val: &str) -> Option<SysResult<()>> {
        let (nid, name) = node_file(path)?;
        Some(if nid >= self.pages.nr_nodes() {
            Err(Errno::ENOENT)
        } else if name != "nr_hugepages" {
            Err(Errno::EACCES)
        } else {
            kstrtoul(val).map(|n| {
                self.set_nr_hugepages_node(nid, n);
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::errno::Errno;
    use crate::{Config, Kernel};

    const DIR: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB";

    #[test]
    fn the_pool_is_sized_and_read_through_sysfs_and_sysctl() {
        let mut k = Kernel::new(Config::default());
        let nr = format!("{DIR}/nr_hugepages");
        k.sysfs_write(&nr, "4").unwrap();
        assert_eq!(k.sysfs_read(&nr).unwrap(), "4\n");
        assert_eq!(
            k.sysfs_read(&format!("{DIR}/free_hugepages")).unwrap(),
            "4\n"
        );
        assert_eq!(k.sysfs_read("/proc/sys/vm/nr_hugepages").unwrap(), "4\n");
        assert_eq!(k.sysfs_write(&nr, "-1"), Err(Errno::EINVAL));
        assert_eq!(k.sysfs_write(&nr, "0x2"), Err(Errno::EINVAL));
        assert_eq!(
            k.sysfs_write(&nr, "99999999999999999999"),
            Err(Errno::ERANGE)
        );
        k.sysfs_write("/proc/sys/vm/nr_hugepages", "0x2").unwrap();
        assert_eq!(k.sysfs_read(&nr).unwrap(), "2\n");
        assert_eq!(
            k.sysfs_write("/proc/sys/vm/nr_hugepages", "-1"),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            k.sysfs_write("/proc/sys/vm/nr_hugepages", "2x"),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            k.sysfs_read(&nr).unwrap(),
            "2\n",
            "a refused write changes nothing"
        );
        let oc = format!("{DIR}/nr_overcommit_hugepages");
        k.sysfs_write(&oc, "3").unwrap();
        assert_eq!(k.sysfs_read(&oc).unwrap(), "3\n");
        k.sysfs_write("/proc/sys/vm/nr_overcommit_hugepages", " 5")
            .unwrap();
        assert_eq!(k.sysfs_read(&oc).unwrap(), "5\n");
        assert_eq!(
            k.sysfs_read(&format!("{DIR}/resv_hugepages")).unwrap(),
            "0\n"
        );
        assert_eq!(
            k.sysfs_read(&format!("{DIR}/surplus_hugepages")).unwrap(),
            "0\n"
        );
    }
}
