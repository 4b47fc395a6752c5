//! ioctl_ns(2) on namespace files: owner and parent namespaces, type, owner uid, ids and pid translation.

use super::{configured_kinds, entry, open_ns, spawn_ready, spawn_user_namespace, unshare_and_populate};
use crate::ns_ioctl::*;
use crate::sys::{fd_inode, idle, own_ns, pidfd_open, read_sysctl};
use nix::errno::Errno;
use nsconform_harness::{expect_eq, expect_errno, expect_ne, spawn, At, Check, Kind, Need, Outcome, Probe, Spawn, Stop};
use std::fs::File;

pub const CHECKS: &[Check] = &[
    Check::new(
        "nsfs.ioctl-get-userns-gives-owner",
        "NS_GET_USERNS gives the owning user namespace of every kind (for a user namespace, its parent)",
        "ioctl_ns(2) NS_GET_USERNS (Linux 4.9); ns_ioctl() and ns_get_owner() in fs/nsfs.c",
        &[Need::KindsWhereConfigured(&Kind::ALL), Need::Kernel(4, 9), Need::Kind(Kind::User)],
        ioctl_get_userns_gives_owner,
    ),
    Check::new(
        "nsfs.ioctl-get-userns-eperm-outside-scope",
        "NS_GET_USERNS gives EPERM when the owner is an ancestor of the caller's user namespace",
        "ioctl_ns(2) ERRORS; ns_get_owner() in kernel/user_namespace.c",
        &[Need::Kernel(4, 9), Need::Kind(Kind::User)],
        ioctl_get_userns_eperm_outside_scope,
    ),
    Check::new(
        "nsfs.ioctl-get-parent-gives-parent",
        "NS_GET_PARENT of a child user or PID namespace gives the caller's own",
        "ioctl_ns(2) NS_GET_PARENT (Linux 4.9); userns_get_parent() in kernel/user_namespace.c, pidns_get_parent() in kernel/pid_namespace.c",
        &[Need::Kernel(4, 9), Need::Kind(Kind::User), Need::Kind(Kind::Pid)],
        ioctl_get_parent_gives_parent,
    ),
    Check::new(
        "nsfs.ioctl-get-parent-eperm-outside-scope",
        "NS_GET_PARENT of the caller's own PID or user namespace gives EPERM (the parent is outside its scope)",
        "ioctl_ns(2) ERRORS; pidns_get_parent() in kernel/pid_namespace.c, userns_get_parent() in kernel/user_namespace.c",
        &[Need::Kernel(4, 9), Need::Kind(Kind::User), Need::Kind(Kind::Pid)],
        ioctl_get_parent_eperm_outside_scope,
    ),
    Check::new(
        "nsfs.ioctl-get-parent-einval-without-hierarchy",
        "NS_GET_PARENT on a mount, UTS, IPC, network, cgroup or time namespace gives EINVAL",
        "ioctl_ns(2) ERRORS; ns_ioctl() in fs/nsfs.c: no ops->get_parent",
        &[Need::Kernel(4, 9)],
        ioctl_get_parent_einval_without_hierarchy,
    ),
    Check::new(
        "nsfs.ioctl-get-nstype",
        "NS_GET_NSTYPE gives the CLONE_NEW* flag of every kind",
        "ioctl_ns(2) NS_GET_NSTYPE (Linux 4.11); ns_ioctl() in fs/nsfs.c returns ns->ops->type",
        &[Need::Kernel(4, 11)],
        ioctl_get_nstype,
    ),
    Check::new(
        "nsfs.ioctl-get-owner-uid",
        "NS_GET_OWNER_UID gives a user namespace's owner as the caller's user namespace maps it, and EINVAL for other kinds",
        "ioctl_ns(2) NS_GET_OWNER_UID (Linux 4.11); ns_ioctl() in fs/nsfs.c: from_kuid_munged(current_user_ns(), owner)",
        &[Need::Kernel(4, 11), Need::Kind(Kind::User)],
        ioctl_get_owner_uid,
    ),
    Check::new(
        "nsfs.ioctl-unknown-request-enotty",
        "An unknown ioctl request on a namespace file gives ENOTTY",
        "ioctl_ns(2) ERRORS; ns_ioctl() in fs/nsfs.c (default: -ENOTTY, or -ENOIOCTLCMD seen as ENOTTY)",
        &[],
        ioctl_unknown_request_enotty,
    ),
    Check::new(
        "nsfs.ioctl-get-mntns-id",
        "NS_GET_MNTNS_ID gives one id per mount namespace (same through any file, another for a new namespace) and EINVAL for other kinds",
        "include/uapi/linux/nsfs.h NS_GET_MNTNS_ID (6.12 as _IOR); ns_ioctl() in fs/nsfs.c",
        &[Need::Kind(Kind::Mnt), Need::Probe(Probe { what: "NS_GET_MNTNS_ID", run: || probe_ioctl(NS_GET_MNTNS_ID, "mnt") })],
        ioctl_get_mntns_id,
    ),
    Check::new(
        "nsfs.ioctl-pid-translation",
        "NS_GET_{PID,TGID}_{FROM,IN}_PIDNS translate pids between a PID namespace and the caller's, ESRCH for a pid not visible there, EINVAL on other kinds",
        "include/uapi/linux/nsfs.h NS_GET_PID_FROM_PIDNS and family; ns_ioctl() in fs/nsfs.c",
        &[Need::Kind(Kind::Pid), Need::Probe(Probe { what: "NS_GET_PID_IN_PIDNS", run: || probe_ioctl(NS_GET_PID_IN_PIDNS, "pid") })],
        ioctl_pid_translation,
    ),
    Check::new(
        "nsfs.ioctl-get-id",
        "NS_GET_ID gives one id per namespace of every kind: the same through any file, another for a new namespace",
        "include/uapi/linux/nsfs.h NS_GET_ID (present in 6.18, though listed for 7.0: probed); ns_ioctl() in fs/nsfs.c returns ns->ns_id",
        &[Need::KindsWhereConfigured(&Kind::ALL), Need::Kind(Kind::User), Need::Probe(Probe { what: "NS_GET_ID", run: || probe_ioctl(NS_GET_ID, "mnt") })],
        ioctl_get_id,
    ),
    Check::new(
        "nsfs.pidfd-get-namespace-ioctls",
        "PIDFD_GET_*_NAMESPACE on the pidfd of a process that created a namespace of every kind gives an fd of its namespace of each kind (pid and time: its own and its children's), the inode of its /proc/PID/ns entry; EOPNOTSUPP for a kind not built in; ESRCH once it is reaped",
        "include/uapi/linux/pidfd.h PIDFD_GET_*_NAMESPACE (Linux 6.11, probed); pidfd_ioctl() in fs/pidfs.c: the task's nsproxy (pid_ns_for_children, time_ns_for_children), task_active_pid_ns(), its cred's user_ns; -EOPNOTSUPP when !IS_ENABLED(CONFIG_*_NS)",
        &[Need::KindsWhereConfigured(&Kind::ALL), Need::Kind(Kind::User), Need::Probe(crate::pidfd::GET_NAMESPACE_PROBE)],
        pidfd_get_namespace_ioctls,
    ),
];

/// Needs-probe for a newer ioctl: only ENOTTY says it does not exist.
fn probe_ioctl(request: libc::c_ulong, entry: &str) -> Result<(), String> {
    let ns = File::open(format!("/proc/self/ns/{entry}")).map_err(|e| format!("opening /proc/self/ns/{entry}: {e}"))?;
    let mut out = 0u64;
    match ioctl(&ns, request, if request == NS_GET_PID_IN_PIDNS { std::process::id() as usize } else { &mut out as *mut u64 as usize }) {
        Err(Errno::ENOTTY) => Err("ENOTTY: this kernel does not implement the request".into()),
        _ => Ok(()),
    }
}

/// A process in a new user namespace that created a namespace of every other configured kind
/// (owned by that user namespace); it waits for the order to exit.
fn spawn_all_new() -> Result<nsconform_harness::Child, Stop> {
    let others: Vec<Kind> = configured_kinds().into_iter().filter(|k| *k != Kind::User).collect();
    let mut owner = spawn(Spawn::clone(&[Kind::User]), move |to_parent| {
        let populated = unshare_and_populate(&others)?;
        to_parent.sync("its namespaces")?;
        idle(to_parent)?;
        populated.send("the order to exit", &())?;
        populated.join()
    })?;
    owner.sync("its namespaces")?;
    Ok(owner)
}

fn ioctl_get_userns_gives_owner() -> Outcome {
    let owner = spawn_all_new()?;
    let user = fd_inode(&open_ns(owner.pid(), "user")?)?;
    for kind in configured_kinds().into_iter().filter(|k| *k != Kind::User) {
        let ns = open_ns(owner.pid(), entry(kind))?;
        let found = related(&ns, NS_GET_USERNS).at(&format!("NS_GET_USERNS on the new {kind} namespace"))?;
        expect_eq(&format!("the owner of the {kind} namespace created in the new user namespace"), user, fd_inode(&found)?)?;
    }
    let parent = related(&open_ns(owner.pid(), "user")?, NS_GET_USERNS).at("NS_GET_USERNS on the new user namespace")?;
    expect_eq("the owner of the new user namespace (its parent)", own_ns("user")?, fd_inode(&parent)?)?;
    owner.send("the order to exit", &())?;
    owner.join()
}

fn ioctl_get_userns_eperm_outside_scope() -> Outcome {
    let ours = open_ns("self", "mnt")?;
    spawn(Spawn::clone(&[Kind::User]), move |_| {
        expect_errno(
            "NS_GET_USERNS on the parent's mount namespace from a child user namespace",
            Errno::EPERM,
            related(&ours, NS_GET_USERNS).map(drop),
        )
    })?
    .join()
}

fn ioctl_get_parent_gives_parent() -> Outcome {
    for (kind, entry) in [(Kind::User, "user"), (Kind::Pid, "pid")] {
        let child = spawn_ready(Spawn::clone(&[kind]))?;
        let ns = open_ns(child.pid(), entry)?;
        let parent = related(&ns, NS_GET_PARENT).at(&format!("NS_GET_PARENT on a child {kind} namespace"))?;
        expect_eq(&format!("the parent of a child {kind} namespace"), own_ns(entry)?, fd_inode(&parent)?)?;
        child.send("the order to exit", &())?;
        child.join()?;
    }
    Ok(())
}

fn ioctl_get_parent_eperm_outside_scope() -> Outcome {
    for kind in [Kind::User, Kind::Pid] {
        spawn(Spawn::clone(&[kind]), move |_| {
            let own = open_ns("self", kind.name())?;
            expect_errno(&format!("NS_GET_PARENT on its own {kind} namespace"), Errno::EPERM, related(&own, NS_GET_PARENT).map(drop))
        })?
        .join()?;
    }
    Ok(())
}

fn ioctl_get_parent_einval_without_hierarchy() -> Outcome {
    for kind in configured_kinds().into_iter().filter(|k| !matches!(k, Kind::User | Kind::Pid)) {
        let ns = open_ns("self", kind.name())?;
        expect_errno(&format!("NS_GET_PARENT on /proc/self/ns/{kind}"), Errno::EINVAL, related(&ns, NS_GET_PARENT).map(drop))?;
    }
    Ok(())
}

fn ioctl_get_nstype() -> Outcome {
    for kind in configured_kinds() {
        let ns = open_ns("self", kind.name())?;
        expect_eq(&format!("NS_GET_NSTYPE on /proc/self/ns/{kind} ({})", kind.flag_name()), Ok(kind.flag()), ioctl(&ns, NS_GET_NSTYPE, 0))?;
    }
    Ok(())
}

fn owner_uid(ns: &File) -> Result<u32, Errno> {
    let mut uid = u32::MAX;
    ioctl(ns, NS_GET_OWNER_UID, &mut uid as *mut u32 as usize).map(|_| uid)
}

fn ioctl_get_owner_uid() -> Outcome {
    let (owner, ns) = spawn_user_namespace()?;
    expect_eq("NS_GET_OWNER_UID of a child user namespace (our euid)", Ok(nix::unistd::geteuid().as_raw()), owner_uid(&ns))?;
    expect_errno("NS_GET_OWNER_UID on /proc/self/ns/mnt", Errno::EINVAL, owner_uid(&open_ns("self", "mnt")?))?;
    owner.send("the order to exit", &())?;
    owner.join()?;
    // Inside, the owner's uid reads through the new namespace's map: root, mapped to our euid.
    spawn(Spawn::clone(&[Kind::User]).map_root(), |_| {
        expect_eq("NS_GET_OWNER_UID of its own user namespace, read inside", Ok(0), owner_uid(&open_ns("self", "user")?))
    })?
    .join()?;
    // Without a uid_map the owner has no uid inside: the overflow uid, whatever it is outside.
    let overflow: u32 = read_sysctl("/proc/sys/kernel/overflowuid")?.trim().parse().setup("parsing /proc/sys/kernel/overflowuid")?;
    spawn(Spawn::clone(&[Kind::User]), move |_| {
        expect_eq(
            "NS_GET_OWNER_UID of its own user namespace, which has no uid_map, read inside",
            Ok(overflow),
            owner_uid(&open_ns("self", "user")?),
        )
    })?
    .join()
}

fn ioctl_unknown_request_enotty() -> Outcome {
    let ns = open_ns("self", "mnt")?;
    expect_errno("ioctl(/proc/self/ns/mnt, _IO(0xb7, 0xff))", Errno::ENOTTY, ioctl(&ns, NS_UNKNOWN, 0))
}

fn ioctl_get_mntns_id() -> Outcome {
    let own = id_of(&open_ns("self", "mnt")?, NS_GET_MNTNS_ID).at("NS_GET_MNTNS_ID on /proc/self/ns/mnt")?;
    let mut child = spawn(Spawn::clone(&[Kind::Mnt]), |to_parent| {
        let id = id_of(&open_ns("self", "mnt")?, NS_GET_MNTNS_ID).at("NS_GET_MNTNS_ID on its own namespace")?;
        to_parent.send("its id", &id)?;
        idle(to_parent)
    })?;
    let theirs = child.recv::<u64>("its id")?;
    expect_ne("the id of a new mount namespace vs ours", own, theirs)?;
    expect_eq(
        "NS_GET_MNTNS_ID through /proc/PID/ns/mnt of the child vs its own reading",
        Ok(theirs),
        id_of(&open_ns(child.pid(), "mnt")?, NS_GET_MNTNS_ID),
    )?;
    let other = configured_kinds().into_iter().find(|k| *k != Kind::Mnt);
    if let Some(kind) = other {
        expect_errno(
            &format!("NS_GET_MNTNS_ID on /proc/self/ns/{kind}"),
            Errno::EINVAL,
            id_of(&open_ns("self", kind.name())?, NS_GET_MNTNS_ID),
        )?;
    }
    child.send("the order to exit", &())?;
    child.join()
}

fn ioctl_pid_translation() -> Outcome {
    let init = spawn(Spawn::clone(&[Kind::Pid]), idle)?;
    let outer = init.pid().as_raw();
    let ns = open_ns(outer, "pid")?;
    for (request, name) in [(NS_GET_PID_FROM_PIDNS, "NS_GET_PID_FROM_PIDNS"), (NS_GET_TGID_FROM_PIDNS, "NS_GET_TGID_FROM_PIDNS")] {
        expect_eq(&format!("{name}(child namespace, 1)"), Ok(outer), ioctl(&ns, request, 1))?;
        expect_errno(&format!("{name}(child namespace, 2): no such pid there"), Errno::ESRCH, ioctl(&ns, request, 2))?;
    }
    let me = std::process::id() as usize;
    for (request, name) in [(NS_GET_PID_IN_PIDNS, "NS_GET_PID_IN_PIDNS"), (NS_GET_TGID_IN_PIDNS, "NS_GET_TGID_IN_PIDNS")] {
        expect_eq(&format!("{name}(child namespace, the child's pid)"), Ok(1), ioctl(&ns, request, outer as usize))?;
        expect_errno(&format!("{name}(child namespace, our pid): we are not visible there"), Errno::ESRCH, ioctl(&ns, request, me))?;
    }
    expect_errno("NS_GET_PID_IN_PIDNS on /proc/self/ns/mnt", Errno::EINVAL, ioctl(&open_ns("self", "mnt")?, NS_GET_PID_IN_PIDNS, me))?;
    init.send("the order to exit", &())?;
    init.join()
}

fn ioctl_get_id() -> Outcome {
    let owner = spawn_all_new()?;
    for kind in configured_kinds() {
        let ours = open_ns("self", kind.name())?;
        let ours_again = open_ns(std::process::id(), kind.name())?;
        let id = id_of(&ours, NS_GET_ID).at(&format!("NS_GET_ID on /proc/self/ns/{kind}"))?;
        expect_eq(&format!("NS_GET_ID on /proc/PID/ns/{kind} of the same process"), Ok(id), id_of(&ours_again, NS_GET_ID))?;
        let new = id_of(&open_ns(owner.pid(), entry(kind))?, NS_GET_ID).at(&format!("NS_GET_ID on a new {kind} namespace"))?;
        expect_ne(&format!("NS_GET_ID of a new {kind} namespace vs ours"), id, new)?;
    }
    owner.send("the order to exit", &())?;
    owner.join()
}

fn pidfd_get_namespace_ioctls() -> Outcome {
    use crate::pidfd::{get_namespace, NAMESPACE_REQUESTS, PIDFD_GET_MNT_NAMESPACE};
    let owner = spawn_all_new()?;
    let pid = owner.pid();
    let pidfd = pidfd_open(pid.as_raw()).at("pidfd_open of the process in new namespaces")?;
    let configured = configured_kinds();
    for (name, request, kind, entry) in NAMESPACE_REQUESTS {
        let answer = get_namespace(&pidfd, request);
        if !configured.contains(&kind) {
            expect_errno(&format!("{name} on a kernel without {kind} namespaces"), Errno::EOPNOTSUPP, answer.map(drop))?;
            continue;
        }
        let ns = answer.at(&format!("{name} on the pidfd of the process in new namespaces"))?;
        let expected = fd_inode(&open_ns(pid, entry)?)?;
        expect_eq(&format!("the inode of the fd {name} gives vs /proc/PID/ns/{entry} of the process"), expected, fd_inode(&ns)?)?;
    }
    owner.send("the order to exit", &())?;
    owner.join()?;
    expect_errno(
        "PIDFD_GET_MNT_NAMESPACE on the pidfd of a reaped process",
        Errno::ESRCH,
        get_namespace(&pidfd, PIDFD_GET_MNT_NAMESPACE).map(drop),
    )
}
