//! How `mmlab bench` prints its rows: a header naming the machine, then a table with
//! SI-prefixed numbers (`8.02 M`, `2.76 ms`); or one JSON document in the versioned envelope
//! every `--json` output shares, its numbers in base units.

use super::machine::Machine;
use super::row::{Quantity, Row, Spread};
use crate::output::{envelope, Out, Tone};

/// The bench's parameters, printed in the header and the JSON.
#[derive(Debug, serde::Serialize)]
pub struct Parameters {
    pub quick: bool,
    pub runs: usize,
    /// The size of the memory workloads.
    pub workload_bytes: u64,
}

/// `v` with three significant digits and an SI prefix, then `unit`: `8.02 M`, `2.76 ms`,
/// `59.4 B`, `812`.
pub fn si(v: f64, unit: &str) -> String {
    const PREFIXES: [(f64, &str); 8] = [
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
        (1.0, ""),
        (1e-3, "m"),
        (1e-6, "µ"),
        (1e-9, "n"),
    ];
    if v == 0.0 || !v.is_finite() {
        return format!("{v} {unit}").trim_end().to_string();
    }
    // The largest prefix that leaves at least 1, after rounding to three digits.
    let (scale, prefix) = PREFIXES
        .iter()
        .copied()
        .find(|&(s, _)| round3(v.abs() / s) >= 1.0)
        .unwrap_or(PREFIXES[PREFIXES.len() - 1]);
    let x = round3(v / scale);
    let digits = match x.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        _ => 2,
    };
    format!("{x:.digits$} {prefix}{unit}")
        .trim_end()
        .to_string()
}

/// `x` rounded to three significant digits.
fn round3(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let e = x.abs().log10().floor() as i32 - 2;
    let p = 10f64.powi(e);
    (x / p).round() * p
}

/// A number of a row's kind: rates bare (the unit column names them), times and sizes with
/// their unit.
fn cell(q: Quantity, v: f64) -> String {
    match q {
        Quantity::Rate(_) => si(v, ""),
        Quantity::Seconds | Quantity::SecondsPerPage => si(v, "s"),
        Quantity::Bytes => si(v, "B"),
        Quantity::Ratio => format!("{v:.3}x"),
    }
}

/// A ratio with three significant digits (two decimals below 10), no prefix: `0.11x`, `14.8x`,
/// `297x`.
fn ratio_cell(x: f64) -> String {
    let x = round3(x);
    match x {
        x if x >= 100.0 => format!("{x:.0}x"),
        x if x >= 10.0 => format!("{x:.1}x"),
        x => format!("{x:.2}x"),
    }
}

/// The unit column: what the numbers count.
fn unit_column(q: Quantity) -> &'static str {
    match q {
        Quantity::Rate(u) => u,
        Quantity::Seconds => "time",
        Quantity::SecondsPerPage => "per page",
        Quantity::Bytes => "bytes",
        Quantity::Ratio => "ratio",
    }
}

fn spread_cells(q: Quantity, s: Option<&Spread>) -> [String; 3] {
    match s {
        Some(s) => [cell(q, s.min), cell(q, s.median), cell(q, s.max)],
        None => ["-".into(), "-".into(), "-".into()],
    }
}

/// The table as text, header first; the verdicts in colour where `out` paints.
pub fn text(machine: &Machine, p: &Parameters, rows: &[Row], out: &Out) -> String {
    let mut t = format!(
        "mmlab bench{}: {} MiB workloads, {} run{} per row on each side (the host's after one \
         warm-up run)\n",
        if p.quick { " --quick" } else { "" },
        p.workload_bytes >> 20,
        p.runs,
        if p.runs == 1 { "" } else { "s" },
    );
    t += &format!(
        "cpu     {} ({} online)\nkernel  {}\nmodel   mmlab {} (git {})\n\n",
        machine.cpu,
        machine.cpus_online,
        machine.kernel,
        env!("CARGO_PKG_VERSION"),
        machine.mmlab_revision
    );
    let sides = format!("{:<27} {:<9} {:^26}   {:^26}", "", "", "model", "host");
    t += sides.trim_end();
    t += "\n";
    t += &format!(
        "{:<27} {:<9} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}  {:>7}  {:<23} met\n",
        "workload", "unit", "min", "median", "max", "min", "median", "max", "ratio", "target"
    );
    for r in rows {
        let [m0, m1, m2] = spread_cells(r.quantity, Some(&r.model));
        let [h0, h1, h2] = spread_cells(r.quantity, r.host.as_ref());
        let ratio = r.ratio.map_or("-".into(), ratio_cell);
        t += &format!(
            "{:<27} {:<9} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}  {:>7}  {:<23} {}\n",
            r.workload,
            unit_column(r.quantity),
            m0,
            m1,
            m2,
            h0,
            h1,
            h2,
            ratio,
            r.target.describe(),
            if r.met {
                out.paint("yes", Tone::Good)
            } else {
                out.paint("NO", Tone::Bad)
            }
        );
    }
    t
}

/// The run as one JSON document in the shared envelope: `{"mmlab_schema": 1, "command":
/// "bench", "mmlab_version": .., "machine": {..}, "parameters": {..}, "rows": [..]}`.
pub fn json(machine: &Machine, p: &Parameters, rows: &[Row]) -> serde_json::Value {
    envelope(
        "bench",
        serde_json::json!({ "machine": machine, "parameters": p, "rows": rows }),
    )
}

#[cfg(test)]
mod tests {
    use super::super::row::Target;
    use super::*;

    #[test]
    fn numbers_get_three_digits_and_a_prefix() {
        assert_eq!(si(8_018_100.0, ""), "8.02 M");
        assert_eq!(si(502_890.0, ""), "503 k");
        assert_eq!(si(5045.3, ""), "5.05 k");
        assert_eq!(si(812.0, ""), "812");
        assert_eq!(si(2.7851e-3, "s"), "2.79 ms");
        assert_eq!(si(2.2549e-9, "s"), "2.25 ns");
        assert_eq!(si(451e-6, "s"), "451 µs");
        assert_eq!(si(59.375, "B"), "59.4 B");
        assert_eq!(
            si(999.7, ""),
            "1.00 k",
            "rounding up moves to the next prefix"
        );
        assert_eq!(si(0.0, "s"), "0 s");
        assert_eq!(si(100e6, ""), "100 M");
    }

    #[test]
    fn ratios_keep_three_digits_without_prefixes() {
        assert_eq!(ratio_cell(0.1134), "0.11x");
        assert_eq!(ratio_cell(14.83), "14.8x");
        assert_eq!(ratio_cell(297.48), "297x");
        assert_eq!(ratio_cell(1234.0), "1230x");
        assert_eq!(ratio_cell(9.996), "10.0x");
    }

    fn rows() -> Vec<Row> {
        vec![
            Row::new(
                "anon 4 KiB write faults",
                Quantity::Rate("faults/s"),
                Spread::of(vec![7.9e6, 8.0e6, 8.1e6]),
                Some(Spread::of(vec![5.0e5, 5.1e5, 4.9e5])),
                Target::Faster(3.0),
            ),
            Row::new(
                "memory per resident page",
                Quantity::Bytes,
                Spread::of(vec![59.375]),
                None,
                Target::AtMost(64.0),
            ),
        ]
    }

    fn machine() -> Machine {
        Machine {
            cpu: "AMD EPYC".into(),
            cpus_online: 2,
            kernel: "6.18.44".into(),
            mmlab_revision: "abc1234",
        }
    }

    /// Three runs of the quick or the full sizes.
    fn params(quick: bool) -> Parameters {
        Parameters {
            quick,
            runs: 3,
            workload_bytes: if quick { 64 << 20 } else { 1 << 30 },
        }
    }

    #[test]
    fn the_text_names_the_machine_and_never_prints_exponents() {
        let t = text(&machine(), &params(true), &rows(), &Out::new(0, false));
        assert!(t.starts_with("mmlab bench --quick: 64 MiB workloads, 3 runs per row"));
        for want in [
            "cpu     AMD EPYC (2 online)",
            "kernel  6.18.44",
            "(git abc1234)",
        ] {
            assert!(t.contains(want), "{want} in\n{t}");
        }
        let anon = t.lines().find(|l| l.starts_with("anon")).unwrap();
        let cells: Vec<&str> = anon.split("  ").filter(|c| !c.trim().is_empty()).collect();
        assert!(anon.contains("7.90 M") && anon.contains("8.00 M") && anon.contains("8.10 M"));
        assert!(anon.contains("490 k") && anon.contains("500 k") && anon.contains("510 k"));
        assert!(anon.contains("16.0x") && anon.ends_with("yes"), "{cells:?}");
        assert!(t.contains("59.4 B"));
        assert!(!t.contains("e6") && !t.contains("e-"), "{t}");
    }

    #[test]
    fn the_json_is_the_shared_envelope_with_typed_numbers() {
        let j = json(&machine(), &params(false), &rows());
        assert_eq!(j["mmlab_schema"], 1);
        assert_eq!(j["command"], "bench");
        assert_eq!(j["machine"]["kernel"], "6.18.44");
        assert_eq!(j["machine"]["cpus_online"], 2);
        assert_eq!(j["parameters"]["workload_bytes"], 1u64 << 30);
        let r = &j["rows"][0];
        assert_eq!(r["unit"], "faults/s");
        assert_eq!(r["model"]["median"].as_f64(), Some(8.0e6));
        assert_eq!(r["model"]["runs"], 3);
        assert_eq!(r["host"]["min"].as_f64(), Some(4.9e5));
        assert!(r["ratio"].is_f64() && r["met"].is_boolean());
        assert_eq!(r["target"], "model >= 3x host");
        assert!(j["rows"][1]["host"].is_null() && j["rows"][1]["ratio"].is_null());
        assert_eq!(j["rows"][1]["unit"], "B");
    }
}
