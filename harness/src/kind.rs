//! The namespace kinds and the facts the kernel attaches to each: clone flag, /proc/PID/ns
//! entry, Kconfig option and the fixed inode of the initial namespace.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Mnt,
    Uts,
    Ipc,
    Pid,
    Net,
    User,
    Cgroup,
    Time,
}

impl Kind {
    pub const ALL: [Kind; 8] = [Kind::Mnt, Kind::Uts, Kind::Ipc, Kind::Pid, Kind::Net, Kind::User, Kind::Cgroup, Kind::Time];

    /// The CLONE_NEW* flag (include/uapi/linux/sched.h).
    pub fn flag(self) -> libc::c_int {
        match self {
            Kind::Mnt => libc::CLONE_NEWNS,
            Kind::Uts => libc::CLONE_NEWUTS,
            Kind::Ipc => libc::CLONE_NEWIPC,
            Kind::Pid => libc::CLONE_NEWPID,
            Kind::Net => libc::CLONE_NEWNET,
            Kind::User => libc::CLONE_NEWUSER,
            Kind::Cgroup => libc::CLONE_NEWCGROUP,
            Kind::Time => libc::CLONE_NEWTIME,
        }
    }

    /// The flag's name, for messages.
    pub fn flag_name(self) -> &'static str {
        match self {
            Kind::Mnt => "CLONE_NEWNS",
            Kind::Uts => "CLONE_NEWUTS",
            Kind::Ipc => "CLONE_NEWIPC",
            Kind::Pid => "CLONE_NEWPID",
            Kind::Net => "CLONE_NEWNET",
            Kind::User => "CLONE_NEWUSER",
            Kind::Cgroup => "CLONE_NEWCGROUP",
            Kind::Time => "CLONE_NEWTIME",
        }
    }

    /// The entry name under /proc/PID/ns, also the kind's name in check ids.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mnt => "mnt",
            Kind::Uts => "uts",
            Kind::Ipc => "ipc",
            Kind::Pid => "pid",
            Kind::Net => "net",
            Kind::User => "user",
            Kind::Cgroup => "cgroup",
            Kind::Time => "time",
        }
    }

    /// The Kconfig option that builds the kind in. Mount namespaces always exist; cgroup
    /// namespaces exist whenever CONFIG_CGROUPS=y (there is no CONFIG_CGROUP_NS).
    pub fn config_option(self) -> Option<&'static str> {
        match self {
            Kind::Mnt => None,
            Kind::Uts => Some("CONFIG_UTS_NS"),
            Kind::Ipc => Some("CONFIG_IPC_NS"),
            Kind::Pid => Some("CONFIG_PID_NS"),
            Kind::Net => Some("CONFIG_NET_NS"),
            Kind::User => Some("CONFIG_USER_NS"),
            Kind::Cgroup => Some("CONFIG_CGROUPS"),
            Kind::Time => Some("CONFIG_TIME_NS"),
        }
    }

    /// The fixed inode of the initial namespace (include/linux/proc_ns.h, PROC_*_INIT_INO).
    /// net and mnt got fixed numbers only in 7.0, so they are not used here.
    pub fn initial_inode(self) -> Option<u64> {
        match self {
            Kind::Ipc => Some(0xEFFF_FFFF),
            Kind::Uts => Some(0xEFFF_FFFE),
            Kind::User => Some(0xEFFF_FFFD),
            Kind::Pid => Some(0xEFFF_FFFC),
            Kind::Cgroup => Some(0xEFFF_FFFB),
            Kind::Time => Some(0xEFFF_FFFA),
            Kind::Mnt | Kind::Net => None,
        }
    }

    /// Creating this kind needs CAP_SYS_ADMIN in the caller's user namespace; a user
    /// namespace needs no privilege at all (kernel/user_namespace.c, create_user_ns()).
    pub fn needs_admin(self) -> bool {
        self != Kind::User
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The union of the clone flags of `kinds`.
pub fn flags_of(kinds: &[Kind]) -> libc::c_int {
    kinds.iter().fold(0, |acc, k| acc | k.flag())
}

/// The inode of `/proc/<pid>/ns/<entry>`: the namespace's identity (same namespace <=> same
/// st_ino; nsfs files share one st_dev).
pub fn ns_inode(pid: &str, entry: &str) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(format!("/proc/{pid}/ns/{entry}"))?.ino())
}
