//! masim's configuration format (github.com/sjp38/masim, masim.c's read_config()), accepted as
//! masim reads it: lines starting with `#` are dropped, blank lines separate paragraphs; the
//! first paragraph lists regions (`name, size[, data_file|none]`), each further one is a phase:
//! its name, its duration in ms, then access patterns
//! (`region, random(1)|sequential(0), stride, probability[, ro|wo|rw]`).

/// A memory region masim allocates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub size: u64,
}

/// parse_rwmode(): how a pattern accesses (read-only is masim's default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RwMode {
    ReadOnly,
    WriteOnly,
    ReadWrite,
}

/// One access pattern of a phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// Index into the regions.
    pub region: usize,
    pub random: bool,
    pub stride: u64,
    pub probability: u64,
    pub rw: RwMode,
}

/// A phase: patterns picked by relative probability for `time_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    pub name: String,
    pub time_ms: u64,
    pub patterns: Vec<Pattern>,
}

impl Phase {
    /// The sum of the patterns' probabilities (total_probability).
    pub fn total_probability(&self) -> u64 {
        self.patterns.iter().map(|p| p.probability).sum()
    }
}

/// A whole configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub regions: Vec<Region>,
    pub phases: Vec<Phase>,
}

/// Parse a configuration; the error names the line masim would reject.
pub fn parse(text: &str) -> Result<Config, String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let mut paragraphs: Vec<Vec<&str>> = vec![Vec::new()];
    for l in lines {
        if l.trim().is_empty() {
            if !paragraphs.last().is_some_and(Vec::is_empty) {
                paragraphs.push(Vec::new());
            }
        } else {
            paragraphs.last_mut().expect("one").push(l);
        }
    }
    paragraphs.retain(|p| !p.is_empty());
    let (first, rest) = paragraphs.split_first().ok_or("no regions paragraph")?;
    let mut regions = Vec::new();
    for l in first {
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        if f.len() != 2 && f.len() != 3 {
            return Err(format!("wrong region line: {l}"));
        }
        let size = f[1].parse().map_err(|_| format!("bad region size: {l}"))?;
        regions.push(Region {
            name: f[0].to_string(),
            size,
        });
    }
    let mut phases = Vec::new();
    for p in rest {
        if p.len() < 3 {
            return Err(format!(
                "a phase needs a name, a time and patterns: {}",
                p[0]
            ));
        }
        let time_ms = p[1]
            .trim()
            .parse()
            .map_err(|_| format!("bad phase time: {}", p[1]))?;
        let mut patterns = Vec::new();
        for l in &p[2..] {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            if f.len() != 4 && f.len() != 5 {
                return Err(format!("wrong pattern line: {l}"));
            }
            let region = regions
                .iter()
                .position(|r| r.name == f[0])
                .ok_or_else(|| format!("no region named {}", f[0]))?;
            let num = |s: &str| s.parse::<u64>().map_err(|_| format!("bad number in: {l}"));
            let rw = match f.get(4).map(|s| &s[..s.len().min(2)]) {
                None | Some("ro") => RwMode::ReadOnly,
                Some("wo") => RwMode::WriteOnly,
                Some("rw") => RwMode::ReadWrite,
                Some(_) => return Err(format!("bad rw mode in: {l}")),
            };
            patterns.push(Pattern {
                region,
                random: num(f[1])? != 0,
                stride: num(f[2])?.max(1),
                probability: num(f[3])?,
                rw,
            });
        }
        phases.push(Phase {
            name: p[0].to_string(),
            time_ms,
            patterns,
        });
    }
    Ok(Config { regions, phases })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masims_stairs_config_parses() {
        let cfg = "#regions\ns0, 10000000\ns1, 10000000, none\n\n#phases\ninitial phase\n10000\ns0, 0, 4096, 1\ns1, 1, 4096, 1, rw\n\nphase 0\n5000\ns0, 0, 4096, 50\n";
        let c = parse(cfg).unwrap();
        assert_eq!(c.regions.len(), 2);
        assert_eq!(c.regions[1].size, 10_000_000);
        assert_eq!(c.phases.len(), 2);
        assert_eq!(c.phases[0].time_ms, 10_000);
        assert!(c.phases[0].patterns[1].random);
        assert_eq!(c.phases[0].patterns[1].rw, RwMode::ReadWrite);
        assert_eq!(c.phases[1].total_probability(), 50);
        assert!(parse("s0, x\n").is_err());
        assert!(parse("s0, 10\n\np\n10\nnope, 0, 1, 1\n").is_err());
    }
}
