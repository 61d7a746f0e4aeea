//! enum fault_flag and enum vm_fault_reason (include/linux/mm_types.h, 5.19): what a fault is
//! asked to do and what it did. A leaf module: it depends on nothing else in the model.

bitflags::bitflags! {
    /// FAULT_FLAG_*: how a fault was raised and what its caller can take.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct FaultFlags: u32 {
        /// The access was a write.
        const WRITE = 1 << 0;
        const MKWRITE = 1 << 1;
        /// The caller can drop the mmap lock, wait and try again (VM_FAULT_RETRY).
        const ALLOW_RETRY = 1 << 2;
        const RETRY_NOWAIT = 1 << 3;
        const KILLABLE = 1 << 4;
        /// A second try after VM_FAULT_RETRY.
        const TRIED = 1 << 5;
        /// From user mode (not a kernel access to user memory, not GUP).
        const USER = 1 << 6;
        /// Into another process's address space (GUP with FOLL_REMOTE).
        const REMOTE = 1 << 7;
        const INSTRUCTION = 1 << 8;
        const INTERRUPTIBLE = 1 << 9;
        /// Unshare a possibly shared anonymous page without making it writable (R/O GUP pin).
        const UNSHARE = 1 << 10;
        /// vmf->orig_pte holds what the fault found.
        const ORIG_PTE_VALID = 1 << 11;

        /// FAULT_FLAG_DEFAULT: what the arch fault handlers start from.
        const DEFAULT = Self::ALLOW_RETRY.bits() | Self::KILLABLE.bits()
            | Self::INTERRUPTIBLE.bits();
    }
}

impl FaultFlags {
    /// May this fault sleep and come back with VM_FAULT_RETRY (a user fault that may retry
    /// and has not been retried yet)? The model suspends only such a fault in mid-step.
    pub fn may_sleep(self) -> bool {
        self.contains(Self::ALLOW_RETRY | Self::USER) && !self.contains(Self::TRIED)
    }
}

bitflags::bitflags! {
    /// vm_fault_t: VM_FAULT_* bits a fault handler returns.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct VmFault: u32 {
        /// No memory for the page or a page table.
        const OOM = 0x1;
        /// Bad access (beyond EOF, a userfaultfd that cannot wait).
        const SIGBUS = 0x2;
        /// The page came from storage.
        const MAJOR = 0x4;
        /// The fault handled a write (GUP's FOLL_WRITE check).
        const WRITE = 0x8;
        const HWPOISON = 0x10;
        const HWPOISON_LARGE = 0x20;
        const SIGSEGV = 0x40;
        /// The handler installed the entry itself.
        const NOPAGE = 0x100;
        const LOCKED = 0x200;
        /// The task slept (in handle_userfault() or on a folio); the fault must be retried.
        const RETRY = 0x400;
        /// A huge page could not be used; fall back to small pages.
        const FALLBACK = 0x800;
        const DONE_COW = 0x1000;
        const NEEDDSYNC = 0x2000;

        /// VM_FAULT_ERROR.
        const ERROR = Self::OOM.bits() | Self::SIGBUS.bits() | Self::SIGSEGV.bits()
            | Self::HWPOISON.bits() | Self::HWPOISON_LARGE.bits() | Self::FALLBACK.bits();
    }
}

/// A fault handler's outcome: Ok with the bits of a completed fault (MAJOR, WRITE, NOPAGE,
/// ...), Err with the bits that stopped it (an ERROR bit or RETRY), so `?` passes a stop up.
pub type FaultResult = Result<VmFault, VmFault>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_mm_types_h() {
        assert_eq!(FaultFlags::DEFAULT.bits(), 0x214);
        assert_eq!(FaultFlags::ORIG_PTE_VALID.bits(), 0x800);
        assert_eq!(VmFault::ERROR.bits(), 0x873);
        assert!(!VmFault::ERROR.contains(VmFault::RETRY));
    }
}
