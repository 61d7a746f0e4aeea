//! Native userfaultfd round trips for `mmlab bench`, after the anchor uffd_bench.c "same": the
//! faulting thread and a handler thread share CPU 0; each store to a registered page sleeps
//! until the handler has read the message and resolved it (UFFDIO_COPY for MISSING,
//! UFFDIO_WRITEPROTECT mode 0 for WP). Also the cost of write-protecting a populated range.

use std::{ptr, time::Instant};

use crate::bench::{figure, os_err, samples, HostFigure};
use crate::hostlock::HostLock;
use crate::hugetlb_pool::HugePool;

const PAGE: usize = 4096;
const HPAGE: usize = 2 << 20;
const UFFDIO_API: u64 = 0xC018_AA3F;
const UFFDIO_REGISTER: u64 = 0xC020_AA00;
const UFFDIO_COPY: u64 = 0xC028_AA03;
const UFFDIO_WRITEPROTECT: u64 = 0xC018_AA06;

/// The memory a round trip faults on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Private anonymous, 4 KiB pages.
    Anon,
    /// A memfd mapped MAP_SHARED, 4 KiB pages.
    Shmem,
    /// A hugetlbfs memfd mapped MAP_SHARED, 2 MiB pages.
    Hugetlb,
}

impl Kind {
    fn page(self) -> usize {
        if self == Kind::Hugetlb {
            HPAGE
        } else {
            PAGE
        }
    }
}

fn pin(cpu: usize) {
    // SAFETY: a cpu_set_t on the stack for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn ioctl(fd: i32, req: u64, arg: &mut [u64]) -> Result<(), String> {
    // SAFETY: `arg` is laid out as the ioctl's struct (all u64 fields).
    let rc = unsafe { libc::ioctl(fd, req as libc::c_ulong, arg.as_mut_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(os_err(&format!("ioctl {req:#x}")))
    }
}

/// One measured setup: the userfaultfd, the registered mapping, its backing file.
struct Setup {
    uffd: i32,
    p: *mut u8,
    len: usize,
    memfd: i32,
}

impl Setup {
    fn new(kind: Kind, len: usize, mode: u64) -> Result<Setup, String> {
        // SAFETY: plain syscalls; every resource is released in Drop.
        unsafe {
            // A blocking descriptor: the handler sleeps in read(), as the anchor's does.
            let uffd = libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC) as i32;
            if uffd < 0 {
                return Err(os_err("userfaultfd"));
            }
            let mut s = Setup {
                uffd,
                p: ptr::null_mut(),
                len,
                memfd: -1,
            };
            ioctl(uffd, UFFDIO_API, &mut [0xAA, 0, 0])?;
            let rw = libc::PROT_READ | libc::PROT_WRITE;
            let p = if kind == Kind::Anon {
                let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
                libc::mmap(ptr::null_mut(), len, rw, flags, -1, 0)
            } else {
                let huge = if kind == Kind::Hugetlb {
                    libc::MFD_HUGETLB
                } else {
                    0
                };
                s.memfd = libc::memfd_create(c"mmlab-uffd-bench".as_ptr(), huge);
                if s.memfd < 0 || libc::ftruncate(s.memfd, len as i64) != 0 {
                    return Err(os_err("memfd"));
                }
                libc::mmap(ptr::null_mut(), len, rw, libc::MAP_SHARED, s.memfd, 0)
            };
            if p == libc::MAP_FAILED {
                return Err(os_err("mmap"));
            }
            s.p = p.cast();
            if kind != Kind::Hugetlb {
                libc::madvise(p, len, libc::MADV_NOHUGEPAGE);
            }
            ioctl(uffd, UFFDIO_REGISTER, &mut [p as u64, len as u64, mode, 0])?;
            Ok(s)
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        // SAFETY: releasing what `new` made.
        unsafe {
            if !self.p.is_null() {
                libc::munmap(self.p.cast(), self.len);
            }
            if self.memfd >= 0 {
                libc::close(self.memfd);
            }
            libc::close(self.uffd);
        }
    }
}

/// The handler: a blocking read of each message, then its page resolved; it returns after
/// resolving the fault on `last` (the main thread's closing store). Counts resolved faults.
fn handler(uffd: i32, page: usize, wp: bool, src: u64, last: u64) -> u64 {
    pin(0);
    let mut n = 0;
    let mut msg = [0u64; 4];
    loop {
        // SAFETY: a read of one 32-byte uffd_msg from our userfaultfd.
        if unsafe { libc::read(uffd, msg.as_mut_ptr().cast(), 32) } != 32 {
            continue;
        }
        let addr = msg[2] & !(page as u64 - 1);
        let ok = if wp {
            ioctl(uffd, UFFDIO_WRITEPROTECT, &mut [addr, page as u64, 0])
        } else {
            ioctl(uffd, UFFDIO_COPY, &mut [addr, src, page as u64, 0, 0])
        };
        if addr == last {
            return n;
        }
        if ok.is_ok() {
            n += 1;
        }
    }
}

/// Round trips per second: a store to each page of `bytes` of `kind` memory, each resolved by
/// a handler on the same CPU (MISSING with COPY, or WP with un-protect).
pub fn round_trip_rate(
    turn: &HostLock,
    kind: Kind,
    wp: bool,
    bytes: usize,
    reps: usize,
) -> Result<HostFigure, String> {
    let page = kind.page();
    let len = bytes.next_multiple_of(page);
    let npages = len / page;
    let _pool = match kind {
        Kind::Hugetlb => Some(HugePool::size(turn, npages as u64 + 1)?),
        _ => None,
    };
    let src_buf = vec![0x5au8; page + PAGE];
    let src = (src_buf.as_ptr() as u64).next_multiple_of(PAGE as u64);
    pin(0);
    let rates = samples(reps, || {
        let mode = if wp { 2 } else { 1 };
        // One page more: the store that tells the handler to stop.
        let s = Setup::new(kind, len + page, mode)?;
        if wp {
            for i in 0..=npages {
                // SAFETY: inside the mapping; populating, before the protection.
                unsafe { ptr::write_volatile(s.p.add(i * page), 1) };
            }
            ioctl(
                s.uffd,
                UFFDIO_WRITEPROTECT,
                &mut [s.p as u64, (len + page) as u64, 1],
            )?;
        }
        let last = s.p as u64 + len as u64;
        let uffd = s.uffd;
        let th = std::thread::spawn(move || handler(uffd, page, wp, src, last));
        let t0 = Instant::now();
        for i in 0..npages {
            // SAFETY: inside the registered mapping; the store sleeps until resolved.
            unsafe { ptr::write_volatile(s.p.add(i * page), 2) };
        }
        let dt = t0.elapsed().as_secs_f64();
        // SAFETY: the extra page; its fault ends the handler.
        unsafe { ptr::write_volatile(s.p.add(len), 2) };
        let n = th.join().map_err(|_| "uffd handler panicked".to_string())?;
        if n != npages as u64 {
            return Err(format!("uffd bench: {n} messages for {npages} faults"));
        }
        Ok(npages as f64 / dt)
    })?;
    figure(rates, "round trips/s")
}

/// Nanoseconds per 4 KiB page to write-protect `bytes` of populated, registered anonymous
/// memory with one UFFDIO_WRITEPROTECT.
pub fn writeprotect_ns_per_page(bytes: usize, reps: usize) -> Result<HostFigure, String> {
    let len = bytes.next_multiple_of(PAGE);
    let costs = samples(reps, || {
        let s = Setup::new(Kind::Anon, len, 2)?;
        for off in (0..len).step_by(PAGE) {
            // SAFETY: inside the mapping.
            unsafe { ptr::write_volatile(s.p.add(off), 1) };
        }
        let t0 = Instant::now();
        ioctl(
            s.uffd,
            UFFDIO_WRITEPROTECT,
            &mut [s.p as u64, len as u64, 1],
        )?;
        Ok(t0.elapsed().as_nanos() as f64 / (len / PAGE) as f64)
    })?;
    figure(costs, "ns/page")
}
