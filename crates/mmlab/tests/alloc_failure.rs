//! An allocation failure injected at every allocation of a workload, in turn: each call
//! either succeeds or takes its real error path (ENOMEM from a syscall, the OOM kill or
//! SIGBUS from a fault, a THP that falls back to small pages), the invariants hold after every
//! step, and once every process exits no frame and no reference is left behind.

mod common;

use common::{exit_all_leaves_nothing, PAGE};
use mmlab::trace::Event;
use mmlab::uapi::userfaultfd::*;
use mmlab::uapi::*;
use mmlab::{Config, Errno, Kernel, Profile, Signal, Tid};

const HPAGE: u64 = 2 << 20;

/// What one step of the workload may legitimately give when memory runs out.
#[derive(Debug)]
enum Outcome {
    Ok,
    Err(Errno),
    Signal(Signal),
}

fn sys<T>(r: Result<T, Errno>) -> Outcome {
    r.map_or_else(Outcome::Err, |_| Outcome::Ok)
}

fn access<T>(r: Result<T, Signal>) -> Outcome {
    r.map_or_else(Outcome::Signal, |_| Outcome::Ok)
}

/// The workload: anonymous, THP, shmem and memfd memory, fork and COW, mremap, madvise,
/// mprotect, fallocate, userfaultfd COPY and ZEROPAGE, a khugepaged collapse. Returns the
/// tasks to exit and each step's outcome; stops at the first broken invariant.
/// The tasks a workload leaves to exit, and each step's name and outcome.
type Run = (Vec<Tid>, Vec<(&'static str, Outcome)>);

fn workload(k: &mut Kernel, t: Tid) -> Result<Run, String> {
    let mut out = Vec::new();
    let mut tids = vec![t];
    let rw = PROT_READ | PROT_WRITE;
    let mut step = |k: &mut Kernel, name: &'static str, o: Outcome| -> Result<(), String> {
        k.check_invariants()
            .map_err(|v| format!("after {name} ({o:?}): {v}"))?;
        out.push((name, o));
        Ok(())
    };

    let anon = k.mmap(t, 0, 8 * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    step(k, "mmap anon", sys(anon))?;
    if let Ok(a) = anon {
        for i in 0..4 {
            let r = k.store(t, a + i * PAGE, i as u8 + 1);
            step(k, "store anon", access(r))?;
        }
        let r = k.load(t, a + 5 * PAGE);
        step(k, "load zero page", access(r))?;
        match k.fork(t) {
            Ok(c) => {
                tids.push(c);
                step(k, "fork", Outcome::Ok)?;
                let r = k.store(c, a, 9);
                step(k, "COW in child", access(r))?;
                let r = k.store(t, a + PAGE, 9);
                step(k, "COW in parent", access(r))?;
            }
            Err(e) => step(k, "fork", Outcome::Err(e))?,
        }
        let r = k.mremap(t, a, 4 * PAGE, 16 * PAGE, MREMAP_MAYMOVE, 0);
        step(k, "mremap", sys(r))?;
        if let Ok(b) = r {
            let r = k.mprotect(t, b + PAGE, PAGE, PROT_READ);
            step(k, "mprotect split", sys(r))?;
            let r = k.madvise(t, b, 2 * PAGE, MADV_DONTNEED);
            step(k, "madvise dontneed", sys(r))?;
            let r = k.madvise(t, b + 2 * PAGE, 4 * PAGE, MADV_POPULATE_WRITE);
            step(k, "madvise populate", sys(r))?;
        }
    }

    k.thp_sysfs_write("enabled", "always")
        .map_err(|e| format!("knob: {e}"))?;
    let thp = k.mmap(t, 0, 2 * HPAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    step(k, "mmap thp", sys(thp))?;
    if let Ok(raw) = thp {
        let h = raw.next_multiple_of(HPAGE);
        let r = k.store(t, h, 1);
        step(k, "THP fault", access(r))?;
        let r = k.mprotect(t, h + PAGE, PAGE, PROT_READ);
        step(k, "mprotect splits the PMD", sys(r))?;
        let r = k.khugepaged_collapse(t, h);
        step(k, "khugepaged collapse", sys(r))?;
    }
    k.thp_sysfs_write("enabled", "never")
        .map_err(|e| format!("knob: {e}"))?;

    let fd = k.memfd_create(t, "f", 0);
    step(k, "memfd_create", sys(fd))?;
    if let Ok(fd) = fd {
        let fd = fd as i64;
        let r = k.ftruncate(t, fd, 4 * PAGE as i64);
        step(k, "ftruncate", sys(r))?;
        let r = k.fallocate(t, fd, 0, 0, 3 * PAGE as i64);
        step(k, "fallocate", sys(r))?;
        let m = k.mmap(t, 0, 4 * PAGE, rw, MAP_SHARED, fd, 0);
        step(k, "mmap memfd", sys(m))?;
        let p = k.mmap(t, 0, 4 * PAGE, rw, MAP_PRIVATE, fd, 0);
        step(k, "mmap memfd private", sys(p))?;
        if let (Ok(m), Ok(p)) = (m, p) {
            let r = k.store(t, m + 3 * PAGE, 1);
            step(k, "shmem fault", access(r))?;
            let r = k.store(t, p, 2);
            step(k, "private file COW", access(r))?;
        }
        let r = k.close(t, fd);
        step(k, "close", sys(r))?;
    }

    let shared = k.mmap(t, 0, 2 * PAGE, rw, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    step(k, "mmap shared anon", sys(shared))?;
    if let Ok(s) = shared {
        let r = k.store(t, s, 1);
        step(k, "shared anon fault", access(r))?;
    }

    let ufd = k.userfaultfd(t, O_NONBLOCK);
    step(k, "userfaultfd", sys(ufd))?;
    let dst = k.mmap(t, 0, 4 * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    step(k, "mmap uffd range", sys(dst))?;
    if let (Ok(ufd), Ok(dst), Ok(src)) = (ufd, dst, anon) {
        let ufd = ufd as i64;
        let r = k.uffdio_api(t, ufd, UFFD_API, 0);
        step(k, "UFFDIO_API", sys(r))?;
        let r = k.uffdio_register(t, ufd, dst, 4 * PAGE, UFFDIO_REGISTER_MODE_MISSING);
        step(k, "UFFDIO_REGISTER", sys(r))?;
        let r = k.uffdio_copy(t, ufd, dst, src, 2 * PAGE, 0);
        step(k, "UFFDIO_COPY", sys(r))?;
        let r = k.uffdio_zeropage(t, ufd, dst + 2 * PAGE, PAGE, 0);
        step(k, "UFFDIO_ZEROPAGE", sys(r))?;
    }
    Ok((tids, out))
}

/// Errors the model may give when the allocator fails, step by step: anything else would be
/// an error path Linux does not take.
fn allowed(name: &str, o: &Outcome) -> bool {
    match o {
        Outcome::Ok => true,
        // A syscall that needed memory: ENOMEM (mremap, mprotect, madvise, fork, mmap,
        // fallocate, the fill ioctls), EAGAIN from a fill ioctl that did part of the range,
        // EFAULT from MADV_POPULATE when the fault itself failed, and an uffd COPY whose
        // page allocation failed reports ENOMEM as well.
        Outcome::Err(e) => match name {
            "UFFDIO_COPY" | "UFFDIO_ZEROPAGE" => matches!(e, Errno::ENOMEM | Errno::EAGAIN),
            "madvise populate" => matches!(e, Errno::ENOMEM | Errno::EFAULT),
            "khugepaged collapse" => false,
            _ => *e == Errno::ENOMEM,
        },
        // A fault: VM_FAULT_OOM ends in the OOM killer.
        Outcome::Signal(s) => *s == Signal::Kill,
    }
}

/// How many allocations the workload makes with nothing failing.
fn allocations_without_failure() -> u64 {
    let mut k = Kernel::new(Config::new(Profile::Linux519));
    let t = k.spawn_process(0).expect("spawn");
    k.set_tracing(true);
    let (tids, out) = workload(&mut k, t).expect("clean run");
    for (name, o) in &out {
        assert!(matches!(o, Outcome::Ok), "clean run: {name} gave {o:?}");
    }
    let n = k
        .take_trace()
        .iter()
        .filter(|e| matches!(e, Event::FolioAlloc { .. }))
        .count() as u64;
    exit_all_leaves_nothing(&mut k, tids).expect("clean run leaks nothing");
    n
}

fn sweep(times: u64) {
    let n = allocations_without_failure();
    assert!(n >= 25, "the workload allocates ({n})");
    let mut failed_somewhere = 0;
    for skip in 0..n {
        let mut k = Kernel::new(Config::new(Profile::Linux519));
        let t = k.spawn_process(0).expect("spawn");
        k.fail_page_alloc(skip, times);
        let (tids, out) = workload(&mut k, t).unwrap_or_else(|e| panic!("fail at #{skip}: {e}"));
        for (name, o) in &out {
            assert!(
                allowed(name, o),
                "fail at #{skip} (x{times}): {name} gave {o:?}"
            );
        }
        failed_somewhere += out.iter().any(|(_, o)| !matches!(o, Outcome::Ok)) as u32;
        assert!(k.injected_alloc_failures() > 0, "fail at #{skip} never hit");
        k.fail_page_alloc(0, 0);
        exit_all_leaves_nothing(&mut k, tids)
            .unwrap_or_else(|e| panic!("fail at #{skip} (x{times}): {e}"));
    }
    assert!(failed_somewhere > 0, "some failure reached a caller");
}

#[test]
fn one_failed_allocation_anywhere_takes_a_real_error_path_and_leaks_nothing() {
    sweep(1);
}

#[test]
fn memory_running_out_from_any_point_on_leaks_nothing() {
    sweep(u64::MAX);
}
