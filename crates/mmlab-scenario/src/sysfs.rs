//! What `sysfs_read` and `sysfs_write` steps name and see: the files the model serves (an
//! unknown path is an error when the file is read), and the value a file's text stands for —
//! a number for a numeric file, the bracketed choice of a choice file
//! (`always [madvise] never` reads as `madvise`), else the text itself.

use mmlab::fs::kernfs;
use mmlab::{Config, Kernel};

/// The value of a file's contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileValue {
    /// The file holds one integer (a negative one wraps, as `-1` does in a scenario).
    Num(u64),
    /// The bracketed choice of a choice file, or the trimmed text of any other file.
    Text(String),
}

impl FileValue {
    /// The value `cat PATH` printing `contents` stands for.
    pub fn of(contents: &str) -> FileValue {
        let t = contents.trim();
        if let Some(v) = t
            .parse::<u64>()
            .ok()
            .or_else(|| t.parse::<i64>().ok().map(|v| v as u64))
        {
            return FileValue::Num(v);
        }
        let choice = t
            .split_whitespace()
            .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')));
        FileValue::Text(choice.unwrap_or(t).to_string())
    }
}

/// Why a scenario may not name `path`: the model serves no file there. The message lists the
/// files of the same directory, or the directories served.
pub fn check_path(path: &str) -> Result<(), String> {
    if kernfs::path_exists(path) {
        return Ok(());
    }
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    let near: Vec<String> = kernfs::file_paths()
        .filter(|p| p.rsplit_once('/').is_some_and(|(d, _)| d == dir))
        .collect();
    let known = if near.is_empty() {
        let mut dirs: Vec<&str> = kernfs::DIRS.iter().map(|d| d.path).collect();
        dirs.sort();
        format!("directories served: {}", dirs.join(", "))
    } else {
        format!("files there: {}", near.join(", "))
    };
    Err(format!(
        "no file `{path}` in the model's sysfs and procfs ({known})"
    ))
}

/// Does `path` read as a number? Decided on a freshly booted model, as a file's format does
/// not change with its value; the check pass types `sysfs_read` with it.
pub fn reads_as_number(path: &str) -> bool {
    // A file of DAMON's tree exists only once its directory was made: known by its name.
    if let Some(n) = kernfs::pattern_reads_as_number(path) {
        return n;
    }
    if mmlab::fs::cgroupfs::is_cgroup_path(path) {
        return mmlab::fs::cgroupfs::reads_as_number(path);
    }
    Kernel::new(Config::default())
        .sysfs_read(path)
        .is_ok_and(|s| matches!(FileValue::of(&s), FileValue::Num(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_choices_and_text() {
        assert_eq!(FileValue::of("511\n"), FileValue::Num(511));
        assert_eq!(FileValue::of("-1\n"), FileValue::Num(u64::MAX));
        assert_eq!(
            FileValue::of("always [madvise] never\n"),
            FileValue::Text("madvise".into())
        );
        assert_eq!(
            FileValue::of("[always] defer defer+madvise madvise never"),
            FileValue::Text("always".into())
        );
        assert_eq!(
            FileValue::of("MemTotal: 4 kB\nMemFree: 3 kB\n"),
            FileValue::Text("MemTotal: 4 kB\nMemFree: 3 kB".into())
        );
    }

    #[test]
    fn unknown_paths_name_what_is_served_nearby() {
        let en = "/sys/kernel/mm/transparent_hugepage/enabled";
        assert!(check_path(en).is_ok());
        let e = check_path("/sys/kernel/mm/transparent_hugepage/enable").unwrap_err();
        assert!(e.contains(en), "{e}");
        let e = check_path("/sys/kernel/mm/ksm/run").unwrap_err();
        assert!(e.contains("directories served"), "{e}");
        // DAMON's tree: any index may exist once its directory was made.
        let state = "/sys/kernel/mm/damon/admin/kdamonds/3/state";
        assert!(check_path(state).is_ok());
        assert!(!reads_as_number(state));
        assert!(reads_as_number(
            "/sys/kernel/mm/damon/admin/kdamonds/0/contexts/0/schemes/1/stats/nr_tried"
        ));
        assert!(check_path("/sys/kernel/mm/damon/admin/kdamonds/0/nope").is_err());
        assert!(reads_as_number(
            "/sys/kernel/mm/transparent_hugepage/khugepaged/full_scans"
        ));
        assert!(!reads_as_number(en));
    }
}
