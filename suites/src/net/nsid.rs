//! Netns ids: RTM_NEWNSID gives a peer namespace an id, local to the assigner, once; RTM_GETNSID reads it.

use super::{fresh_netns, open_rtnl, within, NET_DEADLINE};
use nix::errno::Errno;
use nsconform_harness::{expect_eq, expect_errno, spawn, At, Check, Kind, Need, Outcome, Spawn};
use std::fs::File;
use std::os::fd::AsFd;

pub const CHECKS: &[Check] = &[
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
];

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
