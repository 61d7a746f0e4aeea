//! What the live backend's integration tests share.

use mmlab_live::{AgentCommand, HostBackend};

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
