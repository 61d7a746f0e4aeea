//! mm/process_vm_access.c and fs/proc/base.c's mem_rw(): user space reaching into another
//! process's memory. process_vm_readv()/writev() pin the remote pages (pin_user_pages_remote(),
//! FOLL_WRITE only for writev, so a read is a R/O pin that unshares) 16 at a time and copy
//! between them and the caller's memory; a write to /proc/PID/mem takes plain references with
//! FOLL_FORCE (access_remote_vm()), so a private read-only page gets a COW copy.

use crate::errno::{Errno, SysResult};
use crate::hw::{PAGE_SIZE, TASK_SIZE};
use crate::kernel::Kernel;
use crate::mm::gup::FollFlags;
use crate::mm::MmId;
use crate::sched::Tid;

/// PVM_MAX_PP_ARRAY_COUNT: the pages process_vm_rw_single_vec() pins at a time.
const PVM_MAX_PP_ARRAY_COUNT: u64 = 16;

impl Kernel {
    /// getpid(2): the calling process's pid.
    pub fn getpid(&mut self, tid: Tid) -> SysResult<u64> {
        self.task_tgid_nr(tid).ok_or(Errno::ESRCH)
    }

    /// find_get_task_by_vpid() and mm_access(): the mm of the live process `pid`, or ESRCH.
    fn mm_of_pid(&self, pid: u64) -> SysResult<MmId> {
        let slot = self.find_vpid(pid).ok_or(Errno::ESRCH)?;
        self.procs.get(slot).map(|p| p.mm).ok_or(Errno::ESRCH)
    }

    /// process_vm_readv(2) / process_vm_writev(2) (`write`) with one local and one remote
    /// iovec of `len` bytes and flags 0: the bytes copied. A zero length is 0 before the pid
    /// is looked up (ESRCH for none); the remote pages are pinned 16 at a time, and a chunk
    /// that pins nothing, or a copy that faults, ends the call (EFAULT if nothing was copied).
    pub fn process_vm_rw(
        &mut self,
        tid: Tid,
        pid: u64,
        (local, remote, len): (u64, u64, u64),
        flags: u64,
        write: bool,
    ) -> SysResult<u64> {
        self.enter(tid)?;
        if flags != 0 {
            return Err(Errno::EINVAL);
        }
        // import_iovec() of the local vector.
        if local.checked_add(len).is_none_or(|e| e > TASK_SIZE) {
            return Err(Errno::EFAULT);
        }
        if len == 0 {
            return Ok(0);
        }
        let mm = self.mm_of_pid(pid)?;
        let mut foll = FollFlags::PIN | FollFlags::REMOTE | FollFlags::TOUCH;
        if write {
            foll |= FollFlags::WRITE;
        }
        let mut done = 0u64;
        let mut offset = remote & (PAGE_SIZE - 1);
        let mut pa = remote - offset;
        let Some(last) = remote.checked_add(len - 1) else {
            return Err(Errno::EFAULT);
        };
        let mut nr_pages = last / PAGE_SIZE - remote / PAGE_SIZE + 1;
        while done < len && nr_pages > 0 {
            let n = nr_pages.min(PVM_MAX_PP_ARRAY_COUNT);
            let pages = match self.gup(mm, pa, n, foll) {
                Ok(p) if !p.is_empty() => p,
                _ => break,
            };
            let mut failed = false;
            for &pfn in &pages {
                let copy = (PAGE_SIZE - offset).min(len - done) as usize;
                if copy == 0 {
                    break;
                }
                let at = local + done;
                if write {
                    let mut bytes = Vec::new();
                    self.copy_from_user(tid, at, &mut bytes, copy as u64);
                    failed = bytes.len() < copy;
                    for (i, b) in bytes.into_iter().enumerate() {
                        self.phys.store(pfn, offset as usize + i, b);
                    }
                } else {
                    let bytes: Vec<u8> = (0..copy)
                        .map(|i| self.phys.load(pfn, offset as usize + i))
                        .collect();
                    failed = self.copy_to_user(tid, at, &bytes).is_err();
                }
                if failed {
                    break;
                }
                done += copy as u64;
                offset = 0;
            }
            // unpin_user_pages_dirty_lock(): a writev dirtied the pages.
            self.unpin_user_pages(&pages, write);
            if failed {
                break;
            }
            nr_pages -= pages.len() as u64;
            pa += pages.len() as u64 * PAGE_SIZE;
        }
        if done == 0 {
            return Err(Errno::EFAULT);
        }
        Ok(done)
    }

    /// A write of `byte` at `addr` through /proc/`pid`/mem (open O_RDWR, pwrite, close):
    /// mem_rw() → access_remote_vm() takes the page with FOLL_FORCE | FOLL_WRITE (a private
    /// read-only page is COW-copied first) and writes into it. ENOENT for no such process
    /// (the open fails); EIO if the page cannot be taken.
    pub fn proc_mem_write(&mut self, tid: Tid, pid: u64, addr: u64, byte: u64) -> SysResult<u64> {
        self.enter(tid)?;
        let mm = self.mm_of_pid(pid).map_err(|_| Errno::ENOENT)?;
        let foll = FollFlags::GET | FollFlags::FORCE | FollFlags::WRITE | FollFlags::REMOTE;
        let page = match self.gup(mm, addr, 1, foll) {
            Ok(p) if !p.is_empty() => p[0],
            _ => return Err(Errno::EIO),
        };
        self.phys
            .store(page, (addr & (PAGE_SIZE - 1)) as usize, byte as u8);
        self.set_page_dirty(page);
        self.put_user_page(page);
        Ok(1)
    }
}
