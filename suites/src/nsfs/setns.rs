//! setns(2) through namespace files and pidfds: the arguments it takes and each kind's rules for joining.

use super::{
    configured_kinds, entry, for_each_kind, join_new_namespace, open_ns, setns, spawn_ready, spawn_user_namespace, unshare_and_populate,
    KEPT_HOSTNAME,
};
use crate::fixture::{without_capabilities, CREATOR_WITHOUT_CAPABILITIES};
use crate::sys::{dev_ino, errno_result, fd_inode, idle, outer_pid, own_ns, pidfd_open, set_effective_cap, with_second_thread, FsSibling};
use nix::errno::Errno;
use nsconform_harness::{expect_eq, expect_errno, expect_ne, spawn, At, Check, Kind, Need, Outcome, Spawn, Stop};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

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
        "nsfs.setns-pidfd-user-grants-the-rest",
        "A process without capabilities joins, in one setns(pidfd, CLONE_NEWUSER | every other kind), a user namespace its uid owns and the namespaces of every kind it owns: the user namespace is joined first and its capabilities count for the rest; the same call without CLONE_NEWUSER gives EPERM and joins nothing",
        "setns(2) pidfd (Linux 5.8); validate_nsset() in kernel/nsproxy.c installs the user namespace before the other kinds, whose install ops check ns_capable(nsset->cred->user_ns, CAP_SYS_ADMIN)",
        &[
            Need::Kernel(5, 8),
            Need::KindsWhereConfigured(&Kind::ALL),
            Need::Kind(Kind::User),
            Need::Probe(CREATOR_WITHOUT_CAPABILITIES),
        ],
        setns_pidfd_user_grants_the_rest,
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
];

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

fn setns_pidfd_user_grants_the_rest() -> Outcome {
    without_capabilities(|| {
        let uid = nix::unistd::geteuid();
        let kinds = configured_kinds();
        let others: Vec<Kind> = kinds.iter().copied().filter(|k| *k != Kind::User).collect();
        // The target: the first child of a process that unshared every other kind in a new
        // user namespace, so it is in all of them (PID 1 of the new PID namespace).
        let mut owner = spawn(Spawn::clone(&[Kind::User]), |to_parent| {
            let target = unshare_and_populate(&others)?;
            to_parent.send("the pid of its child in the new namespaces", &target.pid().as_raw())?;
            idle(to_parent)?;
            target.send("the order to exit", &())?;
            target.join()
        })?;
        let target = owner.recv::<i32>("the pid of its child in the new namespaces")?;
        let inodes: Vec<(Kind, u64)> =
            kinds.iter().map(|k| Ok((*k, fd_inode(&open_ns(target, k.name())?)?))).collect::<Result<_, Stop>>()?;
        let pidfd = pidfd_open(target).at("pidfd_open of the process in the new namespaces")?;
        let without_user = nsconform_harness::kind::flags_of(&others);
        spawn(Spawn::fork(), |_| {
            let before: Vec<u64> = kinds.iter().map(|k| own_ns(entry(*k))).collect::<Result<_, _>>()?;
            let names: Vec<&str> = others.iter().map(|k| k.flag_name()).collect();
            expect_errno(
                &format!("setns(pidfd, {}) by uid {uid} without CAP_SYS_ADMIN", names.join(" | ")),
                Errno::EPERM,
                setns(&pidfd, without_user),
            )?;
            let after: Vec<u64> = kinds.iter().map(|k| own_ns(entry(*k))).collect::<Result<_, _>>()?;
            expect_eq("/proc/self/ns entries after the refused setns (every configured kind)", before, after)?;
            setns(&pidfd, without_user | libc::CLONE_NEWUSER)
                .at(&format!("setns(pidfd, CLONE_NEWUSER | {}) by uid {uid}, owner of the user namespace", names.join(" | ")))?;
            for (kind, inode) in &inodes {
                expect_eq(&format!("/proc/self/ns/{} after setns", entry(*kind)), *inode, own_ns(entry(*kind))?)?;
            }
            Ok(())
        })?
        .join()?;
        owner.send("the order to exit", &())?;
        owner.join()
    })
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

/// include/uapi/linux/capability.h
const CAP_SYS_CHROOT: u32 = 18;

/// The shape of the mount and time namespace checks below: a process creates a namespace of
/// `kind` and waits while a forked child runs `body` with the namespace's file and inode.
fn in_joiner(kind: Kind, body: impl FnOnce(&File, u64) -> Outcome) -> Outcome {
    let target = spawn_ready(Spawn::clone(&[kind]))?;
    let ns = open_ns(target.pid(), kind.name())?;
    let inode = fd_inode(&ns)?;
    spawn(Spawn::fork(), |_| body(&ns, inode))?.join()?;
    target.send("the order to exit", &())?;
    target.join()
}

fn setns_mnt_resets_root_and_cwd() -> Outcome {
    in_joiner(Kind::Mnt, |ns, _| {
        // The new namespace's root is a copy of ours: the same directory.
        let root = dev_ino("/")?;
        std::env::set_current_dir("/proc").at("chdir(\"/proc\")")?;
        nix::unistd::chroot("/proc").at("chroot(\"/proc\")")?;
        expect_ne("(st_dev, st_ino) of / after chroot(\"/proc\")", root, dev_ino("/")?)?;
        setns(ns, libc::CLONE_NEWNS).at("setns into the mount namespace")?;
        expect_eq("(st_dev, st_ino) of / after setns (the namespace's root)", root, dev_ino("/")?)?;
        expect_eq("(st_dev, st_ino) of the cwd after setns (the namespace's root)", root, dev_ino(".")?)?;
        let cwd = nix::unistd::getcwd().at("getcwd after setns")?;
        expect_eq("getcwd after setns", "/", &*cwd.to_string_lossy())
    })
}

fn setns_mnt_needs_cap_sys_chroot() -> Outcome {
    in_joiner(Kind::Mnt, |ns, inode| {
        let own = own_ns("mnt")?;
        set_effective_cap(CAP_SYS_CHROOT, false).at("clearing CAP_SYS_CHROOT from the effective set")?;
        expect_errno(
            "setns into a mount namespace without CAP_SYS_CHROOT (CAP_SYS_ADMIN held)",
            Errno::EPERM,
            setns(ns, libc::CLONE_NEWNS),
        )?;
        expect_eq("/proc/self/ns/mnt after the refused setns", own, own_ns("mnt")?)?;
        set_effective_cap(CAP_SYS_CHROOT, true).at("raising CAP_SYS_CHROOT again from the permitted set")?;
        setns(ns, libc::CLONE_NEWNS).at("setns into the mount namespace with CAP_SYS_CHROOT")?;
        expect_eq("/proc/self/ns/mnt after setns", inode, own_ns("mnt")?)
    })
}

fn setns_mnt_shared_fs_einval() -> Outcome {
    in_joiner(Kind::Mnt, |ns, inode| {
        let own = own_ns("mnt")?;
        let sibling = FsSibling::spawn()?;
        expect_errno(
            "setns into a mount namespace while a clone(CLONE_FS) sibling shares the fs_struct",
            Errno::EINVAL,
            setns(ns, libc::CLONE_NEWNS),
        )?;
        sibling.finish()?;
        with_second_thread(|| {
            expect_errno(
                "setns into a mount namespace by a process with two threads (they share the fs_struct)",
                Errno::EINVAL,
                setns(ns, libc::CLONE_NEWNS),
            )
        })?;
        expect_eq("/proc/self/ns/mnt after the refused setns", own, own_ns("mnt")?)?;
        setns(ns, libc::CLONE_NEWNS).at("setns into the mount namespace once the sibling and the thread are gone")?;
        expect_eq("/proc/self/ns/mnt after setns", inode, own_ns("mnt")?)
    })
}

fn setns_time_multithreaded_eusers() -> Outcome {
    in_joiner(Kind::Time, |ns, inode| {
        let own = own_ns("time")?;
        with_second_thread(|| {
            expect_errno("setns into a time namespace by a process with two threads", Errno::EUSERS, setns(ns, libc::CLONE_NEWTIME))
        })?;
        expect_eq("/proc/self/ns/time_for_children after the refused setns", own, own_ns("time_for_children")?)?;
        setns(ns, libc::CLONE_NEWTIME).at("setns into the time namespace once the second thread is gone")?;
        expect_eq("/proc/self/ns/time after setns", inode, own_ns("time")?)
    })
}
