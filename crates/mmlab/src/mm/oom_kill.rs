//! mm/oom_kill.c: when reclaim cannot free memory for an allocation, the OOM killer picks the
//! process whose death frees the most (oom_badness()) and sends it SIGKILL.
//!
//! How the victim dies in the model: a victim other than the allocating task is killed "on
//! its own CPU" at once — its private memory goes there and then (what its exit, or the oom
//! reaper, frees: __oom_reap_task_mm()), so the allocation that invoked the killer succeeds
//! on its retry — and its exit completes at the end of the step (`Kernel::finish_step`),
//! when no syscall of another task is using its mm any more. An allocating task that picked
//! itself gets the OOM reserves (ALLOC_OOM) for the rest of its syscall or fault, and dies on
//! its way back to user space, at the end of the step. `oom_score_adj` is not modelled (0 for
//! every process), nor are processes that share an mm without being threads of one another.

use crate::kernel::Kernel;
use crate::mm::memory::ZapDetails;
use crate::mm::mmu_gather::MmuGather;
use crate::mm::vma::vm::{VM_HUGETLB, VM_PFNMAP, VM_SHARED};
use crate::page::Gfp;
use crate::pgtable::table;
use crate::sched::{Pid, Tid};

/// The OOM killer's victims.
#[derive(Clone, Debug, Default)]
pub struct OomState {
    /// Processes with SIGKILL from the OOM killer that have not exited yet
    /// (tsk_is_oom_victim()), and whether their memory was reaped (MMF_OOM_SKIP).
    victims: Vec<(Pid, bool)>,
    /// The tasks the OOM killer's kills ended, until the runner asks (`take_oom_killed`).
    killed: Vec<Tid>,
}

/// What select_bad_process() found.
enum Chosen {
    /// No process can be killed.
    Nothing,
    /// A victim not yet reaped exists: wait for it rather than kill another.
    Abort,
    Victim(Pid),
}

impl Kernel {
    /// tsk_is_oom_victim(current).
    pub(crate) fn current_is_oom_victim(&self) -> bool {
        self.tasks
            .get(self.current)
            .is_some_and(|t| self.oom.victims.iter().any(|&(p, _)| p == t.pid))
    }

    /// oom_badness(): the pages the process's death would free: its RSS, its swap entries
    /// and its page tables.
    pub(crate) fn oom_badness(&self, pid: Pid) -> u64 {
        let m = &self.mms[self.procs[pid].mm];
        let rss_and_swap = (m.rss_anon + m.rss_shmem + m.rss_swapents).max(0) as u64;
        let pgtables = table::count_tables(&self.phys, m.pgd) + m.deposited.len() as u64;
        rss_and_swap + pgtables
    }

    /// select_bad_process(): score every process in turn (for a memcg OOM, those of the
    /// memcg's subtree: mem_cgroup_scan_tasks()); a score not lower than the best so far
    /// replaces it, so of equals the last one scored wins.
    fn select_bad_process(&self, memcg: Option<usize>) -> Chosen {
        let mut chosen = None;
        let mut chosen_points = 0;
        let pids: Vec<Pid> = match memcg {
            Some(m) => self.mem_cgroup_procs(m),
            None => self.procs.iter().map(|(p, _)| p).collect(),
        };
        for pid in pids {
            // oom_evaluate_task(): a victim still exiting aborts the search, a reaped one
            // is passed over.
            match self.oom.victims.iter().find(|&&(p, _)| p == pid) {
                Some(&(_, true)) => continue,
                Some(&(_, false)) => return Chosen::Abort,
                None => {}
            }
            let points = self.oom_badness(pid);
            if chosen.is_none() || points >= chosen_points {
                chosen = Some(pid);
                chosen_points = points;
            }
        }
        chosen.map_or(Chosen::Nothing, Chosen::Victim)
    }

    /// out_of_memory(): a task already killed only needs its reserves; an allocation that
    /// may not enter the filesystem does not kill (it fails or retries); otherwise kill the
    /// worst process. False if nothing could be killed (where Linux panics, "System is
    /// deadlocked on memory", the model's allocation fails).
    pub(crate) fn out_of_memory(&mut self, gfp: Gfp) -> bool {
        self.out_of_memory_in(gfp, None)
    }

    /// out_of_memory() with oc->memcg: the global killer, or (Some) the memcg's, which never
    /// checks __GFP_FS; the victim's memory.oom.group (v2) takes its whole group with it.
    pub(crate) fn out_of_memory_in(&mut self, gfp: Gfp, memcg: Option<usize>) -> bool {
        if self.current_is_oom_victim() || (memcg.is_none() && !gfp.contains(Gfp::FS)) {
            return true;
        }
        match self.select_bad_process(memcg) {
            Chosen::Nothing => false,
            Chosen::Abort => true,
            Chosen::Victim(pid) => {
                let group = self.mem_cgroup_get_oom_group(pid, memcg);
                self.oom_kill_process(pid);
                if let Some(g) = group {
                    self.memcg_memory_event(g, crate::mm::memcontrol::MemcgEvent::OomGroupKill);
                    // mem_cgroup_scan_tasks(oom_kill_memcg_member): the victim again too.
                    for p in self.mem_cgroup_procs(g) {
                        self.oom_kill_process(p);
                    }
                }
                true
            }
        }
    }

    /// __oom_kill_process(): count oom_kill (and the event on the victim's memcg), send
    /// SIGKILL (mark_oom_victim(), once); a victim other than the allocating task frees its
    /// memory now.
    fn oom_kill_process(&mut self, pid: Pid) {
        self.vmstat.oom_kill += 1;
        let m = self.task_memcg(pid);
        self.memcg_memory_event(m, crate::mm::memcontrol::MemcgEvent::OomKill);
        if self.oom.victims.iter().any(|&(p, _)| p == pid) {
            return;
        }
        self.oom.victims.push((pid, false));
        if self.tasks.get(self.current).map(|t| t.pid) != Some(pid) {
            self.oom_reap_task_mm(pid);
        }
    }

    /// __oom_reap_task_mm(): unmap every private or anonymous VMA of the victim (hugetlb
    /// and PFN maps excepted; shared file pages stay with their file), then MMF_OOM_SKIP, so
    /// the next OOM looks past this victim.
    fn oom_reap_task_mm(&mut self, pid: Pid) {
        let mm = self.procs[pid].mm;
        let vmas: Vec<_> = self.mms[mm]
            .vmas
            .iter()
            .filter(|v| {
                v.flags & (VM_HUGETLB | VM_PFNMAP) == 0
                    && (v.is_anonymous() || v.flags & VM_SHARED == 0)
            })
            .cloned()
            .collect();
        self.lru_add_drain();
        let mut tlb = MmuGather::new(mm, false);
        for v in &vmas {
            self.zap_page_range(&mut tlb, v, (v.start, v.end), ZapDetails::DONTNEED);
        }
        self.tlb_finish_mmu(tlb);
        for victim in self.oom.victims.iter_mut().filter(|(p, _)| *p == pid) {
            victim.1 = true;
        }
    }

    /// The victims' SIGKILL takes effect: each process exits (do_group_exit()).
    pub(crate) fn oom_reap_victims(&mut self) {
        for (pid, _) in std::mem::take(&mut self.oom.victims) {
            let threads = self.procs[pid].threads.clone();
            self.do_group_exit(threads[0], crate::uapi::SIGKILL as u32)
                .expect("a live process");
            self.oom.killed.extend(threads);
        }
    }

    /// The tasks the OOM killer ended since the last call.
    pub fn take_oom_killed(&mut self) -> Vec<Tid> {
        std::mem::take(&mut self.oom.killed)
    }
}
