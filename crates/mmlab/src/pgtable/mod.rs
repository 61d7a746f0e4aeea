//! Page-table entries in the x86-64 format and the walk over tables stored in simulated frames.

pub mod pte;
pub mod swp;
pub mod table;

pub use pte::{PresentPte, Pte, PteView};
