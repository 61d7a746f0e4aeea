//! What the live backend's integration tests share.

use std::path::{Path, PathBuf};

use mmlab_live::{AgentCommand, HostBackend};
use mmlab_scenario::diff::{compare, Verdict};
use mmlab_scenario::suite::run_file;
use mmlab_scenario::{ModelBackend, Status};

/// A host backend whose agents are this package's `mmlab-agent`, or None (and a printed reason
/// the test is skipped) when the host cannot run scenarios, e.g. without root.
pub fn host() -> Option<HostBackend> {
    if let Some(reason) = HostBackend::unavailable() {
        eprintln!("skipped: {reason}");
        return None;
    }
    Some(HostBackend::new(AgentCommand {
        program: env!("CARGO_BIN_EXE_mmlab-agent").into(),
        args: vec![],
    }))
}

/// The scenario files of this package's `tests/DIR`, sorted.
#[allow(dead_code)] // not every test file uses every helper
pub fn scenarios_in(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Run `f` on the model and on `h`: both pass and agree line by line.
#[allow(dead_code)]
pub fn assert_passes_and_agrees(f: &Path, h: &mut HostBackend) {
    let m = run_file(f, &mut ModelBackend::default()).unwrap();
    let hr = run_file(f, h).unwrap();
    assert_eq!(m.status, Status::Pass, "{}: {:?}", f.display(), m.failures);
    assert_eq!(
        hr.status,
        Status::Pass,
        "{}: {:?}",
        f.display(),
        hr.failures
    );
    assert_eq!(compare(&m, &hr, &[]).0, Verdict::Agree, "{}", f.display());
}
