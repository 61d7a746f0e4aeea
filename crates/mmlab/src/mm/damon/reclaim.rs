//! mm/damon/reclaim.c: DAMON_RECLAIM.

/// DAMON_RECLAIM's state.
#[derive(Debug, Default)]
pub(crate) struct DamonReclaim {}
