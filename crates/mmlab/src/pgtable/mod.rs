//! Page-table entries in the x86-64 format and the walk over tables stored in simulated frames.

pub mod arch;
pub mod pmd;
pub mod pte;
pub mod swp;
pub mod table;

pub use pmd::{Pmd, PmdKind};
pub use pte::{PresentPte, Pte, PteKind, PteView};
