//! The runner ↔ agent wire format: fixed-size requests and replies, no allocation on either
//! side, so the agent's own work between two scenario steps takes no page faults.

/// Request opcodes.
pub mod op {
    /// Replies with the agent's pid, its thread id and the minor faults that thread has taken
    /// so far (all of them the agent's own for a thread that has served nothing yet).
    pub const HELLO: u64 = 1;
    /// A syscall of the scenario's table: `[SYSCALL, nr, kinds, a0 .. a5]` (see `ArgSlot`); a
    /// string argument's bytes follow the request, its slot holding their length.
    pub const SYSCALL: u64 = 2;
    /// `[IOCTL, fd, req, out, w0 ..]`: ioctl(fd, req, &words) on a struct of _IOC_SIZE(req)
    /// bytes, the words given and zeroes after them; replies with word `out - 1` (0: none).
    pub const IOCTL: u64 = 3;
    pub const SETAFFINITY: u64 = 4;
    pub const LOAD: u64 = 5;
    pub const STORE: u64 = 6;
    pub const MEMSET: u64 = 7;
    pub const TOUCH: u64 = 8;
    pub const MISMATCH: u64 = 9;
    /// Carries a new channel for the child (SCM_RIGHTS). Replies with the child's pid and the
    /// minor faults the parent's thread took while it served the request (the agent's own).
    pub const FORK: u64 = 10;
    /// Carries a new channel for the thread (SCM_RIGHTS). Replies with 0 and the minor faults
    /// the calling thread took while it served the request (the agent's own).
    pub const THREAD: u64 = 11;
    pub const EXIT: u64 = 12;
    /// read(2) of one uffd_msg: the event byte with the argument's third word shifted above it,
    /// then the argument's first two words; event 0 when a blocking read would sleep.
    pub const UFFD_READ: u64 = 13;
    /// fstat(2) of descriptor `[FSTAT, fd]`: st_size, st_blocks, then st_mode with st_nlink
    /// shifted 32 bits above it.
    pub const FSTAT: u64 = 14;
    /// `[FILL, addr, len, seed, shift]`: byte i of the range becomes seed + (i >> shift).
    pub const FILL: u64 = 15;
    /// `[MISMATCH_PATTERN, addr, len, seed, shift]`: the offset+1 of the first byte that is
    /// not seed + (i >> shift) (0: none), and that byte.
    pub const MISMATCH_PATTERN: u64 = 16;
    /// `[MEMCMP, a, b, len]`: the offset+1 of the first byte where the ranges differ (0:
    /// none), and the byte of each.
    pub const MEMCMP: u64 = 17;
    /// `[CAPSET, effective, permitted, inheritable]`: capset() of the serving thread, version 3.
    pub const CAPSET: u64 = 18;
    /// `[AGENT, sub, a0 .. a5]`: a call the agent builds itself (an iovec, a ring, a path),
    /// `sub` one of mmlab-scenario's `gup_agent_op` numbers; replies with its result.
    pub const AGENT: u64 = 19;
    /// `[WAIT4, pid, options]`: wait4() with WNOHANG added and a struct rusage; replies with
    /// the pid reaped (0: none has exited) and the wait status 32 bits above it, ru_minflt,
    /// then ru_majflt with ru_maxrss 32 bits above it.
    pub const WAIT4: u64 = 20;
    /// `[GETRUSAGE, who]`: ru_minflt, ru_majflt, ru_maxrss.
    pub const GETRUSAGE: u64 = 21;
}

/// What the agent does with one argument of a SYSCALL request, two bits per argument in its
/// `kinds` word (argument i at bits 2i, 2i+1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgSlot {
    /// Passed as it is.
    Value = 0,
    /// A descriptor: the agent's own channels look unopened.
    Fd = 1,
    /// A string: the slot holds its length, the bytes follow the request.
    Str = 2,
}

impl ArgSlot {
    /// The kind of argument `i` in a `kinds` word.
    pub fn of(kinds: u64, i: usize) -> ArgSlot {
        match kinds >> (2 * i) & 3 {
            1 => ArgSlot::Fd,
            2 => ArgSlot::Str,
            _ => ArgSlot::Value,
        }
    }

    /// `kinds` with argument `i` of this kind.
    pub fn set(self, kinds: u64, i: usize) -> u64 {
        kinds | (self as u64) << (2 * i)
    }
}

/// The longest string the protocol carries (PATH_MAX less the NUL; Linux refuses memfd
/// names over 249 bytes).
pub const MAX_NAME: usize = 4095;

/// The most struct words an IOCTL request carries.
pub const IOCTL_WORDS: usize = 6;

/// A request: opcode and up to nine arguments.
pub type Request = [u64; 10];
pub const REQUEST_BYTES: usize = 80;

/// A reply: status (0 ok, > 0 errno, < 0 minus a signal number) and up to three values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    pub status: i64,
    pub v: [u64; 3],
}
pub const REPLY_BYTES: usize = 32;

impl Reply {
    pub fn ok(v0: u64) -> Reply {
        Reply {
            status: 0,
            v: [v0, 0, 0],
        }
    }
    pub fn encode(&self) -> [u8; REPLY_BYTES] {
        let mut b = [0u8; REPLY_BYTES];
        b[..8].copy_from_slice(&self.status.to_le_bytes());
        for (i, x) in self.v.iter().enumerate() {
            b[8 + i * 8..16 + i * 8].copy_from_slice(&x.to_le_bytes());
        }
        b
    }
    pub fn decode(b: &[u8; REPLY_BYTES]) -> Reply {
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Reply {
            status: w(0) as i64,
            v: [w(1), w(2), w(3)],
        }
    }
}

/// A request: the opcode, then `args`, then zeroes.
pub fn request(op: u64, args: &[u64]) -> Request {
    let mut r = [0u64; 10];
    r[0] = op;
    r[1..1 + args.len()].copy_from_slice(args);
    r
}

pub fn encode_request(r: &Request) -> [u8; REQUEST_BYTES] {
    let mut b = [0u8; REQUEST_BYTES];
    for (i, x) in r.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&x.to_le_bytes());
    }
    b
}

pub fn decode_request(b: &[u8; REQUEST_BYTES]) -> Request {
    let mut r = [0u64; 10];
    for (i, x) in r.iter_mut().enumerate() {
        *x = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let r = [op::SYSCALL, 1, u64::MAX, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(decode_request(&encode_request(&r)), r);
        let kinds = ArgSlot::Str.set(ArgSlot::Fd.set(0, 4), 0);
        assert_eq!(ArgSlot::of(kinds, 0), ArgSlot::Str);
        assert_eq!(ArgSlot::of(kinds, 4), ArgSlot::Fd);
        assert_eq!(ArgSlot::of(kinds, 5), ArgSlot::Value);
        let rep = Reply {
            status: -11,
            v: [1, 2, u64::MAX],
        };
        assert_eq!(Reply::decode(&rep.encode()), rep);
    }
}
