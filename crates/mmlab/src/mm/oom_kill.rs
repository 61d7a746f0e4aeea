//! mm/oom_kill.c: when reclaim cannot free memory for an allocation, the OOM killer picks the
//! process whose death frees the most (oom_badness()) and sends it SIGKILL.
//!
//! How the victim dies in the model: a victim other than the allocating task is killed "on
//! its own CPU" at once — its private memory goes there and then (what its exit, or the oom
//! reaper, frees: __oom_reap_task_mm()), so the allocation that invoked the killer succeeds
//! on its retry — and its exit completes at the end of the step (`Kernel::finish_step`),
//! when no syscall of another task is using its mm any more. An allocating task that picked
//! itself gets the OOM reserves (ALLOC_OOM) for the rest of its syscall or fault, and dies on
//! its way back to user space, at the end of the step. Each process's `oom_score_adj` moves its
//! score by that many thousandths of the memory the OOM may use, and -1000 exempts it, from
//! the search and from an oom.group kill. Processes that share an mm without being threads of
//! one another are not modelled.

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::mm::memory::ZapDetails;
use crate::mm::mmu_gather::MmuGather;
use crate::mm::vma::vm::{VM_HUGETLB, VM_PFNMAP, VM_SHARED};
use crate::page::Gfp;
use crate::pgtable::table;
use crate::sched::{Pid, Tid};
use crate::sys::CAP_SYS_RESOURCE;

/// OOM_SCORE_ADJ_MIN: never killed by the OOM killer.
pub const OOM_SCORE_ADJ_MIN: i16 = -1000;
/// OOM_SCORE_ADJ_MAX.
pub const OOM_SCORE_ADJ_MAX: i16 = 1000;

/// A process's signal->oom_score_adj, and the floor (oom_score_adj_min) a process without
/// CAP_SYS_RESOURCE may not write below; both inherited across fork (copy_signal()).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OomScoreAdj {
    pub adj: i16,
    pub min: i16,
}

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

    /// oom_badness(): the pages the process's death would free (its RSS, its swap entries
    /// and its page tables) plus oom_score_adj thousandths of `totalpages`; None (LONG_MIN)
    /// for a process exempt at OOM_SCORE_ADJ_MIN.
    pub(crate) fn oom_badness(&self, pid: Pid, totalpages: u64) -> Option<i64> {
        let adj = self.procs[pid].oom_adj.adj;
        if adj == OOM_SCORE_ADJ_MIN {
            return None;
        }
        let m = &self.mms[self.procs[pid].mm];
        let rss_and_swap = m.get_mm_rss() as i64 + m.rss_swapents.max(0);
        let pgtables = table::count_tables(&self.phys, m.pgd) + m.deposited.len() as u64;
        let unit = (totalpages / 1000) as i64;
        Some(rss_and_swap + pgtables as i64 + i64::from(adj) * unit)
    }

    /// oc->totalpages (constrained_alloc()): for a memcg OOM what the memcg may hold
    /// (mem_cgroup_get_max(), at least 1), else all RAM and swap.
    fn oom_totalpages(&self, memcg: Option<usize>) -> u64 {
        match memcg {
            Some(m) => self.mem_cgroup_get_max(m).max(1),
            None => self.pages.nr_total() + self.total_swap_pages().max(0) as u64,
        }
    }

    /// oom_score_adj_write() and __set_oom_adj() on the calling task's process (its own
    /// /proc/PID/oom_score_adj): EINVAL outside -1000..=1000, EACCES below oom_score_adj_min
    /// without CAP_SYS_RESOURCE; a writer with it moves the floor to the value.
    pub fn oom_score_adj_write(&mut self, tid: Tid, value: i64) -> SysResult<()> {
        self.enter(tid)?;
        let range = i64::from(OOM_SCORE_ADJ_MIN)..=i64::from(OOM_SCORE_ADJ_MAX);
        if !range.contains(&value) {
            return Err(Errno::EINVAL);
        }
        let value = value as i16;
        let pid = self.tasks[tid].pid;
        let privileged = self.capable(CAP_SYS_RESOURCE);
        let o = &mut self.procs[pid].oom_adj;
        if value < o.min && !privileged {
            return Err(Errno::EACCES);
        }
        o.adj = value;
        if privileged {
            o.min = value;
        }
        Ok(())
    }

    /// select_bad_process(): score every process in turn (for a memcg OOM, those of the
    /// memcg's subtree: mem_cgroup_scan_tasks()); a score not lower than the best so far
    /// replaces it, so of equals the last one scored wins.
    fn select_bad_process(&self, memcg: Option<usize>) -> Chosen {
        let totalpages = self.oom_totalpages(memcg);
        let mut chosen = None;
        let mut chosen_points = i64::MIN;
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
            let Some(points) = self.oom_badness(pid, totalpages) else {
                continue;
            };
            if points >= chosen_points {
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
                    // mem_cgroup_scan_tasks(oom_kill_memcg_member): the victim again too, but
                    // not a member exempt at OOM_SCORE_ADJ_MIN.
                    for p in self.mem_cgroup_procs(g) {
                        if self.procs[p].oom_adj.adj != OOM_SCORE_ADJ_MIN {
                            self.oom_kill_process(p);
                        }
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
