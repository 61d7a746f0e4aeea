//! The runner against the model: the bundled suite passes, and wrong expectations, bad input
//! and unknown names are reported with their line instead of passing or panicking.

use std::path::{Path, PathBuf};

use mmlab_scenario::suite::{collect, run_file, InputError};
use mmlab_scenario::{parse, run, ModelBackend, Status};

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
