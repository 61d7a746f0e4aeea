//! hugetlb overcommit as 5.19 does it (mm/hugetlb.c): nr_overcommit_hugepages lets
//! gather_surplus_pages() grow the pool for a reservation and alloc_surplus_huge_page() for a
//! fault that has none (MAP_NORESERVE, a private mapping's COW); surplus pages go back to the
//! page allocator when freed (free_huge_page()) or no longer reserved
//! (return_unused_surplus_pages()); set_max_huge_pages() turns pages into surplus and back.
//! Every step is checked against /proc/meminfo, the hstate's sysfs files and the invariants;
//! injected allocation failures must give the caller's error and leak nothing.

use mmlab::mm::memfd::MFD_HUGETLB;
use mmlab::mm::shmem::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE};
use mmlab::uapi::*;
use mmlab::{Config, Errno, Kernel, Profile, Signal, Tid};

mod common;
use common::{check_pool_idle, exit_all_leaves_nothing, HPAGE};

const HSTATE: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB";
const OVERCOMMIT: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_overcommit_hugepages";
const RW: u64 = PROT_READ | PROT_WRITE;
const PRIVATE: u64 = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
const SHARED: u64 = MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB;
/// Base pages in a huge page: what the page allocator hands out per hugetlb page.
const NR: u64 = 512;

/// The 2 MiB pool as /proc/meminfo prints it: HugePages_Total, _Free, _Rsvd, _Surp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pool {
    total: u64,
    free: u64,
    rsvd: u64,
    surp: u64,
}

const fn pool(total: u64, free: u64, rsvd: u64, surp: u64) -> Pool {
    Pool {
        total,
        free,
        rsvd,
        surp,
    }
}

/// The invariants hold, and the pool as /proc/meminfo's text shows it, once the hstate's
/// sysfs files and the vm.nr_hugepages sysctl (which leaves surplus pages out) agree with it.
fn settle(k: &Kernel) -> Pool {
    if let Err(v) = k.check_invariants() {
        panic!("invariant: {v}");
    }
    let meminfo = k.sysfs_read("/proc/meminfo").expect("meminfo");
    let line = |name: &str| -> u64 {
        let l = meminfo
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {meminfo}"));
        l[name.len() + 1..].trim().parse().expect("a count")
    };
    let p = pool(
        line("HugePages_Total"),
        line("HugePages_Free"),
        line("HugePages_Rsvd"),
        line("HugePages_Surp"),
    );
    let file = |name: &str| -> u64 {
        let s = k.sysfs_read(&format!("{HSTATE}/{name}")).expect(name);
        s.trim().parse().expect("a count")
    };
    let sysfs = pool(
        file("nr_hugepages"),
        file("free_hugepages"),
        file("resv_hugepages"),
        file("surplus_hugepages"),
    );
    assert_eq!(sysfs, p, "sysfs and /proc/meminfo disagree");
    let sysctl = k.sysfs_read("/proc/sys/vm/nr_hugepages").expect("sysctl");
    assert_eq!(sysctl, format!("{}\n", p.total - p.surp), "vm.nr_hugepages");
    p
}

/// A machine with a pool of `persistent` pages and nr_overcommit_hugepages `overcommit`, and
/// one process.
fn boot(profile: Profile, persistent: u64, overcommit: u64) -> (Kernel, Tid) {
    let mut k = Kernel::new(Config::new(profile));
    assert_eq!(
        k.set_nr_hugepages(persistent),
        persistent,
        "{profile:?}: pool"
    );
    k.sysfs_write(OVERCOMMIT, &overcommit.to_string())
        .expect("nr_overcommit_hugepages");
    let t = k.spawn_process(0).expect("spawn");
    (k, t)
}

fn mmap(k: &mut Kernel, t: Tid, hpages: u64, flags: u64) -> Result<u64, Errno> {
    k.mmap(t, 0, hpages * HPAGE, RW, flags, -1, 0)
}

/// Exit `t`; then only the persistent pool may remain, all of it free and unreserved.
fn exit_idle(k: &mut Kernel, t: Tid, persistent: u64) {
    if persistent == 0 {
        exit_all_leaves_nothing(k, [t]).unwrap();
    } else {
        k.exit(t).unwrap();
        check_pool_idle(k).unwrap();
    }
    assert_eq!(settle(k), pool(persistent, persistent, 0, 0));
}

/// A pool of one page, `overcommit`, and a parent P that wrote 0x11 to a private huge page
/// (using its reservation) and forked C: (kernel, P, C, the page's address).
fn forked(profile: Profile, overcommit: u64) -> (Kernel, Tid, Tid, u64) {
    let (mut k, p) = boot(profile, 1, overcommit);
    let a = mmap(&mut k, p, 1, PRIVATE).unwrap();
    k.store(p, a, 0x11).unwrap();
    let c = k.fork(p).unwrap();
    (k, p, c, a)
}

/// The child of `forked()` exits, and with it any page beyond the persistent one goes (a page
/// freed while the surplus count says one is extra); then the parent.
fn exit_forked(mut k: Kernel, p: Tid, c: Tid) {
    k.exit(c).unwrap();
    assert_eq!(settle(&k), pool(1, 0, 0, 0));
    exit_idle(&mut k, p, 1);
}

#[test]
fn the_limit_is_the_hstates_through_sysfs_and_sysctl_and_allocates_nothing() {
    let (mut k, _) = boot(Profile::Linux519, 0, 0);
    let frames = k.frames_in_use();
    k.sysfs_write(OVERCOMMIT, "3").unwrap();
    let sysctl = "/proc/sys/vm/nr_overcommit_hugepages";
    assert_eq!(k.sysfs_read(sysctl).unwrap(), "3\n");
    k.sysfs_write(sysctl, "7").unwrap();
    assert_eq!(k.sysfs_read(OVERCOMMIT).unwrap(), "7\n");
    assert_eq!(k.sysfs_write(OVERCOMMIT, "-1"), Err(Errno::EINVAL));
    assert_eq!(k.sysfs_write(sysctl, "x"), Err(Errno::EINVAL));
    assert_eq!(k.sysfs_read(OVERCOMMIT).unwrap(), "7\n", "refused writes");
    assert_eq!(
        settle(&k),
        pool(0, 0, 0, 0),
        "the limit alone grows nothing"
    );
    assert_eq!(k.frames_in_use(), frames);
}

/// gather_surplus_pages(): what the free pool lacks for a reservation is allocated as surplus
/// pages, within the limit; past it the mmap fails ENOMEM and nothing is kept.
#[test]
fn a_reservation_past_the_pool_gathers_surplus_pages_up_to_the_limit() {
    for profile in Profile::all() {
        let (mut k, t) = boot(profile, 1, 2);
        let frames = k.frames_in_use();
        let a = mmap(&mut k, t, 3, PRIVATE).expect("mmap");
        assert_eq!(settle(&k), pool(3, 3, 3, 2), "{profile:?}");
        assert_eq!(k.frames_in_use(), frames + 2 * NR, "{profile:?}");
        // The limit is reached: neither a private nor a shared reservation gets more.
        assert_eq!(mmap(&mut k, t, 1, PRIVATE), Err(Errno::ENOMEM));
        assert_eq!(mmap(&mut k, t, 1, SHARED), Err(Errno::ENOMEM));
        assert_eq!(settle(&k), pool(3, 3, 3, 2), "{profile:?}: nothing kept");
        assert_eq!(k.frames_in_use(), frames + 2 * NR, "{profile:?}");
        // Raising the limit lets the next reservation grow the pool again.
        k.sysfs_write(OVERCOMMIT, "3").unwrap();
        let b = mmap(&mut k, t, 1, SHARED).expect("mmap");
        assert_eq!(settle(&k), pool(4, 4, 4, 3), "{profile:?}");
        // The gathered pages back the faults: data lands, reservations are used.
        for i in 0..3 {
            k.store(t, a + i * HPAGE, i as u8 + 1).unwrap();
        }
        k.store(t, b, 9).unwrap();
        assert_eq!(settle(&k), pool(4, 0, 0, 3), "{profile:?}");
        assert_eq!(k.load(t, a + 2 * HPAGE), Ok(3), "{profile:?}");
        // Lowering the limit below the surplus keeps the pages that are surplus already.
        k.sysfs_write(OVERCOMMIT, "0").unwrap();
        assert_eq!(settle(&k), pool(4, 0, 0, 3), "{profile:?}");
        exit_idle(&mut k, t, 1);
    }
}

/// return_unused_surplus_pages() on munmap: as many free surplus pages leave as reservations
/// are dropped, fewer when the surplus pages are the ones in use.
#[test]
fn unreserving_returns_unused_surplus_pages() {
    for profile in Profile::all() {
        // Nothing faulted: three reservations go, and with them both surplus pages.
        let (mut k, t) = boot(profile, 1, 2);
        let a = mmap(&mut k, t, 3, PRIVATE).unwrap();
        assert_eq!(settle(&k), pool(3, 3, 3, 2), "{profile:?}");
        k.munmap(t, a, 3 * HPAGE).unwrap();
        assert_eq!(settle(&k), pool(1, 1, 0, 0), "{profile:?}");
        // Two faulted: the zap frees both while two pages are surplus, so both leave (any page
        // freed while the pool has surplus does); then one reservation goes with no free
        // surplus page left to return.
        let a = mmap(&mut k, t, 3, PRIVATE).unwrap();
        k.store(t, a, 1).unwrap();
        k.store(t, a + HPAGE, 2).unwrap();
        assert_eq!(settle(&k), pool(3, 1, 1, 2), "{profile:?}");
        k.munmap(t, a, 3 * HPAGE).unwrap();
        assert_eq!(settle(&k), pool(1, 1, 0, 0), "{profile:?}");
        exit_idle(&mut k, t, 1);
    }
}

/// alloc_surplus_huge_page() at fault time: MAP_NORESERVE reserves nothing; a fault that finds
/// no unpromised free page allocates a surplus page, SIGBUS once the limit is reached.
#[test]
fn a_noreserve_fault_allocates_a_surplus_page_up_to_the_limit() {
    for profile in Profile::all() {
        let (mut k, t) = boot(profile, 1, 1);
        let a = mmap(&mut k, t, 3, PRIVATE | MAP_NORESERVE).unwrap();
        assert_eq!(
            settle(&k),
            pool(1, 1, 0, 0),
            "{profile:?}: nothing reserved"
        );
        k.store(t, a, 1).unwrap();
        assert_eq!(
            settle(&k),
            pool(1, 0, 0, 0),
            "{profile:?}: the free page first"
        );
        k.store(t, a + HPAGE, 2).unwrap();
        assert_eq!(
            settle(&k),
            pool(2, 0, 0, 1),
            "{profile:?}: then a surplus page"
        );
        assert_eq!(
            k.store(t, a + 2 * HPAGE, 3),
            Err(Signal::Bus),
            "{profile:?}"
        );
        assert_eq!(k.load(t, a + 2 * HPAGE), Err(Signal::Bus), "{profile:?}");
        assert_eq!(settle(&k), pool(2, 0, 0, 1), "{profile:?}");
        assert_eq!(k.load(t, a + HPAGE), Ok(2), "{profile:?}");
        // The persistent page is freed first, while one page is surplus: it is the one that
        // goes back to the page allocator; the surplus page then returns to the pool.
        k.munmap(t, a, HPAGE).unwrap();
        assert_eq!(settle(&k), pool(1, 0, 0, 0), "{profile:?}");
        assert_eq!(k.load(t, a + HPAGE), Ok(2), "{profile:?}");
        k.munmap(t, a + HPAGE, HPAGE).unwrap();
        assert_eq!(settle(&k), pool(1, 1, 0, 0), "{profile:?}");
        exit_idle(&mut k, t, 1);
    }
}

/// A fork child owns no reservation of its parent's private mapping: its COW takes an
/// unpromised free page, else a surplus page; without overcommit it is SIGBUS.
#[test]
fn a_fork_childs_cow_takes_a_surplus_page() {
    for profile in Profile::all() {
        for overcommit in [0, 1] {
            let (mut k, p, c, a) = forked(profile, overcommit);
            let cow = k.store(c, a, 0x22);
            let what = format!("{profile:?}, overcommit {overcommit}");
            if overcommit == 0 {
                assert_eq!(cow, Err(Signal::Bus), "{what}");
                assert_eq!(settle(&k), pool(1, 0, 0, 0), "{what}");
                assert_eq!(k.load(c, a), Ok(0x11), "{what}");
            } else {
                assert_eq!(cow, Ok(()), "{what}");
                assert_eq!(settle(&k), pool(2, 0, 0, 1), "{what}");
                assert_eq!(k.load(c, a), Ok(0x22), "{what}");
            }
            assert_eq!(k.load(p, a), Ok(0x11), "{what}");
            exit_forked(k, p, c);
        }
    }
}

/// hugetlb_wp() for the owner of a private mapping: its COW avoids its reservations
/// (outside_reserve), so with the pool empty it takes a surplus page and the child keeps the
/// original; without overcommit unmap_ref_private() takes the page from the child, whose next
/// fault is SIGBUS.
#[test]
fn the_owners_cow_takes_a_surplus_page_before_unmapping_the_child() {
    for profile in Profile::all() {
        for overcommit in [0, 1] {
            let (mut k, p, c, a) = forked(profile, overcommit);
            k.store(p, a, 0x22).unwrap();
            let what = format!("{profile:?}, overcommit {overcommit}");
            assert_eq!(k.load(p, a), Ok(0x22), "{what}");
            if overcommit == 0 {
                assert_eq!(settle(&k), pool(1, 0, 0, 0), "{what}");
                assert_eq!(k.load(c, a), Err(Signal::Bus), "{what}: unmapped");
            } else {
                assert_eq!(settle(&k), pool(2, 0, 0, 1), "{what}");
                assert_eq!(k.load(c, a), Ok(0x11), "{what}: the child keeps it");
            }
            exit_forked(k, p, c);
        }
    }
}

/// set_max_huge_pages(): lowering below what is in use or reserved frees the unpromised free
/// pages and makes the rest surplus; raising turns surplus pages persistent before it
/// allocates anything.
#[test]
fn set_nr_hugepages_makes_pages_surplus_and_takes_them_back() {
    for profile in Profile::all() {
        let (mut k, t) = boot(profile, 4, 0);
        let a = mmap(&mut k, t, 2, PRIVATE).unwrap();
        k.store(t, a, 1).unwrap();
        assert_eq!(settle(&k), pool(4, 3, 1, 0), "{profile:?}");
        // Two pages stay (one in use, one reserved): two leave, one becomes surplus.
        assert_eq!(k.set_nr_hugepages(1), 1, "{profile:?}");
        assert_eq!(settle(&k), pool(2, 1, 1, 1), "{profile:?}");
        // Raising converts the surplus page first: the allocator is not asked for it.
        k.fail_page_alloc(0, 1);
        assert_eq!(k.set_nr_hugepages(2), 2, "{profile:?}");
        assert_eq!(
            k.injected_alloc_failures(),
            0,
            "{profile:?}: nothing allocated"
        );
        k.fail_page_alloc(0, 0);
        assert_eq!(settle(&k), pool(2, 1, 1, 0), "{profile:?}");
        // Past the surplus pages, fresh pages are allocated.
        assert_eq!(k.set_nr_hugepages(3), 3, "{profile:?}");
        assert_eq!(settle(&k), pool(3, 2, 1, 0), "{profile:?}");
        // To zero: the free unpromised page leaves, the used and reserved ones are surplus
        // and leave as they are freed and unreserved.
        assert_eq!(k.set_nr_hugepages(0), 0, "{profile:?}");
        assert_eq!(settle(&k), pool(2, 1, 1, 2), "{profile:?}");
        assert_eq!(k.load(t, a), Ok(1), "{profile:?}");
        k.munmap(t, a, 2 * HPAGE).unwrap();
        assert_eq!(settle(&k), pool(0, 0, 0, 0), "{profile:?}");
        exit_idle(&mut k, t, 0);
    }
}

/// Gathered surplus pages count toward a raised nr_hugepages like any other surplus page.
#[test]
fn raising_the_pool_keeps_gathered_surplus_pages() {
    for profile in Profile::all() {
        let (mut k, t) = boot(profile, 0, 2);
        let a = mmap(&mut k, t, 2, PRIVATE).unwrap();
        assert_eq!(settle(&k), pool(2, 2, 2, 2), "{profile:?}");
        assert_eq!(k.set_nr_hugepages(1), 1, "{profile:?}");
        assert_eq!(settle(&k), pool(2, 2, 2, 1), "{profile:?}");
        // The persistent page stays when its reservation goes; one surplus page leaves.
        k.munmap(t, a, 2 * HPAGE).unwrap();
        assert_eq!(settle(&k), pool(1, 1, 0, 0), "{profile:?}");
        exit_idle(&mut k, t, 1);
    }
}

/// A shared mapping reserves in the file: its reservation gathers surplus pages too. A hole
/// punch releases only the reserve map entries of the pages it frees (5.19, and still 6.x),
/// so the surplus pages backing the hole's other reservations stay; truncation returns them.
#[test]
fn file_reservations_gather_surplus_pages_kept_by_punch_returned_by_truncate() {
    for profile in Profile::all() {
        let (mut k, t) = boot(profile, 1, 2);
        let fd = k.memfd_create(t, "huge", MFD_HUGETLB).unwrap() as i64;
        k.ftruncate(t, fd, 3 * HPAGE as i64).unwrap();
        let s = k.mmap(t, 0, 3 * HPAGE, RW, MAP_SHARED, fd, 0).unwrap();
        assert_eq!(settle(&k), pool(3, 3, 3, 2), "{profile:?}");
        k.store(t, s, 1).unwrap();
        assert_eq!(settle(&k), pool(3, 2, 2, 2), "{profile:?}");
        let punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        k.fallocate(t, fd, punch, HPAGE as i64, 2 * HPAGE as i64)
            .unwrap();
        assert_eq!(
            settle(&k),
            pool(3, 2, 2, 2),
            "{profile:?}: reservations kept"
        );
        k.fallocate(t, fd, punch, 0, HPAGE as i64).unwrap();
        assert_eq!(settle(&k), pool(2, 2, 2, 1), "{profile:?}: the page left");
        // The punched index lost its reservation: faulting it again takes a free page nobody
        // was promised, and there is none (the two free pages are promised) but a surplus one.
        assert_eq!(k.store(t, s, 2), Ok(()), "{profile:?}");
        assert_eq!(settle(&k), pool(3, 2, 2, 2), "{profile:?}");
        k.ftruncate(t, fd, 0).unwrap();
        assert_eq!(settle(&k), pool(1, 1, 0, 0), "{profile:?}");
        exit_idle(&mut k, t, 1);
    }
}

/// hugetlbfs_fallocate() allocates without reservations: past the free pool it takes surplus
/// pages, ENOSPC at the limit, keeping what it allocated.
#[test]
fn fallocate_allocates_surplus_pages_up_to_the_limit() {
    for profile in Profile::all() {
        let (mut k, t) = boot(profile, 0, 1);
        let fd = k.memfd_create(t, "huge", MFD_HUGETLB).unwrap() as i64;
        let r = k.fallocate(t, fd, 0, 0, 2 * HPAGE as i64);
        assert_eq!(r, Err(Errno::ENOSPC), "{profile:?}");
        assert_eq!(settle(&k), pool(1, 0, 0, 1), "{profile:?}");
        k.close(t, fd).unwrap();
        assert_eq!(settle(&k), pool(0, 0, 0, 0), "{profile:?}");
        exit_idle(&mut k, t, 0);
    }
}

// ---- injected allocation failures ----

/// A surplus page the page allocator refuses fails the whole reservation: ENOMEM at mmap, and
/// the pages gathered so far go back.
#[test]
fn an_injected_failure_while_gathering_is_enomem_and_keeps_nothing() {
    for profile in Profile::all() {
        let (mut k, t) = boot(profile, 0, 3);
        let frames = k.frames_in_use();
        k.fail_page_alloc(1, 1);
        assert_eq!(
            mmap(&mut k, t, 3, PRIVATE),
            Err(Errno::ENOMEM),
            "{profile:?}"
        );
        assert_eq!(k.injected_alloc_failures(), 1, "{profile:?}");
        assert_eq!(settle(&k), pool(0, 0, 0, 0), "{profile:?}");
        assert_eq!(
            k.frames_in_use(),
            frames,
            "{profile:?}: the first page went back"
        );
        // The same reservation succeeds once the allocator gives pages again.
        let a = mmap(&mut k, t, 3, PRIVATE).expect("mmap");
        assert_eq!(settle(&k), pool(3, 3, 3, 3), "{profile:?}");
        assert_eq!(k.frames_in_use(), frames + 3 * NR, "{profile:?}");
        k.munmap(t, a, 3 * HPAGE).unwrap();
        exit_idle(&mut k, t, 0);
    }
}

/// A fault whose surplus page the allocator refuses is SIGBUS (alloc_huge_page()'s -ENOSPC
/// through vmf_error()); the next attempt succeeds.
#[test]
fn an_injected_failure_at_fault_is_sigbus_and_keeps_nothing() {
    for profile in Profile::all() {
        let (mut k, t) = boot(profile, 0, 2);
        let a = mmap(&mut k, t, 2, PRIVATE | MAP_NORESERVE).unwrap();
        k.store(t, a, 1).unwrap();
        assert_eq!(settle(&k), pool(1, 0, 0, 1), "{profile:?}");
        let frames = k.frames_in_use();
        k.fail_page_alloc(0, 1);
        assert_eq!(k.store(t, a + HPAGE, 2), Err(Signal::Bus), "{profile:?}");
        assert_eq!(k.injected_alloc_failures(), 1, "{profile:?}");
        assert_eq!(settle(&k), pool(1, 0, 0, 1), "{profile:?}");
        assert_eq!(k.frames_in_use(), frames, "{profile:?}");
        assert_eq!(k.store(t, a + HPAGE, 2), Ok(()), "{profile:?}");
        assert_eq!(settle(&k), pool(2, 0, 0, 2), "{profile:?}");
        exit_idle(&mut k, t, 0);
    }
}

/// At the limit alloc_surplus_huge_page() refuses before asking the page allocator: an armed
/// injector is not consumed.
#[test]
fn the_limit_refuses_before_the_page_allocator_is_asked() {
    for profile in Profile::all() {
        let (mut k, t) = boot(profile, 0, 1);
        let a = mmap(&mut k, t, 2, PRIVATE | MAP_NORESERVE).unwrap();
        k.store(t, a, 1).unwrap();
        k.fail_page_alloc(0, 1);
        assert_eq!(k.store(t, a + HPAGE, 2), Err(Signal::Bus), "{profile:?}");
        assert_eq!(k.injected_alloc_failures(), 0, "{profile:?}");
        assert_eq!(
            mmap(&mut k, t, 1, PRIVATE),
            Err(Errno::ENOMEM),
            "{profile:?}"
        );
        assert_eq!(k.injected_alloc_failures(), 0, "{profile:?}");
        k.fail_page_alloc(0, 0);
        assert_eq!(settle(&k), pool(1, 0, 0, 1), "{profile:?}");
        exit_idle(&mut k, t, 0);
    }
}

/// A fork child's COW whose surplus page the allocator refuses is SIGBUS; the parent's page
/// and the pool are untouched.
#[test]
fn an_injected_failure_in_a_childs_cow_is_sigbus() {
    for profile in Profile::all() {
        let (mut k, p, c, a) = forked(profile, 1);
        let frames = k.frames_in_use();
        k.fail_page_alloc(0, 1);
        assert_eq!(k.store(c, a, 0x22), Err(Signal::Bus), "{profile:?}");
        assert_eq!(k.injected_alloc_failures(), 1, "{profile:?}");
        assert_eq!(settle(&k), pool(1, 0, 0, 0), "{profile:?}");
        assert_eq!(k.frames_in_use(), frames, "{profile:?}");
        assert_eq!(k.load(p, a), Ok(0x11), "{profile:?}");
        assert_eq!(
            k.store(c, a, 0x22),
            Ok(()),
            "{profile:?}: the retry gets one"
        );
        assert_eq!(settle(&k), pool(2, 0, 0, 1), "{profile:?}");
        exit_forked(k, p, c);
    }
}

/// The owner's COW whose surplus page the allocator refuses falls back to
/// unmap_ref_private(): the owner keeps the page, the child's next fault is SIGBUS.
#[test]
fn an_injected_failure_in_the_owners_cow_unmaps_the_child() {
    for profile in Profile::all() {
        let (mut k, p, c, a) = forked(profile, 1);
        k.fail_page_alloc(0, 1);
        assert_eq!(k.store(p, a, 0x22), Ok(()), "{profile:?}");
        assert_eq!(k.injected_alloc_failures(), 1, "{profile:?}");
        assert_eq!(settle(&k), pool(1, 0, 0, 0), "{profile:?}");
        assert_eq!(k.load(c, a), Err(Signal::Bus), "{profile:?}");
        assert_eq!(k.load(p, a), Ok(0x22), "{profile:?}");
        exit_forked(k, p, c);
    }
}

/// alloc_pool_huge_page() refused: set_max_huge_pages() stops where it got.
#[test]
fn an_injected_failure_growing_the_pool_stops_it_short() {
    let (mut k, t) = boot(Profile::Linux519, 0, 0);
    k.fail_page_alloc(1, 1);
    assert_eq!(k.set_nr_hugepages(3), 1);
    assert_eq!(settle(&k), pool(1, 1, 0, 0));
    assert_eq!(k.set_nr_hugepages(3), 3);
    exit_idle(&mut k, t, 3);
}
