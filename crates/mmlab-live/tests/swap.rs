//! The swap headers on the host: a swap file and a zram device are made, used (a page paged
//! out and read back) and given back, leaving /proc/swaps, /var/tmp and the zram devices as
//! they were: after a scenario that passes, one that fails half-way, a panic in the middle, a
//! run interrupted by SIGINT and a run killed outright (given back by the next taker of the
//! host lock). Each test is skipped, with its reason, on a host without root, swap or zram.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mmlab_live::{swap_areas, HostLock};
use mmlab_scenario::backend::Backend;
use mmlab_scenario::suite::run_file;
use mmlab_scenario::{parse, run, Status};

/// Tells the child test which scenario to run.
const CHILD_ENV: &str = "MMLAB_TEST_SWAP_SCENARIO";

/// What the host must look like again after every run: /proc/swaps, the area directories and
/// record files in /var/tmp, the zram devices.
#[derive(Debug, PartialEq, Eq)]
struct HostSwap {
    proc_swaps: String,
    ours: Vec<String>,
    zram: Vec<String>,
}

fn host_swap() -> HostSwap {
    let names = |dir: &str, keep: &dyn Fn(&str) -> bool| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| keep(n))
            .collect();
        v.sort();
        v
    };
    HostSwap {
        proc_swaps: std::fs::read_to_string("/proc/swaps").unwrap(),
        ours: names(swap_areas::BASE, &|n| n.starts_with("mmlab-swap-")),
        zram: names("/sys/block", &|n| n.starts_with("zram")),
    }
}

/// Why this host cannot run the swap headers, if it cannot.
fn unsupported() -> Option<String> {
    if let Some(reason) = mmlab_live::HostBackend::unavailable() {
        return Some(reason);
    }
    if !Path::new("/proc/swaps").exists() {
        return Some("the kernel has no swap (no /proc/swaps)".into());
    }
    if !Path::new("/sys/class/zram-control/hot_add").exists() {
        return Some("no zram (/sys/class/zram-control)".into());
    }
    None
}

const HEADER: &str = "swap 16M\nswap zram 16M\nprocess P\n\
    P: p = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\n\
    P: memset(p, 0xa7, 2 * PAGE_SIZE)\n";

/// Page out to the file (the higher priority), read back, swap the file off, page out to
/// zram, read back.
const BODY: &str = "P: madvise(p, 2 * PAGE_SIZE, MADV_PAGEOUT)\n\
    P: expect pagemap(p).swapped == 1\n\
    P: expect swaps(\"swap0\").used == 8\n\
    P: expect mem(p, 2 * PAGE_SIZE) == 0xa7\n\
    P: swapoff(\"swap0\")\n\
    P: madvise(p, 2 * PAGE_SIZE, MADV_PAGEOUT)\n\
    P: expect swaps(\"zram0\").used == 8\n\
    P: expect mem(p, 2 * PAGE_SIZE) == 0xa7\n";

#[test]
fn swap_areas_are_used_and_given_back_after_a_pass_a_failure_and_a_panic() {
    if let Some(reason) = unsupported() {
        eprintln!("skipped: {reason}");
        return;
    }
    let Some(mut h) = common::host() else { return };
    // The backend takes the host (the lock, and this process's turn, which the other test
    // here holds while its children swap on) before the host's swap is read.
    h.prepare(&mmlab_scenario::backend::Setup::default())
        .unwrap();
    let before = host_swap();
    let text = format!("title \"t\"\n{HEADER}{BODY}");
    let r = run(&parse(&text, Path::new("t.mml")).unwrap(), &mut h);
    assert_eq!(r.status, Status::Pass, "{:?} {:?}", r.failures, r.error);
    assert_eq!(host_swap(), before, "after a scenario that passed");

    // A step fails with the pages out on both areas: the scenario ends there, and its areas
    // are swapped off (the pages read back into the live process) and removed.
    let text = format!(
        "title \"t\"\n{HEADER}P: madvise(p, PAGE_SIZE, MADV_PAGEOUT)\nP: swapoff(\"swap0\")\n\
         P: madvise(p + PAGE_SIZE, PAGE_SIZE, MADV_PAGEOUT)\nP: munmap(p + 1, 1)\nP: store(p, 1)\n"
    );
    let r = run(&parse(&text, Path::new("t.mml")).unwrap(), &mut h);
    assert_eq!(r.status, Status::Fail, "{:?}", r.error);
    assert_eq!(r.failures[0].line, 10, "{:?}", r.failures);
    assert_eq!(host_swap(), before, "after a scenario that failed half-way");

    // A panic between setup and teardown: dropping the backend gives the areas back.
    let sc = parse(&text, Path::new("t.mml")).unwrap();
    let listed = before.proc_swaps.clone();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        h.prepare(&mmlab_scenario::run::setup_of(&sc)).unwrap();
        assert_ne!(host_swap().proc_swaps, listed, "swapped on");
        panic!("a step went wrong");
    }));
    assert!(panicked.is_err());
    assert_eq!(host_swap(), before, "after a panic");
}

/// The child process of `an_interrupted_or_killed_run_leaves_no_swap_behind`: the scenario
/// until a signal ends it.
#[test]
#[ignore = "the child process of an_interrupted_or_killed_run_leaves_no_swap_behind"]
fn swap_run_child() {
    let path = std::env::var(CHILD_ENV).expect("started by the parent test");
    let mut h = common::host().expect("the parent checked the host");
    loop {
        let r = run_file(Path::new(&path), &mut h).unwrap();
        assert!(r.skip_reason.is_none(), "{:?}", r.skip_reason);
    }
}

#[test]
fn an_interrupted_or_killed_run_leaves_no_swap_behind() {
    if let Some(reason) = unsupported() {
        eprintln!("skipped: {reason}");
        return;
    }
    // This process holds the host while its child runs; the child inherits the lock.
    let turn = HostLock::acquire().unwrap();
    let before = host_swap();
    let dir = std::env::temp_dir().join(format!("mmlab-swap-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("swaps.mml");
    std::fs::write(
        &scenario,
        format!(
            "title \"pages out, then stores for a while\"\n{HEADER}\
             P: madvise(p, 2 * PAGE_SIZE, MADV_PAGEOUT)\nrepeat 100000 {{\n  P: store(p, 1)\n}}\n"
        ),
    )
    .unwrap();
    for sig in [libc::SIGINT, libc::SIGKILL] {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--ignored", "--exact", "swap_run_child", "--nocapture"])
            .env(CHILD_ENV, &scenario)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        turn.share_with(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        // Both areas are on.
        while host_swap().proc_swaps.lines().count() < before.proc_swaps.lines().count() + 2 {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended by itself"
            );
            assert!(Instant::now() < deadline, "the run never swapped on");
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: signals the child this test started.
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        let status = child.wait().unwrap();
        if sig == libc::SIGKILL {
            assert_ne!(
                host_swap(),
                before,
                "a killed run gives nothing back itself"
            );
            let given = swap_areas::recover().unwrap();
            assert_eq!(given.len(), 3, "a dir, its file, a zram device: {given:?}");
        } else {
            assert_eq!(status.code(), Some(128 + sig));
        }
        assert_eq!(host_swap(), before, "after signal {sig}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
