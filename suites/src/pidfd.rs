//! pidfds as the namespace checks use them: the ioctls of include/uapi/linux/pidfd.h
//! (PIDFD_GET_*_NAMESPACE, Linux 6.11; PIDFD_GET_INFO, Linux 6.13) and the `Pid:` and `NSpid:`
//! lines of a pidfd's /proc/PID/fdinfo entry.

use crate::sys::pidfd_open;
use nix::errno::Errno;
use nsconform_harness::{At, Kind, Probe, Stop};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// include/uapi/linux/pidfd.h: PIDFS_IOCTL_MAGIC 0xFF, _IO(0xFF, nr) and _IOWR(0xFF, nr, size).
const fn pidfd_io(nr: libc::c_ulong) -> libc::c_ulong {
    (0xff << 8) | nr
}
const fn pidfd_iowr(nr: libc::c_ulong, size: libc::c_ulong) -> libc::c_ulong {
    (3 << 30) | (size << 16) | pidfd_io(nr)
}
pub(crate) const PIDFD_GET_CGROUP_NAMESPACE: libc::c_ulong = pidfd_io(1);
pub(crate) const PIDFD_GET_IPC_NAMESPACE: libc::c_ulong = pidfd_io(2);
pub(crate) const PIDFD_GET_MNT_NAMESPACE: libc::c_ulong = pidfd_io(3);
pub(crate) const PIDFD_GET_NET_NAMESPACE: libc::c_ulong = pidfd_io(4);
pub(crate) const PIDFD_GET_PID_NAMESPACE: libc::c_ulong = pidfd_io(5);
pub(crate) const PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE: libc::c_ulong = pidfd_io(6);
pub(crate) const PIDFD_GET_TIME_NAMESPACE: libc::c_ulong = pidfd_io(7);
pub(crate) const PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE: libc::c_ulong = pidfd_io(8);
pub(crate) const PIDFD_GET_USER_NAMESPACE: libc::c_ulong = pidfd_io(9);
pub(crate) const PIDFD_GET_UTS_NAMESPACE: libc::c_ulong = pidfd_io(10);
/// PIDFD_INFO_SIZE_VER0: the first struct pidfd_info, the size this suite passes.
const PIDFD_INFO_SIZE_VER0: usize = 64;
pub(crate) const PIDFD_GET_INFO: libc::c_ulong = pidfd_iowr(11, PIDFD_INFO_SIZE_VER0 as libc::c_ulong);
pub(crate) const PIDFD_INFO_PID: u64 = 1 << 0;

/// Every PIDFD_GET_*_NAMESPACE request: its name, the kind of namespace it answers with and
/// the /proc/PID/ns entry that names the same namespace.
pub(crate) const NAMESPACE_REQUESTS: [(&str, libc::c_ulong, Kind, &str); 10] = [
    ("PIDFD_GET_CGROUP_NAMESPACE", PIDFD_GET_CGROUP_NAMESPACE, Kind::Cgroup, "cgroup"),
    ("PIDFD_GET_IPC_NAMESPACE", PIDFD_GET_IPC_NAMESPACE, Kind::Ipc, "ipc"),
    ("PIDFD_GET_MNT_NAMESPACE", PIDFD_GET_MNT_NAMESPACE, Kind::Mnt, "mnt"),
    ("PIDFD_GET_NET_NAMESPACE", PIDFD_GET_NET_NAMESPACE, Kind::Net, "net"),
    ("PIDFD_GET_PID_NAMESPACE", PIDFD_GET_PID_NAMESPACE, Kind::Pid, "pid"),
    ("PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE", PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE, Kind::Pid, "pid_for_children"),
    ("PIDFD_GET_TIME_NAMESPACE", PIDFD_GET_TIME_NAMESPACE, Kind::Time, "time"),
    ("PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE", PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE, Kind::Time, "time_for_children"),
    ("PIDFD_GET_USER_NAMESPACE", PIDFD_GET_USER_NAMESPACE, Kind::User, "user"),
    ("PIDFD_GET_UTS_NAMESPACE", PIDFD_GET_UTS_NAMESPACE, Kind::Uts, "uts"),
];

/// A PIDFD_GET_*_NAMESPACE request: a new fd of the process's namespace.
pub(crate) fn get_namespace(pidfd: &impl AsRawFd, request: libc::c_ulong) -> Result<File, Errno> {
    // SAFETY: these requests take no argument (it must be 0); on success the ioctl returns a new fd that we own.
    let fd = Errno::result(unsafe { libc::ioctl(pidfd.as_raw_fd(), request as _, 0usize) })?;
    // SAFETY: as above.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// struct pidfd_info up to PIDFD_INFO_SIZE_VER0 (include/uapi/linux/pidfd.h).
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    spare0: u32,
}

/// PIDFD_GET_INFO asking for PIDFD_INFO_PID: (pid, tgid, ppid) as the caller's PID namespace
/// numbers them, once the kernel set PIDFD_INFO_PID in
/// the answer's mask (a kernel that answers without it is reported as EPROTO, never seen from
/// a real kernel).
pub(crate) fn get_info(pidfd: &impl AsRawFd) -> Result<(u32, u32, u32), Errno> {
    const _: () = assert!(std::mem::size_of::<PidfdInfo>() == PIDFD_INFO_SIZE_VER0);
    let mut info = PidfdInfo { mask: PIDFD_INFO_PID, ..Default::default() };
    // SAFETY: the request's size is that of the live struct it points to.
    Errno::result(unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_INFO as _, &mut info as *mut PidfdInfo) })?;
    if info.mask & PIDFD_INFO_PID == 0 {
        return Err(Errno::EPROTO);
    }
    Ok((info.pid, info.tgid, info.ppid))
}

/// The `Pid:` and `NSpid:` values of a pidfd's /proc/self/fdinfo entry, read through the
/// /proc mounted where the caller is (pidfd_show_fdinfo() numbers them in that procfs's PID
/// namespace).
pub(crate) fn fdinfo_pids(pidfd: &impl AsRawFd) -> Result<(i32, Vec<i32>), Stop> {
    let path = format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd());
    let step = format!("reading the Pid and NSpid lines of {path}");
    let text = std::fs::read_to_string(&path).at(&step)?;
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(str::to_string);
    let (Some(pid), Some(nspid)) = (field("Pid:"), field("NSpid:")) else {
        return Err(Stop::fail(&step, "a Pid: and an NSpid: line", format!("{text:?}")));
    };
    let pid = pid.trim().parse::<i32>().at(&step)?;
    let nspid = nspid.split_whitespace().map(|s| s.parse::<i32>().at(&step)).collect::<Result<_, _>>()?;
    Ok((pid, nspid))
}

/// The answer of a pidfd ioctl on the caller's own pidfd. ENOTTY (no ioctl on pidfds before
/// 6.11, or an unknown request since) and EINVAL (6.11 and 6.12 refuse any argument before
/// looking at the request, so PIDFD_GET_INFO reads as EINVAL there) say it does not exist.
fn probe_request(request: libc::c_ulong, name: &str) -> Result<(), String> {
    let pidfd: OwnedFd = pidfd_open(std::process::id() as i32).map_err(|e| format!("pidfd_open of the runner: {e}"))?;
    let answer = if request == PIDFD_GET_INFO { get_info(&pidfd).map(drop) } else { get_namespace(&pidfd, request).map(drop) };
    match answer {
        Err(Errno::ENOTTY) => Err(format!("ENOTTY: this kernel does not implement {name}")),
        Err(Errno::EINVAL) => Err(format!("EINVAL: this kernel does not implement {name} (its pidfd ioctls take no argument)")),
        _ => Ok(()),
    }
}

/// PIDFD_GET_*_NAMESPACE exists (Linux 6.11; stable kernels may backport it).
pub(crate) const GET_NAMESPACE_PROBE: Probe =
    Probe { what: "PIDFD_GET_MNT_NAMESPACE", run: || probe_request(PIDFD_GET_MNT_NAMESPACE, "the pidfd namespace ioctls") };

/// PIDFD_GET_INFO exists (Linux 6.13; stable kernels may backport it).
pub(crate) const GET_INFO_PROBE: Probe = Probe { what: "PIDFD_GET_INFO", run: || probe_request(PIDFD_GET_INFO, "PIDFD_GET_INFO") };
