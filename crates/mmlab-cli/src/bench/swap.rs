//! The swap rows of `mmlab bench` (issue 11): MADV_PAGEOUT of anonymous memory to zram and the
//! touch that brings it back, beside the host's (`mmlab_live::swap_bench`, after the anchor
//! pageout_bench.c), the host memory the model spends per swapped-out page, and reclaim by
//! pressure (filling twice the memory with swap present) beside the host's under a memory
//! cgroup limit.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use mmlab::uapi::*;
use mmlab::{Config, ContentMode, Kernel, Profile, Tid};
use mmlab_live::swap_bench as host;
use mmlab_live::HostLock;

use super::row::{Quantity, Row, Spread, Target};
use super::{anon_map, host_or_note, kernel, PAGE};

/// A progress bar over `len` steps on a terminal's stderr (hidden otherwise).
pub(super) fn progress(len: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template("    {msg} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    b.set_message(what.to_string());
    b
}

/// A spinner for a host measurement of unknown length (hidden off a terminal).
pub(super) fn spinner(what: &str) -> ProgressBar {
    let b = ProgressBar::new_spinner();
    b.set_style(
        ProgressStyle::with_template("    {spinner} {msg} {elapsed}").expect("a valid template"),
    );
    b.set_message(what.to_string());
    b.enable_steady_tick(std::time::Duration::from_millis(200));
    b
}

/// The tag page `i` gets (never zero, as on the host).
fn tag(i: u64) -> u8 {
    (i % 255) as u8 + 1
}

/// Swap a zram device of `device` bytes on in `k`.
fn zram_on(k: &mut Kernel, t: Tid, device: u64) {
    k.create_zram("zram0", device).expect("zram");
    k.swapon(t, "zram0", 0).expect("swapon");
}

/// One run on the model: `bytes` of anonymous memory filled with non-zero tags, paged out with
/// one MADV_PAGEOUT to a zram device, then every page touched back and checked. (pages/s out,
/// pages/s in, host bytes per swapped-out page). The bytes per page are host_bytes() after the
/// pageout less before the device was swapped on, over the pages swapped out; the device holds
/// the range and 1% more (the slot caches' batches and cluster rounding).
pub(super) fn model_pageout(bytes: u64) -> (f64, f64, f64) {
    let (mut k, t) = kernel(bytes);
    let p = anon_map(&mut k, t, bytes);
    k.madvise(t, p, bytes, MADV_NOHUGEPAGE).expect("nohugepage");
    let n = bytes / PAGE;
    for i in 0..n {
        k.store(t, p + i * PAGE, tag(i)).expect("fill");
    }
    let before = k.host_bytes();
    zram_on(&mut k, t, bytes + (bytes / 100).next_multiple_of(2 << 20));
    let out0 = k.counter("pswpout").expect("pswpout");
    let start = Instant::now();
    k.madvise(t, p, bytes, MADV_PAGEOUT).expect("pageout");
    let out_secs = start.elapsed().as_secs_f64();
    let swapped = k.counter("pswpout").expect("pswpout") - out0;
    assert_eq!(swapped, n, "every page went to zram");
    let per_page = k.host_bytes().saturating_sub(before) as f64 / n as f64;
    let in0 = k.counter("pswpin").expect("pswpin");
    let start = Instant::now();
    let mut bad = 0;
    for i in 0..n {
        if k.load(t, p + i * PAGE).expect("touch") != tag(i) {
            bad += 1;
        }
    }
    let in_secs = start.elapsed().as_secs_f64();
    assert_eq!(bad, 0, "every page came back");
    assert_eq!(
        k.counter("pswpin").expect("pswpin") - in0,
        n,
        "a real swap-in from zram"
    );
    (n as f64 / out_secs, n as f64 / in_secs, per_page)
}

/// The MADV_PAGEOUT rows (out, back in: 3x the host's each) and the memory per swapped-out
/// page (at most 16 bytes), over `bytes` of anonymous memory.
pub(super) fn pageout_rows(turn: &HostLock, bytes: u64, runs: usize) -> Vec<Row> {
    let bar = progress(runs as u64, "model pageout + swap-in");
    let (mut outs, mut ins, mut per_page) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (o, i, b) = model_pageout(bytes);
        outs.push(o);
        ins.push(i);
        per_page.push(b);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let bar = spinner("host pageout + swap-in (zram)");
    let host = host::pageout_rates(turn, bytes as usize, runs);
    bar.finish_and_clear();
    let host = host_or_note(host, "MADV_PAGEOUT");
    let (host_out, host_in) = host.unzip();
    let of = |h: Option<mmlab_live::bench::HostFigure>| h.map(|h| Spread::of_host(&h, runs, 1.0));
    vec![
        Row::new(
            "MADV_PAGEOUT anon to zram",
            Quantity::Rate("pages/s"),
            Spread::of(outs),
            of(host_out),
            Target::Faster(3.0),
        ),
        Row::new(
            "swap-in by touch from zram",
            Quantity::Rate("pages/s"),
            Spread::of(ins),
            of(host_in),
            Target::Faster(3.0),
        ),
        Row::new(
            "memory per swapped-out pg",
            Quantity::Bytes,
            Spread::of(per_page),
            None,
            Target::AtMost(16.0),
        ),
    ]
}

/// One run on the model: a kernel with `memory` = `limit` and a zram device fills twice
/// `limit` of anonymous memory; pages reclaimed to swap (pswpout) per second of the fill. Err
/// when the model cannot fill it (no reclaim under pressure: the store fails).
pub(super) fn model_pressure(limit: u64) -> Result<f64, String> {
    let mut cfg = Config::new(Profile::Linux519);
    cfg.content = ContentMode::Tagged;
    cfg.memory_bytes = limit;
    let mut k = Kernel::new(cfg);
    let t = k.spawn_process(0).map_err(|e| format!("spawn: {e:?}"))?;
    let fill = 2 * limit;
    zram_on(&mut k, t, 2 * fill);
    // The model's __vm_enough_memory() leaves swap out of its heuristic (5.19 counts
    // totalram + total_swap_pages): map the fill in pieces of half the memory.
    let piece = limit / 2;
    let pieces: Vec<u64> = (0..fill / piece)
        .map(|_| {
            let p = anon_map(&mut k, t, piece);
            k.madvise(t, p, piece, MADV_NOHUGEPAGE).expect("nohugepage");
            p
        })
        .collect();
    let n = fill / PAGE;
    let out0 = k.counter("pswpout").expect("pswpout");
    let start = Instant::now();
    for i in 0..n {
        let a = pieces[(i * PAGE / piece) as usize] + i * PAGE % piece;
        k.store(t, a, tag(i)).map_err(|s| {
            format!(
                "the store to page {i} of {n} with memory {} MiB failed ({s:?}): no reclaim \
                 under pressure",
                limit >> 20
            )
        })?;
    }
    let secs = start.elapsed().as_secs_f64();
    let reclaimed = k.counter("pswpout").expect("pswpout") - out0;
    if reclaimed == 0 {
        return Err("the fill swapped nothing out".into());
    }
    Ok(reclaimed as f64 / secs)
}

/// Reclaim by pressure: the model's pages reclaimed per second beside the host's pswpout rate
/// (no target). None, with a note giving the host's figure, when the model cannot reclaim.
pub(super) fn pressure_row(turn: &HostLock, limit: u64, runs: usize) -> Option<Row> {
    let bar = progress(runs as u64, "model fill of 2x memory");
    let model: Result<Vec<f64>, String> = (0..runs)
        .map(|_| {
            let r = model_pressure(limit);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    let bar = spinner("host fill of 2x a memory cgroup's limit (zram)");
    let host = host::pressure_swapout_rate(turn, limit as usize, runs);
    bar.finish_and_clear();
    let host = host_or_note(host, "reclaim by pressure");
    match model {
        Ok(rates) => Some(Row::new(
            "reclaim by pressure",
            Quantity::Rate("pages/s"),
            Spread::of(rates),
            host.map(|h| Spread::of_host(&h, runs, 1.0)),
            Target::Report,
        )),
        Err(e) => {
            let h = host.map_or("-".into(), |h| {
                format!("{} pages/s", super::table::si(h.value, ""))
            });
            eprintln!("reclaim by pressure: model: {e} (row left out; host median {h})");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_pageout_round_trip_runs_on_the_model() {
        let (out, back, per_page) = model_pageout(4 << 20);
        assert!(out > 0.0 && back > 0.0, "{out} {back}");
        assert!(per_page > 0.0, "swapping out costs host memory: {per_page}");
    }

    #[test]
    fn a_small_fill_of_twice_the_memory_reclaims_or_says_why_not() {
        match model_pressure(8 << 20) {
            Ok(rate) => assert!(rate > 0.0),
            Err(e) => assert!(e.contains("no reclaim under pressure"), "{e}"),
        }
    }
}
