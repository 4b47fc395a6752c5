//! Sockets: a socket stays in the namespace it was created in, whichever namespace its creator joins later.

use super::{fresh_netns, open_rtnl, NET_DEADLINE};
use crate::sys::own_ns;
use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use nsconform_harness::{expect_eq, expect_that, spawn, At, Check, Kind, Need, Outcome, Spawn, Stop};
use std::fs::File;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

pub const CHECKS: &[Check] = &[
    Check::new(
        "net.socket-stays-in-creation-namespace",
        "A socket stays in the namespace it was created in after its creator calls setns: SIOCGSKNS names that namespace and a netlink socket still acts on it",
        "network_namespaces(7); sock_ioctl() SIOCGSKNS in net/socket.c; sk_alloc() takes the creator's net, net/core/sock.c",
        &[Need::Kind(Kind::Net)],
        socket_stays_in_creation_namespace,
    )
    .with_deadline(NET_DEADLINE),
];

/// include/uapi/linux/sockios.h: the socket's network namespace as a new nsfs fd (4.9).
const SIOCGSKNS: libc::c_ulong = 0x894C;

fn socket_netns(socket: &impl AsRawFd) -> Result<File, Stop> {
    // SAFETY: SIOCGSKNS takes no argument; on success it returns a new fd, owned from here on.
    let fd = Errno::result(unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSKNS as _) }).at("ioctl(SIOCGSKNS)")?;
    // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn socket_stays_in_creation_namespace() -> Outcome {
    let b_ns = fresh_netns()?;
    let b_inode = crate::sys::fd_inode(&b_ns)?;
    spawn(Spawn::clone(&[Kind::Net]), |_| {
        let a_inode = own_ns("net")?;
        // lo is up in A only, which tells the two namespaces apart through netlink.
        let mut a_rtnl = open_rtnl("namespace A")?;
        a_rtnl.set_up(1).at("bringing lo up in A")?;
        let udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).at("creating a UDP socket in A")?;
        setns(b_ns.as_fd(), CloneFlags::CLONE_NEWNET).at("setns into namespace B")?;
        expect_eq("/proc/self/ns/net after setns into B", b_inode, own_ns("net")?)?;
        expect_eq("SIOCGSKNS of the UDP socket created in A", a_inode, crate::sys::fd_inode(&socket_netns(&udp)?)?)?;
        let fresh = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).at("creating a UDP socket in B")?;
        expect_eq("SIOCGSKNS of a UDP socket created after setns", b_inode, crate::sys::fd_inode(&socket_netns(&fresh)?)?)?;
        let seen_from_a = a_rtnl.link("lo").at("looking up lo through the netlink socket created in A")?;
        expect_that("lo through the netlink socket created in A", seen_from_a.up, "A's lo: up", "down (B's lo)")?;
        let seen_from_b = open_rtnl("namespace B")?.link("lo").at("looking up lo through a netlink socket created in B")?;
        expect_that("lo through a netlink socket created in B", !seen_from_b.up, "B's lo: down", "up (A's lo)")
    })?
    .join()
}
