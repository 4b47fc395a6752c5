//! nsfs, the namespace files of /proc/PID/ns: namespace identity by inode, keeping a namespace
//! alive, setns(2) with namespace files and pidfds, and the ioctl_ns(2) requests. One module per
//! topic; this one holds what several of them share.
//!
//! Checks that span every kind use the kinds this kernel builds in (by its config, or without
//! one by /proc/self/ns); a configured kind that fails is a FAIL. The user-namespace id maps
//! and capabilities are the user suite's.

pub mod files;
pub mod handles;
pub mod ioctl;
pub mod listns;
pub mod mntns;
pub mod setns;

use crate::sys::{fd_inode, idle, own_ns};
use nix::errno::Errno;
use nsconform_harness::host::facts;
use nsconform_harness::{expect_eq, expect_ne, expect_that, spawn, At, Kind, Outcome, Spawn, Stop};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

fn setns(fd: &impl AsRawFd, nstype: libc::c_int) -> Result<(), Errno> {
    // SAFETY: plain system call; the fd may be invalid on purpose.
    Errno::result(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

fn open_ns(pid: impl std::fmt::Display, entry: &str) -> Result<File, Stop> {
    let path = format!("/proc/{pid}/ns/{entry}");
    File::open(&path).at(&format!("opening {path}"))
}

/// The /proc/PID/ns entry of the namespace a process's unshare creates: PID and time
/// namespaces are entered by the process's children only.
fn entry(kind: Kind) -> &'static str {
    match kind {
        Kind::Pid => "pid_for_children",
        Kind::Time => "time_for_children",
        other => other.name(),
    }
}

/// The kinds built into this kernel: by its config or, without one, by /proc/self/ns.
fn configured_kinds() -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| facts().kind_configured(*k).unwrap_or_else(|| std::path::Path::new(&format!("/proc/self/ns/{k}")).exists()))
        .collect()
}

fn for_each_kind(check: impl Fn(Kind) -> Outcome) -> Outcome {
    for kind in configured_kinds() {
        nsconform_harness::step(&format!("the {kind} namespace"));
        check(kind).map_err(|stop| stop.within(kind.name()))?;
    }
    Ok(())
}

/// unshare(2) of `kinds`, then a child that waits for the order to exit: a new PID namespace
/// has a /proc/PID/ns/pid_for_children entry only once its init exists (pidns_for_children_get()).
fn unshare_and_populate(kinds: &[Kind]) -> Result<nsconform_harness::Child, Stop> {
    nsconform_harness::unshare(kinds)?;
    spawn(Spawn::fork(), idle)
}

/// A child created as `how` says, once it is running in its namespaces; it waits for the
/// order to exit.
fn spawn_ready(how: Spawn) -> Result<nsconform_harness::Child, Stop> {
    let mut child = spawn(how, |to_parent| to_parent.sync("its start").and_then(|_| idle(to_parent)))?;
    child.sync("its start")?;
    Ok(child)
}

/// A process creates a namespace of `kind` with unshare; another joins it with setns(fd,
/// `nstype`); all agree on its inode, which differs from the parent's.
fn join_new_namespace(kind: Kind, nstype: libc::c_int) -> Outcome {
    let mut creator = spawn(Spawn::fork(), move |to_parent| {
        let populated = unshare_and_populate(&[kind])?;
        to_parent.send("its new namespace", &own_ns(entry(kind))?)?;
        idle(to_parent)?;
        populated.send("the order to exit", &())?;
        populated.join()
    })?;
    let inode = creator.recv::<u64>("its new namespace")?;
    expect_ne(&format!("the new {kind} namespace's inode vs the parent's"), own_ns(entry(kind))?, inode)?;
    let ns = open_ns(creator.pid(), entry(kind))?;
    expect_eq(&format!("/proc/PID/ns/{} of the creator read by its parent", entry(kind)), inode, fd_inode(&ns)?)?;
    let devices: Vec<u64> = std::fs::read_dir("/proc/self/ns")
        .at("listing /proc/self/ns")?
        .map(|e| Ok(std::fs::metadata(e.at("reading /proc/self/ns")?.path()).at("stat of a /proc/self/ns entry")?.dev()))
        .collect::<Result<_, Stop>>()?;
    let dev = ns.metadata().at("stat of the namespace file")?.dev();
    expect_that("st_dev of every /proc/self/ns entry", devices.iter().all(|d| *d == dev), format!("all {dev}"), format!("{devices:?}"))?;
    spawn(Spawn::fork(), move |_| {
        setns(&ns, nstype).at(&format!("setns(fd of the new {kind} namespace, {nstype:#x})"))?;
        expect_eq(&format!("/proc/self/ns/{} after setns", entry(kind)), inode, own_ns(entry(kind))?)
    })?
    .join()?;
    creator.send("the order to exit", &())?;
    creator.join()
}

/// The hostname given to a UTS namespace that a check later joins.
const KEPT_HOSTNAME: &str = "nsconform-kept";

/// A process in a new user namespace (owned by our euid, so we hold every capability in it).
fn spawn_user_namespace() -> Result<(nsconform_harness::Child, File), Stop> {
    let owner = spawn_ready(Spawn::clone(&[Kind::User]))?;
    let ns = open_ns(owner.pid(), "user")?;
    Ok((owner, ns))
}
