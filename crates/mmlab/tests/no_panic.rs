//! Every syscall with boundary arguments: the model answers with an errno or a result, never a
//! panic, and its invariants hold afterwards.

use mmlab::uapi::*;
use mmlab::{Config, Kernel, Profile, Tid};

const ADDRS: &[u64] = &[
    0,
    1,
    4095,
    4096,
    0x10000,
    0x7fff_f7ff_e000,
    (1 << 47) - 4096,
    1 << 47,
    u64::MAX - 4095,
    u64::MAX,
];
const LENS: &[u64] = &[
    0,
    1,
    4096,
    8192,
    1 << 30,
    (1 << 47) - 4096,
    1 << 63,
    u64::MAX - 4095,
    u64::MAX,
];

fn boot() -> (Kernel, Tid, u64) {
    let mut k = Kernel::new(Config::new(Profile::Linux519));
    let t = k.spawn_process(0).unwrap();
    let p = k
        .mmap(
            t,
            0,
            8 * 4096,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1,
            0,
        )
        .unwrap();
    k.store(t, p, 1).unwrap();
    (k, t, p)
}

#[test]
fn boundary_arguments_never_panic() {
    let (mut k, t, p) = boot();
    let addrs: Vec<u64> = ADDRS.iter().copied().chain([p, p + 4096, p + 1]).collect();
    let fd = k.memfd_create(t, "f", 0).unwrap() as i64;
    for &a in &addrs {
        for &l in LENS {
            let _ = k.munmap(t, a, l);
            let _ = k.mprotect(t, a, l, PROT_READ);
            let _ = k.mprotect(t, a, l, u64::MAX);
            for adv in [
                MADV_DONTNEED,
                MADV_FREE,
                MADV_POPULATE_WRITE,
                MADV_REMOVE,
                MADV_WIPEONFORK,
                999,
            ] {
                let _ = k.madvise(t, a, l, adv);
            }
            for flags in [
                MAP_PRIVATE | MAP_ANONYMOUS,
                MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
                MAP_PRIVATE | MAP_FIXED_NOREPLACE | MAP_ANONYMOUS,
                MAP_SHARED,
            ] {
                let _ = k.mmap(t, a, l, PROT_READ | PROT_WRITE, flags, fd, 0);
                let _ = k.mmap(t, a, l, PROT_READ, flags, fd, l);
            }
            let _ = k.ftruncate(t, fd, l as i64);
            let _ = k.fallocate(
                t,
                fd,
                mmlab::mm::shmem::FALLOC_FL_PUNCH_HOLE | mmlab::mm::shmem::FALLOC_FL_KEEP_SIZE,
                a as i64,
                l as i64,
            );
            let _ = k.load(t, a);
            let _ = k.store(t, a, 7);
            let _ = k.memset(t, a, 1, l.min(1 << 20));
            let _ = k.find_mismatch(t, a, l.min(1 << 20), 0);
            let _ = k.pagemap(t, a);
            let _ = k.smaps(t, a);
            k.check_invariants()
                .unwrap_or_else(|v| panic!("after {a:#x} {l:#x}: {v}"));
            // Keep some memory mapped for the next round.
            let _ = k.mmap(
                t,
                p,
                8 * 4096,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                -1,
                0,
            );
        }
    }
    for fd in [-1, 0, 2, 3, 4, 1 << 40, i64::MAX, i64::MIN] {
        let _ = k.close(t, fd);
        let _ = k.ftruncate(t, fd, 10);
        let _ = k.fallocate(t, fd, 0, 0, 4096);
        let _ = k.mmap(t, 0, 4096, PROT_READ, MAP_SHARED, fd, 0);
        for cmd in [0, 1033, 1034, u64::MAX] {
            for arg in [0, 0x1f, 0x20, u64::MAX] {
                let _ = k.fcntl_seals(t, fd, cmd, arg);
            }
        }
    }
    assert!(k.memfd_create(t, &"x".repeat(10_000), 0).is_err());
    assert!(k.spawn_thread(t, 1 << 40).is_err());
    assert!(k.set_cpu(t, usize::MAX).is_err());
    assert!(k.fork(12345).is_err());
    assert!(k.exit(12345).is_err());
    k.check_invariants().unwrap();
}

/// The userfaultfd ioctls and read(2) with boundary ranges, modes and descriptors, over
/// registered anon, shmem and hugetlb ranges with pages, markers and sleeping faults.
#[test]
fn userfaultfd_boundary_arguments_never_panic() {
    use mmlab::uapi::userfaultfd::*;
    let (mut k, t, p) = boot();
    k.set_nr_hugepages(2);
    let h = k.spawn_thread(t, 0).unwrap();
    let uffd = k.userfaultfd(t, O_NONBLOCK).unwrap() as i64;
    k.uffdio_api(t, uffd, UFFD_API, UFFD_API_FEATURES & !(1 << 7))
        .unwrap();
    let fd = k.memfd_create(t, "f", 0).unwrap() as i64;
    k.ftruncate(t, fd, 8 * 4096).unwrap();
    let s = k
        .mmap(t, 0, 8 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        .unwrap();
    let hp = k
        .mmap(
            t,
            0,
            2 << 20,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
            -1,
            0,
        )
        .unwrap();
    let all = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP;
    for base in [p, s, hp] {
        k.uffdio_register(t, uffd, base, 8 * 4096, all).ok();
        k.uffdio_register(t, uffd, base, 2 << 20, all).ok();
    }
    // A thread asleep on a fault while everything else happens.
    assert_eq!(k.load(h, p + 4096), Err(mmlab::Signal::Userfault));
    let addrs: Vec<u64> = ADDRS.iter().copied().chain([p, s, hp, s + 1]).collect();
    for &a in &addrs {
        for &l in LENS {
            for mode in [0, 1, 2, 3, 4, u64::MAX] {
                let _ = k.uffdio_copy(t, uffd, a, p, l, mode);
                let _ = k.uffdio_copy(t, uffd, a, u64::MAX - 4095, l, mode);
                let _ = k.uffdio_zeropage(t, uffd, a, l, mode);
                let _ = k.uffdio_continue(t, uffd, a, l, mode);
                let _ = k.uffdio_writeprotect(t, uffd, a, l, mode);
            }
            let _ = k.uffdio_wake(t, uffd, a, l);
            let _ = k.uffdio_unregister(t, uffd, a, l);
            let _ = k.uffd_read(t, uffd);
            k.check_invariants()
                .unwrap_or_else(|v| panic!("after {a:#x} {l:#x}: {v}"));
        }
    }
    for bad in [-1, 0, 1 << 40, i64::MAX, fd] {
        assert!(k.uffd_read(t, bad).is_err());
        assert!(k.uffdio_copy(t, bad, p, p, 4096, 0).is_err());
        assert!(k.uffdio_writeprotect(t, bad, p, 4096, 1).is_err());
    }
    let _ = k.close(t, uffd);
    k.check_invariants().unwrap();
}
