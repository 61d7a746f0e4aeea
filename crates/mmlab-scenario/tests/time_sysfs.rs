//! `sleep(MS)`, `expect ... within MS`, `sysfs_read` / `sysfs_write` and the trace, on the
//! model: what they observe, how they fail, and what the check pass refuses before anything
//! runs.

use std::path::Path;

use mmlab::trace::Event;
use mmlab_scenario::observe::Observed;
use mmlab_scenario::{parse, run, ModelBackend, Status};

const KH: &str = "/sys/kernel/mm/transparent_hugepage/khugepaged";
const ENABLED: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

fn run_on(text: &str, b: &mut ModelBackend) -> mmlab_scenario::Report {
    let sc = parse(text, Path::new("t.mml")).unwrap_or_else(|e| panic!("{e}"));
    run(&sc, b)
}

fn parse_err(text: &str) -> mmlab_scenario::ParseError {
    parse(text, Path::new("t.mml")).expect_err("the check pass refuses it")
}

/// A process with a THP faulted in, so khugepaged knows its mm.
const THP_PROCESS: &str = "title \"t\"\nprocess P\n\
    P: p = mmap(NULL, 2 * HPAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\n\
    P: madvise(p, 2 * HPAGE_SIZE, MADV_HUGEPAGE)\n\
    P: store((p + HPAGE_SIZE - 1) & ~(HPAGE_SIZE - 1), 1)\n";

#[test]
fn sleep_moves_the_model_clock_and_kernel_threads_run() {
    let mut b = ModelBackend::default();
    let r = run_on(
        &format!(
            "{THP_PROCESS}P: sysfs_write(\"{KH}/scan_sleep_millisecs\", 100)\n\
             P: sleep(1000)\n\
             P: expect sysfs_read(\"{KH}/full_scans\") >= 10\n"
        ),
        &mut b,
    );
    assert_eq!(r.status, Status::Pass, "{:?}", r.failures);
    assert_eq!(b.kernel().unwrap().now_ns(), 1_000_000_000);
}

#[test]
fn a_wait_step_returns_as_soon_as_it_holds_or_fails_with_the_last_value() {
    let mut b = ModelBackend::default();
    let r = run_on(
        &format!(
            "{THP_PROCESS}P: n = sysfs_read(\"{KH}/full_scans\")\n\
             P: sysfs_write(\"{KH}/scan_sleep_millisecs\", 100)\n\
             P: expect sysfs_read(\"{KH}/full_scans\") >= n + 3 within 1000\n"
        ),
        &mut b,
    );
    assert_eq!(r.status, Status::Pass, "{:?}", r.failures);
    // The write woke khugepaged (a pass at once), then two 100 ms sleeps: polled every 1 ms,
    // the third pass is seen at 200 ms, not at the deadline.
    assert_eq!(b.kernel().unwrap().now_ns(), 200_000_000);
    let r = run_on(
        &format!("{THP_PROCESS}P: expect sysfs_read(\"{KH}/full_scans\") > 1000 within 50\n"),
        &mut b,
    );
    assert_eq!(r.status, Status::Fail);
    let f = &r.failures[0];
    assert_eq!(f.line, 6);
    assert!(f.expected.ends_with("> 1000 within 50"), "{}", f.expected);
    // The last value seen: the registration woke khugepaged into one pass.
    assert_eq!(f.observed, "1");
    assert_eq!(b.kernel().unwrap().now_ns(), 50_000_000, "it waited 50 ms");
}

#[test]
fn choice_files_compare_as_text_and_bad_writes_get_the_handlers_errno() {
    let mut b = ModelBackend::default();
    let r = run_on(
        &format!(
            "title \"t\"\nprocess P\n\
             P: expect sysfs_read(\"{ENABLED}\") == \"madvise\"\n\
             P: mode = sysfs_read(\"{ENABLED}\")\n\
             P: sysfs_write(\"{ENABLED}\", \"always\")\n\
             P: expect sysfs_read(\"{ENABLED}\") != mode\n\
             P: expect sysfs_read(\"{ENABLED}\") == \"never\"\n\
             P: expect sysfs_write(\"{ENABLED}\", \"often\") fails EINVAL\n\
             P: expect sysfs_read(\"{ENABLED}\") fails EACCES\n\
             P: expect sysfs_write(\"{KH}/full_scans\", 0) fails EACCES\n"
        ),
        &mut b,
    );
    assert_eq!(r.status, Status::Fail);
    let failed: Vec<(usize, &str)> = r
        .failures
        .iter()
        .map(|f| (f.line, f.observed.as_str()))
        .collect();
    assert_eq!(
        failed,
        [(7, "\"always\""), (9, "returned \"always\"")],
        "{:?}",
        r.failures
    );
    assert!(matches!(
        &r.failures[0].value,
        Observed::Text { left, right, .. } if left == "always" && right == "never"
    ));
}

#[test]
fn the_trace_lists_each_statement_with_the_events_it_caused() {
    let text = "title \"t\"\nprocess P\n\
        P: p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\n\
        P: store(p, 1)\n\
        P: expect load(p) == 1\n";
    let r = run_on(text, &mut ModelBackend::default());
    assert!(r.trace.is_empty(), "no trace unless asked for");
    let mut b = ModelBackend::default();
    b.trace = true;
    let r = run_on(text, &mut b);
    assert_eq!(r.status, Status::Pass);
    let lines: Vec<usize> = r.trace.iter().map(|s| s.line).collect();
    assert_eq!(lines, [2, 3, 4, 5]);
    assert_eq!(r.trace[2].step, "P: store(p, 1)");
    assert!(
        r.trace[2]
            .events
            .iter()
            .any(|e| matches!(e, Event::Fault { result: 0, .. })),
        "{:?}",
        r.trace[2].events
    );
    assert!(
        r.trace[3].events.is_empty(),
        "the load hits the mapped page"
    );
}

#[test]
fn paths_types_and_waits_are_checked_before_running() {
    let head = "title \"t\"\nprocess P\n";
    let cases: &[(&str, (usize, usize), &str)] = &[
        (
            "P: x = sysfs_read(\"/sys/kernel/mm/transparent_hugepage/enable\")\n",
            (3, 19),
            "no file `/sys/kernel/mm/transparent_hugepage/enable`",
        ),
        (
            "P: sysfs_write(\"/sys/kernel/mm/lru_gen/enabled\", 1)\n",
            (3, 16),
            "directories served",
        ),
        ("P: x = sysfs_read(ENABLED)\n", (3, 19), "a quoted path"),
        (
            "P: expect sysfs_read(\"/sys/kernel/mm/transparent_hugepage/enabled\") == 1\n",
            (3, 72),
            "a quoted string: the left side is text",
        ),
        (
            "P: expect sysfs_read(\"/sys/kernel/mm/transparent_hugepage/enabled\") < \"never\"\n",
            (3, 71),
            "texts compare with `==` or `!=`",
        ),
        (
            "P: expect sysfs_read(\"/sys/kernel/mm/transparent_hugepage/khugepaged/full_scans\") == \"1\"\n",
            (3, 86),
            "a number: the left side is a number",
        ),
        (
            "P: x = sysfs_read(\"/sys/kernel/mm/transparent_hugepage/enabled\") + 1\n",
            (3, 8),
            "this is text",
        ),
        ("P: x = sleep(10)\n", (3, 8), "a step of its own"),
        ("P: sleep(3600001)\n", (3, 10), "at most 3600000 ms"),
        (
            "P: expect minflt() > 0 within 3600001\n",
            (3, 31),
            "at most 3600000 ms",
        ),
        (
            "P: expect load(0) == 0 within 10\n",
            (3, 11),
            "load() in `expect ... within`",
        ),
        (
            "P: expect minflt() + munmap(0, 4096) > 0 within 10\n",
            (3, 22),
            "munmap() in `expect ... within`",
        ),
        ("P: expect mem(0, 1) == 0 within 10\n", (3, 26), "end of line"),
    ];
    for (body, at, needle) in cases {
        let e = parse_err(&format!("{head}{body}"));
        assert_eq!((e.line, e.col), *at, "{body}: {e}");
        assert!(e.msg.contains(needle), "{body}: {e}");
    }
}
