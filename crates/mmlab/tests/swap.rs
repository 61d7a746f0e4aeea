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
