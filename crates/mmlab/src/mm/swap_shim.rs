//! TEMPORARY shim (drop at merge): the swap entry points the scenario crate calls, standing in
//! for the lead's mm/swapfile.rs so that the host helper's branch builds. Every call fails or
//! does nothing; the real ones replace this file.

use crate::{Errno, Kernel, SysResult, Tid};

/// What a swap file header leaves in the file (the lead's enum replaces this one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapFileKind {
    Mkswap,
    Holes,
    NoSignature,
    Empty,
}

impl Kernel {
    /// TEMPORARY: swapon(2) is not modelled on this branch.
    pub fn swapon(&mut self, _tid: Tid, _path: &str, _flags: u64) -> SysResult<u64> {
        Err(Errno::ENOSYS)
    }

    /// TEMPORARY: swapoff(2) is not modelled on this branch.
    pub fn swapoff(&mut self, _tid: Tid, _path: &str) -> SysResult<u64> {
        Err(Errno::ENOSYS)
    }

    /// TEMPORARY: a header's swap file; nothing is made.
    pub fn create_swap_file(
        &mut self,
        _name: &str,
        _bytes: u64,
        _kind: SwapFileKind,
    ) -> Result<(), String> {
        Ok(())
    }

    /// TEMPORARY: a header's zram device; nothing is made.
    pub fn create_zram(&mut self, _name: &str, _bytes: u64) -> Result<(), String> {
        Ok(())
    }

    /// TEMPORARY: /proc/swaps with no area swapped on.
    pub fn proc_swaps(&self) -> String {
        "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n".into()
    }
}
