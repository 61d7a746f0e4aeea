//! Helpers the property tests share.

pub const PAGE: u64 = 4096;
pub const HPAGE: u64 = 2 << 20;
/// Sampled byte offsets inside a page (the shadows track these).
pub const OFFS: [u64; 4] = [0, 1, 2047, 4095];

/// A shadow's prediction against what the model did.
pub fn expect<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, shadow expects {want:?}"))
    }
}

/// Exit each task in turn (the invariants must hold after each exit), then no frame may be
/// left but the huge zero page, which outlives its users.
pub fn exit_all_leaves_nothing(
    k: &mut mmlab::Kernel,
    tids: impl IntoIterator<Item = mmlab::Tid>,
) -> Result<(), String> {
    for t in tids {
        k.exit(t).map_err(|e| format!("exit: {e:?}"))?;
        k.check_invariants()
            .map_err(|v| format!("after exit: {v}"))?;
    }
    let zero = if k.huge_zero_page_allocated() { 512 } else { 0 };
    expect("frames in use after every exit", k.frames_in_use(), zero)
}
