//! The pictures `mmlab damon` draws with plotters, each as PNG and SVG: the heat map (time
//! across, address up, access frequency as colour) and the working-set-size curve (DAMON's
//! against the true one the model knows).

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::damon::Snapshot;

const SIZE: (u32, u32) = (900, 600);
const MIB: f64 = (1u64 << 20) as f64;

/// Labels need a TrueType font (plotters' ab_glyph backend reads none by itself): the system's
/// sans-serif, registered once. Without one the pictures are drawn without text.
fn have_font() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let fc = std::process::Command::new("fc-match")
            .args(["-f", "%{file}", "sans-serif"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        let candidates = fc
            .into_iter()
            .chain(["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".to_string()]);
        candidates.filter_map(|p| std::fs::read(p).ok()).any(|b| {
            let bytes: &'static [u8] = Box::leak(b.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        })
    })
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The first record's time, in ns (the x axis starts there).
fn t0(snaps: &[Snapshot]) -> u64 {
    snaps.first().map_or(0, |s| s.time_ns)
}

/// The heat map: one column per aggregation, a rectangle per region, brighter = more accesses.
fn heatmap<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    snaps: &[Snapshot],
    max_nr: u32,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&BLACK).map_err(err)?;
    let recs = || snaps.iter().flat_map(|s| &s.records);
    let lo = recs().map(|r| r.start).min().unwrap_or(0);
    let hi = recs().map(|r| r.end).max().unwrap_or(1).max(lo + 1);
    let start = t0(snaps);
    let secs = |ns: u64| (ns - start) as f64 / 1e9;
    // Each aggregation's column reaches the next one's time (the last: one more interval).
    let step = snaps
        .windows(2)
        .next()
        .map_or(0.1, |w| secs(w[1].time_ns) - secs(w[0].time_ns));
    let t_end = snaps.last().map_or(step, |s| secs(s.time_ns) + step);
    let y_end = (hi - lo) as f64 / MIB;
    let mut b = ChartBuilder::on(&root);
    b.margin(10);
    if have_font() {
        b.caption(
            format!("DAMON heat map (address offset from {lo:#x})"),
            ("sans-serif", 18).into_font().color(&WHITE),
        )
        .x_label_area_size(35)
        .y_label_area_size(60);
    }
    let mut chart = b.build_cartesian_2d(0.0..t_end, 0.0..y_end).map_err(err)?;
    if have_font() {
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("time (s)")
            .y_desc("address (MiB)")
            .axis_style(WHITE)
            .label_style(("sans-serif", 13).into_font().color(&WHITE))
            .axis_desc_style(("sans-serif", 14).into_font().color(&WHITE))
            .draw()
            .map_err(err)?;
    }
    let cells = snaps.iter().enumerate().flat_map(|(i, s)| {
        let x0 = secs(s.time_ns);
        let x1 = snaps.get(i + 1).map_or(x0 + step, |n| secs(n.time_ns));
        s.records
            .iter()
            .filter(|r| r.nr_accesses > 0)
            .map(move |r| {
                let heat = (r.nr_accesses as f64 / max_nr.max(1) as f64).min(1.0);
                let c = (55.0 + 200.0 * heat) as u8;
                let (y0, y1) = ((r.start - lo) as f64 / MIB, (r.end - lo) as f64 / MIB);
                Rectangle::new([(x0, y0), (x1, y1)], RGBColor(c, c / 2, 0).filled())
            })
    });
    chart.draw_series(cells).map_err(err)?;
    root.present().map_err(err)
}

/// The WSS curve: DAMON's (red) and the true working set (blue), MiB per aggregation.
fn wss<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, snaps: &[Snapshot]) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err)?;
    let start = t0(snaps);
    let pts = |f: &dyn Fn(&Snapshot) -> u64| -> Vec<(f64, f64)> {
        snaps
            .iter()
            .map(|s| ((s.time_ns - start) as f64 / 1e9, f(s) as f64 / MIB))
            .collect()
    };
    let damon = pts(&Snapshot::wss);
    let truth = pts(&Snapshot::true_wss);
    let x_end = damon.last().map_or(1.0, |p| p.0).max(1e-3);
    let y_end = damon.iter().chain(&truth).map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let mut b = ChartBuilder::on(&root);
    b.margin(10);
    if have_font() {
        b.caption(
            "working set size: DAMON (red) vs true (blue)",
            ("sans-serif", 18),
        )
        .x_label_area_size(35)
        .y_label_area_size(60);
    }
    let mut chart = b.build_cartesian_2d(0.0..x_end, 0.0..y_end).map_err(err)?;
    if have_font() {
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("WSS (MiB)")
            .draw()
            .map_err(err)?;
    }
    chart
        .draw_series(LineSeries::new(truth, BLUE.stroke_width(2)))
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(damon, RED.stroke_width(2)))
        .map_err(err)?;
    root.present().map_err(err)
}

/// Write heatmap.png, heatmap.svg, wss.png and wss.svg into `out`.
pub fn write_all(out: &Path, snaps: &[Snapshot], max_nr: u32) -> Result<(), String> {
    let p = |n: &str| out.join(n);
    heatmap(
        BitMapBackend::new(&p("heatmap.png"), SIZE).into_drawing_area(),
        snaps,
        max_nr,
    )?;
    heatmap(
        SVGBackend::new(&p("heatmap.svg"), SIZE).into_drawing_area(),
        snaps,
        max_nr,
    )?;
    wss(
        BitMapBackend::new(&p("wss.png"), SIZE).into_drawing_area(),
        snaps,
    )?;
    wss(
        SVGBackend::new(&p("wss.svg"), SIZE).into_drawing_area(),
        snaps,
    )
}
