//! The live backend against the real kernel, next to the model. Each test reports a skip (and
//! passes) when the host cannot run scenarios, e.g. without root.

use std::path::{Path, PathBuf};

use mmlab::fs::proc::MapsEntry;
use mmlab::{Errno, Signal};
use mmlab_scenario::backend::*;
use mmlab_scenario::diff::{compare, KnownFiles, Verdict};
use mmlab_scenario::suite::{collect, run_file};
use mmlab_scenario::{parse, run, ModelBackend, Report, Status};

mod common;

use common::host;

fn run_text<B: Backend>(text: &str, b: &mut B) -> Report {
    run(&parse(text, Path::new("t.mml")).expect("parses"), b)
}

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

#[test]
fn a_false_expectation_fails_on_both_backends() {
    let Some(mut h) = host() else { return };
    let text = "title \"t\"\nprocess P\nP: p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\nP: store(p, 7)\nP: expect load(p) == 8\nP: expect mremap(p, PAGE_SIZE, PAGE_SIZE, 0) fails EFAULT\n";
    let m = run_text(text, &mut ModelBackend::default());
    let hr = run_text(text, &mut h);
    for r in [&m, &hr] {
        assert_eq!(r.status, Status::Fail, "{}: {:?}", r.backend, r.failures);
        assert_eq!(
            r.failures.iter().map(|f| f.line).collect::<Vec<_>>(),
            vec![5, 6],
            "{}",
            r.backend
        );
        assert_eq!(r.failures[0].observed, "0x07");
    }
    let (v, _) = compare(&m, &hr, &[]);
    assert_eq!(v, Verdict::Fail, "both agree the scenario is wrong");
}

/// The model with one injected bug: munmap does nothing.
struct MunmapIsANoOp(ModelBackend);

impl Backend for MunmapIsANoOp {
    fn name(&self) -> &'static str {
        "buggy-model"
    }
    fn prepare(&mut self, s: &Setup) -> Result<(), Skip> {
        self.0.prepare(s)
    }
    fn spawn_process(&mut self, cpu: usize) -> Result<TaskId, Errno> {
        self.0.spawn_process(cpu)
    }
    fn fork(&mut self, t: TaskId) -> Result<TaskId, Errno> {
        self.0.fork(t)
    }
    fn thread(&mut self, t: TaskId, cpu: usize) -> Result<TaskId, Errno> {
        self.0.thread(t, cpu)
    }
    fn exit(&mut self, t: TaskId) -> Result<(), Errno> {
        self.0.exit(t)
    }
    fn syscall(&mut self, t: TaskId, call: &Syscall) -> Result<u64, Errno> {
        match call.name() {
            "munmap" => Ok(0),
            _ => self.0.syscall(t, call),
        }
    }
    fn access(&mut self, t: TaskId, a: Access) -> Result<u64, Signal> {
        self.0.access(t, a)
    }
    fn finish(&mut self, t: TaskId) -> Result<u64, Signal> {
        self.0.finish(t)
    }
    fn fstat(&mut self, t: TaskId, fd: i64) -> Result<mmlab::fs::stat::Kstat, Errno> {
        self.0.fstat(t, fd)
    }
    fn uffd_read(&mut self, t: TaskId, fd: i64) -> Result<Option<UffdMsg>, Errno> {
        self.0.uffd_read(t, fd)
    }
    fn sleeping(&mut self, t: TaskId) -> bool {
        self.0.sleeping(t)
    }
    fn finish_syscall(&mut self, t: TaskId) -> Option<Result<u64, Errno>> {
        self.0.finish_syscall(t)
    }
    fn mismatch(&mut self, t: TaskId, a: u64, l: u64, v: u8) -> Result<Option<(u64, u8)>, Signal> {
        self.0.mismatch(t, a, l, v)
    }
    fn mismatch_pattern(
        &mut self,
        t: TaskId,
        a: u64,
        l: u64,
        p: Pattern,
    ) -> Result<Option<(u64, u8)>, Signal> {
        self.0.mismatch_pattern(t, a, l, p)
    }
    fn mem_cmp(
        &mut self,
        t: TaskId,
        a: u64,
        b: u64,
        l: u64,
    ) -> Result<Option<(u64, u8, u8)>, Signal> {
        self.0.mem_cmp(t, a, b, l)
    }
    fn si_code(&mut self, t: TaskId) -> Option<u64> {
        self.0.si_code(t)
    }
    fn runs_model_probes(&self) -> bool {
        self.0.runs_model_probes()
    }
    fn status(&mut self, t: TaskId, name: &str) -> Result<u64, String> {
        self.0.status(t, name)
    }
    fn majflt(&mut self, t: TaskId) -> Result<u64, Errno> {
        self.0.majflt(t)
    }
    fn pagemap(&mut self, t: TaskId, a: u64) -> Result<u64, Errno> {
        self.0.pagemap(t, a)
    }
    fn zero_pfn(&mut self) -> u64 {
        self.0.zero_pfn()
    }
    fn minflt(&mut self, t: TaskId) -> Result<u64, Errno> {
        self.0.minflt(t)
    }
    fn maps(&mut self, t: TaskId) -> Result<Vec<MapsEntry>, Errno> {
        self.0.maps(t)
    }
    fn vmstat(&mut self, name: &str) -> Result<u64, String> {
        self.0.vmstat(name)
    }
    fn meminfo(&mut self, name: &str) -> Result<u64, String> {
        self.0.meminfo(name)
    }
    fn smaps(&mut self, t: TaskId, a: u64) -> Result<Option<Vec<(String, u64)>>, String> {
        self.0.smaps(t, a)
    }
    fn model_probe(&mut self, t: TaskId, p: &ModelProbe) -> Result<ProbeValue, String> {
        self.0.model_probe(t, p)
    }
    fn check(&mut self) -> Result<(), String> {
        self.0.check()
    }
    fn sleep(&mut self, ns: u64) {
        self.0.sleep(ns)
    }
    fn now_ns(&mut self) -> u64 {
        self.0.now_ns()
    }
    fn sysfs_read(&mut self, path: &str) -> Result<String, Errno> {
        self.0.sysfs_read(path)
    }
    fn sysfs_write(&mut self, path: &str, value: &str) -> Result<(), Errno> {
        self.0.sysfs_write(path, value)
    }
}

#[test]
fn an_injected_model_bug_is_reported_as_a_divergence() {
    let Some(mut h) = host() else { return };
    let f = scenarios().join("mmap/munmap-middle-split.mml");
    let host_report = run_file(&f, &mut h).unwrap();
    assert_eq!(
        host_report.status,
        Status::Pass,
        "{:?}",
        host_report.failures
    );
    let good = run_file(&f, &mut ModelBackend::default()).unwrap();
    assert_eq!(compare(&good, &host_report, &[]).0, Verdict::Agree);
    let buggy = run_file(&f, &mut MunmapIsANoOp(ModelBackend::default())).unwrap();
    let (v, lines) = compare(&buggy, &host_report, &[]);
    assert_eq!(v, Verdict::Diverge);
    let d = lines
        .iter()
        .find(|d| d.model_ok != d.host_ok)
        .expect("a diverging line");
    assert_eq!((d.model_ok, d.host_ok), (Some(false), Some(true)));
}

#[test]
fn model_only_and_other_profiles_are_skipped_with_their_reason() {
    let Some(mut h) = host() else { return };
    let r = run_text(
        "title \"t\"\nmodel-only \"flush counts\"\nprocess P\n",
        &mut h,
    );
    assert_eq!(
        (r.status, r.skip_reason.as_deref()),
        (Status::Skip, Some("model-only: flush counts"))
    );
    let r = run_text("title \"t\"\nprofile linux-5.18\nprocess P\n", &mut h);
    assert_eq!(r.status, Status::Skip);
    assert!(r
        .skip_reason
        .unwrap()
        .starts_with("profile linux-5.18 describes another kernel"));
    // A model probe skips its own line on the host, not the whole file.
    let r = run_text(
        "title \"t\"\nprocess P\nP: x = model.tlb_flushes()\nP: expect vma_count(0, 4096) == 0\n",
        &mut h,
    );
    assert_eq!(r.status, Status::Pass, "{:?}", r.failures);
    assert_eq!(r.skipped_lines, vec![3]);
}

#[test]
fn fork_threads_and_faults_behave_as_on_the_model() {
    let Some(mut h) = host() else { return };
    let text = "title \"t\"\nprocess P\nP: p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)\nP: store(p, 1)\nP: C = fork()\nC: store(p, 2)\nP: expect load(p) == 1\nC: expect load(p) == 2\nP: T = thread(1)\nP: mprotect(p, PAGE_SIZE, PROT_READ)\nT: expect store(p, 3) faults SIGSEGV\nC: exit(0)\nP: expect pagemap(p).exclusive == 1\nP: expect load(NULL) faults SIGSEGV\n";
    let hr = run_text(text, &mut h);
    assert_eq!(hr.status, Status::Pass, "{:?}", hr.failures);
    let m = run_text(text, &mut ModelBackend::default());
    assert_eq!(compare(&m, &hr, &[]).0, Verdict::Agree);
}

#[test]
fn the_bundled_suite_agrees_with_the_host_but_for_known_divergences() {
    let Some(mut h) = host() else { return };
    let mut known_files = KnownFiles::default();
    let (files, errors) = collect(&[scenarios()]);
    assert!(errors.is_empty());
    let mut ran = 0;
    // Every disagreeing scenario is reported, one line each with only its unexplained lines,
    // so a failure names all of them even when the output is cut.
    let mut bad = Vec::new();
    for f in files {
        let m = run_file(&f, &mut ModelBackend::default()).unwrap();
        let hr = run_file(&f, &mut h).unwrap();
        ran += usize::from(hr.status != Status::Skip);
        let known = known_files.for_scenario(&f).unwrap();
        let (v, lines) = compare(&m, &hr, &known);
        if !matches!(v, Verdict::Agree | Verdict::Known | Verdict::Skip) {
            let why: Vec<String> = lines
                .iter()
                .filter(|d| !d.agree && d.known.is_none() || d.model_ok == Some(false))
                .map(|d| format!("line {}: model {:?} host {:?}", d.line, d.model, d.host))
                .collect();
            bad.push(format!("{}: {v:?}: {}", f.display(), why.join("; ")));
        }
    }
    assert!(
        bad.is_empty(),
        "{} scenario(s):\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert!(ran >= 40, "only {ran} scenarios ran on the host");
}
