//! mm/msync.c: msync(2). 5.19 starts no I/O for MS_ASYNC and drops nothing for MS_INVALIDATE;
//! MS_SYNC fsyncs the file range of each shared file mapping. An unmapped gap is ENOMEM (after
//! the work, or at once for MS_ASYNC alone); MS_INVALIDATE on a VM_LOCKED mapping is EBUSY.

use crate::errno::{Errno, SysResult};
use crate::hw::{PAGE_MASK, PAGE_SHIFT, PAGE_SIZE};
use crate::kernel::Kernel;
use crate::mm::vma::{vm::*, Backing};
use crate::sched::Tid;
use crate::uapi::fcntl::{MS_ASYNC, MS_INVALIDATE, MS_SYNC};

impl Kernel {
    /// msync(2).
    /// Locks: mmap_lock, read, dropped around each fsync.
    pub fn msync(&mut self, tid: Tid, start: u64, len: u64, flags: u64) -> SysResult<()> {
        let mm = self.enter(tid)?;
        let flags = flags as u32 as u64;
        if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0
            || start & !PAGE_MASK != 0
            || (flags & MS_ASYNC != 0 && flags & MS_SYNC != 0)
        {
            return Err(Errno::EINVAL);
        }
        let len = len.wrapping_add(PAGE_SIZE - 1) & PAGE_MASK;
        let end = start.wrapping_add(len);
        if end < start {
            return Err(Errno::ENOMEM);
        }
        let mut start = start;
        let mut unmapped = false;
        while start < end {
            let Some(vma) = self.mms[mm].vmas.find(start).map(|v| v.for_fault()) else {
                return Err(Errno::ENOMEM);
            };
            if start < vma.start {
                if flags == MS_ASYNC {
                    return Err(Errno::ENOMEM);
                }
                start = vma.start;
                if start >= end {
                    return Err(Errno::ENOMEM);
                }
                unmapped = true;
            }
            if flags & MS_INVALIDATE != 0 && vma.flags & VM_LOCKED != 0 {
                return Err(Errno::EBUSY);
            }
            let stop = end.min(vma.end);
            if let (Backing::File(ino), true) = (vma.backing, flags & MS_SYNC != 0) {
                if vma.flags & VM_SHARED != 0 {
                    let fstart = (start - vma.start) + (vma.pgoff << PAGE_SHIFT);
                    let fend = fstart + (stop - start) - 1;
                    self.vfs_fsync_range(ino, fstart, fend);
                }
            }
            start = vma.end;
        }
        if unmapped {
            Err(Errno::ENOMEM)
        } else {
            Ok(())
        }
    }
}
