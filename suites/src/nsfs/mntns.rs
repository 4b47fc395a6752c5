//! ioctl_ns(2) requests on mount namespace files (Linux 6.12, probed): NS_MNT_GET_INFO, and
//! NS_MNT_GET_NEXT / NS_MNT_GET_PREV, which walk every mount namespace in id order and are
//! reserved to CAP_SYS_ADMIN in the initial user namespace from the initial PID namespace.

use super::{configured_kinds, open_ns, spawn_ready};
use crate::ns_ioctl::*;
use crate::scratch::{dirs, in_scratch, tmpfs};
use nix::errno::Errno;
use nsconform_harness::{expect_eq, expect_errno, expect_that, spawn, At, Check, Kind, Need, Outcome, Probe, Spawn, Stop};
use std::fs::File;
use std::os::fd::FromRawFd;

/// NS_MNT_GET_INFO exists (Linux 6.12): only ENOTTY says it does not.
const MNT_GET_INFO: Probe = Probe {
    what: "NS_MNT_GET_INFO",
    run: || {
        let ns = File::open("/proc/self/ns/mnt").map_err(|e| format!("opening /proc/self/ns/mnt: {e}"))?;
        match info(&ns) {
            Err(Errno::ENOTTY) => Err("ENOTTY: this kernel does not implement NS_MNT_GET_INFO".into()),
            _ => Ok(()),
        }
    },
};

pub const CHECKS: &[Check] = &[
    Check::new(
        "nsfs.ioctl-mnt-get-info",
        "NS_MNT_GET_INFO on a mount namespace file gives size 16, the namespace's id (that of NS_GET_MNTNS_ID) and its own mount count: two more in a copy that mounted two tmpfs, read through its file by another namespace; EINVAL on other kinds",
        "include/uapi/linux/nsfs.h NS_MNT_GET_INFO, struct mnt_ns_info (6.12, probed); ns_ioctl() and copy_ns_info_to_user() in fs/nsfs.c (mnt_ns->nr_mounts less the root, mnt_ns->seq)",
        &[Need::Kind(Kind::Mnt), Need::Probe(MNT_GET_INFO)],
        ioctl_mnt_get_info,
    ),
    Check::new(
        "nsfs.ioctl-mnt-get-next-prev",
        "NS_MNT_GET_NEXT and NS_MNT_GET_PREV give an fd of the mount namespace with the next larger or smaller id (with its mnt_ns_info), ENOENT past the last; walking them lists ids in strictly increasing order, including a new namespace's",
        "include/uapi/linux/nsfs.h NS_MNT_GET_NEXT, NS_MNT_GET_PREV (6.12, probed); ns_ioctl() in fs/nsfs.c, __lookup_next_mnt_ns() in fs/namespace.c (rb_next()/rb_prev() over mnt_ns_tree, ERR_PTR(-ENOENT) at the end)",
        &[Need::Kind(Kind::Mnt), Need::InitialAdmin, Need::InitialNamespace(Kind::Pid), Need::Probe(MNT_GET_INFO)],
        ioctl_mnt_get_next_prev,
    ),
    Check::new(
        "nsfs.ioctl-mnt-get-next-eperm-without-initial-admin",
        "NS_MNT_GET_NEXT and NS_MNT_GET_PREV give EPERM to root of a child user namespace, and (where the run is privileged) to a process in a child PID namespace; NS_MNT_GET_INFO still answers them",
        "ns_ioctl() in fs/nsfs.c: may_use_nsfs_ioctl() and may_see_all_namespaces() want task_active_pid_ns(current) == &init_pid_ns and ns_capable_noaudit(init_pid_ns.user_ns, CAP_SYS_ADMIN)",
        &[Need::Kind(Kind::Mnt), Need::Kind(Kind::User), Need::KindsWhereConfigured(&[Kind::Pid]), Need::Probe(MNT_GET_INFO)],
        ioctl_mnt_get_next_eperm_without_initial_admin,
    ),
];

/// struct mnt_ns_info, include/uapi/linux/nsfs.h (MNT_NS_INFO_SIZE_VER0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct MntNsInfo {
    size: u32,
    nr_mounts: u32,
    mnt_ns_id: u64,
}

fn info(ns: &File) -> Result<MntNsInfo, Errno> {
    let mut info = MntNsInfo::default();
    ioctl(ns, NS_MNT_GET_INFO, &mut info as *mut MntNsInfo as usize).map(|_| info)
}

/// NS_MNT_GET_NEXT or NS_MNT_GET_PREV: the neighbour's fd and information.
fn neighbour(ns: &File, request: libc::c_ulong) -> Result<(File, MntNsInfo), Errno> {
    let mut info = MntNsInfo::default();
    let fd = ioctl(ns, request, &mut info as *mut MntNsInfo as usize)?;
    // SAFETY: on success the ioctl returns a new fd that we own.
    Ok((unsafe { File::from_raw_fd(fd) }, info))
}

fn ioctl_mnt_get_info() -> Outcome {
    in_scratch(|| {
        dirs(&["/tmp/a", "/tmp/b"])?;
        let own = open_ns("self", "mnt")?;
        let before = info(&own).at("NS_MNT_GET_INFO on /proc/self/ns/mnt")?;
        expect_eq("mnt_ns_info.size", 16, before.size)?;
        expect_eq("mnt_ns_info.mnt_ns_id vs NS_GET_MNTNS_ID", id_of(&own, NS_GET_MNTNS_ID), Ok(before.mnt_ns_id))?;
        let mut copy = spawn(Spawn::clone(&[Kind::Mnt]), |to_parent| {
            let own = open_ns("self", "mnt")?;
            let first = info(&own).at("NS_MNT_GET_INFO of the copy on its own file")?;
            tmpfs("/tmp/a")?;
            tmpfs("/tmp/b")?;
            to_parent.send("its count before its mounts and its id", &(first.nr_mounts, first.mnt_ns_id))?;
            to_parent.recv::<()>("the order to exit")
        })?;
        let (count, id) = copy.recv::<(u32, u64)>("its count before its mounts and its id")?;
        let theirs = info(&open_ns(copy.pid(), "mnt")?).at("NS_MNT_GET_INFO on /proc/PID/ns/mnt of the copy")?;
        expect_eq("mnt_ns_info of the copy read by its parent (id, mount count)", (id, count + 2), (theirs.mnt_ns_id, theirs.nr_mounts))?;
        let after = info(&own).at("NS_MNT_GET_INFO on /proc/self/ns/mnt again")?;
        expect_eq("mnt_ns_info of the parent after the copy's two mounts", before, after)?;
        copy.send("the order to exit", &())?;
        copy.join()?;
        for kind in configured_kinds().into_iter().filter(|k| *k != Kind::Mnt) {
            expect_errno(&format!("NS_MNT_GET_INFO on /proc/self/ns/{kind}"), Errno::EINVAL, info(&open_ns("self", kind.name())?))?;
        }
        Ok(())
    })
}

/// At most this many namespaces are walked each way.
const WALK_LIMIT: usize = 100_000;

/// The ids met walking from `start` with `request` until ENOENT, in walking order.
fn walk(start: &File, request: libc::c_ulong, name: &str) -> Result<Vec<u64>, Stop> {
    let mut ids = Vec::new();
    let mut here = start.try_clone().at("duplicating the namespace fd")?;
    for _ in 0..WALK_LIMIT {
        match neighbour(&here, request) {
            Ok((next, info)) => {
                let id = id_of(&next, NS_GET_MNTNS_ID).at(&format!("NS_GET_MNTNS_ID on the fd {name} gave"))?;
                expect_eq(&format!("mnt_ns_info.mnt_ns_id returned by {name} vs NS_GET_MNTNS_ID of its fd"), id, info.mnt_ns_id)?;
                ids.push(id);
                here = next;
            }
            Err(Errno::ENOENT) => return Ok(ids),
            Err(e) => return Err(e).at(&format!("{name} after {} steps", ids.len())),
        }
    }
    Err(Stop::skip(format!("more than {WALK_LIMIT} mount namespaces on the {name} side")))
}

fn ioctl_mnt_get_next_prev() -> Outcome {
    in_scratch(|| {
        let own = open_ns("self", "mnt")?;
        let id = id_of(&own, NS_GET_MNTNS_ID).at("NS_GET_MNTNS_ID on /proc/self/ns/mnt")?;
        let child = spawn_ready(Spawn::clone(&[Kind::Mnt]))?;
        let child_ns = open_ns(child.pid(), "mnt")?;
        let child_id = id_of(&child_ns, NS_GET_MNTNS_ID).at("NS_GET_MNTNS_ID of a new namespace")?;
        // Since 6.18 ids come in per-CPU batches, so the newer namespace may have the smaller
        // id: the lower of the two has a next one, whichever it is.
        let (low, low_id, which) = if child_id < id { (&child_ns, child_id, "the new namespace") } else { (&own, id, "our namespace") };
        let (next, next_info) = neighbour(low, NS_MNT_GET_NEXT).at(&format!("NS_MNT_GET_NEXT on {which}, the lower id of two"))?;
        expect_that(
            "the id of the namespace NS_MNT_GET_NEXT gives",
            next_info.mnt_ns_id > low_id,
            format!("greater than {low_id}"),
            next_info.mnt_ns_id.to_string(),
        )?;
        // Namespaces created meanwhile may take ids in between.
        let (_, back) = neighbour(&next, NS_MNT_GET_PREV).at("NS_MNT_GET_PREV on the namespace NS_MNT_GET_NEXT gave")?;
        expect_that(
            "the id NS_MNT_GET_PREV gives back from it",
            (low_id..next_info.mnt_ns_id).contains(&back.mnt_ns_id),
            format!("{low_id} ({which}), or at least {low_id} and below {}", next_info.mnt_ns_id),
            back.mnt_ns_id.to_string(),
        )?;
        let mut before = walk(&own, NS_MNT_GET_PREV, "NS_MNT_GET_PREV")?;
        before.reverse();
        let after = walk(&own, NS_MNT_GET_NEXT, "NS_MNT_GET_NEXT")?;
        let all: Vec<u64> = before.iter().copied().chain([id]).chain(after.iter().copied()).collect();
        expect_that(
            "the ids walked by NS_MNT_GET_PREV then NS_MNT_GET_NEXT until ENOENT",
            all.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing",
            format!("{all:?}"),
        )?;
        expect_that("the new namespace's id among them", all.contains(&child_id), format!("{child_id} listed"), format!("{all:?}"))?;
        // Another kind's file, any the kernel has (mnt is the only one every kernel has).
        if let Some(other) = ["uts", "ipc", "net", "pid", "cgroup", "user", "time"]
            .into_iter()
            .find(|k| std::path::Path::new(&format!("/proc/self/ns/{k}")).exists())
        {
            expect_errno(
                &format!("NS_MNT_GET_NEXT on /proc/self/ns/{other}"),
                Errno::EINVAL,
                neighbour(&open_ns("self", other)?, NS_MNT_GET_NEXT).map(drop),
            )?;
        }
        child.send("the order to exit", &())?;
        child.join()
    })
}

/// NS_MNT_GET_NEXT and NS_MNT_GET_PREV give EPERM where the caller is, and GET_INFO answers.
fn refused_here(whom: &str) -> Outcome {
    let own = open_ns("self", "mnt")?;
    expect_errno(&format!("NS_MNT_GET_NEXT by {whom}"), Errno::EPERM, neighbour(&own, NS_MNT_GET_NEXT).map(drop))?;
    expect_errno(&format!("NS_MNT_GET_PREV by {whom}"), Errno::EPERM, neighbour(&own, NS_MNT_GET_PREV).map(drop))?;
    info(&own).at(&format!("NS_MNT_GET_INFO by {whom}")).map(drop)
}

fn ioctl_mnt_get_next_eperm_without_initial_admin() -> Outcome {
    spawn(Spawn::clone(&[Kind::User]).map_root(), |_| refused_here("root of a child user namespace"))?.join()?;
    let facts = nsconform_harness::host::facts();
    if facts.in_initial_userns && facts.cap_sys_admin && nsconform_harness::host::is_initial(Kind::Pid) {
        // The control: the same process's parent, with CAP_SYS_ADMIN over the initial user
        // namespace in the initial PID namespace, may walk.
        match neighbour(&open_ns("self", "mnt")?, NS_MNT_GET_NEXT) {
            Ok(_) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(e).at("NS_MNT_GET_NEXT with CAP_SYS_ADMIN in the initial user and PID namespaces"),
        }
        if facts.kind_configured(Kind::Pid) != Some(false) {
            spawn(Spawn::clone(&[Kind::Pid]), |_| refused_here("a process of a child PID namespace with CAP_SYS_ADMIN"))?.join()?;
        }
    }
    Ok(())
}
