//! mm/damon/sysfs.c: the /sys/kernel/mm/damon/admin tree.

/// The tree's state.
#[derive(Debug, Default)]
pub(crate) struct DamonSysfs {}
