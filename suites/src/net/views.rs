//! Views: /proc/PID/net (and /proc/self/net, /proc/net) shows the network namespace of the
//! process it names, while /sys/class/net shows the namespace of whoever mounted that sysfs.

use super::{add_veth, open_rtnl, NET_DEADLINE, VETH};
use crate::scratch::{dirs, tmpfs};
use nix::mount::{mount, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};
use nsconform_harness::{expect_eq, expect_that, spawn, At, Check, Kind, Need, Outcome, Spawn, Stop};
use std::collections::BTreeSet;

pub const CHECKS: &[Check] = &[
    Check::new(
        "net.proc-net-follows-reader",
        "/proc/self/net and /proc/net show the network namespace of the reading process and /proc/PID/net that of process PID: a veth created in a new namespace is listed in its /proc/self/net/dev, not in its parent's, and the parent sees it through /proc/CHILD/net/dev",
        "proc(5) /proc/net, /proc/pid/net; get_proc_task_net() in fs/proc/proc_net.c (the net of the task of the directory, not of the /proc mount)",
        &[Need::Kind(Kind::Net), VETH],
        proc_net_follows_reader,
    )
    .with_deadline(NET_DEADLINE),
    Check::new(
        "net.sysfs-class-net-follows-mount",
        "class/net of a sysfs mount (/sys/class/net) lists the devices of the network namespace that mounted it, not the reader's: a child in new network and mount namespaces sees its creator's devices in the sysfs it inherits until it mounts a sysfs of its own, which lists only its own",
        "sys_class_net(5) (formerly part of sysfs(5)) says the reader's namespace, Documentation/networking/sysfs-tagging.rst the mounter's; sysfs_init_fs_context() in fs/sysfs/mount.c tags the superblock with kobj_ns_grab_current(KOBJ_NS_TYPE_NET), net_grab_current_ns() and net_current_may_mount() in net/core/net-sysfs.c; LTP netns_sysfs",
        &[Need::Kind(Kind::Net), Need::Kind(Kind::Mnt), VETH],
        sysfs_class_net_follows_mount,
    )
    .with_deadline(NET_DEADLINE),
];

/// The device names of a /proc/PID/net/dev file (two header lines, then "name: counters").
fn proc_net_dev(path: &str) -> Result<BTreeSet<String>, Stop> {
    let text = std::fs::read_to_string(path).at(&format!("reading {path}"))?;
    text.lines()
        .skip(2)
        .map(|l| {
            l.split_once(':')
                .map(|(name, _)| name.trim().to_string())
                .ok_or_else(|| Stop::fail(format!("parsing {path}"), "\"NAME: counters\" lines", format!("{l:?}")))
        })
        .collect()
}

/// The devices of the namespace the caller is in, through a route netlink socket.
fn netlink_devices(where_: &str) -> Result<BTreeSet<String>, Stop> {
    let links = open_rtnl(where_)?.links().at(&format!("dumping the devices of {where_}"))?;
    Ok(links.into_iter().map(|l| l.name).collect())
}

fn proc_net_follows_reader() -> Outcome {
    let parent_view = proc_net_dev("/proc/self/net/dev")?;
    expect_that("the parent's /proc/self/net/dev before the child exists", !parent_view.contains("nsc-p0"), "no nsc-p0", "nsc-p0 listed")?;
    let mut child = spawn(Spawn::clone(&[Kind::Net]), |to_parent| {
        add_veth(&mut open_rtnl("the new namespace")?, "nsc-p0", "nsc-p1", None)?;
        let devices = netlink_devices("the new namespace")?;
        expect_eq(
            "/proc/self/net/dev in the new namespace (expected: its devices by netlink)",
            devices.clone(),
            proc_net_dev("/proc/self/net/dev")?,
        )?;
        expect_eq(
            "/proc/net/dev in the new namespace (expected: its devices by netlink)",
            devices.clone(),
            proc_net_dev("/proc/net/dev")?,
        )?;
        to_parent.send("the new namespace's devices", &devices)?;
        to_parent.recv::<()>("the order to exit")
    })?;
    let devices: BTreeSet<String> = child.recv("the new namespace's devices")?;
    let own = proc_net_dev("/proc/self/net/dev")?;
    expect_that(
        "the parent's /proc/self/net/dev while the child's namespace has nsc-p0",
        !own.contains("nsc-p0") && !own.contains("nsc-p1"),
        "neither nsc-p0 nor nsc-p1",
        format!("{own:?}"),
    )?;
    let path = format!("/proc/{}/net/dev", child.pid());
    expect_eq(&format!("{path} read by the parent (expected: the child's devices)"), devices, proc_net_dev(&path)?)?;
    child.send("the order to exit", &())?;
    child.join()
}

/// The devices listed in `dir`/class/net: its symbolic links (a class file such as
/// bonding_masters is not a device).
fn sysfs_devices(dir: &str) -> Result<BTreeSet<String>, Stop> {
    let path = format!("{dir}/class/net");
    let entries = std::fs::read_dir(&path).at(&format!("listing {path}"))?;
    let mut names = BTreeSet::new();
    for entry in entries {
        let entry = entry.at(&format!("listing {path}"))?;
        if entry.file_type().at(&format!("the type of an entry of {path}"))?.is_symlink() {
            names.insert(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(names)
}

/// Mounts a new sysfs on `point` (in the caller's own mount namespace). The flags repeat those
/// of /sys: where the run is unprivileged, mount_too_revealing() in fs/namespace.c wants a fully
/// visible sysfs whose locked flags the new one keeps. (Mounted over a sysfs of the same
/// namespace, the same superblock on the same point, it would fail with EBUSY.)
fn mount_sysfs(point: &str, where_: &str) -> Outcome {
    let old = statvfs("/sys").setup("statvfs of /sys")?.flags();
    let mut flags = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if old.contains(fs) {
            flags |= ms;
        }
    }
    mount(Some("nsconform"), point, Some("sysfs"), flags, None::<&str>).at(&format!("mounting a new sysfs on {point} in {where_}"))
}

/// Where the check mounts its sysfs instances: a directory of its scratch tmpfs.
const SYSFS: &str = "/tmp/sys";

fn sysfs_class_net_follows_mount() -> Outcome {
    // A is the creator: new network and mount namespaces, a scratch tmpfs on /tmp with its own
    // sysfs on /tmp/sys, and a veth pair that marks its devices. B is created by A in new
    // network and mount namespaces (a copy of A's mounts) and has a veth pair of its own.
    spawn(Spawn::clone(&[Kind::Net, Kind::Mnt]), |_| {
        tmpfs("/tmp")?;
        dirs(&[SYSFS])?;
        add_veth(&mut open_rtnl("namespace A")?, "nsc-sa0", "nsc-sa1", None)?;
        mount_sysfs(SYSFS, "namespace A")?;
        let a_devices = netlink_devices("namespace A")?;
        expect_eq(
            &format!("{SYSFS}/class/net of A's own sysfs (expected: A's devices by netlink)"),
            a_devices.clone(),
            sysfs_devices(SYSFS)?,
        )?;
        spawn(Spawn::clone(&[Kind::Net, Kind::Mnt]), |_| {
            add_veth(&mut open_rtnl("namespace B")?, "nsc-sb0", "nsc-sb1", None)?;
            let b_devices = netlink_devices("namespace B")?;
            expect_eq(
                &format!("{SYSFS}/class/net in B, A's sysfs copied with A's mounts (expected: its creator A's devices)"),
                a_devices.clone(),
                sysfs_devices(SYSFS)?,
            )?;
            mount_sysfs(SYSFS, "namespace B")?;
            expect_eq(&format!("{SYSFS}/class/net of B's own sysfs (expected: B's devices by netlink)"), b_devices, sysfs_devices(SYSFS)?)
        })?
        .join()?;
        expect_eq(&format!("{SYSFS}/class/net in A after B mounted a sysfs in its own mount namespace"), a_devices, sysfs_devices(SYSFS)?)
    })?
    .join()
}
