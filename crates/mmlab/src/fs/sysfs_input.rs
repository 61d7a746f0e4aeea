//! How store handlers read what was written: lib/kstrtox.c (kstrtoul(), kstrtouint()),
//! sysfs_streq() (lib/string.c), and the sysctl number reader of kernel/sysctl.c
//! (__do_proc_doulongvec_minmax() with proc_get_long()). Each returns the errno its Linux
//! counterpart gives, which the handler may pass on or replace (several return -EINVAL for
//! any failure).

use crate::errno::{Errno, SysResult};

/// _parse_integer(): the value of the leading digits of `s` in `base` (10 or 16 after the
/// prefix), how many bytes they take, and whether the value overflowed 64 bits.
fn parse_integer(s: &[u8], base: u32) -> (u64, usize, bool) {
    let mut val: u64 = 0;
    let mut overflow = false;
    let mut n = 0;
    for &b in s {
        let Some(d) = (b as char).to_digit(base) else {
            break;
        };
        match val
            .checked_mul(base as u64)
            .and_then(|v| v.checked_add(d as u64))
        {
            Some(v) => val = v,
            None => overflow = true,
        }
        n += 1;
    }
    (val, n, overflow)
}

/// _parse_integer_fixup_radix(): with base 0, "0x" followed by a hex digit means 16, a
/// leading "0" means 8, otherwise 10; with base 16, an "0x" prefix is skipped.
fn fixup_radix(s: &[u8], base: u32) -> (&[u8], u32) {
    let hex_prefix = s.len() > 1 && s[0] == b'0' && s[1].eq_ignore_ascii_case(&b'x');
    match base {
        0 if hex_prefix && s.get(2).is_some_and(u8::is_ascii_hexdigit) => (&s[2..], 16),
        0 if s.first() == Some(&b'0') => (s, 8),
        0 => (s, 10),
        16 if hex_prefix => (&s[2..], 16),
        b => (s, b),
    }
}

/// kstrtoull(s, base): an optional '+', digits, an optional trailing newline and nothing
/// else. EINVAL for anything else, ERANGE past 64 bits.
pub fn kstrtoull(s: &str, base: u32) -> SysResult<u64> {
    let b = s.as_bytes();
    let b = b.strip_prefix(b"+").unwrap_or(b);
    let (b, base) = fixup_radix(b, base);
    let (val, n, overflow) = parse_integer(b, base);
    if overflow {
        return Err(Errno::ERANGE);
    }
    if n == 0 {
        return Err(Errno::EINVAL);
    }
    match &b[n..] {
        b"" | b"\n" => Ok(val),
        _ => Err(Errno::EINVAL),
    }
}

/// kstrtoul(s, 10) on a 64-bit kernel (kstrtoull()).
pub fn kstrtoul(s: &str) -> SysResult<u64> {
    kstrtoull(s, 10)
}

/// kstrtouint(s, 10): kstrtoull(), then ERANGE past 32 bits.
pub fn kstrtouint(s: &str) -> SysResult<u32> {
    u32::try_from(kstrtoull(s, 10)?).map_err(|_| Errno::ERANGE)
}

/// sysfs_streq(): equal, except that either side may end in one newline the other lacks.
pub fn sysfs_streq(written: &str, choice: &str) -> bool {
    written.strip_suffix('\n').unwrap_or(written) == choice
}

/// TMPBUFLEN of proc_get_long(): a number of 21 or more characters is refused.
const TMPBUFLEN: usize = 22;

/// proc_get_long() as the sysctl writers call it for one value: leading white space is
/// skipped; an optional minus sign, then a number (strtoul_lenient(), base 0) that must be
/// followed by white space or the end; nothing to read, or a value past 64 bits, is EINVAL.
/// Returns the sign and magnitude. What follows the first number is not consumed: the write
/// returns short and the rest, written again at a non-zero offset, is ignored under the
/// default sysctl_writes_strict.
fn proc_get_long(buf: &str) -> SysResult<(bool, u64)> {
    let s = buf.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    if s.is_empty() {
        return Err(Errno::EINVAL);
    }
    let b = s.as_bytes();
    let len = b.len().min(TMPBUFLEN - 1);
    let neg = b[0] == b'-';
    let tmp = &b[usize::from(neg)..len];
    if !tmp.first().is_some_and(u8::is_ascii_digit) {
        return Err(Errno::EINVAL);
    }
    let (digits, base) = fixup_radix(tmp, 0);
    let (val, n, overflow) = parse_integer(digits, base);
    if overflow {
        return Err(Errno::EINVAL);
    }
    let used = len - digits.len() + n;
    if used == TMPBUFLEN - 1 {
        return Err(Errno::EINVAL);
    }
    match b.get(used) {
        None | Some(b' ' | b'\t' | b'\n') => Ok((neg, val)),
        Some(_) => Err(Errno::EINVAL),
    }
}

/// __do_proc_doulongvec_minmax() writing one unsigned long (a table with maxlen of one
/// value and no bounds, like vm.nr_hugepages): proc_get_long(), where a minus sign is EINVAL.
pub fn proc_doulongvec(buf: &str) -> SysResult<u64> {
    match proc_get_long(buf)? {
        (false, v) => Ok(v),
        (true, _) => Err(Errno::EINVAL),
    }
}

/// proc_dointvec_minmax() writing one int: proc_get_long(), then EINVAL for a value
/// outside int or outside [min, max] (do_proc_dointvec_minmax_conv()).
pub fn proc_dointvec_minmax(buf: &str, min: i32, max: i32) -> SysResult<i32> {
    let (neg, v) = proc_get_long(buf)?;
    let v = if neg { -(v as i128) } else { v as i128 };
    i32::try_from(v)
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or(Errno::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kstrtoul_takes_what_the_kernel_takes() {
        assert_eq!(kstrtoul("42"), Ok(42));
        assert_eq!(kstrtoul("42\n"), Ok(42));
        assert_eq!(kstrtoul("+42\n"), Ok(42));
        assert_eq!(
            kstrtoul("042"),
            Ok(42),
            "base 10: a leading zero is a digit"
        );
        assert_eq!(kstrtoul("0x10"), Err(Errno::EINVAL));
        assert_eq!(kstrtoul("-1"), Err(Errno::EINVAL));
        assert_eq!(kstrtoul(" 1"), Err(Errno::EINVAL));
        assert_eq!(kstrtoul("1 "), Err(Errno::EINVAL));
        assert_eq!(kstrtoul("1\n\n"), Err(Errno::EINVAL));
        assert_eq!(kstrtoul(""), Err(Errno::EINVAL));
        assert_eq!(kstrtoul("\n"), Err(Errno::EINVAL));
        assert_eq!(kstrtoul("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(kstrtoul("18446744073709551616"), Err(Errno::ERANGE));
        assert_eq!(kstrtoul("99999999999999999999x"), Err(Errno::ERANGE));
        assert_eq!(kstrtouint("4294967295"), Ok(u32::MAX));
        assert_eq!(kstrtouint("4294967296"), Err(Errno::ERANGE));
        assert_eq!(kstrtoull("0x1f", 16), Ok(31));
    }

    #[test]
    fn sysfs_streq_allows_one_trailing_newline() {
        assert!(sysfs_streq("always\n", "always"));
        assert!(sysfs_streq("always", "always"));
        assert!(!sysfs_streq("always\n\n", "always"));
        assert!(!sysfs_streq(" always", "always"));
    }

    #[test]
    fn sysctl_numbers_are_read_leniently() {
        assert_eq!(proc_doulongvec("5\n"), Ok(5));
        assert_eq!(proc_doulongvec("  5"), Ok(5));
        assert_eq!(proc_doulongvec("0x10\n"), Ok(16));
        assert_eq!(proc_doulongvec("010"), Ok(8));
        assert_eq!(
            proc_doulongvec("5 7"),
            Ok(5),
            "the rest is written again and ignored"
        );
        assert_eq!(proc_doulongvec("5x"), Err(Errno::EINVAL));
        assert_eq!(proc_doulongvec("-5"), Err(Errno::EINVAL));
        assert_eq!(proc_doulongvec("\n"), Err(Errno::EINVAL));
        assert_eq!(proc_doulongvec(""), Err(Errno::EINVAL));
        assert_eq!(proc_doulongvec("abc"), Err(Errno::EINVAL));
        assert_eq!(proc_doulongvec("18446744073709551616"), Err(Errno::EINVAL));
        assert_eq!(proc_doulongvec("000000000000000000001"), Err(Errno::EINVAL));
    }

    #[test]
    fn proc_dointvec_minmax_takes_signs_and_bounds() {
        assert_eq!(proc_dointvec_minmax("60\n", 0, 200), Ok(60));
        assert_eq!(proc_dointvec_minmax(" -0", 0, 200), Ok(0));
        assert_eq!(proc_dointvec_minmax("0x10", 0, 200), Ok(16));
        assert_eq!(proc_dointvec_minmax("201", 0, 200), Err(Errno::EINVAL));
        assert_eq!(proc_dointvec_minmax("-1", 0, 200), Err(Errno::EINVAL));
        assert_eq!(proc_dointvec_minmax("-5", -10, 10), Ok(-5));
        assert_eq!(
            proc_dointvec_minmax("2147483648", 0, i32::MAX),
            Err(Errno::EINVAL),
            "past int"
        );
        assert_eq!(proc_dointvec_minmax("-", 0, 200), Err(Errno::EINVAL));
        assert_eq!(proc_dointvec_minmax("7z", 0, 200), Err(Errno::EINVAL));
    }
}
