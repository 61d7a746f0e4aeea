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

/// The writable knobs as the model boots with them. Every scenario on the host starts from
/// these too, so what another run or the machine itself left set (a `force` shmem_enabled,
/// say) does not decide a scenario that does not name the knob.
fn model_defaults() -> Vec<(String, String)> {
    let k = mmlab::Kernel::new(mmlab::Config::default());
    mmlab::mm::thp_knobs::NAMES
        .iter()
        .filter(|n| **n != "hpage_pmd_size")
        .filter_map(|n| {
            Some((
                n.to_string(),
                crate::sysfs::shown_value(&k.thp_sysfs_read(n)?),
            ))
        })
        .collect()
}

/// Restore the previous scenario's changes, then set the model's defaults and `knobs` in
/// order.
pub fn set(turn: &HostLock, knobs: &[(String, String)]) -> Result<(), Skip> {
    restore();
    for (name, value) in model_defaults().iter().chain(knobs) {
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
