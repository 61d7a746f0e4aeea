//! A scenario's `sysfs_read` and `sysfs_write` steps on the host's real files. Every write goes
//! through the host journal (`host_state`) with the value the file showed before, so the live
//! backend gives it back when the scenario ends, when the run ends and when it is interrupted.
//! Some files belong to the machine and are never written: DAMON's and the cgroup tree's.

use mmlab::Errno;

use crate::host_state;
use crate::hostlock::HostLock;

/// Trees a scenario may not write on the host: DAMON's (a kdamond of the machine's) and the
/// cgroup hierarchy.
const LEFT_ALONE: &[&str] = &["/sys/kernel/mm/damon", "/sys/fs/cgroup"];

/// The value a file shows, as it would be written back: the bracketed choice of a choice file
/// (`always [madvise] never` shows `madvise`), else the trimmed text.
pub fn shown_value(text: &str) -> String {
    let t = text.trim();
    t.split_whitespace()
        .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')))
        .unwrap_or(t)
        .to_string()
}

/// `path` as path lookup resolves it: the real path when the file exists (symlinks followed),
/// else with `//`, `.` and `..` resolved in the text as the model's kernfs resolves them.
fn resolved(path: &str) -> String {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real.display().to_string();
    }
    match mmlab::fs::kernfs::components(path) {
        Some(parts) => format!("/{}", parts.join("/")),
        None => path.to_string(),
    }
}

/// Why the host backend will not write `path`, if it will not.
pub fn refused(path: &str) -> Option<String> {
    let p = resolved(path);
    LEFT_ALONE
        .iter()
        .find(|t| p == **t || p.starts_with(&format!("{t}/")))
        .map(|t| format!("writes {path}: the host backend never writes under {t}"))
}

/// The errno of a failed file operation.
pub fn errno(e: &std::io::Error) -> Errno {
    e.raw_os_error()
        .and_then(Errno::from_code)
        .unwrap_or(Errno::EIO)
}

/// `cat PATH`.
pub fn read(path: &str) -> Result<String, Errno> {
    std::fs::read_to_string(path).map_err(|e| errno(&e))
}

/// `echo VALUE > PATH`, journaled with what the file showed before.
pub fn write(turn: &HostLock, path: &str, value: &str) -> Result<(), Errno> {
    if refused(path).is_some() {
        return Err(Errno::EPERM);
    }
    let before = read(path).map(|t| shown_value(&t)).unwrap_or_default();
    host_state::write(turn, path, &before, &format!("{value}\n")).map_err(|e| errno(&e))
}

/// Give back the files in `paths`, newest change first.
pub fn restore(paths: &[String]) {
    host_state::restore(|p| paths.iter().any(|w| w == p));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_value_is_the_bracketed_choice_or_the_text() {
        assert_eq!(shown_value("always [madvise] never\n"), "madvise");
        assert_eq!(shown_value("511\n"), "511");
        assert_eq!(
            shown_value("[always] defer defer+madvise madvise never"),
            "always"
        );
    }

    #[test]
    fn damon_and_cgroup_files_are_left_alone_however_they_are_spelt() {
        assert!(refused("/sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds").is_some());
        assert!(refused("/sys/kernel/mm//transparent_hugepage/../damon/admin").is_some());
        assert!(refused("/sys/fs/cgroup/memory.max").is_some());
        assert!(refused("/sys/kernel/mm/transparent_hugepage/enabled").is_none());
        assert!(refused("/sys/kernel/mm/damonx").is_none());
    }
}
