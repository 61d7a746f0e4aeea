//! Writing the generator's numbers as a person would: sizes in pages, addresses relative to the
//! variable that holds their mapping, flags by name, bytes in hex.

use crate::refmem::{HPAGE, PAGE};

/// A multiple of PAGE_SIZE or HPAGE_SIZE by name, else the number.
pub fn size(v: u64) -> String {
    let unit = |n: u64, name: &str| {
        if n == 1 {
            name.to_string()
        } else {
            format!("{n} * {name}")
        }
    };
    if v != 0 && v.is_multiple_of(HPAGE) {
        unit(v / HPAGE, "HPAGE_SIZE")
    } else if v != 0 && v.is_multiple_of(PAGE) {
        unit(v / PAGE, "PAGE_SIZE")
    } else if v > PAGE {
        let pages = v / PAGE * PAGE;
        format!("{} + {}", size(pages), v % PAGE)
    } else {
        num(v)
    }
}

/// `var`, `var + 3 * PAGE_SIZE + 17`, `var - PAGE_SIZE`.
pub fn addr(var: &str, off: i64) -> String {
    match off {
        0 => var.to_string(),
        o if o > 0 => format!("{var} + {}", size(o as u64)),
        o => format!("{var} - {}", size(o.unsigned_abs())),
    }
}

/// Decimal up to 4096, hex above (as the runner prints them).
pub fn num(v: u64) -> String {
    if v > 4096 {
        format!("{v:#x}")
    } else {
        v.to_string()
    }
}

pub fn byte(v: u8) -> String {
    format!("{v:#04x}")
}

/// Named flags joined with `|` and their value; `zero` names the empty set.
pub fn flags(chosen: &[(&str, u64)], zero: &str) -> (String, u64) {
    if chosen.is_empty() {
        return (zero.to_string(), 0);
    }
    let text = chosen.iter().map(|f| f.0).collect::<Vec<_>>().join(" | ");
    (text, chosen.iter().fold(0, |a, f| a | f.1))
}

/// The line for an access that ended in `sig`: `expect ... faults SIGNAL`, or, for an outcome
/// the language has no expectation for (a fault livelock: the model's handler keeps
/// succeeding without mapping anything, where the task would fault until killed), the access
/// as a comment, so the case replays as written.
pub fn faults(tn: &str, access: &str, sig: mmlab::Signal) -> String {
    match sig {
        mmlab::Signal::Livelock => format!("# {tn}: {access} (a fault livelock)"),
        sig => format!("{tn}: expect {access} faults {}", sig.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_addresses_read_in_pages() {
        assert_eq!(size(PAGE), "PAGE_SIZE");
        assert_eq!(size(3 * PAGE), "3 * PAGE_SIZE");
        assert_eq!(size(2 * HPAGE), "2 * HPAGE_SIZE");
        assert_eq!(size(100), "100");
        assert_eq!(size(0), "0");
        assert_eq!(addr("p", 0), "p");
        assert_eq!(addr("p", 2 * PAGE as i64), "p + 2 * PAGE_SIZE");
        assert_eq!(addr("p", -(PAGE as i64)), "p - PAGE_SIZE");
        assert_eq!(addr("p", 17), "p + 17");
        assert_eq!(addr("p", PAGE as i64 + 17), "p + PAGE_SIZE + 17");
        assert_eq!(flags(&[], "PROT_NONE"), ("PROT_NONE".into(), 0));
        assert_eq!(flags(&[("A", 1), ("B", 4)], "0"), ("A | B".into(), 5));
    }
}
