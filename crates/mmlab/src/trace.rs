//! The model's tracepoints: a typed record of kernel events (faults with their flags and
//! result, folio allocation and freeing, rmap changes, TLB flushes, khugepaged results,
//! userfaultfd messages, kernel-thread runs, swap_rw requests), kept only while tracing is on, so a user can
//! see why a scenario got its result (`mmlab run --trace FILE`).

use std::fmt;

use crate::page::Pfn;

/// One event, named after the Linux tracepoint or function it stands for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// handle_mm_fault() returned: FAULT_FLAG_* in, VM_FAULT_* out (0: handled).
    Fault {
        tid: usize,
        addr: u64,
        flags: u32,
        result: u32,
    },
    /// mm_page_alloc: the head PFN, or None for a failed allocation.
    FolioAlloc {
        pfn: Option<Pfn>,
        order: u32,
        gfp: u32,
    },
    /// mm_page_free.
    FolioFree { pfn: Pfn, order: u32 },
    /// A page gained a mapping (page_add_*_rmap()).
    RmapAdd { pfn: Pfn, mapcount: i32 },
    /// A page lost a mapping (page_remove_rmap()).
    RmapRemove { pfn: Pfn, mapcount: i32 },
    /// tlb_flush: a flush of an mm's range (`full`: everything of the mm) on `cpus` CPUs.
    TlbFlush {
        mm: usize,
        start: u64,
        end: u64,
        full: bool,
        cpus: u32,
    },
    /// mm_khugepaged_scan_pmd / mm_collapse_huge_page: the SCAN_* result for a PMD range.
    Khugepaged {
        step: &'static str,
        mm: usize,
        addr: u64,
        result: &'static str,
    },
    /// A uffd_msg was queued on a userfaultfd context.
    UffdMsg {
        ctx: usize,
        event: u64,
        arg: [u64; 3],
    },
    /// A kernel thread ran at this virtual time (ns).
    Kthread { name: &'static str, now_ns: u64 },
    /// ->swap_rw() (or 5.18's one-page ->direct_IO()/->readpage()) took a request: a write
    /// or read of `pages` pages at byte `pos` of swap device `typ`.
    SwapRw {
        write: bool,
        typ: u32,
        pos: u64,
        pages: u64,
    },
    /// vmscan:mm_vmscan_throttled: a reclaim_throttle() sleep ended; its timeout and how
    /// long it slept, in µs, and the reason (the queue).
    VmscanThrottled {
        nid: usize,
        usec_timeout: u64,
        usec_delayed: u64,
        reason: &'static str,
    },
}

/// Human-readable names of FAULT_FLAG_* bits, for the text trace.
const FAULT_FLAG_NAMES: [&str; 12] = [
    "WRITE",
    "MKWRITE",
    "ALLOW_RETRY",
    "RETRY_NOWAIT",
    "KILLABLE",
    "TRIED",
    "USER",
    "REMOTE",
    "INSTRUCTION",
    "INTERRUPTIBLE",
    "UNSHARE",
    "ORIG_PTE_VALID",
];

/// Names of VM_FAULT_* bits (vm_fault_reason, 5.19), for the text trace.
const VM_FAULT_NAMES: [(u32, &str); 13] = [
    (0x1, "OOM"),
    (0x2, "SIGBUS"),
    (0x4, "MAJOR"),
    (0x8, "WRITE"),
    (0x10, "HWPOISON"),
    (0x20, "HWPOISON_LARGE"),
    (0x40, "SIGSEGV"),
    (0x100, "NOPAGE"),
    (0x200, "LOCKED"),
    (0x400, "RETRY"),
    (0x800, "FALLBACK"),
    (0x1000, "DONE_COW"),
    (0x2000, "NEEDDSYNC"),
];

fn names(bits: u32, table: impl Iterator<Item = (u32, &'static str)>) -> String {
    let v: Vec<&str> = table
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| n)
        .collect();
    if v.is_empty() {
        "0".into()
    } else {
        v.join("|")
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Fault {
                tid,
                addr,
                flags,
                result,
            } => {
                let fl = names(
                    *flags,
                    FAULT_FLAG_NAMES
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (1 << i, *n)),
                );
                let r = names(*result, VM_FAULT_NAMES.iter().copied());
                write!(f, "fault task {tid} at {addr:#x} flags {fl} -> {r}")
            }
            Event::FolioAlloc {
                pfn: Some(p),
                order,
                gfp,
            } => write!(f, "alloc order {order} gfp {gfp:#x} -> {p}"),
            Event::FolioAlloc {
                pfn: None,
                order,
                gfp,
            } => write!(f, "alloc order {order} gfp {gfp:#x} -> failed"),
            Event::FolioFree { pfn, order } => write!(f, "free {pfn} order {order}"),
            Event::RmapAdd { pfn, mapcount } => write!(f, "rmap add {pfn} mapcount {mapcount}"),
            Event::RmapRemove { pfn, mapcount } => {
                write!(f, "rmap remove {pfn} mapcount {mapcount}")
            }
            Event::TlbFlush {
                mm,
                start,
                end,
                full,
                cpus,
            } => {
                if *full {
                    write!(f, "tlb flush mm {mm} all on {cpus} cpu(s)")
                } else {
                    write!(f, "tlb flush mm {mm} {start:#x}-{end:#x} on {cpus} cpu(s)")
                }
            }
            Event::Khugepaged {
                step,
                mm,
                addr,
                result,
            } => write!(f, "khugepaged {step} mm {mm} at {addr:#x} -> {result}"),
            Event::UffdMsg { ctx, event, arg } => write!(
                f,
                "userfaultfd {ctx} msg event {event:#x} arg {:#x} {:#x} {:#x}",
                arg[0], arg[1], arg[2]
            ),
            Event::Kthread { name, now_ns } => write!(f, "{name} runs at {now_ns} ns"),
            Event::SwapRw {
                write,
                typ,
                pos,
                pages,
            } => write!(
                f,
                "swap_rw {} type {typ} at {pos:#x}: {pages} page(s) in one request",
                if *write { "write" } else { "read" }
            ),
            // The tracepoint's own format, "usect_delayed" included.
            Event::VmscanThrottled {
                nid,
                usec_timeout,
                usec_delayed,
                reason,
            } => write!(
                f,
                "mm_vmscan_throttled nid={nid} usec_timeout={usec_timeout} usect_delayed={usec_delayed} reason={reason}"
            ),
        }
    }
}

/// The trace buffer.
#[derive(Clone, Debug, Default)]
pub struct Tracer {
    pub on: bool,
    events: Vec<Event>,
}

impl Tracer {
    /// Keep an event if tracing is on.
    #[inline]
    pub fn record(&mut self, e: Event) {
        if self.on {
            self.events.push(e);
        }
    }
    /// The events since the last take.
    pub fn take(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_print_their_flags_by_name() {
        let e = Event::Fault {
            tid: 1,
            addr: 0x1000,
            flags: 0x41,
            result: 0x400,
        };
        assert_eq!(
            e.to_string(),
            "fault task 1 at 0x1000 flags WRITE|USER -> RETRY"
        );
        let mut t = Tracer::default();
        t.record(e.clone());
        assert!(t.take().is_empty(), "nothing is kept while tracing is off");
        t.on = true;
        t.record(e);
        assert_eq!(t.take().len(), 1);
    }
}
