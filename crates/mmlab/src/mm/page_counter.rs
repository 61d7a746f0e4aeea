//! mm/page_counter.c: hierarchical page counters with limits, as the memory controller keeps
//! them (memory and swap, or v1's memsw). Each counter names its parent by index in one array,
//! so a charge walks the chain up to the root as page_counter_try_charge() walks the pointers.

use crate::errno::{Errno, SysResult};
use crate::hw::PAGE_SIZE;

/// PAGE_COUNTER_MAX: LONG_MAX / PAGE_SIZE on 64-bit, what an unlimited tunable holds.
pub const PAGE_COUNTER_MAX: u64 = (i64::MAX as u64) / PAGE_SIZE;

/// struct page_counter.
#[derive(Clone, Debug)]
pub struct PageCounter {
    pub usage: u64,
    pub min: u64,
    pub low: u64,
    pub high: u64,
    pub max: u64,
    /// Effective protections of the last reclaim walk that computed them.
    pub emin: u64,
    pub elow: u64,
    /// min(usage, min) and min(usage, low) as last propagated to the parent.
    pub min_usage: u64,
    pub low_usage: u64,
    /// Sums of the children's min_usage / low_usage.
    pub children_min_usage: u64,
    pub children_low_usage: u64,
    /// The highest usage seen (v1 max_usage_in_bytes, reset by a write there).
    pub watermark: u64,
    /// Charges refused at this level.
    pub failcnt: u64,
    pub parent: Option<usize>,
}

impl PageCounter {
    /// page_counter_init(): no usage, no protection, no limit.
    pub fn new(parent: Option<usize>) -> PageCounter {
        PageCounter {
            usage: 0,
            min: 0,
            low: 0,
            high: PAGE_COUNTER_MAX,
            max: PAGE_COUNTER_MAX,
            emin: 0,
            elow: 0,
            min_usage: 0,
            low_usage: 0,
            children_min_usage: 0,
            children_low_usage: 0,
            watermark: 0,
            failcnt: 0,
            parent,
        }
    }
}

/// propagate_protected_usage(): bring the parent's sums of protected usage up to date with
/// this counter's usage.
fn propagate_protected_usage(cs: &mut [PageCounter], c: usize) {
    let Some(p) = cs[c].parent else {
        return;
    };
    let usage = cs[c].usage;
    if cs[c].min != 0 || cs[c].min_usage != 0 {
        let protected = usage.min(cs[c].min);
        let old = std::mem::replace(&mut cs[c].min_usage, protected);
        cs[p].children_min_usage = cs[p].children_min_usage + protected - old;
    }
    if cs[c].low != 0 || cs[c].low_usage != 0 {
        let protected = usage.min(cs[c].low);
        let old = std::mem::replace(&mut cs[c].low_usage, protected);
        cs[p].children_low_usage = cs[p].children_low_usage + protected - old;
    }
}

/// The chain from `c` to the root, without allocating (a charge walks it on every batch).
fn ancestors(cs: &[PageCounter], c: usize) -> impl Iterator<Item = usize> + '_ {
    std::iter::successors(Some(c), move |&i| cs[i].parent)
}

/// page_counter_charge(): add `n` at every level regardless of the limits.
pub fn charge(cs: &mut [PageCounter], c: usize, n: u64) {
    let mut at = Some(c);
    while let Some(i) = at {
        cs[i].usage += n;
        propagate_protected_usage(cs, i);
        cs[i].watermark = cs[i].watermark.max(cs[i].usage);
        at = cs[i].parent;
    }
}

/// page_counter_try_charge(): add `n` at every level unless a level would pass its max; then
/// that level counts a failure, the levels below are undone, and the failing level is returned.
pub fn try_charge(cs: &mut [PageCounter], c: usize, n: u64) -> Result<(), usize> {
    let mut at = Some(c);
    while let Some(i) = at {
        let new = cs[i].usage + n;
        if new > cs[i].max {
            cs[i].failcnt += 1;
            let mut j = c;
            while j != i {
                cs[j].usage -= n;
                propagate_protected_usage(cs, j);
                j = cs[j].parent.expect("below the failing level");
            }
            return Err(i);
        }
        cs[i].usage = new;
        propagate_protected_usage(cs, i);
        cs[i].watermark = cs[i].watermark.max(new);
        at = cs[i].parent;
    }
    Ok(())
}

/// page_counter_uncharge() / page_counter_cancel(): subtract `n` at every level. Going below
/// zero is a kernel warning there; here the caller's invariant, so it is asserted in tests.
pub fn uncharge(cs: &mut [PageCounter], c: usize, n: u64) {
    let mut at = Some(c);
    while let Some(i) = at {
        at = cs[i].parent;
        debug_assert!(cs[i].usage >= n, "page counter {i} underflow");
        cs[i].usage = cs[i].usage.saturating_sub(n);
        propagate_protected_usage(cs, i);
    }
}

/// page_counter_set_min() / page_counter_set_low(): store, then re-propagate.
pub fn set_protection(cs: &mut [PageCounter], c: usize, min: Option<u64>, low: Option<u64>) {
    if let Some(v) = min {
        cs[c].min = v;
    }
    if let Some(v) = low {
        cs[c].low = v;
    }
    let chain: Vec<usize> = ancestors(cs, c).collect();
    for i in chain {
        propagate_protected_usage(cs, i);
    }
}

/// page_counter_set_max() (v1's limit path): refused with EBUSY while usage is above it.
pub fn set_max(cs: &mut [PageCounter], c: usize, max: u64) -> SysResult<()> {
    if cs[c].usage > max {
        return Err(Errno::EBUSY);
    }
    cs[c].max = max;
    Ok(())
}

/// memparse() (lib/cmdline.c): a number in any base simple_strtoull() reads (0x hex, 0 octal),
/// then an optional K/M/G/T/P/E suffix; the bytes and what follows them.
fn memparse(s: &str) -> (u64, &str) {
    let b = s.as_bytes();
    let (base, mut i) =
        if b.len() > 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' && b[2].is_ascii_hexdigit() {
            (16, 2)
        } else if b.first() == Some(&b'0') {
            (8, 0)
        } else {
            (10, 0)
        };
    let mut v: u64 = 0;
    while let Some(d) = b.get(i).and_then(|&c| (c as char).to_digit(base)) {
        v = v.wrapping_mul(base as u64).wrapping_add(d as u64);
        i += 1;
    }
    let shift = match b.get(i).map(|c| c.to_ascii_uppercase()) {
        Some(b'K') => 10,
        Some(b'M') => 20,
        Some(b'G') => 30,
        Some(b'T') => 40,
        Some(b'P') => 50,
        Some(b'E') => 60,
        _ => 0,
    };
    if shift > 0 {
        i += 1;
    }
    (v.wrapping_shl(shift), &s[i..])
}

/// page_counter_memparse(): the whitespace-stripped value is `max_token` (PAGE_COUNTER_MAX)
/// or a memparse() byte count with nothing after it, in pages rounded down and capped at
/// PAGE_COUNTER_MAX. The empty string is 0.
pub fn memparse_pages(buf: &str, max_token: &str) -> SysResult<u64> {
    let buf = buf.trim();
    if buf == max_token {
        return Ok(PAGE_COUNTER_MAX);
    }
    let (bytes, rest) = memparse(buf);
    if !rest.is_empty() {
        return Err(Errno::EINVAL);
    }
    Ok((bytes / PAGE_SIZE).min(PAGE_COUNTER_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memparse_follows_the_v1_table_of_the_host() {
        let p = |s| memparse_pages(s, "max");
        assert_eq!(p("4097"), Ok(1));
        assert_eq!(p("100"), Ok(0));
        assert_eq!(p("1k"), Ok(0));
        assert_eq!(p("010"), Ok(0));
        assert_eq!(p("0x100000"), Ok(256));
        assert_eq!(p("8M\n"), Ok(2048));
        assert_eq!(p(""), Ok(0), "the empty string is 0");
        assert_eq!(p("max"), Ok(PAGE_COUNTER_MAX));
        assert_eq!(p("18446744073709551615"), Ok(PAGE_COUNTER_MAX));
        assert_eq!(p("9223372036854775807"), Ok(PAGE_COUNTER_MAX));
        for bad in ["-1", "abc", "5Mx", "0x", "08", "1 2"] {
            assert_eq!(p(bad), Err(Errno::EINVAL), "{bad}");
        }
        assert_eq!(memparse_pages("-1", "-1"), Ok(PAGE_COUNTER_MAX));
    }

    #[test]
    fn a_charge_fails_at_the_level_over_its_max_and_undoes_the_levels_below() {
        let mut cs = vec![PageCounter::new(None), PageCounter::new(Some(0))];
        cs.push(PageCounter::new(Some(1)));
        cs[1].max = 10;
        assert_eq!(try_charge(&mut cs, 2, 8), Ok(()));
        assert_eq!(try_charge(&mut cs, 2, 3), Err(1));
        assert_eq!((cs[0].usage, cs[1].usage, cs[2].usage), (8, 8, 8));
        assert_eq!((cs[1].failcnt, cs[2].failcnt), (1, 0));
        charge(&mut cs, 2, 3);
        assert_eq!(cs[1].watermark, 11, "a forced charge passes max");
        assert_eq!(set_max(&mut cs, 2, 5), Err(Errno::EBUSY));
        uncharge(&mut cs, 2, 11);
        assert_eq!(cs[0].usage, 0);
        set_protection(&mut cs, 2, None, Some(4));
        charge(&mut cs, 2, 6);
        assert_eq!(cs[1].children_low_usage, 4, "min(usage, low)");
        uncharge(&mut cs, 2, 3);
        assert_eq!(cs[1].children_low_usage, 3);
    }
}
