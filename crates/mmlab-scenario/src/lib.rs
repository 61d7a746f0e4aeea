//! The mmlab litmus language: parse `.mml` files, run them on a `Backend`, report verdicts.

pub mod ast;
pub mod backend;
pub mod diff;
pub mod model;
pub mod parse;
pub mod run;
pub mod suite;

pub use backend::Backend;
pub use model::ModelBackend;
pub use parse::{parse, ParseError};
pub use run::{run, Report, Status};
