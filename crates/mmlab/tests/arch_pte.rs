//! `Kernel::arch_pte_at` (the probe behind `model.pte`): swap-format PTEs come back in the
//! configured architecture's layout, present PTEs as the x86-64 tables hold them.
//!
//! The swap-format PTE used here is a uffd-wp PTE marker, the one such entry the model makes
//! without reclaim. In 5.19 only x86-64 has markers (PTE_MARKER_UFFD_WP needs
//! HAVE_ARCH_USERFAULTFD_WP); on the other architectures the test checks the re-encoding path,
//! not a value those kernels could hold.

use mmlab::pgtable::arch::Arch;
use mmlab::uapi::userfaultfd::{UFFDIO_REGISTER_MODE_WP, UFFDIO_WRITEPROTECT_MODE_WP, UFFD_API};
use mmlab::uapi::*;
use mmlab::{Config, Kernel, Profile};

const PAGE: u64 = 4096;

/// A shared memfd page at `s` made a uffd-wp marker, and a present page at `s + PAGE`.
fn marker_and_present(arch: Arch) -> (Kernel, mmlab::Tid, u64) {
    let mut cfg = Config::new(Profile::Linux519);
    cfg.arch = arch;
    let mut k = Kernel::new(cfg);
    let t = k.spawn_process(0).expect("process");
    let uffd = k.userfaultfd(t, O_NONBLOCK).expect("userfaultfd") as i64;
    k.uffdio_api(t, uffd, UFFD_API, 0).expect("UFFDIO_API");
    let fd = k.memfd_create(t, "arch", 0).expect("memfd") as i64;
    k.ftruncate(t, fd, 2 * PAGE as i64).expect("ftruncate");
    let rw = PROT_READ | PROT_WRITE;
    let s = k.mmap(t, 0, 2 * PAGE, rw, MAP_SHARED, fd, 0).expect("mmap");
    k.store(t, s + PAGE, 0x5a).expect("store");
    k.uffdio_register(t, uffd, s, PAGE, UFFDIO_REGISTER_MODE_WP)
        .expect("register");
    k.uffdio_writeprotect(t, uffd, s, PAGE, UFFDIO_WRITEPROTECT_MODE_WP)
        .expect("writeprotect");
    (k, t, s)
}

#[test]
fn marker_is_reencoded_present_pte_is_not() {
    // swp_entry(SWP_PTE_MARKER = 30, PTE_MARKER_UFFD_WP = 1), no software bits, per layout.
    let want = [
        (Arch::X86_64, 0xF7FF_FFFF_FFFF_FC00),
        (Arch::Arm64, (30 << 3) | (1 << 8)),
        (Arch::S390x, 0x600 | (30 << 2) | (1 << 12)),
        (Arch::Ppc64, (1 << 62) | 30 | (1 << 16)),
    ];
    let mut present = None;
    for (arch, marker) in want {
        let (k, t, s) = marker_and_present(arch);
        assert_eq!(k.pte_at(t, s).unwrap().0, 0xF7FF_FFFF_FFFF_FC00, "{arch}");
        assert_eq!(k.arch_pte_at(t, s).unwrap(), marker, "{arch}");
        let x86 = k.pte_at(t, s + PAGE).unwrap().0;
        assert!(x86 & 1 != 0, "{arch}: {x86:#x} not present");
        assert_eq!(k.arch_pte_at(t, s + PAGE).unwrap(), x86, "{arch}");
        // The same frame and bits on every architecture: only the swap form changes.
        assert_eq!(*present.get_or_insert(x86), x86);
        assert_eq!(k.arch_pte_at(t, s + 2 * PAGE).unwrap(), 0);
    }
}
