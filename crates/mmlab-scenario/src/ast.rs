//! The parsed form of a scenario file.

use std::path::PathBuf;

/// A place in a scenario file (1-based).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// One scenario file.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    pub path: PathBuf,
    pub title: String,
    pub profile: Option<String>,
    pub memory: Option<u64>,
    pub cpus: Option<usize>,
    /// `fault-around-bytes N`.
    pub fault_around_bytes: Option<u64>,
    /// `hugepages N`: the 2 MiB hugetlb pool the scenario needs (nr_hugepages).
    pub hugepages: Option<u64>,
    /// `thp NAME VALUE` lines: /sys/kernel/mm/transparent_hugepage/ knobs to set.
    pub thp: Vec<(String, String)>,
    pub model_only: Option<String>,
    /// `feature NAME on|off` lines (model only).
    pub features: Vec<(String, bool)>,
    /// `swap SIZE`, `swap zram SIZE` and `swapfile NAME SIZE [KIND]` lines, in order.
    pub swap: Vec<crate::backend::SwapSetup>,
    /// `arch NAME` (model only): the architecture whose swap-PTE layout `model.pte` shows.
    pub arch: Option<String>,
    /// `files tmpfs|disk`: the filesystem of the scenario's directory (tmpfs if absent).
    pub files: mmlab::fs::namei::FsType,
    /// Where each header directive was written (`profile`, `memory`, `cpus`, `hugepages`,
    /// `fault-around-bytes`, `feature NAME`, `arch`, `swap NAME` for every swap header), so
    /// that a value the check pass refuses is reported at its place.
    pub header_pos: Vec<(String, Pos)>,
    pub body: Vec<Stmt>,
}

impl Scenario {
    /// Where header directive `what` was written (the title line if it was not).
    pub fn pos_of(&self, what: &str) -> Pos {
        self.header_pos
            .iter()
            .find(|(w, _)| w == what)
            .map_or(Pos { line: 1, col: 1 }, |p| p.1)
    }
}

/// A statement with its place.
#[derive(Clone, Debug)]
pub struct Stmt {
    pub pos: Pos,
    pub kind: StmtKind,
}

#[derive(Clone, Debug)]
pub enum StmtKind {
    /// `process NAME [on cpu N]`
    Process { name: String, cpu: usize },
    /// `repeat N { ... }`
    Repeat { count: u64, body: Vec<Stmt> },
    /// `TASK: action`
    Step { task: String, action: Action },
}

#[derive(Clone, Debug)]
pub enum Action {
    /// A call whose failure ends the scenario.
    Do(Expr),
    /// `VAR = EXPR` (also `C = fork()` and `T = thread(N)`, which bind tasks).
    Assign(String, Expr),
    /// `expect A OP B`
    Compare(Expr, CmpOp, Expr),
    /// `expect A OP B within MS`: re-evaluated until it holds or MS milliseconds pass.
    Within(Expr, CmpOp, Expr, Expr),
    /// `expect mem(ADDR, LEN) == BYTE`
    Mem { addr: Expr, len: Expr, byte: Expr },
    /// `expect CALL fails ERRNO`
    Fails(Expr, String),
    /// `expect ACCESS faults SIGNAL`
    Faults(Expr, String),
    /// `expect ACCESS blocks`: the task sleeps in handle_userfault().
    Blocks(Expr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
    pub fn holds(self, a: u64, b: u64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Shl,
    Shr,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// An expression with the place it starts.
#[derive(Clone, Debug)]
pub struct Expr {
    pub pos: Pos,
    pub kind: ExprKind,
}

/// How a number is best written back: addresses, PFNs and bytes in hex, counts in decimal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Radix {
    /// Decimal up to 4096, hex above (a value whose nature is not known).
    #[default]
    Auto,
    Dec,
    Hex,
    /// One byte of memory: `0xaa`.
    Byte,
    /// An address or a PFN (or an entry holding one): hex, and particular to one machine, so
    /// two kernels' values are not compared (their differences are).
    Addr,
}

impl Radix {
    /// The radix of `a OP b`: hex wins (an address plus an offset is an address).
    pub fn join(self, other: Radix) -> Radix {
        use Radix::*;
        match (self, other) {
            (Addr, _) | (_, Addr) => Addr,
            (Hex | Byte, _) | (_, Hex | Byte) => Hex,
            (Dec, Dec) => Dec,
            _ => Auto,
        }
    }

    /// `v` written in this radix.
    pub fn show(self, v: u64) -> String {
        match self {
            Radix::Byte => format!("{v:#04x}"),
            Radix::Hex | Radix::Addr => format!("{v:#x}"),
            Radix::Dec => v.to_string(),
            Radix::Auto if v > 4096 => format!("{v:#x}"),
            Radix::Auto => v.to_string(),
        }
    }
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    /// A literal, with the radix it was written in.
    Num(u64, Radix),
    /// A string literal: a C string argument, a sysfs path or value, or text to compare a
    /// sysfs file's choice with.
    Str(String),
    Name(String),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    /// Operators of one precedence level applied left to right: `a + b - c` is
    /// `Chain(a, [(Add, b), (Sub, c)])`. A flat list, not a left-deep tree, so that a long
    /// line costs no stack depth in the walkers.
    Chain(Box<Expr>, Vec<(BinOp, Expr)>),
    /// `name(args)`; model probes are named `model.x`.
    Call(String, Vec<Expr>),
    Field(Box<Expr>, String),
}

impl BinOp {
    /// The precedence level, loosest 0: `|`, `&`, shifts, `+ -`, `* / %`.
    pub fn level(self) -> u8 {
        match self {
            BinOp::Or => 0,
            BinOp::And => 1,
            BinOp::Shl | BinOp::Shr => 2,
            BinOp::Add | BinOp::Sub => 3,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 4,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "|",
            BinOp::And => "&",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }

    /// `x OP y` in wrapping 64-bit arithmetic; Err for what C leaves undefined (a shift by 64
    /// or more) and for division by zero.
    pub fn apply(self, x: u64, y: u64) -> Result<u64, String> {
        Ok(match self {
            BinOp::Or => x | y,
            BinOp::And => x & y,
            BinOp::Shl | BinOp::Shr if y >= 64 => {
                return Err(format!(
                    "a shift by {y}: a 64-bit value shifts by 0 to 63 bits"
                ))
            }
            BinOp::Shl => x << y,
            BinOp::Shr => x >> y,
            BinOp::Add => x.wrapping_add(y),
            BinOp::Sub => x.wrapping_sub(y),
            BinOp::Mul => x.wrapping_mul(y),
            BinOp::Div | BinOp::Rem if y == 0 => return Err("division by zero".into()),
            BinOp::Div => x / y,
            BinOp::Rem => x % y,
        })
    }
}

impl Expr {
    /// The call's name and arguments, if this is a call.
    pub fn as_call(&self) -> Option<(&str, &[Expr])> {
        match &self.kind {
            ExprKind::Call(f, args) => Some((f, args)),
            _ => None,
        }
    }
}
