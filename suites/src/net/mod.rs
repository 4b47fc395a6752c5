//! Network namespaces: devices, addresses, sockets and netns ids (network_namespaces(7)). One
//! module per topic; this one holds what several of them share.
//!
//! Every device is created, addressed and moved inside network namespaces the check created;
//! the only exception is the spare physical device of `net.physical-device-returns-to-initial`,
//! which the kernel itself brings back. Netlink sockets are opened inside the namespace they
//! act on (see `netlink`).

pub mod creation;
pub mod devices;
pub mod lifetime;
pub mod nsid;
pub mod physical;
pub mod sockets;
pub mod sysctls;
pub mod unix;
pub mod views;

use crate::netlink::{Link, Rtnl};
use nix::sched::{setns, CloneFlags};
use nsconform_harness::{expect_that, spawn, At, Child, Kind, Need, Outcome, Parent, Spawn, Stop};
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::time::Duration;

const VETH: Need = Need::Module("veth");

/// Delivery and cleanup are asynchronous (softirqs, the netns cleanup workqueue).
/// Network namespaces are torn down asynchronously (cleanup_net() from a workqueue, after
/// RCU grace periods), which is slow under emulation: generous limits, left early on success.
const WITHIN: Duration = Duration::from_secs(10);
const NET_DEADLINE: Duration = Duration::from_secs(30);

/// Addresses used only inside namespaces the checks create (include the two ends of a veth).
const END_A: Ipv4Addr = Ipv4Addr::new(10, 251, 0, 1);
const END_B: Ipv4Addr = Ipv4Addr::new(10, 251, 0, 2);
const PORT: u16 = 7007;

fn open_rtnl(where_: &str) -> Result<Rtnl, Stop> {
    Rtnl::open().at(&format!("opening a route netlink socket in {where_}"))
}

/// A new network namespace held only by the returned nsfs file: the process that created it
/// has exited.
fn fresh_netns() -> Result<File, Stop> {
    let mut child = spawn(Spawn::clone(&[Kind::Net]), |to_parent| {
        to_parent.sync("the new namespace")?;
        to_parent.recv::<()>("the order to exit")
    })?;
    child.sync("the new namespace")?;
    let ns = File::open(format!("/proc/{}/ns/net", child.pid())).at("opening the child's /proc/PID/ns/net")?;
    child.send("the order to exit", &())?;
    child.join()?;
    Ok(ns)
}

/// Runs `body` in a child that joined the network namespace `ns`.
fn within(ns: &File, body: impl FnOnce(&Parent) -> Outcome) -> Result<Child, Stop> {
    spawn(Spawn::fork(), |to_parent| {
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).at("setns into a network namespace")?;
        body(to_parent)
    })
}

/// Creates the veth pair `name` <-> `peer` (the peer in `peer_ns` if given). The checks
/// need veth available (`Need::Module`), so a refusal here is a failure.
fn add_veth(rtnl: &mut Rtnl, name: &str, peer: &str, peer_ns: Option<&File>) -> Outcome {
    rtnl.add_veth(name, peer, peer_ns.map(|f| f.as_fd())).at(&format!("creating the veth pair {name} <-> {peer}"))
}

/// Brings `name` up with `addr`/24.
/// Waits until `name` is operationally up. A veth end gets its carrier when both ends are up,
/// and its queueing discipline from the link watch work, which the kernel may defer; until then
/// it drops packets, and TCP would resend its SYN only after a second.
fn wait_operational(rtnl: &mut Rtnl, name: &str) -> Outcome {
    let up = crate::sys::poll_until(WITHIN, || rtnl.link(name).is_ok_and(|l| l.operational));
    expect_that(&format!("{name}'s operational state"), up, "IF_OPER_UP (both ends up)", format!("not up within {WITHIN:?}"))
}

fn configure(rtnl: &mut Rtnl, name: &str, addr: Ipv4Addr) -> Result<Link, Stop> {
    let link = rtnl.link(name).at(&format!("looking up {name}"))?;
    rtnl.add_address(link.index, addr.into(), 24).at(&format!("adding {addr}/24 to {name}"))?;
    rtnl.set_up(link.index).at(&format!("bringing {name} up"))?;
    Ok(link)
}
