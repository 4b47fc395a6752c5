//! nsfs, the namespace files of /proc/PID/ns: namespace identity by inode, keeping a namespace
//! alive, setns(2) with namespace files and pidfds, and the ioctl_ns(2) requests.
//!
//! Checks that span every kind use the kinds this kernel builds in (by its config, or without
//! one by /proc/self/ns); a configured kind that fails is a FAIL. The user-namespace id maps
//! and capabilities are the user suite's.

use crate::fixture::{without_capabilities, CREATOR_WITHOUT_CAPABILITIES};
use crate::ns_ioctl::*;
use crate::scratch::{bind, in_scratch, touch};
use crate::sys::{dev_ino, errno_result, fd_inode, idle, outer_pid, own_ns, pidfd_open, set_effective_cap, with_second_thread, FsSibling};
use nix::errno::Errno;
use nix::mount::MsFlags;
use nsconform_harness::host::facts;
use nsconform_harness::{expect_eq, expect_errno, expect_ne, expect_that, spawn, At, Check, Kind, Need, Outcome, Probe, Spawn, Stop};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

/// The check that joining a namespace of `$kind` (built in by `$config`, if the kind has an
/// option) needs CAP_SYS_ADMIN both in its owning user namespace and in the caller's. Its
/// needs keep the run out of a user namespace of the harness's, so that the joiner can be a
/// process without capabilities.
macro_rules! setns_without_cap_sys_admin_eperm {
    ($id:literal, $kind:expr) => {
        Check::new(
            $id,
            "setns into a namespace of the kind gives EPERM without CAP_SYS_ADMIN in the caller's user namespace (its owner's uid) or in the namespace's owner (root of a sibling user namespace); after joining the owner, the owner's uid joins it",
            "setns(2) ERRORS (EPERM); the kind's install op: utsns_install() kernel/utsname.c, ipcns_install() ipc/namespace.c, pidns_install() kernel/pid_namespace.c, netns_install() net/core/net_namespace.c, mntns_install() fs/namespace.c, cgroupns_install() kernel/cgroup/namespace.c, timens_install() kernel/time/namespace.c: ns_capable(ns->user_ns, CAP_SYS_ADMIN) and ns_capable(nsset->cred->user_ns, CAP_SYS_ADMIN)",
            &[Need::KindInOwnUserns($kind), Need::Kind(Kind::User), Need::Probe(CREATOR_WITHOUT_CAPABILITIES)],
            || setns_without_cap_sys_admin($kind),
        )
    };
}

pub const CHECKS: &[Check] = &[
    Check::new(
        "nsfs.same-namespace-same-inode",
        "For every kind, a namespace has one nsfs inode: its creator, /proc/PID/ns of another process and a process that joins it all see the same st_ino, a new one differs, and all share one st_dev",
        "namespaces(7) /proc/[pid]/ns; ns_get_path() in fs/nsfs.c sets i_ino = ns->inum (proc_alloc_inum())",
        &[Need::KindsWhereConfigured(&Kind::ALL), Need::Kind(Kind::Mnt)],
        || for_each_kind(|kind| join_new_namespace(kind, kind.flag())),
    ),
    Check::new(
        "nsfs.children-inherit-namespaces",
        "A child created without CLONE_NEW* flags is in every namespace of its parent (same inodes in /proc/PID/ns)",
        "namespaces(7); clone(2); copy_namespaces() shares the parent's nsproxy, kernel/nsproxy.c",
        &[],
        children_inherit_namespaces,
    ),
    Check::new(
        "nsfs.open-fd-keeps-namespace-alive",
        "An open /proc/PID/ns file keeps a namespace alive after its processes exit, and setns through it joins it",
        "namespaces(7) /proc/[pid]/ns; setns(2); the nsfs inode holds a reference (nsfs_evict() drops it), fs/nsfs.c",
        &[Need::Kind(Kind::Uts)],
        open_fd_keeps_namespace_alive,
    ),
    Check::new(
        "nsfs.bind-mount-keeps-namespace-alive",
        "A bind mount of /proc/PID/ns/uts keeps the namespace alive after its processes exit, and setns through it joins it",
        "namespaces(7) /proc/[pid]/ns; setns(2); do_loopback() in fs/namespace.c accepts nsfs dentries",
        &[Need::Kind(Kind::Uts), Need::Kind(Kind::Mnt)],
        bind_mount_keeps_namespace_alive,
    ),
    Check::new(
        "nsfs.setns-nstype-zero-accepts-any-kind",
        "setns(fd, 0) joins a namespace of any kind",
        "setns(2) nstype 0; __do_sys_setns() in kernel/nsproxy.c checks the type only when nstype is non-zero",
        &[Need::KindsWhereConfigured(&Kind::ALL), Need::Kind(Kind::Mnt)],
        || for_each_kind(|kind| join_new_namespace(kind, 0)),
    ),
    Check::new(
        "nsfs.setns-mismatched-nstype-einval",
        "setns with an nstype other than the file's kind gives EINVAL, for every kind",
        "setns(2) ERRORS; __do_sys_setns() in kernel/nsproxy.c: ns->ops->type != flags",
        &[],
        setns_mismatched_nstype_einval,
    ),
    Check::new(
        "nsfs.setns-non-namespace-fd-einval",
        "setns on a regular file that is neither a namespace file nor a pidfd gives EINVAL",
        "setns(2) ERRORS; __do_sys_setns() in kernel/nsproxy.c: neither proc_ns_file() nor pidfd_pid()",
        &[],
        setns_non_namespace_fd_einval,
    ),
    Check::new(
        "nsfs.setns-bad-fd-ebadf",
        "setns on a file descriptor that is not open gives EBADF",
        "setns(2) ERRORS; __do_sys_setns() in kernel/nsproxy.c (fdget)",
        &[],
        setns_bad_fd_ebadf,
    ),
    Check::new(
        "nsfs.setns-pidfd-joins-several-kinds",
        "setns(pidfd, CLONE_NEWUTS | CLONE_NEWIPC) joins both namespaces of the target at once",
        "setns(2) pidfd (Linux 5.8); validate_nsset() and commit_nsset() in kernel/nsproxy.c",
        &[Need::Kernel(5, 8), Need::Kind(Kind::Uts), Need::Kind(Kind::Ipc)],
        setns_pidfd_joins_several_kinds,
    ),
    Check::new(
        "nsfs.setns-pidfd-all-or-nothing",
        "setns(pidfd, ...) with one namespace that cannot be joined joins none of them",
        "setns(2) pidfd; prepare_nsset() validates every kind before commit_nsset(), kernel/nsproxy.c; pidns_install() refuses an ancestor",
        &[Need::Kernel(5, 8), Need::Kind(Kind::Uts), Need::Kind(Kind::Pid)],
        setns_pidfd_all_or_nothing,
    ),
    Check::new(
        "nsfs.setns-pidfd-needs-namespace-flags",
        "setns(pidfd, flags) gives EINVAL when flags is 0 or holds a bit that is not a CLONE_NEW* flag",
        "setns(2) ERRORS; check_setns_flags() in kernel/nsproxy.c",
        &[Need::Kernel(5, 8)],
        setns_pidfd_needs_namespace_flags,
    ),
    Check::new(
        "nsfs.setns-pidfd-reaped-esrch",
        "setns on the pidfd of a reaped process gives ESRCH",
        "setns(2) ERRORS; validate_nsset() in kernel/nsproxy.c: no task or no nsproxy",
        &[Need::Kernel(5, 8)],
        setns_pidfd_reaped_esrch,
    ),
    Check::new(
        "nsfs.setns-own-user-namespace-einval",
        "Joining the caller's own user namespace gives EINVAL, through its nsfs file or through a pidfd",
        "setns(2) ERRORS; userns_install() in kernel/user_namespace.c: user_ns == current_user_ns()",
        &[Need::Kernel(5, 8), Need::Config("CONFIG_USER_NS")],
        setns_own_user_namespace_einval,
    ),
    Check::new(
        "nsfs.setns-user-multithreaded-einval",
        "A multithreaded process gets EINVAL from setns into a user namespace that a single-threaded one may join",
        "setns(2) ERRORS; userns_install() in kernel/user_namespace.c: !thread_group_empty(current)",
        &[Need::Kind(Kind::User)],
        setns_user_multithreaded_einval,
    ),
    Check::new(
        "nsfs.setns-user-without-cap-eperm",
        "setns into a user namespace where the caller lacks CAP_SYS_ADMIN gives EPERM; its owner's process joins it",
        "setns(2) ERRORS; userns_install() in kernel/user_namespace.c: ns_capable(user_ns, CAP_SYS_ADMIN)",
        &[Need::Kind(Kind::User)],
        setns_user_without_cap_eperm,
    ),
    Check::new(
        "nsfs.setns-pid-own-or-descendant-only",
        "A PID namespace can be joined only if it is the caller's own or a descendant: an ancestor or a sibling gives EINVAL",
        "setns(2) ERRORS; pidns_install() in kernel/pid_namespace.c",
        &[Need::Kind(Kind::Pid)],
        setns_pid_own_or_descendant_only,
    ),
    setns_without_cap_sys_admin_eperm!("nsfs.setns-uts-without-cap-sys-admin-eperm", Kind::Uts),
    setns_without_cap_sys_admin_eperm!("nsfs.setns-ipc-without-cap-sys-admin-eperm", Kind::Ipc),
    setns_without_cap_sys_admin_eperm!("nsfs.setns-pid-without-cap-sys-admin-eperm", Kind::Pid),
    setns_without_cap_sys_admin_eperm!("nsfs.setns-net-without-cap-sys-admin-eperm", Kind::Net),
    setns_without_cap_sys_admin_eperm!("nsfs.setns-mnt-without-cap-sys-admin-eperm", Kind::Mnt),
    setns_without_cap_sys_admin_eperm!("nsfs.setns-cgroup-without-cap-sys-admin-eperm", Kind::Cgroup),
    setns_without_cap_sys_admin_eperm!("nsfs.setns-time-without-cap-sys-admin-eperm", Kind::Time),
    Check::new(
        "nsfs.setns-mnt-resets-root-and-cwd",
        "setns into a mount namespace sets the caller's root and cwd to the namespace's root, whatever its chroot and cwd were",
        "setns(2) CLONE_NEWNS; mntns_install() in fs/namespace.c: set_fs_pwd() and set_fs_root() to the namespace's root",
        &[Need::Kind(Kind::Mnt)],
        setns_mnt_resets_root_and_cwd,
    ),
    Check::new(
        "nsfs.setns-mnt-needs-cap-sys-chroot",
        "setns into a mount namespace gives EPERM without CAP_SYS_CHROOT in the caller's user namespace, CAP_SYS_ADMIN held; with it raised again it succeeds",
        "setns(2) ERRORS (EPERM); mntns_install() in fs/namespace.c: ns_capable(user_ns, CAP_SYS_CHROOT)",
        &[Need::Kind(Kind::Mnt)],
        setns_mnt_needs_cap_sys_chroot,
    ),
    Check::new(
        "nsfs.setns-mnt-shared-fs-einval",
        "setns into a mount namespace gives EINVAL while the caller's fs_struct is shared, with a clone(CLONE_FS) sibling or a thread; once it is not, the same call succeeds",
        "setns(2) ERRORS (EINVAL); mntns_install() in fs/namespace.c: current->fs->users != 1",
        &[Need::Kind(Kind::Mnt)],
        setns_mnt_shared_fs_einval,
    ),
    Check::new(
        "nsfs.setns-time-multithreaded-eusers",
        "setns into a time namespace by a process with two threads gives EUSERS; once single-threaded again it succeeds",
        "setns(2); timens_install() in kernel/time/namespace.c: !current_is_single_threaded() gives -EUSERS",
        &[Need::Kind(Kind::Time)],
        setns_time_multithreaded_eusers,
    ),
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

fn setns(fd: &impl AsRawFd, nstype: libc::c_int) -> Result<(), Errno> {
    // SAFETY: plain system call; the fd may be invalid on purpose.
    Errno::result(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

fn open_ns(pid: impl std::fmt::Display, entry: &str) -> Result<File, Stop> {
    let path = format!("/proc/{pid}/ns/{entry}");
    File::open(&path).at(&format!("opening {path}"))
}

/// The /proc/PID/ns entry of the namespace a process's unshare creates: PID and time
/// namespaces are entered by the process's children only.
fn entry(kind: Kind) -> &'static str {
    match kind {
        Kind::Pid => "pid_for_children",
        Kind::Time => "time_for_children",
        other => other.name(),
    }
}

/// The kinds built into this kernel: by its config or, without one, by /proc/self/ns.
fn configured_kinds() -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| facts().kind_configured(*k).unwrap_or_else(|| std::path::Path::new(&format!("/proc/self/ns/{k}")).exists()))
        .collect()
}

fn for_each_kind(check: impl Fn(Kind) -> Outcome) -> Outcome {
    for kind in configured_kinds() {
        nsconform_harness::step(&format!("the {kind} namespace"));
        check(kind).map_err(|stop| stop.within(kind.name()))?;
    }
    Ok(())
}

/// unshare(2) of `kinds`, then a child that waits for the order to exit: a new PID namespace
/// has a /proc/PID/ns/pid_for_children entry only once its init exists (pidns_for_children_get()).
fn unshare_and_populate(kinds: &[Kind]) -> Result<nsconform_harness::Child, Stop> {
    nsconform_harness::unshare(kinds)?;
    spawn(Spawn::fork(), idle)
}

/// A child created as `how` says, once it is running in its namespaces; it waits for the
/// order to exit.
fn spawn_ready(how: Spawn) -> Result<nsconform_harness::Child, Stop> {
    let mut child = spawn(how, |to_parent| to_parent.sync("its start").and_then(|_| idle(to_parent)))?;
    child.sync("its start")?;
    Ok(child)
}

/// Waits for the parent's order to exit.
/// A process creates a namespace of `kind` with unshare; another joins it with setns(fd,
/// `nstype`); all agree on its inode, which differs from the parent's.
fn join_new_namespace(kind: Kind, nstype: libc::c_int) -> Outcome {
    let mut creator = spawn(Spawn::fork(), move |to_parent| {
        let populated = unshare_and_populate(&[kind])?;
        to_parent.send("its new namespace", &own_ns(entry(kind))?)?;
        idle(to_parent)?;
        populated.send("the order to exit", &())?;
        populated.join()
    })?;
    let inode = creator.recv::<u64>("its new namespace")?;
    expect_ne(&format!("the new {kind} namespace's inode vs the parent's"), own_ns(entry(kind))?, inode)?;
    let ns = open_ns(creator.pid(), entry(kind))?;
    expect_eq(&format!("/proc/PID/ns/{} of the creator read by its parent", entry(kind)), inode, fd_inode(&ns)?)?;
    let devices: Vec<u64> = std::fs::read_dir("/proc/self/ns")
        .at("listing /proc/self/ns")?
        .map(|e| Ok(std::fs::metadata(e.at("reading /proc/self/ns")?.path()).at("stat of a /proc/self/ns entry")?.dev()))
        .collect::<Result<_, Stop>>()?;
    let dev = ns.metadata().at("stat of the namespace file")?.dev();
    expect_that("st_dev of every /proc/self/ns entry", devices.iter().all(|d| *d == dev), format!("all {dev}"), format!("{devices:?}"))?;
    spawn(Spawn::fork(), move |_| {
        setns(&ns, nstype).at(&format!("setns(fd of the new {kind} namespace, {nstype:#x})"))?;
        expect_eq(&format!("/proc/self/ns/{} after setns", entry(kind)), inode, own_ns(entry(kind))?)
    })?
    .join()?;
    creator.send("the order to exit", &())?;
    creator.join()
}

/// The inode of every /proc/PID/ns entry.
fn namespace_inodes(pid: &str) -> Result<BTreeMap<String, u64>, Stop> {
    let dir = format!("/proc/{pid}/ns");
    let mut inodes = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).at(&format!("listing {dir}"))? {
        let name = entry.at(&format!("reading {dir}"))?.file_name().to_string_lossy().into_owned();
        inodes.insert(name.clone(), nsconform_harness::kind::ns_inode(pid, &name).at(&format!("stat of {dir}/{name}"))?);
    }
    Ok(inodes)
}

fn children_inherit_namespaces() -> Outcome {
    let mut child = spawn(Spawn::fork(), |to_parent| to_parent.send("its namespaces", &namespace_inodes("self")?))?;
    let theirs = child.recv::<BTreeMap<String, u64>>("its namespaces")?;
    expect_eq("the child's /proc/self/ns inodes vs the parent's", namespace_inodes("self")?, theirs)?;
    child.join()
}

const KEPT_HOSTNAME: &str = "nsconform-kept";

/// A process in a new UTS namespace with a hostname of its own; it waits for the order to exit.
fn spawn_uts_owner() -> Result<(nsconform_harness::Child, u64), Stop> {
    let mut owner = spawn(Spawn::clone(&[Kind::Uts]), |to_parent| {
        nix::unistd::sethostname(KEPT_HOSTNAME).at("sethostname in the new UTS namespace")?;
        to_parent.send("its namespace", &own_ns("uts")?)?;
        idle(to_parent)
    })?;
    let inode = owner.recv::<u64>("its namespace")?;
    Ok((owner, inode))
}

/// Joins the UTS namespace behind `ns` in a child and expects the owner's hostname there.
fn join_kept_uts(ns: File, inode: u64) -> Outcome {
    spawn(Spawn::fork(), move |_| {
        setns(&ns, libc::CLONE_NEWUTS).at("setns into the UTS namespace whose processes exited")?;
        expect_eq("/proc/self/ns/uts after setns", inode, own_ns("uts")?)?;
        expect_eq(
            "the hostname after setns",
            KEPT_HOSTNAME.to_string(),
            nix::unistd::gethostname().at("gethostname")?.to_string_lossy().into_owned(),
        )
    })?
    .join()
}

fn open_fd_keeps_namespace_alive() -> Outcome {
    let (owner, inode) = spawn_uts_owner()?;
    let ns = open_ns(owner.pid(), "uts")?;
    owner.send("the order to exit", &())?;
    owner.join()?;
    join_kept_uts(ns, inode)
}

fn bind_mount_keeps_namespace_alive() -> Outcome {
    in_scratch(|| {
        touch("/tmp/uts")?;
        let (owner, inode) = spawn_uts_owner()?;
        bind(&format!("/proc/{}/ns/uts", owner.pid()), "/tmp/uts", MsFlags::empty()).at("bind-mounting /proc/PID/ns/uts on /tmp/uts")?;
        owner.send("the order to exit", &())?;
        owner.join()?;
        join_kept_uts(File::open("/tmp/uts").at("opening the bind mount /tmp/uts")?, inode)
    })
}

fn setns_mismatched_nstype_einval() -> Outcome {
    let kinds = configured_kinds();
    if kinds.len() < 2 {
        return Err(Stop::skip("only one namespace kind is built in, so there is no other type to mismatch"));
    }
    spawn(Spawn::fork(), move |_| {
        for (i, kind) in kinds.iter().enumerate() {
            let other = kinds[(i + 1) % kinds.len()];
            let ns = open_ns("self", kind.name())?;
            expect_errno(&format!("setns(/proc/self/ns/{kind}, {})", other.flag_name()), Errno::EINVAL, setns(&ns, other.flag()))?;
        }
        Ok(())
    })?
    .join()
}

fn setns_non_namespace_fd_einval() -> Outcome {
    spawn(Spawn::fork(), |_| {
        // SAFETY: plain system call with a valid name; on success we own the fd.
        let fd =
            errno_result(unsafe { libc::memfd_create(c"nsconform".as_ptr(), libc::MFD_CLOEXEC) } as libc::c_long).at("memfd_create")?;
        // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
        let file = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        expect_errno("setns(a memfd, 0)", Errno::EINVAL, setns(&file, 0))?;
        expect_errno("setns(a memfd, CLONE_NEWUTS)", Errno::EINVAL, setns(&file, libc::CLONE_NEWUTS))
    })?
    .join()
}

fn setns_bad_fd_ebadf() -> Outcome {
    spawn(Spawn::fork(), |_| {
        let closed = File::open("/dev/null").at("opening /dev/null")?.as_raw_fd();
        expect_errno("setns(-1, 0)", Errno::EBADF, setns(&-1, 0))?;
        expect_errno("setns(a closed fd, 0)", Errno::EBADF, setns(&closed, 0))
    })?
    .join()
}

fn setns_pidfd_joins_several_kinds() -> Outcome {
    let mut owner = spawn(Spawn::clone(&[Kind::Uts, Kind::Ipc]), |to_parent| {
        nix::unistd::sethostname(KEPT_HOSTNAME).at("sethostname in the new UTS namespace")?;
        to_parent.send("its namespaces", &(own_ns("uts")?, own_ns("ipc")?))?;
        idle(to_parent)
    })?;
    let (uts, ipc) = owner.recv::<(u64, u64)>("its namespaces")?;
    let pidfd = pidfd_open(owner.pid().as_raw()).at("pidfd_open of the owner")?;
    spawn(Spawn::fork(), move |_| {
        setns(&pidfd, libc::CLONE_NEWUTS | libc::CLONE_NEWIPC).at("setns(pidfd, CLONE_NEWUTS | CLONE_NEWIPC)")?;
        expect_eq("/proc/self/ns/uts after setns", uts, own_ns("uts")?)?;
        expect_eq("/proc/self/ns/ipc after setns", ipc, own_ns("ipc")?)?;
        expect_eq(
            "the hostname after setns",
            KEPT_HOSTNAME.to_string(),
            nix::unistd::gethostname().at("gethostname")?.to_string_lossy().into_owned(),
        )
    })?
    .join()?;
    owner.send("the order to exit", &())?;
    owner.join()
}

fn setns_pidfd_all_or_nothing() -> Outcome {
    // Everything happens in a PID namespace of our own, so that joining its ancestor is refused
    // for being an ancestor (EINVAL), not for a capability missing over the host's (EPERM).
    spawn(Spawn::clone(&[Kind::Pid]), |_| {
        let mut owner = spawn(Spawn::clone(&[Kind::Uts]), |to_parent| {
            to_parent.send("its namespace", &own_ns("uts")?)?;
            idle(to_parent)
        })?;
        let uts = owner.recv::<u64>("its namespace")?;
        let pidfd = pidfd_open(owner.pid().as_raw()).at("pidfd_open of the owner")?;
        // The joiner is PID 1 of a child PID namespace: the owner's is its parent.
        spawn(Spawn::clone(&[Kind::Pid]), move |_| {
            let before = own_ns("uts")?;
            expect_errno(
                "setns(pidfd, CLONE_NEWUTS | CLONE_NEWPID) with an ancestor PID namespace",
                Errno::EINVAL,
                setns(&pidfd, libc::CLONE_NEWUTS | libc::CLONE_NEWPID),
            )?;
            expect_eq("/proc/self/ns/uts after the refused setns", before, own_ns("uts")?)?;
            setns(&pidfd, libc::CLONE_NEWUTS).at("setns(pidfd, CLONE_NEWUTS) alone")?;
            expect_eq("/proc/self/ns/uts after setns(pidfd, CLONE_NEWUTS)", uts, own_ns("uts")?)
        })?
        .join()?;
        owner.send("the order to exit", &())?;
        owner.join()
    })?
    .join()
}

fn setns_pidfd_needs_namespace_flags() -> Outcome {
    let target = spawn(Spawn::fork(), idle)?;
    let pidfd = pidfd_open(target.pid().as_raw()).at("pidfd_open of a sibling")?;
    spawn(Spawn::fork(), move |_| {
        expect_errno("setns(pidfd, 0)", Errno::EINVAL, setns(&pidfd, 0))?;
        expect_errno("setns(pidfd, CLONE_VM)", Errno::EINVAL, setns(&pidfd, libc::CLONE_VM))
    })?
    .join()?;
    target.send("the order to exit", &())?;
    target.join()
}

fn setns_pidfd_reaped_esrch() -> Outcome {
    let target = spawn(Spawn::fork(), idle)?;
    let pidfd = pidfd_open(target.pid().as_raw()).at("pidfd_open of a child")?;
    target.send("the order to exit", &())?;
    target.join()?;
    // CLONE_NEWNS: the one kind that cannot be configured out (check_setns_flags() rejects
    // the flags of unconfigured kinds with EINVAL before the task is looked up).
    spawn(Spawn::fork(), move |_| {
        expect_errno("setns(pidfd of a reaped process, CLONE_NEWNS)", Errno::ESRCH, setns(&pidfd, libc::CLONE_NEWNS))
    })?
    .join()
}

fn setns_own_user_namespace_einval() -> Outcome {
    let sibling = spawn(Spawn::fork(), idle)?;
    let pidfd = pidfd_open(sibling.pid().as_raw()).at("pidfd_open of a process in the same user namespace")?;
    spawn(Spawn::fork(), move |_| {
        let own = open_ns("self", "user")?;
        expect_errno("setns(/proc/self/ns/user, CLONE_NEWUSER)", Errno::EINVAL, setns(&own, libc::CLONE_NEWUSER))?;
        expect_errno("setns(/proc/self/ns/user, 0)", Errno::EINVAL, setns(&own, 0))?;
        expect_errno(
            "setns(pidfd of a process in the same user namespace, CLONE_NEWUSER)",
            Errno::EINVAL,
            setns(&pidfd, libc::CLONE_NEWUSER),
        )
    })?
    .join()?;
    sibling.send("the order to exit", &())?;
    sibling.join()
}

/// A process in a new user namespace (owned by our euid, so we hold every capability in it).
fn spawn_user_namespace() -> Result<(nsconform_harness::Child, File), Stop> {
    let owner = spawn_ready(Spawn::clone(&[Kind::User]))?;
    let ns = open_ns(owner.pid(), "user")?;
    Ok((owner, ns))
}

fn setns_user_multithreaded_einval() -> Outcome {
    let (owner, ns) = spawn_user_namespace()?;
    let inode = fd_inode(&ns)?;
    let single = ns.try_clone().at("duplicating the namespace fd")?;
    spawn(Spawn::fork(), move |_| {
        // A thread only here, in a forked child of the check process.
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || wait.recv());
        let refused = setns(&ns, libc::CLONE_NEWUSER);
        drop(release);
        let _ = thread.join();
        expect_errno("setns into a child user namespace from a process with two threads", Errno::EINVAL, refused)
    })?
    .join()?;
    spawn(Spawn::fork(), move |_| {
        setns(&single, libc::CLONE_NEWUSER).at("setns into the same user namespace from a single-threaded process")?;
        expect_eq("/proc/self/ns/user after setns", inode, own_ns("user")?)
    })?
    .join()?;
    owner.send("the order to exit", &())?;
    owner.join()
}

fn setns_user_without_cap_eperm() -> Outcome {
    let (owner, ns) = spawn_user_namespace()?;
    let own_ns = ns.try_clone().at("duplicating the namespace fd")?;
    // A sibling user namespace: its root has no capability in the owner's namespace.
    spawn(Spawn::clone(&[Kind::User]).map_root(), move |_| {
        expect_errno("setns into a sibling user namespace", Errno::EPERM, setns(&ns, libc::CLONE_NEWUSER))
    })?
    .join()?;
    // The control: a process of the creator's namespace with the creator's euid holds
    // CAP_SYS_ADMIN there (cap_capable(): the namespace's owner) and joins.
    spawn(Spawn::fork(), move |_| setns(&own_ns, libc::CLONE_NEWUSER).at("setns into the same user namespace by a process of its owner"))?
        .join()?;
    owner.send("the order to exit", &())?;
    owner.join()
}

/// A process without capabilities owns a user namespace and a namespace of `kind` that
/// belongs to it. It holds CAP_SYS_ADMIN in that owner (cap_capable(): the owner's euid) but
/// none in its own user namespace; root of a sibling user namespace holds it in its own but
/// not in the owner: both get EPERM. The control: the owner's uid joins the owning user
/// namespace (gaining every capability there), then the namespace.
fn setns_without_cap_sys_admin(kind: Kind) -> Outcome {
    without_capabilities(|| {
        let uid = nix::unistd::geteuid();
        let target = spawn_ready(Spawn::clone(&[Kind::User, kind]).map_root())?;
        let ns = open_ns(target.pid(), kind.name())?;
        let owner = open_ns(target.pid(), "user")?;
        // setns into a PID namespace changes the caller's pid_for_children only.
        let (inode, own) = (fd_inode(&ns)?, own_ns(entry(kind))?);
        spawn(Spawn::fork(), |_| {
            let step = format!("setns into a {kind} namespace by uid {uid}, owner of its user namespace, without CAP_SYS_ADMIN in its own");
            expect_errno(&step, Errno::EPERM, setns(&ns, kind.flag()))?;
            expect_eq(&format!("/proc/self/ns/{} after the refused setns", entry(kind)), own, own_ns(entry(kind))?)
        })?
        .join()?;
        spawn(Spawn::clone(&[Kind::User]).map_root(), |_| {
            let step = format!(
                "setns into a {kind} namespace by root of a sibling user namespace, without CAP_SYS_ADMIN in the namespace's owner"
            );
            expect_errno(&step, Errno::EPERM, setns(&ns, kind.flag()))
        })?
        .join()?;
        spawn(Spawn::fork(), |_| {
            setns(&owner, libc::CLONE_NEWUSER).at(&format!("setns by uid {uid} into the user namespace it owns"))?;
            setns(&ns, kind.flag()).at(&format!("setns into the {kind} namespace from its owning user namespace"))?;
            expect_eq(&format!("/proc/self/ns/{} after setns", entry(kind)), inode, own_ns(entry(kind))?)
        })?
        .join()?;
        target.send("the order to exit", &())?;
        target.join()
    })
}

fn setns_pid_own_or_descendant_only() -> Outcome {
    // In a PID namespace of our own (see setns_pidfd_all_or_nothing); /proc is the outer one,
    // so processes are named by their outermost pid.
    spawn(Spawn::clone(&[Kind::Pid]), |_| {
        let mut descendant =
            spawn(Spawn::clone(&[Kind::Pid]), |to_parent| to_parent.send("its outer pid", &outer_pid()?).and_then(|_| idle(to_parent)))?;
        let child_ns = open_ns(descendant.recv::<i32>("its outer pid")?, "pid")?;
        let child_inode = fd_inode(&child_ns)?;
        let for_sibling = child_ns.try_clone().at("duplicating the namespace fd")?;
        let ancestor = open_ns("self", "pid")?;
        spawn(Spawn::fork(), move |_| {
            setns(&child_ns, libc::CLONE_NEWPID).at("setns into a child PID namespace")?;
            expect_eq("/proc/self/ns/pid_for_children after setns", child_inode, own_ns("pid_for_children")?)
        })?
        .join()?;
        spawn(Spawn::clone(&[Kind::Pid]), move |_| {
            expect_errno("setns into the parent (ancestor) PID namespace", Errno::EINVAL, setns(&ancestor, libc::CLONE_NEWPID))?;
            expect_errno("setns into a sibling PID namespace", Errno::EINVAL, setns(&for_sibling, libc::CLONE_NEWPID))?;
            setns(&open_ns("self", "pid")?, libc::CLONE_NEWPID).at("setns into its own PID namespace")
        })?
        .join()?;
        descendant.send("the order to exit", &())?;
        descendant.join()
    })?
    .join()
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

/// include/uapi/linux/capability.h
const CAP_SYS_CHROOT: u32 = 18;

fn setns_mnt_resets_root_and_cwd() -> Outcome {
    let target = spawn_ready(Spawn::clone(&[Kind::Mnt]))?;
    let ns = open_ns(target.pid(), "mnt")?;
    spawn(Spawn::fork(), |_| {
        // The new namespace's root is a copy of ours: the same directory.
        let root = dev_ino("/")?;
        std::env::set_current_dir("/proc").at("chdir(\"/proc\")")?;
        nix::unistd::chroot("/proc").at("chroot(\"/proc\")")?;
        expect_ne("(st_dev, st_ino) of / after chroot(\"/proc\")", root, dev_ino("/")?)?;
        setns(&ns, libc::CLONE_NEWNS).at("setns into the mount namespace")?;
        expect_eq("(st_dev, st_ino) of / after setns (the namespace's root)", root, dev_ino("/")?)?;
        expect_eq("(st_dev, st_ino) of the cwd after setns (the namespace's root)", root, dev_ino(".")?)?;
        let cwd = nix::unistd::getcwd().at("getcwd after setns")?;
        expect_eq("getcwd after setns", "/", &*cwd.to_string_lossy())
    })?
    .join()?;
    target.send("the order to exit", &())?;
    target.join()
}

fn setns_mnt_needs_cap_sys_chroot() -> Outcome {
    let target = spawn_ready(Spawn::clone(&[Kind::Mnt]))?;
    let ns = open_ns(target.pid(), "mnt")?;
    let inode = fd_inode(&ns)?;
    spawn(Spawn::fork(), |_| {
        let own = own_ns("mnt")?;
        set_effective_cap(CAP_SYS_CHROOT, false).at("clearing CAP_SYS_CHROOT from the effective set")?;
        expect_errno(
            "setns into a mount namespace without CAP_SYS_CHROOT (CAP_SYS_ADMIN held)",
            Errno::EPERM,
            setns(&ns, libc::CLONE_NEWNS),
        )?;
        expect_eq("/proc/self/ns/mnt after the refused setns", own, own_ns("mnt")?)?;
        set_effective_cap(CAP_SYS_CHROOT, true).at("raising CAP_SYS_CHROOT again from the permitted set")?;
        setns(&ns, libc::CLONE_NEWNS).at("setns into the mount namespace with CAP_SYS_CHROOT")?;
        expect_eq("/proc/self/ns/mnt after setns", inode, own_ns("mnt")?)
    })?
    .join()?;
    target.send("the order to exit", &())?;
    target.join()
}

fn setns_mnt_shared_fs_einval() -> Outcome {
    let target = spawn_ready(Spawn::clone(&[Kind::Mnt]))?;
    let ns = open_ns(target.pid(), "mnt")?;
    let inode = fd_inode(&ns)?;
    spawn(Spawn::fork(), |_| {
        let own = own_ns("mnt")?;
        let sibling = FsSibling::spawn()?;
        expect_errno(
            "setns into a mount namespace while a clone(CLONE_FS) sibling shares the fs_struct",
            Errno::EINVAL,
            setns(&ns, libc::CLONE_NEWNS),
        )?;
        sibling.finish()?;
        with_second_thread(|| {
            expect_errno(
                "setns into a mount namespace by a process with two threads (they share the fs_struct)",
                Errno::EINVAL,
                setns(&ns, libc::CLONE_NEWNS),
            )
        })?;
        expect_eq("/proc/self/ns/mnt after the refused setns", own, own_ns("mnt")?)?;
        setns(&ns, libc::CLONE_NEWNS).at("setns into the mount namespace once the sibling and the thread are gone")?;
        expect_eq("/proc/self/ns/mnt after setns", inode, own_ns("mnt")?)
    })?
    .join()?;
    target.send("the order to exit", &())?;
    target.join()
}

fn setns_time_multithreaded_eusers() -> Outcome {
    let target = spawn_ready(Spawn::clone(&[Kind::Time]))?;
    let ns = open_ns(target.pid(), "time")?;
    let inode = fd_inode(&ns)?;
    spawn(Spawn::fork(), |_| {
        let own = own_ns("time")?;
        with_second_thread(|| {
            expect_errno("setns into a time namespace by a process with two threads", Errno::EUSERS, setns(&ns, libc::CLONE_NEWTIME))
        })?;
        expect_eq("/proc/self/ns/time_for_children after the refused setns", own, own_ns("time_for_children")?)?;
        setns(&ns, libc::CLONE_NEWTIME).at("setns into the time namespace once the second thread is gone")?;
        expect_eq("/proc/self/ns/time after setns", inode, own_ns("time")?)
    })?
    .join()?;
    target.send("the order to exit", &())?;
    target.join()
}
