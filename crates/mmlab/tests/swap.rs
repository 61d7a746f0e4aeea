//! Swap-out and swap-in of anonymous and shmem pages through MADV_PAGEOUT, on a swap file
//! (asynchronous writes: the page stays in the swap cache) and on zram (synchronous: freed
//! at once, a real swap-in later), with fork sharing a swapped page, and swapoff.

mod common;

use common::{kernel_with_process, PAGE};
use mmlab::mm::swapfile::SwapFileKind;
use mmlab::uapi::*;
use mmlab::{Errno, Kernel, Tid};

const RW: u64 = PROT_READ | PROT_WRITE;
const PM_SWAP: u64 = 1 << 62;
const PM_PRESENT: u64 = 1 << 63;

fn anon(k: &mut Kernel, t: Tid, pages: u64, byte: u8) -> u64 {
    let p = k
        .mmap(t, 0, pages * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        .unwrap();
    k.memset(t, p, byte, pages * PAGE).unwrap();
    p
}

fn with_swap(zram: bool) -> (Kernel, Tid) {
    let (mut k, t) = kernel_with_process();
    if zram {
        k.create_zram("zram0", 16 << 20).unwrap();
        k.swapon(t, "zram0", 0).unwrap();
    } else {
        k.create_swap_file("swap0", 16 << 20, SwapFileKind::Mkswap)
            .unwrap();
        k.swapon(t, "swap0", 0).unwrap();
    }
    (k, t)
}

#[test]
fn swap_file_pageout_leaves_the_page_in_the_swap_cache() {
    let (mut k, t) = with_swap(false);
    let p = anon(&mut k, t, 4, 0x5a);
    let pswpout = k.vmstat.pswpout;
    k.madvise(t, p, 4 * PAGE, MADV_PAGEOUT).unwrap();
    assert_eq!(k.vmstat.pswpout - pswpout, 4);
    let pm = k.pagemap(t, p).unwrap();
    assert_eq!(pm & (PM_SWAP | PM_PRESENT), PM_SWAP, "a swap PTE");
    assert_eq!(pm & 0x1f, 0, "swap type 0");
    assert_eq!(
        (pm >> 5) & ((1 << 50) - 1),
        1,
        "the first slot after the header"
    );
    assert_eq!(
        k.meminfo("SwapCached"),
        Some(16),
        "async writes keep the pages cached"
    );
    // The slot cache took 64 slots at once.
    assert_eq!(
        k.meminfo("SwapTotal").unwrap() - k.meminfo("SwapFree").unwrap(),
        256
    );
    let majflt = k.vmstat.pgmajfault;
    let pswpin = k.vmstat.pswpin;
    assert_eq!(k.load(t, p + PAGE + 7), Ok(0x5a));
    assert_eq!(k.vmstat.pgmajfault, majflt, "served from the swap cache");
    assert_eq!(k.vmstat.pswpin, pswpin);
    k.check_invariants().unwrap();
}

#[test]
fn zram_pageout_frees_the_page_and_swaps_in_for_real() {
    let (mut k, t) = with_swap(true);
    let p = anon(&mut k, t, 2, 0x77);
    k.madvise(t, p, 2 * PAGE, MADV_PAGEOUT).unwrap();
    assert_eq!(
        k.meminfo("SwapCached"),
        Some(0),
        "synchronous writes free the pages"
    );
    assert_eq!(k.pagemap(t, p).unwrap() & PM_SWAP, PM_SWAP);
    let (majflt, pswpin) = (k.vmstat.pgmajfault, k.vmstat.pswpin);
    assert_eq!(k.load(t, p), Ok(0x77));
    assert_eq!(k.vmstat.pgmajfault - majflt, 1);
    assert_eq!(k.vmstat.pswpin - pswpin, 1);
    assert_eq!(k.pagemap(t, p).unwrap() & PM_PRESENT, PM_PRESENT);
    // Only one page came back; the other is still out.
    assert_eq!(k.pagemap(t, p + PAGE).unwrap() & PM_SWAP, PM_SWAP);
    k.check_invariants().unwrap();
}

#[test]
fn fork_shares_a_swapped_page_and_each_side_keeps_its_data() {
    let (mut k, t) = with_swap(true);
    let p = anon(&mut k, t, 1, 0x11);
    k.madvise(t, p, PAGE, MADV_PAGEOUT).unwrap();
    let c = k.fork(t).unwrap();
    k.store(t, p, 0x22).unwrap();
    assert_eq!(k.load(c, p), Ok(0x11), "the child sees the old data");
    assert_eq!(k.load(t, p), Ok(0x22));
    k.check_invariants().unwrap();
    k.exit(c).unwrap();
    k.check_invariants().unwrap();
}

#[test]
fn swapoff_brings_every_page_back_and_frees_every_slot() {
    let (mut k, t) = with_swap(false);
    let p = anon(&mut k, t, 8, 0x3c);
    k.madvise(t, p, 8 * PAGE, MADV_PAGEOUT).unwrap();
    k.swapoff(t, "swap0").unwrap();
    assert_eq!(k.meminfo("SwapTotal"), Some(0));
    for i in 0..8 {
        assert_eq!(k.pagemap(t, p + i * PAGE).unwrap() & PM_PRESENT, PM_PRESENT);
        assert_eq!(k.load(t, p + i * PAGE), Ok(0x3c));
    }
    assert_eq!(k.swapoff(t, "swap0"), Err(Errno::EINVAL));
    k.check_invariants().unwrap();
}

#[test]
fn shmem_pageout_puts_a_swap_entry_in_the_page_cache() {
    let (mut k, t) = with_swap(true);
    let p = k
        .mmap(t, 0, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        .unwrap();
    k.memset(t, p, 0x42, PAGE).unwrap();
    let out = k.vmstat.pswpout;
    k.madvise(t, p, PAGE, MADV_PAGEOUT).unwrap();
    assert_eq!(k.vmstat.pswpout - out, 1);
    assert_eq!(
        k.pagemap(t, p).unwrap() & (PM_SWAP | PM_PRESENT),
        0,
        "the PTE is none"
    );
    assert_eq!(k.load(t, p), Ok(0x42));
    k.check_invariants().unwrap();
}

#[test]
fn swapon_errors_are_linuxs() {
    let (mut k, t) = kernel_with_process();
    k.create_swap_file("holes", 1 << 20, SwapFileKind::Holes)
        .unwrap();
    k.create_swap_file("nosig", 1 << 20, SwapFileKind::NoSignature)
        .unwrap();
    k.create_swap_file("ok", 1 << 20, SwapFileKind::Mkswap)
        .unwrap();
    assert_eq!(k.swapon(t, "ok", 1 << 20), Err(Errno::EINVAL), "bad flags");
    assert_eq!(k.swapon(t, "/", 0), Err(Errno::EISDIR));
    assert_eq!(k.swapon(t, "/dev/null", 0), Err(Errno::EINVAL));
    assert_eq!(k.swapon(t, "missing", 0), Err(Errno::ENOENT));
    assert_eq!(k.swapon(t, "holes", 0), Err(Errno::EINVAL));
    assert_eq!(k.swapon(t, "nosig", 0), Err(Errno::EINVAL));
    assert_eq!(k.swapon(t, "ok", 0), Ok(0));
    assert_eq!(k.swapon(t, "ok", 0), Err(Errno::EBUSY));
    assert!(k.proc_swaps().contains("ok"));
    assert!(
        k.proc_swaps().lines().nth(1).unwrap().ends_with("-2"),
        "first automatic priority"
    );
}

fn thp(k: &mut Kernel, t: Tid, byte: u8) -> u64 {
    k.thp_sysfs_write("enabled", "always").unwrap();
    let raw = k
        .mmap(t, 0, 4 << 20, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        .unwrap();
    let h = raw.next_multiple_of(2 << 20);
    k.memset(t, h, byte, 2 << 20).unwrap();
    assert_eq!(k.vmstat.nr_anon_transparent_hugepages, 1, "a THP backs it");
    h
}

#[test]
fn a_pmd_mapped_thp_goes_to_zram_whole() {
    let (mut k, t) = with_swap(true);
    let h = thp(&mut k, t, 0x6d);
    let (out, whole) = (k.vmstat.pswpout, k.vmstat.thp_swpout);
    k.madvise(t, h, 2 << 20, MADV_PAGEOUT).unwrap();
    assert_eq!(k.vmstat.thp_swpout - whole, 1);
    assert_eq!(k.vmstat.pswpout - out, 512);
    assert_eq!(k.vmstat.thp_swpout_fallback, 0);
    // try_to_unmap() split the PMD: 512 swap PTEs, consecutive slots of one cluster.
    let first = k.pagemap(t, h).unwrap();
    assert_eq!(first & PM_SWAP, PM_SWAP);
    let last = k.pagemap(t, h + (2 << 20) - PAGE).unwrap();
    assert_eq!((last >> 5) - (first >> 5), 511);
    assert_eq!((first >> 5) % 512, 0, "a whole cluster");
    k.check_invariants().unwrap();
    for i in (0..512).step_by(37) {
        assert_eq!(k.load(t, h + i * PAGE), Ok(0x6d));
    }
    k.check_invariants().unwrap();
}

#[test]
fn a_thp_on_a_swap_file_is_split_and_swapped_page_by_page() {
    let (mut k, t) = with_swap(false);
    let h = thp(&mut k, t, 0x4b);
    k.madvise(t, h, 2 << 20, MADV_PAGEOUT).unwrap();
    assert_eq!(k.vmstat.thp_swpout, 0);
    assert_eq!(k.vmstat.thp_swpout_fallback, 1);
    assert_eq!(k.vmstat.pswpout, 512);
    k.check_invariants().unwrap();
    assert_eq!(k.load(t, h + 100 * PAGE), Ok(0x4b));
    k.check_invariants().unwrap();
}

#[test]
fn mincore_counts_a_swapped_page_while_the_swap_cache_holds_it() {
    for (zram, want) in [(false, 1), (true, 0)] {
        let (mut k, t) = with_swap(zram);
        let p = anon(&mut k, t, 1, 0x21);
        k.madvise(t, p, PAGE, MADV_PAGEOUT).unwrap();
        let vec = anon(&mut k, t, 1, 0xee);
        k.mincore(t, p, PAGE, vec).unwrap();
        assert_eq!(k.load(t, vec), Ok(want), "zram {zram}");
    }
}

#[test]
fn smaps_counts_shmem_pages_out_on_swap() {
    let (mut k, t) = with_swap(true);
    let p = k
        .mmap(t, 0, 4 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        .unwrap();
    k.memset(t, p, 0x42, 4 * PAGE).unwrap();
    k.madvise(t, p, 2 * PAGE, MADV_PAGEOUT).unwrap();
    let swap = |k: &Kernel| {
        let (_, s) = k.smaps(t, p).unwrap().unwrap();
        s.swap
    };
    assert_eq!(swap(&k), 2 * PAGE);
    assert_eq!(k.load(t, p), Ok(0x42));
    assert_eq!(swap(&k), PAGE, "the page read back left swap");
    k.check_invariants().unwrap();
}

#[test]
fn khugepaged_swaps_pages_back_in_before_it_collapses() {
    let (mut k, t) = with_swap(false);
    let raw = k
        .mmap(t, 0, 4 << 20, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        .unwrap();
    let h = raw.next_multiple_of(2 << 20);
    k.memset(t, h, 0x39, 2 << 20).unwrap();
    assert_eq!(
        k.vmstat.nr_anon_transparent_hugepages, 0,
        "madvise mode, no hint yet"
    );
    k.madvise(t, h + 8 * PAGE, 16 * PAGE, MADV_PAGEOUT).unwrap();
    assert_eq!(k.pagemap(t, h + 8 * PAGE).unwrap() & PM_SWAP, PM_SWAP);
    k.madvise(t, raw, 4 << 20, MADV_HUGEPAGE).unwrap();
    // Every PTE was touched since, so enough are young for the swap-in (referenced >= 256).
    let scan = "/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs";
    k.sysfs_write(scan, "1").unwrap();
    k.advance_time(2_000_000_000);
    assert_eq!(k.vmstat.nr_anon_transparent_hugepages, 1, "collapsed");
    assert_eq!(k.load(t, h + 10 * PAGE), Ok(0x39));
    assert_eq!(
        k.meminfo("SwapTotal").unwrap() - k.meminfo("SwapFree").unwrap(),
        256
    );
    k.check_invariants().unwrap();
}

#[test]
fn munmap_of_a_page_read_back_from_the_swap_cache_frees_its_slot() {
    let (mut k, t) = with_swap(false);
    let p = anon(&mut k, t, 1, 0x64);
    k.madvise(t, p, PAGE, MADV_PAGEOUT).unwrap();
    assert_eq!(k.load(t, p), Ok(0x64));
    assert_eq!(k.meminfo("SwapCached"), Some(4), "read back: still cached");
    k.munmap(t, p, PAGE).unwrap();
    assert_eq!(k.meminfo("SwapCached"), Some(0));
    k.check_invariants().unwrap();
}

#[test]
fn swapoff_that_cannot_get_pages_fails_enomem_and_keeps_the_device() {
    let (mut k, t) = with_swap(true);
    let p = anon(&mut k, t, 4, 0x5c);
    k.madvise(t, p, 4 * PAGE, MADV_PAGEOUT).unwrap();
    let total = k.meminfo("SwapTotal");
    // The second page read back cannot be allocated.
    k.fail_page_alloc(1, 1);
    assert_eq!(k.swapoff(t, "zram0"), Err(Errno::ENOMEM));
    assert_eq!(k.meminfo("SwapTotal"), total, "reinserted");
    assert!(k.proc_swaps().contains("zram0"));
    k.check_invariants().unwrap();
    for i in 0..4 {
        assert_eq!(k.load(t, p + i * PAGE), Ok(0x5c));
    }
    assert_eq!(k.swapoff(t, "zram0"), Ok(0));
    k.check_invariants().unwrap();
}

#[test]
fn pressure_reclaims_anonymous_memory_to_a_swap_file_and_keeps_every_byte() {
    let mut k = Kernel::new(mmlab::Config {
        memory_bytes: 64 << 20,
        ..Default::default()
    });
    let t = k.spawn_process(0).unwrap();
    k.create_swap_file("swap0", 128 << 20, SwapFileKind::Mkswap)
        .unwrap();
    k.swapon(t, "swap0", 0).unwrap();
    let pages = (96 << 20) / PAGE;
    let p = k
        .mmap(t, 0, pages * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        .unwrap();
    for i in 0..pages {
        k.store(t, p + i * PAGE, (i % 251) as u8 + 1).unwrap();
    }
    assert!(k.vmstat.pswpout > 0, "reclaim wrote to swap");
    k.check_invariants().unwrap();
    for i in 0..pages {
        assert_eq!(k.load(t, p + i * PAGE), Ok((i % 251) as u8 + 1), "page {i}");
    }
    k.check_invariants().unwrap();
}
