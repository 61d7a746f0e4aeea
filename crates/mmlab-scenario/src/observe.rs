//! What an expectation observed, typed (numbers with their radix, errnos, signals, records),
//! and the state around a failing address: what a report prints and what two backends'
//! runs are compared on.

use std::fmt;

use crate::ast::Radix;

/// A number and the radix it reads best in (addresses, PFNs and bytes in hex).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Number {
    pub value: u64,
    pub radix: Radix,
}

/// What two backends' observations are compared on: an address or a PFN is particular to its
/// machine (layout randomisation, a different allocator), so only the fact that there was one
/// counts, not its value.
impl std::hash::Hash for Number {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.radix.hash(h);
        if self.radix != Radix::Addr {
            self.value.hash(h);
        }
    }
}

impl Number {
    pub fn new(value: u64, radix: Radix) -> Number {
        Number { value, radix }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.radix.show(self.value))
    }
}

impl serde::Serialize for Number {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.value)
    }
}

/// What one evaluation of an expectation (or the step that ended a scenario) saw.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observed {
    /// `expect A OP B`: the values of both sides. `right_literal`: the right side is a
    /// number written in the file, so only the left side is news.
    Compare {
        left: Number,
        right: Number,
        #[serde(skip)]
        right_literal: bool,
    },
    /// `expect A OP B` between texts (a sysfs file's choice or words, a quoted string): both
    /// sides.
    Text {
        left: String,
        right: String,
        #[serde(skip)]
        right_literal: bool,
    },
    /// A syscall failed with this errno.
    Errno { name: &'static str, code: i32 },
    /// An access raised this signal.
    Signal { name: &'static str },
    /// An access raised this signal with this si_code (`expect ... faults SIGNAL SI_CODE`).
    SignalCode {
        name: &'static str,
        code: &'static str,
    },
    /// A call returned where it was expected to fail, fault or sleep.
    Returned { value: Number },
    /// sysfs_read() returned text where it was expected to fail.
    ReturnedText { text: String },
    /// uffd_read() returned a message where it was expected to fail.
    Record { fields: Vec<(&'static str, Number)> },
    /// `expect ACCESS faults SIGNAL`: the access completed.
    NoFault,
    /// `expect X blocks`: the task sleeps (in handle_userfault(), or until its userfaultfd
    /// events are read).
    Sleeps { until: &'static str },
    /// `expect mem(ADDR, LEN) == BYTE`: every byte is this one.
    AllBytes { byte: Number },
    /// `expect mem(ADDR, LEN) == BYTE`: the first byte that differs.
    ByteAt { offset: Number, byte: Number },
    /// `expect mem(A, LEN) == mem(B, LEN)` or `== fill(SEED)` / `fill_pages(SEED)`: the
    /// `len` bytes all match.
    BytesMatch { len: Number },
    /// The same, where they first differ: the offset, the byte of `mem(A, LEN)` and the one
    /// it was compared with.
    BytesDiffer {
        offset: Number,
        left: Number,
        right: Number,
    },
    /// A step that could not go on, in words (an unknown name at run time, a task that
    /// sleeps where it may not, a budget exceeded, a backend that cannot answer).
    Message { text: String },
}

impl Observed {
    pub fn errno(e: mmlab::Errno) -> Observed {
        Observed::Errno {
            name: e.name(),
            code: e.code(),
        }
    }
    pub fn signal(s: mmlab::Signal) -> Observed {
        Observed::Signal { name: s.name() }
    }
    pub fn message(text: impl Into<String>) -> Observed {
        Observed::Message { text: text.into() }
    }
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observed::Compare {
                left,
                right,
                right_literal,
            } => {
                // One radix for both sides: hex if either reads best in hex.
                let radix = match (left.radix, right.radix) {
                    (Radix::Byte, _) => Radix::Byte,
                    (l, r) => l.join(r),
                };
                let (l, r) = (
                    Number::new(left.value, radix),
                    Number::new(right.value, radix),
                );
                if *right_literal {
                    write!(f, "{l}")
                } else {
                    write!(f, "{l} (right side {r})")
                }
            }
            Observed::Text {
                left,
                right,
                right_literal,
            } => {
                if *right_literal {
                    write!(f, "{left:?}")
                } else {
                    write!(f, "{left:?} (right side {right:?})")
                }
            }
            Observed::ReturnedText { text } => write!(f, "returned {text:?}"),
            Observed::Errno { name, .. } => write!(f, "fails {name}"),
            Observed::Signal { name } => write!(f, "raised {name}"),
            Observed::SignalCode { name, code } => write!(f, "raised {name} ({code})"),
            Observed::Returned { value } => write!(f, "returned {value}"),
            Observed::Record { fields } => {
                let v: Vec<String> = fields.iter().map(|(k, v)| format!("{k} {v}")).collect();
                write!(f, "returned {{{}}}", v.join(", "))
            }
            Observed::NoFault => f.write_str("no fault"),
            Observed::Sleeps { until } => write!(f, "sleeps {until}"),
            Observed::AllBytes { byte } => write!(f, "all {byte}"),
            Observed::ByteAt { offset, byte } => write!(f, "{byte} at offset {offset}"),
            Observed::BytesMatch { len } => write!(f, "all {len} bytes match"),
            Observed::BytesDiffer {
                offset,
                left,
                right,
            } => write!(f, "{left} at offset {offset} (compared with {right})"),
            Observed::Message { text } => f.write_str(text),
        }
    }
}

/// One /proc/PID/maps line near the failing address.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MapsLine {
    pub start: u64,
    pub end: u64,
    /// `rw-p` and so on.
    pub perms: String,
    pub offset: u64,
    pub name: String,
    /// The line as /proc/PID/maps prints it.
    pub text: String,
}

/// The page-table view of one page near the failing address.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PageLine {
    pub addr: u64,
    /// The raw /proc/PID/pagemap entry.
    pub pagemap: u64,
    /// The model's raw x86-64 entry (PTE, or the PMD of a huge mapping); the model only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pte: Option<u64>,
}

impl PageLine {
    /// The pagemap entry decoded: `present pfn 0x1234 exclusive` and so on.
    pub fn describe(&self) -> String {
        let e = self.pagemap;
        let mut words = Vec::new();
        if e >> 63 & 1 == 1 {
            words.push(format!("present pfn {:#x}", e & ((1 << 55) - 1)));
        } else if e >> 62 & 1 == 1 {
            words.push(format!("swapped {:#x}", e & ((1 << 55) - 1)));
        } else {
            words.push("none".into());
        }
        for (bit, name) in [
            (61, "file"),
            (57, "uffd_wp"),
            (56, "exclusive"),
            (55, "soft_dirty"),
        ] {
            if e >> bit & 1 == 1 {
                words.push(name.into());
            }
        }
        let mut s = format!(
            "{:#014x}  pagemap {e:#018x}  {}",
            self.addr,
            words.join(" ")
        );
        if let Some(p) = self.pte {
            s.push_str(&format!("  pte {p:#018x}"));
        }
        s
    }
}

/// What an mm engineer looks at next when an expectation about an address fails: the VMAs
/// around it and the page-table entries of the pages around it, on that backend.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Context {
    pub addr: u64,
    pub maps: Vec<MapsLine>,
    pub pages: Vec<PageLine>,
}

impl Context {
    /// The context as indented text lines.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("state around {:#x}:", self.addr)];
        if self.maps.is_empty() {
            out.push("  maps: no VMA near it".into());
        }
        for m in &self.maps {
            let mark = if m.start <= self.addr && self.addr < m.end {
                ">"
            } else {
                " "
            };
            out.push(format!("  {mark} {}", m.text));
        }
        for p in &self.pages {
            let mark = if p.addr == self.addr & !0xfff {
                ">"
            } else {
                " "
            };
            out.push(format!("  {mark} {}", p.describe()));
        }
        out
    }
}
