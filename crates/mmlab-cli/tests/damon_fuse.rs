//! The real tools against the model: `mmlab damon run-tool` serves the model's DAMON sysfs over
//! FUSE in a private mount namespace, where the kernel's own 5.19 selftest (sysfs.sh) and damo
//! run unmodified; the host's /sys/kernel/mm/damon must read the same after as before.
//! Skips, saying why, without root, /dev/fuse, unshare(1), the 5.19 tree or damo.

use std::path::{Path, PathBuf};
use std::process::Command;

const HOST_TREE: &str = "/sys/kernel/mm/damon/admin/kdamonds";

/// Why the mount cannot be made here, if it cannot.
fn unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root: mounting FUSE and unshare -m need CAP_SYS_ADMIN".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse".into());
    }
    match Command::new("unshare").args(["-m", "true"]).status() {
        Ok(s) if s.success() => None,
        _ => Some("unshare -m does not work here".into()),
    }
}

/// Every file of the host's kdamonds tree with its contents (empty where there is none).
fn host_snapshot() -> Vec<(PathBuf, String)> {
    fn walk(d: &Path, out: &mut Vec<(PathBuf, String)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        let mut es: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        es.sort();
        for p in es {
            if p.is_dir() {
                walk(&p, out);
            } else {
                let s = std::fs::read_to_string(&p).unwrap_or_else(|e| format!("<{e}>"));
                out.push((p, s));
            }
        }
    }
    let mut v = Vec::new();
    walk(Path::new(HOST_TREE), &mut v);
    v
}

/// `mmlab damon run-tool [EXTRA...] -- bash -c SCRIPT`: exit code, stdout, stderr.
fn run_tool(extra: &[&str], script: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mmlab"))
        .args(["damon", "run-tool"])
        .args(extra)
        .args(["--", "bash", "-c", script])
        .output()
        .expect("mmlab runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// tools/testing/selftests/damon/sysfs.sh of 5.19, from the tree MMLAB_LINUX_519 names (a
/// git directory) or the workplace's mirror of it.
fn selftest() -> Option<String> {
    let tree = std::env::var("MMLAB_LINUX_519")
        .unwrap_or_else(|_| "/work/.mirror/yishangzhang+linux-5.19/repo".into());
    let out = Command::new("git")
        .args([
            "-C",
            &tree,
            "show",
            "HEAD:tools/testing/selftests/damon/sysfs.sh",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_kernels_sysfs_selftest_passes_against_the_model_and_the_host_tree_is_untouched() {
    if let Some(why) = unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let before = host_snapshot();
    // Inside: the model's tree (it starts with no kdamond), a FUSE mount; errnos as the
    // model's store handlers give them; the tool's exit code comes back.
    let (code, out, err) = run_tool(
        &[],
        "set -e; cd /sys/kernel/mm/damon/admin/kdamonds; stat -f -c %T . ; cat nr_kdamonds; \
         echo 1 > nr_kdamonds; cat 0/state; ls 0/contexts; \
         if echo bogus > 0/state 2>/dev/null; then exit 9; fi; \
         if echo 1 > 0/pid 2>/dev/null; then exit 10; fi; \
         echo 0 > nr_kdamonds; exit 7",
    );
    assert_eq!(code, 7, "stdout {out} stderr {err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["fuseblk", "0", "off", "nr_contexts"]
    );
    let Some(script) = selftest() else {
        eprintln!("skipped the selftest: no 5.19 tree (set MMLAB_LINUX_519 to its git dir)");
        return;
    };
    let path = std::env::temp_dir().join(format!("mmlab-damon-sysfs-{}.sh", std::process::id()));
    std::fs::write(&path, script).unwrap();
    let (code, out, err) = run_tool(&[], &format!("bash {}", path.display()));
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, 0, "sysfs.sh failed: stdout {out} stderr {err}");
    // Its three expected failures (nr_contexts 2) reached the model and were refused there.
    assert_eq!(err.matches("Invalid argument").count(), 3, "{err}");
    assert_eq!(host_snapshot(), before, "the host's DAMON tree changed");
}

#[test]
fn damo_starts_reports_and_stops_a_kdamond_of_the_model() {
    if let Some(why) = unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    if !Command::new("damo")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipped: damo is not installed (pip install damo)");
        return;
    }
    let before = host_snapshot();
    let cfg = std::env::temp_dir().join(format!("mmlab-damon-stairs-{}.cfg", std::process::id()));
    let mut s = String::from("# regions\n");
    for i in 0..4 {
        s += &format!("s{i}, 10000000\n");
    }
    for i in 0..4 {
        s += &format!("\nphase {i}\n1000\ns{i}, 0, 4096, 50\n");
    }
    std::fs::write(&cfg, s).unwrap();
    let (code, out, err) = run_tool(
        &["--masim", cfg.to_str().unwrap(), "--speed", "4"],
        "set -e; damo start --ops vaddr --target_pid $MMLAB_DAMON_PID --damos_action stat; \
         cat /sys/kernel/mm/damon/admin/kdamonds/0/state; sleep 1; \
         damo report damon --damos_stats; damo stop; \
         cat /sys/kernel/mm/damon/admin/kdamonds/0/state",
    );
    let _ = std::fs::remove_file(&cfg);
    assert_eq!(code, 0, "stdout {out} stderr {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"on"), "{out}");
    assert_eq!(lines.last(), Some(&"off"), "{out}");
    // The kdamond ran on the model's clock: its stat scheme tried regions.
    let tried: u64 = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("nr_tried: "))
        .and_then(|v| v.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no nr_tried in {out}"));
    assert!(tried > 0, "{out}");
    assert_eq!(host_snapshot(), before, "the host's DAMON tree changed");
}
