//! listns(2) (Linux 6.19): the ids of the active namespaces a caller may see, from the unified
//! tree or from the tree of namespaces one user namespace owns, filtered by type and paged by
//! the last id seen.

use super::open_ns;
use crate::ns_ioctl::{id_of, NS_GET_ID};
use crate::sys::errno_result;
use nix::errno::Errno;
use nsconform_harness::{expect_eq, expect_errno, spawn, At, Check, Kind, Need, Outcome, Spawn, Stop};

pub const CHECKS: &[Check] = &[Check::new(
    "nsfs.listns-lists-owned-namespaces",
    "listns(2) from a child in new user, UTS and IPC namespaces: the namespaces its user namespace owns (by LISTNS_CURRENT_USER or by the namespace's NS_GET_ID) are exactly its UTS and IPC namespaces, in ascending id order; a type filter keeps the UTS one, a last id pages past the first, the unified tree filtered to user namespaces holds only its own, and flags give EINVAL",
    "listns(2) (Linux 6.19, commit 76b6f5dfb3fd \"nstree: add listns()\"); do_listns_userns() and do_listns() in kernel/nstree.c walk id-ordered lists, legitimize_ns() keeps active namespaces of the requested type that may_list_ns() allows (a namespace the caller is in is always allowed)",
    &[Need::Kind(Kind::User), Need::KindInOwnUserns(Kind::Uts), Need::KindInOwnUserns(Kind::Ipc), Need::Kernel(6, 19)],
    listns_lists_owned_namespaces,
)];

/// __NR_listns on every architecture but alpha and mips (tools/include/uapi/asm-generic/unistd.h).
const SYS_LISTNS: libc::c_long = 470;
/// user_ns_id for the caller's own user namespace (include/uapi/linux/nsfs.h).
const LISTNS_CURRENT_USER: u64 = u64::MAX;

/// struct ns_id_req, include/uapi/linux/nsfs.h (NS_ID_REQ_SIZE_VER0: 32 bytes).
#[repr(C)]
struct Request {
    size: u32,
    spare: u32,
    ns_id: u64,
    ns_type: u32,
    spare2: u32,
    user_ns_id: u64,
}

/// listns(2): namespaces of `ns_type` (CLONE_NEW* bits, 0 for all) after id `after`, owned by
/// user namespace `owner` (0: the unified tree), with `flags`; up to 16 ids.
fn listns(ns_type: libc::c_int, after: u64, owner: u64, flags: u32) -> Result<Vec<u64>, Errno> {
    let request = Request { size: 32, spare: 0, ns_id: after, ns_type: ns_type as u32, spare2: 0, user_ns_id: owner };
    let mut ids = [0u64; 16];
    // SAFETY: the request is a live struct of the size it states, ids a live array of the given count.
    let n = errno_result(unsafe { libc::syscall(SYS_LISTNS, &request, ids.as_mut_ptr(), ids.len(), flags) })?;
    Ok(ids[..n as usize].to_vec())
}

fn own_id(entry: &str) -> Result<u64, Stop> {
    id_of(&open_ns("self", entry)?, NS_GET_ID).at(&format!("NS_GET_ID of /proc/self/ns/{entry}"))
}

fn listns_lists_owned_namespaces() -> Outcome {
    spawn(Spawn::clone(&[Kind::User, Kind::Uts, Kind::Ipc]).map_root(), |_| {
        let (user, uts, ipc) = (own_id("user")?, own_id("uts")?, own_id("ipc")?);
        let owned = if uts < ipc { vec![uts, ipc] } else { vec![ipc, uts] };
        let step = |what: &str| format!("listns({what}) (own user namespace {user}, UTS {uts}, IPC {ipc})");
        match (listns(0, 0, LISTNS_CURRENT_USER, 0), nsconform_harness::host::status_field("Seccomp").ok()) {
            // Container runtimes' seccomp profiles answer unknown system calls so.
            (Err(errno @ (Errno::ENOSYS | Errno::EPERM)), Some(mode)) if mode != "0" => {
                return Err(Stop::broken(
                    step("LISTNS_CURRENT_USER"),
                    "the system call (Linux 6.19)",
                    format!("{errno} under a seccomp filter (Seccomp: {mode} in /proc/self/status), which may refuse it"),
                ))
            }
            (Err(Errno::ENOSYS), _) => return Err(Stop::fail(step("LISTNS_CURRENT_USER"), "the system call (Linux 6.19)", "ENOSYS")),
            (listed, _) => expect_eq(&step("LISTNS_CURRENT_USER"), Ok(owned.clone()), listed)?,
        }
        expect_eq(&step("user_ns_id = its own user namespace's id"), Ok(owned.clone()), listns(0, 0, user, 0))?;
        expect_eq(&step("ns_type CLONE_NEWUTS"), Ok(vec![uts]), listns(libc::CLONE_NEWUTS, 0, LISTNS_CURRENT_USER, 0))?;
        expect_eq(&step(&format!("ns_id {} (after the first)", owned[0])), Ok(vec![owned[1]]), listns(0, owned[0], user, 0))?;
        expect_eq(&step("the unified tree, ns_type CLONE_NEWUSER"), Ok(vec![user]), listns(libc::CLONE_NEWUSER, 0, 0, 0))?;
        expect_errno(&step("flags 1"), Errno::EINVAL, listns(0, 0, LISTNS_CURRENT_USER, 1))
    })?
    .join()
}
