//! Network namespaces: devices, addresses, sockets and netns ids (network_namespaces(7)).
//!
//! Every device is created, addressed and moved inside network namespaces the check created;
//! the only exception is the spare physical device of `net.physical-device-returns-to-initial`,
//! which the kernel itself brings back. Netlink sockets are opened inside the namespace they
//! act on (see `netlink`).

use crate::disabled::refused_when_configured_out;
use crate::netlink::{Address, Link, Rtnl, Target};
use crate::sys::{own_ns, poll_until};
use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use nsconform_harness::{expect_eq, expect_errno, expect_that, spawn, At, Check, Child, Kind, Need, Outcome, Parent, Probe, Spawn, Stop};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const VETH: Need = Need::Module("veth");

pub const CHECKS: &[Check] = &[
    Check::new(
        "net.new-namespace-has-only-loopback",
        "A new network namespace has only lo, ifindex 1, down and without addresses (plus fallback tunnels where net.core.fb_tunnels_only_for_init_net=0 lets them appear)",
        "network_namespaces(7); loopback_net_init() in drivers/net/loopback.c; net_has_fallback_tunnels() in include/linux/netdevice.h",
        &[Need::Kind(Kind::Net)],
        new_namespace_has_only_loopback,
    )
    .with_deadline(NET_DEADLINE),
    Check::new(
        "net.loopback-up-serves-local-traffic",
        "Bringing lo up gives it 127.0.0.1/8 (and ::1/128 with IPv6) and a socket can connect to itself over it; before, 127.0.0.1 is unreachable",
        "network_namespaces(7); inetdev_event() adds 127.0.0.1 on NETDEV_UP of loopback, net/ipv4/devinet.c; init_loopback() in net/ipv6/addrconf.c",
        &[Need::Kind(Kind::Net)],
        loopback_up_serves_local_traffic,
    )
    .with_deadline(NET_DEADLINE),
    Check::new(
        "net.veth-connects-two-namespaces",
        "A veth pair joins two namespaces: TCP flows between its ends, while a third namespace neither sees the ends nor reaches their addresses",
        "veth(4); network_namespaces(7); veth_newlink() and veth_xmit() in drivers/net/veth.c",
        &[Need::Kind(Kind::Net), VETH],
        veth_connects_two_namespaces,
    )
    .with_deadline(NET_DEADLINE),
    Check::new(
        "net.move-device-by-fd",
        "RTM_SETLINK with IFLA_NET_NS_FD moves a device to another namespace and back (same MAC, gone from the source)",
        "rtnetlink(7); ip-link(8) netns; do_setlink() in net/core/rtnetlink.c; __dev_change_net_namespace() in net/core/dev.c",
        &[Need::Kind(Kind::Net), VETH],
        || move_out_and_back(By::Fd),
    )
    .with_deadline(NET_DEADLINE),
    Check::new(
        "net.move-device-by-pid",
        "RTM_SETLINK with IFLA_NET_NS_PID moves a device to the namespace of a process and back",
        "rtnetlink(7); ip-link(8) netns; rtnl_link_get_net_by_nlattr() in net/core/rtnetlink.c; get_net_ns_by_pid() in net/core/net_namespace.c",
        &[Need::Kind(Kind::Net), VETH],
        || move_out_and_back(By::Pid),
    )
    .with_deadline(NET_DEADLINE),
    Check::new(
        "net.move-name-clash-eexist",
        "Moving a device into a namespace that has a device of the same name fails with EEXIST and leaves it where it was",
        "__dev_change_net_namespace() in net/core/dev.c (-EEXIST without a name pattern)",
        &[Need::Kind(Kind::Net), VETH],
        move_name_clash_eexist,
    )
    .with_deadline(NET_DEADLINE),
    Check::new(
        "net.move-loopback-einval",
        "Moving lo, a namespace-local device, to another namespace fails with EINVAL",
        "__dev_change_net_namespace() in net/core/dev.c refuses netns_local devices (NETIF_F_NETNS_LOCAL before 6.12); loopback_setup() in drivers/net/loopback.c",
        &[Need::Kind(Kind::Net)],
        move_loopback_einval,
    )
    .with_deadline(NET_DEADLINE),
    Check::new(
        "net.socket-stays-in-creation-namespace",
        "A socket stays in the namespace it was created in after its creator calls setns: SIOCGSKNS names that namespace and a netlink socket still acts on it",
        "network_namespaces(7); sock_ioctl() SIOCGSKNS in net/socket.c; sk_alloc() takes the creator's net, net/core/sock.c",
        &[Need::Kind(Kind::Net)],
        socket_stays_in_creation_namespace,
    )
    .with_deadline(NET_DEADLINE),
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
    Check::new(
        "net.nsid-assign-and-lookup",
        "RTM_GETNSID reads -1 for a peer without an id, RTM_NEWNSID assigns one that RTM_GETNSID then returns; ids are local to the assigning namespace",
        "rtnetlink(7); ip-netns(8) set; rtnl_net_newid() and rtnl_net_getid() in net/core/net_namespace.c (NETNSA_NSID_NOT_ASSIGNED)",
        &[Need::Kind(Kind::Net)],
        nsid_assign_and_lookup,
    )
    .with_deadline(NET_DEADLINE),
    Check::new(
        "net.nsid-reuse-eexist",
        "RTM_NEWNSID fails with EEXIST for a peer that already has an id and for an id already in use",
        "rtnl_net_newid() in net/core/net_namespace.c (\"Peer netns already has a nsid assigned\", \"The specified nsid is already used\")",
        &[Need::Kind(Kind::Net)],
        nsid_reuse_eexist,
    )
    .with_deadline(NET_DEADLINE),
    Check::new(
        "net.physical-device-returns-to-initial",
        "A physical device (no rtnl_link_ops) in a dying network namespace returns to the initial namespace under its own name",
        "network_namespaces(7); default_device_exit_net() in net/core/dev.c",
        &[
            Need::Kind(Kind::Net),
            Need::InitialAdmin,
            Need::Probe(Probe { what: "a run in the initial network namespace", run: in_initial_netns }),
            Need::Probe(Probe { what: "a spare physical network device", run: || spare_nic().map(drop) }),
        ],
        physical_device_returns_to_initial,
    )
    .with_deadline(NET_DEADLINE),
    crate::fixture::create_without_cap_sys_admin_eperm!("net.create-without-cap-sys-admin-eperm", Kind::Net),
    refused_when_configured_out!("net.flag-refused-when-configured-out", Kind::Net),
];

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

fn errno_of(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
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
fn configure(rtnl: &mut Rtnl, name: &str, addr: Ipv4Addr) -> Result<Link, Stop> {
    let link = rtnl.link(name).at(&format!("looking up {name}"))?;
    rtnl.add_address(link.index, addr.into(), 24).at(&format!("adding {addr}/24 to {name}"))?;
    rtnl.set_up(link.index).at(&format!("bringing {name} up"))?;
    Ok(link)
}

/// Fallback tunnel devices (name, kind) that tunnel drivers create in each new namespace
/// when allowed (ip_tunnel_init_net() in net/ipv4/ip_tunnel.c, ip6_tnl_init_net(), ...).
const FALLBACK_TUNNELS: &[(&str, &str)] = &[
    ("tunl0", "ipip"),
    ("sit0", "sit"),
    ("gre0", "gre"),
    ("gretap0", "gretap"),
    ("erspan0", "erspan"),
    ("ip_vti0", "vti"),
    ("ip6_vti0", "vti6"),
    ("ip6tnl0", "ip6tnl"),
    ("ip6gre0", "ip6gre"),
];

/// Whether new namespaces get fallback tunnels: net.core.fb_tunnels_only_for_init_net is 0
/// (net_has_fallback_tunnels()). The sysctl is visible only in the initial namespace; where it
/// cannot be read (a run in a child namespace, an older kernel) the kernel's default, 0, is assumed.
fn fallback_tunnels_allowed() -> bool {
    std::fs::read_to_string("/proc/sys/net/core/fb_tunnels_only_for_init_net").map_or(true, |v| v.trim() == "0")
}

fn new_namespace_has_only_loopback() -> Outcome {
    let tunnels_allowed = fallback_tunnels_allowed();
    spawn(Spawn::clone(&[Kind::Net]), move |_| {
        let mut rtnl = open_rtnl("the new namespace")?;
        let links = rtnl.links().at("dumping the devices of the new namespace")?;
        let lo = links.iter().find(|l| l.name == "lo").ok_or_else(|| {
            Stop::fail("looking for lo", "a device named lo", format!("{:?}", links.iter().map(|l| &l.name).collect::<Vec<_>>()))
        })?;
        expect_eq("lo's ifindex", 1, lo.index)?;
        expect_that("lo's flags", lo.loopback && !lo.up, "IFF_LOOPBACK, not IFF_UP", format!("loopback={} up={}", lo.loopback, lo.up))?;
        let unexpected: Vec<String> = links
            .iter()
            .filter(|l| l.name != "lo")
            .filter(|l| !(tunnels_allowed && FALLBACK_TUNNELS.iter().any(|(n, k)| l.name == *n && l.kind.as_deref() == Some(*k))))
            .map(|l| format!("{} ({})", l.name, l.kind.as_deref().unwrap_or("no kind")))
            .collect();
        let expected = if tunnels_allowed { "none (fallback tunnels aside)" } else { "none (fb_tunnels_only_for_init_net is set)" };
        expect_that("devices other than lo", unexpected.is_empty(), expected, unexpected.join(", "))?;
        expect_eq("addresses of the new namespace", Vec::<Address>::new(), rtnl.addresses().at("dumping the addresses")?)
    })?
    .join()
}

/// IPv6 is configured on lo of the current namespace (CONFIG_IPV6, not disabled by
/// ipv6.disable or disable_ipv6).
fn ipv6_on_loopback() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/conf/lo/disable_ipv6").is_ok_and(|v| v.trim() == "0")
}

/// A TCP connection to itself over `addr`: connect, accept, one byte across.
fn loopback_round_trip(addr: IpAddr) -> Outcome {
    let listener = TcpListener::bind((addr, 0)).at(&format!("listening on {addr}"))?;
    let target = listener.local_addr().at("reading the listener's address")?;
    let mut client = TcpStream::connect_timeout(&target, WITHIN).at(&format!("connecting to {target}"))?;
    let (mut server, _) = listener.accept().at(&format!("accepting on {target}"))?;
    client.write_all(b"x").at("writing over loopback")?;
    let mut byte = [0u8];
    server.read_exact(&mut byte).at("reading over loopback")?;
    expect_eq(&format!("the byte received over {addr}"), b'x', byte[0])
}

fn loopback_up_serves_local_traffic() -> Outcome {
    spawn(Spawn::clone(&[Kind::Net]), |_| {
        let target = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), PORT);
        expect_errno(
            "connecting to 127.0.0.1 while lo is down",
            Errno::ENETUNREACH,
            TcpStream::connect_timeout(&target, WITHIN).map(drop).map_err(errno_of),
        )?;
        let mut rtnl = open_rtnl("the new namespace")?;
        rtnl.set_up(1).at("bringing lo up")?;
        let ipv6 = ipv6_on_loopback();
        let mut expected = vec![Address { index: 1, addr: Ipv4Addr::LOCALHOST.into(), prefix: 8 }];
        if ipv6 {
            expected.push(Address { index: 1, addr: Ipv6Addr::LOCALHOST.into(), prefix: 128 });
        }
        let mut observed = rtnl.addresses().at("dumping the addresses after lo went up")?;
        observed.sort_by_key(|a| a.addr.is_ipv6());
        expect_eq("addresses after lo went up", expected, observed)?;
        loopback_round_trip(Ipv4Addr::LOCALHOST.into())?;
        if ipv6 {
            loopback_round_trip(Ipv6Addr::LOCALHOST.into())?;
        }
        Ok(())
    })?
    .join()
}

fn veth_connects_two_namespaces() -> Outcome {
    let b_ns = fresh_netns()?;
    let mut b = within(&b_ns, |to_parent| {
        to_parent.recv::<()>("the news that the pair exists")?;
        configure(&mut open_rtnl("namespace B")?, "nsc-b", END_B)?;
        let listener = TcpListener::bind((END_B, PORT)).at(&format!("listening on {END_B}:{PORT} in B"))?;
        to_parent.sync("B's listener")?;
        to_parent.recv::<()>("the news that A connected")?;
        let (mut conn, from) = listener.accept().at("accepting A's connection in B")?;
        expect_eq("the address B's connection comes from", IpAddr::from(END_A), from.ip())?;
        let mut word = [0u8; 4];
        conn.read_exact(&mut word).at("reading A's message in B")?;
        expect_eq("A's message as B reads it", *b"ping", word)?;
        conn.write_all(b"pong").at("answering A from B")
    })?;
    let mut a = spawn(Spawn::clone(&[Kind::Net]), |to_parent| {
        let mut rtnl = open_rtnl("namespace A")?;
        add_veth(&mut rtnl, "nsc-a", "nsc-b", Some(&b_ns))?;
        configure(&mut rtnl, "nsc-a", END_A)?;
        to_parent.sync("the pair")?;
        to_parent.recv::<()>("the order to connect")?;
        let mut conn =
            TcpStream::connect_timeout(&SocketAddr::new(END_B.into(), PORT), WITHIN).at("connecting from A to B over the pair")?;
        conn.write_all(b"ping").at("writing to B")?;
        to_parent.sync("the connection")?;
        conn.set_read_timeout(Some(WITHIN)).at("setting a read timeout")?;
        let mut word = [0u8; 4];
        conn.read_exact(&mut word).at("reading B's answer in A")?;
        expect_eq("B's answer as A reads it", *b"pong", word)
    })?;
    a.sync("the pair")?;
    b.send("the news that the pair exists", &())?;
    b.sync("B's listener")?;
    a.send("the order to connect", &())?;
    a.sync("the connection")?;
    b.send("the news that A connected", &())?;
    spawn(Spawn::clone(&[Kind::Net]), |_| {
        let mut rtnl = open_rtnl("a third namespace")?;
        expect_errno("looking up nsc-a from a third namespace", Errno::ENODEV, rtnl.link("nsc-a"))?;
        expect_errno("looking up nsc-b from a third namespace", Errno::ENODEV, rtnl.link("nsc-b"))?;
        expect_errno(
            "connecting to B's address from a third namespace",
            Errno::ENETUNREACH,
            TcpStream::connect_timeout(&SocketAddr::new(END_B.into(), PORT), WITHIN).map(drop).map_err(errno_of),
        )
    })?
    .join()?;
    a.join()?;
    b.join()
}

#[derive(Clone, Copy)]
enum By {
    Fd,
    Pid,
}

fn move_out_and_back(by: By) -> Outcome {
    let x_ns = fresh_netns()?;
    let y_ns = fresh_netns()?;
    within(&x_ns, |_| {
        let mut rtnl = open_rtnl("namespace X")?;
        add_veth(&mut rtnl, "nsc-m", "nsc-p", None)?;
        let before = rtnl.link("nsc-m").at("looking up nsc-m in X")?;
        let mut y = within(&y_ns, |to_x| {
            to_x.sync("Y's process")?;
            to_x.recv::<()>("the news that nsc-m moved")?;
            let mut rtnl = open_rtnl("namespace Y")?;
            let arrived = rtnl.link("nsc-m").at("looking up nsc-m in Y after the move")?;
            expect_eq("MAC of nsc-m in Y", &before.mac, &arrived.mac)?;
            let home = match by {
                By::Fd => Target::Fd(x_ns.as_fd()),
                By::Pid => Target::Pid(nix::unistd::getppid().as_raw()),
            };
            rtnl.move_link(arrived.index, home).at("moving nsc-m back from Y to X")?;
            expect_errno("looking up nsc-m in Y after moving it back", Errno::ENODEV, rtnl.link("nsc-m"))?;
            to_x.sync("the move back")
        })?;
        // With IFLA_NET_NS_PID the process must be inside Y before the move.
        y.sync("Y's process")?;
        let there = match by {
            By::Fd => Target::Fd(y_ns.as_fd()),
            By::Pid => Target::Pid(y.pid().as_raw()),
        };
        rtnl.move_link(before.index, there).at("moving nsc-m from X to Y")?;
        expect_errno("looking up nsc-m in X after the move", Errno::ENODEV, rtnl.link("nsc-m"))?;
        y.send("the news that nsc-m moved", &())?;
        y.sync("the move back")?;
        let back = rtnl.link("nsc-m").at("looking up nsc-m in X after the move back")?;
        expect_eq("MAC of nsc-m back in X", before.mac, back.mac)?;
        y.join()
    })?
    .join()
}

fn move_name_clash_eexist() -> Outcome {
    let x_ns = fresh_netns()?;
    let y_ns = fresh_netns()?;
    within(&y_ns, |_| add_veth(&mut open_rtnl("namespace Y")?, "nsc-c", "nsc-y", None))?.join()?;
    within(&x_ns, |_| {
        let mut rtnl = open_rtnl("namespace X")?;
        add_veth(&mut rtnl, "nsc-c", "nsc-x", None)?;
        let before = rtnl.link("nsc-c").at("looking up nsc-c in X")?;
        expect_errno("moving nsc-c into Y, which has an nsc-c", Errno::EEXIST, rtnl.move_link(before.index, Target::Fd(y_ns.as_fd())))?;
        let after = rtnl.link("nsc-c").at("looking up nsc-c in X after the refused move")?;
        expect_eq("nsc-c in X after the refused move", before, after)
    })?
    .join()
}

fn move_loopback_einval() -> Outcome {
    let y_ns = fresh_netns()?;
    spawn(Spawn::clone(&[Kind::Net]), |_| {
        let mut rtnl = open_rtnl("the new namespace")?;
        expect_errno("moving lo to another namespace", Errno::EINVAL, rtnl.move_link(1, Target::Fd(y_ns.as_fd())))?;
        let lo = rtnl.link("lo").at("looking up lo after the refused move")?;
        expect_eq("lo's ifindex after the refused move", 1, lo.index)
    })?
    .join()
}

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

fn nsid_assign_and_lookup() -> Outcome {
    let p_ns = fresh_netns()?;
    spawn(Spawn::clone(&[Kind::Net]), |_| {
        let mut rtnl = open_rtnl("namespace X")?;
        expect_eq("RTM_GETNSID of a peer without an id", -1, rtnl.nsid_of(p_ns.as_fd()).at("RTM_GETNSID")?)?;
        rtnl.set_nsid(p_ns.as_fd(), 7).at("RTM_NEWNSID giving the peer id 7")?;
        expect_eq("RTM_GETNSID after assigning 7", 7, rtnl.nsid_of(p_ns.as_fd()).at("RTM_GETNSID")?)?;
        let x_ns = File::open("/proc/self/ns/net").at("opening /proc/self/ns/net")?;
        within(&p_ns, |_| {
            let id = open_rtnl("the peer")?.nsid_of(x_ns.as_fd()).at("RTM_GETNSID in the peer")?;
            expect_eq("the peer's id for X (X's assignment is X's own)", -1, id)
        })?
        .join()
    })?
    .join()
}

fn nsid_reuse_eexist() -> Outcome {
    let p_ns = fresh_netns()?;
    let q_ns = fresh_netns()?;
    spawn(Spawn::clone(&[Kind::Net]), |_| {
        let mut rtnl = open_rtnl("namespace X")?;
        rtnl.set_nsid(p_ns.as_fd(), 7).at("RTM_NEWNSID giving peer P id 7")?;
        expect_errno("RTM_NEWNSID giving P a second id, 8", Errno::EEXIST, rtnl.set_nsid(p_ns.as_fd(), 8))?;
        expect_errno("RTM_NEWNSID giving peer Q the id 7 that P has", Errno::EEXIST, rtnl.set_nsid(q_ns.as_fd(), 7))?;
        expect_eq("P's id after the refusals", 7, rtnl.nsid_of(p_ns.as_fd()).at("RTM_GETNSID of P")?)?;
        expect_eq("Q's id after the refusal", -1, rtnl.nsid_of(q_ns.as_fd()).at("RTM_GETNSID of Q")?)
    })?
    .join()
}

/// The initial network namespace alone registers the global net.core table (netdev_max_backlog
/// and others: sysctl_core_init() in net/core/sysctl_net_core.c); other namespaces see only
/// netns_core_table. (Linux 7.0 also gives the initial namespace a fixed inode.)
fn in_initial_netns() -> Result<(), String> {
    match std::path::Path::new("/proc/sys/net/core/netdev_max_backlog").exists() {
        true => Ok(()),
        false => Err("/proc/sys/net/core/netdev_max_backlog is absent: the run is in a child network namespace".into()),
    }
}

/// Devices that carry a default route (IPv4 or IPv6) of the reader's namespace.
fn default_route_devices() -> Vec<String> {
    let v4 = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let v6 = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    default_route_devices_in(&v4, &v6)
}

/// From /proc/net/route (Iface, Destination, ..., Mask in column 8) and /proc/net/ipv6_route
/// (destination, prefix length, ..., device in column 10): proc(5), fib_route_seq_show() and
/// ipv6_route_native_seq_show().
fn default_route_devices_in(v4: &str, v6: &str) -> Vec<String> {
    let from_v4 = v4.lines().skip(1).filter_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 8 && f[1] == "00000000" && f[7] == "00000000").then(|| f[0].to_string())
    });
    let from_v6 = v6.lines().filter_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() == 10 && f[0].bytes().all(|b| b == b'0') && f[1] == "00").then(|| f[9].to_string())
    });
    from_v4.chain(from_v6).collect()
}

/// Names the device a user lends to the physical-device check; nothing else on a host is
/// ever moved. The VM runner's guest init sets it to the guest's NIC.
pub use nsconform_harness::stream::SPARE_NIC_VAR;

/// The lent device of the initial namespace, if it may be borrowed: physical (no
/// IFLA_INFO_KIND, so no rtnl_link_ops), not wireless (which may be netns-local), not
/// loopback, down, without addresses and not carrying a default route.
fn spare_nic() -> Result<Link, String> {
    let lent = std::env::var(SPARE_NIC_VAR).map_err(|_| {
        format!("no device is lent to it: set {SPARE_NIC_VAR}=DEVICE to let it move a spare physical NIC (the VM runner does)")
    })?;
    let mut rtnl = Rtnl::open().map_err(|e| format!("route netlink socket: {e}"))?;
    let links = rtnl.links().map_err(|e| format!("RTM_GETLINK: {e}"))?;
    let addresses = rtnl.addresses().map_err(|e| format!("RTM_GETADDR: {e}"))?;
    let routed = default_route_devices();
    let mut passed_over = Vec::new();
    for link in links.into_iter().filter(|l| l.name == lent) {
        let why = if link.loopback {
            Some("loopback".to_string())
        } else if let Some(kind) = &link.kind {
            Some(format!("virtual ({kind})"))
        } else if std::path::Path::new(&format!("/sys/class/net/{}/phy80211", link.name)).exists() {
            Some("wireless (may be netns-local)".into())
        } else if link.up {
            Some("up".into())
        } else if addresses.iter().any(|a| a.index == link.index) {
            Some("has addresses".into())
        } else if routed.contains(&link.name) {
            Some("carries a default route".into())
        } else {
            None
        };
        match why {
            None => return Ok(link),
            Some(why) => passed_over.push(format!("{}: {why}", link.name)),
        }
    }
    if passed_over.is_empty() {
        return Err(format!("{SPARE_NIC_VAR}={lent} names no device"));
    }
    Err(format!("{SPARE_NIC_VAR}={lent} is not physical, down, unaddressed and off the default route ({})", passed_over.join("; ")))
}

fn physical_device_returns_to_initial() -> Outcome {
    let nic = spare_nic().map_err(|why| Stop::skip(format!("a spare physical network device: {why}")))?;
    let mut rtnl = open_rtnl("the initial namespace")?;
    let mut x = spawn(Spawn::clone(&[Kind::Net]), |to_parent| {
        to_parent.sync("the new namespace")?;
        to_parent.recv::<()>("the news that the device moved")?;
        let arrived = open_rtnl("the new namespace")?.link(&nic.name).at(&format!("looking up {} in the new namespace", nic.name))?;
        expect_eq(&format!("MAC of {} in the new namespace", nic.name), &nic.mac, &arrived.mac)
    })?;
    x.sync("the new namespace")?;
    let moved = File::open(format!("/proc/{}/ns/net", x.pid()))
        .at("opening the child's /proc/PID/ns/net")
        .and_then(|x_ns| rtnl.move_link(nic.index, Target::Fd(x_ns.as_fd())).at(&format!("moving {} into the new namespace", nic.name)));
    moved?;
    // From here on the device is away: whatever fails, wait for the kernel to bring it back
    // before reporting, so that no later check or host snapshot misses it.
    let left =
        expect_errno(&format!("looking up {} in the initial namespace after the move", nic.name), Errno::ENODEV, rtnl.link(&nic.name));
    let seen = x.send("the news that the device moved", &()).and_then(|_| x.join());
    let mut back = None;
    poll_until(WITHIN, || {
        back = rtnl.links().ok().and_then(|links| links.into_iter().find(|l| l.mac == nic.mac && l.kind.is_none()));
        back.is_some()
    });
    left?;
    seen?;
    let back = back.ok_or_else(|| {
        Stop::fail(
            "looking for the device in the initial namespace after its namespace died",
            format!("a device with MAC {:02x?} within {WITHIN:?}", nic.mac),
            "none",
        )
    })?;
    expect_eq("the returned device's name (renamed only on a clash)", nic.name, back.name)
}

#[cfg(test)]
mod tests {
    use super::default_route_devices_in;

    #[test]
    fn finds_the_devices_of_default_routes() {
        let v4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                  eth1\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let v6 = "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth1\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth2\n";
        assert_eq!(default_route_devices_in(v4, v6), vec!["eth0".to_string(), "eth2".to_string()]);
    }
}
