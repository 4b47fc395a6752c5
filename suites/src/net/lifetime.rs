//! Lifetime: a dying namespace deletes its veth pairs; an open socket or nsfs file keeps it and its devices alive.

use super::{add_veth, configure, fresh_netns, open_rtnl, within, END_A, END_B, NET_DEADLINE, PORT, VETH, WITHIN};
use crate::sys::poll_until;
use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use nsconform_harness::{expect_eq, expect_that, spawn, At, Check, Kind, Need, Outcome, Parent, Spawn};
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::fd::AsFd;

pub const CHECKS: &[Check] = &[
    Check::new(
        "net.namespace-death-deletes-veth-pair",
        "When a network namespace dies its veth end is deleted, and with it the peer in another namespace (asynchronously)",
        "network_namespaces(7); veth(4); cleanup_net() and default_device_exit_batch() in net/core/dev.c; veth_dellink() in drivers/net/veth.c",
        &[Need::Kind(Kind::Net), VETH],
        namespace_death_deletes_veth_pair,
    )
    .with_deadline(NET_DEADLINE),
    Check::new(
        "net.open-socket-keeps-namespace-alive",
        "An open socket keeps its network namespace and devices alive after the namespace's last process exits; closing it frees them",
        "network_namespaces(7); sk_alloc() holds a reference on the net (get_net), net/core/sock.c; __put_net() in net/core/net_namespace.c",
        &[Need::Kind(Kind::Net), VETH],
        || kept_alive_by(Keeper::Socket),
    )
    .with_deadline(NET_DEADLINE),
    Check::new(
        "net.nsfs-fd-keeps-namespace-alive",
        "An open /proc/PID/ns/net keeps the namespace and its devices alive after its last process exits; setns through it still works, closing it frees them",
        "namespaces(7) /proc/PID/ns; nsfs holds a reference (ns_get_path(), fs/nsfs.c); netns_get()/netns_put() in net/core/net_namespace.c",
        &[Need::Kind(Kind::Net), VETH],
        || kept_alive_by(Keeper::NsFd),
    )
    .with_deadline(NET_DEADLINE),
];

/// Polls, in a child inside `ns`, until `name` is gone; fails after `WITHIN`.
fn expect_deleted(ns: &File, name: &str, why: &str) -> Outcome {
    within(ns, |_| {
        let mut rtnl = open_rtnl("the peer's namespace")?;
        let mut last = Ok(());
        let gone = poll_until(WITHIN, || {
            last = rtnl.link(name).map(drop);
            last == Err(Errno::ENODEV)
        });
        let observed = match last {
            Ok(()) => "it still exists".to_string(),
            Err(e) => e.to_string(),
        };
        expect_that(&format!("looking up {name} after {why}"), gone, format!("ENODEV within {WITHIN:?}"), observed)
    })?
    .join()
}

fn namespace_death_deletes_veth_pair() -> Outcome {
    let b_ns = fresh_netns()?;
    let mut a = spawn(Spawn::clone(&[Kind::Net]), |to_parent| {
        add_veth(&mut open_rtnl("namespace A")?, "nsc-d", "nsc-e", Some(&b_ns))?;
        to_parent.sync("the pair")?;
        // A must outlive the parent's look into B.
        to_parent.recv::<()>("the order to exit")
    })?;
    a.sync("the pair")?;
    within(&b_ns, |_| open_rtnl("namespace B")?.link("nsc-e").map(drop).at("looking up nsc-e in B while A lives"))?.join()?;
    a.send("the order to exit", &())?;
    a.join()?;
    expect_deleted(&b_ns, "nsc-e", "A's last process exited")
}

/// What keeps namespace A alive once its last process has exited.
#[derive(Clone, Copy)]
enum Keeper {
    Socket,
    NsFd,
}

/// Sends a datagram from namespace A (over the veth) to B.
fn send_to_b(socket: &UdpSocket) -> Outcome {
    socket.send_to(b"kept", (END_B, PORT)).map(drop).at("sending a datagram from A to B")
}

/// A's only reference once its last process has exited.
enum Hold {
    Socket(UdpSocket),
    NsFd(File),
}

/// The holder: a process outside A that holds A by `keeper` only, sends from A on demand and
/// lets go on demand.
fn hold(keeper: Keeper, a_pid: i32, to_parent: &Parent) -> Outcome {
    let a_ns = File::open(format!("/proc/{a_pid}/ns/net")).at("opening A's /proc/PID/ns/net")?;
    let hold = match keeper {
        Keeper::Socket => {
            // Created inside A, then the holder goes home and closes A's nsfs file.
            let home = File::open("/proc/self/ns/net").at("opening the holder's own /proc/self/ns/net")?;
            setns(a_ns.as_fd(), CloneFlags::CLONE_NEWNET).at("setns into A")?;
            let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).at("creating a UDP socket in A")?;
            setns(home.as_fd(), CloneFlags::CLONE_NEWNET).at("setns back home")?;
            Hold::Socket(socket)
        }
        Keeper::NsFd => Hold::NsFd(a_ns),
    };
    to_parent.sync("the hold on A")?;
    to_parent.recv::<()>("the order to send from A")?;
    match &hold {
        Hold::Socket(socket) => send_to_b(socket)?,
        Hold::NsFd(ns) => {
            within(ns, |_| send_to_b(&UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).at("creating a UDP socket in A")?))?.join()?
        }
    }
    to_parent.recv::<()>("the order to let A go")?;
    drop(hold);
    to_parent.sync("the release")
}

fn kept_alive_by(keeper: Keeper) -> Outcome {
    let what = match keeper {
        Keeper::Socket => "the holder's socket",
        Keeper::NsFd => "the holder's /proc/PID/ns/net",
    };
    let b_ns = fresh_netns()?;
    let mut b = within(&b_ns, |to_parent| {
        to_parent.recv::<()>("the news that the pair exists")?;
        configure(&mut open_rtnl("namespace B")?, "nsc-l", END_B)?;
        let socket = UdpSocket::bind((END_B, PORT)).at(&format!("binding {END_B}:{PORT} in B"))?;
        socket.set_read_timeout(Some(WITHIN)).at("setting a read timeout")?;
        to_parent.sync("B's socket")?;
        let mut buf = [0u8; 16];
        let (len, from) = socket.recv_from(&mut buf).at(&format!("receiving A's datagram in B, sent while only {what} held A"))?;
        expect_eq("the datagram B received", (&b"kept"[..], IpAddr::from(END_A)), (&buf[..len], from.ip()))?;
        to_parent.sync("the datagram")
    })?;
    let mut a = spawn(Spawn::clone(&[Kind::Net]), |to_parent| {
        let mut rtnl = open_rtnl("namespace A")?;
        add_veth(&mut rtnl, "nsc-k", "nsc-l", Some(&b_ns))?;
        configure(&mut rtnl, "nsc-k", END_A)?;
        to_parent.sync("the pair")?;
        to_parent.recv::<()>("the order to exit")
    })?;
    a.sync("the pair")?;
    b.send("the news that the pair exists", &())?;
    b.sync("B's socket")?;
    let a_pid = a.pid().as_raw();
    // In a namespace of its own, which the holder may setns back into even as root of a user
    // namespace that does not own the check's network namespace.
    let mut holder = spawn(Spawn::clone(&[Kind::Net]), move |to_parent| hold(keeper, a_pid, to_parent))?;
    holder.sync("the hold on A")?;
    a.send("the order to exit", &())?;
    a.join()?;
    holder.send("the order to send from A", &())?;
    b.sync("the datagram")?;
    b.join()?;
    holder.send("the order to let A go", &())?;
    holder.sync("the release")?;
    holder.join()?;
    expect_deleted(&b_ns, "nsc-l", &format!("{what} was closed"))
}
