//! The runner against the model: the bundled suite passes, and wrong expectations, bad input
//! and unknown names are reported with their line instead of passing or panicking.

use std::path::{Path, PathBuf};

use mmlab_scenario::suite::{collect, run_file, InputError};
use mmlab_scenario::{parse, run, run_with, Limits, ModelBackend, Status};

fn run_text(text: &str) -> mmlab_scenario::Report {
    let sc = parse(text, Path::new("t.mml")).expect("parses");
    run(&sc, &mut ModelBackend::default())
}

const HEAD: &str = "title \"t\"\nprocess P\nP: p = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\n";

#[test]
fn bundled_suite_passes_on_the_model() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let (files, errors) = collect(&[root]);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(
        files.len() >= 30,
        "the issue asks for at least 30 scenarios, found {}",
        files.len()
    );
    let mut b = ModelBackend::default();
    for f in files {
        let r = run_file(&f, &mut b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, Status::Pass, "{}: {:?}", f.display(), r.failures);
        assert!(r.expectations > 0, "{} checks nothing", f.display());
    }
}

#[test]
fn a_false_expectation_fails_with_its_line_and_values() {
    let r = run_text(&format!(
        "{HEAD}P: store(p, 7)\nP: expect load(p) == 8\nP: expect load(p) == 7\n"
    ));
    assert_eq!(r.status, Status::Fail);
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].line, 5);
    assert_eq!(r.failures[0].observed, "0x07", "a byte reads in hex");
    assert!(r.failures[0].expected.contains("load(p) == 8"));
}

#[test]
fn a_signal_inside_an_expectation_is_a_failed_observation_and_the_scenario_goes_on() {
    let r = run_text(&format!(
        "{HEAD}P: expect store(0, 1) == 0\nP: expect load(p + 5) == 0\nP: expect load(0) == 1\nP: expect load(p) == 9\n"
    ));
    assert_eq!(r.status, Status::Fail);
    let got: Vec<(usize, &str)> = r
        .failures
        .iter()
        .map(|f| (f.line, f.observed.as_str()))
        .collect();
    assert_eq!(
        got,
        [(4, "raised SIGSEGV"), (6, "raised SIGSEGV"), (7, "0x00")]
    );
}

#[test]
fn every_kind_of_expectation_can_fail() {
    let cases = [
        "P: expect munmap(p, PAGE_SIZE) fails EINVAL\n",
        "P: expect mremap(p, PAGE_SIZE, PAGE_SIZE, 0) fails EFAULT\n",
        "P: expect store(p, 1) faults SIGSEGV\n",
        "P: store(p, 1)\nP: expect mem(p, PAGE_SIZE) == 1\n",
        "P: expect pagemap(p).present == 1\n",
        "P: expect minflt() > 0\n",
        "P: expect vma_count(p, p + 1) == 2\n",
        "P: expect load(p + 9 * PAGE_SIZE) faults SIGBUS\n",
    ];
    for c in cases {
        let r = run_text(&format!("{HEAD}{c}"));
        assert_eq!(r.status, Status::Fail, "should fail: {c}");
    }
}

#[test]
fn unexpected_errors_end_the_scenario_with_a_line() {
    for (body, needle) in [
        (
            "P: mremap(p + 64 * PAGE_SIZE, PAGE_SIZE, PAGE_SIZE, 0)\n",
            "fails EFAULT",
        ),
        ("P: store(0, 1)\n", "raised SIGSEGV"),
        (
            "P: expect model.counter(cow_fault) == 1\nP: x = 1\nP: y = 0\nP: z = x / y\n",
            "division by zero",
        ),
        ("P: v = 0x1ff\nP: store(p, v)\n", "0x1ff"),
    ] {
        let r = run_text(&format!("{HEAD}{body}"));
        assert_eq!(r.status, Status::Fail, "{body}");
        let last = r.failures.last().expect("a failure");
        assert!(last.ended, "{body}: {last:?}");
        assert!(
            last.observed.contains(needle) || last.expected.contains(needle),
            "{body}: {last:?}"
        );
    }
}

#[test]
fn model_only_probes_and_profiles_are_honoured() {
    let r = run_text("title \"t\"\nprofile linux-5.18\nprocess P\nP: p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\nP: store(p, 1)\nP: f = model.tlb_flushes()\nP: mprotect(p, PAGE_SIZE, PROT_READ)\nP: mprotect(p, PAGE_SIZE, PROT_READ | PROT_WRITE)\nP: expect model.tlb_flushes() - f == 2\nP: expect model.page(p).anon_exclusive == 0\n");
    assert_eq!(r.status, Status::Pass, "{:?}", r.failures);
    let e = parse("title \"t\"\nprofile linux-9.9\n", Path::new("t.mml")).unwrap_err();
    assert_eq!((e.line, e.col), (2, 9));
    assert!(e.msg.contains("unknown profile"), "{e}");
}

#[test]
fn the_arch_header_shows_swap_ptes_in_that_layout_and_is_model_only() {
    // A uffd-wp marker (swp_entry(30, 1)) is the swap-format PTE the model makes without
    // reclaim; 5.19 has markers only on x86-64, so for the others this checks the plumbing.
    let text = |arch: &str, want: &str| {
        format!(
            "title \"t\"\n{arch}process P\nP: uffd = userfaultfd(O_NONBLOCK)\nP: uffdio_api(uffd, UFFD_API, 0)\nP: fd = memfd_create(\"m\", 0)\nP: ftruncate(fd, PAGE_SIZE)\nP: s = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)\nP: uffdio_register(uffd, s, PAGE_SIZE, UFFDIO_REGISTER_MODE_WP)\nP: uffdio_writeprotect(uffd, s, PAGE_SIZE, UFFDIO_WRITEPROTECT_MODE_WP)\nP: expect model.pte(s) == {want}\n"
        )
    };
    for (arch, want) in [
        ("", "0xF7FFFFFFFFFFFC00"),
        ("arch x86_64\n", "0xF7FFFFFFFFFFFC00"),
        ("arch arm64\n", "0x1F0"),
        ("arch s390x\n", "0x1678"),
        ("arch ppc64\n", "0x400000000001001E"),
    ] {
        let r = run_text(&text(arch, want));
        assert_eq!(r.status, Status::Pass, "{arch}: {:?}", r.failures);
        // The wrong layout's value fails.
        let r = run_text(&text(arch, "0x1E"));
        assert_eq!(r.status, Status::Fail, "{arch}");
    }
    let sc = parse(&text("arch arm64\n", "0"), Path::new("t.mml")).unwrap();
    let setup = mmlab_scenario::run::setup_of(&sc);
    assert_eq!(setup.arch.as_deref(), Some("arm64"));
    assert_eq!(
        setup.model_only.as_deref(),
        Some("arch arm64: other architectures' swap PTEs exist only as model codecs")
    );
    let sc = parse(&text("", "0"), Path::new("t.mml")).unwrap();
    assert_eq!(mmlab_scenario::run::setup_of(&sc).model_only, None);
}

#[test]
fn missing_and_malformed_files_are_input_errors() {
    let (files, errors) = collect(&[PathBuf::from("/nonexistent/x.mml")]);
    assert!(files.is_empty());
    assert_eq!(
        errors,
        vec![InputError::Missing("/nonexistent/x.mml".into())]
    );
    let dir = std::env::temp_dir().join(format!("mmlab-runner-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.mml");
    std::fs::write(&f, "title \"t\"\nP: x = (1 +\n").unwrap();
    match run_file(&f, &mut ModelBackend::default()) {
        Err(InputError::Parse(e)) => assert_eq!(
            (e.line, e.col, e.msg.as_str()),
            (2, 12, "expected an expression, found end of line")
        ),
        other => panic!("expected a parse error, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The parse (and check) error of a scenario text.
fn parse_err(text: &str) -> mmlab_scenario::ParseError {
    match parse(text, Path::new("t.mml")) {
        Ok(_) => panic!("should not parse:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn a_line_of_20000_terms_evaluates_without_exhausting_the_stack() {
    let terms = vec!["1"; 20_000].join(" + ");
    let r = run_text(&format!(
        "{HEAD}P: x = {terms}\nP: expect x == 20000\nP: expect {terms} - 20000 == 0\nP: expect {terms} == 1\n"
    ));
    assert_eq!(r.status, Status::Fail);
    let lines: Vec<(usize, u64)> = r.lines.iter().map(|l| (l.line, l.failed)).collect();
    assert_eq!(lines, [(5, 0), (6, 0), (7, 1)]);
    // The expectation is written back whole.
    assert_eq!(r.failures[0].expected.matches('+').count(), 19_999);
    // A chain of 20,000 fields or of 100,000 unary minuses is refused, not recursed into.
    let e = parse_err(&format!(
        "{HEAD}P: x = pagemap(p){}\n",
        ".present".repeat(20_000)
    ));
    assert!(e.msg.contains("no second field"), "{e}");
    let e = parse_err(&format!("{HEAD}P: x = {}1\n", "-".repeat(100_000)));
    assert!(e.msg.contains("nested at most"), "{e}");
    let nested = format!("{HEAD}{}{}", "repeat 1 {\n".repeat(40), "}\n".repeat(40));
    assert!(parse_err(&nested).msg.contains("nested at most 32"));
}

/// A scenario the step budget refuses: an error at the place, before anything runs.
fn over_budget(body: &str, line: usize) {
    let r = run_text(&format!("{HEAD}{body}"));
    assert_eq!(r.status, Status::Error, "{body}");
    let e = r.error.expect("an error message");
    assert!(
        e.starts_with(&format!("t.mml:{line}: ")) && e.contains("step budget of 1000000"),
        "{e}"
    );
    assert_eq!(r.steps, 0, "nothing ran");
}

#[test]
fn runaway_repeats_are_refused_by_the_step_budget() {
    over_budget("repeat 1000000000 {\n}\n", 4);
    over_budget(
        "P: store(p, 1)\nrepeat 1000 {\n  repeat 1000 {\n    repeat 1000 {\n    }\n  }\n}\n",
        5,
    );
    over_budget("repeat 100000000 {\n  P: expect load(p) == 0\n}\n", 4);
    over_budget(
        &format!(
            "{}P: x = 1\n{}",
            "repeat 4294967296 {\n".repeat(3),
            "}\n".repeat(3)
        ),
        4,
    );
}

#[test]
fn a_repeated_expectation_keeps_one_aggregate_not_one_record_per_run() {
    let sc = parse(
        &format!("{HEAD}P: store(p, 3)\nrepeat 100000 {{\n  P: expect load(p) == 3\n  P: expect load(p) == 4\n}}\n"),
        Path::new("t.mml"),
    )
    .unwrap();
    let mut b = ModelBackend::default();
    b.check_invariants = false;
    let r = run_with(
        &sc,
        &mut b,
        Limits {
            max_steps: 1_000_000,
            ..Limits::default()
        },
    );
    assert_eq!(r.expectations, 200_000);
    assert_eq!(r.lines.len(), 2);
    assert_eq!((r.lines[0].runs, r.lines[0].failed), (100_000, 0));
    assert_eq!((r.lines[1].runs, r.lines[1].failed), (100_000, 100_000));
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].count, 100_000);
}

#[test]
fn the_memory_budget_ends_a_scenario_at_the_step_that_exceeds_it() {
    // fill(), not memset(): a page of one byte value costs the model no host page.
    let sc = parse(
        "title \"t\"\nmemory 1G\nprocess P\nP: p = mmap(NULL, 512M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\nP: fill(p, 512M, 0x11)\nP: expect load(p) == 0x11\n",
        Path::new("t.mml"),
    )
    .unwrap();
    let mut b = ModelBackend::default();
    b.check_invariants = false;
    let r = run_with(
        &sc,
        &mut b,
        Limits {
            max_memory: 64 << 20,
            ..Limits::default()
        },
    );
    assert_eq!(r.status, Status::Error);
    let e = r.error.expect("a message");
    assert!(e.starts_with("t.mml:5: memory budget exceeded"), "{e}");
    assert!(r.lines.iter().all(|l| l.line != 6), "nothing ran after it");
}

#[test]
fn names_arities_ranges_and_headers_are_checked_before_running() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        ("Q: store(p, 1)\n", (4, 1), "unknown task `Q`"),
        ("P: expect load(q) == 1\n", (4, 16), "unknown name `q`"),
        ("P: frobnicate(1)\n", (4, 4), "unknown call `frobnicate`"),
        (
            "P: munmap(p)\n",
            (4, 4),
            "munmap() takes 2 argument(s), 1 given",
        ),
        (
            "P: expect load(p) faults SIGTERM\n",
            (4, 26),
            "unknown signal `SIGTERM`",
        ),
        (
            "P: expect munmap(p, 1) fails EWHAT\n",
            (4, 30),
            "unknown errno `EWHAT`",
        ),
        ("P: store(p, 0x1ff)\n", (4, 13), "0x1ff is not a byte"),
        (
            "P: memset(p, 256, PAGE_SIZE)\n",
            (4, 14),
            "0x100 is not a byte",
        ),
        ("P: expect mem(p, 1) == 0x100\n", (4, 24), "not a byte"),
        ("P: x = 1 << 200\n", (4, 13), "a shift by 200"),
        ("P: x = p >> 64\n", (4, 13), "a shift by 64"),
        ("P: x = 4 / (2 - 2)\n", (4, 13), "division by zero"),
        (
            "P: x = 99999999999999999999\n",
            (4, 8),
            "does not fit in 64 bits",
        ),
        ("cpus 4\n", (4, 1), "`cpus` after the first step (line 2)"),
        (
            "P: C = fork()\nC: exit(0)\nC: store(p, 1)\n",
            (6, 1),
            "task `C` is gone: its process exited at line 5",
        ),
        (
            "P: T = thread(0)\nP: exit(0)\nT: store(p, 1)\n",
            (6, 1),
            "exited at line 5",
        ),
        ("P: x = fork() + 1\n", (4, 8), "binds a new task"),
        (
            "P: T = thread(7)\n",
            (4, 15),
            "cpu 7: the scenario has 2 CPUs",
        ),
        ("P: x = p.pfn\n", (4, 8), "only records"),
        ("P: x = pagemap(p).pfm\n", (4, 8), "no field `pfm`"),
        ("P: x = maps(p) + 1\n", (4, 8), "pick a field"),
        (
            "P: x = meminfo(AnonPagez)\n",
            (4, 16),
            "meminfo() knows no `AnonPagez`",
        ),
        ("P: x = mem(p, 1)\n", (4, 8), "only as `expect mem"),
        ("P: PAGE_SIZE = 3\n", (4, 1), "is a constant"),
        (
            "P: expect load(p) fails EFAULT\n",
            (4, 11),
            "takes a syscall",
        ),
        (
            "repeat 2 {\n  P: C = fork()\n}\n",
            (5, 3),
            "`C` already exists",
        ),
        (
            "P: mremap(p, 1, 2)\n",
            (4, 4),
            "mremap() takes 4 or 5 argument(s), 3 given",
        ),
        (
            "P: fd = memfd_create(3, 0)\n",
            (4, 22),
            "memfd_create() takes a quoted `name`",
        ),
        ("P: munmap(\"p\", 1)\n", (4, 11), "memfd_create's name"),
        (
            "P: fcntl(3, 1, 0)\n",
            (4, 13),
            "fcntl(): `cmd` 0x1 is not modelled (only F_ADD_SEALS, F_GET_SEALS)",
        ),
    ];
    for (body, at, needle) in cases {
        let e = parse_err(&format!("{HEAD}{body}"));
        assert_eq!((e.line, e.col), *at, "{body}: {e}");
        assert!(e.msg.contains(needle), "{body}: {e}");
    }
    let headers: &[(&str, (usize, usize), &str)] = &[
        (
            "feature anon_exclusiv off\n",
            (2, 9),
            "unknown feature `anon_exclusiv`",
        ),
        ("profile linux-5.91\n", (2, 9), "unknown profile"),
        ("cpus 0\n", (2, 6), "cpus 0: a scenario has 1 to 64 CPUs"),
        ("hugepages 5000\n", (2, 11), "holds only"),
        ("memory 64M\nhugepages 40\n", (3, 11), "holds only"),
        ("memory 0\n", (2, 8), "memory 0"),
        ("fault-around-bytes 1G\n", (2, 20), "more than a page table"),
        (
            "profile linux-5.18\nprofile linux-5.19\n",
            (3, 1),
            "a second `profile`",
        ),
        (
            "arch sparc64\n",
            (2, 6),
            "unknown arch `sparc64` (known: x86_64, arm64, s390x, ppc64)",
        ),
        ("arch arm64\narch s390x\n", (3, 1), "a second `arch`"),
        ("arch\n", (2, 5), "expected an architecture name"),
    ];
    for (header, at, needle) in headers {
        let e = parse_err(&format!("title \"t\"\n{header}process P\n"));
        assert_eq!((e.line, e.col), *at, "{header}: {e}");
        assert!(e.msg.contains(needle), "{header}: {e}");
    }
    // The same names in their right places pass the check.
    parse(
        "title \"t\"\nmemory 64M\nhugepages 20\nfeature anon_exclusive off\nprocess P\nP: C = fork()\nC: exit(0)\nP: expect load(0) faults SIGSEGV\n",
        Path::new("t.mml"),
    )
    .unwrap();
}

#[test]
fn a_missing_file_and_invalid_utf8_are_reported_at_their_place() {
    let e = mmlab_scenario::suite::load(Path::new("/nonexistent/x.mml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/x.mml: No such file or directory"
    );
    let e = mmlab_scenario::parse_bytes(
        b"title \"t\"\nprocess P\nP: x = 1 # caf\xe9\n",
        Path::new("t.mml"),
    )
    .unwrap_err();
    assert_eq!((e.line, e.col), (3, 15), "{e}");
    assert!(e.msg.contains("invalid UTF-8"));
}

#[test]
fn both_backends_failing_a_line_agree_only_on_the_same_values_and_every_divergence_shows() {
    use mmlab_scenario::diff::{compare, Verdict};
    // Two runs of one file that differ in what a store left behind (standing in for two kernels).
    let run_with_byte = |b: u8| {
        run_text(&format!(
            "{HEAD}P: store(p, {b})\nP: expect load(p) == 9\nP: expect load(p + 1) == 9\nrepeat 3 {{\n  P: expect load(p) == 1\n}}\n"
        ))
    };
    let (one, two) = (run_with_byte(1), run_with_byte(2));
    let (v, lines) = compare(&one, &two, &[]);
    assert_eq!(
        v,
        Verdict::Diverge,
        "a both-fail line does not hide the divergence"
    );
    let by_line: Vec<(usize, bool)> = lines.iter().map(|d| (d.line, d.agree)).collect();
    // Line 5 fails on both with 0x01 and 0x02: a divergence. Line 6 fails on both with the same
    // 0x00: agreement. Line 8 holds three times on one side and fails three times on the other.
    assert_eq!(by_line, [(5, false), (6, true), (8, false)]);
    assert_eq!(compare(&one, &one, &[]).0, Verdict::Fail);
    let known = vec![
        mmlab_scenario::diff::Known {
            path: "t.mml".into(),
            line: 5,
            reason: "r".into(),
        },
        mmlab_scenario::diff::Known {
            path: "t.mml".into(),
            line: 8,
            reason: "r".into(),
        },
    ];
    assert_eq!(compare(&one, &two, &known).0, Verdict::Fail);
}

#[test]
fn known_divergences_are_found_from_the_scenario_folder_upwards() {
    let root = std::env::temp_dir().join(format!("mmlab-known-test-{}", std::process::id()));
    let deep = root.join("a/b");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("x.mml"), "").unwrap();
    std::fs::write(
        root.join("known-divergences.txt"),
        "a/b/x.mml:3  top reason\n",
    )
    .unwrap();
    std::fs::write(
        root.join("a/known-divergences.txt"),
        "b/x.mml:4  middle reason\n",
    )
    .unwrap();
    let k = mmlab_scenario::diff::KnownFiles::default()
        .for_scenario(&deep.join("x.mml"))
        .unwrap();
    let x = deep.join("x.mml").display().to_string();
    assert!(mmlab_scenario::diff::is_known(&k, &x, 3));
    assert!(mmlab_scenario::diff::is_known(&k, &x, 4));
    assert!(!mmlab_scenario::diff::is_known(&k, &x, 5));
    std::fs::write(root.join("a/known-divergences.txt"), "b/x.mml  no line\n").unwrap();
    let e = mmlab_scenario::diff::KnownFiles::default()
        .for_scenario(&deep.join("x.mml"))
        .unwrap_err();
    assert!(e.contains("known-divergences.txt:1: expected"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn addresses_are_not_compared_across_backends_but_their_differences_are() {
    use mmlab_scenario::diff::compare;
    // Two runs whose mappings land at different addresses (standing in for two kernels).
    let run_after = |pages: u64| {
        run_text(&format!(
            "{HEAD}P: q = mmap(NULL, {pages} * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\nP: r = mmap(NULL, {pages} * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\nP: expect mremap(r, PAGE_SIZE, PAGE_SIZE, 0) fails EFAULT\nP: expect maps(r).end - maps(r).start == 1\n"
        ))
    };
    let (one, two) = (run_after(1), run_after(2));
    assert_ne!(
        one.lines[0].first, two.lines[0].first,
        "the addresses differ"
    );
    let (_, lines) = compare(&one, &two, &[]);
    let agree: Vec<(usize, bool)> = lines.iter().map(|d| (d.line, d.agree)).collect();
    // Line 6 returns each run's own address: not a divergence. Line 7 sees sizes 0x1000 and
    // 0x2000: a divergence.
    assert_eq!(agree, [(6, true), (7, false)]);
}

/// Two tasks woken by one UFFDIO_WAKE fault again in the same order on every run (fuzz finding
/// 005: they were retried in HashMap order), so a scenario's observations never change.
#[test]
fn every_run_of_a_scenario_is_the_same() {
    let text = "title \"t\"\nprocess P\nP: T1 = thread(0)\nP: T2 = thread(1)\nP: u = userfaultfd(O_NONBLOCK)\nP: uffdio_api(u, UFFD_API, 0)\nP: p = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\nP: uffdio_register(u, p, 2 * PAGE_SIZE, UFFDIO_REGISTER_MODE_MISSING)\nT1: expect store(p, 1) blocks\nT2: expect store(p + PAGE_SIZE, 2) blocks\nP: m1 = uffd_read(u)\nP: m2 = uffd_read(u)\nP: uffdio_wake(u, p, 2 * PAGE_SIZE)\nP: m3 = uffd_read(u)\nP: expect m3.address >= p\n";
    let digests = |r: &mmlab_scenario::Report| r.lines.iter().map(|l| l.digest).collect::<Vec<_>>();
    let first = run_text(text);
    assert_eq!(first.status, Status::Pass, "{:?}", first.failures);
    for _ in 0..20 {
        assert_eq!(digests(&run_text(text)), digests(&first));
    }
}
