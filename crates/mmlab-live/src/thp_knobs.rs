//! The host's /sys/kernel/mm/transparent_hugepage/ knobs for a scenario: set what it asks
//! for through the host journal (`host_state`), which keeps what the machine had and puts it
//! back when the scenario is done, the run ends or is interrupted.

use mmlab_scenario::backend::Skip;

use crate::host_state;
use crate::hostlock::HostLock;

const DIR: &str = "/sys/kernel/mm/transparent_hugepage";

/// Give the host back the knobs' values, newest change first.
pub fn restore() {
    host_state::restore(|path| path.starts_with(DIR));
}

/// Restore the previous scenario's changes, then set `knobs` in order.
pub fn set(turn: &HostLock, knobs: &[(String, String)]) -> Result<(), Skip> {
    restore();
    for (name, value) in knobs {
        let path = format!("{DIR}/{name}");
        let before = match std::fs::read_to_string(&path) {
            Ok(t) => crate::sysfs::shown_value(&t),
            Err(e) => {
                restore();
                return Err(Skip(format!("no transparent_hugepage/{name} here: {e}")));
            }
        };
        if let Err(e) = host_state::write(turn, &path, &before, value) {
            restore();
            return Err(Skip(format!(
                "the host refuses `{value}` for transparent_hugepage/{name}: {e}"
            )));
        }
    }
    Ok(())
}
