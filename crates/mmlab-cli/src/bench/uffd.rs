//! The userfaultfd rows of `mmlab bench`: MISSING and WP round trips (fault, read, resolve,
//! wake, retry) on anon, shmem and hugetlb, and the cost of write-protecting a populated range,
//! each beside the host's (`mmlab_live::uffd_bench`, after the anchor uffd_bench.c "same").

use mmlab::mm::memfd::MFD_HUGETLB;
use mmlab::uapi::userfaultfd::UFFDIO_WRITEPROTECT_MODE_WP;
use mmlab::uapi::userfaultfd::{UFFDIO_REGISTER_MODE_MISSING, UFFDIO_REGISTER_MODE_WP, UFFD_API};
use mmlab::uapi::*;
use mmlab::{Kernel, Signal, Tid};
use mmlab_live::uffd_bench::{self as host, Kind};
use std::time::Instant;

use mmlab_live::HostLock;

use super::row::{Quantity, Row, Spread, Target};
use super::{host_or_note, kernel, model_spread, rate_row, PAGE};

const HPAGE: u64 = 2 << 20;

fn page_of(kind: Kind) -> u64 {
    if kind == Kind::Hugetlb {
        HPAGE
    } else {
        PAGE
    }
}

/// A registered mapping of `len` bytes of `kind` memory, its userfaultfd, and the handler task.
fn setup(kind: Kind, len: u64, mode: u64) -> (Kernel, Tid, Tid, i64, u64) {
    let (mut k, t) = kernel(len + HPAGE);
    if kind == Kind::Hugetlb {
        let n = len / HPAGE + 1;
        assert_eq!(k.set_nr_hugepages(n), n, "model hugetlb pool");
    }
    let h = k.spawn_thread(t, 0).expect("handler thread");
    let uffd = k
        .userfaultfd(h, mmlab::uapi::O_NONBLOCK)
        .expect("userfaultfd") as i64;
    k.uffdio_api(h, uffd, UFFD_API, 0).expect("UFFDIO_API");
    let rw = PROT_READ | PROT_WRITE;
    let p = match kind {
        Kind::Anon => k.mmap(t, 0, len, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
        Kind::Shmem | Kind::Hugetlb => {
            let flags = if kind == Kind::Hugetlb {
                MFD_HUGETLB
            } else {
                0
            };
            let fd = k.memfd_create(t, "uffd-bench", flags).expect("memfd") as i64;
            k.ftruncate(t, fd, len as i64).expect("ftruncate");
            k.mmap(t, 0, len, rw, MAP_SHARED, fd, 0)
        }
    }
    .expect("mmap");
    k.uffdio_register(h, uffd, p, len, mode).expect("register");
    (k, t, h, uffd, p)
}

/// Round trips per second on the model: every store to a page of the range sleeps, the
/// handler reads the message and resolves the page (COPY for MISSING, un-protect for WP), the
/// store is retried and lands.
fn model_round_trips(kind: Kind, wp: bool, bytes: u64) -> f64 {
    let page = page_of(kind);
    let len = bytes.next_multiple_of(page);
    let mode = if wp {
        UFFDIO_REGISTER_MODE_WP
    } else {
        UFFDIO_REGISTER_MODE_MISSING
    };
    let (mut k, t, h, uffd, p) = setup(kind, len, mode);
    let src = k
        .mmap(
            h,
            0,
            page,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1,
            0,
        )
        .expect("src");
    k.memset(h, src, 0x5a, page).expect("src");
    if wp {
        for a in (p..p + len).step_by(page as usize) {
            k.store(t, a, 1).expect("populate");
        }
        k.uffdio_writeprotect(h, uffd, p, len, UFFDIO_WRITEPROTECT_MODE_WP)
            .expect("protect");
    }
    let start = Instant::now();
    for a in (p..p + len).step_by(page as usize) {
        assert_eq!(
            k.store(t, a, 2),
            Err(Signal::Userfault),
            "every page faults"
        );
        let m = k.uffd_read(h, uffd).expect("read").expect("a message");
        let at = m.address() & !(page - 1);
        if wp {
            k.uffdio_writeprotect(h, uffd, at, page, 0)
                .expect("resolve");
        } else {
            k.uffdio_copy(h, uffd, at, src, page, 0).expect("copy");
        }
        k.store(t, a, 2).expect("retried store");
    }
    (len / page) as f64 / start.elapsed().as_secs_f64()
}

/// Seconds per page for one UFFDIO_WRITEPROTECT over `bytes` of populated anonymous memory.
fn model_writeprotect_cost(bytes: u64) -> f64 {
    let (mut k, t, h, uffd, p) = setup(Kind::Anon, bytes, UFFDIO_REGISTER_MODE_WP);
    for a in (p..p + bytes).step_by(PAGE as usize) {
        k.store(t, a, 1).expect("populate");
    }
    let start = Instant::now();
    k.uffdio_writeprotect(h, uffd, p, bytes, UFFDIO_WRITEPROTECT_MODE_WP)
        .expect("protect");
    start.elapsed().as_secs_f64() / (bytes / PAGE) as f64
}

/// The userfaultfd rows; round trips must be 10x the host's, the range protection 2x cheaper.
pub(super) fn rows(turn: &HostLock, quick: bool, runs: usize) -> Vec<Row> {
    let small: u64 = if quick { 8 << 20 } else { 64 << 20 };
    let huge: u64 = if quick { 16 << 20 } else { 128 << 20 };
    let mut rows = Vec::new();
    let cases = [
        ("uffd MISSING anon", Kind::Anon, false),
        ("uffd WP anon", Kind::Anon, true),
        ("uffd MISSING shmem", Kind::Shmem, false),
        ("uffd WP shmem", Kind::Shmem, true),
        ("uffd MISSING hugetlb", Kind::Hugetlb, false),
        ("uffd WP hugetlb", Kind::Hugetlb, true),
    ];
    for (name, kind, wp) in cases {
        let bytes = if kind == Kind::Hugetlb { huge } else { small };
        eprintln!("    {name}: round trips over {} MiB ...", bytes >> 20);
        rows.push(rate_row(
            name,
            "trips/s",
            runs,
            || model_round_trips(kind, wp, bytes),
            host::round_trip_rate(turn, kind, wp, bytes as usize, runs),
            Target::Faster(10.0),
        ));
    }
    let wp_bytes: u64 = if quick { 64 << 20 } else { 1 << 30 };
    eprintln!("    write-protecting {} MiB of anon ...", wp_bytes >> 20);
    let m = model_spread(runs, || model_writeprotect_cost(wp_bytes));
    let h = host_or_note(
        host::writeprotect_ns_per_page(wp_bytes as usize, runs),
        "uffd write-protect",
    );
    rows.push(Row::new(
        "uffd wr-protect anon range",
        Quantity::SecondsPerPage,
        m,
        h.map(|h| Spread::of_host(&h, runs, 1e-9)),
        Target::Cheaper(2.0),
    ));
    rows
}
