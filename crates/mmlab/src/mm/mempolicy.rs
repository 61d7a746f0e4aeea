//! mm/mempolicy.c: NUMA memory policies (the task's and each VMA's), the nodes an allocation
//! may come from under them, and the syscalls that set and read policies or move pages by
//! them (set_mempolicy, get_mempolicy, mbind, migrate_pages). The model's nodes all have
//! memory and CPUs (N_MEMORY is every node), the same distance from each other, and no
//! cpusets (mems_allowed is every node). Every process has the same credentials, so the
//! ptrace_may_access() checks pass; CAP_SYS_NICE is the caller's (capable()).

use smallvec::SmallVec;

use crate::errno::{Errno, SysResult};
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::migrate::MigrateTarget;
use crate::mm::vma::{vm::*, Vma};
use crate::mm::MmId;
use crate::page::alloc::ZERO_PFN;
use crate::page::{Folio, PageFlags, Pfn};
use crate::pgtable::pmd::PmdKind;
use crate::pgtable::pte::PteKind;
use crate::pgtable::table::{self, Leaf};
use crate::sched::Tid;
use crate::sys::CAP_SYS_NICE;
use crate::uapi::mempolicy::*;

/// nodemask_t for the model's nodes (at most 64 of them).
pub type NodeMask = u64;

/// struct mempolicy, as a value (the kernel's refcounted copies behave as values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Mempolicy {
    /// MPOL_* mode; MPOL_DEFAULT stands for no policy (a NULL pointer in the kernel).
    pub mode: u8,
    /// The mode flags given with it (MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES,
    /// MPOL_F_NUMA_BALANCING).
    pub flags: u16,
    /// pol->nodes: the nodes it allows or prefers, after masking with the online nodes.
    pub nodes: NodeMask,
    /// w.user_nodemask: the mask as given, which get_mempolicy() shows with a mode flag.
    pub user_nodes: NodeMask,
}

impl Mempolicy {
    /// No policy of its own (the VMA falls back to the task's, the task to local).
    pub fn is_default(&self) -> bool {
        self.mode == MPOL_DEFAULT as u8
    }
}

/// The allocation in progress: what vma_alloc_folio() is told (the VMA's policy and where the
/// page falls in it) or what alloc_migration_target() demands (one node, __GFP_THISNODE).
#[derive(Clone, Copy, Debug)]
pub(crate) enum AllocContext {
    /// A fault in a VMA: its policy (or the task's), its pgoff and start, the address.
    Vma {
        policy: Mempolicy,
        pgoff: u64,
        start: u64,
        addr: u64,
    },
    /// Exactly this node.
    ThisNode(usize),
}

/// The NUMA state beside the allocator.
#[derive(Debug, Default)]
pub struct Numa {
    /// The context of the allocation being made, set around it by its caller.
    pub(crate) ctx: Option<AllocContext>,
    /// The nodes the allocation in progress tries, in order (ac->preferred_zoneref onwards,
    /// filtered by ac->nodemask).
    pub(crate) zonelist: SmallVec<[usize; 8]>,
    /// The migration begun by `Kernel::migrate_begin` and not yet ended.
    pub(crate) pending: Option<crate::mm::migrate::PendingMigration>,
}

/// A node mask user space passed (get_nodes()): the model's 64 low bits, and whether any
/// node below MAX_NUMNODES was given at all (mpol_new() tests the raw mask for emptiness).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UserNodes {
    pub low: NodeMask,
    pub any: bool,
}

/// The n-th (from 0) set bit of `mask`, if it has that many.
fn nth_node(mask: NodeMask, n: u32) -> Option<usize> {
    let mut m = mask;
    for _ in 0..n {
        m &= m.wrapping_sub(1);
    }
    (m != 0).then(|| m.trailing_zeros() as usize)
}

/// first_node(): the lowest node of a non-empty mask.
fn first_node(mask: NodeMask) -> usize {
    mask.trailing_zeros() as usize
}

/// next_node_in(): the first node of `mask` after `node`, wrapping around.
pub(crate) fn next_node_in(node: usize, mask: NodeMask) -> usize {
    let above = if node >= 63 {
        0
    } else {
        mask & !((2u64 << node) - 1)
    };
    if above != 0 {
        first_node(above)
    } else {
        first_node(mask)
    }
}

/// bitmap_bitremap() (node_remap()): the node `old`'s position among `from`'s nodes picks
/// the node at that position (modulo their number) among `to`'s; unchanged if `old` is not
/// in `from` or `to` is empty.
fn node_remap(old: usize, from: NodeMask, to: NodeMask) -> usize {
    if from & (1 << old) == 0 || to == 0 {
        return old;
    }
    let pos = (from & ((1u64 << old) - 1)).count_ones();
    nth_node(to, pos % to.count_ones()).unwrap_or(old)
}

/// mpol_relative_nodemask(): `orig` folded onto the `rel` nodes (bit n means the n-th node of
/// `rel`, wrapping).
fn relative_nodemask(orig: NodeMask, rel: NodeMask) -> NodeMask {
    let w = rel.count_ones();
    if w == 0 {
        return 0;
    }
    (0..64)
        .filter(|b| orig & (1 << b) != 0)
        .filter_map(|b| nth_node(rel, b % w))
        .fold(0, |m, n| m | 1 << n)
}

/// A node a scenario or user space names, as the model's mask bit, if it is online.
pub(crate) fn node_bit(node: u64, nr_nodes: usize) -> Option<NodeMask> {
    (node < nr_nodes as u64).then(|| 1 << node)
}

impl Kernel {
    /// node_states[N_MEMORY]: every node of the model.
    pub(crate) fn node_states_memory(&self) -> NodeMask {
        let n = self.pages.nr_nodes();
        if n >= 64 {
            u64::MAX
        } else {
            (1 << n) - 1
        }
    }

    /// numa_node_id(): the node of the current CPU (the CPUs are spread evenly over nodes).
    pub(crate) fn numa_node_id(&self) -> usize {
        self.current_cpu * self.pages.nr_nodes() / self.tlbs.len().max(1)
    }

    /// The nodes the allocation in progress may take frames from, best first: the zonelist
    /// of the node policy_node() picks, filtered by policy_nodemask(). MPOL_INTERLEAVE picks
    /// the node (interleave_nid(): by offset in a VMA, else the task's il_prev) and falls
    /// back to all; MPOL_PREFERRED_MANY tries its nodes first, then the rest.
    pub(crate) fn alloc_nodes(&mut self, order: u32) -> SmallVec<[usize; 8]> {
        let nr = self.pages.nr_nodes();
        if nr == 1 {
            return SmallVec::from_slice(&[0]);
        }
        let local = self.numa_node_id();
        let task = self
            .tasks
            .get(self.current)
            .map(|t| t.mempolicy)
            .unwrap_or_default();
        let (pol, vma) = match self.numa.ctx {
            Some(AllocContext::ThisNode(nid)) => return SmallVec::from_slice(&[nid]),
            Some(AllocContext::Vma {
                policy,
                pgoff,
                start,
                addr,
            }) if !policy.is_default() => (policy, Some((pgoff, start, addr))),
            _ => (task, None),
        };
        let all = self.node_states_memory();
        let (preferred, first, allowed) = match pol.mode as u64 {
            MPOL_PREFERRED => (first_node(pol.nodes), all, all),
            MPOL_BIND => (local, pol.nodes, pol.nodes),
            MPOL_PREFERRED_MANY => (local, pol.nodes, all),
            MPOL_INTERLEAVE => {
                let nid = match vma {
                    // offset_il_node() of the page's offset in units of the allocation.
                    Some((pgoff, start, addr)) => {
                        let off = (pgoff >> order) + ((addr - start) >> (12 + order));
                        nth_node(pol.nodes, (off % pol.nodes.count_ones() as u64) as u32)
                            .unwrap_or(local)
                    }
                    // interleave_nodes(): the task's next node after il_prev.
                    None => {
                        let t = &mut self.tasks[self.current];
                        t.il_prev = next_node_in(t.il_prev, pol.nodes);
                        t.il_prev
                    }
                };
                (nid, all, all)
            }
            _ => (local, all, all),
        };
        // The zonelist: the preferred node, then the others in order (all at one distance);
        // the policy's first-choice nodes ahead of the rest it allows.
        let order_from = |m: NodeMask| {
            (0..nr)
                .map(move |i| (preferred + i) % nr)
                .filter(move |n| m & (1 << n) != 0)
        };
        order_from(first & allowed)
            .chain(order_from(allowed & !first))
            .collect()
    }

    /// Run `f` with the allocation context `ctx` (alloc_pages_vma()'s VMA policy, or
    /// alloc_migration_target()'s node), restoring the one around it afterwards.
    pub(crate) fn with_alloc_context<R>(
        &mut self,
        ctx: AllocContext,
        f: impl FnOnce(&mut Kernel) -> R,
    ) -> R {
        let saved = self.numa.ctx.replace(ctx);
        let r = f(self);
        self.numa.ctx = saved;
        r
    }

    /// The VMA-policy allocation context of a fault at `addr` in `vma` (get_vma_policy()).
    pub(crate) fn vma_alloc_context(vma: &Vma, addr: u64) -> AllocContext {
        AllocContext::Vma {
            policy: vma.policy,
            pgoff: vma.pgoff,
            start: vma.start,
            addr,
        }
    }

    /// get_nodes(): the node mask user space passed as `maxnode - 1` bits at `nmask`. More
    /// than a page of bits is EINVAL, so is a node at or above MAX_NUMNODES; EFAULT if the
    /// mask cannot be read.
    pub(crate) fn get_nodes(&mut self, tid: Tid, nmask: u64, maxnode: u64) -> SysResult<UserNodes> {
        let maxnode = maxnode.wrapping_sub(1);
        if maxnode == 0 || nmask == 0 {
            return Ok(UserNodes::default());
        }
        if maxnode > PAGE_SIZE * 8 {
            return Err(Errno::EINVAL);
        }
        let bytes = self.get_user_bytes(tid, nmask, (maxnode.div_ceil(64) * 8) as usize)?;
        let bit = |i: u64| bytes[(i / 8) as usize] >> (i % 8) & 1 != 0;
        if (MAX_NUMNODES..maxnode).any(bit) {
            return Err(Errno::EINVAL);
        }
        let n = maxnode.min(MAX_NUMNODES);
        Ok(UserNodes {
            low: (0..n.min(64))
                .filter(|&i| bit(i))
                .fold(0, |m, i| m | 1 << i),
            any: (0..n).any(bit),
        })
    }

    /// sanitize_mpol_flags(): split the mode flags off `mode` (as the C int it is); EINVAL
    /// for an unknown mode or clashing flags. Returns (mode, flags).
    pub(crate) fn sanitize_mpol_flags(mode: u64) -> SysResult<(u64, u64)> {
        let lmode = mode as u32 as u64;
        let flags = lmode & MPOL_MODE_FLAGS;
        let mode = lmode & !MPOL_MODE_FLAGS;
        let both = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES;
        if mode >= MPOL_MAX
            || flags & both == both
            || (flags & MPOL_F_NUMA_BALANCING != 0 && mode != MPOL_BIND)
        {
            return Err(Errno::EINVAL);
        }
        Ok((mode, flags))
    }

    /// mpol_new() and mpol_set_nodemask(): the policy `mode` (with its
    /// mode flags) and `nodes` ask for; None is MPOL_DEFAULT (no policy). EINVAL for an
    /// unknown mode, clashing flags, a mask the mode may not have or must have, or nodes of
    /// which none is online.
    pub(crate) fn mpol_new(&self, mode: u64, nodes: UserNodes) -> SysResult<Option<Mempolicy>> {
        let (mut mode, flags) = Self::sanitize_mpol_flags(mode)?;
        let static_or_relative = flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES);
        match mode {
            MPOL_DEFAULT if nodes.any => return Err(Errno::EINVAL),
            MPOL_DEFAULT => return Ok(None),
            MPOL_PREFERRED if !nodes.any => {
                if static_or_relative != 0 {
                    return Err(Errno::EINVAL);
                }
                mode = MPOL_LOCAL;
            }
            MPOL_LOCAL if nodes.any || static_or_relative != 0 => return Err(Errno::EINVAL),
            MPOL_LOCAL | MPOL_PREFERRED => {}
            _ if !nodes.any => return Err(Errno::EINVAL),
            _ => {}
        }
        let mut pol = Mempolicy {
            mode: mode as u8,
            flags: flags as u16,
            nodes: 0,
            user_nodes: nodes.low,
        };
        if mode == MPOL_LOCAL {
            return Ok(Some(pol));
        }
        let online = self.node_states_memory();
        let mask = if flags & MPOL_F_RELATIVE_NODES != 0 {
            relative_nodemask(nodes.low, online)
        } else {
            nodes.low & online
        };
        if mask == 0 {
            return Err(Errno::EINVAL);
        }
        pol.nodes = if mode == MPOL_PREFERRED {
            1 << first_node(mask)
        } else {
            mask
        };
        Ok(Some(pol))
    }

    /// set_mempolicy(2): the calling thread's policy for allocations outside VMAs with one.
    pub fn set_mempolicy(
        &mut self,
        tid: Tid,
        mode: u64,
        nmask: u64,
        maxnode: u64,
    ) -> SysResult<u64> {
        self.enter(tid)?;
        Self::sanitize_mpol_flags(mode)?;
        let nodes = self.get_nodes(tid, nmask, maxnode)?;
        let pol = self.mpol_new(mode, nodes)?.unwrap_or_default();
        let t = &mut self.tasks[tid];
        t.mempolicy = pol;
        if pol.mode as u64 == MPOL_INTERLEAVE {
            t.il_prev = MAX_NUMNODES as usize - 1;
        }
        Ok(0)
    }

    /// get_mempolicy(2): the policy (of the thread, or of the VMA at `addr` with
    /// MPOL_F_ADDR) as an int at `policy` and its nodes at `nmask`; with MPOL_F_NODE the
    /// node of the page at `addr` (faulted in for reading) or the thread's next interleave
    /// node; MPOL_F_MEMS_ALLOWED gives the nodes the thread may use.
    pub fn get_mempolicy(
        &mut self,
        tid: Tid,
        policy: u64,
        nmask: u64,
        maxnode: u64,
        addr: u64,
        flags: u64,
    ) -> SysResult<u64> {
        let mm = self.enter(tid)?;
        if nmask != 0 && maxnode < self.pages.nr_nodes() as u64 {
            return Err(Errno::EINVAL);
        }
        if flags & !(MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED) != 0 {
            return Err(Errno::EINVAL);
        }
        let task_pol = self.tasks[tid].mempolicy;
        let (pval, nodes) = if flags & MPOL_F_MEMS_ALLOWED != 0 {
            if flags & (MPOL_F_NODE | MPOL_F_ADDR) != 0 {
                return Err(Errno::EINVAL);
            }
            (0, self.node_states_memory())
        } else {
            let pol = if flags & MPOL_F_ADDR != 0 {
                self.mms[mm].vmas.lookup(addr).ok_or(Errno::EFAULT)?.policy
            } else if addr != 0 {
                return Err(Errno::EINVAL);
            } else {
                task_pol
            };
            let pval = if flags & MPOL_F_NODE != 0 {
                if flags & MPOL_F_ADDR != 0 {
                    // lookup_node(): get_user_pages_fast() of the page, for reading.
                    let pfn = self
                        .translate_user(tid, addr & !(PAGE_SIZE - 1))
                        .map_err(|_| Errno::EFAULT)?;
                    self.pages.pfn_to_nid(pfn) as u64
                } else if pol == task_pol && pol.mode as u64 == MPOL_INTERLEAVE {
                    next_node_in(self.tasks[tid].il_prev, pol.nodes) as u64
                } else {
                    return Err(Errno::EINVAL);
                }
            } else {
                pol.mode as u64 | pol.flags as u64 & MPOL_MODE_FLAGS
            };
            let nodes = if pol.flags as u64 & MPOL_MODE_FLAGS != 0 {
                pol.user_nodes
            } else if pol.is_default() || pol.mode as u64 == MPOL_LOCAL {
                0
            } else {
                pol.nodes
            };
            (pval, nodes)
        };
        if policy != 0 {
            self.put_user_bytes(tid, policy, &(pval as u32).to_le_bytes())?;
        }
        if nmask != 0 {
            self.copy_nodes_to_user(tid, nmask, maxnode, nodes)?;
        }
        Ok(0)
    }

    /// copy_nodes_to_user(): `maxnode - 1` bits rounded up to longs; past the kernel's own
    /// mask (one long for the model's nodes) the rest is cleared, up to a page (EINVAL
    /// beyond).
    fn copy_nodes_to_user(
        &mut self,
        tid: Tid,
        mask: u64,
        maxnode: u64,
        nodes: NodeMask,
    ) -> SysResult<()> {
        let copy = maxnode.wrapping_sub(1).div_ceil(64) * 8;
        let nbytes = 8;
        let mut bytes = nodes.to_le_bytes().to_vec();
        if copy > nbytes {
            if copy > PAGE_SIZE {
                return Err(Errno::EINVAL);
            }
            bytes.resize(copy as usize, 0);
        } else {
            bytes.truncate(copy as usize);
        }
        self.put_user_bytes(tid, mask, &bytes)
    }

    /// copy_from_user() of exactly `len` bytes, as a syscall needs them: EFAULT if any page
    /// cannot be read.
    pub(crate) fn get_user_bytes(&mut self, tid: Tid, addr: u64, len: usize) -> SysResult<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        self.copy_from_user(tid, addr, &mut out, len as u64);
        if out.len() < len {
            return Err(Errno::EFAULT);
        }
        Ok(out)
    }

    /// copy_to_user() as a syscall fails it: EFAULT.
    pub(crate) fn put_user_bytes(&mut self, tid: Tid, addr: u64, bytes: &[u8]) -> SysResult<()> {
        self.copy_to_user(tid, addr, bytes)
            .map_err(|_| Errno::EFAULT)
    }

    /// mbind(2): give `[start, start + len)` the policy `mode`/`nmask` (splitting VMAs at its
    /// ends, merging where the policies now match); with MPOL_MF_MOVE (MOVE_ALL: shared pages
    /// too) pages on nodes the policy does not allow are migrated to ones it does; with
    /// MPOL_MF_STRICT, EIO if such a page is found and not moved (or, without MOVE, found at
    /// all). EFAULT for a hole in the range (except for MPOL_DEFAULT).
    #[allow(clippy::too_many_arguments)]
    pub fn mbind(
        &mut self,
        tid: Tid,
        start: u64,
        len: u64,
        mode: u64,
        nmask: u64,
        maxnode: u64,
        flags: u64,
    ) -> SysResult<u64> {
        let mm = self.enter(tid)?;
        // kernel_mbind(): the mode is checked before the mask is read, both before do_mbind().
        let (lmode, _) = Self::sanitize_mpol_flags(mode)?;
        let nodes = self.get_nodes(tid, nmask, maxnode)?;
        let mut flags = flags as u32 as u64;
        if flags & !MPOL_MF_VALID != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MPOL_MF_MOVE_ALL != 0 && !self.capable(CAP_SYS_NICE) {
            return Err(Errno::EPERM);
        }
        if start & (PAGE_SIZE - 1) != 0 {
            return Err(Errno::EINVAL);
        }
        if lmode == MPOL_DEFAULT {
            flags &= !MPOL_MF_STRICT;
        }
        let len = len.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
        let end = start.wrapping_add(len);
        if end < start {
            return Err(Errno::EINVAL);
        }
        if end == start {
            return Ok(0);
        }
        let new = self.mpol_new(mode, nodes)?;
        let mut qflags = flags | MPOL_MF_INVERT;
        if new.is_none() {
            qflags |= MPOL_MF_DISCONTIG_OK;
        }
        let new = new.unwrap_or_default();
        if flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) != 0 {
            // lru_cache_disable(): every per-CPU batch drained, so pages can be isolated.
            self.lru_add_drain_all();
        }
        let mut list = Vec::new();
        let queued = self.queue_pages_range(mm, (start, end), new.nodes, qflags, &mut list);
        let unmovable = match queued {
            Ok(u) => u,
            Err(e) => {
                self.putback_movable_pages(list);
                return Err(e);
            }
        };
        self.mbind_range(mm, start, end, new)?;
        let mut all_moved = true;
        if !list.is_empty() {
            let (r, left) = self.migrate_folio_list(list, MigrateTarget::VmaPolicy(mm, start));
            all_moved = r == Ok(0);
            self.putback_movable_pages(left);
        }
        if unmovable || (!all_moved && flags & MPOL_MF_STRICT != 0) {
            return Err(Errno::EIO);
        }
        Ok(0)
    }

    /// mbind_range(): each VMA's part of `[start, end)` gets the policy, split off at the
    /// range's ends and merged with neighbours whose policy now matches.
    fn mbind_range(&mut self, mm: MmId, start: u64, end: u64, pol: Mempolicy) -> SysResult<()> {
        for s in self.mms[mm].vmas.overlapping(start, end) {
            let Some(v) = self.mms[mm].vmas.get_mut(s) else {
                continue;
            };
            if v.policy == pol {
                continue;
            }
            let (lo, hi) = (v.start.max(start), v.end.min(end));
            let vend = v.end;
            if s < lo {
                self.split_vma(mm, lo)?;
            }
            if hi < vend {
                self.split_vma(mm, hi)?;
            }
            if let Some(piece) = self.mms[mm].vmas.get_mut(lo) {
                piece.policy = pol;
                self.vma_merge(mm, lo);
            }
        }
        Ok(())
    }

    /// queue_pages_range(): walk `[start, end)` and isolate onto `list` the pages on nodes
    /// `nodes` selects (with MPOL_MF_INVERT: the nodes it does not). Ok(true) if a page that
    /// should move could not be isolated (MPOL_MF_MOVE* with MPOL_MF_STRICT), which stops
    /// the walk; EIO for a misplaced page with MPOL_MF_STRICT alone or a PMD migration entry;
    /// EFAULT for a hole without MPOL_MF_DISCONTIG_OK or no VMA at all.
    pub(crate) fn queue_pages_range(
        &mut self,
        mm: MmId,
        (start, end): (u64, u64),
        nodes: NodeMask,
        flags: u64,
        list: &mut Vec<Folio>,
    ) -> SysResult<bool> {
        let starts = self.mms[mm].vmas.overlapping(start, end);
        if starts.is_empty() {
            return Err(Errno::EFAULT);
        }
        let discontig_ok = flags & MPOL_MF_DISCONTIG_OK != 0;
        for (i, &s) in starts.iter().enumerate() {
            let vma = self.mms[mm].vmas.lookup(s).expect("listed").for_fault();
            // queue_pages_test_walk(): holes at the head, in the middle, at the tail.
            if i == 0 && !discontig_ok && start < vma.start {
                return Err(Errno::EFAULT);
            }
            let next = starts.get(i + 1).copied();
            if !discontig_ok && vma.end < end && next.is_none_or(|n| vma.end < n) {
                return Err(Errno::EFAULT);
            }
            let migratable = vma_migratable(&vma);
            if !migratable && flags & MPOL_MF_STRICT == 0 {
                continue;
            }
            if flags & MPOL_MF_VALID == 0 {
                continue;
            }
            let range = (vma.start.max(start), vma.end.min(end));
            if self.queue_pages_vma(mm, &vma, range, nodes, flags, list)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// queue_pages_pte_range() / queue_pages_pmd() over one VMA's part of the range, one
    /// page-table (2 MiB) span at a time: Ok(true) when a span found an unmovable page.
    fn queue_pages_vma(
        &mut self,
        mm: MmId,
        vma: &Vma,
        (start, end): (u64, u64),
        nodes: NodeMask,
        flags: u64,
        list: &mut Vec<Folio>,
    ) -> SysResult<bool> {
        if vma.is_hugetlb() {
            return self.queue_pages_hugetlb(mm, vma, (start, end), nodes, flags, list);
        }
        let moving = flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) != 0;
        let required = |k: &Kernel, pfn: Pfn| {
            let on = nodes & (1 << k.pages.pfn_to_nid(pfn)) != 0;
            on == (flags & MPOL_MF_INVERT == 0)
        };
        let mut addr = start;
        while addr < end {
            let span_end = ((addr | (HPAGE_SPAN - 1)) + 1).min(end);
            let pgd = self.mms[mm].pgd;
            let pmd = table::pmd_slot(&self.phys, pgd, addr).map(|s| table::get_pmd(&self.phys, s));
            match pmd.map(|p| p.kind()) {
                Some(PmdKind::Swp(kind, _)) if kind.is_migration() => return Err(Errno::EIO),
                Some(PmdKind::Leaf(e)) => {
                    let f = Folio(e.pfn());
                    if Some(f) != self.thp.huge_zero && required(self, f.pfn()) {
                        if !moving {
                            return Err(Errno::EIO);
                        }
                        if !vma_migratable(vma)
                            || self.migrate_page_add(f.pfn(), list, flags).is_err()
                        {
                            return Ok(true);
                        }
                    }
                }
                _ => {
                    let mut unmovable = false;
                    let mut a = addr;
                    while a < span_end {
                        if let Some(pfn) = self.normal_page_at(mm, a) {
                            if required(self, pfn) {
                                if !moving {
                                    break;
                                }
                                if !vma_migratable(vma) {
                                    unmovable = true;
                                    break;
                                }
                                if self.migrate_page_add(pfn, list, flags).is_err() {
                                    unmovable = true;
                                }
                            }
                        }
                        a += PAGE_SIZE;
                    }
                    if unmovable {
                        return Ok(true);
                    }
                    if a != span_end {
                        return Err(Errno::EIO);
                    }
                }
            }
            addr = span_end;
        }
        Ok(false)
    }

    /// vm_normal_page() of the present PTE at `addr`: a page that is neither the zero page
    /// nor special nor reserved (None for anything else, huge entries included).
    pub(crate) fn normal_page_at(&self, mm: MmId, addr: u64) -> Option<Pfn> {
        let Some(Leaf::Pte(slot)) = table::walk_leaf(&self.phys, self.mms[mm].pgd, addr) else {
            return None;
        };
        match table::get(&self.phys, slot).kind() {
            PteKind::Present(p) if !p.special() && p.pfn() != ZERO_PFN => {
                let pfn = p.pfn();
                (!self.pages.page(pfn).test(PageFlags::RESERVED)).then_some(pfn)
            }
            _ => None,
        }
    }

    /// migrate_page_add(): isolate the folio of `pfn` onto `list` unless it is mapped more
    /// than once (without MPOL_MF_MOVE_ALL, then silently left); EIO if it cannot be isolated
    /// and MPOL_MF_STRICT was given.
    fn migrate_page_add(&mut self, pfn: Pfn, list: &mut Vec<Folio>, flags: u64) -> SysResult<()> {
        let f = self.pages.folio(pfn);
        if flags & MPOL_MF_MOVE_ALL != 0 || self.pages.page_mapcount(f.pfn()) == 1 {
            if self.isolate_lru_folio(f) {
                list.push(f);
            } else if flags & MPOL_MF_STRICT != 0 {
                return Err(Errno::EIO);
            }
        }
        Ok(())
    }

    /// putback_movable_pages(): isolated folios that did not move go back on the LRU.
    pub(crate) fn putback_movable_pages(&mut self, list: Vec<Folio>) {
        for f in list {
            if self.folio_test_hugetlb(f) {
                self.putback_active_hugepage(f);
            } else {
                self.folio_putback_lru(f);
            }
        }
    }

    /// migrate_pages(2): move the pages of process `pid` (0: the caller) on the `old` nodes
    /// to the `new` ones, node for node (do_migrate_pages()); returns how many could not be
    /// moved. ESRCH for no such process, EPERM for a new node without memory unless the
    /// caller has CAP_SYS_NICE, EINVAL if none of the new nodes is online. Pages mapped more
    /// than once move only with CAP_SYS_NICE (MPOL_MF_MOVE_ALL, else MPOL_MF_MOVE).
    pub fn migrate_pages(
        &mut self,
        tid: Tid,
        pid: u64,
        maxnode: u64,
        old_nodes: u64,
        new_nodes: u64,
    ) -> SysResult<u64> {
        self.enter(tid)?;
        let old = self.get_nodes(tid, old_nodes, maxnode)?;
        let new = self.get_nodes(tid, new_nodes, maxnode)?;
        let mm = self.find_mm_struct(tid, pid)?;
        // kernel_migrate_pages(): new nodes outside the target's cpuset (its nodes with
        // memory) need CAP_SYS_NICE; then they are cut to the caller's, and none left is
        // EINVAL.
        let nice = self.capable(CAP_SYS_NICE);
        if new.low & !self.node_states_memory() != 0 && !nice {
            return Err(Errno::EPERM);
        }
        let new = new.low & self.node_states_memory();
        if new == 0 {
            return Err(Errno::EINVAL);
        }
        let flags = if nice { MPOL_MF_MOVE_ALL } else { MPOL_MF_MOVE };
        self.do_migrate_pages(mm, (old.low & self.node_states_memory(), new), flags)
    }

    /// do_migrate_pages(): pick (source, destination) pairs that keep the nodes' relative
    /// layout, moving first to nodes no longer a source, and migrate each source node's
    /// pages (`flags`: MPOL_MF_MOVE_ALL, or MPOL_MF_MOVE for pages mapped once); returns the
    /// pages that could not be moved.
    fn do_migrate_pages(
        &mut self,
        mm: MmId,
        (from, to): (NodeMask, NodeMask),
        flags: u64,
    ) -> SysResult<u64> {
        self.lru_add_drain_all();
        let mut busy = 0;
        let mut tmp = from;
        while tmp != 0 {
            let mut pick = None;
            for s in (0..64).filter(|s| tmp & (1 << s) != 0) {
                if from.count_ones() != to.count_ones() && to & (1 << s) != 0 {
                    continue;
                }
                let d = node_remap(s, from, to);
                if s == d {
                    continue;
                }
                pick = Some((s, d));
                if tmp & (1 << d) == 0 {
                    break;
                }
            }
            let Some((source, dest)) = pick else {
                break;
            };
            tmp &= !(1 << source);
            busy += self.migrate_to_node(mm, source, dest, flags)?;
        }
        Ok(busy)
    }

    /// migrate_to_node(): every page of the address space on `source` (mapped once, unless
    /// `flags` has MPOL_MF_MOVE_ALL) goes to `dest`.
    fn migrate_to_node(
        &mut self,
        mm: MmId,
        source: usize,
        dest: usize,
        flags: u64,
    ) -> SysResult<u64> {
        let mut list = Vec::new();
        let (lo, hi) = match (
            self.mms[mm].vmas.iter().next(),
            self.mms[mm].vmas.iter().last(),
        ) {
            (Some(a), Some(b)) => (a.start, b.end),
            _ => return Ok(0),
        };
        // Nothing to check over the whole space with MPOL_MF_DISCONTIG_OK: no error.
        let _ = self.queue_pages_range(
            mm,
            (lo, hi),
            1 << source,
            flags | MPOL_MF_DISCONTIG_OK,
            &mut list,
        );
        if list.is_empty() {
            return Ok(0);
        }
        let (r, left) = self.migrate_folio_list(list, MigrateTarget::Node(dest));
        self.putback_movable_pages(left);
        r
    }
}

/// vma_migratable(): neither I/O nor raw PFN mappings.
pub(crate) fn vma_migratable(vma: &Vma) -> bool {
    vma.flags & (VM_IO | VM_PFNMAP) == 0
}

/// The span one PTE table maps.
const HPAGE_SPAN: u64 = 2 << 20;

/// Internal mbind() flags (mm/mempolicy.c): walk holes without EFAULT, queue the pages off
/// the given nodes rather than on them.
pub(crate) const MPOL_MF_DISCONTIG_OK: u64 = MPOL_MF_INTERNAL;
pub(crate) const MPOL_MF_INVERT: u64 = MPOL_MF_INTERNAL << 1;
/// MPOL_MF_INTERNAL: the first bit not user-visible.
const MPOL_MF_INTERNAL: u64 = 1 << 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_masks_remap_fold_and_wrap() {
        assert_eq!(nth_node(0b1010, 0), Some(1));
        assert_eq!(nth_node(0b1010, 1), Some(3));
        assert_eq!(nth_node(0b1010, 2), None);
        assert_eq!(next_node_in(1, 0b1010), 3);
        assert_eq!(next_node_in(3, 0b1010), 1, "wraps");
        assert_eq!(
            next_node_in(1023, 0b1),
            0,
            "il_prev starts at MAX_NUMNODES - 1"
        );
        // [0,1] -> [2,3]: 0 -> 2, 1 -> 3; a node outside `from` stays.
        assert_eq!(node_remap(0, 0b11, 0b1100), 2);
        assert_eq!(node_remap(1, 0b11, 0b1100), 3);
        assert_eq!(node_remap(2, 0b11, 0b1100), 2);
        // Relative nodes: bit 1 of the user's mask is the second online node.
        assert_eq!(relative_nodemask(0b10, 0b1100), 0b1000);
        assert_eq!(
            relative_nodemask(0b100, 0b11),
            0b01,
            "folded modulo the weight"
        );
    }
}
