//! nsfs file handles (Linux 6.18, probed): name_to_handle_at on a namespace file and
//! open_by_handle_at back to a namespace fd.

use super::{configured_kinds, open_ns};
use crate::sys::{errno_result, fd_inode};
use nix::errno::Errno;
use nsconform_harness::{expect_eq, spawn, At, Check, Kind, Need, Outcome, Probe, Spawn};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};

/// name_to_handle_at works on a namespace file: EOPNOTSUPP before nsfs had export
/// operations (6.18), ENOSYS without CONFIG_FHANDLE.
const NSFS_HANDLES: Probe = Probe {
    what: "file handles of namespace files",
    run: || {
        let ns = File::open("/proc/self/ns/mnt").map_err(|e| format!("opening /proc/self/ns/mnt: {e}"))?;
        match handle_of(&ns) {
            Err(Errno::ENOSYS) => Err("ENOSYS: the kernel has no name_to_handle_at (CONFIG_FHANDLE off)".into()),
            Err(Errno::EOPNOTSUPP) => Err("EOPNOTSUPP: nsfs has no file handles here (they came with Linux 6.18)".into()),
            _ => Ok(()),
        }
    },
};

pub const CHECKS: &[Check] = &[Check::new(
    "nsfs.file-handle-reopens-namespace",
    "name_to_handle_at on the caller's own namespace file of every kind gives a handle that open_by_handle_at turns back into an fd of the same namespace (same inode, same NS_GET_NSTYPE), also for root of a new user namespace in new namespaces",
    "name_to_handle_at(2), open_by_handle_at(2); nsfs_encode_fh() and nsfs_fh_to_dentry() in fs/nsfs.c (6.18, commit 06c4ff965e95 \"nsfs: support file handles\"): a namespace the caller is in needs no privilege (current_in_namespace()); nsfs_export_permission() stands in for CAP_DAC_READ_SEARCH",
    &[Need::KindsWhereConfigured(&Kind::ALL), Need::Kind(Kind::User), Need::Probe(NSFS_HANDLES)],
    file_handle_reopens_namespace,
)];

/// MAX_HANDLE_SZ, include/linux/exportfs.h.
const MAX_HANDLE_SZ: usize = 128;

/// struct file_handle with room for MAX_HANDLE_SZ bytes, include/uapi/linux/fcntl.h (fs.h).
#[repr(C)]
#[derive(Clone, Copy)]
struct Handle {
    handle_bytes: u32,
    handle_type: i32,
    f_handle: [u8; MAX_HANDLE_SZ],
}

fn handle_of(ns: &File) -> Result<Handle, Errno> {
    let mut handle = Handle { handle_bytes: MAX_HANDLE_SZ as u32, handle_type: 0, f_handle: [0; MAX_HANDLE_SZ] };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: an fd with an empty path (AT_EMPTY_PATH), a handle buffer of handle_bytes bytes and an int.
    errno_result(unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            ns.as_raw_fd(),
            c"".as_ptr(),
            &mut handle as *mut Handle,
            &mut mount_id as *mut libc::c_int,
            libc::AT_EMPTY_PATH,
        )
    })?;
    Ok(handle)
}

/// open_by_handle_at(mount_fd, handle, O_RDONLY | O_CLOEXEC): `anchor` is any nsfs file.
fn open_handle(anchor: &File, handle: &Handle) -> Result<File, Errno> {
    // SAFETY: a live fd and a handle filled by name_to_handle_at; on success a new fd we own.
    let fd = errno_result(unsafe {
        libc::syscall(libc::SYS_open_by_handle_at, anchor.as_raw_fd(), handle as *const Handle, libc::O_RDONLY | libc::O_CLOEXEC)
    })?;
    // SAFETY: the fd was just returned by the kernel and nobody else owns it.
    Ok(unsafe { File::from_raw_fd(fd as i32) })
}

fn file_handle_reopens_namespace() -> Outcome {
    for kind in configured_kinds() {
        let ns = open_ns("self", kind.name())?;
        let handle = handle_of(&ns).at(&format!("name_to_handle_at(/proc/self/ns/{kind}, AT_EMPTY_PATH)"))?;
        let reopened = open_handle(&ns, &handle).at(&format!("open_by_handle_at of the handle of /proc/self/ns/{kind}"))?;
        expect_eq(&format!("the inode of the fd open_by_handle_at gives vs /proc/self/ns/{kind}"), fd_inode(&ns)?, fd_inode(&reopened)?)?;
        expect_eq(
            &format!("NS_GET_NSTYPE of the reopened {kind} namespace"),
            Ok(kind.flag()),
            crate::ns_ioctl::ioctl(&reopened, crate::ns_ioctl::NS_GET_NSTYPE, 0),
        )?;
    }
    // The same from a process in new namespaces of every kind, owned by a user namespace of its own.
    let others: Vec<Kind> = configured_kinds().into_iter().filter(|k| !matches!(k, Kind::Pid | Kind::Time)).collect();
    spawn(Spawn::clone(&others).map_root(), move |_| {
        for kind in others {
            let ns = open_ns("self", kind.name())?;
            let handle = handle_of(&ns).at(&format!("name_to_handle_at of its new /proc/self/ns/{kind}"))?;
            let reopened = open_handle(&ns, &handle).at(&format!("open_by_handle_at of its new {kind} namespace's handle"))?;
            expect_eq(&format!("the inode of the reopened new {kind} namespace"), fd_inode(&ns)?, fd_inode(&reopened)?)?;
        }
        Ok(())
    })?
    .join()
}
