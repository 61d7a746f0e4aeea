//! One row of `mmlab bench`: a workload's figures on the model and on the host over repeated
//! runs, the ratio of their medians, and the target the model is held to.

use serde::Serialize;

/// What a row measures, in base units: per second, seconds, or bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// Events per second (`faults/s`): more is better.
    Rate(&'static str),
    /// Wall time of one run: less is better.
    Seconds,
    /// Time per page: less is better.
    SecondsPerPage,
    /// Host memory per page: less is better.
    Bytes,
    /// A ratio of two model figures: less is better.
    Ratio,
}

impl Quantity {
    /// The unit of the row's numbers in JSON.
    pub fn unit(self) -> &'static str {
        match self {
            Quantity::Rate(u) => u,
            Quantity::Seconds => "s",
            Quantity::SecondsPerPage => "s/page",
            Quantity::Bytes => "B",
            Quantity::Ratio => "x",
        }
    }

    fn higher_is_better(self) -> bool {
        matches!(self, Quantity::Rate(_))
    }
}

/// The minimum, median and maximum of a side's measured runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub runs: usize,
}

impl Spread {
    /// The spread of `samples` (the median of an even count is the mean of the middle two).
    pub fn of(mut samples: Vec<f64>) -> Spread {
        assert!(!samples.is_empty(), "a row has at least one run");
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        Spread {
            min: samples[0],
            median: (samples[(n - 1) / 2] + samples[n / 2]) / 2.0,
            max: samples[n - 1],
            runs: n,
        }
    }

    /// A host figure of `runs` runs, its numbers multiplied by `scale` into base units.
    pub fn of_host(f: &mmlab_live::bench::HostFigure, runs: usize, scale: f64) -> Spread {
        Spread {
            min: f.min * scale,
            median: f.value * scale,
            max: f.max * scale,
            runs,
        }
    }
}

/// What the model must achieve on a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// A rate at least this many times the host's.
    Faster(f64),
    /// A run no slower than the host's.
    NoSlower,
    /// A cost at most the host's divided by this.
    Cheaper(f64),
    /// A rate of at least this, whatever the host does.
    RateAtLeast(f64),
    /// At most this, whatever the host does.
    AtMost(f64),
    /// No target: the figures are reported side by side.
    Report,
    /// A model-against-model ratio (the row's own figure) of at least this.
    RatioAtLeast(f64),
    /// A model-against-model ratio of at most this.
    RatioAtMost(f64),
}

impl Target {
    /// The target as the table states it.
    pub fn describe(self) -> String {
        match self {
            Target::Faster(k) => format!("model >= {k}x host"),
            Target::NoSlower => "model time <= host".into(),
            Target::Cheaper(k) => format!("model cost <= host / {k}"),
            Target::RateAtLeast(r) => format!(">= {}/s on one core", super::table::si(r, "")),
            Target::AtMost(b) => format!("<= {b} bytes"),
            Target::Report => "none (reported)".into(),
            Target::RatioAtLeast(r) => format!(">= {r}x (model against model)"),
            Target::RatioAtMost(r) => format!("<= {r}x (model against model)"),
        }
    }

    /// Is it met by these medians (`host` None: the host could not measure)?
    fn met(self, model: f64, host: Option<f64>) -> bool {
        match self {
            Target::Faster(k) => host.is_some_and(|h| model >= k * h),
            Target::NoSlower => host.is_some_and(|h| model <= h),
            Target::Cheaper(k) => host.is_some_and(|h| model * k <= h),
            Target::RateAtLeast(r) => model >= r,
            Target::AtMost(b) => model <= b,
            Target::Report => true,
            Target::RatioAtLeast(r) => model >= r,
            Target::RatioAtMost(r) => model <= r,
        }
    }
}

/// One row of the table.
#[derive(Debug, Serialize)]
pub struct Row {
    pub workload: &'static str,
    #[serde(rename = "unit", serialize_with = "unit_of")]
    pub quantity: Quantity,
    pub model: Spread,
    pub host: Option<Spread>,
    /// The model's median against the host's, oriented so that above 1 the model does better
    /// (model/host for rates, host/model for times and costs).
    pub ratio: Option<f64>,
    #[serde(serialize_with = "describe")]
    pub target: Target,
    pub met: bool,
}

fn unit_of<S: serde::Serializer>(q: &Quantity, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(q.unit())
}

fn describe<S: serde::Serializer>(t: &Target, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.describe())
}

impl Row {
    pub fn new(
        workload: &'static str,
        quantity: Quantity,
        model: Spread,
        host: Option<Spread>,
        target: Target,
    ) -> Row {
        let h = host.map(|h| h.median);
        let ratio = h.map(|h| {
            if quantity.higher_is_better() {
                model.median / h
            } else {
                h / model.median
            }
        });
        Row {
            workload,
            quantity,
            model,
            host,
            ratio,
            target,
            met: target.met(model.median, h),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_take_the_middle_and_the_ends() {
        let s = Spread::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((s.min, s.median, s.max, s.runs), (1.0, 2.0, 3.0, 3));
        assert_eq!(Spread::of(vec![4.0, 1.0, 2.0, 10.0]).median, 3.0);
    }

    #[test]
    fn ratios_say_how_much_better_the_model_does_and_targets_use_medians() {
        let m = Spread::of(vec![10.0, 30.0, 20.0]);
        let h = Some(Spread::of(vec![5.0]));
        let r = Row::new("w", Quantity::Rate("faults/s"), m, h, Target::Faster(3.0));
        assert_eq!((r.ratio, r.met), (Some(4.0), true));
        let r = Row::new("w", Quantity::Seconds, m, h, Target::NoSlower);
        assert_eq!((r.ratio, r.met), (Some(0.25), false));
        let r = Row::new("w", Quantity::SecondsPerPage, m, h, Target::Cheaper(2.0));
        assert!(!r.met);
        let r = Row::new("w", Quantity::Bytes, m, None, Target::AtMost(64.0));
        assert_eq!((r.ratio, r.met), (None, true));
        let r = Row::new("w", Quantity::Rate("x/s"), m, None, Target::Faster(1.0));
        assert!(!r.met, "a relative target without a host figure is not met");
    }

    #[test]
    fn targets_read_as_before() {
        assert_eq!(Target::Faster(3.0).describe(), "model >= 3x host");
        assert_eq!(Target::Cheaper(2.0).describe(), "model cost <= host / 2");
        assert_eq!(
            Target::RateAtLeast(100e6).describe(),
            ">= 100 M/s on one core"
        );
        assert_eq!(Target::AtMost(64.0).describe(), "<= 64 bytes");
        assert_eq!(
            Target::RatioAtMost(1.2).describe(),
            "<= 1.2x (model against model)"
        );
        assert!(!Target::RatioAtMost(1.2).met(1.3, None));
        assert_eq!(Target::Report.describe(), "none (reported)");
        assert!(Target::Report.met(1.0, None), "nothing to miss");
    }
}
