//! A small synchronous route-netlink client (rtnetlink(7)) for the net suite: links, veth
//! pairs, moves between namespaces, addresses and netns ids.
//!
//! Synchronous on purpose: the rtnetlink crate needs an async runtime, which may live only in
//! a leaf process (never in one that later forks or calls setns) and would also raise the
//! workspace's minimum Rust version and add tokio, futures and a second nix. Here the messages
//! are encoded and parsed by netlink-packet-route and carried over a plain AF_NETLINK socket
//! from nix: no runtime, no thread, usable in any check process and in probes.
//!
//! A netlink socket acts on the network namespace it was created in (netlink_create() takes
//! current->nsproxy->net_ns, net/netlink/af_netlink.c): open an `Rtnl` inside the namespace
//! it must act on.

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, State};
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nix::errno::Errno;
use nix::sys::socket::{bind, recv, send, socket, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// A route-netlink socket of the namespace it was opened in.
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
}

/// What the suite needs to know about a network device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub up: bool,
    /// IFLA_OPERSTATE is IF_OPER_UP: the kernel's link watch has seen the carrier and
    /// activated the device's queueing discipline, so packets leave it.
    pub operational: bool,
    /// IFLA_INFO_KIND, present only for devices with rtnl_link_ops (virtual devices).
    pub kind: Option<String>,
    pub mac: Vec<u8>,
    pub loopback: bool,
}

/// An address of a device, with its prefix length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix: u8,
}

/// Where a device moves to: IFLA_NET_NS_FD or IFLA_NET_NS_PID.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    Fd(BorrowedFd<'a>),
    Pid(i32),
}

impl Rtnl {
    /// Opens a socket in the caller's current network namespace.
    pub fn open() -> Result<Rtnl, Errno> {
        let fd = socket(nix::sys::socket::AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkRoute)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(Rtnl { fd, seq: 0 })
    }

    /// Every device of the namespace, in ifindex order.
    pub fn links(&mut self) -> Result<Vec<Link>, Errno> {
        let replies = self.request(RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_DUMP)?;
        let mut links: Vec<Link> = replies.into_iter().filter_map(link_of).collect();
        links.sort_by_key(|l| l.index);
        Ok(links)
    }

    /// The device called `name`; ENODEV when the namespace has none.
    pub fn link(&mut self, name: &str) -> Result<Link, Errno> {
        let mut query = LinkMessage::default();
        query.attributes.push(LinkAttribute::IfName(name.into()));
        let replies = self.request(RouteNetlinkMessage::GetLink(query), NLM_F_ACK)?;
        replies.into_iter().find_map(link_of).ok_or(Errno::EBADMSG)
    }

    /// Creates a veth pair `name` <-> `peer`; the peer is created in `peer_ns` if given.
    pub fn add_veth(&mut self, name: &str, peer: &str, peer_ns: Option<BorrowedFd>) -> Result<(), Errno> {
        let mut peer_msg = LinkMessage::default();
        peer_msg.attributes.push(LinkAttribute::IfName(peer.into()));
        if let Some(ns) = peer_ns {
            peer_msg.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Veth), LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg)))]));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL).map(drop)
    }

    /// Sets IFF_UP on the device.
    pub fn set_up(&mut self, index: u32) -> Result<(), Errno> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(msg), NLM_F_ACK).map(drop)
    }

    /// Moves the device to another namespace (RTM_SETLINK, no new name: a clash is EEXIST).
    pub fn move_link(&mut self, index: u32, to: Target) -> Result<(), Errno> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(match to {
            Target::Fd(fd) => LinkAttribute::NetNsFd(fd.as_raw_fd()),
            Target::Pid(pid) => LinkAttribute::NetNsPid(pid as u32),
        });
        self.request(RouteNetlinkMessage::SetLink(msg), NLM_F_ACK).map(drop)
    }

    /// Adds `addr/prefix` to the device.
    pub fn add_address(&mut self, index: u32, addr: IpAddr, prefix: u8) -> Result<(), Errno> {
        let mut msg = AddressMessage::default();
        msg.header.family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(addr));
        msg.attributes.push(AddressAttribute::Address(addr));
        self.request(RouteNetlinkMessage::NewAddress(msg), NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL).map(drop)
    }

    /// Every address of every device of the namespace.
    pub fn addresses(&mut self) -> Result<Vec<Address>, Errno> {
        let replies = self.request(RouteNetlinkMessage::GetAddress(AddressMessage::default()), NLM_F_DUMP)?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => {
                    // IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on point-to-point links.
                    let local = a.attributes.iter().find_map(|at| match at {
                        AddressAttribute::Local(ip) => Some(*ip),
                        _ => None,
                    });
                    let address = a.attributes.iter().find_map(|at| match at {
                        AddressAttribute::Address(ip) => Some(*ip),
                        _ => None,
                    });
                    Some(Address { index: a.header.index, addr: local.or(address)?, prefix: a.header.prefix_len })
                }
                _ => None,
            })
            .collect())
    }

    /// The id this namespace gives the namespace of `peer` (RTM_GETNSID); -1 when unassigned.
    pub fn nsid_of(&mut self, peer: BorrowedFd) -> Result<i32, Errno> {
        let mut msg = NsidMessage::default();
        msg.attributes.push(NsidAttribute::Fd(peer.as_raw_fd() as u32));
        let replies = self.request(RouteNetlinkMessage::GetNsId(msg), NLM_F_ACK)?;
        replies
            .into_iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewNsId(n) => n.attributes.into_iter().find_map(|a| match a {
                    NsidAttribute::Id(id) => Some(id),
                    _ => None,
                }),
                _ => None,
            })
            .ok_or(Errno::EBADMSG)
    }

    /// Gives the namespace of `peer` the id `id` in this namespace (RTM_NEWNSID).
    pub fn set_nsid(&mut self, peer: BorrowedFd, id: i32) -> Result<(), Errno> {
        let mut msg = NsidMessage::default();
        msg.attributes.push(NsidAttribute::Fd(peer.as_raw_fd() as u32));
        msg.attributes.push(NsidAttribute::Id(id));
        self.request(RouteNetlinkMessage::NewNsId(msg), NLM_F_ACK).map(drop)
    }

    /// Sends one request and collects its replies up to the acknowledgement (or the end of
    /// a dump). A netlink error becomes its errno.
    fn request(&mut self, message: RouteNetlinkMessage, flags: u16) -> Result<Vec<RouteNetlinkMessage>, Errno> {
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        send(self.fd.as_raw_fd(), &bytes, MsgFlags::empty())?;
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let len = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            let mut rest = &buf[..len];
            while !rest.is_empty() {
                let size = NetlinkBuffer::new_checked(rest).map_err(|_| Errno::EBADMSG)?.length() as usize;
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..size]).map_err(|_| Errno::EBADMSG)?;
                rest = &rest[size.next_multiple_of(4).min(rest.len())..];
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    NetlinkPayload::Error(e) => return e.code.map_or(Ok(replies), |c| Err(Errno::from_raw(-c.get()))),
                    NetlinkPayload::Done(d) if d.code < 0 => return Err(Errno::from_raw(-d.code)),
                    NetlinkPayload::Done(_) => return Ok(replies),
                    _ => {}
                }
            }
        }
    }
}

fn link_of(message: RouteNetlinkMessage) -> Option<Link> {
    let RouteNetlinkMessage::NewLink(m) = message else { return None };
    let mut link = Link {
        index: m.header.index,
        name: String::new(),
        up: m.header.flags.contains(LinkFlags::Up),
        operational: false,
        kind: None,
        mac: Vec::new(),
        loopback: m.header.flags.contains(LinkFlags::Loopback),
    };
    for attribute in m.attributes {
        match attribute {
            LinkAttribute::IfName(name) => link.name = name,
            LinkAttribute::Address(mac) => link.mac = mac,
            LinkAttribute::OperState(state) => link.operational = state == State::Up,
            LinkAttribute::LinkInfo(infos) => {
                link.kind = infos.into_iter().find_map(|i| match i {
                    LinkInfo::Kind(kind) => Some(kind.to_string()),
                    _ => None,
                })
            }
            _ => {}
        }
    }
    Some(link)
}
