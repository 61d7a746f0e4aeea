//! A run interrupted by SIGINT or SIGTERM gives the host back what it changed (a THP knob set
//! by the header, one written by a `sysfs_write` step and the hugetlb pool here) and exits with 128 + the signal; a child started by the holder of the
//! host lock inherits the lock instead of waiting for it.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mmlab_live::hugetlb_pool::{read_u64, PoolCounts, NR_HUGEPAGES};
use mmlab_live::{HostBackend, HostLock};
use mmlab_scenario::suite::run_file;

/// Tells the child test which scenario to run.
const CHILD_ENV: &str = "MMLAB_TEST_INTERRUPTED_SCENARIO";
const KNOB: &str = "/sys/kernel/mm/transparent_hugepage/khugepaged/max_ptes_none";
/// A knob the scenario writes with a `sysfs_write` step rather than its header.
const STEP_KNOB: &str = "/sys/kernel/mm/transparent_hugepage/khugepaged/max_ptes_shared";

/// The interrupted run: the scenario over and over, until a signal ends the process.
#[test]
#[ignore = "the child process of an_interrupted_run_gives_the_host_its_settings_back"]
fn interrupted_run_child() {
    let path = std::env::var(CHILD_ENV).expect("started by the parent test");
    let mut h = common::host().expect("the parent checked the host");
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let r = run_file(Path::new(&path), &mut h).unwrap();
        assert!(r.skip_reason.is_none(), "{:?}", r.skip_reason);
    }
    panic!("no signal came to end the run");
}

/// What an ended child wrote to its stderr.
fn stderr_of(child: &mut std::process::Child) -> String {
    let mut err = String::new();
    let mut pipe = child.stderr.take().expect("stderr is piped");
    pipe.read_to_string(&mut err).unwrap();
    err
}

fn knob() -> String {
    read(KNOB)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

#[test]
fn an_interrupted_run_gives_the_host_its_settings_back() {
    if let Some(reason) = HostBackend::unavailable() {
        eprintln!("skipped: {reason}");
        return;
    }
    for f in [KNOB, STEP_KNOB, NR_HUGEPAGES] {
        if !Path::new(f).exists() {
            eprintln!("skipped: this kernel has no {f}");
            return;
        }
    }
    // This process holds the host while its child runs; the child inherits the lock.
    let turn = HostLock::acquire().unwrap();
    let knob_before = knob();
    let pool_before = read_u64(NR_HUGEPAGES).unwrap();
    let value = if knob_before == "17" { "18" } else { "17" };
    let step_knob_before = read(STEP_KNOB);
    let step_value = if step_knob_before == "19" { "20" } else { "19" };
    // A pool size the run visibly sets: its pages on top of those others hold.
    let others = PoolCounts::read().unwrap().held().pages();
    let pages = if 1 + others == pool_before { 2 } else { 1 };
    let dir = std::env::temp_dir().join(format!("mmlab-interrupted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("changes-the-host.mml");
    std::fs::write(
        &scenario,
        format!(
            "title \"changes host settings, then stores for a while\"\n\
             thp khugepaged/max_ptes_none {value}\nhugepages {pages}\nprocess P\n\
             P: sysfs_write(\"{STEP_KNOB}\", {step_value})\n\
             P: p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\n\
             repeat 20000 {{\n  P: store(p, 1)\n}}\n"
        ),
    )
    .unwrap();
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--ignored",
            "--exact",
            "interrupted_run_child",
            "--nocapture",
        ])
        .env(CHILD_ENV, &scenario)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        turn.share_with(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while knob() != value
            || read(STEP_KNOB) != step_value
            || read_u64(NR_HUGEPAGES).unwrap() != pages + others
        {
            if let Some(status) = child.try_wait().unwrap() {
                let err = stderr_of(&mut child);
                panic!("the run ended by itself ({status}) before setting the host:\n{err}");
            }
            assert!(Instant::now() < deadline, "the run never set the host");
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: signals the child this test started.
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        let status = child.wait().unwrap();
        let err = stderr_of(&mut child);
        assert_eq!(status.code(), Some(128 + sig), "{err}");
        assert!(
            err.contains(&format!("interrupted by signal {sig}")),
            "{err}"
        );
        assert_eq!(knob(), knob_before, "the knob is back");
        assert_eq!(
            read(STEP_KNOB),
            step_knob_before,
            "the step's write is undone"
        );
        assert_eq!(
            read_u64(NR_HUGEPAGES).unwrap(),
            pool_before,
            "the pool is back"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
