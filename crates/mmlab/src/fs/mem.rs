//! drivers/char/mem.c: mmap of /dev/zero (mmap_zero()): a shared mapping is shmem
//! (shmem_zero_setup()), a private one anonymous memory (vma_set_anonymous()).

use crate::errno::{Errno, SysResult};
use crate::fs::file::File;
use crate::kernel::Kernel;
use crate::mm::mmap::LEGACY_MAP_MASK;
use crate::mm::MmId;
use crate::uapi::*;

impl Kernel {
    /// do_mmap() of /dev/zero: the file's checks (a shared writable mapping needs FMODE_WRITE,
    /// any mapping FMODE_READ; MAP_SHARED_VALIDATE refuses flags outside LEGACY_MAP_MASK, the
    /// device having no mmap_supported_flags; MAP_HUGETLB is not for it), then the mapping
    /// as anonymous memory of the same type.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mmap_zero(
        &mut self,
        mm: MmId,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u64,
        off: u64,
        f: &File,
    ) -> SysResult<u64> {
        if flags & MAP_HUGETLB != 0 {
            return Err(Errno::EINVAL);
        }
        let typ = match flags & MAP_TYPE {
            t @ (MAP_SHARED | MAP_SHARED_VALIDATE) => {
                if t == MAP_SHARED_VALIDATE && flags & !LEGACY_MAP_MASK != 0 {
                    return Err(Errno::EOPNOTSUPP);
                }
                if prot & PROT_WRITE != 0 && !f.writable {
                    return Err(Errno::EACCES);
                }
                MAP_SHARED
            }
            MAP_PRIVATE => MAP_PRIVATE,
            _ => return Err(Errno::EINVAL),
        };
        if !f.readable {
            return Err(Errno::EACCES);
        }
        let flags = (flags & !MAP_TYPE) | typ | MAP_ANONYMOUS;
        self.do_mmap(mm, addr, len, prot, flags, off, None)
    }
}
