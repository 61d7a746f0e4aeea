//! stat() and readdir() over the model's sysfs and procfs files (kernfs_iop_getattr(),
//! kernfs_fop_readdir()), for serving them as a file system (`mmlab damon serve`): the
//! registry's directories and DAMON's tree, whose directories come and go.

use crate::errno::{Errno, SysResult};
use crate::fs::kernfs::{components, DIRS};
use crate::kernel::Kernel;
pub use crate::mm::damon::sysfs::Entry;

/// The registry's directory paths, and DAMON's root (which resolves its own children).
fn dir_paths() -> impl Iterator<Item = &'static str> {
    DIRS.iter()
        .map(|d| d.path)
        .chain([crate::mm::damon::sysfs::ROOT])
}

impl Kernel {
    /// stat() of a path the model serves: a directory, or a file and its mode.
    pub fn sysfs_stat(&self, path: &str) -> SysResult<Entry> {
        if let Some(r) = self.damon_sysfs_stat(path) {
            return r;
        }
        let c = components(path).ok_or(Errno::ENOENT)?;
        let is_prefix = |d: &str| {
            let dc = components(d).expect("registered paths are absolute");
            dc.len() >= c.len() && dc[..c.len()] == c[..]
        };
        if dir_paths().any(is_prefix) {
            return Ok(Entry::Dir);
        }
        let (name, parent) = c.split_last().ok_or(Errno::ENOENT)?;
        DIRS.iter()
            .filter(|d| components(d.path).as_deref() == Some(parent))
            .flat_map(|d| d.attrs)
            .find(|a| a.name == *name)
            .map(|a| Entry::File { mode: a.mode })
            .ok_or(Errno::ENOENT)
    }

    /// readdir() of a directory the model serves: the names in it (without "." and "..").
    pub fn sysfs_readdir(&self, path: &str) -> SysResult<Vec<String>> {
        if let Some(r) = self.damon_sysfs_readdir(path) {
            return r;
        }
        if self.sysfs_stat(path)? != Entry::Dir {
            return Err(Errno::ENOTDIR);
        }
        let c = components(path).ok_or(Errno::ENOENT)?;
        let mut names: Vec<String> = Vec::new();
        let mut push = |n: &str| {
            if !names.iter().any(|x| x == n) {
                names.push(n.to_string());
            }
        };
        for d in dir_paths() {
            let dc = components(d).expect("registered paths are absolute");
            if dc.len() > c.len() && dc[..c.len()] == c[..] {
                push(dc[c.len()]);
            }
        }
        for d in DIRS
            .iter()
            .filter(|d| components(d.path).as_deref() == Some(&c[..]))
        {
            d.attrs.iter().for_each(|a| push(a.name));
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn the_tree_lists_and_stats_as_the_vfs_shows_it() {
        let mut k = Kernel::new(Config::default());
        assert_eq!(k.sysfs_stat("/sys"), Ok(Entry::Dir));
        let sys = k.sysfs_readdir("/sys").unwrap();
        assert!(
            sys.contains(&"kernel".into()) && sys.contains(&"module".into()),
            "{sys:?}"
        );
        let mm = k.sysfs_readdir("/sys/kernel/mm").unwrap();
        assert!(mm.contains(&"damon".into()) && mm.contains(&"transparent_hugepage".into()));
        assert_eq!(
            k.sysfs_readdir("/sys/kernel/mm/damon").unwrap(),
            vec!["admin".to_string()]
        );
        let kd = "/sys/kernel/mm/damon/admin/kdamonds";
        assert_eq!(
            k.sysfs_readdir(kd).unwrap(),
            vec!["nr_kdamonds".to_string()]
        );
        k.sysfs_write(&format!("{kd}/nr_kdamonds"), "2").unwrap();
        assert_eq!(k.sysfs_readdir(kd).unwrap(), ["nr_kdamonds", "0", "1"]);
        assert_eq!(
            k.sysfs_readdir(&format!("{kd}/1")).unwrap(),
            ["state", "pid", "contexts"]
        );
        assert_eq!(
            k.sysfs_stat(&format!("{kd}/1/state")),
            Ok(Entry::File { mode: 0o600 })
        );
        assert_eq!(
            k.sysfs_stat(&format!("{kd}/1/pid")),
            Ok(Entry::File { mode: 0o400 })
        );
        assert_eq!(k.sysfs_stat(&format!("{kd}/2")), Err(Errno::ENOENT));
        assert_eq!(k.sysfs_readdir(&format!("{kd}/1/pid")), Err(Errno::ENOTDIR));
        assert_eq!(
            k.sysfs_stat("/sys/module/damon_reclaim/parameters/enabled"),
            Ok(Entry::File { mode: 0o600 })
        );
        let params = k
            .sysfs_readdir("/sys/module/damon_reclaim/parameters")
            .unwrap();
        assert!(params.contains(&"commit_inputs".into()), "{params:?}");
        assert_eq!(k.sysfs_stat("/sys/nope"), Err(Errno::ENOENT));
        assert_eq!(
            k.sysfs_readdir("/sys/kernel/mm/transparent_hugepage/enabled"),
            Err(Errno::ENOTDIR)
        );
    }
}
