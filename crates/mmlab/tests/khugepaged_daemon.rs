//! khugepaged as a kernel thread: the cases of scenarios/thp/khugepaged-*.mml and
//! scenarios/thp-shmem/khugepaged-*.mml driven by the daemon instead of explicit scan and
//! collapse steps, through the clock (`advance_time`) and the sysfs files, plus the thread's
//! own rules from 5.19's khugepaged.c: when it runs, how far a pass goes (pages_to_scan,
//! HPAGE_PMD_NR per range, one per refused VMA), when a full scan is counted, the sleep after
//! a failed allocation, and what starting, stopping and waking it do.

use mmlab::trace::Event;
use mmlab::uapi::*;
use mmlab::{Config, Kernel, Tid};

const PAGE: u64 = 4096;
const HPAGE: u64 = 2 << 20;
const MS: u64 = 1_000_000;
const THP: &str = "/sys/kernel/mm/transparent_hugepage";
const KH: &str = "/sys/kernel/mm/transparent_hugepage/khugepaged";
/// A 2 MiB-aligned address for MAP_FIXED mappings, so a VMA holds whole PMD ranges.
const FIXED: u64 = 0x4000_0000;

fn kernel() -> Kernel {
    Kernel::new(Config::default())
}

fn set(k: &mut Kernel, path: &str, val: &str) {
    k.sysfs_write(path, val)
        .unwrap_or_else(|e| panic!("echo {val} > {path}: {e:?}"));
}

fn num(k: &Kernel, path: &str) -> u64 {
    let s = k.sysfs_read(path).unwrap();
    s.strip_suffix('\n')
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{path}: {s:?}"))
}

fn full_scans(k: &Kernel) -> u64 {
    num(k, &format!("{KH}/full_scans"))
}

fn pages_collapsed(k: &Kernel) -> u64 {
    num(k, &format!("{KH}/pages_collapsed"))
}

fn vmstat(k: &Kernel, name: &str) -> u64 {
    k.counter(name).unwrap()
}

fn anon_huge_kb(k: &Kernel, t: Tid, addr: u64) -> u64 {
    k.smaps(t, addr).unwrap().unwrap().1.anon_huge_pages >> 10
}

/// A new process with a MADV_HUGEPAGE anonymous mapping of 4 huge pages: (task, start, its
/// first whole 2 MiB range).
fn anon_mapping(k: &mut Kernel) -> (Tid, u64, u64) {
    let t = k.spawn_process(0).unwrap();
    let flags = MAP_PRIVATE | MAP_ANONYMOUS;
    let p = k
        .mmap(t, 0, 4 * HPAGE, PROT_READ | PROT_WRITE, flags, -1, 0)
        .unwrap();
    k.madvise(t, p, 4 * HPAGE, MADV_HUGEPAGE).unwrap();
    (t, p, p.next_multiple_of(HPAGE))
}

/// A THP faulted in at `h` (filled with 0x11), then split by MADV_DONTNEED of `[h + from,
/// h + to)`.
fn split_thp(k: &mut Kernel, t: Tid, h: u64, from: u64, to: u64) {
    k.memset(t, h, 0x11, HPAGE).unwrap();
    assert_eq!(anon_huge_kb(k, t, h), 2048);
    k.madvise(t, h + from, to - from, MADV_DONTNEED).unwrap();
    assert_eq!(anon_huge_kb(k, t, h), 0);
}

/// `anon_mapping()` whose range `h` held a THP that a partial MADV_DONTNEED split: 256
/// PTE-mapped subpages, then holes, and two fresh pages (khugepaged-collapse.mml). Returns
/// (task, h).
fn split_thp_range(k: &mut Kernel) -> (Tid, u64) {
    let (t, _, h) = anon_mapping(k);
    split_thp(k, t, h, HPAGE / 2, HPAGE);
    k.store(t, h + HPAGE / 2, 0x22).unwrap();
    k.store(t, h + HPAGE / 2 + 10 * PAGE, 0x33).unwrap();
    (t, h)
}

/// With shmem_enabled=advise, a new process with a memfd of `size` bytes mapped shared over
/// `len` bytes: (task, fd, address).
fn memfd_mapping(k: &mut Kernel, size: u64, len: u64) -> (Tid, i64, u64) {
    set(k, &format!("{THP}/shmem_enabled"), "advise");
    let t = k.spawn_process(0).unwrap();
    let fd = k.memfd_create(t, "khugepaged", 0).unwrap() as i64;
    k.ftruncate(t, fd, size as i64).unwrap();
    let s = k
        .mmap(t, 0, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        .unwrap();
    (t, fd, s)
}

/// A process with an aligned MAP_FIXED mapping of `n` PMD ranges, MADV_HUGEPAGE, whose first
/// range took a THP fault (registering the mm); the others are empty.
fn fixed_ranges(k: &mut Kernel, n: u64) -> Tid {
    let t = k.spawn_process(0).unwrap();
    let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    k.mmap(t, FIXED, n * HPAGE, PROT_READ | PROT_WRITE, flags, -1, 0)
        .unwrap();
    k.madvise(t, FIXED, n * HPAGE, MADV_HUGEPAGE).unwrap();
    k.store(t, FIXED, 1).unwrap();
    assert_eq!(anon_huge_kb(k, t, FIXED), 2048);
    t
}

/// The khugepaged scan events traced since the last call: (mm, address, result).
fn scans(k: &mut Kernel) -> Vec<(usize, u64, &'static str)> {
    k.take_trace()
        .into_iter()
        .filter_map(|e| match e {
            Event::Khugepaged {
                step: "scan",
                mm,
                addr,
                result,
            } => Some((mm, addr, result)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_daemon_collapses_a_split_range_when_it_runs() {
    let mut k = kernel();
    let (t, h) = split_thp_range(&mut k);
    let old = k.pagemap(t, h).unwrap() & ((1 << 55) - 1);
    let c0 = vmstat(&k, "thp_collapse_alloc");
    assert_eq!(pages_collapsed(&k), 0);
    // No time has passed: the thread, woken when the mm registered, has not run yet.
    assert_eq!(k.now_ns(), 0);
    assert_eq!(anon_huge_kb(&k, t, h), 0);
    k.set_tracing(true);
    k.advance_time(0);
    let runs: Vec<Event> = k
        .take_trace()
        .into_iter()
        .filter(|e| matches!(e, Event::Kthread { .. }))
        .collect();
    assert_eq!(
        runs,
        vec![Event::Kthread {
            name: "khugepaged",
            now_ns: 0
        }]
    );
    assert_eq!(pages_collapsed(&k), 1);
    assert_eq!(vmstat(&k, "thp_collapse_alloc"), c0 + 1);
    assert_eq!(anon_huge_kb(&k, t, h), 2048);
    let pfn = k.pagemap(t, h).unwrap() & ((1 << 55) - 1);
    assert_ne!(pfn, old);
    assert_eq!(pfn % 512, 0);
    assert_eq!(k.find_mismatch(t, h, HPAGE / 2, 0x11).unwrap(), None);
    assert_eq!(k.load(t, h + HPAGE / 2).unwrap(), 0x22);
    assert_eq!(k.load(t, h + HPAGE / 2 + 10 * PAGE).unwrap(), 0x33);
    assert_eq!(k.load(t, h + HPAGE - 1).unwrap(), 0);
    // The pass went on to the end of the list: one full scan.
    assert_eq!(full_scans(&k), 1);
    k.check_invariants().unwrap();
}

#[test]
fn a_half_pte_mapped_thp_collapses() {
    // khugepaged-pte-mapped-thp.mml: only the lower half of a split THP, no other pages.
    let mut k = kernel();
    let (t, _, h) = anon_mapping(&mut k);
    split_thp(&mut k, t, h, HPAGE / 2, HPAGE);
    k.advance_time(0);
    assert_eq!(pages_collapsed(&k), 1);
    assert_eq!(anon_huge_kb(&k, t, h), 2048);
    assert_eq!(k.find_mismatch(t, h, HPAGE / 2, 0x11).unwrap(), None);
    assert_eq!(
        k.find_mismatch(t, h + HPAGE / 2, HPAGE / 2, 0).unwrap(),
        None
    );
}

#[test]
fn passes_come_every_scan_sleep_millisecs_and_a_write_wakes_the_thread() {
    let mut k = kernel();
    fixed_ranges(&mut k, 2);
    assert_eq!(num(&k, &format!("{KH}/scan_sleep_millisecs")), 10_000);
    k.advance_time(0);
    assert_eq!(full_scans(&k), 1, "the registration woke the thread");
    // The default sleep: 10 s.
    k.advance_time(10_000 * MS - 1);
    assert_eq!(full_scans(&k), 1);
    k.advance_time(1);
    assert_eq!(full_scans(&k), 2);
    assert_eq!(k.now_ns(), 10_000 * MS);
    // scan_sleep_millisecs_store(): khugepaged_sleep_expire = 0 and a wake-up: a pass at
    // once, then 100 ms sleeps.
    set(&mut k, &format!("{KH}/scan_sleep_millisecs"), "100");
    assert_eq!(
        full_scans(&k),
        2,
        "steps take no time: the pass waits for the clock"
    );
    k.advance_time(0);
    assert_eq!(full_scans(&k), 3);
    k.advance_time(99 * MS);
    assert_eq!(full_scans(&k), 3);
    k.advance_time(MS);
    assert_eq!(full_scans(&k), 4);
    // One second: ten more passes, at 100 ms steps.
    k.advance_time(1000 * MS);
    assert_eq!(full_scans(&k), 14);
    // 10 ms is 2.5 jiffies at HZ=250: msecs_to_jiffies() rounds up to 3 (12 ms).
    set(&mut k, &format!("{KH}/scan_sleep_millisecs"), "10");
    k.advance_time(0);
    assert_eq!(full_scans(&k), 15);
    k.advance_time(11 * MS);
    assert_eq!(full_scans(&k), 15);
    k.advance_time(MS);
    assert_eq!(full_scans(&k), 16);
}

#[test]
fn a_zero_scan_sleep_scans_every_tick() {
    let mut k = kernel();
    fixed_ranges(&mut k, 1);
    set(&mut k, &format!("{KH}/scan_sleep_millisecs"), "0");
    k.advance_time(0);
    assert_eq!(full_scans(&k), 1);
    // HZ=250: a jiffy is 4 ms; 100 ms hold 25 more passes.
    k.advance_time(100 * MS);
    assert_eq!(full_scans(&k), 26);
}

#[test]
fn pages_to_scan_limits_each_pass() {
    let mut k = kernel();
    fixed_ranges(&mut k, 8);
    set(&mut k, &format!("{KH}/scan_sleep_millisecs"), "100");
    set(&mut k, &format!("{KH}/pages_to_scan"), "1024");
    k.set_tracing(true);
    // Each pass: 1 for the mm, 512 per PMD range; it stops once at 1024 or more, so two
    // ranges per pass, and the fifth pass finds the VMA done (a full scan) and starts over.
    let mut seen = vec![];
    for pass in 0..5 {
        k.advance_time(if pass == 0 { 0 } else { 100 * MS });
        let s = scans(&mut k);
        seen.push((s.len(), full_scans(&k)));
    }
    assert_eq!(seen, vec![(2, 0), (2, 0), (2, 0), (2, 0), (2, 1)]);
    // The fifth pass began again at the head of the list with the first two ranges, so the
    // sixth goes on with the third.
    k.advance_time(100 * MS);
    let s = scans(&mut k);
    assert_eq!(s[0].1, FIXED + 2 * HPAGE);
    // Budget for the whole VMA twice: the next pass ends the VMA where the last one stopped
    // (a full scan), scans it all from the head (another), and stops at the head, having
    // passed through it twice; from then on a pass is one full scan of 8 ranges.
    set(&mut k, &format!("{KH}/pages_to_scan"), "8192");
    let f = full_scans(&k);
    k.advance_time(100 * MS);
    assert_eq!(full_scans(&k), f + 2);
    assert_eq!(scans(&mut k).len(), 4 + 8);
    k.advance_time(100 * MS);
    assert_eq!(full_scans(&k), f + 3);
    assert_eq!(scans(&mut k).len(), 8);
}

#[test]
fn the_timing_twin_counts_passes_exactly() {
    // /work/coord/kthreads-twins/thp/khugepaged-daemon-timing.mml, step by step.
    let mut k = kernel();
    fixed_ranges(&mut k, 8);
    assert_eq!(num(&k, &format!("{KH}/scan_sleep_millisecs")), 10_000);
    set(&mut k, &format!("{KH}/pages_to_scan"), "1024");
    set(&mut k, &format!("{KH}/scan_sleep_millisecs"), "100");
    let mut steps = vec![];
    for (sleep, knob) in [
        (0, None),
        (99, None),
        (301, Some(("pages_to_scan", "8192"))),
        (200, Some(("scan_sleep_millisecs", "10"))),
        (11, None),
        (1, None),
    ] {
        k.advance_time(sleep * MS);
        steps.push(full_scans(&k));
        if let Some((f, v)) = knob {
            set(&mut k, &format!("{KH}/{f}"), v);
        }
    }
    assert_eq!(steps, [0, 0, 1, 4, 5, 6]);
}

#[test]
fn the_list_is_scanned_in_registration_order() {
    let mut k = kernel();
    let a = fixed_ranges(&mut k, 1);
    let b = fixed_ranges(&mut k, 1);
    let (ma, mb) = (k.task(a).unwrap().mm, k.task(b).unwrap().mm);
    k.set_tracing(true);
    k.advance_time(0);
    let order: Vec<usize> = scans(&mut k).into_iter().map(|s| s.0).collect();
    assert_eq!(order, vec![ma, mb]);
    assert_eq!(full_scans(&k), 1);
    // A process registered later goes to the tail, behind the other two.
    let c = fixed_ranges(&mut k, 1);
    let mc = k.task(c).unwrap().mm;
    k.advance_time(10_000 * MS);
    let order: Vec<usize> = scans(&mut k).into_iter().map(|s| s.0).collect();
    assert_eq!(order, vec![ma, mb, mc]);
}

#[test]
fn max_ptes_none_applies_to_the_daemon() {
    // khugepaged-max-ptes-none.mml: with max_ptes_none 0 one hole keeps a range from
    // collapsing, pass after pass; filled, it collapses at the next pass.
    let mut k = kernel();
    set(&mut k, &format!("{KH}/max_ptes_none"), "0");
    set(&mut k, &format!("{KH}/scan_sleep_millisecs"), "100");
    let (t, _, h) = anon_mapping(&mut k);
    split_thp(&mut k, t, h, PAGE, 2 * PAGE);
    let e0 = vmstat(&k, "thp_scan_exceed_none_pte");
    k.advance_time(0);
    k.advance_time(100 * MS);
    assert_eq!(full_scans(&k), 2);
    assert_eq!(vmstat(&k, "thp_scan_exceed_none_pte"), e0 + 2);
    assert_eq!(pages_collapsed(&k), 0);
    assert_eq!(anon_huge_kb(&k, t, h), 0);
    k.store(t, h + PAGE, 0x22).unwrap();
    k.advance_time(100 * MS);
    assert_eq!(pages_collapsed(&k), 1);
    assert_eq!(anon_huge_kb(&k, t, h), 2048);
    assert_eq!(k.load(t, h + PAGE).unwrap(), 0x22);
}

#[test]
fn a_pinned_page_keeps_the_range_from_collapsing() {
    // khugepaged-scan-fails.mml's pinned case: is_refcount_suitable() fails while the pin
    // is held, and the range collapses at the first pass after it is dropped.
    let mut k = kernel();
    set(&mut k, &format!("{KH}/scan_sleep_millisecs"), "100");
    let (t, h) = split_thp_range(&mut k);
    let pin = k.get_page_ref(t, h + HPAGE / 2).unwrap();
    k.advance_time(0);
    k.advance_time(100 * MS);
    assert_eq!(full_scans(&k), 2);
    assert_eq!(pages_collapsed(&k), 0);
    k.put_page_ref(pin).unwrap();
    k.advance_time(100 * MS);
    assert_eq!(pages_collapsed(&k), 1);
    assert_eq!(anon_huge_kb(&k, t, h), 2048);
}

#[test]
fn a_failed_allocation_sleeps_alloc_sleep_millisecs_inside_the_pass() {
    let mut k = kernel();
    set(&mut k, &format!("{KH}/scan_sleep_millisecs"), "100");
    set(&mut k, &format!("{KH}/alloc_sleep_millisecs"), "1000");
    let (t, h) = split_thp_range(&mut k);
    k.fail_page_alloc(0, 1);
    let failed0 = vmstat(&k, "thp_collapse_alloc_failed");
    k.advance_time(0);
    assert_eq!(vmstat(&k, "thp_collapse_alloc_failed"), failed0 + 1);
    // khugepaged_alloc_sleep(): no pass for a second, although scan_sleep is 100 ms; the
    // pass has not reached the end of the list yet.
    k.advance_time(999 * MS);
    assert_eq!(full_scans(&k), 0);
    assert_eq!(pages_collapsed(&k), 0);
    // The pass resumes after the failed range and finishes the list.
    k.advance_time(MS);
    assert_eq!(full_scans(&k), 1);
    assert_eq!(pages_collapsed(&k), 0);
    // The next pass, 100 ms later, collapses it.
    k.advance_time(100 * MS);
    assert_eq!(pages_collapsed(&k), 1);
    assert_eq!(anon_huge_kb(&k, t, h), 2048);
    k.check_invariants().unwrap();
}

#[test]
fn a_second_failed_allocation_ends_the_pass_and_a_sleep_write_cuts_the_sleep() {
    let mut k = kernel();
    set(&mut k, &format!("{KH}/scan_sleep_millisecs"), "100");
    set(&mut k, &format!("{KH}/alloc_sleep_millisecs"), "60000");
    // Two collapsible ranges: the second failure, after the sleep, ends the pass at once.
    let (t, h) = split_thp_range(&mut k);
    k.memset(t, h + HPAGE, 0x44, HPAGE).unwrap();
    k.madvise(t, h + HPAGE + HPAGE / 2, HPAGE / 2, MADV_DONTNEED)
        .unwrap();
    k.fail_page_alloc(0, 2);
    k.advance_time(0);
    assert_eq!(k.injected_alloc_failures(), 1);
    // Writing alloc_sleep_millisecs wakes the sleeping pass at once.
    set(&mut k, &format!("{KH}/alloc_sleep_millisecs"), "60000");
    k.advance_time(0);
    assert_eq!(k.injected_alloc_failures(), 2);
    // khugepaged_prealloc_page() with `wait` used up: the pass ends without a full scan;
    // the thread sleeps scan_sleep_millisecs. The next pass finishes the VMA behind the two
    // failed ranges (a full scan), starts over at the head and collapses both (a collapse
    // ends a khugepaged_scan_mm_slot() call, and the pass calls it again), then reaches the
    // end once more.
    assert_eq!(full_scans(&k), 0);
    assert_eq!(pages_collapsed(&k), 0);
    k.advance_time(99 * MS);
    assert_eq!(pages_collapsed(&k), 0);
    k.advance_time(MS);
    assert_eq!(pages_collapsed(&k), 2);
    assert_eq!(full_scans(&k), 2);
    assert_eq!(anon_huge_kb(&k, t, h), 4096, "both ranges, one VMA");
    assert_eq!(
        k.find_mismatch(t, h + HPAGE, HPAGE / 2, 0x44).unwrap(),
        None
    );
}

#[test]
fn enabled_never_stops_the_thread_and_madvise_restarts_it() {
    let mut k = kernel();
    fixed_ranges(&mut k, 1);
    k.advance_time(0);
    assert_eq!(full_scans(&k), 1);
    set(&mut k, &format!("{THP}/enabled"), "never");
    k.advance_time(60_000 * MS);
    assert_eq!(full_scans(&k), 1);
    // kthread_run(): the new thread starts with a pass.
    set(&mut k, &format!("{THP}/enabled"), "madvise");
    k.advance_time(0);
    assert_eq!(full_scans(&k), 2);
    k.advance_time(10_000 * MS);
    assert_eq!(full_scans(&k), 3);
    // A knob set behind the store handler's back (a scenario's `thp enabled never` header)
    // still stops the thread before the next store starts it again.
    k.thp_sysfs_write("enabled", "never").unwrap();
    set(&mut k, &format!("{THP}/enabled"), "madvise");
    k.advance_time(0);
    assert_eq!(full_scans(&k), 4, "a new thread starts with a pass");
}

#[test]
fn an_exiting_mm_under_the_cursor_is_collected_by_the_next_pass() {
    let mut k = kernel();
    let t = fixed_ranges(&mut k, 8);
    set(&mut k, &format!("{KH}/pages_to_scan"), "1024");
    k.advance_time(0);
    assert_eq!(full_scans(&k), 0, "the pass stopped inside the VMA");
    k.exit(t).unwrap();
    // The slot stays as the cursor (__khugepaged_exit()); the next pass finds the mm gone,
    // moves past the end of the list (a full scan) and frees the slot: no work is left.
    k.advance_time(10_000 * MS);
    assert_eq!(full_scans(&k), 1);
    k.advance_time(60_000 * MS);
    assert_eq!(
        full_scans(&k),
        1,
        "an empty list: the thread waits for work"
    );
    // A new process (its mm may reuse the id) registers and wakes the thread.
    k.set_tracing(true);
    let u = fixed_ranges(&mut k, 1);
    k.advance_time(0);
    assert_eq!(full_scans(&k), 2);
    let mu = k.task(u).unwrap().mm;
    assert!(scans(&mut k).iter().all(|s| s.0 == mu));
    k.check_invariants().unwrap();
}

#[test]
fn a_forked_child_is_scanned_after_its_parent_exits() {
    // khugepaged-fork-registers-child.mml: khugepaged_fork() registers the child, whose
    // 4 KiB faults alone would not; the parent gone, the child's range collapses.
    let mut k = kernel();
    set(&mut k, &format!("{KH}/scan_sleep_millisecs"), "100");
    let (p, h) = split_thp_range(&mut k);
    let c = k.fork(p).unwrap();
    let mc = k.task(c).unwrap().mm;
    k.exit(p).unwrap();
    // fork() write-protected the child's PTEs: a write of its own makes one writable.
    k.store(c, h + HPAGE / 2 + PAGE, 0x55).unwrap();
    k.set_tracing(true);
    k.advance_time(0);
    assert_eq!(scans(&mut k)[0], (mc, h, "SCAN_SUCCEED"));
    assert_eq!(pages_collapsed(&k), 1);
    assert_eq!(anon_huge_kb(&k, c, h), 2048);
    assert_eq!(k.find_mismatch(c, h, HPAGE / 2, 0x11).unwrap(), None);
    assert_eq!(k.load(c, h + HPAGE / 2 + PAGE).unwrap(), 0x55);
    k.check_invariants().unwrap();
}

#[test]
fn read_only_nohugepage_and_unregistered_ranges_stay_small() {
    // khugepaged-scan-fails.mml's host-visible cases, each in its own process.
    let mut k = kernel();
    set(&mut k, &format!("{KH}/scan_sleep_millisecs"), "100");
    // No writable PTE (SCAN_PAGE_RO), also after mprotect(RW), until a write reuses a page.
    let (p, h) = split_thp_range(&mut k);
    k.mprotect(p, h, HPAGE, PROT_READ).unwrap();
    k.mprotect(p, h, HPAGE, PROT_READ | PROT_WRITE).unwrap();
    // VM_NOHUGEPAGE (hugepage_vma_check()).
    let (r, g) = split_thp_range(&mut k);
    k.madvise(r, g, HPAGE, MADV_NOHUGEPAGE).unwrap();
    // 4 KiB faults without VM_HUGEPAGE never register the mm.
    let s = k.spawn_process(0).unwrap();
    let flags = MAP_PRIVATE | MAP_ANONYMOUS;
    let q = k
        .mmap(s, 0, 4 * HPAGE, PROT_READ | PROT_WRITE, flags, -1, 0)
        .unwrap();
    let m = q.next_multiple_of(HPAGE);
    k.memset(s, m, 0x11, 64 * PAGE).unwrap();
    k.advance_time(0);
    k.advance_time(1000 * MS);
    assert!(full_scans(&k) >= 2);
    assert_eq!(pages_collapsed(&k), 0);
    assert_eq!(anon_huge_kb(&k, p, h), 0);
    assert_eq!(anon_huge_kb(&k, r, g), 0);
    assert_eq!(anon_huge_kb(&k, s, m), 0);
    k.store(p, h, 0x12).unwrap();
    k.madvise(s, q, 4 * HPAGE, MADV_HUGEPAGE).unwrap();
    k.advance_time(100 * MS);
    assert_eq!(anon_huge_kb(&k, p, h), 2048);
    assert_eq!(anon_huge_kb(&k, s, m), 2048);
    assert_eq!(anon_huge_kb(&k, r, g), 0);
    assert_eq!(pages_collapsed(&k), 2);
    assert_eq!(k.load(p, h).unwrap(), 0x12);
    assert_eq!(k.find_mismatch(s, m, 64 * PAGE, 0x11).unwrap(), None);
}

/// A process with a shared memfd mapping of 4 huge pages (shmem_enabled=advise) holding
/// three small pages in its first range, MADV_HUGEPAGE (khugepaged-collapse-file.mml).
fn shmem_small_pages(k: &mut Kernel) -> (Tid, u64) {
    let (t, _, s) = memfd_mapping(k, 4 * HPAGE, 4 * HPAGE);
    assert_eq!(s % HPAGE, 0);
    k.store(t, s, 0x11).unwrap();
    k.store(t, s + 10 * PAGE, 0x22).unwrap();
    k.store(t, s + 300 * PAGE, 0x33).unwrap();
    k.madvise(t, s, 4 * HPAGE, MADV_HUGEPAGE).unwrap();
    (t, s)
}

#[test]
fn the_daemon_collapses_shmem_pages_and_the_next_fault_maps_a_pmd() {
    let mut k = kernel();
    let (t, s) = shmem_small_pages(&mut k);
    let h0 = k.meminfo("ShmemHugePages").unwrap();
    let c0 = vmstat(&k, "thp_collapse_alloc");
    k.set_tracing(true);
    k.advance_time(0);
    assert_eq!(pages_collapsed(&k), 1);
    assert_eq!(vmstat(&k, "thp_collapse_alloc"), c0 + 1);
    assert_eq!(k.meminfo("ShmemHugePages").unwrap(), h0 + 2048);
    // Every file range ends a khugepaged_scan_mm_slot() call; the pass still covers the
    // four ranges of the VMA and the end of the list within pages_to_scan.
    let r: Vec<&str> = scans(&mut k).into_iter().map(|s| s.2).collect();
    assert_eq!(
        r,
        [
            "SCAN_SUCCEED",
            "SCAN_EXCEED_NONE_PTE",
            "SCAN_EXCEED_NONE_PTE",
            "SCAN_EXCEED_NONE_PTE"
        ]
    );
    assert_eq!(full_scans(&k), 1);
    // retract_page_tables() freed the PTE table: nothing mapped until the next fault.
    assert_eq!(k.pte_at(t, s).unwrap().0, 0);
    let f0 = k.minflt(t).unwrap();
    assert_eq!(k.load(t, s + 10 * PAGE).unwrap(), 0x22);
    assert_eq!(k.minflt(t).unwrap(), f0 + 1);
    let sm = k.smaps(t, s).unwrap().unwrap().1;
    assert_eq!(sm.shmem_pmd_mapped >> 10, 2048);
    assert_eq!(k.load(t, s).unwrap(), 0x11);
    assert_eq!(k.load(t, s + 300 * PAGE).unwrap(), 0x33);
    k.check_invariants().unwrap();
}

#[test]
fn a_shmem_range_half_past_eof_collapses() {
    // khugepaged-collapse-past-eof.mml: the scan and collapse_file() ignore i_size.
    let mut k = kernel();
    let (t, _, s) = memfd_mapping(&mut k, HPAGE / 2, 2 * HPAGE);
    k.memset(t, s, 0x11, HPAGE / 2).unwrap();
    k.madvise(t, s, 2 * HPAGE, MADV_HUGEPAGE).unwrap();
    let t0 = k.meminfo("Shmem").unwrap();
    k.advance_time(0);
    assert_eq!(pages_collapsed(&k), 1);
    assert_eq!(k.meminfo("Shmem").unwrap(), t0 + 1024);
    // The first fault, inside i_size, maps the whole THP by PMD: past EOF under it reads 0.
    assert_eq!(k.find_mismatch(t, s, HPAGE / 2, 0x11).unwrap(), None);
    let sm = k.smaps(t, s).unwrap().unwrap().1;
    assert_eq!(sm.shmem_pmd_mapped >> 10, 2048);
    assert_eq!(k.load(t, s + HPAGE / 2).unwrap(), 0);
    assert_eq!(k.load(t, s + HPAGE), Err(mmlab::Signal::Bus));
}

#[test]
fn a_private_mapping_with_a_cow_page_keeps_its_table() {
    // khugepaged-private-cow-keeps-table.mml: retract_page_tables() skips a VMA with an
    // anon_vma; the shared mapping's table goes.
    let mut k = kernel();
    let (t, fd, s) = memfd_mapping(&mut k, 4 * HPAGE, 4 * HPAGE);
    let rw = PROT_READ | PROT_WRITE;
    let q = k.mmap(t, 0, 4 * HPAGE, rw, MAP_PRIVATE, fd, 0).unwrap();
    assert_eq!(q % HPAGE, 0);
    k.memset(t, s, 0x11, 32 * PAGE).unwrap();
    assert_eq!(k.load(t, q).unwrap(), 0x11);
    k.store(t, q + 5 * PAGE, 0x22).unwrap();
    k.madvise(t, s, 4 * HPAGE, MADV_HUGEPAGE).unwrap();
    k.madvise(t, q, 4 * HPAGE, MADV_HUGEPAGE).unwrap();
    k.advance_time(0);
    assert_eq!(pages_collapsed(&k), 1);
    let sq = k.smaps(t, q).unwrap().unwrap().1;
    assert_eq!((sq.rss >> 10, sq.anonymous >> 10), (4, 4));
    assert_ne!(k.pte_at(t, q + 5 * PAGE).unwrap().0, 0);
    assert_eq!(k.pte_at(t, s).unwrap().0, 0);
    assert_eq!(k.load(t, s + 5 * PAGE).unwrap(), 0x11);
    assert_eq!(
        k.smaps(t, s).unwrap().unwrap().1.shmem_pmd_mapped >> 10,
        2048
    );
    assert_eq!(k.load(t, q + PAGE).unwrap(), 0x11);
    assert_eq!(k.smaps(t, q).unwrap().unwrap().1.shmem_pmd_mapped, 0);
    assert_eq!(k.load(t, q + 5 * PAGE).unwrap(), 0x22);
}

#[test]
fn max_ptes_none_refuses_shmem_ranges_with_holes() {
    // khugepaged-file-fails.mml's last case: block 0 full, block 1 one page.
    let mut k = kernel();
    set(&mut k, &format!("{KH}/max_ptes_none"), "0");
    set(&mut k, &format!("{KH}/scan_sleep_millisecs"), "100");
    let (t, _, s) = memfd_mapping(&mut k, 4 * HPAGE, 4 * HPAGE);
    k.memset(t, s, 0x11, HPAGE).unwrap();
    k.store(t, s + HPAGE, 0x22).unwrap();
    let e0 = vmstat(&k, "thp_scan_exceed_none_pte");
    k.madvise(t, s, 4 * HPAGE, MADV_HUGEPAGE).unwrap();
    k.advance_time(0);
    k.advance_time(100 * MS);
    assert_eq!(full_scans(&k), 2);
    assert_eq!(pages_collapsed(&k), 1);
    // Blocks 1 to 3 fail each pass.
    assert_eq!(vmstat(&k, "thp_scan_exceed_none_pte"), e0 + 6);
    assert_eq!(
        k.pagemap(t, s).unwrap() >> 63,
        0,
        "block 0's table was retracted"
    );
    assert_eq!(k.pagemap(t, s + HPAGE).unwrap() >> 63, 1);
    assert_eq!(k.find_mismatch(t, s, HPAGE, 0x11).unwrap(), None);
    assert_eq!(
        k.smaps(t, s).unwrap().unwrap().1.shmem_pmd_mapped >> 10,
        2048
    );
    assert_eq!(k.load(t, s + HPAGE).unwrap(), 0x22);
}

#[test]
fn a_pinned_shmem_page_fails_the_file_scan_until_released() {
    // khugepaged-file-fails.mml's first case, pass after pass.
    let mut k = kernel();
    set(&mut k, &format!("{KH}/scan_sleep_millisecs"), "100");
    let (t, s) = shmem_small_pages(&mut k);
    let pin = k.get_page_ref(t, s + 10 * PAGE).unwrap();
    k.set_tracing(true);
    k.advance_time(0);
    k.advance_time(100 * MS);
    let first: Vec<&str> = scans(&mut k)
        .into_iter()
        .filter(|x| x.1 == s)
        .map(|x| x.2)
        .collect();
    assert_eq!(first, ["SCAN_PAGE_COUNT", "SCAN_PAGE_COUNT"]);
    assert_eq!(
        full_scans(&k),
        2,
        "each pass: four file ranges, then the end of the list"
    );
    assert_eq!(pages_collapsed(&k), 0);
    assert_ne!(
        k.pagemap(t, s + 10 * PAGE).unwrap() >> 63,
        0,
        "nothing was unmapped"
    );
    k.put_page_ref(pin).unwrap();
    k.advance_time(100 * MS);
    assert_eq!(pages_collapsed(&k), 1);
}

#[test]
fn knob_writes_give_the_store_handlers_errnos() {
    use mmlab::Errno;
    let mut k = kernel();
    let w = |k: &mut Kernel, f: &str, v: &str| k.sysfs_write(&format!("{KH}/{f}"), v);
    assert_eq!(w(&mut k, "pages_to_scan", "0"), Err(Errno::EINVAL));
    assert_eq!(w(&mut k, "pages_to_scan", "4294967296"), Err(Errno::EINVAL));
    assert_eq!(w(&mut k, "scan_sleep_millisecs", "-1"), Err(Errno::EINVAL));
    assert_eq!(w(&mut k, "scan_sleep_millisecs", "1.5"), Err(Errno::EINVAL));
    assert_eq!(w(&mut k, "alloc_sleep_millisecs", ""), Err(Errno::EINVAL));
    assert_eq!(w(&mut k, "max_ptes_none", "512"), Err(Errno::EINVAL));
    assert_eq!(w(&mut k, "max_ptes_shared", "512"), Err(Errno::EINVAL));
    assert_eq!(w(&mut k, "defrag", "2"), Err(Errno::EINVAL));
    assert_eq!(w(&mut k, "pages_collapsed", "0"), Err(Errno::EACCES));
    assert_eq!(w(&mut k, "full_scans", "0"), Err(Errno::EACCES));
    assert_eq!(
        k.sysfs_write(&format!("{THP}/enabled"), "sometimes"),
        Err(Errno::EINVAL)
    );
    w(&mut k, "pages_to_scan", "+4095").unwrap();
    assert_eq!(num(&k, &format!("{KH}/pages_to_scan")), 4095);
    w(&mut k, "alloc_sleep_millisecs", "4294967295").unwrap();
    assert_eq!(
        k.sysfs_read(&format!("{KH}/alloc_sleep_millisecs")),
        Ok("4294967295\n".into())
    );
    assert_eq!(
        k.sysfs_read(&format!("{THP}/enabled")),
        Ok("always [madvise] never\n".into())
    );
}
