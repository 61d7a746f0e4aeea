//! `mmlab fuzz`: seeded random scenarios over the whole scenario language, run on the model
//! with its invariant checker after every step and a shadow of memory contents, and (with
//! `--both`) on the host kernel with the `run --both` comparison; a failing case is shrunk to
//! a small scenario that fails the same way. See docs/fuzzing.md.

pub mod campaign;
pub mod cli;
pub mod gen;
pub mod judge;
pub mod refmem;
pub mod shadow;
pub mod shrink;
