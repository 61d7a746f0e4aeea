//! Native GUP figures for `mmlab bench`: bulk pinning and unpinning of faulted anonymous memory
//! through io_uring buffer registration in 64 MiB buffers (as the anchor's io_uring pin test),
//! vmsplice() of one 4 KiB page at a time (a FOLL_GET through GUP-fast each), and R/O pins that
//! must unshare: process_vm_readv() of one byte of each page of a fork()-shared range.

use std::{ptr, time::Instant};

use crate::bench::{figure, os_err, samples, HostFigure};

const PAGE: usize = 4096;
/// The buffer size the bulk registration uses.
pub const PIN_BUFFER: usize = 64 << 20;
/// A pipe's page buffers: vmsplice()s before the pipe is replaced.
const PIPE_BUFFERS: usize = 16;

/// Faulted private anonymous memory, unmapped on drop.
struct Anon {
    p: *mut u8,
    len: usize,
}

impl Anon {
    fn faulted(len: usize) -> Result<Anon, String> {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE;
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: a fresh mapping the kernel places.
        let p = unsafe { libc::mmap(ptr::null_mut(), len, rw, flags, -1, 0) };
        if p == libc::MAP_FAILED {
            return Err(os_err("mmap"));
        }
        let a = Anon { p: p.cast(), len };
        for off in (0..len).step_by(PAGE) {
            // SAFETY: inside the mapping.
            unsafe { a.p.add(off).write_volatile(1) };
        }
        Ok(a)
    }
}

impl Drop for Anon {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.p.cast(), self.len) };
    }
}

/// An io_uring instance, closed on drop.
struct Ring(i32);

impl Ring {
    fn new() -> Result<Ring, String> {
        let mut params = [0u32; 30];
        // SAFETY: params is a zeroed struct io_uring_params.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u64, params.as_mut_ptr()) };
        if fd < 0 {
            return Err(os_err("io_uring_setup"));
        }
        Ok(Ring(fd as i32))
    }

    fn register(&self, op: u64, iov: *const libc::iovec, nr: usize) -> Result<(), String> {
        // SAFETY: iov points at `nr` live iovecs (or is NULL with nr 0).
        let rc = unsafe { libc::syscall(libc::SYS_io_uring_register, self.0, op, iov, nr) };
        if rc < 0 {
            return Err(os_err("io_uring_register"));
        }
        Ok(())
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: our own descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// Pin and unpin `bytes` of faulted anonymous memory with IORING_REGISTER_BUFFERS (64 MiB
/// buffers) and IORING_UNREGISTER_BUFFERS: (pages pinned per second, pages unpinned per second).
pub fn pin_unpin_rates(bytes: usize, reps: usize) -> Result<(HostFigure, HostFigure), String> {
    let len = bytes.next_multiple_of(PIN_BUFFER);
    let mem = Anon::faulted(len)?;
    let iov: Vec<libc::iovec> = (0..len / PIN_BUFFER)
        .map(|i| libc::iovec {
            iov_base: mem.p.wrapping_add(i * PIN_BUFFER).cast(),
            iov_len: PIN_BUFFER,
        })
        .collect();
    let pages = (len / PAGE) as f64;
    let runs = samples(reps, || {
        let ring = Ring::new()?;
        let t0 = Instant::now();
        ring.register(0, iov.as_ptr(), iov.len())?;
        let pin = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        ring.register(1, ptr::null(), 0)?;
        let unpin = t1.elapsed().as_secs_f64();
        Ok((pages / pin, pages / unpin))
    })?;
    Ok((
        figure(runs.iter().map(|r| r.0).collect(), "pages/s")?,
        figure(runs.iter().map(|r| r.1).collect(), "pages/s")?,
    ))
}

/// A pipe's two ends, closed on drop.
struct Pipe([i32; 2]);

impl Pipe {
    fn new() -> Result<Pipe, String> {
        let mut fds = [0i32; 2];
        // SAFETY: fds is a two-int array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) } != 0 {
            return Err(os_err("pipe2"));
        }
        Ok(Pipe(fds))
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // SAFETY: our own descriptors; closing both ends drops the spliced pages.
        unsafe {
            libc::close(self.0[0]);
            libc::close(self.0[1]);
        }
    }
}

/// vmsplice() of one page at a time over `bytes` of faulted anonymous memory, a fresh pipe
/// every 16 pages (closing one drops its page references): pages per second.
pub fn vmsplice_page_rate(bytes: usize, reps: usize) -> Result<HostFigure, String> {
    let len = bytes.next_multiple_of(PAGE);
    let mem = Anon::faulted(len)?;
    let rates = samples(reps, || {
        let t0 = Instant::now();
        let mut pipe = Pipe::new()?;
        for (i, off) in (0..len).step_by(PAGE).enumerate() {
            if i > 0 && i % PIPE_BUFFERS == 0 {
                pipe = Pipe::new()?;
            }
            let iov = libc::iovec {
                iov_base: mem.p.wrapping_add(off).cast(),
                iov_len: PAGE,
            };
            // SAFETY: one live iovec.
            let n = unsafe { libc::syscall(libc::SYS_vmsplice, pipe.0[1], &iov, 1u64, 0u64) };
            if n != PAGE as i64 {
                return Err(os_err("vmsplice"));
            }
        }
        drop(pipe);
        Ok((len / PAGE) as f64 / t0.elapsed().as_secs_f64())
    })?;
    figure(rates, "pages/s")
}

/// R/O pins that must unshare: `bytes` of faulted anonymous memory shared with a forked child
/// that waits, then process_vm_readv() of one byte of each page from the process itself (a
/// FOLL_PIN without FOLL_WRITE: every page is copied at pin time): pages per second.
pub fn unshare_pin_rate(bytes: usize, reps: usize) -> Result<HostFigure, String> {
    let len = bytes.next_multiple_of(PAGE);
    let rates = samples(reps, || {
        let mem = Anon::faulted(len)?;
        let hold = Pipe::new()?;
        // SAFETY: the child only blocks in a read of its pipe and exits.
        let child = unsafe { libc::fork() };
        if child < 0 {
            return Err(os_err("fork"));
        }
        if child == 0 {
            unsafe {
                let fl = libc::fcntl(hold.0[0], libc::F_GETFL);
                libc::fcntl(hold.0[0], libc::F_SETFL, fl & !libc::O_NONBLOCK);
                let mut b = 0u8;
                libc::read(hold.0[0], (&mut b as *mut u8).cast(), 1);
                libc::_exit(0);
            }
        }
        // SAFETY: getpid() has no arguments.
        let me = unsafe { libc::getpid() };
        let mut byte = 0u8;
        let local = libc::iovec {
            iov_base: (&mut byte as *mut u8).cast(),
            iov_len: 1,
        };
        let t0 = Instant::now();
        let mut failed = None;
        for off in (0..len).step_by(PAGE) {
            let remote = libc::iovec {
                iov_base: mem.p.wrapping_add(off).cast(),
                iov_len: 1,
            };
            // SAFETY: one live iovec each way.
            let n = unsafe { libc::process_vm_readv(me, &local, 1, &remote, 1, 0) };
            if n != 1 {
                failed = Some(os_err("process_vm_readv"));
                break;
            }
        }
        let dt = t0.elapsed().as_secs_f64();
        // SAFETY: wakes and reaps our child.
        unsafe {
            libc::write(hold.0[1], [0u8].as_ptr().cast(), 1);
            libc::waitpid(child, ptr::null_mut(), 0);
        }
        match failed {
            Some(e) => Err(e),
            None => Ok((len / PAGE) as f64 / dt),
        }
    })?;
    figure(rates, "pages/s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_runs_measure_something() {
        let (pin, unpin) = pin_unpin_rates(PIN_BUFFER, 1).unwrap();
        assert!(pin.value > 0.0 && unpin.value > 0.0);
        assert!(vmsplice_page_rate(1 << 20, 1).unwrap().value > 0.0);
        assert!(unshare_pin_rate(1 << 20, 1).unwrap().value > 0.0);
    }
}
