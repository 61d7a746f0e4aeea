//! User-visible files: /proc/PID/pagemap and /proc/PID/maps, and the sysfs and procfs files
//! served through the kernfs registry.

pub mod cgroupfs;
pub mod direct_io;
pub mod diskfs;
pub mod file;
pub mod inode;
pub mod io_uring;
pub mod kernfs;
pub mod kernfs_dir;
pub mod mem;
pub mod namei;
pub mod nfs;
pub mod pipe;
pub mod proc;
pub mod read_write;
pub mod stat;
pub mod sysfs_hugetlb;
pub mod sysfs_input;
pub mod sysfs_proc;
pub mod userfaultfd;
