//! The content-store rows of `mmlab bench`: a memset over fresh anonymous memory on a model
//! that keeps every byte (ContentMode::Bytes, what scenarios run) against the same memset on a
//! content-free one (ContentMode::Tagged), side by side in each run, and the host memory a
//! page filled that way costs (a page of one byte value keeps no 4 KiB copy).

use mmlab::ContentMode;

use super::row::{Quantity, Row, Spread, Target};
use super::{anon_map, kernel_keeping, PAGE};

/// memset() of `bytes` of fresh anonymous memory (faulting it in): (seconds, host bytes per
/// page it added).
fn memset(bytes: u64, mode: ContentMode) -> (f64, f64) {
    let (mut k, t) = kernel_keeping(bytes, mode);
    let p = anon_map(&mut k, t, bytes);
    let before = k.host_bytes();
    let start = std::time::Instant::now();
    k.memset(t, p, 0x5a, bytes).expect("memset");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(k.load(t, p + bytes - 1), Ok(0x5a), "the memset wrote");
    let per_page = k.host_bytes().saturating_sub(before) as f64 / (bytes / PAGE) as f64;
    (secs, per_page)
}

/// The rows: per run, the memset's time with contents over its time without; the host bytes
/// per page with contents.
pub fn rows(bytes: u64, runs: usize) -> Vec<Row> {
    let (ratios, per_page): (Vec<f64>, Vec<f64>) = (0..runs)
        .map(|_| {
            let (with, per_page) = memset(bytes, ContentMode::Bytes);
            let (without, _) = memset(bytes, ContentMode::Tagged);
            (with / without, per_page)
        })
        .unzip();
    vec![
        Row::new(
            "memset with contents / content-free",
            Quantity::Ratio,
            Spread::of(ratios),
            None,
            Target::Report,
        ),
        Row::new(
            "memory per page, memset with contents",
            Quantity::Bytes,
            Spread::of(per_page),
            None,
            Target::AtMost(64.0),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memset_page_costs_no_copy_of_its_bytes() {
        let rows = rows(8 << 20, 2);
        assert!(rows[0].model.median > 0.0);
        assert!(
            rows[1].model.max < 64.0,
            "{} bytes per page",
            rows[1].model.max
        );
    }
}
