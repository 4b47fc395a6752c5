//! The conformance checks, one module per namespace kind. Each module knows only the
//! semantics it verifies; running, deadlines and reports belong to the harness.

mod disabled;
pub mod ipc;
pub mod mnt;
pub mod net;
mod netlink;
pub mod nsfs;
pub mod pid;
mod sys;
pub mod uts;

use nsconform_harness::Check;

/// Every check, in catalogue order.
pub fn all() -> Vec<Check> {
    [uts::CHECKS, ipc::CHECKS, pid::CHECKS, mnt::CHECKS, net::CHECKS, nsfs::CHECKS].concat()
}
