//! The mmlab `Backend` over the host kernel: each scenario process is a real process (an agent)
//! driven step by step over a socket; accesses are real loads and stores, and what a scenario
//! observes comes from /proc. Also the native host workloads `mmlab bench` compares against.

pub mod agent;
pub mod agent_space;
pub mod bench;
pub mod gup_bench;
pub mod gup_calls;
pub mod host;
pub mod host_state;
pub mod hostlock;
pub mod hugetlb_pool;
pub mod memcg;
pub mod procfs;
pub mod proto;
pub mod scenario_dir;
pub mod swap_areas;
pub mod swap_bench;
pub mod sysfs;
pub mod thp_knobs;
pub mod uffd_bench;

pub use host::{AgentCommand, HostBackend};
pub use hostlock::HostLock;
