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

/// How long the host's khugepaged sleeps between passes while a scenario that does not
/// involve it runs: the model's khugepaged only runs when the scenario lets model time pass,
/// so a host pass landing between two steps (collapsing a range the scenario then measures)
/// would be a race the model never plays. Writing the knob wakes the thread for one pass
/// before the scenario's processes exist (scan_sleep_millisecs_store()), then it sleeps.
const QUIET_SLEEP_MS: &str = "3600000";

/// Does the scenario work with khugepaged's daemon (a `thp khugepaged/...` knob or a
/// `sysfs_write` to one)? Then the host's thread keeps the model's timing.
fn involves_khugepaged(knobs: &[(String, String)], sysfs_writes: &[String]) -> bool {
    knobs.iter().any(|(n, _)| n.starts_with("khugepaged/"))
        || sysfs_writes.iter().any(|p| p.contains("/khugepaged/"))
}

/// Restore the previous scenario's changes, then set the model's defaults and `knobs` in
/// order; khugepaged is put to sleep unless the scenario involves it.
pub fn set(
    turn: &HostLock,
    knobs: &[(String, String)],
    sysfs_writes: &[String],
) -> Result<(), Skip> {
    restore();
    let mut defaults = model_defaults();
    if !involves_khugepaged(knobs, sysfs_writes) {
        for (name, value) in &mut defaults {
            if name.ends_with("_sleep_millisecs") {
                *value = QUIET_SLEEP_MS.to_string();
            }
        }
    }
    for (name, value) in defaults.iter().chain(knobs) {
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

#[cfg(test)]
mod tests {
    use super::involves_khugepaged;

    #[test]
    fn only_a_khugepaged_knob_or_write_keeps_the_daemon_awake() {
        let knob = |n: &str| vec![(n.to_string(), "0".to_string())];
        assert!(!involves_khugepaged(&knob("shmem_enabled"), &[]));
        assert!(involves_khugepaged(&knob("khugepaged/max_ptes_none"), &[]));
        let w = vec!["/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs".into()];
        assert!(involves_khugepaged(&[], &w));
        let other = vec!["/sys/kernel/mm/transparent_hugepage/enabled".to_string()];
        assert!(!involves_khugepaged(&[], &other));
    }
}
