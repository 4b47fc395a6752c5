//! A physical device lent by the host returns to the initial namespace when its namespace dies.

use super::{open_rtnl, NET_DEADLINE, WITHIN};
use crate::netlink::{Link, Rtnl, Target};
use crate::sys::poll_until;
use nix::errno::Errno;
use nsconform_harness::{expect_eq, expect_errno, spawn, At, Check, Kind, Need, Outcome, Probe, Spawn, Stop};
use std::fs::File;
use std::os::fd::AsFd;

pub const CHECKS: &[Check] = &[Check::new(
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
.with_deadline(NET_DEADLINE)];

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
