//! Native host-kernel figures for `mmlab bench`, printed beside the model's. Each workload mirrors
//! a C anchor in /work/shared/anchors/kernel/ (fault_anon.c 4k, fork_cow.c, mprotect_bench.c
//! isolated): one discarded warm-up, then median/min/max of `reps` runs. Only the hugetlb row
//! changes a host setting (the pool's size), under the caller's HostLock, which gives it back.

use std::{io, ptr, time::Instant};

use crate::hostlock::HostLock;
use crate::hugetlb_pool::HugePool;

const PAGE: usize = 4096;
const HPAGE: usize = 2 << 20;
const RW: libc::c_int = libc::PROT_READ | libc::PROT_WRITE;

/// Median of `reps` timed runs (after one discarded warm-up), as the anchors do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostFigure {
    /// Median of the measured runs (mean of the middle two when `reps` is even, as common.h).
    pub value: f64,
    /// Smallest measured run.
    pub min: f64,
    /// Largest measured run.
    pub max: f64,
    /// Unit of `value`, `min` and `max`.
    pub unit: &'static str,
}

/// "what: <errno text>" for the syscall that just failed.
pub(crate) fn os_err(what: &str) -> String {
    format!("{what}: {}", io::Error::last_os_error())
}

/// Ok if a 0-on-success syscall returned 0, else Err with errno text.
fn sys(rc: libc::c_int, what: &str) -> Result<(), String> {
    (rc == 0).then_some(()).ok_or_else(|| os_err(what))
}

/// Median/min/max of the samples; rejects empty, non-finite or non-positive samples.
pub(crate) fn figure(mut v: Vec<f64>, unit: &'static str) -> Result<HostFigure, String> {
    nonzero(v.len(), "measured repetitions")?;
    if let Some(bad) = v.iter().find(|x| !x.is_finite() || **x <= 0.0) {
        return Err(format!("host bench: implausible sample {bad} {unit}"));
    }
    v.sort_by(f64::total_cmp);
    let (min, max, n) = (v[0], v[v.len() - 1], v.len());
    let value = (v[(n - 1) / 2] + v[n / 2]) / 2.0; // middle one, or mean of the middle two
    Ok(HostFigure {
        value,
        min,
        max,
        unit,
    })
}

/// `n` if it is at least 1.
fn nonzero(n: usize, what: &str) -> Result<usize, String> {
    (n > 0).then_some(n).ok_or(format!("{what} must be >= 1"))
}

/// `bytes` rounded up to whole 4 KiB pages; at least one page.
fn page_len(bytes: usize) -> Result<usize, String> {
    let len = nonzero(bytes, "bytes")?.checked_next_multiple_of(PAGE);
    len.ok_or(format!("host bench: {bytes} bytes is too large"))
}

/// A private anonymous mapping, unmapped on drop (or checked via `unmap`).
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn anon(len: usize, prot: libc::c_int) -> Result<Self, String> {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        // SAFETY: a fresh anonymous mapping chosen by the kernel touches no existing memory.
        let p = unsafe { libc::mmap(ptr::null_mut(), len, prot, flags, -1, 0) };
        if p == libc::MAP_FAILED {
            return Err(os_err(&format!("mmap({len} bytes, private anon)")));
        }
        Ok(Mapping { ptr: p.cast(), len })
    }

    fn unmap(self) -> Result<(), String> {
        // SAFETY: we own [ptr, ptr+len) and nothing refers to it after this.
        let rc = unsafe { libc::munmap(self.ptr.cast(), self.len) };
        std::mem::forget(self); // already unmapped: skip Drop
        sys(rc, "munmap")
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: as in `unmap`; only reached on error paths, so rc is not reported.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// madvise(MADV_NOHUGEPAGE), as the anchors do, so THP cannot turn 4 KiB faults into 2 MiB ones.
fn no_thp(p: *mut u8, len: usize) -> Result<(), String> {
    // SAFETY: [p, p+len) lies inside a mapping we own.
    let rc = unsafe { libc::madvise(p.cast(), len, libc::MADV_NOHUGEPAGE) };
    sys(rc, "madvise(MADV_NOHUGEPAGE)")
}

fn mprotect(p: *mut u8, prot: libc::c_int, what: &str) -> Result<(), String> {
    // SAFETY: p is page-aligned inside a mapping we own (or the kernel rejects it).
    sys(unsafe { libc::mprotect(p.cast(), PAGE, prot) }, what)
}

/// Minor faults of the calling thread. The anchors use RUSAGE_SELF in a single-threaded
/// process; RUSAGE_THREAD gives the same count there and ignores mmlab's other threads.
fn minflt() -> Result<i64, String> {
    // SAFETY: rusage is plain data; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    sys(rc, "getrusage(RUSAGE_THREAD)").map(|()| ru.ru_minflt as i64)
}

/// Stores `val` to the first byte of every 4 KiB page of [p, p+len). Plain stores only,
/// so it is async-signal-safe (used by the forked child).
fn touch(p: *mut u8, len: usize, val: u8) {
    for off in (0..len).step_by(PAGE) {
        // SAFETY: off < len and [p, p+len) is a writable mapping we own.
        unsafe { p.add(off).write_volatile(val) };
    }
}

/// `p[off]++` on every page, as fork_cow.c's `dirty()`.
fn dirty(p: *mut u8, len: usize) {
    for off in (0..len).step_by(PAGE) {
        let q = p.wrapping_add(off);
        // SAFETY: as in `touch`.
        unsafe { q.write_volatile(q.read_volatile().wrapping_add(1)) };
    }
}

/// Runs `run` once as a discarded warm-up, then `reps` times; returns the measured samples.
pub(crate) fn samples<T>(
    reps: usize,
    mut run: impl FnMut() -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let reps = nonzero(reps, "reps")?;
    run()?;
    (0..reps).map(|_| run()).collect()
}

/// 4 KiB anonymous write faults over `bytes` of private anon memory: faults per second.
pub fn anon_fault_rate(bytes: usize, reps: usize) -> Result<HostFigure, String> {
    let len = page_len(bytes)?;
    let rates = samples(reps, || {
        // As fault_anon.c: map len + 2 MiB, use the 2 MiB-aligned part, MADV_NOHUGEPAGE.
        let m = Mapping::anon(len + HPAGE, RW)?;
        let p = m.ptr.wrapping_add(m.ptr.align_offset(HPAGE));
        no_thp(p, len)?;
        let f0 = minflt()?;
        let t0 = Instant::now();
        touch(p, len, 1);
        let dt = t0.elapsed().as_secs_f64();
        let nflt = minflt()? - f0; // counted faults, not assumed (as the anchor)
        m.unmap()?;
        Ok(nflt as f64 / dt)
    })?;
    figure(rates, "faults/s")
}

/// 4 KiB shmem write faults, as fault_shmem.c: a fresh memfd of `bytes`, mapped MAP_SHARED,
/// one byte written per page (each fault allocates and inserts a page-cache page): faults/s.
pub fn shmem_fault_rate(bytes: usize, reps: usize) -> Result<HostFigure, String> {
    let len = page_len(bytes)?;
    let rates = samples(reps, || {
        // SAFETY: a new memfd and a shared mapping of it that only this closure touches.
        let fd = unsafe { libc::memfd_create(c"mmlab-bench-shmem".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(os_err("memfd_create"));
        }
        let p = unsafe {
            if libc::ftruncate(fd, len as i64) != 0 {
                libc::close(fd);
                return Err(os_err("ftruncate"));
            }
            libc::mmap(ptr::null_mut(), len, RW, libc::MAP_SHARED, fd, 0)
        };
        if p == libc::MAP_FAILED {
            unsafe { libc::close(fd) };
            return Err(os_err("mmap(memfd)"));
        }
        let m = Mapping { ptr: p.cast(), len };
        let f0 = minflt()?;
        let t0 = Instant::now();
        touch(m.ptr, len, 1);
        let dt = t0.elapsed().as_secs_f64();
        let nflt = minflt()? - f0;
        m.unmap()?;
        unsafe { libc::close(fd) };
        Ok(nflt as f64 / dt)
    })?;
    figure(rates, "faults/s")
}

/// 2 MiB hugetlb write faults, as fault_hugetlb.c "map": MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB
/// of `bytes`, one byte per huge page; the pool is sized for it and restored afterwards.
pub fn hugetlb_fault_rate(
    turn: &HostLock,
    bytes: usize,
    reps: usize,
) -> Result<HostFigure, String> {
    let len = bytes.next_multiple_of(2 << 20);
    let _pool = HugePool::size(turn, (len >> 21) as u64)?;
    let rates = samples(reps, || {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_HUGETLB;
        // SAFETY: a fresh hugetlb mapping that only this closure touches.
        let p = unsafe { libc::mmap(ptr::null_mut(), len, RW, flags, -1, 0) };
        if p == libc::MAP_FAILED {
            return Err(os_err("mmap(MAP_HUGETLB)"));
        }
        let m = Mapping { ptr: p.cast(), len };
        let f0 = minflt()?;
        let t0 = Instant::now();
        let mut off = 0;
        while off < len {
            // SAFETY: inside the mapping.
            unsafe { ptr::write_volatile(m.ptr.add(off), 1) };
            off += 2 << 20;
        }
        let dt = t0.elapsed().as_secs_f64();
        let nflt = minflt()? - f0;
        m.unmap()?;
        Ok(nflt as f64 / dt)
    })?;
    figure(rates, "faults/s")
}

/// Anonymous THP write faults: `bytes` of private anon memory, 2 MiB aligned, with
/// MADV_HUGEPAGE, one byte written per 2 MiB (each fault allocates, zeroes and maps a THP):
/// faults/s. Fails if the host mapped small pages instead (THP off or no huge page free).
pub fn thp_fault_rate(bytes: usize, reps: usize) -> Result<HostFigure, String> {
    let len = bytes.next_multiple_of(HPAGE);
    let rates = samples(reps, || {
        let m = Mapping::anon(len + HPAGE, RW)?;
        let p = m.ptr.wrapping_add(m.ptr.align_offset(HPAGE));
        // SAFETY: [p, p+len) lies inside the mapping.
        sys(
            unsafe { libc::madvise(p.cast(), len, libc::MADV_HUGEPAGE) },
            "madvise(MADV_HUGEPAGE)",
        )?;
        let f0 = minflt()?;
        let t0 = Instant::now();
        let mut off = 0;
        while off < len {
            // SAFETY: inside the mapping.
            unsafe { ptr::write_volatile(p.add(off), 1) };
            off += HPAGE;
        }
        let dt = t0.elapsed().as_secs_f64();
        let nflt = (minflt()? - f0) as usize;
        m.unmap()?;
        if nflt != len / HPAGE {
            return Err(format!(
                "{nflt} faults for {} huge pages: the host did not map THPs \
                 (transparent_hugepage/enabled, or no free 2 MiB blocks)",
                len / HPAGE
            ));
        }
        Ok(nflt as f64 / dt)
    })?;
    figure(rates, "faults/s")
}

/// fork() with `bytes` of touched private anon memory, then the child writes one byte per page of all of it and exits; total wall time from before fork until the child is reaped, in milliseconds. Also the fork() call time alone. Returns (total ms, fork call ms).
pub fn fork_then_child_writes(
    bytes: usize,
    reps: usize,
) -> Result<(HostFigure, HostFigure), String> {
    let len = page_len(bytes)?;
    let m = Mapping::anon(len, RW)?;
    no_thp(m.ptr, len)?;
    let runs = samples(reps, || {
        // As fork_cow.c: re-write every page (untimed) so fork sees writable, dirty PTEs.
        dirty(m.ptr, len);
        let t0 = Instant::now();
        // SAFETY: the child only does plain stores and _exit (async-signal-safe).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            touch(m.ptr, len, 7); // one COW fault per page
            unsafe { libc::_exit(0) };
        }
        if pid < 0 {
            return Err(os_err("fork"));
        }
        let t1 = Instant::now();
        let mut status: libc::c_int = 0;
        // SAFETY: reaps the child we just forked, retrying if a signal interrupts the wait.
        while unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
            if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return Err(os_err(&format!("waitpid({pid})")));
            }
        }
        let t2 = Instant::now();
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            return Err(format!("fork bench: child died (wait status {status:#x})"));
        }
        Ok(((t2 - t0).as_secs_f64() * 1e3, (t1 - t0).as_secs_f64() * 1e3))
    })?;
    m.unmap()?;
    let (total, call): (Vec<f64>, Vec<f64>) = runs.into_iter().unzip();
    Ok((figure(total, "ms")?, figure(call, "ms")?))
}

/// One timed pass of the mm/mprotect loop on page `p`; fails on the first mprotect error.
fn mprotect_loop(p: *mut u8, iters: usize) -> Result<(), String> {
    for _ in 0..iters {
        mprotect(p, libc::PROT_READ, "mprotect(PROT_READ)")?;
        mprotect(p, RW, "mprotect(PROT_READ|PROT_WRITE)")?;
        // SAFETY: p is writable again after the successful RW mprotect.
        unsafe { p.write_volatile(0) };
    }
    Ok(())
}

/// The mprotect loop from 'mm/mprotect: use mmu_gather' (mprotect(p,4096,PROT_READ); mprotect(p,4096,PROT_READ|PROT_WRITE); *p = 0;) on an isolated 1-page VMA between PROT_NONE guards (as mprotect_bench.c's `isolated` layout): iterations per second over `iters` iterations.
pub fn mprotect_loop_rate(iters: usize, reps: usize) -> Result<HostFigure, String> {
    nonzero(iters, "iters")?;
    let g = Mapping::anon(3 * PAGE, libc::PROT_NONE)?;
    let p = g.ptr.wrapping_add(PAGE); // 1-page RW VMA between two PROT_NONE guards
    mprotect(p, RW, "mprotect(middle page, PROT_READ|PROT_WRITE)")?;
    // SAFETY: p is now a writable page of our mapping; populate it as the anchor does.
    unsafe { p.write_volatile(0) };
    let rates = samples(reps, || {
        let t0 = Instant::now();
        mprotect_loop(p, iters)?;
        Ok(iters as f64 / t0.elapsed().as_secs_f64())
    })?;
    g.unmap()?;
    figure(rates, "iter/s")
}

/// Loads from already-resident pages (TLB hits) of a small buffer (e.g. 64 pages, touched first), as reads per second, using read_volatile so the compiler cannot elide them.
pub fn resident_access_rate(accesses: usize, reps: usize) -> Result<HostFigure, String> {
    // 64 pages fit the L1 dTLB; page i is read at its cache line i (no L1 set aliasing).
    const NPAGES: usize = 64;
    const STRIDE: usize = PAGE + 64;
    nonzero(accesses, "accesses")?;
    let m = Mapping::anon(NPAGES * PAGE, RW)?;
    no_thp(m.ptr, NPAGES * PAGE)?;
    for i in 0..NPAGES {
        // SAFETY: i * STRIDE < NPAGES * PAGE.
        unsafe { m.ptr.add(i * STRIDE).write_volatile(1) };
    }
    let rates = samples(reps, || {
        let mut sum = 0usize;
        let t0 = Instant::now();
        for i in 0..accesses {
            // SAFETY: (i % NPAGES) * STRIDE < NPAGES * PAGE, inside our populated mapping.
            sum += unsafe { m.ptr.add((i % NPAGES) * STRIDE).read_volatile() } as usize;
        }
        let dt = t0.elapsed().as_secs_f64();
        if std::hint::black_box(sum) != accesses {
            return Err(format!(
                "resident access: read back {sum}, expected {accesses}"
            ));
        }
        Ok(accesses as f64 / dt)
    })?;
    m.unmap()?;
    figure(rates, "reads/s")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: usize = 4 << 20;

    fn sane(f: &HostFigure) {
        assert!(f.value.is_finite() && f.value > 0.0, "{f:?}");
        assert!(f.min <= f.value && f.value <= f.max, "{f:?}");
    }

    #[test]
    fn anon_faults_and_resident_small() {
        sane(&anon_fault_rate(SMALL, 1).unwrap());
        sane(&resident_access_rate(100_000, 1).unwrap());
        assert!(anon_fault_rate(0, 1).unwrap_err().contains("bytes"));
    }

    #[test]
    fn fork_small() {
        let (total, call) = fork_then_child_writes(SMALL, 1).unwrap();
        sane(&total);
        sane(&call);
        assert!(call.value <= total.value, "{call:?} vs {total:?}");
    }

    #[test]
    fn mprotect_small_and_errors() {
        sane(&mprotect_loop_rate(1000, 1).unwrap());
        assert!(mprotect_loop_rate(0, 1).unwrap_err().contains("iters"));
        assert!(mprotect_loop_rate(10, 0).unwrap_err().contains("reps"));
        // A kernel rejection (misaligned address: EINVAL) comes back as Err with errno text.
        let g = Mapping::anon(2 * PAGE, RW).unwrap();
        let e = mprotect_loop(g.ptr.wrapping_add(1), 3).unwrap_err();
        assert!(e.contains("mprotect(PROT_READ)") && e.contains("os error 22"));
        // Median as common.h's report(): mean of the middle two for an even count.
        let f = figure(vec![3.0, 1.0, 2.0, 10.0], "x").unwrap();
        assert_eq!((f.value, f.min, f.max), (2.5, 1.0, 10.0));
        assert!(figure(vec![], "x").is_err() && figure(vec![f64::NAN], "x").is_err());
    }
}
