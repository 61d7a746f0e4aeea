//! The virtual clock: nanoseconds since boot, moved only by `Kernel::advance_time()`, and the
//! jiffies that kernel threads time their sleeps in (CONFIG_HZ=250, this host's and the common
//! distribution setting). Nothing here reads the host's clock: a run is deterministic.

/// CONFIG_HZ: scheduler ticks per second.
pub const HZ: u64 = 250;
/// Nanoseconds per jiffy (TICK_NSEC).
pub const NSEC_PER_JIFFY: u64 = 1_000_000_000 / HZ;
/// Nanoseconds per millisecond (NSEC_PER_MSEC).
pub const NSEC_PER_MSEC: u64 = 1_000_000;

/// msecs_to_jiffies(): a timeout in ms as whole jiffies, rounded up (a sleep is never shorter
/// than asked).
pub fn msecs_to_jiffies(ms: u64) -> u64 {
    ms.saturating_mul(HZ).div_ceil(1000)
}

/// The clock. Invariants: `now_ns` only grows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    now_ns: u64,
}

impl Clock {
    /// ns since boot.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// `jiffies`: ticks since boot (the model starts it at 0, not at INITIAL_JIFFIES, whose
    /// only purpose is to make wrap-around bugs show early).
    pub fn jiffies(&self) -> u64 {
        self.now_ns / NSEC_PER_JIFFY
    }

    /// Move the clock to `ns` (never backwards).
    pub(crate) fn set(&mut self, ns: u64) {
        debug_assert!(ns >= self.now_ns, "the clock never goes back");
        self.now_ns = self.now_ns.max(ns);
    }
}

/// The time at which `jiffies` reaches `j`.
pub fn jiffies_to_ns(j: u64) -> u64 {
    j.saturating_mul(NSEC_PER_JIFFY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msecs_round_up_to_whole_jiffies() {
        assert_eq!(msecs_to_jiffies(0), 0);
        assert_eq!(msecs_to_jiffies(1), 1);
        assert_eq!(msecs_to_jiffies(4), 1);
        assert_eq!(msecs_to_jiffies(5), 2);
        assert_eq!(msecs_to_jiffies(10_000), 2500);
        let mut c = Clock::default();
        c.set(NSEC_PER_JIFFY * 3 + 1);
        assert_eq!(c.jiffies(), 3);
        assert_eq!(jiffies_to_ns(c.jiffies() + 1), 4 * NSEC_PER_JIFFY);
    }
}
