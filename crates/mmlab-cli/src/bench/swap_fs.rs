//! The swap-over-NFS rows of `mmlab bench` (issue 14): anonymous memory paged out to a swap
//! file of the model's network filesystem, written for real to a host file through ->swap_rw()
//! and read back by touching it, under linux-5.19 (plugged, asynchronous requests of up to
//! SWAP_CLUSTER_MAX pages) and under linux-5.18 (one synchronous page per request); beside
//! the host kernel swapping the same amount to a swap file on the same disk.

use std::time::Instant;

use mmlab::uapi::*;
use mmlab::{Config, ContentMode, Kernel, Profile};
use mmlab_live::swap_bench as host;
use mmlab_live::HostLock;

use super::row::{Quantity, Row, Spread, Target};
use super::swap::{progress, spinner};
use super::{anon_map, host_or_note, PAGE};

/// The tag page `i` gets (never zero).
fn tag(i: u64) -> u8 {
    (i % 255) as u8 + 1
}

/// One model run of `bytes` out and back under `profile`: (pages/s over both directions,
/// pages per ->swap_rw() request). Out is one MADV_PAGEOUT of the range (the writes and their
/// completions); back in is a touch of every page after the clean swap-cache copies 5.19
/// keeps were dropped (a touch and a second MADV_PAGEOUT, not timed), so every page is read
/// from the host file (with swap read-ahead).
pub(super) fn model_swap_rw(bytes: u64, profile: Profile) -> (f64, f64) {
    let mut cfg = Config::new(profile);
    cfg.content = ContentMode::Tagged;
    cfg.memory_bytes = 2 * bytes + (64 << 20);
    let mut k = Kernel::new(cfg);
    let t = k.spawn_process(0).expect("process");
    let device = bytes + (bytes / 64).next_multiple_of(2 << 20);
    k.create_nfs_swap_file("nfs0", device, false, None)
        .expect("a host file for the swap file");
    k.swapon(t, "nfs0", 0).expect("swapon");
    let p = anon_map(&mut k, t, bytes);
    k.madvise(t, p, bytes, MADV_NOHUGEPAGE).expect("nohugepage");
    let n = bytes / PAGE;
    for i in 0..n {
        k.store(t, p + i * PAGE, tag(i)).expect("fill");
    }
    let start = Instant::now();
    k.madvise(t, p, bytes, MADV_PAGEOUT).expect("pageout");
    let out_secs = start.elapsed().as_secs_f64();
    assert_eq!(k.vmstat.pswpout, n, "every page was written");
    if k.meminfo("SwapCached").unwrap_or(0) > 0 {
        for i in 0..n {
            k.load(t, p + i * PAGE).expect("minor fault");
        }
        k.madvise(t, p, bytes, MADV_PAGEOUT)
            .expect("drop clean copies");
    }
    let start = Instant::now();
    let mut bad = 0;
    for i in 0..n {
        if k.load(t, p + i * PAGE).expect("swap-in") != tag(i) {
            bad += 1;
        }
    }
    let in_secs = start.elapsed().as_secs_f64();
    assert_eq!(bad, 0, "every page came back from the host file");
    assert!(k.vmstat.pswpin > 0, "a real swap-in");
    let io = &k.swap_fs_io;
    let per_request = io.pages as f64 / io.requests.max(1) as f64;
    ((2 * n) as f64 / (out_secs + in_secs), per_request)
}

/// The rows: 5.19 against 5.18 (>= 5x), 5.19 against the host swapping to a swap file (>= 1x),
/// and the pages per request of each profile.
pub(super) fn rows(turn: &HostLock, bytes: u64, runs: usize) -> Vec<Row> {
    let bar = progress(2 * runs as u64, "model swap over NFS, 5.19 and 5.18");
    let runs_of = |profile| -> (Vec<f64>, Vec<f64>) {
        (0..runs)
            .map(|_| {
                bar.inc(1);
                model_swap_rw(bytes, profile)
            })
            .unzip()
    };
    let (new, new_req) = runs_of(Profile::Linux519);
    let (old, old_req) = runs_of(Profile::Linux518);
    bar.finish_and_clear();
    let spin = spinner("host pageout + swap-in (swap file)");
    let host = host::swapfile_rates(turn, bytes as usize, runs);
    spin.finish_and_clear();
    let host = host_or_note(host, "swap file out + in");
    vec![
        Row::new(
            "swap_rw 5.19 (host: 5.18)",
            Quantity::Rate("pages/s"),
            Spread::of(new.clone()),
            Some(Spread::of(old)),
            Target::Faster(5.0),
        ),
        Row::new(
            "swap_rw 5.19 vs host file",
            Quantity::Rate("pages/s"),
            Spread::of(new),
            host.map(|h| Spread::of_host(&h, runs, 1.0)),
            Target::Faster(1.0),
        ),
        Row::new(
            "swap_rw pages/request",
            Quantity::Rate("pages/req"),
            Spread::of(new_req),
            Some(Spread::of(old_req)),
            Target::Report,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugged_requests_carry_many_pages_and_5_18_one() {
        let (_, new) = model_swap_rw(8 << 20, Profile::Linux519);
        let (_, old) = model_swap_rw(8 << 20, Profile::Linux518);
        assert!(new > 8.0, "5.19 gathers pages: {new} per request");
        assert_eq!(old, 1.0, "5.18: one page a request");
    }

    #[test]
    #[ignore = "a measurement with the host: cargo test -p mmlab-cli --release -- --ignored swap_fs"]
    fn print_rows_with_the_host() {
        let turn = HostLock::acquire().expect("the host lock");
        let mb = std::env::var("SWAPFS_MB").map_or(1024, |v| v.parse().unwrap_or(1024));
        for r in rows(&turn, mb << 20, 3) {
            eprintln!("{r:?}");
        }
    }

    #[test]
    #[ignore = "a measurement: cargo test -p mmlab-cli --release -- --ignored swap_fs"]
    fn print_model_rates() {
        let bytes = std::env::var("SWAPFS_MB").map_or(64, |v| v.parse().unwrap_or(64)) << 20;
        for p in Profile::all() {
            let (r, q) = model_swap_rw(bytes, p);
            eprintln!("{p}: {r:.0} pages/s, {q:.1} pages/request");
        }
    }
}
