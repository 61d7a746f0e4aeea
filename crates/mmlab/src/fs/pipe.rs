//! fs/pipe.c and the vmsplice() half of fs/splice.c: a pipe is a ring of at most
//! PIPE_DEF_BUFFERS buffers, each either data copied in or a page of user memory that
//! vmsplice() took a FOLL_GET reference on (iter_to_pipe() through get_user_pages_fast()). Such
//! a buffer shows the page's contents when it is read, not when it was spliced: the reason
//! vmsplice() is the classic way to observe a page after COW gave it away.

use std::collections::VecDeque;

use crate::errno::{Errno, SysResult};
use crate::hw::PAGE_SIZE;
use crate::kernel::Kernel;
use crate::mm::gup::FollFlags;
use crate::page::Pfn;
use crate::sched::Tid;
use crate::uapi::fcntl::O_DIRECT;
use crate::uapi::gup::SPLICE_F_ALL;
use crate::uapi::{O_CLOEXEC, O_NONBLOCK};

use super::file::FileKind;

/// PIPE_DEF_BUFFERS: the buffers a new pipe holds (pipe->max_usage).
pub const PIPE_DEF_BUFFERS: usize = 16;

/// One pipe_buffer.
#[derive(Clone, Debug)]
pub enum PipeBuf {
    /// A user page vmsplice() took a reference on: `len` bytes from `offset`.
    Page { pfn: Pfn, offset: usize, len: usize },
    /// Bytes written into the pipe (copied, owned by the pipe).
    Data(VecDeque<u8>),
}

impl PipeBuf {
    fn len(&self) -> usize {
        match self {
            PipeBuf::Page { len, .. } => *len,
            PipeBuf::Data(d) => d.len(),
        }
    }
}

/// struct pipe_inode_info.
#[derive(Clone, Debug, Default)]
pub struct Pipe {
    pub bufs: VecDeque<PipeBuf>,
    /// Open files on each end.
    pub readers: u32,
    pub writers: u32,
}

/// Which end of which pipe a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipeEnd {
    pub pipe: usize,
    pub write: bool,
}

impl Kernel {
    /// pipe2(2): a new pipe; returns the read end's descriptor in the low 32 bits and the
    /// write end's in the high 32 bits (the two ints of the fds array).
    pub fn pipe2(&mut self, tid: Tid, flags: u64) -> SysResult<u64> {
        self.enter(tid)?;
        // O_DIRECT (packet mode) only splits writes, and every write to a model pipe is its
        // own buffer already.
        if flags & !(O_NONBLOCK | O_CLOEXEC | O_DIRECT) != 0 {
            return Err(Errno::EINVAL);
        }
        let pid = self.tasks[tid].pid;
        let pipe = self.pipes.insert(Pipe {
            readers: 1,
            writers: 1,
            ..Default::default()
        });
        // O_NONBLOCK only decides whether a read of an empty pipe sleeps, which the model
        // never does (see pipe_to_user()).
        let end = |write| FileKind::Pipe(PipeEnd { pipe, write });
        let r = match self.fd_install_new(pid, end(false), true, false) {
            Ok(r) => r,
            Err(e) => {
                self.pipes.remove(pipe);
                return Err(e);
            }
        };
        match self.fd_install_new(pid, end(true), false, true) {
            Ok(w) => Ok(r as u64 | (w as u64) << 32),
            Err(e) => {
                self.pipes[pipe].writers = 0;
                self.close(tid, r as i64)?;
                Err(e)
            }
        }
    }

    /// The pipe end behind `fd` (get_pipe_info()), or EBADF.
    fn pipe_end(&self, tid: Tid, fd: i64) -> SysResult<PipeEnd> {
        match self.fget(tid, fd)?.kind {
            FileKind::Pipe(end) => Ok(end),
            _ => Err(Errno::EBADF),
        }
    }

    /// vmsplice(2) with one iovec `{addr, len}`: on a pipe's write end, iter_to_pipe() takes
    /// the pages with get_user_pages_fast() (FOLL_GET, read-only: the iterator is a source) up
    /// to 16 at a time and adds one buffer per page until the pipe is full (a short count);
    /// on its read end, vmsplice_to_user() copies data out as read() would. A full pipe is
    /// EAGAIN with SPLICE_F_NONBLOCK; Linux would sleep without it, the model fails EAGAIN
    /// too. EFAULT when not one page could be taken.
    pub fn vmsplice(
        &mut self,
        tid: Tid,
        fd: i64,
        addr: u64,
        len: u64,
        flags: u64,
    ) -> SysResult<u64> {
        let mm = self.enter(tid)?;
        if flags & !SPLICE_F_ALL != 0 {
            return Err(Errno::EINVAL);
        }
        let f = self.fget(tid, fd)?;
        let write = f.writable;
        if !write && !f.readable {
            return Err(Errno::EBADF);
        }
        // import_iovec(): the range must lie in user space.
        if addr
            .checked_add(len)
            .is_none_or(|e| e > crate::hw::TASK_SIZE)
        {
            return Err(Errno::EFAULT);
        }
        if len == 0 {
            return Ok(0);
        }
        let end = self.pipe_end(tid, fd)?;
        if !write {
            return self.pipe_to_user(tid, end, addr, len);
        }
        let p = &self.pipes[end.pipe];
        if p.readers == 0 {
            return Err(Errno::EPIPE);
        }
        if p.bufs.len() >= PIPE_DEF_BUFFERS {
            return Err(Errno::EAGAIN);
        }
        let mut total = 0u64;
        let mut at = addr;
        while total < len && self.pipes[end.pipe].bufs.len() < PIPE_DEF_BUFFERS {
            let off = at & (PAGE_SIZE - 1);
            let n = (len - total + off).div_ceil(PAGE_SIZE).min(16);
            let pages = match self.get_user_pages_fast(mm, at, n, FollFlags::GET) {
                Ok(p) if !p.is_empty() => p,
                _ if total > 0 => break,
                _ => return Err(Errno::EFAULT),
            };
            let mut start = off as usize;
            for pfn in pages {
                let size = (PAGE_SIZE as usize - start).min((len - total) as usize);
                if self.pipes[end.pipe].bufs.len() >= PIPE_DEF_BUFFERS {
                    // add_to_pipe() on a full pipe releases the page it was given.
                    self.put_user_page(pfn);
                    continue;
                }
                self.pipes[end.pipe].bufs.push_back(PipeBuf::Page {
                    pfn,
                    offset: start,
                    len: size,
                });
                total += size as u64;
                at += size as u64;
                start = 0;
            }
        }
        Ok(total)
    }

    /// read(2) on a pipe's read end (pipe_read()): copies out whole buffers' bytes in order,
    /// consuming them; an empty pipe is end of file once every writer is gone, else EAGAIN
    /// (for a O_NONBLOCK reader; a blocking one would sleep). EINVAL for
    /// a descriptor that is not a pipe's read end (the model reads only pipes).
    pub fn pipe_read(&mut self, tid: Tid, fd: i64, addr: u64, len: u64) -> SysResult<u64> {
        self.enter(tid)?;
        let end = self.pipe_end(tid, fd).map_err(|_| Errno::EINVAL)?;
        if end.write {
            return Err(Errno::EBADF);
        }
        if len == 0 {
            return Ok(0);
        }
        self.pipe_to_user(tid, end, addr, len)
    }

    /// Copy up to `len` bytes of the pipe's buffers to `addr` (pipe_read(), pipe_to_user()):
    /// a buffer whose copy faults part-way is neither counted nor consumed, and ends the read
    /// (EFAULT if it was the first).
    pub(crate) fn pipe_to_user(
        &mut self,
        tid: Tid,
        end: PipeEnd,
        addr: u64,
        len: u64,
    ) -> SysResult<u64> {
        if self.pipes[end.pipe].bufs.is_empty() {
            // No writer left: end of file. Otherwise O_NONBLOCK (or SPLICE_F_NONBLOCK) is
            // EAGAIN; Linux would sleep without it, which the model cannot, so it is EAGAIN too.
            return if self.pipes[end.pipe].writers == 0 {
                Ok(0)
            } else {
                Err(Errno::EAGAIN)
            };
        }
        let mut done = 0u64;
        while done < len {
            let Some(buf) = self.pipes[end.pipe].bufs.front() else {
                break;
            };
            let chars = (buf.len() as u64).min(len - done) as usize;
            let bytes: Vec<u8> = match buf {
                PipeBuf::Page { pfn, offset, .. } => (0..chars)
                    .map(|i| self.phys.load(*pfn, offset + i))
                    .collect(),
                PipeBuf::Data(d) => d.iter().take(chars).copied().collect(),
            };
            if self.copy_to_user(tid, addr + done, &bytes).is_err() {
                if done == 0 {
                    return Err(Errno::EFAULT);
                }
                break;
            }
            done += chars as u64;
            let buf = self.pipes[end.pipe].bufs.front_mut().expect("front");
            let emptied = match buf {
                PipeBuf::Page { offset, len, .. } => {
                    *offset += chars;
                    *len -= chars;
                    *len == 0
                }
                PipeBuf::Data(d) => {
                    d.drain(..chars);
                    d.is_empty()
                }
            };
            if emptied {
                if let Some(PipeBuf::Page { pfn, .. }) = self.pipes[end.pipe].bufs.pop_front() {
                    self.put_user_page(pfn);
                }
            }
        }
        Ok(done)
    }

    /// pipe_write() of `bytes` the kernel already holds (io_uring's WRITE_FIXED): one data
    /// buffer per page of them while the pipe has room; the bytes written, EAGAIN if none fit,
    /// EPIPE without readers.
    pub(crate) fn pipe_write_kernel(&mut self, pipe: usize, bytes: &[u8]) -> SysResult<u64> {
        if self.pipes[pipe].readers == 0 {
            return Err(Errno::EPIPE);
        }
        let mut done = 0;
        for chunk in bytes.chunks(PAGE_SIZE as usize) {
            let p = &mut self.pipes[pipe];
            if p.bufs.len() >= PIPE_DEF_BUFFERS {
                break;
            }
            p.bufs
                .push_back(PipeBuf::Data(chunk.iter().copied().collect()));
            done += chunk.len() as u64;
        }
        if done == 0 && !bytes.is_empty() {
            return Err(Errno::EAGAIN);
        }
        Ok(done)
    }

    /// write(2) on a pipe's write end (pipe_write()): the user's bytes copied into data
    /// buffers while the pipe has room (EFAULT if none could be read); the file position does
    /// not move.
    pub(crate) fn pipe_write_user(
        &mut self,
        tid: Tid,
        pipe: usize,
        buf: u64,
        count: u64,
        pos: u64,
    ) -> SysResult<(u64, u64)> {
        let mut bytes = Vec::new();
        self.copy_from_user(tid, buf, &mut bytes, count);
        if bytes.is_empty() && count > 0 {
            return Err(Errno::EFAULT);
        }
        Ok((self.pipe_write_kernel(pipe, &bytes)?, pos))
    }

    /// The pipe behind a write end `fd`, for a kernel writer (EBADF otherwise).
    pub(crate) fn pipe_for_write(&self, tid: Tid, fd: i64) -> SysResult<usize> {
        match self.pipe_end(tid, fd)? {
            PipeEnd {
                pipe, write: true, ..
            } => Ok(pipe),
            _ => Err(Errno::EBADF),
        }
    }

    /// pipe_release(): the last file of one end went away; with both ends gone the pipe and
    /// every page reference its buffers hold are freed (free_pipe_info()).
    pub(crate) fn pipe_release(&mut self, end: PipeEnd) {
        let p = &mut self.pipes[end.pipe];
        if end.write {
            p.writers -= 1;
        } else {
            p.readers -= 1;
        }
        if p.readers == 0 && p.writers == 0 {
            for b in self.pipes.remove(end.pipe).bufs {
                if let PipeBuf::Page { pfn, .. } = b {
                    self.put_user_page(pfn);
                }
            }
        }
    }

    /// The FOLL_GET references pipes hold, per page (for the invariants).
    pub(crate) fn pipe_page_refs(&self) -> impl Iterator<Item = Pfn> + '_ {
        self.pipes.iter().flat_map(|(_, p)| {
            p.bufs.iter().filter_map(|b| match b {
                PipeBuf::Page { pfn, .. } => Some(*pfn),
                PipeBuf::Data(_) => None,
            })
        })
    }
}
