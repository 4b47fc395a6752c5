//! Identity across namespaces: how the ids and pids that one process learns about another
//! (socket peer credentials, SCM_CREDENTIALS, signal senders, /proc status, sysctl owners,
//! NS_GET_OWNER_UID) are translated into the reader's user and PID namespaces
//! (user_namespaces(7), pid_namespaces(7), unix(7)).
//!
//! Every user namespace here maps an id that differs inside and outside: `INSIDE` (1000) in
//! the namespace is the creator's euid and egid outside, as in rootless containers, so a
//! translation left out shows. An unmapped id reads as the overflow id 65534.

use crate::fixture::{map_id, root_target, NOBODY};
use crate::ns_ioctl::NS_GET_OWNER_UID;
use crate::sys::{idle, set_effective_cap};
use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::socket::{
    self, recvmsg, sendmsg, sockopt, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr,
    UnixCredentials,
};
use nix::unistd::{getegid, geteuid, getpid, Pid};
use nsconform_harness::{expect_eq, expect_errno, spawn, At, Check, Kind, Need, Outcome, Spawn, Stop};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

/// The uid and gid every user namespace of these checks gives its creator's euid and egid.
const INSIDE: u32 = 1000;

pub const CHECKS: &[Check] = &[
    Check::new(
        "user.peercred-in-readers-namespaces",
        "SO_PEERCRED reports the peer's pid, uid and gid as the reader's PID and user namespaces see them: outside, the connecting process's outer pid and its outer ids; inside (ids mapped 1000 to the creator's), pid 0 for a listener outside the PID namespace and uid 1000; in a nested user namespace without mappings, the overflow ids 65534",
        "unix(7) SO_PEERCRED; sk_getsockopt() in net/core/sock.c: cred_to_ucred() takes pid_vnr() and from_kuid_munged(current_user_ns(), euid) at read time; copy_peercred()/init_peercred() in net/unix/af_unix.c",
        &[Need::Kind(Kind::User), Need::KindInOwnUserns(Kind::Pid)],
        peercred_in_readers_namespaces,
    ),
    Check::new(
        "user.scm-credentials-in-receivers-namespaces",
        "SCM_CREDENTIALS reach the receiver translated into its PID and user namespaces: a sender inside (its own pid 1 and uid 1000 claimed) is read outside as its outer pid and the creator's ids; the kernel-supplied credentials of a sender outside read inside as pid 0 and uid 1000, and as 65534 in a nested user namespace without mappings",
        "unix(7) SCM_CREDENTIALS; __scm_send() in net/core/scm.c (make_kuid(current_user_ns()), find_get_pid()), scm_set_cred() (pid_vnr() at receipt) and __scm_recv_common() in include/net/scm.h (from_kuid_munged(current_user_ns()))",
        &[Need::Kind(Kind::User), Need::KindInOwnUserns(Kind::Pid)],
        scm_credentials_in_receivers_namespaces,
    ),
    Check::new(
        "user.scm-credentials-claims-checked",
        "A sender without CAP_SYS_ADMIN over its PID namespace may claim only its own pid in SCM_CREDENTIALS (EPERM for its init's), and an id unmapped in its user namespace gives EINVAL; with CAP_SYS_ADMIN effective again, claiming init's pid 1 is accepted and reaches the receiver outside as init's outer pid",
        "unix(7) SCM_CREDENTIALS; scm_check_creds() in net/core/scm.c: creds->pid == task_tgid_vnr(current) or ns_capable(task_active_pid_ns(current)->user_ns, CAP_SYS_ADMIN); make_kuid() of an unmapped id: EINVAL",
        &[Need::Kind(Kind::User), Need::KindInOwnUserns(Kind::Pid)],
        scm_credentials_claims_checked,
    ),
    Check::new(
        "user.signal-sender-uid-in-receivers-namespace",
        "kill(2)'s si_uid is the sender's uid as the receiver's user namespace maps it: a sender inside (uid 1000 there) reads as the creator's euid outside; the creator reads as 1000 inside and as the overflow uid 65534 in a nested user namespace without mappings",
        "signal(7), sigaction(2) si_uid; prepare_kill_siginfo() and send_signal_locked() in kernel/signal.c (make_kuid(current_user_ns()) then from_kuid_munged(task's user_ns))",
        &[Need::Kind(Kind::User)],
        signal_sender_uid_in_receivers_namespace,
    ),
    Check::new(
        "user.proc-status-ids-in-readers-namespace",
        "The Uid and Gid lines of /proc/PID/status show the process's ids as the reader's user namespace maps them: 1000 inside, the creator's ids outside, 65534 from a nested user namespace without mappings",
        "proc(5) /proc/pid/status; task_state() in fs/proc/array.c: from_kuid_munged(seq_user_ns(m), ...), the opener's user namespace",
        &[Need::Kind(Kind::User)],
        proc_status_ids_in_readers_namespace,
    ),
    Check::new(
        "user.ns-get-owner-uid-in-callers-namespace",
        "NS_GET_OWNER_UID gives the owner's euid as the caller's user namespace maps it: a namespace created by uid 1000 reads 1000 from its creator's namespace, the overflow uid 65534 from a nested namespace without mappings",
        "ioctl_ns(2) NS_GET_OWNER_UID (Linux 4.11); ns_ioctl() in fs/nsfs.c: from_kuid_munged(current_user_ns(), user_ns->owner)",
        &[Need::Kind(Kind::User), Need::Kernel(4, 11)],
        ns_get_owner_uid_in_callers_namespace,
    ),
    Check::new(
        "user.uid-map-read-relative-to-reader",
        "A uid_map reads its outside ids in the reader's user namespace, except that a process reading its own namespace's map reads them in the parent's: with U mapping 1000 to the creator's euid X and V (in U) mapping 0 to 1000, U's map reads \"1000 X 1\" outside and in U, \"1000 0 1\" in V; V's map reads \"0 X 1\" outside and \"0 1000 1\" in U and in V",
        "user_namespaces(7) (\"the second field is interpreted relative to the user namespace of the process that opened the file\", the parent's when it is the same); uid_m_show() in kernel/user_namespace.c",
        &[Need::Kind(Kind::User)],
        uid_map_read_relative_to_reader,
    ),
    Check::new(
        "user.net-sysctls-owned-by-userns-root",
        "The /proc/sys/net files of a network namespace owned by a child user namespace belong to that namespace's root: uid and gid 0 inside, the ids root maps to (100000 when the run may map them) from the parent namespace; with root unmapped they stay the global root's (65534 inside)",
        "net_ctl_set_ownership() in net/sysctl_net.c: make_kuid(net->user_ns, 0) when valid; proc_sys_make_inode() in fs/proc/proc_sysctl.c",
        &[Need::Kind(Kind::User), Need::Kind(Kind::Net)],
        net_sysctls_owned_by_userns_root,
    ),
];

/// Maps `INSIDE` of the caller's new user namespace to `uid` and `gid` of its parent: a
/// single line of the writer's own ids, as an unprivileged writer may (user_namespaces(7)).
fn map_inside(uid: u32, gid: u32) -> Outcome {
    map_id("self", INSIDE, uid, gid)
}

/// The creator's euid and egid, the ids `INSIDE` maps to.
fn own_ids() -> (u32, u32) {
    (geteuid().as_raw(), getegid().as_raw())
}

/// (pid, uid, gid) of a ucred.
fn triple(c: UnixCredentials) -> (i32, u32, u32) {
    (c.pid(), c.uid(), c.gid())
}

fn peer_cred(fd: &OwnedFd) -> Result<(i32, u32, u32), Stop> {
    Ok(triple(socket::getsockopt(fd, sockopt::PeerCredentials).at("getsockopt(SO_PEERCRED)")?))
}

/// An abstract unix name unique to this process (the network namespace is shared).
fn abstract_name(what: &str) -> Result<UnixAddr, Stop> {
    UnixAddr::new_abstract(format!("nsconform-{what}-{}", getpid()).as_bytes()).setup("an abstract unix address")
}

fn peercred_in_readers_namespaces() -> Outcome {
    let (uid, gid) = own_ids();
    let addr = abstract_name("peercred")?;
    let listener = socket::socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).setup("socket")?;
    socket::bind(listener.as_raw_fd(), &addr).setup("binding the listener")?;
    socket::listen(&listener, socket::Backlog::new(1).setup("a backlog")?).setup("listen")?;
    let mut child = spawn(Spawn::clone(&[Kind::User, Kind::Pid]), move |to_parent| {
        map_inside(uid, gid)?;
        let stream = socket::socket(AddressFamily::Unix, SockType::Stream, SockFlag::empty(), None).setup("socket")?;
        socket::connect(stream.as_raw_fd(), &addr).at("connecting to the listener outside")?;
        to_parent.sync("the connection")?;
        expect_eq(
            "SO_PEERCRED (pid, uid, gid) of the listener outside, read inside (ids mapped 1000 to the creator's)",
            (0, INSIDE, INSIDE),
            peer_cred(&stream)?,
        )?;
        spawn(Spawn::clone(&[Kind::User]), |_| {
            expect_eq(
                "SO_PEERCRED of the same socket read in a nested user namespace without mappings",
                (0, NOBODY, NOBODY),
                peer_cred(&stream)?,
            )
        })?
        .join()
    })?;
    child.sync("the connection")?;
    let accepted = socket::accept(&listener).at("accept")?;
    expect_eq(
        "SO_PEERCRED of the connecting child (pid 1, uid 1000 inside), read outside",
        (child.pid().as_raw(), uid, gid),
        peer_cred(&accepted)?,
    )?;
    child.join()
}

/// Sends one datagram, with SCM_CREDENTIALS when `claim` is given.
fn send_creds(fd: &OwnedFd, claim: Option<(i32, u32, u32)>) -> Result<usize, Errno> {
    let creds = claim.map(|(pid, uid, gid)| UnixCredentials::from(libc::ucred { pid, uid, gid }));
    let cmsgs: Vec<ControlMessage> = creds.iter().map(ControlMessage::ScmCredentials).collect();
    sendmsg::<()>(fd.as_raw_fd(), &[IoSlice::new(b"x")], &cmsgs, MsgFlags::empty(), None)
}

/// Receives one datagram (SO_PASSCRED set) and returns its SCM_CREDENTIALS.
fn recv_creds(fd: &OwnedFd, what: &str) -> Result<(i32, u32, u32), Stop> {
    let mut buf = [0u8; 8];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!(libc::ucred);
    let msg = recvmsg::<()>(fd.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()).at(&format!("recvmsg of {what}"))?;
    let creds = msg.cmsgs().at(&format!("the control messages of {what}"))?.find_map(|c| match c {
        ControlMessageOwned::ScmCredentials(c) => Some(triple(c)),
        _ => None,
    });
    creds.ok_or_else(|| Stop::fail(format!("the SCM_CREDENTIALS of {what}"), "a control message", "none"))
}

/// A datagram socket pair with SO_PASSCRED on both ends.
fn passcred_pair() -> Result<(OwnedFd, OwnedFd), Stop> {
    let (a, b) = socket::socketpair(AddressFamily::Unix, SockType::Datagram, None, SockFlag::empty()).setup("socketpair")?;
    for fd in [&a, &b] {
        socket::setsockopt(fd, sockopt::PassCred, &true).at("setsockopt(SO_PASSCRED)")?;
    }
    Ok((a, b))
}

fn scm_credentials_in_receivers_namespaces() -> Outcome {
    let (uid, gid) = own_ids();
    let (outside, inside) = passcred_pair()?;
    let mut child = spawn(Spawn::clone(&[Kind::User, Kind::Pid]), |to_parent| {
        map_inside(uid, gid)?;
        send_creds(&inside, Some((1, INSIDE, INSIDE))).at("sendmsg with SCM_CREDENTIALS {pid 1, uid 1000, gid 1000} from inside")?;
        to_parent.sync("the datagram from inside")?;
        expect_eq(
            "SCM_CREDENTIALS (pid, uid, gid) of the creator outside, received inside",
            (0, INSIDE, INSIDE),
            recv_creds(&inside, "the datagram from outside")?,
        )?;
        to_parent.sync("the first datagram from outside")?;
        spawn(Spawn::clone(&[Kind::User]), |_| {
            expect_eq(
                "SCM_CREDENTIALS of the creator, received in a nested user namespace without mappings",
                (0, NOBODY, NOBODY),
                recv_creds(&inside, "the second datagram from outside")?,
            )
        })?
        .join()
    })?;
    child.sync("the datagram from inside")?;
    expect_eq(
        "SCM_CREDENTIALS claimed inside as {1, 1000, 1000}, received outside",
        (child.pid().as_raw(), uid, gid),
        recv_creds(&outside, "the datagram from inside")?,
    )?;
    send_creds(&outside, None).at("sendmsg without SCM_CREDENTIALS from outside")?;
    child.sync("the first datagram from outside")?;
    send_creds(&outside, None).at("a second sendmsg from outside")?;
    child.join()
}

/// include/uapi/linux/capability.h
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SETUID: u32 = 7;
const CAP_SETGID: u32 = 6;

fn scm_credentials_claims_checked() -> Outcome {
    let (uid, gid) = own_ids();
    let (outside, inside) = passcred_pair()?;
    let mut init = spawn(Spawn::clone(&[Kind::User, Kind::Pid]), |to_parent| {
        map_inside(uid, gid)?;
        spawn(Spawn::fork(), |_| {
            let me = getpid().as_raw();
            for cap in [CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID] {
                set_effective_cap(cap, false).at(&format!("clearing capability {cap} from the effective set"))?;
            }
            send_creds(&inside, Some((me, INSIDE, INSIDE)))
                .at(&format!("sendmsg claiming its own pid {me} and ids 1000 without CAP_SYS_ADMIN"))?;
            expect_errno(
                "sendmsg claiming init's pid 1 without CAP_SYS_ADMIN over the PID namespace",
                Errno::EPERM,
                send_creds(&inside, Some((1, INSIDE, INSIDE))),
            )?;
            expect_errno(
                "sendmsg claiming uid 0, unmapped in its user namespace",
                Errno::EINVAL,
                send_creds(&inside, Some((me, 0, INSIDE))),
            )?;
            set_effective_cap(CAP_SYS_ADMIN, true).at("raising CAP_SYS_ADMIN again")?;
            send_creds(&inside, Some((1, INSIDE, INSIDE))).at("sendmsg claiming init's pid 1 with CAP_SYS_ADMIN").map(drop)
        })?
        .join()?;
        to_parent.sync("the datagrams")
    })?;
    init.sync("the datagrams")?;
    let first = recv_creds(&outside, "the datagram with its own pid")?;
    expect_eq("uid and gid of the datagram claiming its own pid, received outside", (uid, gid), (first.1, first.2))?;
    expect_eq(
        "SCM_CREDENTIALS of the datagram claiming pid 1 with CAP_SYS_ADMIN, received outside (init's outer pid)",
        (init.pid().as_raw(), uid, gid),
        recv_creds(&outside, "the datagram claiming pid 1")?,
    )?;
    init.join()
}

/// Blocks SIGUSR1 in the calling process.
fn block_sigusr1() -> Outcome {
    let mut usr1 = SigSet::empty();
    usr1.add(Signal::SIGUSR1);
    usr1.thread_block().at("blocking SIGUSR1")
}

/// Waits up to two seconds for a blocked SIGUSR1 and returns its si_uid.
fn sigusr1_uid(what: &str) -> Result<u32, Stop> {
    let info = crate::sys::wait_sigusr1(what)?;
    // SAFETY: a signal sent by kill(2) (SI_USER) carries si_uid.
    Ok(unsafe { info.si_uid() })
}

fn signal_sender_uid_in_receivers_namespace() -> Outcome {
    let (uid, gid) = own_ids();
    block_sigusr1()?;
    let me = getpid();
    let mut child = spawn(Spawn::clone(&[Kind::User]), move |to_parent| {
        map_inside(uid, gid)?;
        kill(me, Signal::SIGUSR1).at("kill(creator, SIGUSR1) from inside")?;
        to_parent.sync("the signal from inside")?;
        expect_eq("si_uid of SIGUSR1 from the creator, received inside", INSIDE, sigusr1_uid("SIGUSR1 from the creator")?)?;
        let mut nested = spawn(Spawn::clone(&[Kind::User]), |to_parent| {
            to_parent.sync("SIGUSR1 blocked in the nested namespace")?;
            expect_eq(
                "si_uid of SIGUSR1 from the creator, received in a nested user namespace without mappings",
                NOBODY,
                sigusr1_uid("SIGUSR1 in the nested namespace")?,
            )
        })?;
        nested.sync("SIGUSR1 blocked in the nested namespace")?;
        to_parent.send("the nested process's pid", &nested.pid().as_raw())?;
        nested.join()
    })?;
    expect_eq("si_uid of SIGUSR1 from the child (uid 1000 inside), received outside", uid, sigusr1_uid("SIGUSR1 from inside")?)?;
    child.sync("the signal from inside")?;
    // The child blocked SIGUSR1 before the fork inherited the mask.
    kill(child.pid(), Signal::SIGUSR1).at("kill(child, SIGUSR1) from outside")?;
    let nested = child.recv::<i32>("the nested process's pid")?;
    kill(Pid::from_raw(nested), Signal::SIGUSR1).at("kill(nested, SIGUSR1) from outside")?;
    child.join()
}

/// The Uid and Gid lines of /proc/PID/status, as read by the caller.
fn status_ids(pid: i32) -> Result<(String, String), Stop> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).at(&format!("reading {path}"))?;
    let line = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "));
    match (line("Uid:"), line("Gid:")) {
        (Some(u), Some(g)) => Ok((u, g)),
        _ => Err(Stop::fail(format!("the Uid and Gid lines of {path}"), "both", format!("{text:?}"))),
    }
}

fn proc_status_ids_in_readers_namespace() -> Outcome {
    let (uid, gid) = own_ids();
    let four = |id: u32| format!("{id} {id} {id} {id}");
    let mut child = spawn(Spawn::clone(&[Kind::User]), move |to_parent| {
        map_inside(uid, gid)?;
        to_parent.sync("the mapping")?;
        let me = getpid().as_raw();
        expect_eq("Uid and Gid of its own /proc/PID/status, read inside", (four(INSIDE), four(INSIDE)), status_ids(me)?)?;
        spawn(Spawn::clone(&[Kind::User]), move |_| {
            expect_eq(
                "Uid and Gid of its parent's /proc/PID/status, read in a nested user namespace without mappings",
                (four(NOBODY), four(NOBODY)),
                status_ids(me)?,
            )
        })?
        .join()?;
        idle(to_parent)
    })?;
    child.sync("the mapping")?;
    expect_eq(
        "Uid and Gid of the child's /proc/PID/status (1000 inside), read outside",
        (four(uid), four(gid)),
        status_ids(child.pid().as_raw())?,
    )?;
    child.send("the order to exit", &())?;
    child.join()
}

fn owner_uid(path: &str) -> Result<u32, Errno> {
    let ns = std::fs::File::open(path).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let mut uid = u32::MAX;
    // SAFETY: NS_GET_OWNER_UID writes one uid_t to the pointer, a live u32.
    Errno::result(unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_OWNER_UID as _, &mut uid as *mut u32) }).map(|_| uid)
}

fn ns_get_owner_uid_in_callers_namespace() -> Outcome {
    let (uid, gid) = own_ids();
    spawn(Spawn::clone(&[Kind::User]), move |_| {
        map_inside(uid, gid)?;
        // Created by uid 1000 (the creator's euid outside).
        let mut nested = spawn(Spawn::clone(&[Kind::User]), |to_parent| {
            to_parent.sync("the nested namespace")?;
            expect_eq(
                "NS_GET_OWNER_UID of its own user namespace, read in it without mappings (owner: the creator's euid)",
                Ok(NOBODY),
                owner_uid("/proc/self/ns/user"),
            )
        })?;
        nested.sync("the nested namespace")?;
        let path = format!("/proc/{}/ns/user", nested.pid());
        expect_eq("NS_GET_OWNER_UID of the namespace uid 1000 created, read by it", Ok(INSIDE), owner_uid(&path))?;
        nested.join()
    })?
    .join()
}

/// A sysctl of every network namespace (devinet_sysctl_register(), net/ipv4/devinet.c).
const SYSCTL: &str = "/proc/sys/net/ipv4/ip_forward";

/// The owner of a /proc/sys/net file as the caller sees it.
fn sysctl_owner() -> Result<(u32, u32), Stop> {
    let meta = std::fs::metadata(SYSCTL).at(&format!("stat {SYSCTL}"))?;
    Ok((meta.uid(), meta.gid()))
}

/// A child in a new user namespace whose parent maps its `inside` id (uid and gid) to
/// `outside`, then in a new network namespace: it reports the owner of its sysctls.
fn sysctl_owner_child(inside: u32, (uid, gid): (u32, u32)) -> Outcome {
    let mut child = spawn(Spawn::clone(&[Kind::User]), |to_parent| {
        to_parent.sync("the new user namespace")?;
        to_parent.sync("the mapping")?;
        nsconform_harness::unshare(&[Kind::Net])?;
        to_parent.send("the owner inside", &sysctl_owner()?)?;
        idle(to_parent)
    })?;
    child.sync("the new user namespace")?;
    let proc = format!("/proc/{}", child.pid());
    map_id(&child.pid().to_string(), inside, uid, gid)?;
    child.sync("the mapping")?;
    let owner = child.recv::<(u32, u32)>("the owner inside")?;
    if inside != 0 {
        // The global root: unmapped, unless `uid` is itself the parent's root (a run as root of a
        // user namespace that maps the global root, as `unshare -U -r` makes).
        let parents_root = crate::sys::is_parents_root("uid_map", uid)?;
        expect_eq(
            &format!("owner of {SYSCTL} inside a user namespace that maps no root (only {inside} to {uid})"),
            if parents_root { (inside, inside) } else { (NOBODY, NOBODY) },
            owner,
        )?;
    } else {
        expect_eq(&format!("owner (uid, gid) of {SYSCTL} inside, root mapped to {uid}:{gid}"), (0, 0), owner)?;
        let net = std::fs::File::open(format!("{proc}/ns/net")).at("opening the child's /proc/PID/ns/net")?;
        spawn(Spawn::fork(), move |_| {
            nix::sched::setns(net, nix::sched::CloneFlags::CLONE_NEWNET).at("setns into the child's network namespace")?;
            expect_eq(
                &format!("owner of {SYSCTL} of the child's network namespace, read from the parent user namespace"),
                (uid, gid),
                sysctl_owner()?,
            )
        })?
        .join()?;
    }
    child.send("the order to exit", &())?;
    child.join()
}

fn net_sysctls_owned_by_userns_root() -> Outcome {
    sysctl_owner_child(0, root_target())?;
    sysctl_owner_child(INSIDE, root_target())
}

/// A uid_map with its whitespace normalised, one extent per line.
fn uid_map(pid: i32) -> Result<String, Stop> {
    let path = format!("/proc/{pid}/uid_map");
    let text = std::fs::read_to_string(&path).at(&format!("reading {path}"))?;
    Ok(text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join("\n"))
}

fn uid_map_read_relative_to_reader() -> Outcome {
    let (uid, gid) = own_ids();
    let mut u = spawn(Spawn::clone(&[Kind::User]), move |to_check| {
        map_inside(uid, gid)?;
        let me = getpid().as_raw();
        let mut v = spawn(Spawn::clone(&[Kind::User]), move |to_u| {
            to_u.sync("the new namespace V")?;
            to_u.sync("V's mapping")?;
            expect_eq("U's uid_map read in V", "1000 0 1".to_string(), uid_map(me)?)?;
            expect_eq("V's own uid_map read in V", format!("0 {INSIDE} 1"), uid_map(getpid().as_raw())?)?;
            idle(to_u)
        })?;
        v.sync("the new namespace V")?;
        let vpid = v.pid().as_raw();
        map_id(&vpid.to_string(), 0, INSIDE, INSIDE)?;
        v.sync("V's mapping")?;
        expect_eq("U's own uid_map read in U", format!("{INSIDE} {uid} 1"), uid_map(me)?)?;
        expect_eq("V's uid_map read in U", format!("0 {INSIDE} 1"), uid_map(vpid)?)?;
        to_check.send("V's pid", &vpid)?;
        to_check.recv::<()>("the check's readings")?;
        v.send("the order to exit", &())?;
        v.join()
    })?;
    let vpid = u.recv::<i32>("V's pid")?;
    expect_eq("U's uid_map read outside", format!("{INSIDE} {uid} 1"), uid_map(u.pid().as_raw())?)?;
    expect_eq("V's uid_map read outside", format!("0 {uid} 1"), uid_map(vpid)?)?;
    u.send("the check's readings", &())?;
    u.join()
}
