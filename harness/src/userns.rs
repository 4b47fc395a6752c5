//! Becoming root of a fresh user namespace, which is how an unprivileged run gets
//! CAP_SYS_ADMIN over the namespaces its checks create (user_namespaces(7)).

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{getegid, geteuid};

/// unshare(CLONE_NEWUSER), then maps uid and gid 0 to the caller's former euid and egid.
/// An unprivileged writer may map exactly its own id, and gid_map only after "deny" is written
/// to setgroups (kernel/user_namespace.c, new_idmap_permitted()).
pub fn become_root() -> Result<(), IdError> {
    let (uid, gid) = (geteuid(), getegid());
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|errno| IdError { errno, what: "unshare(CLONE_NEWUSER)".into() })?;
    map_root("self", uid.as_raw(), gid.as_raw())
}

/// A failed step of becoming root, with its errno kept for the verdict.
#[derive(Debug)]
pub struct IdError {
    pub errno: Errno,
    pub what: String,
}

impl std::fmt::Display for IdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.errno)
    }
}

/// Maps uid and gid 0 of the user namespace of process `pid` to `uid` and `gid` of its parent.
pub fn map_root(pid: &str, uid: u32, gid: u32) -> Result<(), IdError> {
    map_id(pid, 0, uid, gid)
}

/// Maps uid and gid `inside` of the user namespace of process `pid` to `uid` and `gid` of its
/// parent, one line each, after "deny" to setgroups (what an unprivileged writer may do).
pub fn map_id(pid: &str, inside: u32, uid: u32, gid: u32) -> Result<(), IdError> {
    write(&format!("/proc/{pid}/setgroups"), "deny")?;
    write(&format!("/proc/{pid}/uid_map"), &format!("{inside} {uid} 1"))?;
    write(&format!("/proc/{pid}/gid_map"), &format!("{inside} {gid} 1"))
}

fn write(path: &str, text: &str) -> Result<(), IdError> {
    std::fs::write(path, text)
        .map_err(|e| IdError { errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)), what: format!("writing {text:?} to {path}") })
}

/// Tries `become_root` in a throwaway child. `Err` explains why user namespaces are unavailable.
/// Call it only while the process is single-threaded.
pub fn probe() -> Result<(), String> {
    // SAFETY: the runner is single-threaded when it gathers facts; the child only makes
    // system calls and leaves with _exit.
    // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let code = match become_root() {
                Ok(()) => 0,
                Err(e) => (e.errno as i32).clamp(1, 255),
            };
            // SAFETY: leaves the forked child at once, running no destructor or atexit handler a second time.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => match nix::sys::wait::waitpid(child, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
            Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => Err(unavailable_reason(Errno::from_raw(code))),
            other => Err(format!("the user-namespace probe ended unexpectedly: {other:?}")),
        },
        Err(e) => Err(format!("cannot fork the user-namespace probe: {e}")),
    }
}

fn unavailable_reason(errno: Errno) -> String {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    let why = match errno {
        Errno::EPERM | Errno::EACCES => {
            "unprivileged user namespaces are forbidden here (kernel.unprivileged_userns_clone, \
             an LSM such as AppArmor's userns restriction, or a seccomp filter)"
        }
        Errno::ENOSPC | Errno::EUSERS => "the user.max_user_namespaces limit is reached",
        Errno::EINVAL => "CONFIG_USER_NS is not set or the process is multithreaded",
        _ => "the kernel refused it",
    };
    format!("becoming root of a new user namespace failed with {errno}: {why} (user.max_user_namespaces = {})", max.trim())
}
