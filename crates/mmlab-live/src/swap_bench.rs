//! Native swap figures for `mmlab bench`, on a zram device made for the run through
//! `swap_areas` (given back afterwards, a failure or an interrupt included):
//!
//! - MADV_PAGEOUT of anonymous memory and the touch that swaps it all back, as the anchor
//!   pageout_bench.c: each page gets 64 distinct bytes and a last byte, the whole range is paged
//!   out with one madvise, then the first byte of every page is read back and checked.
//! - Reclaim by pressure: a process in a v1 memory cgroup limited to SIZE (under a parent of
//!   our own, `memcg`) fills 2x SIZE of anonymous memory; the rate is /proc/vmstat's pswpout
//!   over the fill's wall time.
//!
//! Each measured run is a child process (forked, its own process group, ended if this process
//! is interrupted), so the memory it swaps is nobody else's; one discarded warm-up, then
//! median/min/max of `reps` runs, as the other host rows.

use std::time::Instant;

use mmlab_scenario::backend::{Skip, SwapDev, SwapSetup};

use crate::bench::{figure, os_err, samples, HostFigure};
use crate::hostlock::HostLock;
use crate::memcg::MemCg;
use crate::{host_state, procfs, swap_areas};

const PAGE: usize = 4096;

/// The swap area of a run (zram, or a swap file on the root disk); given back on drop.
struct Area;

impl Area {
    fn on(turn: &HostLock, bytes: u64, kind: SwapDev) -> Result<Area, String> {
        let s = SwapSetup {
            name: "mmlab-bench".into(),
            bytes,
            kind,
            activate: true,
            at: "mmlab bench".into(),
        };
        swap_areas::set_up(turn, &[s]).map_err(|Skip(e)| e)?;
        Ok(Area)
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        if let Err(e) = swap_areas::give_back() {
            eprintln!("mmlab bench: giving back the swap area: {e}");
        }
    }
}

/// The byte page `i` starts with (never zero, so no page is a zero page).
fn tag(i: usize) -> u8 {
    (i % 255) as u8 + 1
}

/// A private anonymous mapping of `len` bytes without THP, for a child; None on failure.
/// Only async-signal-safe calls.
fn child_map(len: usize) -> Option<*mut u8> {
    // SAFETY: a fresh anonymous mapping chosen by the kernel.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: [p, p+len) is ours.
    unsafe { libc::madvise(p, len, libc::MADV_NOHUGEPAGE) };
    Some(p.cast())
}

/// Give page `i` of `p` its content: 64 bytes of its tag and a last byte (pageout_bench.c).
fn fill_page(p: *mut u8, i: usize) {
    // SAFETY: page i lies inside the caller's mapping.
    unsafe {
        std::ptr::write_bytes(p.add(i * PAGE), tag(i), 64);
        p.add(i * PAGE + PAGE - 1).write_volatile(1);
    }
}

/// (pswpout, pswpin) of /proc/vmstat.
type Pswp = (u64, u64);

/// A child run over `n` pages of a fresh mapping, each given its content: `work`'s four
/// figures (zeroes if the map fails), with the host's (pswpout, pswpin) before and after.
/// `work` runs in the child: async-signal-safe calls only.
fn swap_child(
    n: usize,
    work: impl FnOnce(*mut u8) -> [f64; 4],
) -> Result<([f64; 4], Pswp, Pswp), String> {
    let before = pswp()?;
    let r = in_child(
        |_| Ok(()),
        || {
            let Some(p) = child_map(n * PAGE) else {
                return [0.0; 4];
            };
            for i in 0..n {
                fill_page(p, i);
            }
            work(p)
        },
    )?;
    Ok((r, before, pswp()?))
}

/// Pages of `p` whose first byte is not their tag (after a swap round trip). Async-signal-safe.
fn pages_read_back_wrong(p: *mut u8, n: usize) -> usize {
    (0..n)
        // SAFETY: inside the caller's mapping of n pages.
        .filter(|&i| unsafe { p.add(i * PAGE).read_volatile() } != tag(i))
        .count()
}

/// Most of the range must really have gone out and come back: the pswpout and pswpin deltas.
fn round_trip(before: Pswp, after: Pswp, n: usize) -> Result<Pswp, String> {
    let (wrote, read) = (after.0 - before.0, after.1 - before.1);
    if (wrote as usize) < n * 9 / 10 || (read as usize) < n * 9 / 10 {
        return Err(format!(
            "the host swapped out {wrote} and in {read} of {n} pages: not a swap round trip"
        ));
    }
    Ok((wrote, read))
}

/// Run `work` in a forked child, after `prepare(child's pid)` in the parent; the child's four
/// figures. `work` runs in the child of a multi-threaded process: it may only make
/// async-signal-safe calls (no allocation, no locks).
fn in_child(
    prepare: impl FnOnce(i32) -> Result<(), String>,
    work: impl FnOnce() -> [f64; 4],
) -> Result<[f64; 4], String> {
    let (mut go, mut out) = ([0; 2], [0; 2]);
    // SAFETY: two new pipes, closed below on every path.
    unsafe {
        if libc::pipe2(go.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(os_err("pipe2"));
        }
        if libc::pipe2(out.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            libc::close(go[0]);
            libc::close(go[1]);
            return Err(os_err("pipe2"));
        }
    }
    // SAFETY: the child makes only async-signal-safe calls and ends with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            libc::setpgid(0, 0);
            let mut b = 0u8;
            if libc::read(go[0], (&mut b as *mut u8).cast(), 1) != 1 {
                libc::_exit(1);
            }
            let r = work();
            let n = std::mem::size_of_val(&r);
            let ok = libc::write(out[1], r.as_ptr().cast(), n) == n as isize;
            libc::_exit(if ok { 0 } else { 1 });
        }
    }
    // SAFETY: closing the child's ends in the parent.
    unsafe {
        libc::close(go[0]);
        libc::close(out[1]);
    }
    if pid < 0 {
        unsafe {
            libc::close(go[1]);
            libc::close(out[0]);
        }
        return Err(os_err("fork"));
    }
    // SAFETY: our own child, not yet reaped.
    unsafe { libc::setpgid(pid, pid) };
    host_state::agent_started(pid);
    let started = prepare(pid).and_then(|()| {
        // SAFETY: one byte to our own pipe.
        let n = unsafe { libc::write(go[1], b"!".as_ptr().cast(), 1) };
        (n == 1)
            .then_some(())
            .ok_or_else(|| os_err("write to the child"))
    });
    let mut r = [0f64; 4];
    let got = started.and_then(|()| {
        let want = std::mem::size_of_val(&r);
        // SAFETY: reading the child's figures into r (a blocking read; the pipe is small).
        let n = unsafe { libc::read(out[0], r.as_mut_ptr().cast(), want) };
        (n == want as isize)
            .then_some(r)
            .ok_or_else(|| "the child died before reporting (OOM-killed?)".to_string())
    });
    // SAFETY: ends (if still running) and reaps our child; closes our pipe ends.
    let status = unsafe {
        libc::close(go[1]);
        libc::close(out[0]);
        if got.is_err() {
            libc::kill(pid, libc::SIGKILL);
        }
        let mut status = 0;
        while libc::waitpid(pid, &mut status, 0) != pid {
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
        }
        status
    };
    host_state::agent_ended(pid);
    let r = got?;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!(
            "swap bench: child ended with wait status {status:#x}"
        ));
    }
    Ok(r)
}

fn pswp() -> Result<Pswp, String> {
    Ok((procfs::vmstat("pswpout")?, procfs::vmstat("pswpin")?))
}

/// MADV_PAGEOUT of `bytes` of anonymous memory to a zram device of twice the size, then a
/// touch of every page: (pages/s out, pages/s back in).
pub fn pageout_rates(
    turn: &HostLock,
    bytes: usize,
    reps: usize,
) -> Result<(HostFigure, HostFigure), String> {
    let n = bytes.div_ceil(PAGE);
    let _zram = Area::on(turn, 2 * (n * PAGE) as u64, SwapDev::Zram)?;
    let runs = samples(reps, || {
        let (r, before, after) = swap_child(n, |p| {
            let t0 = Instant::now();
            // SAFETY: the child's own mapping.
            let rc = unsafe { libc::madvise(p.cast(), n * PAGE, libc::MADV_PAGEOUT) };
            let t1 = Instant::now();
            let bad = pages_read_back_wrong(p, n);
            let t2 = Instant::now();
            [
                (t1 - t0).as_secs_f64(),
                (t2 - t1).as_secs_f64(),
                bad as f64,
                f64::from(rc),
            ]
        })?;
        let [out_s, in_s, bad, rc] = r;
        if out_s <= 0.0 || rc != 0.0 || bad != 0.0 {
            return Err(format!(
                "pageout child: madvise rc {rc}, {bad} pages read back wrong"
            ));
        }
        // Most of the range must really have gone to zram and come back from it.
        round_trip(before, after, n)?;
        Ok((n as f64 / out_s, n as f64 / in_s))
    })?;
    let (outs, ins): (Vec<f64>, Vec<f64>) = runs.into_iter().unzip();
    Ok((figure(outs, "pages/s")?, figure(ins, "pages/s")?))
}

/// A /proc/vmstat counter read with async-signal-safe calls only (for a forked child): open,
/// read into a stack buffer, close, and a scan for `name`'s line. None if it cannot be read.
fn vmstat_raw(name: &[u8]) -> Option<u64> {
    let mut buf = [0u8; 16384];
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { libc::open(c"/proc/vmstat".as_ptr(), libc::O_RDONLY) };
    if fd < 0 {
        return None;
    }
    let mut len = 0usize;
    loop {
        // SAFETY: reading into the unused tail of `buf`.
        let r = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if r <= 0 {
            break;
        }
        len += r as usize;
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    buf[..len].split(|&b| b == b'\n').find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(b" ")?;
        rest.iter().try_fold(0u64, |v, &d| {
            d.is_ascii_digit().then(|| v * 10 + u64::from(d - b'0'))
        })
    })
}

/// Sleep `ms` milliseconds (async-signal-safe).
fn nap_ms(ms: i64) {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: ms * 1_000_000,
    };
    // SAFETY: a valid timespec; an early wake-up only shortens the nap.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

/// Swapping `bytes` of anonymous memory out to a swap file on the root disk (twice the size)
/// and back: MADV_PAGEOUT until pswpout has counted every page and no page is under writeback
/// any more, then (not timed) a touch and a second MADV_PAGEOUT that frees the clean swap-cache
/// copies, then a touch of every page, each a real swap-in. Pages per second over both
/// directions (the pswpout + pswpin rate).
pub fn swapfile_rates(turn: &HostLock, bytes: usize, reps: usize) -> Result<HostFigure, String> {
    let n = bytes.div_ceil(PAGE);
    let kind = SwapDev::File(mmlab_scenario::backend::SwapFileKind::Mkswap);
    let _file = Area::on(turn, 2 * (n * PAGE) as u64, kind)?;
    let runs = samples(reps, || {
        let (r, before, after) = swap_child(n, |p| {
            let Some(base) = vmstat_raw(b"pswpout") else {
                return [0.0; 4];
            };
            let t0 = Instant::now();
            // SAFETY: the child's own mapping.
            unsafe { libc::madvise(p.cast(), n * PAGE, libc::MADV_PAGEOUT) };
            while vmstat_raw(b"pswpout").unwrap_or(u64::MAX) < base + n as u64
                || vmstat_raw(b"nr_writeback").unwrap_or(0) != 0
            {
                if t0.elapsed().as_secs() > 600 {
                    return [0.0; 4];
                }
                nap_ms(1);
            }
            let t1 = Instant::now();
            for i in 0..n {
                // SAFETY: inside the mapping.
                unsafe { p.add(i * PAGE).read_volatile() };
            }
            // SAFETY: the child's own mapping.
            unsafe { libc::madvise(p.cast(), n * PAGE, libc::MADV_PAGEOUT) };
            let t2 = Instant::now();
            let bad = pages_read_back_wrong(p, n);
            let t3 = Instant::now();
            [
                (t1 - t0).as_secs_f64(),
                (t3 - t2).as_secs_f64(),
                bad as f64,
                1.0,
            ]
        })?;
        let [out_s, in_s, bad, ok] = r;
        if ok != 1.0 || bad != 0.0 {
            return Err(format!(
                "swap file child: {bad} pages read back wrong (or the pageout never finished)"
            ));
        }
        let (wrote, read) = round_trip(before, after, n)?;
        Ok((wrote + read) as f64 / (out_s + in_s))
    })?;
    figure(runs, "pages/s")
}

/// A child in a memory cgroup limited to `limit` bytes fills twice that much anonymous memory
/// with zram swap present: pages swapped out (pswpout) per second of the fill.
pub fn pressure_swapout_rate(
    turn: &HostLock,
    limit: usize,
    reps: usize,
) -> Result<HostFigure, String> {
    let n = 2 * limit.div_ceil(PAGE);
    let _zram = Area::on(turn, 2 * (n * PAGE) as u64, SwapDev::Zram)?;
    let cg = MemCg::new(turn, "pressure", limit as u64)?;
    let rates = samples(reps, || {
        let (out0, _) = pswp()?;
        let [secs, ..] = in_child(
            |pid| cg.enter(pid),
            || {
                let Some(p) = child_map(n * PAGE) else {
                    return [0.0; 4];
                };
                let t0 = Instant::now();
                for i in 0..n {
                    fill_page(p, i);
                }
                [t0.elapsed().as_secs_f64(), 0.0, 0.0, 0.0]
            },
        )?;
        let (out1, _) = pswp()?;
        let wrote = out1 - out0;
        if secs <= 0.0 || (wrote as usize) < n / 4 {
            return Err(format!(
                "the host swapped out {wrote} pages while {n} pages were filled under a \
                 {} MiB limit",
                limit >> 20
            ));
        }
        Ok(wrote as f64 / secs)
    })?;
    figure(rates, "pages/s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_never_zero() {
        assert!((0..100_000).all(|i| tag(i) != 0));
    }

    #[test]
    fn a_child_reports_its_figures_and_a_failed_prepare_ends_it() {
        let r = in_child(|_| Ok(()), || [1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(r, [1.0, 2.0, 3.0, 4.0]);
        let e = in_child(|_| Err("no".into()), || [0.0; 4]).unwrap_err();
        assert_eq!(e, "no");
    }
}
