//! The host's /sys/kernel/mm/transparent_hugepage/ knobs for a scenario: set what it asks
//! for, remember what the machine had, and put that back when the scenario is done.

use mmlab_scenario::backend::Skip;

const DIR: &str = "/sys/kernel/mm/transparent_hugepage";

/// The value a knob file shows: the bracketed choice of a list, or the whole text.
fn current(text: &str) -> String {
    let t = text.trim();
    match (t.find('['), t.find(']')) {
        (Some(a), Some(b)) if a < b => t[a + 1..b].to_string(),
        _ => t.to_string(),
    }
}

/// Knobs this backend changed, with the values the host had before.
#[derive(Debug, Default)]
pub struct ThpKnobGuard {
    original: Vec<(String, String)>,
}

impl ThpKnobGuard {
    /// Give the host back its values, newest change first.
    pub fn restore(&mut self) {
        while let Some((name, value)) = self.original.pop() {
            if let Err(e) = std::fs::write(format!("{DIR}/{name}"), &value) {
                eprintln!("mmlab: could not restore transparent_hugepage/{name} to {value}: {e}");
            }
        }
    }

    /// Restore the previous scenario's changes, then set `knobs` in order.
    pub fn set(&mut self, knobs: &[(String, String)]) -> Result<(), Skip> {
        self.restore();
        for (name, value) in knobs {
            let path = format!("{DIR}/{name}");
            let before = match std::fs::read_to_string(&path) {
                Ok(t) => current(&t),
                Err(e) => {
                    self.restore();
                    return Err(Skip(format!("no transparent_hugepage/{name} here: {e}")));
                }
            };
            if let Err(e) = std::fs::write(&path, value) {
                self.restore();
                return Err(Skip(format!(
                    "the host refuses `{value}` for transparent_hugepage/{name}: {e}"
                )));
            }
            self.original.push((name.clone(), before));
        }
        Ok(())
    }
}

impl Drop for ThpKnobGuard {
    fn drop(&mut self) {
        self.restore();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_value_is_the_bracketed_choice_or_the_number() {
        assert_eq!(current("always [madvise] never\n"), "madvise");
        assert_eq!(current("511\n"), "511");
        assert_eq!(
            current("[always] defer defer+madvise madvise never"),
            "always"
        );
    }
}
