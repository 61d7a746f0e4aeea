//! mm/damon/sysfs.c: the /sys/kernel/mm/damon/admin tree. Its directories come and go with
//! the nr_* files, so the tree resolves paths itself (kernfs asks it for every path under
//! /sys/kernel/mm/damon). Writes store values unchecked; `state` builds, starts, stops or
//! updates the kdamond, `commit` and `update_schemes_stats` through the kdamond's callbacks.

use crate::errno::{Errno, SysResult};
use crate::fs::sysfs_input::{kstrtoull, sysfs_streq};
use crate::kernel::Kernel;
use crate::mm::damon::core::set_regions;
use crate::mm::damon::{
    Attrs, CtxId, Damos, DamosAction, DamosStat, OpsId, Target, WmarkMetric, DAMON_MIN_REGION,
};

/// Where the tree is.
pub const ROOT: &str = "/sys/kernel/mm/damon";

/// A target directory: pid_target and regions/.
#[derive(Clone, Debug, Default)]
struct SysTarget {
    pid: i32,
    regions: Vec<(u64, u64)>,
}

/// A scheme directory.
#[derive(Clone, Debug)]
struct SysScheme {
    action: DamosAction,
    /// access_pattern/{sz, nr_accesses, age}/{min, max}.
    pattern: [[u64; 2]; 3],
    /// quotas/{ms, bytes, reset_interval_ms}.
    quotas: [u64; 3],
    /// quotas/weights/{sz, nr_accesses, age}_permil.
    weights: [u32; 3],
    metric: WmarkMetric,
    /// watermarks/{interval_us, high, mid, low}.
    wmarks: [u64; 4],
    stats: DamosStat,
}

impl Default for SysScheme {
    fn default() -> Self {
        SysScheme {
            action: DamosAction::Stat,
            pattern: [[0; 2]; 3],
            quotas: [0; 3],
            weights: [0; 3],
            metric: WmarkMetric::None,
            wmarks: [0; 4],
            stats: DamosStat::default(),
        }
    }
}

/// A context directory.
#[derive(Clone, Debug)]
struct SysContext {
    ops: OpsId,
    /// intervals/{sample_us, aggr_us, update_us}.
    intervals: [u64; 3],
    /// nr_regions/{min, max}.
    nr_regions: [u64; 2],
    targets: Vec<SysTarget>,
    schemes: Vec<SysScheme>,
}

impl Default for SysContext {
    fn default() -> Self {
        let a = Attrs::default();
        SysContext {
            ops: OpsId::Vaddr,
            intervals: [a.sample_interval, a.aggr_interval, a.ops_update_interval],
            nr_regions: [a.min_nr_regions, a.max_nr_regions],
            targets: Vec::new(),
            schemes: Vec::new(),
        }
    }
}

/// A kdamond directory and the context it built last.
#[derive(Clone, Debug, Default)]
struct SysKdamond {
    contexts: Vec<SysContext>,
    ctx: Option<CtxId>,
}

/// enum damon_sysfs_cmd, the ones passed to the kdamond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Commit,
    UpdateSchemesStats,
}

/// The tree, and damon_sysfs_cmd_request (one slot for all kdamonds).
#[derive(Debug, Default)]
pub(crate) struct DamonSysfs {
    kdamonds: Vec<SysKdamond>,
    request: Option<(usize, Cmd)>,
}

/// The files of the tree relative to admin/, `#` standing for a directory index; and whether
/// each is read-only (0400; the others are 0600) and reads as a keyword.
const FILES: &[(&str, bool, bool)] = &[
    ("kdamonds/nr_kdamonds", false, false),
    ("kdamonds/#/state", false, true),
    ("kdamonds/#/pid", true, false),
    ("kdamonds/#/contexts/nr_contexts", false, false),
    ("kdamonds/#/contexts/#/avail_operations", true, true),
    ("kdamonds/#/contexts/#/operations", false, true),
    (
        "kdamonds/#/contexts/#/monitoring_attrs/intervals/sample_us",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/monitoring_attrs/intervals/aggr_us",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/monitoring_attrs/intervals/update_us",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/monitoring_attrs/nr_regions/min",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/monitoring_attrs/nr_regions/max",
        false,
        false,
    ),
    ("kdamonds/#/contexts/#/targets/nr_targets", false, false),
    ("kdamonds/#/contexts/#/targets/#/pid_target", false, false),
    (
        "kdamonds/#/contexts/#/targets/#/regions/nr_regions",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/targets/#/regions/#/start",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/targets/#/regions/#/end",
        false,
        false,
    ),
    ("kdamonds/#/contexts/#/schemes/nr_schemes", false, false),
    ("kdamonds/#/contexts/#/schemes/#/action", false, true),
    (
        "kdamonds/#/contexts/#/schemes/#/access_pattern/sz/min",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/access_pattern/sz/max",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/access_pattern/nr_accesses/min",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/access_pattern/nr_accesses/max",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/access_pattern/age/min",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/access_pattern/age/max",
        false,
        false,
    ),
    ("kdamonds/#/contexts/#/schemes/#/quotas/ms", false, false),
    ("kdamonds/#/contexts/#/schemes/#/quotas/bytes", false, false),
    (
        "kdamonds/#/contexts/#/schemes/#/quotas/reset_interval_ms",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/quotas/weights/sz_permil",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/quotas/weights/nr_accesses_permil",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/quotas/weights/age_permil",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/watermarks/metric",
        false,
        true,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/watermarks/interval_us",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/watermarks/high",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/watermarks/mid",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/watermarks/low",
        false,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/stats/nr_tried",
        true,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/stats/sz_tried",
        true,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/stats/nr_applied",
        true,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/stats/sz_applied",
        true,
        false,
    ),
    (
        "kdamonds/#/contexts/#/schemes/#/stats/qt_exceeds",
        true,
        false,
    ),
];

/// A path under admin/: its shape (indices replaced by `#`) and the indices in order.
struct Parsed {
    shape: Vec<String>,
    idx: Vec<usize>,
}

/// Split a path under the tree's root; None if it is not under it.
fn parse(path: &str) -> Option<Parsed> {
    let c = crate::fs::kernfs::components(path)?;
    let root = crate::fs::kernfs::components(ROOT).expect("absolute");
    if c.len() < root.len() || c[..root.len()] != root[..] {
        return None;
    }
    let mut p = Parsed {
        shape: Vec::new(),
        idx: Vec::new(),
    };
    for comp in &c[root.len()..] {
        // A directory index is a decimal number as the kernel names it (no sign, no leading
        // zero).
        let is_index = !comp.is_empty()
            && comp.bytes().all(|b| b.is_ascii_digit())
            && (comp.len() == 1 || !comp.starts_with('0'));
        match comp.parse::<usize>() {
            Ok(i) if is_index => {
                p.shape.push("#".into());
                p.idx.push(i);
            }
            _ => p.shape.push((*comp).to_string()),
        }
    }
    Some(p)
}

/// The FILES entry a shape names (with "admin/" first).
fn file_entry(shape: &[String]) -> Option<&'static (&'static str, bool, bool)> {
    let (first, rest) = shape.split_first()?;
    if first != "admin" {
        return None;
    }
    let s = rest.join("/");
    FILES.iter().find(|f| f.0 == s)
}

/// Is a shape a directory of the tree (the root, admin/, or a parent of a file)?
fn dir_shape(shape: &[String]) -> bool {
    if shape.is_empty() {
        return true;
    }
    if shape[0] != "admin" {
        return false;
    }
    let rest = &shape[1..];
    FILES.iter().any(|f| {
        let fs: Vec<&str> = f.0.split('/').collect();
        fs.len() > rest.len() && fs[..rest.len()].iter().zip(rest).all(|(a, b)| a == b)
    })
}

/// Could `path` name a file of the tree (some tree has it)? For checks made before anything
/// runs.
pub fn pattern_is_file(path: &str) -> bool {
    parse(path).is_some_and(|p| file_entry(&p.shape).is_some())
}

/// Does a file of the tree read as a number? None outside the tree.
pub fn pattern_reads_as_number(path: &str) -> Option<bool> {
    let p = parse(path)?;
    file_entry(&p.shape).map(|f| !f.2)
}

/// What a path names in the tree as it is now.
enum Node {
    File { read_only: bool },
    Dir,
    NotDir,
    MissingInDir,
    Missing,
}

impl DamonSysfs {
    /// Do the directories the indices of `p` name exist?
    fn indices_exist(&self, p: &Parsed) -> bool {
        let s: Vec<&str> = p.shape.iter().map(String::as_str).collect();
        let mut it = p.idx.iter().copied();
        let Some(k) = it.next() else { return true };
        let Some(kd) = self.kdamonds.get(k) else {
            return false;
        };
        let Some(c) = it.next() else { return true };
        let Some(ctx) = kd.contexts.get(c) else {
            return false;
        };
        let Some(x) = it.next() else { return true };
        if s.get(5) == Some(&"targets") {
            let Some(t) = ctx.targets.get(x) else {
                return false;
            };
            it.next().is_none_or(|r| r < t.regions.len())
        } else {
            x < ctx.schemes.len()
        }
    }

    /// Resolve a parsed path.
    fn node(&self, p: &Parsed, trailing_slash: bool) -> Node {
        if dir_shape(&p.shape) {
            return if self.indices_exist(p) {
                Node::Dir
            } else {
                Node::Missing
            };
        }
        if let Some(f) = file_entry(&p.shape) {
            if !self.indices_exist(p) {
                return Node::Missing;
            }
            return if trailing_slash {
                Node::NotDir
            } else {
                Node::File { read_only: f.1 }
            };
        }
        // A file used as a directory, or a name missing in a directory that exists.
        for i in 1..p.shape.len() {
            if file_entry(&p.shape[..i]).is_some() {
                return Node::NotDir;
            }
        }
        let parent = Parsed {
            shape: p.shape[..p.shape.len() - 1].to_vec(),
            idx: p.idx[..p.idx.len() - usize::from(p.shape.last().is_some_and(|x| x == "#"))]
                .to_vec(),
        };
        if dir_shape(&parent.shape) && self.indices_exist(&parent) {
            Node::MissingInDir
        } else {
            Node::Missing
        }
    }
}

impl DamonSysfs {
    /// How many index directories the directory `p` (one whose children are `#`) holds now.
    fn nr_children(&self, p: &Parsed) -> usize {
        let i = &p.idx;
        let kd = || &self.kdamonds[i[0]];
        match p.shape.last().map(String::as_str) {
            Some("kdamonds") => self.kdamonds.len(),
            Some("contexts") => kd().contexts.len(),
            Some("targets") => kd().contexts[i[1]].targets.len(),
            Some("schemes") => kd().contexts[i[1]].schemes.len(),
            Some("regions") => kd().contexts[i[1]].targets[i[2]].regions.len(),
            _ => 0,
        }
    }

    /// The names in the directory `p` (it exists), in the order kernfs creates them.
    fn children(&self, p: &Parsed) -> Vec<String> {
        let rest: Vec<&str> = p.shape.iter().skip(1).map(String::as_str).collect();
        let mut names: Vec<String> = Vec::new();
        let mut push = |n: String| {
            if !names.contains(&n) {
                names.push(n);
            }
        };
        if p.shape.is_empty() {
            push("admin".into());
        }
        for f in FILES {
            let fs: Vec<&str> = f.0.split('/').collect();
            if p.shape.is_empty() || fs.len() <= rest.len() || fs[..rest.len()] != rest[..] {
                continue;
            }
            match fs[rest.len()] {
                "#" => (0..self.nr_children(p)).for_each(|n| push(n.to_string())),
                c => push(c.into()),
            }
        }
        names
    }
}

/// What stat() tells of a path of the tree: a directory, or a file with its mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File { mode: u16 },
}

impl Kernel {
    /// stat() of a path under the tree (None elsewhere): 0400 and 0600 files as
    /// damon_sysfs_*_attrs declare them.
    pub(crate) fn damon_sysfs_stat(&self, path: &str) -> Option<SysResult<Entry>> {
        Some(match lookup(self, path)? {
            Node::File { read_only } => Ok(Entry::File {
                mode: if read_only { 0o400 } else { 0o600 },
            }),
            Node::Dir => Ok(Entry::Dir),
            Node::NotDir => Err(Errno::ENOTDIR),
            Node::MissingInDir | Node::Missing => Err(Errno::ENOENT),
        })
    }

    /// readdir() of a directory of the tree (None outside it).
    pub(crate) fn damon_sysfs_readdir(&self, path: &str) -> Option<SysResult<Vec<String>>> {
        let p = parse(path)?;
        Some(match self.damon.sysfs.node(&p, false) {
            Node::Dir => Ok(self.damon.sysfs.children(&p)),
            Node::File { .. } | Node::NotDir => Err(Errno::ENOTDIR),
            Node::MissingInDir | Node::Missing => Err(Errno::ENOENT),
        })
    }
}

/// Resolve `path` if it is under the tree's root.
fn lookup(k: &Kernel, path: &str) -> Option<Node> {
    let p = parse(path)?;
    Some(k.damon.sysfs.node(&p, path.ends_with('/')))
}

impl Kernel {
    /// `cat PATH` for a path under the tree (None elsewhere), with the VFS's errnos.
    pub(crate) fn damon_sysfs_read(&self, path: &str) -> Option<SysResult<String>> {
        Some(match lookup(self, path)? {
            Node::File { .. } => Ok(self.damon_sysfs_show(path)),
            Node::Dir => Err(Errno::EISDIR),
            Node::NotDir => Err(Errno::ENOTDIR),
            Node::MissingInDir | Node::Missing => Err(Errno::ENOENT),
        })
    }

    /// `echo VALUE > PATH` for a path under the tree (None elsewhere): a read-only file or a
    /// new name is EACCES, as sysfs gives root.
    pub(crate) fn damon_sysfs_write(&mut self, path: &str, value: &str) -> Option<SysResult<()>> {
        Some(match lookup(self, path)? {
            Node::File { read_only: false } => self.damon_sysfs_store(path, &format!("{value}\n")),
            Node::File { read_only: true } | Node::MissingInDir => Err(Errno::EACCES),
            Node::Dir => Err(Errno::EISDIR),
            Node::NotDir => Err(Errno::ENOTDIR),
            Node::Missing => Err(Errno::ENOENT),
        })
    }
}

/// kstrtoint(buf, 0): the nr_* files pass its EINVAL and ERANGE on.
fn kstrtoint(s: &str) -> SysResult<i32> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = kstrtoull(rest, 0)?;
    let v = if neg { -(v as i128) } else { v as i128 };
    i32::try_from(v).map_err(|_| Errno::ERANGE)
}

/// A value file's number: kstrtoul(buf, 0), every failure EINVAL.
fn value(s: &str) -> SysResult<u64> {
    kstrtoull(s, 0).map_err(|_| Errno::EINVAL)
}

/// A kstrtouint() value file.
fn value_u32(s: &str) -> SysResult<u32> {
    u32::try_from(value(s)?).map_err(|_| Errno::EINVAL)
}

/// A keyword from `choices`, EINVAL otherwise.
fn keyword<T: Copy>(
    buf: &str,
    choices: impl IntoIterator<Item = (T, &'static str)>,
) -> SysResult<T> {
    choices
        .into_iter()
        .find(|(_, n)| sysfs_streq(buf, n))
        .map(|(v, _)| v)
        .ok_or(Errno::EINVAL)
}

fn metric_name(m: WmarkMetric) -> &'static str {
    match m {
        WmarkMetric::None => "none",
        WmarkMetric::FreeMemRate => "free_mem_rate",
    }
}

/// The last component of a shape after the given prefix, e.g. "sample_us".
fn leaf(p: &Parsed) -> &str {
    p.shape.last().map_or("", String::as_str)
}

/// The shape without "admin/" and indices, as FILES writes it.
fn shape_str(p: &Parsed) -> String {
    p.shape[1..].join("/")
}

impl Kernel {
    /// Read a file of the tree (`lookup` said it is one).
    fn damon_sysfs_show(&self, path: &str) -> String {
        let p = parse(path).expect("looked up");
        let s = &self.damon.sysfs;
        let i = &p.idx;
        let shape = shape_str(&p);
        let ctx = || &s.kdamonds[i[0]].contexts[i[1]];
        let scheme = || &ctx().schemes[i[2]];
        let v: String = match shape.as_str() {
            "kdamonds/nr_kdamonds" => s.kdamonds.len().to_string(),
            "kdamonds/#/state" => {
                let on = s.kdamonds[i[0]]
                    .ctx
                    .is_some_and(|c| self.damon_is_running(c));
                (if on { "on" } else { "off" }).into()
            }
            "kdamonds/#/pid" => s.kdamonds[i[0]]
                .ctx
                .and_then(|c| self.damon_kdamond_pid(c))
                .map_or("-1".into(), |p| p.to_string()),
            "kdamonds/#/contexts/nr_contexts" => s.kdamonds[i[0]].contexts.len().to_string(),
            "kdamonds/#/contexts/#/avail_operations" => {
                let v: Vec<&str> = OpsId::ALL
                    .into_iter()
                    .filter(|&o| crate::mm::damon::damon_is_registered_ops(o))
                    .map(OpsId::name)
                    .collect();
                v.join("\n")
            }
            "kdamonds/#/contexts/#/operations" => ctx().ops.name().into(),
            "kdamonds/#/contexts/#/targets/nr_targets" => ctx().targets.len().to_string(),
            "kdamonds/#/contexts/#/targets/#/pid_target" => ctx().targets[i[2]].pid.to_string(),
            "kdamonds/#/contexts/#/targets/#/regions/nr_regions" => {
                ctx().targets[i[2]].regions.len().to_string()
            }
            "kdamonds/#/contexts/#/schemes/nr_schemes" => ctx().schemes.len().to_string(),
            "kdamonds/#/contexts/#/schemes/#/action" => scheme().action.name().into(),
            "kdamonds/#/contexts/#/schemes/#/watermarks/metric" => {
                metric_name(scheme().metric).into()
            }
            _ => self.damon_sysfs_number(&p).to_string(),
        };
        format!("{v}\n")
    }

    /// The number a plain value file holds.
    fn damon_sysfs_number(&self, p: &Parsed) -> u64 {
        let s = &self.damon.sysfs;
        let i = &p.idx;
        let ctx = &s.kdamonds[i[0]].contexts[i[1]];
        let l = leaf(p);
        match p.shape[p.shape.len() - 2].as_str() {
            "intervals" => {
                ctx.intervals[["sample_us", "aggr_us", "update_us"]
                    .iter()
                    .position(|x| *x == l)
                    .expect("a FILES name")]
            }
            "nr_regions" => ctx.nr_regions[usize::from(l == "max")],
            "#" => {
                let r = ctx.targets[i[2]].regions[i[3]];
                if l == "start" {
                    r.0
                } else {
                    r.1
                }
            }
            "sz" | "nr_accesses" | "age" => {
                let which = ["sz", "nr_accesses", "age"]
                    .iter()
                    .position(|x| *x == p.shape[p.shape.len() - 2])
                    .expect("a FILES name");
                ctx.schemes[i[2]].pattern[which][usize::from(l == "max")]
            }
            "quotas" => {
                ctx.schemes[i[2]].quotas[["ms", "bytes", "reset_interval_ms"]
                    .iter()
                    .position(|x| *x == l)
                    .expect("a FILES name")]
            }
            "weights" => {
                ctx.schemes[i[2]].weights[["sz_permil", "nr_accesses_permil", "age_permil"]
                    .iter()
                    .position(|x| *x == l)
                    .expect("a FILES name")] as u64
            }
            "watermarks" => {
                ctx.schemes[i[2]].wmarks[["interval_us", "high", "mid", "low"]
                    .iter()
                    .position(|x| *x == l)
                    .expect("a FILES name")]
            }
            "stats" => {
                let st = ctx.schemes[i[2]].stats;
                match l {
                    "nr_tried" => st.nr_tried,
                    "sz_tried" => st.sz_tried,
                    "nr_applied" => st.nr_applied,
                    "sz_applied" => st.sz_applied,
                    _ => st.qt_exceeds,
                }
            }
            _ => 0,
        }
    }

    /// Write a file of the tree (`lookup` said it is a writable one).
    fn damon_sysfs_store(&mut self, path: &str, buf: &str) -> SysResult<()> {
        let p = parse(path).expect("looked up");
        let i = p.idx.clone();
        let shape = shape_str(&p);
        if shape == "kdamonds/#/state" {
            return self.damon_sysfs_state_store(i[0], buf);
        }
        if shape.ends_with("nr_kdamonds")
            || shape.ends_with("nr_contexts")
            || shape.ends_with("nr_targets")
            || shape.ends_with("nr_regions") && !shape.contains("monitoring_attrs")
            || shape.ends_with("nr_schemes")
        {
            return self.damon_sysfs_nr_store(&shape, &i, buf);
        }
        let s = &mut self.damon.sysfs;
        let ctx = &mut s.kdamonds[i[0]].contexts[i[1]];
        let l = leaf(&p);
        let parent = p.shape[p.shape.len() - 2].as_str();
        match (parent, l) {
            ("#", "operations") => {
                ctx.ops = keyword(buf, OpsId::ALL.map(|o| (o, o.name())))?;
            }
            ("intervals", _) => {
                let w = ["sample_us", "aggr_us", "update_us"]
                    .iter()
                    .position(|x| *x == l)
                    .expect("a FILES name");
                ctx.intervals[w] = value(buf)?;
            }
            ("nr_regions", _) => ctx.nr_regions[usize::from(l == "max")] = value(buf)?,
            ("#", "pid_target") => {
                ctx.targets[i[2]].pid = kstrtoint(buf).map_err(|_| Errno::EINVAL)?;
            }
            ("#", "start") => ctx.targets[i[2]].regions[i[3]].0 = value(buf)?,
            ("#", "end") => ctx.targets[i[2]].regions[i[3]].1 = value(buf)?,
            ("#", "action") => {
                ctx.schemes[i[2]].action = keyword(buf, DamosAction::ALL.map(|a| (a, a.name())))?;
            }
            ("sz" | "nr_accesses" | "age", _) => {
                let w = ["sz", "nr_accesses", "age"]
                    .iter()
                    .position(|x| *x == parent)
                    .expect("a FILES name");
                ctx.schemes[i[2]].pattern[w][usize::from(l == "max")] = value(buf)?;
            }
            ("quotas", _) => {
                let w = ["ms", "bytes", "reset_interval_ms"]
                    .iter()
                    .position(|x| *x == l)
                    .expect("a FILES name");
                ctx.schemes[i[2]].quotas[w] = value(buf)?;
            }
            ("weights", _) => {
                let w = ["sz_permil", "nr_accesses_permil", "age_permil"]
                    .iter()
                    .position(|x| *x == l)
                    .expect("a FILES name");
                ctx.schemes[i[2]].weights[w] = value_u32(buf)?;
            }
            ("watermarks", "metric") => {
                ctx.schemes[i[2]].metric = keyword(
                    buf,
                    [WmarkMetric::None, WmarkMetric::FreeMemRate].map(|m| (m, metric_name(m))),
                )?;
            }
            ("watermarks", _) => {
                let w = ["interval_us", "high", "mid", "low"]
                    .iter()
                    .position(|x| *x == l)
                    .expect("a FILES name");
                ctx.schemes[i[2]].wmarks[w] = value(buf)?;
            }
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }

    /// The nr_* files: kstrtoint()'s errno, EINVAL for a negative count (and for more than
    /// one context); every child directory is removed and `n` fresh ones are made.
    /// nr_kdamonds is EBUSY while a kdamond under it runs or has a command pending.
    fn damon_sysfs_nr_store(&mut self, shape: &str, i: &[usize], buf: &str) -> SysResult<()> {
        let n = kstrtoint(buf)?;
        if n < 0 {
            return Err(Errno::EINVAL);
        }
        let n = n as usize;
        if shape == "kdamonds/nr_kdamonds" {
            let busy = self
                .damon
                .sysfs
                .kdamonds
                .iter()
                .enumerate()
                .any(|(ki, kd)| {
                    kd.ctx.is_some_and(|c| self.damon_is_running(c))
                        || self.damon.sysfs.request.is_some_and(|(r, _)| r == ki)
                });
            if busy {
                return Err(Errno::EBUSY);
            }
            for kd in std::mem::take(&mut self.damon.sysfs.kdamonds) {
                if let Some(c) = kd.ctx {
                    self.damon_destroy_ctx(c);
                }
            }
            self.damon.sysfs.kdamonds = vec![SysKdamond::default(); n];
            return Ok(());
        }
        let kd = &mut self.damon.sysfs.kdamonds[i[0]];
        match shape {
            "kdamonds/#/contexts/nr_contexts" => {
                if n > 1 {
                    return Err(Errno::EINVAL);
                }
                kd.contexts = vec![SysContext::default(); n];
            }
            "kdamonds/#/contexts/#/targets/nr_targets" => {
                kd.contexts[i[1]].targets = vec![SysTarget::default(); n];
            }
            "kdamonds/#/contexts/#/targets/#/regions/nr_regions" => {
                kd.contexts[i[1]].targets[i[2]].regions = vec![(0, 0); n];
            }
            _ => kd.contexts[i[1]].schemes = vec![SysScheme::default(); n],
        }
        Ok(())
    }

    /// state_store(): the keywords of 5.19.
    fn damon_sysfs_state_store(&mut self, k: usize, buf: &str) -> SysResult<()> {
        if sysfs_streq(buf, "on") {
            self.damon_sysfs_turn_damon_on(k)
        } else if sysfs_streq(buf, "off") {
            match self.damon.sysfs.kdamonds[k].ctx {
                None => Err(Errno::EINVAL),
                Some(c) => self.damon_stop(c),
            }
        } else if sysfs_streq(buf, "commit") {
            self.damon_sysfs_request(k, Cmd::Commit)
        } else if sysfs_streq(buf, "update_schemes_stats") {
            self.damon_sysfs_request(k, Cmd::UpdateSchemesStats)
        } else {
            Err(Errno::EINVAL)
        }
    }

    /// damon_sysfs_turn_damon_on(): EBUSY if running or a command is pending for it, EINVAL
    /// unless one context; the old context goes first, so a failed build leaves none.
    fn damon_sysfs_turn_damon_on(&mut self, k: usize) -> SysResult<()> {
        let kd = &self.damon.sysfs.kdamonds[k];
        if kd.ctx.is_some_and(|c| self.damon_is_running(c))
            || self.damon.sysfs.request.is_some_and(|(r, _)| r == k)
        {
            return Err(Errno::EBUSY);
        }
        if kd.contexts.len() != 1 {
            return Err(Errno::EINVAL);
        }
        if let Some(c) = self.damon.sysfs.kdamonds[k].ctx.take() {
            self.damon_destroy_ctx(c);
        }
        let c = self.damon_new_ctx();
        let sys = self.damon.sysfs.kdamonds[k].contexts[0].clone();
        let built = self
            .damon_select_ops(c, sys.ops)
            .and_then(|_| self.damon_sysfs_set_attrs(c, &sys))
            .and_then(|_| self.damon_sysfs_set_targets(c, &sys))
            .map(|_| self.damon_sysfs_set_schemes(c, &sys));
        if let Err(e) = built {
            self.damon_destroy_ctx(c);
            return Err(e);
        }
        let ctx = &mut self.damon.ctxs[c];
        ctx.callback.after_wmarks_check = Some(damon_sysfs_cmd_request_callback);
        ctx.callback.after_aggregation = Some(damon_sysfs_cmd_request_callback);
        if let Err(e) = self.damon_start(&[c], false) {
            self.damon_destroy_ctx(c);
            return Err(e);
        }
        self.damon.sysfs.kdamonds[k].ctx = Some(c);
        Ok(())
    }

    /// damon_sysfs_set_attrs().
    fn damon_sysfs_set_attrs(&mut self, c: CtxId, sys: &SysContext) -> SysResult<()> {
        let a = Attrs {
            sample_interval: sys.intervals[0],
            aggr_interval: sys.intervals[1],
            ops_update_interval: sys.intervals[2],
            min_nr_regions: sys.nr_regions[0],
            max_nr_regions: sys.nr_regions[1],
        };
        self.damon_set_attrs(c, a)
    }

    /// damon_sysfs_set_targets() (5.19): more than one paddr target is EINVAL; a target whose
    /// pid the context has (paddr: its first target) gets the regions again, unconditionally;
    /// any other is added. Targets missing from sysfs stay.
    fn damon_sysfs_set_targets(&mut self, c: CtxId, sys: &SysContext) -> SysResult<()> {
        let paddr = self.damon.ctxs[c].ops == OpsId::Paddr;
        if paddr && sys.targets.len() > 1 {
            return Err(Errno::EINVAL);
        }
        for st in &sys.targets {
            let pid = if paddr {
                None
            } else {
                let nr = u64::try_from(st.pid).map_err(|_| Errno::EINVAL)?;
                Some(self.find_vpid(nr).ok_or(Errno::EINVAL)?)
            };
            let ctx = &self.damon.ctxs[c];
            let existing = if paddr {
                (!ctx.targets.is_empty()).then_some(0)
            } else {
                ctx.targets.iter().position(|t| t.pid == pid)
            };
            let ti = match existing {
                Some(ti) => ti,
                None => {
                    self.damon.ctxs[c].targets.push(Target {
                        pid,
                        regions: Vec::new(),
                    });
                    self.damon.ctxs[c].targets.len() - 1
                }
            };
            if let Err(e) = self.damon_sysfs_set_regions(c, ti, &st.regions) {
                if existing.is_none() {
                    // damon_sysfs_add_target() failing: every target goes.
                    self.damon.ctxs[c].targets.clear();
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// damon_sysfs_set_regions(): start > end, or a range starting before the previous one
    /// ends, is EINVAL; then damon_set_regions() (5.19: aligned, existing regions reused).
    fn damon_sysfs_set_regions(
        &mut self,
        c: CtxId,
        ti: usize,
        ranges: &[(u64, u64)],
    ) -> SysResult<()> {
        for (j, r) in ranges.iter().enumerate() {
            if r.0 > r.1 || (j > 0 && ranges[j - 1].1 > r.0) {
                return Err(Errno::EINVAL);
            }
        }
        set_regions(
            &mut self.damon.ctxs[c].targets[ti].regions,
            ranges,
            DAMON_MIN_REGION,
        );
        Ok(())
    }

    /// damon_sysfs_set_schemes() of 5.19: the schemes built from sysfs are appended to the
    /// context's (a `commit` duplicates them; fixed only in 6.1). The nr_accesses and age
    /// bounds are truncated to 32 bits.
    fn damon_sysfs_set_schemes(&mut self, c: CtxId, sys: &SysContext) {
        for ss in &sys.schemes {
            let mut d = Damos::new(ss.action);
            d.min_sz_region = ss.pattern[0][0];
            d.max_sz_region = ss.pattern[0][1];
            d.min_nr_accesses = ss.pattern[1][0] as u32;
            d.max_nr_accesses = ss.pattern[1][1] as u32;
            d.min_age_region = ss.pattern[2][0] as u32;
            d.max_age_region = ss.pattern[2][1] as u32;
            d.quota.ms = ss.quotas[0];
            d.quota.sz = ss.quotas[1];
            d.quota.reset_interval = ss.quotas[2];
            d.quota.weight_sz = ss.weights[0];
            d.quota.weight_nr_accesses = ss.weights[1];
            d.quota.weight_age = ss.weights[2];
            d.wmarks.metric = ss.metric;
            d.wmarks.interval = ss.wmarks[0];
            d.wmarks.high = ss.wmarks[1];
            d.wmarks.mid = ss.wmarks[2];
            d.wmarks.low = ss.wmarks[3];
            self.damon.ctxs[c].schemes.push(d);
        }
    }

    /// damon_sysfs_handle_cmd() for commit and update_schemes_stats: EBUSY while any command
    /// is pending, EINVAL unless this kdamond runs; then the writer waits (polling every
    /// 100 ms, the clock moving) until the kdamond's callback took the request or the kdamond
    /// ended, and succeeds either way. The model gives up waiting after an hour of virtual
    /// time and leaves the request queued.
    fn damon_sysfs_request(&mut self, k: usize, cmd: Cmd) -> SysResult<()> {
        if self.damon.sysfs.request.is_some() {
            return Err(Errno::EBUSY);
        }
        let running = |k2: &Kernel| {
            k2.damon.sysfs.kdamonds[k]
                .ctx
                .is_some_and(|c| k2.damon_is_running(c))
        };
        if !running(self) {
            return Err(Errno::EINVAL);
        }
        self.damon.sysfs.request = Some((k, cmd));
        let poll = crate::time::jiffies_to_ns(crate::time::msecs_to_jiffies(100));
        for _ in 0..36_000 {
            self.advance_time(poll);
            if self.damon.sysfs.request.is_none() {
                break;
            }
            if !running(self) {
                self.damon.sysfs.request = None;
                break;
            }
        }
        Ok(())
    }

    /// damon_sysfs_commit_input().
    fn damon_sysfs_commit_input(&mut self, k: usize, c: CtxId) -> SysResult<()> {
        let kd = &self.damon.sysfs.kdamonds[k];
        if kd.contexts.len() != 1 {
            return Err(Errno::EINVAL);
        }
        let sys = kd.contexts[0].clone();
        self.damon_select_ops(c, sys.ops)?;
        self.damon_sysfs_set_attrs(c, &sys)?;
        self.damon_sysfs_set_targets(c, &sys)?;
        self.damon_sysfs_set_schemes(c, &sys);
        Ok(())
    }

    /// damon_sysfs_upd_schemes_stats(): copy scheme i's stats into scheme dir i. 5.19.6
    /// walks every context scheme with no bound (a kernel memory-safety bug once the context
    /// has more schemes than the directory, as after any commit); the model copies only
    /// where a directory exists.
    fn damon_sysfs_upd_schemes_stats(&mut self, k: usize, c: CtxId) {
        let stats: Vec<DamosStat> = self.damon.ctxs[c].schemes.iter().map(|s| s.stat).collect();
        let kd = &mut self.damon.sysfs.kdamonds[k];
        let Some(sys) = kd.contexts.first_mut() else {
            return;
        };
        for (d, st) in sys.schemes.iter_mut().zip(stats) {
            d.stats = st;
        }
    }
}

impl Kernel {
    /// A look at the context sysfs kdamond `kd` built (for the scenario language's
    /// `model.damon_*` probes): what `f` finds, or why there is nothing to look at.
    pub fn damon_sysfs_probe<T>(
        &self,
        kd: u64,
        f: impl FnOnce(&crate::mm::damon::Ctx) -> Option<T>,
    ) -> Result<T, String> {
        let c = usize::try_from(kd)
            .ok()
            .and_then(|i| self.damon.sysfs.kdamonds.get(i))
            .and_then(|k| k.ctx)
            .and_then(|c| self.damon_ctx(c))
            .ok_or_else(|| format!("kdamond {kd} has no context (never turned on)"))?;
        f(c).ok_or_else(|| format!("nothing to show in kdamond {kd}'s context"))
    }
}

/// damon_sysfs_cmd_request_callback(): the after_aggregation and after_wmarks_check of a
/// sysfs kdamond: handle the pending command if it is for this context; a failed commit
/// fails the callback, which ends the kdamond.
fn damon_sysfs_cmd_request_callback(k: &mut Kernel, c: CtxId) -> Result<(), Errno> {
    let Some((ki, cmd)) = k.damon.sysfs.request else {
        return Ok(());
    };
    if k.damon.sysfs.kdamonds.get(ki).and_then(|kd| kd.ctx) != Some(c) {
        return Ok(());
    }
    let r = match cmd {
        Cmd::UpdateSchemesStats => {
            k.damon_sysfs_upd_schemes_stats(ki, c);
            Ok(())
        }
        Cmd::Commit => k.damon_sysfs_commit_input(ki, c),
    };
    k.damon.sysfs.request = None;
    r
}
