//! The GUP rows of `mmlab bench`: bulk pinning and unpinning through io_uring buffer
//! registration in 64 MiB buffers, vmsplice() of one page at a time, and R/O pins that must
//! unshare after fork(), each beside the host's (`mmlab_live::gup_bench`).

use mmlab::uapi::O_NONBLOCK;
use mmlab_live::gup_bench::{self as host, PIN_BUFFER};
use std::time::Instant;

use super::row::{Quantity, Row, Target};
use super::{anon_map, host_or_note, kernel, rate_row, timed_stores, PAGE};

/// IORING_REGISTER_BUFFERS and IORING_UNREGISTER_BUFFERS of `bytes` of faulted anonymous
/// memory on the model, 64 MiB per buffer: (pages pinned per second, pages unpinned per second).
fn model_pin_unpin(bytes: u64) -> (f64, f64) {
    let (mut k, t) = kernel(bytes);
    let p = anon_map(&mut k, t, bytes);
    timed_stores(&mut k, t, p, bytes, PAGE);
    let ring = k.io_uring_setup(t, 4).expect("ring") as i64;
    let pages = (bytes / PAGE) as f64;
    let buf = PIN_BUFFER as u64;
    let t0 = Instant::now();
    k.io_uring_register_buffers(t, ring, p, buf, bytes / buf)
        .expect("register");
    let pin = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    k.io_uring_unregister_buffers(t, ring).expect("unregister");
    (pages / pin, pages / t1.elapsed().as_secs_f64())
}

/// vmsplice() of one page at a time over `bytes`, a fresh pipe every 16 pages: pages/s.
fn model_vmsplice(bytes: u64) -> f64 {
    let (mut k, t) = kernel(bytes);
    let p = anon_map(&mut k, t, bytes);
    timed_stores(&mut k, t, p, bytes, PAGE);
    let start = Instant::now();
    let mut fds = k.pipe2(t, O_NONBLOCK).expect("pipe");
    for (i, a) in (p..p + bytes).step_by(PAGE as usize).enumerate() {
        if i > 0 && i % 16 == 0 {
            k.close(t, (fds & 0xffff_ffff) as i64).expect("close");
            k.close(t, (fds >> 32) as i64).expect("close");
            fds = k.pipe2(t, O_NONBLOCK).expect("pipe");
        }
        let n = k
            .vmsplice(t, (fds >> 32) as i64, a, PAGE, 0)
            .expect("vmsplice");
        assert_eq!(n, PAGE);
    }
    k.close(t, (fds & 0xffff_ffff) as i64).expect("close");
    k.close(t, (fds >> 32) as i64).expect("close");
    (bytes / PAGE) as f64 / start.elapsed().as_secs_f64()
}

/// process_vm_readv() of one byte of each page of `bytes` shared with a fork() child, from the
/// process itself: each a R/O pin that unshares by a copy. Pages/s.
fn model_unshare(bytes: u64) -> f64 {
    let (mut k, t) = kernel(bytes);
    let p = anon_map(&mut k, t, bytes);
    timed_stores(&mut k, t, p, bytes, PAGE);
    let local = anon_map(&mut k, t, PAGE);
    k.store(t, local, 0).expect("local");
    let _child = k.fork(t).expect("fork");
    let me = k.getpid(t).expect("pid");
    let start = Instant::now();
    for a in (p..p + bytes).step_by(PAGE as usize) {
        let n = k
            .process_vm_rw(t, me, (local, a, 1), 0, false)
            .expect("process_vm_readv");
        assert_eq!(n, 1);
    }
    (bytes / PAGE) as f64 / start.elapsed().as_secs_f64()
}

/// The GUP rows: bulk pins at least as fast as the host's, per-page pins three times.
pub(super) fn rows(bytes: u64, runs: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    let size = format!("{} MiB", bytes >> 20);
    eprintln!("    pinning and unpinning {size} in 64 MiB io_uring buffers ...");
    let model: Vec<(f64, f64)> = (0..runs).map(|_| model_pin_unpin(bytes)).collect();
    let h = host_or_note(host::pin_unpin_rates(bytes as usize, runs), "pin/unpin");
    let (hp, hu) = match h {
        Some((p, u)) => (Some(p), Some(u)),
        None => (None, None),
    };
    for (name, m, h) in [
        (
            "GUP pin (io_uring 64 MiB buffers)",
            model.iter().map(|r| r.0).collect::<Vec<_>>(),
            hp,
        ),
        (
            "GUP unpin (io_uring 64 MiB buffers)",
            model.iter().map(|r| r.1).collect(),
            hu,
        ),
    ] {
        rows.push(Row::new(
            name,
            Quantity::Rate("pages/s"),
            super::Spread::of(m),
            h.map(|h| super::Spread::of_host(&h, runs, 1.0)),
            Target::Faster(1.0),
        ));
    }
    eprintln!("    vmsplice of one page at a time over {size} ...");
    rows.push(rate_row(
        "vmsplice one page at a time",
        "pages/s",
        runs,
        || model_vmsplice(bytes),
        host::vmsplice_page_rate(bytes as usize, runs),
        Target::Faster(3.0),
    ));
    eprintln!("    R/O pins unsharing {size} after fork ...");
    rows.push(rate_row(
        "R/O pin after fork (unshare)",
        "pages/s",
        runs,
        || model_unshare(bytes),
        host::unshare_pin_rate(bytes as usize, runs),
        Target::Faster(3.0),
    ));
    rows
}
