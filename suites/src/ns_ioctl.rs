//! ioctl_ns(2): the requests of include/uapi/linux/nsfs.h and the calls that use them.

use nix::errno::Errno;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};

// ioctl_ns(2) requests, include/uapi/linux/nsfs.h: _IO(0xb7, nr) and _IOR(0xb7, nr, size).
const fn ns_io(nr: libc::c_ulong) -> libc::c_ulong {
    (0xb7 << 8) | nr
}
const fn ns_ior(nr: libc::c_ulong, size: libc::c_ulong) -> libc::c_ulong {
    (2 << 30) | (size << 16) | ns_io(nr)
}
pub(crate) const NS_GET_USERNS: libc::c_ulong = ns_io(1);
pub(crate) const NS_GET_PARENT: libc::c_ulong = ns_io(2);
pub(crate) const NS_GET_NSTYPE: libc::c_ulong = ns_io(3);
pub(crate) const NS_GET_OWNER_UID: libc::c_ulong = ns_io(4);
pub(crate) const NS_GET_MNTNS_ID: libc::c_ulong = ns_ior(5, 8);
pub(crate) const NS_GET_PID_FROM_PIDNS: libc::c_ulong = ns_ior(6, 4);
pub(crate) const NS_GET_TGID_FROM_PIDNS: libc::c_ulong = ns_ior(7, 4);
pub(crate) const NS_GET_PID_IN_PIDNS: libc::c_ulong = ns_ior(8, 4);
pub(crate) const NS_GET_TGID_IN_PIDNS: libc::c_ulong = ns_ior(9, 4);
pub(crate) const NS_GET_ID: libc::c_ulong = ns_ior(13, 8);
/// _IOR(NSIO, 10..12, struct mnt_ns_info): 16 bytes (MNT_NS_INFO_SIZE_VER0).
pub(crate) const NS_MNT_GET_INFO: libc::c_ulong = ns_ior(10, 16);
pub(crate) const NS_MNT_GET_NEXT: libc::c_ulong = ns_ior(11, 16);
pub(crate) const NS_MNT_GET_PREV: libc::c_ulong = ns_ior(12, 16);
/// No kernel assigns this request number.
pub(crate) const NS_UNKNOWN: libc::c_ulong = ns_io(0xff);

pub(crate) fn ioctl(fd: &impl AsRawFd, request: libc::c_ulong, arg: usize) -> Result<i32, Errno> {
    // SAFETY: every request used here takes an integer or a pointer to a live u32/u64.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) })
}

/// An ioctl that answers with a new namespace fd (NS_GET_USERNS, NS_GET_PARENT).
pub(crate) fn related(fd: &impl AsRawFd, request: libc::c_ulong) -> Result<File, Errno> {
    // SAFETY: on success the ioctl returns a new fd that we own.
    ioctl(fd, request, 0).map(|new| unsafe { File::from_raw_fd(new) })
}

/// An ioctl that writes a u64 (NS_GET_MNTNS_ID, NS_GET_ID).
pub(crate) fn id_of(fd: &impl AsRawFd, request: libc::c_ulong) -> Result<u64, Errno> {
    let mut id = 0u64;
    ioctl(fd, request, &mut id as *mut u64 as usize).map(|_| id)
}
