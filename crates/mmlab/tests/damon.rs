//! DAMON in the model: the KUnit vectors of 5.19's mm/damon/core-test.h and vaddr-test.h
//! (DAMON_MIN_REGION = 1 there, passed as `min` here), then the kdamond as a kernel thread on
//! the model's clock: sampling through the accessed bits, the callbacks and their errors,
//! watermarks and DAMOS actions doing their work.

use mmlab::mm::damon::core::{
    merge_regions_of, merge_two_regions, set_regions, split_region_at, split_regions_of, Region,
};
use mmlab::mm::damon::vaddr::{evenly_split_region, three_regions};
use mmlab::mm::damon::{Attrs, CtxId, Damos, DamosAction, OpsId, Prng, Target, WmarkMetric};
use mmlab::uapi::*;
use mmlab::{Config, Errno, Kernel, Tid};

const MS: u64 = 1_000_000;
const PAGE: u64 = 4096;

fn regions(pairs: &[(u64, u64)]) -> Vec<Region> {
    pairs.iter().map(|&(s, e)| Region::new(s, e)).collect()
}

fn bounds(rs: &[Region]) -> Vec<(u64, u64)> {
    rs.iter().map(|r| (r.start, r.end)).collect()
}

// ---- core-test.h ----

#[test]
fn kunit_split_at() {
    let mut rs = regions(&[(0, 100)]);
    split_region_at(&mut rs, 0, 25);
    assert_eq!(bounds(&rs), [(0, 25), (25, 100)]);
}

#[test]
fn kunit_merge_two() {
    let mut rs = regions(&[(0, 100), (100, 300)]);
    rs[0].nr_accesses = 10;
    rs[1].nr_accesses = 20;
    let r2 = rs[1];
    merge_two_regions(&mut rs[0], &r2);
    assert_eq!((rs[0].start, rs[0].end, rs[0].nr_accesses), (0, 300, 16));
}

#[test]
fn kunit_merge_regions_of() {
    let sa = [0, 100, 114, 122, 130, 156, 170, 184];
    let ea = [100, 112, 122, 130, 156, 170, 184, 230];
    let nrs = [0, 0, 10, 10, 20, 30, 1, 2];
    let mut rs: Vec<Region> = (0..8)
        .map(|i| Region {
            nr_accesses: nrs[i],
            ..Region::new(sa[i], ea[i])
        })
        .collect();
    merge_regions_of(&mut rs, 9, 9999);
    assert_eq!(
        bounds(&rs),
        [(0, 112), (114, 130), (130, 156), (156, 170), (170, 230)]
    );
}

#[test]
fn kunit_split_regions_of() {
    let mut rng = Prng::new(7);
    for _ in 0..100 {
        let mut rs = regions(&[(0, 22)]);
        split_regions_of(&mut rs, 2, &mut rng, 1);
        assert!(rs.len() <= 2);
        let mut rs = regions(&[(0, 220)]);
        split_regions_of(&mut rs, 4, &mut rng, 1);
        assert!(rs.len() <= 4);
        assert_eq!((rs[0].start, rs.last().unwrap().end), (0, 220));
        assert!(rs.windows(2).all(|w| w[0].end == w[1].start));
    }
}

#[test]
fn kunit_aggregate_and_ops_registration() {
    let mut k = Kernel::new(Config::default());
    let c = k.damon_new_ctx();
    for o in OpsId::ALL {
        assert_eq!(k.damon_select_ops(c, o), Ok(()));
    }
    assert_eq!(OpsId::from_name("nope"), None);
    // damon_set_attrs(): min_nr_regions < 3 or > max is EINVAL, nothing else checked.
    let a = Attrs {
        min_nr_regions: 2,
        ..Attrs::default()
    };
    assert_eq!(k.damon_set_attrs(c, a), Err(Errno::EINVAL));
    let a = Attrs {
        min_nr_regions: 11,
        max_nr_regions: 10,
        ..Attrs::default()
    };
    assert_eq!(k.damon_set_attrs(c, a), Err(Errno::EINVAL));
    let a = Attrs {
        sample_interval: 0,
        aggr_interval: 0,
        ..Attrs::default()
    };
    assert_eq!(k.damon_set_attrs(c, a), Ok(()));
}

// ---- vaddr-test.h ----

#[test]
fn kunit_three_regions_in_vmas() {
    let vmas = [
        (10, 20),
        (20, 25),
        (200, 210),
        (210, 220),
        (300, 305),
        (307, 330),
    ];
    assert_eq!(
        three_regions(&vmas, 1),
        Some([(10, 25), (200, 220), (300, 330)])
    );
    assert_eq!(three_regions(&[(10, 20), (30, 40)], 1), None, "one gap");
}

fn apply_three(ranges: [(u64, u64); 3], expected: &[(u64, u64)]) {
    let mut rs = regions(&[
        (10, 20),
        (20, 30),
        (50, 55),
        (55, 57),
        (57, 59),
        (70, 80),
        (80, 90),
        (90, 100),
    ]);
    set_regions(&mut rs, &ranges, 1);
    assert_eq!(bounds(&rs), expected);
}

#[test]
fn kunit_apply_three_regions() {
    apply_three(
        [(5, 27), (45, 55), (73, 104)],
        &[(5, 20), (20, 27), (45, 55), (73, 80), (80, 90), (90, 104)],
    );
    apply_three(
        [(5, 27), (56, 57), (65, 104)],
        &[(5, 20), (20, 27), (56, 57), (65, 80), (80, 90), (90, 104)],
    );
    apply_three(
        [(5, 27), (61, 63), (65, 104)],
        &[(5, 20), (20, 27), (61, 63), (65, 80), (80, 90), (90, 104)],
    );
    apply_three([(5, 7), (30, 32), (65, 68)], &[(5, 7), (30, 32), (65, 68)]);
}

#[test]
fn set_regions_aligns_without_filling_holes() {
    // Alignment comes after the caller's checks; a hole between kept regions stays.
    // The research spec says this gives [0, 8192) and [4096, 8192); 5.19's code refits the
    // region the first range created to the second range: the first page drops out.
    let mut rs = Vec::new();
    set_regions(&mut rs, &[(0, 4097), (4097, 8192)], PAGE);
    assert_eq!(bounds(&rs), [(4096, 8192)]);
    let mut rs = regions(&[(0, PAGE), (3 * PAGE, 4 * PAGE)]);
    set_regions(&mut rs, &[(0, 4 * PAGE)], PAGE);
    assert_eq!(bounds(&rs), [(0, PAGE), (3 * PAGE, 4 * PAGE)]);
    set_regions(&mut rs, &[], PAGE);
    assert!(rs.is_empty());
}

#[test]
fn kunit_split_evenly() {
    let fail = |s, e, n| {
        let mut rs = regions(&[(s, e)]);
        assert_eq!(evenly_split_region(&mut rs, 0, n, 1), 1);
        assert_eq!(bounds(&rs), [(s, e)]);
    };
    let succ = |s: u64, e: u64, n: u64| {
        let mut rs = regions(&[(s, e)]);
        assert_eq!(evenly_split_region(&mut rs, 0, n, 1) as u64, n);
        let w = (e - s) / n;
        for (i, r) in rs.iter().enumerate() {
            let i = i as u64;
            assert_eq!(r.start, s + i * w);
            assert_eq!(r.end, if i == n - 1 { e } else { s + (i + 1) * w });
        }
    };
    fail(0, 100, 0);
    succ(0, 100, 10);
    succ(5, 59, 5);
    fail(5, 6, 2);
}

// ---- the kdamond on the model ----

/// A process with `pages` of anonymous memory, all touched, in three separate mappings
/// (vaddr needs two gaps), and its first mapping's address.
fn process(k: &mut Kernel, pages: u64) -> (Tid, u64) {
    let t = k.spawn_process(0).unwrap();
    let len = pages * PAGE;
    let rw = PROT_READ | PROT_WRITE;
    let anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    let base = 0x1000_0000;
    k.mmap(t, base, len, rw, anon, -1, 0).unwrap();
    k.mmap(t, base + 0x1000_0000, PAGE, rw, anon, -1, 0)
        .unwrap();
    k.mmap(t, base + 0x2000_0000, PAGE, rw, anon, -1, 0)
        .unwrap();
    k.memset(t, base, 1, len).unwrap();
    k.lru_add_drain_all();
    (t, base)
}

fn pid_of(k: &Kernel, t: Tid) -> usize {
    k.find_vpid(k.task_tgid_nr(t).unwrap()).unwrap()
}

fn ctx_for(k: &mut Kernel, t: Tid, ops: OpsId, ranges: &[(u64, u64)]) -> CtxId {
    let c = k.damon_new_ctx();
    k.damon_select_ops(c, ops).unwrap();
    let pid = pid_of(k, t);
    let ctx = k.damon_ctx_mut(c).unwrap();
    ctx.targets.push(Target {
        pid: Some(pid),
        regions: Vec::new(),
    });
    set_regions(&mut ctx.targets[0].regions, ranges, PAGE);
    c
}

#[test]
fn kdamond_samples_on_the_clock_and_finds_the_hot_part() {
    let mut k = Kernel::new(Config::default());
    // 2048 pages: more than the TLB holds, so each sweep's accesses walk the page table and
    // set accessed bits again (a TLB hit does not, as on x86).
    let (t, base) = process(&mut k, 2048);
    let c = ctx_for(&mut k, t, OpsId::Fvaddr, &[(base, base + 2048 * PAGE)]);
    k.damon_ctx_mut(c).unwrap().records = Some(Vec::new());
    k.damon_start(&[c], false).unwrap();
    assert_eq!(k.damon_start(&[c], false), Err(Errno::EBUSY));
    // Sweep the first half every 5 ms for one second; the second half stays idle.
    for _ in 0..200 {
        for p in 0..1024 {
            k.load(t, base + p * PAGE).unwrap();
        }
        k.advance_time(5 * MS);
    }
    let ctx = k.damon_ctx(c).unwrap();
    assert!(
        ctx.aggregations >= 8,
        "{} aggregations in 1 s",
        ctx.aggregations
    );
    let recs = ctx.records.as_ref().unwrap();
    let last_t = recs.last().unwrap().time_ns;
    let last: Vec<_> = recs.iter().filter(|r| r.time_ns == last_t).collect();
    let hot: u64 = last
        .iter()
        .filter(|r| r.end <= base + 1024 * PAGE)
        .map(|r| r.nr_accesses as u64)
        .min()
        .unwrap();
    let cold: u64 = last
        .iter()
        .filter(|r| r.start >= base + 1024 * PAGE)
        .map(|r| r.nr_accesses as u64)
        .max()
        .unwrap();
    assert!(hot >= 10 && cold == 0, "hot {hot}, cold {cold}");
    // Regions stay within [min, max] and cover the range without overlap.
    let regs = &k.damon_ctx(c).unwrap().targets[0].regions;
    assert!(regs.len() >= 2 && regs.len() <= 1000);
    assert!(regs.windows(2).all(|w| w[0].end <= w[1].start));
    k.damon_stop(c).unwrap();
    assert_eq!(k.damon_stop(c), Err(Errno::EPERM));
    assert!(k.damon_ctx(c).unwrap().targets[0].regions.is_empty());
}

#[test]
fn vaddr_init_builds_three_regions_split_evenly() {
    let mut k = Kernel::new(Config::default());
    let (t, base) = process(&mut k, 64);
    let c = ctx_for(&mut k, t, OpsId::Vaddr, &[]);
    k.damon_start(&[c], false).unwrap();
    k.advance_time(MS);
    let regs = &k.damon_ctx(c).unwrap().targets[0].regions;
    assert_eq!(regs.first().unwrap().start, base);
    assert_eq!(regs.last().unwrap().end, base + 0x2000_0000 + PAGE);
    assert!(regs.len() >= 10, "{} regions", regs.len());
}

fn fail_cb(_: &mut Kernel, _: CtxId) -> Result<(), Errno> {
    Err(Errno::EINVAL)
}

fn count_cb(k: &mut Kernel, c: CtxId) -> Result<(), Errno> {
    k.damon_ctx_mut(c).unwrap().attrs.max_nr_regions += 1;
    Ok(())
}

#[test]
fn a_failing_callback_ends_the_kdamond_at_once() {
    let mut k = Kernel::new(Config::default());
    let (t, base) = process(&mut k, 64);
    let c = ctx_for(&mut k, t, OpsId::Fvaddr, &[(base, base + 64 * PAGE)]);
    k.damon_ctx_mut(c).unwrap().callback.after_aggregation = Some(fail_cb);
    k.damon_ctx_mut(c).unwrap().records = Some(Vec::new());
    k.damon_start(&[c], false).unwrap();
    k.advance_time(50 * MS);
    assert!(k.damon_is_running(c), "no aggregation yet");
    k.advance_time(100 * MS);
    assert!(
        !k.damon_is_running(c),
        "the first aggregation's callback failed"
    );
    // 5.19: the rest of that iteration was skipped (no trace records, no reset).
    let ctx = k.damon_ctx(c).unwrap();
    assert_eq!(ctx.aggregations, 0);
    assert!(ctx.records.as_ref().unwrap().is_empty());
    // A failing after_sampling ends it before the first sleep.
    let c2 = ctx_for(&mut k, t, OpsId::Fvaddr, &[(base, base + 64 * PAGE)]);
    k.damon_ctx_mut(c2).unwrap().callback.after_sampling = Some(fail_cb);
    k.damon_start(&[c2], false).unwrap();
    k.advance_time(MS);
    assert!(!k.damon_is_running(c2));
}

#[test]
fn after_wmarks_check_runs_while_every_scheme_is_off() {
    let mut k = Kernel::new(Config::default());
    let (t, base) = process(&mut k, 64);
    let c = ctx_for(&mut k, t, OpsId::Fvaddr, &[(base, base + 64 * PAGE)]);
    let mut s = Damos::new(DamosAction::Stat);
    // Free memory is far above a high watermark of 0 per mille: deactivated.
    s.wmarks.metric = WmarkMetric::FreeMemRate;
    s.wmarks.interval = 10_000;
    let ctx = k.damon_ctx_mut(c).unwrap();
    ctx.schemes.push(s);
    ctx.callback.after_wmarks_check = Some(count_cb);
    ctx.callback.after_aggregation = Some(count_cb);
    let before = ctx.attrs.max_nr_regions;
    k.damon_start(&[c], false).unwrap();
    k.advance_time(100 * MS + 1);
    let ctx = k.damon_ctx(c).unwrap();
    assert_eq!(ctx.attrs.max_nr_regions - before, 10, "once per 10 ms wait");
    assert_eq!(ctx.aggregations, 0, "no sampling while deactivated");
    assert!(!ctx.schemes[0].wmarks.activated);
    // A failing after_wmarks_check ends the kdamond.
    k.damon_ctx_mut(c).unwrap().callback.after_wmarks_check = Some(fail_cb);
    k.advance_time(10 * MS);
    assert!(!k.damon_is_running(c));
}

#[test]
fn pageout_scheme_reclaims_the_idle_part_and_counts_stats() {
    let mut k = Kernel::new(Config::default());
    k.create_zram("zram0", 16 << 20).unwrap();
    let (t, base) = process(&mut k, 2048);
    k.swapon(t, "zram0", 0).unwrap();
    let c = ctx_for(&mut k, t, OpsId::Fvaddr, &[(base, base + 2048 * PAGE)]);
    let mut s = Damos::new(DamosAction::Pageout);
    s.max_nr_accesses = 0;
    s.min_age_region = 5;
    k.damon_ctx_mut(c).unwrap().schemes.push(s);
    k.damon_start(&[c], false).unwrap();
    let rss0 = k.smaps(t, base).unwrap().unwrap().1.rss;
    for _ in 0..400 {
        for p in 0..1024 {
            k.load(t, base + p * PAGE).unwrap();
        }
        k.advance_time(5 * MS);
    }
    let st = k.damon_ctx(c).unwrap().schemes[0].stat;
    assert!(st.nr_tried > 0 && st.sz_applied > 0, "{st:?}");
    let rss = k.smaps(t, base).unwrap().unwrap().1.rss;
    assert!(
        rss < rss0,
        "rss {rss} of {rss0}: the cold half was paged out"
    );
    assert!(
        rss >= 1024 * PAGE - 64 * PAGE,
        "rss {rss}: the hot half stays"
    );
}

#[test]
fn paddr_sees_accesses_through_the_reverse_map() {
    let mut k = Kernel::new(Config::default());
    let (t, base) = process(&mut k, 2048);
    let c = k.damon_new_ctx();
    k.damon_select_ops(c, OpsId::Paddr).unwrap();
    let total = k.sysfs_read("/proc/meminfo").unwrap();
    assert!(total.contains("MemTotal"));
    let end = Config::default().memory_bytes;
    let ctx = k.damon_ctx_mut(c).unwrap();
    ctx.targets.push(Target::default());
    set_regions(&mut ctx.targets[0].regions, &[(0, end)], PAGE);
    k.damon_start(&[c], true).unwrap();
    let other = k.damon_new_ctx();
    assert_eq!(
        k.damon_start(&[other], false),
        Err(Errno::EBUSY),
        "exclusive"
    );
    let mut seen = 0;
    for _ in 0..200 {
        for p in 0..2048 {
            k.load(t, base + p * PAGE).unwrap();
        }
        k.advance_time(5 * MS);
        seen = seen.max(
            k.damon_ctx(c).unwrap().targets[0]
                .regions
                .iter()
                .map(|r| r.last_nr_accesses)
                .max()
                .unwrap_or(0),
        );
    }
    assert!(seen > 0, "some physical region was seen accessed");
    // paddr never stops by itself, even with no process left.
    k.exit(t).unwrap();
    k.advance_time(200 * MS);
    assert!(k.damon_is_running(c));
}

// ---- the sysfs tree ----

const ADMIN: &str = "/sys/kernel/mm/damon/admin";

fn w(k: &mut Kernel, rel: &str, v: &str) -> Result<(), Errno> {
    k.sysfs_write(&format!("{ADMIN}/{rel}"), v)
}

fn r(k: &Kernel, rel: &str) -> String {
    k.sysfs_read(&format!("{ADMIN}/{rel}"))
        .unwrap_or_else(|e| panic!("{rel}: {e:?}"))
        .trim_end()
        .to_string()
}

const C0: &str = "kdamonds/0/contexts/0";

#[test]
fn sysfs_nr_files_make_directories_with_linuxs_errnos() {
    let mut k = Kernel::new(Config::default());
    assert_eq!(r(&k, "kdamonds/nr_kdamonds"), "0");
    assert_eq!(
        k.sysfs_read(&format!("{ADMIN}/kdamonds/0/state")),
        Err(Errno::ENOENT)
    );
    assert_eq!(w(&mut k, "kdamonds/nr_kdamonds", "-1"), Err(Errno::EINVAL));
    assert_eq!(w(&mut k, "kdamonds/nr_kdamonds", "abc"), Err(Errno::EINVAL));
    assert_eq!(
        w(&mut k, "kdamonds/nr_kdamonds", "99999999999"),
        Err(Errno::ERANGE)
    );
    w(&mut k, "kdamonds/nr_kdamonds", "0x1").unwrap();
    assert_eq!(r(&k, "kdamonds/0/state"), "off");
    assert_eq!(r(&k, "kdamonds/0/pid"), "-1");
    assert_eq!(w(&mut k, "kdamonds/0/pid", "1"), Err(Errno::EACCES));
    assert_eq!(
        w(&mut k, "kdamonds/0/contexts/nr_contexts", "2"),
        Err(Errno::EINVAL)
    );
    w(&mut k, "kdamonds/0/contexts/nr_contexts", "1").unwrap();
    assert_eq!(
        r(&k, &format!("{C0}/avail_operations")),
        "vaddr\nfvaddr\npaddr"
    );
    assert_eq!(r(&k, &format!("{C0}/operations")), "vaddr");
    assert_eq!(
        w(&mut k, &format!("{C0}/operations"), "xaddr"),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        r(&k, &format!("{C0}/monitoring_attrs/intervals/update_us")),
        "60000000"
    );
    assert_eq!(
        w(
            &mut k,
            &format!("{C0}/monitoring_attrs/intervals/sample_us"),
            "-1"
        ),
        Err(Errno::EINVAL)
    );
    w(&mut k, &format!("{C0}/schemes/nr_schemes"), "1").unwrap();
    assert_eq!(r(&k, &format!("{C0}/schemes/0/action")), "stat");
    assert_eq!(r(&k, &format!("{C0}/schemes/0/watermarks/metric")), "none");
    assert_eq!(
        w(&mut k, &format!("{C0}/schemes/0/stats/nr_tried"), "1"),
        Err(Errno::EACCES)
    );
    assert_eq!(
        w(&mut k, &format!("{C0}/schemes/0/nope"), "1"),
        Err(Errno::EACCES)
    );
    assert_eq!(
        k.sysfs_read(&format!("{ADMIN}/kdamonds/0")),
        Err(Errno::EISDIR)
    );
    assert_eq!(
        k.sysfs_read(&format!("{ADMIN}/kdamonds/0/state/x")),
        Err(Errno::ENOTDIR)
    );
    // Rewriting a count makes fresh directories.
    w(&mut k, &format!("{C0}/schemes/0/action"), "pageout").unwrap();
    w(&mut k, &format!("{C0}/schemes/nr_schemes"), "1").unwrap();
    assert_eq!(r(&k, &format!("{C0}/schemes/0/action")), "stat");
}

#[test]
fn sysfs_on_commit_stats_and_the_one_paddr_target_rule() {
    let mut k = Kernel::new(Config::default());
    let (t, base) = process(&mut k, 2048);
    let pid = k.task_tgid_nr(t).unwrap().to_string();
    w(&mut k, "kdamonds/nr_kdamonds", "1").unwrap();
    assert_eq!(
        w(&mut k, "kdamonds/0/state", "on"),
        Err(Errno::EINVAL),
        "no context"
    );
    w(&mut k, "kdamonds/0/contexts/nr_contexts", "1").unwrap();
    w(&mut k, &format!("{C0}/operations"), "fvaddr").unwrap();
    w(&mut k, &format!("{C0}/targets/nr_targets"), "1").unwrap();
    assert_eq!(
        w(&mut k, "kdamonds/0/state", "on"),
        Err(Errno::EINVAL),
        "pid 0 is no process"
    );
    assert_eq!(
        w(&mut k, "kdamonds/0/state", "off"),
        Err(Errno::EINVAL),
        "the failed on left no context"
    );
    w(&mut k, &format!("{C0}/targets/0/pid_target"), &pid).unwrap();
    w(&mut k, &format!("{C0}/targets/0/regions/nr_regions"), "1").unwrap();
    w(
        &mut k,
        &format!("{C0}/targets/0/regions/0/start"),
        &base.to_string(),
    )
    .unwrap();
    w(
        &mut k,
        &format!("{C0}/targets/0/regions/0/end"),
        &(base + 2048 * PAGE).to_string(),
    )
    .unwrap();
    w(&mut k, &format!("{C0}/schemes/nr_schemes"), "1").unwrap();
    w(
        &mut k,
        &format!("{C0}/schemes/0/access_pattern/sz/max"),
        &u64::MAX.to_string(),
    )
    .unwrap();
    w(
        &mut k,
        &format!("{C0}/schemes/0/access_pattern/nr_accesses/max"),
        "100",
    )
    .unwrap();
    w(
        &mut k,
        &format!("{C0}/schemes/0/access_pattern/age/max"),
        "1000000",
    )
    .unwrap();
    w(&mut k, "kdamonds/0/state", "on").unwrap();
    assert_eq!(r(&k, "kdamonds/0/state"), "on");
    assert_ne!(r(&k, "kdamonds/0/pid"), "-1");
    assert_eq!(w(&mut k, "kdamonds/0/state", "on"), Err(Errno::EBUSY));
    assert_eq!(w(&mut k, "kdamonds/nr_kdamonds", "2"), Err(Errno::EBUSY));
    k.advance_time(500 * MS);
    assert_eq!(
        r(&k, &format!("{C0}/schemes/0/stats/nr_tried")),
        "0",
        "a snapshot"
    );
    w(&mut k, "kdamonds/0/state", "update_schemes_stats").unwrap();
    let tried: u64 = r(&k, &format!("{C0}/schemes/0/stats/nr_tried"))
        .parse()
        .unwrap();
    assert!(tried > 0);
    // commit: new intervals reach the running context.
    w(
        &mut k,
        &format!("{C0}/monitoring_attrs/intervals/aggr_us"),
        "200000",
    )
    .unwrap();
    w(&mut k, "kdamonds/0/state", "commit").unwrap();
    let c = k.damon_ctxs_running().next().unwrap();
    assert_eq!(k.damon_ctx(c).unwrap().attrs.aggr_interval, 200_000);
    assert_eq!(
        k.damon_ctx(c).unwrap().schemes.len(),
        2,
        "5.19 appends: duplicates"
    );
    // A commit to paddr with two targets fails in the kdamond: it ends, the write succeeds.
    w(&mut k, &format!("{C0}/operations"), "paddr").unwrap();
    w(&mut k, &format!("{C0}/targets/nr_targets"), "2").unwrap();
    w(&mut k, "kdamonds/0/state", "commit").unwrap();
    assert_eq!(r(&k, "kdamonds/0/state"), "off");
    assert_eq!(w(&mut k, "kdamonds/0/state", "commit"), Err(Errno::EINVAL));
    assert_eq!(w(&mut k, "kdamonds/0/state", "off"), Err(Errno::EPERM));
    assert_eq!(
        w(&mut k, "kdamonds/0/state", "on"),
        Err(Errno::EINVAL),
        "two paddr targets"
    );
    w(&mut k, &format!("{C0}/targets/nr_targets"), "1").unwrap();
    w(&mut k, "kdamonds/0/state", "on").unwrap();
    w(&mut k, "kdamonds/0/state", "off").unwrap();
    assert_eq!(r(&k, "kdamonds/0/state"), "off");
}

// ---- workloads ----

/// masim's stairs shape, scaled down: four 4 MiB regions all read for a second, then each in
/// turn for a second.
const STAIRS: &str = "\
# regions
s0, 4194304
s1, 4194304
s2, 4194304
s3, 4194304

initial phase
1000
s0, 0, 4096, 1
s1, 0, 4096, 1
s2, 0, 4096, 1
s3, 0, 4096, 1

phase 0
1000
s0, 0, 4096, 50

phase 1
1000
s1, 0, 4096, 50

phase 2
1000
s2, 0, 4096, 50

phase 3
1000
s3, 0, 4096, 50
";

#[test]
fn pageout_scheme_reclaims_the_cold_stairs_of_a_masim_workload() {
    use mmlab::workload::{masim, Masim};
    let mut k = Kernel::new(Config::default());
    k.create_zram("zram0", 64 << 20).unwrap();
    let cfg = masim::parse(STAIRS).unwrap();
    let mut m = Masim::setup(&mut k, cfg, 10_000, 1).unwrap();
    k.swapon(m.tid, "zram0", 0).unwrap();
    k.lru_add_drain_all();
    let c = ctx_for(&mut k, m.tid, OpsId::Vaddr, &[]);
    let mut s = Damos::new(DamosAction::Pageout);
    s.min_sz_region = PAGE;
    s.max_nr_accesses = 0;
    s.min_age_region = 10; // one second idle
    k.damon_ctx_mut(c).unwrap().schemes.push(s);
    k.damon_start(&[c], false).unwrap();
    for pi in 0..m.cfg.phases.len() {
        let ms = m.cfg.phases[pi].time_ms;
        m.run_phase(&mut k, pi, ms, 1, |_, _| {}).unwrap();
    }
    assert_eq!(m.accesses, 5_000 * 10_000);
    let rss = |k: &Kernel, i: usize| k.smaps(m.tid, m.bases[i]).unwrap().unwrap().1.rss;
    let st = k.damon_ctx(c).unwrap().schemes[0].stat;
    assert!(st.sz_applied > 0, "{st:?}");
    assert!(
        rss(&k, 0) < 2 << 20,
        "s0 idle for 3 s: {} bytes resident",
        rss(&k, 0)
    );
    assert_eq!(rss(&k, 3), 4 << 20, "s3 is the current stair");
}
