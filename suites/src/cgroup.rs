//! Cgroup namespaces: /proc/PID/cgroup paths relative to the reader's namespace root, and
//! cgroup2 mounted inside a namespace rooted at it (cgroup_namespaces(7)).
//!
//! Showing a cgroup outside the namespace root needs a process in a cgroup other than the
//! root's. Checks that need one create a scratch cgroup below the check process's own cgroup2
//! cgroup (and child cgroups of it where a check needs siblings), move a child into it and
//! remove them before they return, failed or not; a run's start sweeps what a killed run left.
//! Where no cgroup2 directory is writable (an ordinary user without a delegated cgroup) they
//! SKIP.

use crate::sys::{poll_until, write_file};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::unistd::getpid;
use nsconform_harness::{expect_eq, expect_that, spawn, unshare, At, Check, Kind, Need, Outcome, Spawn, Stop};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

pub const CHECKS: &[Check] = &[
    Check::new(
        "cgroup.own-cgroups-read-as-root",
        "After entering a new cgroup namespace, every line of /proc/self/cgroup reads \"/\" (the creator's cgroups are the root)",
        "cgroup_namespaces(7); copy_cgroup_ns() takes the creator's css_set as root; proc_cgroup_show() and cgroup_path_ns() in kernel/cgroup/cgroup.c",
        &[Need::Kind(Kind::Cgroup)],
        own_cgroups_read_as_root,
    ),
    Check::new(
        "cgroup.other-processes-relative-to-root",
        "Inside a cgroup namespace, /proc/1/cgroup shows each cgroup relative to the namespace root (\"/..\" for each level above it)",
        "cgroup_namespaces(7); cgroup_path_ns_locked() uses kernfs_path_from_node() in fs/kernfs/dir.c",
        &[Need::Kind(Kind::Cgroup)],
        other_processes_relative_to_root,
    ),
    Check::new(
        "cgroup.parent-cgroup-shown-as-dotdot",
        "A process in the cgroup just above a namespace's root is shown in /proc/PID/cgroup as \"/..\"",
        "cgroup_namespaces(7) example; cgroup_path_ns_locked() and kernfs_path_from_node() in fs/kernfs/dir.c",
        &[Need::Kind(Kind::Cgroup)],
        parent_cgroup_shown_as_dotdot,
    ),
    Check::new(
        "cgroup.cgroup2-mount-rooted-at-namespace-root",
        "cgroup2 mounted inside a cgroup namespace has the namespace root as its root directory, shown as \"/\" in mountinfo",
        "cgroup_namespaces(7); cgroup_get_tree() mounts ns->root_cset's cgroup, cgroup_show_path() in kernel/cgroup/cgroup.c",
        &[Need::Kind(Kind::Cgroup), Need::Kind(Kind::Mnt)],
        cgroup2_mount_rooted_at_namespace_root,
    ),
    Check::new(
        "cgroup.setns-changes-view-not-membership",
        "setns into a cgroup namespace rooted at a child cgroup makes the caller's /proc/self/cgroup relative to that root (\"/..\") while its cgroup membership, read from outside, is unchanged",
        "cgroup_namespaces(7); setns(2); cgroupns_install() in kernel/cgroup/namespace.c switches nsproxy->cgroup_ns only; proc_cgroup_show() in kernel/cgroup/cgroup.c",
        &[Need::Kind(Kind::Cgroup)],
        setns_changes_view_not_membership,
    ),
    Check::new(
        "cgroup.moved-member-reads-sibling-via-dotdot",
        "A process moved, after creating its cgroup namespace, into a sibling cgroup x of the namespace root reads its own cgroup2 path as \"/../x\"",
        "cgroup_namespaces(7) (\"../\" entries for each ancestor level); proc_cgroup_show() and cgroup_path_ns_locked() in kernel/cgroup/cgroup.c; kernfs_path_from_node() in fs/kernfs/dir.c",
        &[Need::Kind(Kind::Cgroup)],
        moved_member_reads_sibling_via_dotdot,
    ),
    crate::fixture::create_without_cap_sys_admin_eperm!("cgroup.create-without-cap-sys-admin-eperm", Kind::Cgroup),
    // Without CONFIG_CGROUPS the kernel does not refuse CLONE_NEWCGROUP: the copy_cgroup_ns()
    // stub returns the old namespace, so the flag is accepted and ignored.
    Check::new(
        "cgroup.flag-ignored-when-configured-out",
        "With CONFIG_CGROUPS off, unshare and clone accept CLONE_NEWCGROUP and ignore it, and /proc/self/ns lacks cgroup",
        "copy_cgroup_ns() stub in include/linux/cgroup.h; check_unshare_flags() in kernel/fork.c; proc_ns_dir_entries in fs/proc/namespaces.c",
        &[Need::KindDisabled(Kind::Cgroup)],
        flag_ignored_when_configured_out,
    ),
];

/// The lines of /proc/PID/cgroup as (hierarchy id and controllers, path).
fn cgroups(pid: &str) -> Result<Vec<(String, String)>, Stop> {
    let path = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&path).at(&format!("reading {path}"))?;
    text.lines()
        .map(|line| match line.splitn(3, ':').collect::<Vec<_>>()[..] {
            // The id and the controllers never hold ':'; the path may.
            [id, controllers, cgroup] => Ok((format!("{id}:{controllers}"), cgroup.to_string())),
            _ => Err(Stop::fail(format!("parsing {path}"), "hierarchy-ID:controllers:path", line)),
        })
        .collect()
}

/// The path of `target` seen from a namespace rooted at `root`: ".." for each level from the
/// root up to their common ancestor, then down (kernfs_path_from_node()).
fn relative(root: &str, target: &str) -> String {
    let root: Vec<&str> = root.split('/').filter(|s| !s.is_empty()).collect();
    let target: Vec<&str> = target.split('/').filter(|s| !s.is_empty()).collect();
    let common = root.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts = vec![".."; root.len() - common];
    parts.extend(&target[common..]);
    format!("/{}", parts.join("/"))
}

/// Runs `observe` with this process's cgroups if it sits below some hierarchy's root, else in
/// a child moved into a scratch cgroup: in a root cgroup (a VM's init, say) a namespace rooted
/// at the creator's cgroup reads "/" whether or not the kernel virtualises anything.
fn away_from_the_root(observe: impl FnOnce() -> Outcome) -> Outcome {
    if cgroups("self")?.iter().any(|(_, path)| path != "/") {
        observe()
    } else {
        in_scratch_cgroup(|_| observe())
    }
}

fn own_cgroups_read_as_root() -> Outcome {
    away_from_the_root(|| {
        let outside = cgroups("self")?;
        expect_that("lines of /proc/self/cgroup", !outside.is_empty(), "at least one hierarchy", "none")?;
        spawn(Spawn::clone(&[Kind::Cgroup]), move |_| {
            let expected: Vec<_> = outside.iter().map(|(h, _)| (h.clone(), "/".to_string())).collect();
            expect_eq("/proc/self/cgroup in the new cgroup namespace", expected, cgroups("self")?)
        })?
        .join()
    })
}

fn other_processes_relative_to_root() -> Outcome {
    if let Err(e) = std::fs::read_to_string("/proc/1/cgroup") {
        return Err(Stop::skip(format!("/proc/1/cgroup is not readable here ({e}: hidepid?), so no other process can be compared")));
    }
    let (own, init) = (cgroups("self")?, cgroups("1")?);
    let observe = || {
        // The child starts in this process's cgroups, the root of its new namespace.
        let (own, init) = (cgroups("self")?, cgroups("1")?);
        expect_that("PID 1's cgroups vs this process's", own != init, "different cgroups", "the same cgroups")?;
        let expected: Vec<_> =
            own.iter().zip(&init).map(|((hierarchy, root), (_, target))| (hierarchy.clone(), relative(root, target))).collect();
        spawn(Spawn::clone(&[Kind::Cgroup]), move |_| expect_eq("/proc/1/cgroup read inside the namespace", expected, cgroups("1")?))?
            .join()
    };
    if own != init {
        observe()
    } else {
        in_scratch_cgroup(|_| observe())
    }
}

/// The cgroup2 hierarchy as this process sees it: (mount point, the mount's root).
fn cgroup2_mount() -> Result<(String, String), Stop> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").at("reading /proc/self/mountinfo")?;
    mountinfo
        .lines()
        .find_map(|line| {
            let (fields, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = fields.split(' ').collect();
            (after.split(' ').next() == Some("cgroup2")).then(|| (fields[4].to_string(), fields[3].to_string()))
        })
        .ok_or_else(|| Stop::skip("no cgroup2 hierarchy is mounted (a v1-only layout), so no scratch cgroup can be created"))
}

/// A scratch cgroup below the check process's cgroup2 cgroup, removed by `remove` or on drop.
struct Scratch {
    dir: String,
    removed: bool,
}

impl Scratch {
    fn create() -> Result<Scratch, Stop> {
        let parent = own_cgroup2_dir()?;
        sweep_abandoned(&parent);
        let dir = format!("{parent}/nsconform-{}", getpid());
        match nix::unistd::mkdir(dir.as_str(), nix::sys::stat::Mode::from_bits_truncate(0o755)) {
            Ok(()) => Ok(Scratch { dir, removed: false }),
            Err(errno @ (Errno::EACCES | Errno::EPERM | Errno::EROFS)) => Err(Stop::skip(format!(
                "no writable cgroup: mkdir {dir}: {errno}; a scratch cgroup needs write access to the process's cgroup2 directory (root, or a delegated cgroup)"
            ))),
            Err(errno) => Err(Stop::fail(format!("creating the scratch cgroup {dir}"), "success", errno.to_string())),
        }
    }

    /// Creates the child cgroup `name` of the scratch cgroup, removed with it.
    fn subgroup(&self, name: &str) -> Result<String, Stop> {
        let dir = format!("{}/{name}", self.dir);
        nix::unistd::mkdir(dir.as_str(), nix::sys::stat::Mode::from_bits_truncate(0o755))
            .at(&format!("creating the scratch cgroup {dir}"))?;
        Ok(dir)
    }

    /// Moves the calling process into the scratch cgroup.
    fn enter(dir: &str) -> Outcome {
        write_file(&format!("{dir}/cgroup.procs"), &getpid().to_string()).at(&format!("moving into {dir}"))
    }

    fn try_remove(&mut self) -> Result<(), Errno> {
        // The last process may still be leaving the cgroup just after it was reaped (EBUSY).
        let result = remove_cgroup(std::path::Path::new(&self.dir));
        self.removed = result.is_ok();
        result
    }

    fn remove(mut self) -> Outcome {
        let dir = self.dir.clone();
        self.try_remove().at(&format!("removing the scratch cgroup {dir}"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.try_remove();
        }
    }
}

/// Removes the cgroup `dir` after its child cgroups (a cgroup directory holds only interface
/// files, which go with it, and child cgroups). The last process may still be leaving a
/// cgroup just after it was reaped (EBUSY): each removal is retried for a second.
fn remove_cgroup(dir: &std::path::Path) -> Result<(), Errno> {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup(&entry.path())?;
        }
    }
    let mut result = Ok(());
    poll_until(Duration::from_secs(1), || {
        result = std::fs::remove_dir(dir).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)));
        result != Err(Errno::EBUSY)
    });
    result
}

/// Removes what a run killed during a cgroup check left behind: called when a run starts.
pub fn sweep_leftovers() {
    if let Ok(parent) = own_cgroup2_dir() {
        sweep_abandoned(&parent);
    }
}

/// The directory of this process's cgroup2 cgroup, where scratch cgroups go.
fn own_cgroup2_dir() -> Result<String, Stop> {
    let (mount_point, mount_root) = cgroup2_mount()?;
    let own = cgroups("self")?
        .into_iter()
        .find_map(|(hierarchy, path)| (hierarchy == "0:").then_some(path))
        .ok_or_else(|| Stop::skip("the process has no cgroup2 line in /proc/self/cgroup"))?;
    let below = own.strip_prefix(mount_root.trim_end_matches('/')).ok_or_else(|| {
        Stop::skip(format!("the cgroup2 mount at {mount_point} (root {mount_root}) does not show this process's cgroup {own}"))
    })?;
    Ok(format!("{}{}", mount_point.trim_end_matches('/'), below.trim_end_matches('/')))
}

/// Removes scratch cgroups whose creator is gone: a check killed at its deadline, or a run
/// killed outright, cannot remove its own. Busy or foreign directories are left alone.
fn sweep_abandoned(parent: &str) {
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("nsconform-").and_then(|p| p.parse::<i32>().ok()) else { continue };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = remove_cgroup(&entry.path());
        }
    }
}

/// Runs `body` in a child moved into a scratch cgroup, then removes the cgroup, whatever
/// the outcome.
fn in_scratch_cgroup(body: impl FnOnce(&str) -> Outcome) -> Outcome {
    let scratch = Scratch::create()?;
    let dir = scratch.dir.clone();
    let outcome = spawn(Spawn::fork(), |_| {
        Scratch::enter(&dir)?;
        body(&dir)
    })
    .and_then(|child| child.join());
    let removed = scratch.remove();
    outcome.and(removed)
}

fn parent_cgroup_shown_as_dotdot() -> Outcome {
    let outside = getpid().to_string();
    in_scratch_cgroup(|_| {
        spawn(Spawn::clone(&[Kind::Cgroup]), |_| {
            // The check process stayed in the scratch cgroup's parent; its other hierarchies
            // are the namespace's roots.
            let expected: Vec<_> = cgroups(&outside)?
                .into_iter()
                .map(|(hierarchy, _)| {
                    let path = if hierarchy == "0:" { "/.." } else { "/" };
                    (hierarchy, path.to_string())
                })
                .collect();
            expect_eq(
                &format!("/proc/{outside}/cgroup (the scratch cgroup's parent) read inside the namespace"),
                expected,
                cgroups(&outside)?,
            )
        })?
        .join()
    })
}

/// `cgroups` as seen from a namespace whose cgroup2 root is a child of the cgroup2 cgroup in
/// `cgroups` and whose other roots are the cgroups in `cgroups`, with `below` the path from
/// that root's parent down to the cgroup2 cgroup shown ("" for the parent itself).
fn seen_from_child_root(cgroups: &[(String, String)], below: &str) -> Vec<(String, String)> {
    cgroups
        .iter()
        .map(|(hierarchy, _)| {
            let path = if hierarchy == "0:" { format!("/..{below}") } else { "/".to_string() };
            (hierarchy.clone(), path)
        })
        .collect()
}

fn setns_changes_view_not_membership() -> Outcome {
    let outside = cgroups("self")?;
    let scratch = Scratch::create()?;
    let dir = scratch.dir.clone();
    // The holder keeps a cgroup namespace rooted at the scratch cgroup alive; the joiner,
    // forked in this process's cgroups, enters it.
    let holder = spawn(Spawn::fork(), |parent| {
        Scratch::enter(&dir)?;
        unshare(&[Kind::Cgroup])?;
        parent.sync("the holder's new cgroup namespace")?;
        parent.recv::<()>("the end of the check")
    });
    let outcome = holder.and_then(|mut holder| {
        let joined = holder.sync("the holder's new cgroup namespace").and_then(|()| {
            let ns_path = format!("/proc/{}/ns/cgroup", holder.pid());
            let expected_view = seen_from_child_root(&outside, "");
            let mut joiner = spawn(Spawn::fork(), |parent| {
                let ns = std::fs::File::open(&ns_path).at(&format!("opening {ns_path}"))?;
                nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWCGROUP).at("setns into the holder's cgroup namespace")?;
                expect_eq("/proc/self/cgroup after setns (root: a child of this cgroup)", expected_view, cgroups("self")?)?;
                parent.sync("the setns")?;
                parent.recv::<()>("the parent's reading")
            })?;
            joiner.sync("the setns")?;
            let pid = joiner.pid().to_string();
            let seen = cgroups(&pid);
            let procs = std::fs::read_to_string(format!("{dir}/cgroup.procs")).at(&format!("reading {dir}/cgroup.procs"));
            joiner.send("the parent's reading", &())?;
            joiner.join()?;
            expect_eq(&format!("/proc/{pid}/cgroup read from outside after its setns (its membership)"), outside, seen?)?;
            let procs = procs?;
            expect_that(
                "cgroup.procs of the namespace root (the scratch cgroup)",
                !procs.lines().any(|l| l == pid),
                format!("does not list the joiner {pid}"),
                procs.replace('\n', " "),
            )
        });
        let ended = holder.send("the end of the check", &()).and_then(|()| holder.join());
        joined.and(ended)
    });
    let removed = scratch.remove();
    outcome.and(removed)
}

fn moved_member_reads_sibling_via_dotdot() -> Outcome {
    let outside = cgroups("self")?;
    let scratch = Scratch::create()?;
    let made = scratch.subgroup("root").and_then(|root| Ok((root, scratch.subgroup("x")?)));
    let outcome = made.and_then(|(root, sibling)| {
        // Both children of the scratch cgroup: from "root", "x" is "/../x".
        let expected = seen_from_child_root(&outside, "/x");
        let mut member = spawn(Spawn::fork(), |parent| {
            Scratch::enter(&root)?;
            unshare(&[Kind::Cgroup])?;
            parent.sync("the member's new cgroup namespace")?;
            parent.recv::<()>("the move into the sibling cgroup")?;
            expect_eq("/proc/self/cgroup after the move into the namespace root's sibling x", expected, cgroups("self")?)
        })?;
        member.sync("the member's new cgroup namespace")?;
        // Moved by this process, outside the namespace: with nsdelegate the member itself
        // could not leave its namespace root.
        let pid = member.pid().to_string();
        let moved = write_file(&format!("{sibling}/cgroup.procs"), &pid).at(&format!("moving {pid} into {sibling}"));
        let sent = member.send("the move into the sibling cgroup", &());
        let joined = member.join();
        moved.and(sent).and(joined)
    });
    let removed = scratch.remove();
    outcome.and(removed)
}

fn cgroup2_mount_rooted_at_namespace_root() -> Outcome {
    in_scratch_cgroup(|dir| {
        let scratch_inode = std::fs::metadata(dir).at(&format!("stat {dir}"))?.ino();
        spawn(Spawn::clone(&[Kind::Cgroup, Kind::Mnt]), move |_| {
            // A tmpfs of this private mount namespace holds the mount point.
            mount(Some("tmpfs"), "/tmp", Some("tmpfs"), MsFlags::empty(), None::<&str>).at("mounting a tmpfs on /tmp")?;
            std::fs::create_dir("/tmp/cgroup2").at("mkdir /tmp/cgroup2")?;
            mount(Some("cgroup2"), "/tmp/cgroup2", Some("cgroup2"), MsFlags::empty(), None::<&str>)
                .at("mounting cgroup2 on /tmp/cgroup2")?;
            let root_inode = std::fs::metadata("/tmp/cgroup2").at("stat /tmp/cgroup2")?.ino();
            expect_eq("inode of the new mount's root vs the scratch cgroup (the namespace root)", scratch_inode, root_inode)?;
            let procs = std::fs::read_to_string("/tmp/cgroup2/cgroup.procs").at("reading /tmp/cgroup2/cgroup.procs")?;
            let me = getpid().to_string();
            expect_that(
                "cgroup.procs of the mount's root",
                procs.lines().any(|l| l == me),
                format!("lists this process ({me})"),
                procs.replace('\n', " "),
            )?;
            let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").at("reading /proc/self/mountinfo")?;
            let root = mountinfo
                .lines()
                .map(|l| l.split(' ').collect::<Vec<_>>())
                .find(|f| f.get(4) == Some(&"/tmp/cgroup2"))
                .map(|f| f[3].to_string());
            expect_eq("the root field of the new mount in mountinfo", Some("/".to_string()), root)
        })?
        .join()
    })
}

fn flag_ignored_when_configured_out() -> Outcome {
    spawn(Spawn::fork(), |_| {
        let flag = nix::sched::CloneFlags::CLONE_NEWCGROUP;
        nix::sched::unshare(flag).at("unshare(CLONE_NEWCGROUP) with CONFIG_CGROUPS off")?;
        crate::sys::try_clone(flag.bits()).at("clone(CLONE_NEWCGROUP) with CONFIG_CGROUPS off")?;
        crate::disabled::expect_no_ns_entry("cgroup")
    })?
    .join()
}

#[cfg(test)]
mod tests {
    use super::relative;

    #[test]
    fn paths_relative_to_a_namespace_root() {
        assert_eq!(relative("/a/b", "/a/b"), "/");
        assert_eq!(relative("/a/b", "/a"), "/..");
        assert_eq!(relative("/a/b", "/"), "/../..");
        assert_eq!(relative("/a/b", "/a/c/d"), "/../c/d");
        assert_eq!(relative("/", "/x/y"), "/x/y");
        assert_eq!(relative("/a", "/a/b"), "/b");
    }
}
