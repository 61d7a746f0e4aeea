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
    pub body: Vec<Stmt>,
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

#[derive(Clone, Debug)]
pub enum ExprKind {
    Num(u64),
    /// A string literal (only as a file name argument).
    Str(String),
    Name(String),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// `name(args)`; model probes are named `model.x`.
    Call(String, Vec<Expr>),
    Field(Box<Expr>, String),
}
