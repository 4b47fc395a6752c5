//! The conformance checks, one module per namespace kind. Each module knows only the
//! semantics it verifies; running, deadlines and reports belong to the harness.

pub mod cgroup;
mod disabled;
mod filecaps;
mod fixture;
pub mod identity;
mod idmap;
pub mod ipc;
pub mod mnt;
pub mod net;
mod netlink;
mod ns_ioctl;
pub mod nsfs;
pub mod pid;
mod pidfd;
mod scratch;
mod sys;
pub mod time;
pub mod user;
pub mod uts;

use nsconform_harness::Check;

/// Checks execute the binary they run in (/proc/self/exe, or a copy) as a helper program: with
/// this variable set it runs the named helper instead of checks.
pub(crate) const EXEC_HELPER_VAR: &str = "NSCONFORM_EXEC_HELPER";

/// `program` (this binary or a copy of it) to run as exec helper `helper`, in an otherwise
/// empty environment.
pub(crate) fn exec_helper(program: &str, helper: &str) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    command.env_clear().env(EXEC_HELPER_VAR, helper);
    command
}

/// Runs the exec helper the environment names, if any. Every `main` calls this first.
pub fn run_exec_helper_if_asked() {
    match std::env::var(EXEC_HELPER_VAR).as_deref() {
        Err(_) => {}
        Ok(time::HELPER) => {
            time::print_clocks();
            std::process::exit(0)
        }
        Ok(filecaps::HELPER) => {
            filecaps::print_capabilities();
            std::process::exit(0)
        }
        Ok(other) => {
            eprintln!("nsconform: unknown exec helper {other:?}");
            std::process::exit(2)
        }
    }
}

/// Removes what an earlier run, killed mid-check, left on the host (scratch cgroups): call
/// before a run.
pub fn sweep_leftovers() {
    cgroup::sweep_leftovers();
}

/// Every check, in catalogue order: kind by kind, and for a kind split into topic modules
/// (net, nsfs) or with a topic module after it (idmap after mnt), topic by topic.
pub fn all() -> Vec<Check> {
    [
        uts::CHECKS,
        ipc::CHECKS,
        pid::CHECKS,
        user::CHECKS,
        identity::CHECKS,
        filecaps::CHECKS,
        mnt::CHECKS,
        idmap::CHECKS,
        net::devices::CHECKS,
        net::sockets::CHECKS,
        net::lifetime::CHECKS,
        net::nsid::CHECKS,
        net::physical::CHECKS,
        net::creation::CHECKS,
        net::sysctls::CHECKS,
        net::views::CHECKS,
        net::unix::CHECKS,
        cgroup::CHECKS,
        time::CHECKS,
        nsfs::files::CHECKS,
        nsfs::setns::CHECKS,
        nsfs::ioctl::CHECKS,
        nsfs::mntns::CHECKS,
        nsfs::handles::CHECKS,
        nsfs::listns::CHECKS,
    ]
    .concat()
}
