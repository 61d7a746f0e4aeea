//! The runner ↔ agent wire format: fixed-size requests and replies, no allocation on either
//! side, so the agent's own work between two scenario steps takes no page faults.

/// Request opcodes.
pub mod op {
    pub const HELLO: u64 = 1;
    pub const MMAP: u64 = 2;
    pub const MUNMAP: u64 = 3;
    pub const MREMAP: u64 = 4;
    pub const MPROTECT: u64 = 5;
    pub const MADVISE: u64 = 6;
    pub const SETAFFINITY: u64 = 7;
    pub const LOAD: u64 = 8;
    pub const STORE: u64 = 9;
    pub const MEMSET: u64 = 10;
    pub const TOUCH: u64 = 11;
    pub const MISMATCH: u64 = 12;
    /// Carries a new channel for the child (SCM_RIGHTS).
    pub const FORK: u64 = 13;
    /// Carries a new channel for the thread (SCM_RIGHTS).
    pub const THREAD: u64 = 14;
    pub const EXIT: u64 = 15;
    /// Followed by the name's bytes (the length is in the request).
    pub const MEMFD_CREATE: u64 = 16;
    pub const FTRUNCATE: u64 = 17;
    pub const FALLOCATE: u64 = 18;
    pub const CLOSE: u64 = 19;
    pub const USERFAULTFD: u64 = 20;
    /// Replies with the features and ioctls the kernel wrote back.
    pub const UFFDIO_API: u64 = 21;
    /// Replies with the ioctls the range supports.
    pub const UFFDIO_REGISTER: u64 = 22;
    pub const UFFDIO_UNREGISTER: u64 = 23;
    pub const FCNTL: u64 = 24;
    /// The ioctls that fill or protect a registered range; reply with the bytes done.
    pub const UFFDIO_COPY: u64 = 25;
    pub const UFFDIO_ZEROPAGE: u64 = 26;
    pub const UFFDIO_CONTINUE: u64 = 27;
    pub const UFFDIO_WRITEPROTECT: u64 = 28;
    pub const UFFDIO_WAKE: u64 = 29;
    /// read(2) of one uffd_msg: the event byte with the argument's third word shifted above it,
    /// then the argument's first two words; event 0 when a blocking read would sleep.
    pub const UFFD_READ: u64 = 30;
}

/// The longest memfd name the protocol carries (Linux refuses names over 249 bytes).
pub const MAX_NAME: usize = 4095;

/// A request: opcode and up to seven arguments.
pub type Request = [u64; 8];
pub const REQUEST_BYTES: usize = 64;

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

pub fn encode_request(r: &Request) -> [u8; REQUEST_BYTES] {
    let mut b = [0u8; REQUEST_BYTES];
    for (i, x) in r.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&x.to_le_bytes());
    }
    b
}

pub fn decode_request(b: &[u8; REQUEST_BYTES]) -> Request {
    let mut r = [0u64; 8];
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
        let r = [op::MREMAP, 1, u64::MAX, 3, 4, 5, 6, 7];
        assert_eq!(decode_request(&encode_request(&r)), r);
        let rep = Reply {
            status: -11,
            v: [1, 2, u64::MAX],
        };
        assert_eq!(Reply::decode(&rep.encode()), rep);
    }
}
