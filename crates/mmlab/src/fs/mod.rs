//! User-visible files: /proc/PID/pagemap and /proc/PID/maps.

pub mod file;
pub mod inode;
pub mod proc;
pub mod userfaultfd;
