//! User-visible files: /proc/PID/pagemap and /proc/PID/maps, and the sysfs and procfs files
//! served through the kernfs registry.

pub mod file;
pub mod inode;
pub mod io_uring;
pub mod kernfs;
pub mod pipe;
pub mod proc;
pub mod sysfs_hugetlb;
pub mod sysfs_input;
pub mod sysfs_proc;
pub mod userfaultfd;
