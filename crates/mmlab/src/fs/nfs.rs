//! fs/nfs/file.c and fs/nfs/direct.c as swap uses them: a network filesystem's swap file
//! whose pages live, for real, in a file on this host. nfs_swap_activate() refuses a file
//! with holes and leaves the I/O to the filesystem (SWP_FS_OPS); nfs_swap_rw() is direct I/O
//! (O_DIRECT on the host file where the host filesystem takes it) that returns -EIOCBQUEUED:
//! a few I/O threads, standing in for the RPC transport's slots, carry the requests out, and the
//! model collects the result when it completes the request (ki_complete()), in whatever
//! order a scenario asks. The 5.18 path (->direct_IO, one synchronous page) writes inline.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use crate::errno::Errno;

/// O_DIRECT on x86-64 and arm64 generic (asm-generic/fcntl.h: 00040000).
const O_DIRECT: i32 = 0o40000;
/// Direct I/O buffers and offsets are aligned to this.
const DIO_ALIGN: usize = 4096;
/// I/O threads per file: requests in flight at once on the host (an NFS client's RPC slots).
const IO_THREADS: usize = 4;

/// What a request asks of the file.
#[derive(Debug)]
pub enum RwOp {
    /// Write these bytes at the position.
    Write(Vec<u8>),
    /// Read this many bytes from the position.
    Read(usize),
}

/// One request for the I/O thread.
#[derive(Debug)]
struct Job {
    id: u64,
    pos: u64,
    op: RwOp,
}

/// A request's outcome: the bytes read (empty for a write), or the errno.
pub type RwResult = Result<Vec<u8>, Errno>;

/// A swap file on the model's network filesystem, backed by a host file.
#[derive(Debug)]
pub struct NfsSwapFile {
    path: PathBuf,
    file: Arc<File>,
    bytes: u64,
    /// Opened with O_DIRECT (false where the host filesystem refuses it).
    pub direct: bool,
    /// The file was made for this model and goes with it.
    owned: bool,
    jobs: Mutex<Option<Sender<Job>>>,
    results: Mutex<Receiver<(u64, RwResult)>>,
    /// Results that arrived while the model waited for another request.
    early: Mutex<HashMap<u64, RwResult>>,
    next_id: AtomicU64,
}

/// A buffer of `len` bytes whose start is DIO_ALIGN-aligned: the storage and the offset.
fn aligned(len: usize) -> (Vec<u8>, usize) {
    let v = vec![0u8; len + DIO_ALIGN];
    let off = v.as_ptr().align_offset(DIO_ALIGN);
    (v, off)
}

/// pwrite/pread of a whole request through an aligned buffer.
fn file_rw(file: &File, pos: u64, op: &RwOp) -> RwResult {
    let eio = |e: io::Error| Errno::from_code(e.raw_os_error().unwrap_or(5)).unwrap_or(Errno::EIO);
    match op {
        RwOp::Write(data) => {
            let (mut buf, off) = aligned(data.len());
            buf[off..off + data.len()].copy_from_slice(data);
            file.write_all_at(&buf[off..off + data.len()], pos)
                .map_err(eio)?;
            Ok(Vec::new())
        }
        RwOp::Read(len) => {
            let (mut buf, off) = aligned(*len);
            file.read_exact_at(&mut buf[off..off + len], pos)
                .map_err(eio)?;
            Ok(buf[off..off + len].to_vec())
        }
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl NfsSwapFile {
    /// Create the host file at `path` (a fresh one under the temporary directory if None,
    /// removed when the model goes) of `bytes`: written through, so every block is
    /// allocated, or only truncated to its size (`holes`: a sparse file).
    pub fn create(path: Option<&Path>, name: &str, bytes: u64, holes: bool) -> io::Result<Self> {
        let (path, owned) = match path {
            Some(p) => (p.to_path_buf(), false),
            None => {
                let n = SEQ.fetch_add(1, Ordering::Relaxed);
                let f = format!("mmlab-swapfs-{}-{n}-{name}", std::process::id());
                (std::env::temp_dir().join(f), true)
            }
        };
        {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)?;
            if holes {
                f.set_len(bytes)?;
            } else {
                let chunk = vec![0u8; 1 << 20];
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    f.write_all(&chunk[..n])?;
                    left -= n as u64;
                }
                f.sync_all()?;
            }
        }
        let open = |direct: bool| {
            let mut o = OpenOptions::new();
            o.read(true).write(true);
            if direct {
                o.custom_flags(O_DIRECT);
            }
            o.open(&path)
        };
        let (file, direct) = match open(true) {
            Ok(f) => (f, true),
            Err(_) => (open(false)?, false),
        };
        let file = Arc::new(file);
        let (jtx, jrx) = channel::<Job>();
        let jrx = Arc::new(Mutex::new(jrx));
        let (rtx, rrx) = channel();
        for _ in 0..IO_THREADS {
            let (worker, jobs, done) = (Arc::clone(&file), Arc::clone(&jrx), rtx.clone());
            std::thread::Builder::new()
                .name("mmlab-swapfs-io".into())
                .spawn(move || loop {
                    let job = jobs.lock().ok().and_then(|rx| rx.recv().ok());
                    let Some(j) = job else { break };
                    let r = file_rw(&worker, j.pos, &j.op);
                    if done.send((j.id, r)).is_err() {
                        break;
                    }
                })?;
        }
        Ok(NfsSwapFile {
            path,
            file,
            bytes,
            direct,
            owned,
            jobs: Mutex::new(Some(jtx)),
            results: Mutex::new(rrx),
            early: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        })
    }

    /// The host file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's size in bytes (i_size).
    pub fn size(&self) -> u64 {
        self.bytes
    }

    /// nfs_swap_activate()'s hole check: fewer allocated 512-byte blocks than the size.
    pub fn has_holes(&self) -> bool {
        self.file
            .metadata()
            .map_or(true, |m| m.blocks() * 512 < m.size())
    }

    /// nfs_swap_rw() returning -EIOCBQUEUED: the request goes to the I/O thread; its id
    /// names it to `complete`.
    pub fn submit(&self, pos: u64, op: RwOp) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .jobs
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|tx| tx.send(Job { id, pos, op }).is_ok()));
        if sent != Some(true) {
            self.stash(id, Err(Errno::EIO));
        }
        id
    }

    fn stash(&self, id: u64, r: RwResult) {
        if let Ok(mut m) = self.early.lock() {
            m.insert(id, r);
        }
    }

    /// Wait for request `id` to finish on the I/O thread and take its result.
    pub fn complete(&self, id: u64) -> RwResult {
        loop {
            if let Some(r) = self.early.lock().ok().and_then(|mut m| m.remove(&id)) {
                return r;
            }
            let got = self.results.lock().ok().and_then(|rx| rx.recv().ok());
            match got {
                Some((i, r)) if i == id => return r,
                Some((i, r)) => self.stash(i, r),
                None => return Err(Errno::EIO),
            }
        }
    }

    /// The 5.18 ->direct_IO(): one synchronous request, made inline.
    pub fn rw_sync(&self, pos: u64, op: &RwOp) -> RwResult {
        file_rw(&self.file, pos, op)
    }

    /// The bytes at `pos` as the host file holds them now (for probes and tests).
    pub fn read_at(&self, pos: u64, len: usize) -> RwResult {
        let start = pos & !(DIO_ALIGN as u64 - 1);
        let end = (pos + len as u64).next_multiple_of(DIO_ALIGN as u64);
        let whole = file_rw(&self.file, start, &RwOp::Read((end - start) as usize))?;
        let skip = (pos - start) as usize;
        Ok(whole[skip..skip + len].to_vec())
    }
}

impl Drop for NfsSwapFile {
    fn drop(&mut self) {
        // The I/O thread ends once its queue is closed.
        if let Ok(mut g) = self.jobs.lock() {
            g.take();
        }
        if self.owned {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reach_the_host_file_and_read_back_out_of_order() {
        let f = NfsSwapFile::create(None, "t", 64 * 1024, false).expect("host file");
        assert!(!f.has_holes(), "written through: no holes");
        let a = f.submit(4096, RwOp::Write(vec![0x5a; 8192]));
        let b = f.submit(16384, RwOp::Write(vec![0xa5; 4096]));
        assert_eq!(f.complete(b), Ok(Vec::new()));
        assert_eq!(f.complete(a), Ok(Vec::new()));
        let r = f.submit(4096, RwOp::Read(4096));
        assert_eq!(f.complete(r).expect("read"), vec![0x5a; 4096]);
        assert_eq!(f.read_at(16384 + 7, 2).expect("probe"), vec![0xa5; 2]);
        assert_eq!(
            f.rw_sync(60 * 1024, &RwOp::Read(8192)),
            Err(Errno::EIO),
            "a read past the end of the file is short"
        );
        let p = f.path().to_path_buf();
        drop(f);
        assert!(!p.exists(), "the model's own file goes with it");
    }

    #[test]
    fn a_sparse_file_has_holes() {
        let f = NfsSwapFile::create(None, "h", 1 << 20, true).expect("host file");
        assert!(f.has_holes());
    }
}
