//! The mmlab litmus language: parse `.mml` files, run them on a `Backend`, report verdicts.

pub mod ast;
pub mod backend;
pub mod check;
pub mod diff;
pub mod lang;
pub mod model;
pub mod observe;
pub mod parse;
pub mod run;
pub mod suite;
pub mod syscalls;
pub mod sysfs;

pub use backend::Backend;
pub use model::ModelBackend;
pub use parse::{parse, parse_bytes, ParseError};
pub use run::{run, run_with, Limits, Report, Status};
