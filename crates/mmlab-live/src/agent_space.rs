//! The agent's own memory, kept out of the scenario's way. A scenario observes the agent's
//! address space (maps, smaps, pagemap), so before its first step the agent:
//! - fences its start-up mappings (its code, libc, ld.so, their anonymous data, the vDSO): every
//!   gap among them and one page below the lowest get a PROT_NONE mapping of a private memfd.
//!   Top-down placement then never puts a scenario mapping among them, and a scenario VMA is
//!   never next to one of their anonymous VMAs: a file mapping merges only with a mapping of the
//!   same file at the following offset (vma_merge()'s is_mergeable_vma() compares vm_file);
//! - reserves a far region (fenced the same way) where every thread it starts for the scenario
//!   gets its stack, instead of a stack mmap()ed by libc into a hole the scenario left;
//! - keeps malloc in its brk heap: one arena (a second thread would otherwise mmap a 64 MiB
//!   arena of its own) and no mmap()ed chunks for large requests.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};

const PAGE: usize = 4096;
/// Where the region starts: 16 TiB, far below the PIE binary and its heap (~85 TiB up) and the
/// top-down mmap area under the stack (~127 TiB), and far above any address a scenario names.
pub const REGION_START: u64 = 0x1000_0000_0000;
/// Threads a process can start (as many as it can have channels).
pub const STACK_SLOTS: usize = 64;
/// Each thread's stack (glibc places the thread's TCB and static TLS at its top).
const STACK_BYTES: usize = 1 << 20;
/// A slot: a PROT_NONE guard page below the stack, then the stack.
const SLOT_BYTES: usize = PAGE + STACK_BYTES;
/// The region's length.
pub const REGION_BYTES: u64 = (STACK_SLOTS * SLOT_BYTES) as u64;
// The region ends far below where a PIE binary is loaded (2/3 of TASK_SIZE, ~85 TiB).
const _: () = assert!(REGION_START + REGION_BYTES < 0x5000_0000_0000);

/// The next free stack slot of this process (a forked child goes on from its parent's count:
/// the slots its parent used are mapped in its copy of the region too).
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// Why the agent could not set its memory apart.
#[derive(Debug)]
pub struct SpaceError(pub String);

fn os_error(what: &str) -> SpaceError {
    SpaceError(format!("{what}: {}", std::io::Error::last_os_error()))
}

/// Set the agent's memory apart (see the module doc). Runs once, before the first request.
pub fn set_apart() -> Result<(), SpaceError> {
    // SAFETY: mallopt only changes malloc's tunables; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_MAX, 0);
    }
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| SpaceError(e.to_string()))?;
    let ranges: Vec<(u64, u64)> = maps.lines().filter_map(range_of).collect();
    let stack = maps
        .lines()
        .find(|l| l.ends_with("[stack]"))
        .and_then(range_of)
        .ok_or_else(|| SpaceError("/proc/self/maps shows no [stack]".into()))?;
    // SAFETY: a new descriptor of our own, closed once the fences hold the file.
    let fd = unsafe { libc::memfd_create(c"mmlab-agent".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(os_error("memfd_create"));
    }
    let fenced = fence_cluster(fd, &startup_cluster(&ranges, stack.0))
        .and_then(|()| fence(fd, REGION_START, REGION_BYTES as usize));
    // SAFETY: our own descriptor; the mappings keep the file.
    unsafe { libc::close(fd) };
    fenced
}

/// The start and end of a maps line's range.
fn range_of(line: &str) -> Option<(u64, u64)> {
    let (a, b) = line.split_whitespace().next()?.split_once('-')?;
    Some((
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    ))
}

/// The mappings made at exec and by the dynamic loader: those below the stack and above the
/// widest gap under it (which separates them from the binary and its heap). Sorted.
fn startup_cluster(ranges: &[(u64, u64)], stack_start: u64) -> Vec<(u64, u64)> {
    let mut below: Vec<(u64, u64)> = ranges
        .iter()
        .copied()
        .filter(|r| r.1 <= stack_start)
        .collect();
    below.sort_unstable();
    let widest = (1..below.len()).max_by_key(|&i| below[i].0 - below[i - 1].1);
    match widest {
        Some(i) => below.split_off(i),
        None => below,
    }
}

/// A fence in every gap of `cluster` and one page under its lowest mapping.
fn fence_cluster(fd: RawFd, cluster: &[(u64, u64)]) -> Result<(), SpaceError> {
    let Some(&(lowest, _)) = cluster.first() else {
        return Ok(());
    };
    fence(fd, lowest - PAGE as u64, PAGE)?;
    for w in cluster.windows(2) {
        if w[0].1 < w[1].0 {
            fence(fd, w[0].1, (w[1].0 - w[0].1) as usize)?;
        }
    }
    Ok(())
}

/// A PROT_NONE shared mapping of the agent's memfd at exactly `[addr, addr + len)`.
fn fence(fd: RawFd, addr: u64, len: usize) -> Result<(), SpaceError> {
    // SAFETY: MAP_FIXED_NOREPLACE maps only where nothing is mapped.
    let p = unsafe {
        libc::mmap(
            addr as *mut _,
            len,
            libc::PROT_NONE,
            libc::MAP_SHARED | libc::MAP_FIXED_NOREPLACE,
            fd,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(os_error(&format!("fencing {addr:#x}+{len:#x}")));
    }
    Ok(())
}

/// A new thread's stack inside the region: the next slot, made readable and writable; EAGAIN
/// (pthread_create()'s error for want of resources) once every slot is taken.
pub fn take_stack() -> Result<(*mut libc::c_void, usize), i32> {
    let slot = NEXT_SLOT.fetch_add(1, Ordering::SeqCst);
    if slot >= STACK_SLOTS {
        return Err(libc::EAGAIN);
    }
    let addr = REGION_START as usize + slot * SLOT_BYTES + PAGE;
    // SAFETY: replaces part of the agent's own fence with anonymous memory.
    let p = unsafe {
        libc::mmap(
            addr as *mut _,
            STACK_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::ENOMEM));
    }
    Ok((p, STACK_BYTES))
}

/// Is `[start, end)` inside the agent's region?
pub fn in_region(start: u64, end: u64) -> bool {
    start >= REGION_START && end <= REGION_START + REGION_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_is_what_lies_above_the_widest_gap_under_the_stack() {
        let ranges = [
            (0x5555_0000_0000, 0x5555_0001_0000), // binary
            (0x5555_1000_0000, 0x5555_1002_0000), // heap
            (0x7f00_0000_0000, 0x7f00_0000_3000), // anonymous data
            (0x7f00_0000_3000, 0x7f00_0010_0000), // libc
            (0x7f00_0010_6000, 0x7f00_0020_0000), // ld.so, after a gap
            (0x7ffd_0000_0000, 0x7ffd_0002_0000), // stack
        ];
        let c = startup_cluster(&ranges, 0x7ffd_0000_0000);
        assert_eq!(c, ranges[2..5].to_vec());
        assert_eq!(startup_cluster(&ranges[5..], 0x7ffd_0000_0000), vec![]);
    }

    #[test]
    fn the_region_holds_every_slot() {
        assert!(in_region(
            REGION_START + REGION_BYTES - STACK_BYTES as u64,
            REGION_START + REGION_BYTES
        ));
        assert!(!in_region(REGION_START - 1, REGION_START + 1));
    }
}
