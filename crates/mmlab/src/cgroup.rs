//! kernel/cgroup/cgroup.c, trimmed to what the memory controller needs: one hierarchy (v2,
//! or v1 with the memory controller bound), directories made and removed, processes moved
//! between them (cgroup.procs), and v2's cgroup.subtree_control deciding which cgroups get
//! their own memcg. A cgroup without one charges to the nearest ancestor's.

use std::collections::BTreeMap;

use slab::Slab;

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::mm::memcontrol::ROOT_MEMCG;
use crate::sched::Pid;

/// The root cgroup's number.
pub const ROOT_CGROUP: usize = 0;

/// Which hierarchy the memory controller is on, and the cgroup2 mount options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub enum CgroupMode {
    /// cgroup2 with `memory` in the root's controllers (the selftests' setting).
    #[default]
    V2,
    /// The legacy memory hierarchy (`/sys/fs/cgroup/memory`), as on this host.
    V1,
}

/// The hierarchy's mount: which version and the cgroup2 options (cgrp_dfl_root.flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CgroupMount {
    pub mode: CgroupMode,
    /// CGRP_ROOT_MEMORY_RECURSIVE_PROT (`memory_recursiveprot`).
    pub recursiveprot: bool,
    /// CGRP_ROOT_MEMORY_LOCAL_EVENTS (`memory_localevents`).
    pub localevents: bool,
}

impl CgroupMount {
    /// The hierarchy a configuration asks for (`feature cgroup_v1`, `feature
    /// memory_recursiveprot`, `feature memory_localevents`).
    pub fn of(f: &crate::config::Features) -> CgroupMount {
        CgroupMount {
            mode: if f.cgroup_v1 {
                CgroupMode::V1
            } else {
                CgroupMode::V2
            },
            recursiveprot: f.memory_recursiveprot,
            localevents: f.memory_localevents,
        }
    }
}

/// struct cgroup, trimmed.
#[derive(Clone, Debug)]
pub struct Cgroup {
    pub name: String,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// `memory` in cgroup.subtree_control (v2): the children get their own memcg.
    pub subtree_memory: bool,
    /// The memcg of this cgroup's own memory css, if it has one.
    pub memcg: Option<usize>,
}

/// Every cgroup and where each process is.
#[derive(Clone, Debug)]
pub struct CgroupState {
    pub mount: CgroupMount,
    pub cgroups: Slab<Cgroup>,
    /// The cgroup of each process not in the root (task_css_set()): looked up on every
    /// charge, so an ordered map of the few processes moved, not a hashed one.
    pub task_cgroup: BTreeMap<Pid, usize>,
}

impl Default for CgroupState {
    fn default() -> Self {
        let mut cgroups = Slab::new();
        cgroups.insert(Cgroup {
            name: String::new(),
            parent: None,
            children: Vec::new(),
            subtree_memory: false,
            memcg: Some(ROOT_MEMCG),
        });
        CgroupState {
            mount: CgroupMount::default(),
            cgroups,
            task_cgroup: BTreeMap::new(),
        }
    }
}

impl CgroupState {
    /// kernfs path walk: the cgroup at `path` ("/" or "/a/b", relative to the mount).
    pub fn lookup(&self, path: &str) -> SysResult<usize> {
        let mut at = ROOT_CGROUP;
        for c in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
            at = *self.cgroups[at]
                .children
                .iter()
                .find(|&&ch| self.cgroups[ch].name == c)
                .ok_or(Errno::ENOENT)?;
        }
        Ok(at)
    }

    /// The cgroup of a process.
    pub fn of_task(&self, pid: Pid) -> usize {
        self.task_cgroup.get(&pid).copied().unwrap_or(ROOT_CGROUP)
    }

    /// mem_cgroup_from_css() of the nearest ancestor (or self) with a memory css.
    pub fn memcg_of(&self, cg: usize) -> usize {
        let mut at = cg;
        loop {
            if let Some(m) = self.cgroups[at].memcg {
                return m;
            }
            at = self.cgroups[at].parent.expect("the root has a memcg");
        }
    }

    /// Does `cg` or a cgroup under it hold a process (cgroup_is_populated())?
    pub fn populated(&self, cg: usize) -> bool {
        self.task_cgroup
            .values()
            .any(|&c| self.is_descendant(c, cg))
    }

    /// cgroup_is_descendant().
    pub fn is_descendant(&self, mut c: usize, ancestor: usize) -> bool {
        loop {
            if c == ancestor {
                return true;
            }
            match self.cgroups[c].parent {
                Some(p) => c = p,
                None => return false,
            }
        }
    }

    /// The processes in `cg` itself, in pid order (cgroup.procs).
    pub fn procs(&self, cg: usize) -> Vec<Pid> {
        let mut v: Vec<Pid> = self
            .task_cgroup
            .iter()
            .filter(|&(_, &c)| c == cg)
            .map(|(&p, _)| p)
            .collect();
        v.sort_unstable();
        v
    }
}

impl Kernel {
    /// cgroup_mkdir(): a new cgroup under an existing one. Its memcg is made when the memory
    /// controller is enabled for it (v1: always; v2: `memory` in the parent's
    /// subtree_control).
    pub fn cgroup_mkdir(&mut self, path: &str) -> SysResult<()> {
        let path = path.trim_end_matches('/');
        let (parent_path, name) = path.rsplit_once('/').unwrap_or(("", path));
        if name.is_empty() || name == "." || name == ".." {
            return Err(Errno::EEXIST);
        }
        let parent = self.cgroup.lookup(parent_path)?;
        if self.cgroup.lookup(path).is_ok() || self.cgroup_file_exists(parent, name) {
            return Err(Errno::EEXIST);
        }
        let id = self.cgroup.cgroups.insert(Cgroup {
            name: name.to_string(),
            parent: Some(parent),
            children: Vec::new(),
            subtree_memory: false,
            memcg: None,
        });
        self.cgroup.cgroups[parent].children.push(id);
        if self.cgroup.mount.mode == CgroupMode::V1 || self.cgroup.cgroups[parent].subtree_memory {
            self.mem_cgroup_css_online(id);
        }
        Ok(())
    }

    /// cgroup_rmdir(): only an empty cgroup (no processes, no children) goes; its memcg goes
    /// offline but lives on while pages are charged to it.
    pub fn cgroup_rmdir(&mut self, path: &str) -> SysResult<()> {
        let id = self.cgroup.lookup(path)?;
        if id == ROOT_CGROUP
            || !self.cgroup.cgroups[id].children.is_empty()
            || self.cgroup.populated(id)
        {
            return Err(Errno::EBUSY);
        }
        if let Some(m) = self.cgroup.cgroups[id].memcg {
            self.mem_cgroup_css_offline(m);
        }
        let c = self.cgroup.cgroups.remove(id);
        let p = c.parent.expect("not the root");
        self.cgroup.cgroups[p].children.retain(|&x| x != id);
        Ok(())
    }

    /// cgroup_procs_write() (and cgroup_attach_task()): move the whole process `pid` into
    /// the cgroup at `path`. v2 refuses a non-root cgroup that distributes controllers to
    /// children (no internal processes: EBUSY). Charges stay where they are.
    pub fn cgroup_attach(&mut self, path: &str, pid: Pid) -> SysResult<()> {
        let id = self.cgroup.lookup(path)?;
        if !self.procs.contains(pid) {
            return Err(Errno::ESRCH);
        }
        if self.cgroup.mount.mode == CgroupMode::V2
            && id != ROOT_CGROUP
            && self.cgroup.cgroups[id].subtree_memory
        {
            return Err(Errno::EBUSY);
        }
        if id == ROOT_CGROUP {
            self.cgroup.task_cgroup.remove(&pid);
        } else {
            self.cgroup.task_cgroup.insert(pid, id);
        }
        Ok(())
    }

    /// cgroup_subtree_control_write(): `+memory` / `-memory` tokens, all or nothing.
    pub(crate) fn cgroup_subtree_control_write(&mut self, cg: usize, buf: &str) -> SysResult<()> {
        let mut enable = None;
        for tok in buf.split_whitespace() {
            let (on, name) = match tok.split_at(1) {
                ("+", n) => (true, n),
                ("-", n) => (false, n),
                _ => return Err(Errno::EINVAL),
            };
            if name != "memory" {
                return Err(Errno::EINVAL);
            }
            enable = Some(on);
        }
        let Some(on) = enable else {
            return Ok(());
        };
        let c = &self.cgroup.cgroups[cg];
        if on == c.subtree_memory {
            return Ok(());
        }
        let children = c.children.clone();
        if on {
            if c.memcg.is_none() {
                // Not in this cgroup's cgroup.controllers.
                return Err(Errno::ENOENT);
            }
            if cg != ROOT_CGROUP && !self.cgroup.procs(cg).is_empty() {
                return Err(Errno::EBUSY);
            }
            self.cgroup.cgroups[cg].subtree_memory = true;
            for ch in children {
                self.mem_cgroup_css_online(ch);
            }
        } else {
            if children
                .iter()
                .any(|&ch| self.cgroup.cgroups[ch].subtree_memory)
            {
                return Err(Errno::EBUSY);
            }
            self.cgroup.cgroups[cg].subtree_memory = false;
            for ch in children {
                if let Some(m) = self.cgroup.cgroups[ch].memcg.take() {
                    self.mem_cgroup_css_offline(m);
                }
            }
        }
        Ok(())
    }

    /// cgroup_post_fork(): the child starts in its parent's cgroup.
    pub(crate) fn cgroup_fork(&mut self, parent: Pid, child: Pid) {
        if let Some(&c) = self.cgroup.task_cgroup.get(&parent) {
            self.cgroup.task_cgroup.insert(child, c);
        }
    }

    /// cgroup_exit(): the process leaves its cgroup.
    pub(crate) fn cgroup_exit(&mut self, pid: Pid) {
        self.cgroup.task_cgroup.remove(&pid);
    }
}
