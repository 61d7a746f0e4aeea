//! Helpers the property tests share.

/// A shadow's prediction against what the model did.
pub fn expect<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, shadow expects {want:?}"))
    }
}
