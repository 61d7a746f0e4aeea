//! kernel/fork.c and kernel/exit.c, the part the model needs: processes and threads come and
//! go, a syscall enters the kernel on behalf of its task, exit tears the address space down.

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::mm::{Mm, MmId};
use crate::sched::{Process, Task, Tid};

impl Kernel {
    /// A CPU the machine has, or EINVAL.
    fn check_cpu(&self, cpu: usize) -> SysResult<()> {
        if cpu < self.tlbs.len() {
            Ok(())
        } else {
            Err(Errno::EINVAL)
        }
    }

    /// A new process with an empty address space, its one thread on `cpu`.
    pub fn spawn_process(&mut self, cpu: usize) -> SysResult<Tid> {
        self.check_cpu(cpu)?;
        let mm = self.mm_alloc(cpu)?;
        let nr = self.alloc_pid();
        let pid = self.procs.insert(Process {
            mm,
            threads: vec![],
            min_flt: 0,
            maj_flt: 0,
            fds: Default::default(),
            rlim: crate::sys::init_rlimits(self.cfg.memory_bytes),
            caps: crate::sys::Caps::ROOT,
            nr,
            pgid: nr,
            parent: None,
            children_ru: Default::default(),
            oom_adj: Default::default(),
        });
        let tid = self.tasks.insert(Task {
            pid,
            mm,
            cpu,
            wait: None,
            restart: None,
            fault_retry: None,
            si_code: None,
            mempolicy: Default::default(),
            il_prev: 0,
            min_flt: 0,
            maj_flt: 0,
            memcg_nr_pages_over_high: 0,
        });
        self.procs[pid].threads.push(tid);
        Ok(tid)
    }

    /// mm_alloc(): an empty address space with its PGD, first run on `cpu`.
    pub(crate) fn mm_alloc(&mut self, cpu: usize) -> SysResult<MmId> {
        let pgd = self.alloc_pgtable().ok_or(Errno::ENOMEM)?;
        let id = self.mms.vacant_key();
        self.mms.insert(Mm {
            id,
            pgd,
            vmas: Default::default(),
            cpumask: 1 << cpu,
            rss_anon: 0,
            rss_shmem: 0,
            rss_swapents: 0,
            total_vm: 0,
            committed: 0,
            deposited: Default::default(),
            def_flags: 0,
            start_brk: crate::mm::START_BRK,
            brk: crate::mm::START_BRK,
            has_pinned: false,
            write_protect_seq: 0,
            hiwater_rss: 0,
        });
        Ok(id)
    }

    /// clone(CLONE_VM|CLONE_THREAD): a new thread of `tid`'s process on `cpu`.
    pub fn spawn_thread(&mut self, tid: Tid, cpu: usize) -> SysResult<Tid> {
        self.check_cpu(cpu)?;
        let t = self.task(tid)?.clone();
        let new = self.tasks.insert(Task {
            cpu,
            wait: None,
            restart: None,
            fault_retry: None,
            si_code: None,
            min_flt: 0,
            maj_flt: 0,
            ..t
        });
        self.procs[t.pid].threads.push(new);
        self.mms[t.mm].cpumask |= 1 << cpu;
        Ok(new)
    }

    /// sched_setaffinity() to one CPU: the task runs there from now on.
    pub fn set_cpu(&mut self, tid: Tid, cpu: usize) -> SysResult<()> {
        self.check_cpu(cpu)?;
        let mm = self.task(tid)?.mm;
        self.tasks[tid].cpu = cpu;
        self.mms[mm].cpumask |= 1 << cpu;
        Ok(())
    }

    /// The task, or ESRCH.
    pub fn task(&self, tid: Tid) -> SysResult<&Task> {
        self.tasks.get(tid).ok_or(Errno::ESRCH)
    }

    /// Enter the kernel on behalf of `tid`: returns its mm and records who is local.
    pub(crate) fn enter(&mut self, tid: Tid) -> SysResult<MmId> {
        let t = self.tasks.get(tid).ok_or(Errno::ESRCH)?;
        self.current_cpu = t.cpu;
        self.current = tid;
        Ok(t.mm)
    }

    /// mm_account_fault(): a completed fault counts as a major fault of the current task if
    /// it waited for I/O (VM_FAULT_MAJOR), else as a minor one. (A fault completing on a
    /// retry is major too; the caller does not account it here.)
    pub(crate) fn account_fault(&mut self, r: crate::mm::vm_fault::VmFault) {
        if let Some(t) = self.tasks.get_mut(self.current) {
            let p = &mut self.procs[t.pid];
            if r.contains(crate::mm::vm_fault::VmFault::MAJOR) {
                t.maj_flt += 1;
                p.maj_flt += 1;
            } else {
                t.min_flt += 1;
                p.min_flt += 1;
            }
        }
    }

    /// exit_group(0): end every thread of the process and tear down its address space.
    pub fn exit(&mut self, tid: Tid) -> SysResult<()> {
        self.do_group_exit(tid, 0)
    }

    /// do_group_exit(): end every thread of the process and tear down its address space,
    /// leaving `code` (signal->group_exit_code: `(status & 0xff) << 8` from exit_group(), the
    /// signal's number from a fatal signal) for the parent to reap.
    pub fn do_group_exit(&mut self, tid: Tid, code: u32) -> SysResult<()> {
        let mm = self.enter(tid)?;
        let pid = self.tasks[tid].pid;
        // exit_mm(): the mm's high-water RSS goes into signal->maxrss before the mm does.
        let maxrss = self.mms[mm].get_mm_hiwater_rss();
        let proc = self.procs.remove(pid);
        let zombie = crate::wait::Zombie::of(&proc, code, maxrss);
        self.cgroup_exit(pid);
        for t in proc.threads {
            // A UFFDIO_COPY asleep on its source fails (EFAULT) and puts the page it holds; a
            // MADV_REMOVE asleep on its event puts the file it holds.
            match self.tasks[t].restart.take() {
                Some(crate::fs::userfaultfd::Restart::Copy(c)) => {
                    if let Some(f) = c.page {
                        self.folio_put(f);
                    }
                }
                Some(crate::fs::userfaultfd::Restart::AfterRemoveEvent {
                    punch: Some((ino, _)),
                    ..
                }) => self.fput_inode(ino),
                _ => {}
            }
            self.tasks.remove(t);
            self.uffd_forget_task(t);
        }
        // do_exit(): exit_mm() before exit_files(), then exit_task_work().
        self.exit_mmap(mm);
        self.close_all(proc.fds);
        self.task_work_run();
        self.exit_notify(zombie);
        Ok(())
    }

    /// exit_mmap(): unmap everything with a full-mm gather, free every page table, drop the mm.
    /// Locks: the mmap lock, write, for all of it (5.19's exit_mmap(); an OOM victim is reaped
    /// first without it).
    pub(crate) fn exit_mmap(&mut self, mm: MmId) {
        self.lru_add_drain();
        let starts: Vec<u64> = self.mms[mm].vmas.iter().map(|v| v.start).collect();
        let mut tlb = crate::mm::mmu_gather::MmuGather::new(mm, true);
        for s in starts {
            let v = self.vma_unlink(mm, s).expect("vma");
            let range = (v.start, v.end);
            self.zap_page_range(&mut tlb, &v, range, crate::mm::memory::ZapDetails::UNMAP);
            self.vma_release(&v);
        }
        self.tlb_finish_mmu(tlb);
        self.free_all_pgtables(mm);
        self.khugepaged_exit(mm);
        // A userfaultfd still open elsewhere can no longer reach this mm.
        for (_, c) in self.uffd.iter_mut().filter(|(_, c)| c.mm == Some(mm)) {
            c.mm = None;
        }
        self.mms.remove(mm);
    }

    /// remove_vma(): what a VMA holds besides its pages goes with it. hugetlb_vm_op_close()
    /// gives back the reservations it never used at once; the file reference goes through
    /// fput(), which leaves the last one's release to task work (task_work_run()), so
    /// whatever the file holds (a hugetlb file's reservations, its pages) is still held for
    /// the rest of the syscall.
    pub(crate) fn vma_release(&mut self, v: &crate::mm::Vma) {
        self.hugetlb_unreserve(v.hugetlb_resv.len() as u64);
        if let crate::mm::Backing::File(ino) = v.backing {
            self.fput_inode(ino);
        }
    }

    /// fput() of one reference to a file from a syscall: the count drops now, the last
    /// reference's release (____fput()) is task work.
    pub(crate) fn fput_inode(&mut self, ino: crate::fs::inode::Ino) {
        if self.inodes[ino].refs == 1 {
            self.task_work.push(ino);
        } else {
            self.shmem_put(ino);
        }
    }

    /// task_work_run() on the way back to user space (or exit_task_work() at exit): the files
    /// whose release fput() deferred go now.
    pub(crate) fn task_work_run(&mut self) {
        for ino in std::mem::take(&mut self.task_work) {
            self.shmem_put(ino);
        }
    }

    /// The live tasks.
    pub fn tids(&self) -> Vec<Tid> {
        self.tasks.iter().map(|(t, _)| t).collect()
    }
}
