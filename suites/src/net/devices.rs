//! Devices: a new namespace's lo, veth pairs between namespaces, and moving a device to another namespace.

use super::{add_veth, configure, fresh_netns, open_rtnl, wait_operational, within, END_A, END_B, NET_DEADLINE, PORT, VETH, WITHIN};
use crate::netlink::{Address, Target};
use nix::errno::Errno;
use nsconform_harness::{expect_eq, expect_errno, expect_that, spawn, At, Check, Kind, Need, Outcome, Spawn, Stop};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;

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
];

fn errno_of(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
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
        let mut rtnl = open_rtnl("namespace B")?;
        configure(&mut rtnl, "nsc-b", END_B)?;
        wait_operational(&mut rtnl, "nsc-b")?;
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
        wait_operational(&mut rtnl, "nsc-a")?;
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
