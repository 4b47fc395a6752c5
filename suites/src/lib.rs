//! The conformance checks, one module per namespace kind. Each module knows only the
//! semantics it verifies; running, deadlines and reports belong to the harness.

pub mod cgroup;
mod disabled;
pub mod ipc;
pub mod mnt;
pub mod net;
mod netlink;
pub mod nsfs;
pub mod pid;
mod sys;
pub mod time;
pub mod user;
pub mod uts;

use nsconform_harness::Check;

/// Every check, in catalogue order.
pub fn all() -> Vec<Check> {
    [uts::CHECKS, ipc::CHECKS, pid::CHECKS, user::CHECKS, mnt::CHECKS, net::CHECKS, cgroup::CHECKS, time::CHECKS, nsfs::CHECKS].concat()
}
