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
use nsconform_harness::{expect_eq, expect_errno, expect_that, spawn, unshare, At, Check, Kind, Need, Outcome, Probe, Spawn, Stop};
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
    Check::new(
        "cgroup.nested-namespace-rooted-at-creators-cgroup",
        "A cgroup namespace created inside another, by a member moved into a child cgroup of the first one's root, is rooted at that child: its creator reads \"/\", the first root's parent reads \"/../..\", and the first namespace sees the creator at \"/inner\"",
        "cgroup_namespaces(7); copy_cgroup_ns() in kernel/cgroup/namespace.c roots every new namespace at task_css_set(current), whatever the old namespace's root; cgroup_path_ns_locked() in kernel/cgroup/cgroup.c",
        &[Need::Kind(Kind::Cgroup)],
        nested_namespace_rooted_at_creators_cgroup,
    ),
    Check::new(
        "cgroup.clone-into-cgroup-namespace-rooted-at-target",
        "clone3 with CLONE_INTO_CGROUP and CLONE_NEWCGROUP roots the child's new cgroup namespace at the target cgroup x, not at the parent's cgroup: the child reads its own cgroup2 path as \"/\" and its parent's (x's parent) as \"/..\"",
        "clone3(2) CLONE_INTO_CGROUP (Linux 5.7); copy_cgroup_ns() first roots the namespace at the parent's css_set, then cgroup_post_fork() in kernel/cgroup/cgroup.c (\"Make the new cset the root_cset of the new cgroup namespace\") replaces it with the child's",
        &[Need::Kind(Kind::Cgroup), Need::Kernel(5, 7)],
        clone_into_cgroup_namespace_rooted_at_target,
    ),
    Check::new(
        "cgroup.v1-new-hierarchy-from-namespace-eperm",
        "Mounting a new named cgroup v1 hierarchy (\"none,name=...\") from a non-initial cgroup namespace gives EPERM, while cgroup2 mounts there",
        "cgroup_namespaces(7); cgroup1_root_to_use() in kernel/cgroup/cgroup-v1.c (\"Hierarchies may only be created in the initial cgroup namespace\"); cgroup1_get_tree()",
        &[Need::Kind(Kind::Cgroup), Need::Kind(Kind::Mnt), Need::Probe(CGROUP_V1_NAMED)],
        v1_new_hierarchy_from_namespace_eperm,
    ),
    Check::new(
        "cgroup.v1-mount-rooted-at-namespace-root",
        "An existing cgroup v1 hierarchy mounted from inside a cgroup namespace is rooted at the namespace root, the creator's cgroup below the hierarchy's root: the mount's root cgroup.procs lists the mounter, and mountinfo shows the mount's root as \"/\"",
        "cgroup_namespaces(7) (a cgroup filesystem mounted inside the namespace has the namespace root as its root); cgroup1_root_to_use() in kernel/cgroup/cgroup-v1.c reuses the hierarchy whose controllers and name match, and cgroup_do_get_tree() in kernel/cgroup/cgroup.c returns the dentry of cset_cgroup_from_root(ns->root_cset, root) in a non-initial namespace",
        &[Need::Kind(Kind::Cgroup), Need::Kind(Kind::Mnt), Need::Probe(CGROUP_V1_BELOW_ROOT)],
        v1_mount_rooted_at_namespace_root,
    ),
    Check::new(
        "cgroup.mountinfo-root-relative-to-namespace-root",
        "After unshare(CLONE_NEWCGROUP) in a child cgroup, the root field of the existing cgroup2 mount in /proc/self/mountinfo is shown relative to the new namespace root (\"/..\" for the mount's root one level up)",
        "cgroup_namespaces(7) (mountinfo); cgroup_show_path() in kernel/cgroup/cgroup.c uses current_cgns_cgroup_from_root() and kernfs_path_from_node()",
        &[Need::Kind(Kind::Cgroup)],
        mountinfo_root_relative_to_namespace_root,
    ),
    Check::new(
        "cgroup.nsdelegate-migration-outside-root-enoent",
        "With cgroup2 mounted with nsdelegate, a process inside a cgroup namespace gets ENOENT moving itself into a cgroup outside its namespace root, and moving a process from outside the root into it; it may move itself into a child of the root",
        "cgroups(7) nsdelegate; cgroup_procs_write_permission() in kernel/cgroup/cgroup.c (both cgroups must be descendants of ns->root_cset->dfl_cgrp)",
        &[Need::Kind(Kind::Cgroup), Need::Probe(NSDELEGATE)],
        nsdelegate_migration_outside_root_enoent,
    ),
    Check::new(
        "cgroup.nsdelegate-namespace-root-files-eperm",
        "With cgroup2 mounted with nsdelegate, a process inside a cgroup namespace gets EPERM writing cgroup.max.descendants of its namespace root, while it may write it in a child cgroup, write the root's cgroup.procs, and a process outside may write it",
        "cgroups(7) nsdelegate; cgroup_file_write() in kernel/cgroup/cgroup.c (only CFTYPE_NS_DELEGATABLE files: cgroup.procs, cgroup.threads, cgroup.subtree_control)",
        &[Need::Kind(Kind::Cgroup), Need::Probe(NSDELEGATE)],
        nsdelegate_namespace_root_files_eperm,
    ),
    Check::new(
        "cgroup.cgroup2-mount-needs-admin-over-cgroupns-owner",
        "Root of a new user namespace (with a new mount namespace) gets EPERM mounting cgroup2 while its cgroup namespace belongs to the parent user namespace, and mounts it once it created a cgroup namespace of its own",
        "cgroup_init_fs_context() in kernel/cgroup/cgroup.c sets fc->user_ns to the cgroup namespace's owner; mount_capable() in fs/super.c (FS_USERNS_MOUNT: ns_capable(fc->user_ns, CAP_SYS_ADMIN)); do_new_mount() in fs/namespace.c",
        &[Need::Kind(Kind::User), Need::Kind(Kind::Cgroup), Need::KindInOwnUserns(Kind::Mnt)],
        cgroup2_mount_needs_admin_over_cgroupns_owner,
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
    parse_cgroups(&path, &text)
}

/// The lines of a /proc/PID/cgroup text read from `path`.
fn parse_cgroups(path: &str, text: &str) -> Result<Vec<(String, String)>, Stop> {
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
    let own = cgroups("self")?;
    let some_below = own.iter().any(|(_, path)| path != "/");
    // cgroup2 is the hierarchy that matters (its view has code of its own, dfl_cgrp): in its
    // root, go to a scratch cgroup even where some v1 hierarchy has this process below its root.
    let cgroup2_at_root = own.iter().any(|(hierarchy, path)| hierarchy == "0:" && path == "/");
    if some_below && !cgroup2_at_root {
        return observe();
    }
    match Scratch::create() {
        Ok(scratch) => in_cgroup(scratch, |_| observe()),
        // No writable cgroup2 directory: the v1 hierarchies below their roots still show it.
        Err(Stop::Skip(_)) if some_below => observe(),
        Err(stop) => Err(stop),
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
        match nix::unistd::mkdir(dir.as_str(), nix::sys::stat::Mode::from_bits_truncate(0o755)) {
            // cgroup_mkdir(): a delegated tree's cgroup.max.descendants or cgroup.max.depth.
            Err(Errno::EAGAIN) => Err(Stop::skip(format!(
                "creating the scratch cgroup {dir}: EAGAIN: the delegated tree's cgroup.max.descendants or cgroup.max.depth is reached"
            ))),
            made => made.at(&format!("creating the scratch cgroup {dir}")).map(|()| dir),
        }
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
    in_cgroup(Scratch::create()?, body)
}

/// Runs `body` in a child moved into `scratch`, then removes it.
fn in_cgroup(scratch: Scratch, body: impl FnOnce(&str) -> Outcome) -> Outcome {
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

/// `lines` with the cgroup2 line's path replaced by `cgroup2` and every v1 line's by "/": the
/// view of a process whose v1 cgroups are the namespace's roots.
fn only_cgroup2(lines: &[(String, String)], cgroup2: &str) -> Vec<(String, String)> {
    lines.iter().map(|(h, _)| (h.clone(), if h == "0:" { cgroup2.to_string() } else { "/".to_string() })).collect()
}

fn nested_namespace_rooted_at_creators_cgroup() -> Outcome {
    let outside = getpid().to_string();
    let scratch = Scratch::create()?;
    let dir = scratch.dir.clone();
    let outcome = scratch.subgroup("inner").and_then(|inner| {
        spawn(Spawn::fork(), |_| {
            Scratch::enter(&dir)?;
            unshare(&[Kind::Cgroup])?;
            // A move inside the namespace's own subtree (allowed with nsdelegate too).
            Scratch::enter(&inner)?;
            let first = cgroups("self")?;
            expect_eq(
                "/proc/self/cgroup in the first namespace (root: the scratch cgroup) after moving into its child inner",
                only_cgroup2(&first, "/inner"),
                first.clone(),
            )?;
            // unshare, not clone: cgroup_post_fork() re-roots a namespace made by clone at the
            // child's css_set, so only unshare shows the root copy_cgroup_ns() chose.
            let mut nested = spawn(Spawn::unshare(&[Kind::Cgroup]), |parent| {
                let own = cgroups("self")?;
                expect_eq("/proc/self/cgroup in the nested namespace created in inner", only_cgroup2(&own, "/"), own.clone())?;
                let check = cgroups(&outside)?;
                expect_eq(
                    &format!("/proc/{outside}/cgroup (the first root's parent) read in the nested namespace"),
                    only_cgroup2(&check, "/../.."),
                    check.clone(),
                )?;
                parent.sync("the nested namespace's readings")?;
                parent.recv::<()>("the first namespace's reading")
            })?;
            nested.sync("the nested namespace's readings")?;
            let pid = nested.pid().to_string();
            let seen = cgroups(&pid);
            nested.send("the first namespace's reading", &())?;
            nested.join()?;
            let seen = seen?;
            expect_eq(
                &format!("/proc/{pid}/cgroup (the nested namespace's creator) read in the first namespace"),
                only_cgroup2(&seen, "/inner"),
                seen,
            )
        })?
        .join()
    });
    let removed = scratch.remove();
    outcome.and(removed)
}

/// include/uapi/linux/sched.h (Linux 5.7).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

fn clone_into_cgroup_namespace_rooted_at_target() -> Outcome {
    in_scratch_cgroup(|dir| {
        let target = format!("{dir}/x");
        nix::unistd::mkdir(target.as_str(), nix::sys::stat::Mode::from_bits_truncate(0o755))
            .at(&format!("creating the cgroup {target}"))?;
        let cgroup = std::fs::File::open(&target).at(&format!("opening {target}"))?;
        let before = crate::sys::own_ns("cgroup")?;
        let (from_child, to_parent) = nix::unistd::pipe().setup("a pipe")?;
        let flags = CLONE_INTO_CGROUP | libc::CLONE_NEWCGROUP as u64;
        let pid = crate::sys::raw_clone3_with(flags, &[], Some(std::os::fd::AsRawFd::as_raw_fd(&cgroup)))
            .at("clone3(CLONE_INTO_CGROUP | CLONE_NEWCGROUP)")?;
        if pid == 0 {
            let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_else(|e| format!("error: {e}"));
            let ns = crate::sys::own_ns("cgroup").map(|i| i.to_string()).unwrap_or_else(|e| format!("error: {e:?}"));
            let parent =
                std::fs::read_to_string(format!("/proc/{}/cgroup", nix::unistd::getppid())).unwrap_or_else(|e| format!("error: {e}"));
            let report = format!("{ns}\n{text}\0{parent}");
            let _ = nix::unistd::write(&to_parent, report.as_bytes());
            // SAFETY: leaves the cloned child at once, running no destructor or atexit handler a second time.
            unsafe { libc::_exit(0) }
        }
        drop(to_parent);
        let mut report = String::new();
        let read = std::io::Read::read_to_string(&mut std::fs::File::from(from_child), &mut report).setup("reading the child's report");
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as libc::pid_t), None);
        read?;
        let (ns, text) = report.split_once('\n').unwrap_or(("", &report));
        if ns.parse::<u64>().is_err() {
            return Err(Stop::broken("reading the child's /proc/self/ns/cgroup", "its inode", ns));
        }
        expect_that(
            "/proc/self/ns/cgroup of the child",
            ns != before.to_string(),
            format!("a new namespace, not the parent's ({before})"),
            ns,
        )?;
        let (own, parent) = text.split_once('\0').unwrap_or((text, ""));
        let own = parse_cgroups("the child's /proc/self/cgroup", own)?;
        expect_eq("the child's /proc/self/cgroup (the child is in x)", only_cgroup2(&own, "/"), own.clone())?;
        let parent = parse_cgroups("the parent's /proc/PID/cgroup read by the child", parent)?;
        expect_eq("the parent's /proc/PID/cgroup (in x's parent) read by the child", only_cgroup2(&parent, "/.."), parent.clone())
    })
}

/// cgroup v1 exists and named hierarchies are not blocked at boot.
const CGROUP_V1_NAMED: Probe = Probe {
    what: "cgroup v1 named hierarchies",
    run: || {
        let filesystems = std::fs::read_to_string("/proc/filesystems").map_err(|e| format!("/proc/filesystems: {e}"))?;
        if !filesystems.lines().any(|l| l.split_whitespace().last() == Some("cgroup")) {
            return Err("the kernel has no cgroup v1 filesystem (/proc/filesystems lacks \"cgroup\")".into());
        }
        let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        let blocked =
            cmdline.split_whitespace().filter_map(|w| w.strip_prefix("cgroup_no_v1=")).any(|v| v.split(',').any(|t| t == "named"));
        if blocked {
            return Err("cgroup_no_v1=named on the kernel command line blocks named hierarchies (ENOENT)".into());
        }
        Ok(())
    },
};

fn v1_new_hierarchy_from_namespace_eperm() -> Outcome {
    spawn(Spawn::clone(&[Kind::Cgroup, Kind::Mnt]), |_| {
        mount(Some("tmpfs"), "/tmp", Some("tmpfs"), MsFlags::empty(), None::<&str>).at("mounting a tmpfs on /tmp")?;
        for dir in ["/tmp/v1", "/tmp/v2"] {
            std::fs::create_dir(dir).at(&format!("mkdir {dir}"))?;
        }
        let options = format!("none,name=nsconform-{}", getpid());
        expect_errno(
            &format!("mounting a new cgroup v1 hierarchy ({options}) from a non-initial cgroup namespace"),
            Errno::EPERM,
            mount(Some("none"), "/tmp/v1", Some("cgroup"), MsFlags::empty(), Some(options.as_str())),
        )?;
        mount(Some("cgroup2"), "/tmp/v2", Some("cgroup2"), MsFlags::empty(), None::<&str>)
            .at("mounting cgroup2 from the same namespaces (the control: the mount itself is allowed)")
    })?
    .join()
}

/// A cgroup v1 hierarchy in which this process sits below the root: (its controllers and name
/// as /proc/self/cgroup lists them, which are also its mount options; the cgroup's path).
/// Hierarchies with controllers come first: a named one may be mounted with other options
/// (systemd's has xattr), which a mount by name alone would make the kernel warn about.
fn v1_below_root() -> Result<Option<(String, String)>, Stop> {
    let mut found: Vec<(String, String)> = cgroups("self")?
        .into_iter()
        .filter_map(|(hierarchy, path)| {
            let controllers = hierarchy.split_once(':')?.1;
            // "/.." and above lie outside the run's own cgroup namespace root: maybe the hierarchy's root.
            let below = path != "/" && !path.starts_with("/..");
            (!controllers.is_empty() && below).then(|| (controllers.to_string(), path))
        })
        .collect();
    found.sort_by_key(|(controllers, _)| controllers.starts_with("name="));
    Ok(found.into_iter().next())
}

const CGROUP_V1_BELOW_ROOT: Probe = Probe {
    what: "a cgroup v1 hierarchy with this process below its root",
    // Found, or /proc/self/cgroup unreadable: the check itself reads it again and reports that.
    run: || match v1_below_root() {
        Ok(None) => Err(NO_V1_BELOW_ROOT.into()),
        _ => Ok(()),
    },
};

const NO_V1_BELOW_ROOT: &str =
    "no cgroup v1 hierarchy has this process below its root, where a mount rooted at the namespace root would look like one rooted at the hierarchy's";

fn v1_mount_rooted_at_namespace_root() -> Outcome {
    let (options, path) = v1_below_root()?.ok_or_else(|| Stop::broken("finding the v1 hierarchy the probe found", "one", "none"))?;
    spawn(Spawn::clone(&[Kind::Cgroup, Kind::Mnt]), move |_| {
        mount(Some("tmpfs"), "/tmp", Some("tmpfs"), MsFlags::empty(), None::<&str>).at("mounting a tmpfs on /tmp")?;
        std::fs::create_dir("/tmp/v1").at("mkdir /tmp/v1")?;
        mount(Some("cgroup"), "/tmp/v1", Some("cgroup"), MsFlags::empty(), Some(options.as_str()))
            .at(&format!("mounting the existing cgroup v1 hierarchy ({options}) inside a cgroup namespace rooted at {path}"))?;
        let procs = std::fs::read_to_string("/tmp/v1/cgroup.procs").at("reading cgroup.procs at the mount's root")?;
        let me = getpid().to_string();
        expect_that(
            &format!("cgroup.procs at the root of the v1 mount ({options}), made in a namespace rooted at {path}"),
            procs.lines().any(|l| l == me),
            format!("lists the mounter {me}: the root is its cgroup {path}"),
            format!("{procs:?}: the root is another cgroup"),
        )?;
        expect_eq("the v1 mount's root in mountinfo", Some("/".to_string()), mountinfo_root("/tmp/v1", "cgroup")?)
    })?
    .join()
}

/// The root field of the mountinfo line of the mount at `mount_point` of type `fstype`.
fn mountinfo_root(mount_point: &str, fstype: &str) -> Result<Option<String>, Stop> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").at("reading /proc/self/mountinfo")?;
    Ok(mountinfo.lines().find_map(|line| {
        let (fields, after) = line.split_once(" - ")?;
        let fields: Vec<&str> = fields.split(' ').collect();
        (fields.get(4) == Some(&mount_point) && after.split(' ').next() == Some(fstype)).then(|| fields[3].to_string())
    }))
}

fn mountinfo_root_relative_to_namespace_root() -> Outcome {
    let (mount_point, mount_root) = cgroup2_mount()?;
    in_scratch_cgroup(|_| {
        let own = cgroups("self")?
            .into_iter()
            .find_map(|(h, path)| (h == "0:").then_some(path))
            .ok_or_else(|| Stop::fail("reading /proc/self/cgroup", "a cgroup2 line", "none"))?;
        let expected = relative(&own, &mount_root);
        spawn(Spawn::clone(&[Kind::Cgroup]), move |_| {
            expect_eq(
                &format!("the root of the cgroup2 mount at {mount_point} (root {mount_root} outside) in mountinfo, inside a namespace rooted at {own}"),
                Some(expected),
                mountinfo_root(&mount_point, "cgroup2")?,
            )
        })?
        .join()
    })
}

/// The super options of the cgroup2 mount ("rw,nsdelegate,..."), from mountinfo.
fn cgroup2_super_options() -> Result<String, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    mountinfo
        .lines()
        .find_map(|line| {
            let (_, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = after.split(' ').collect();
            (fields.first() == Some(&"cgroup2")).then(|| fields.get(2).unwrap_or(&"").to_string())
        })
        .ok_or_else(|| "no cgroup2 hierarchy is mounted".to_string())
}

/// The cgroup2 hierarchy is mounted with nsdelegate (never changed here: it is the host's).
const NSDELEGATE: Probe = Probe {
    what: "cgroup2 mounted with nsdelegate",
    run: || {
        let options = cgroup2_super_options()?;
        if options.split(',').any(|o| o == "nsdelegate") {
            Ok(())
        } else {
            Err(format!("the cgroup2 mount's options are {options:?}, without nsdelegate (the host's mount is never remounted)"))
        }
    },
};

fn nsdelegate_migration_outside_root_enoent() -> Outcome {
    let scratch = Scratch::create()?;
    let made = scratch.subgroup("root").and_then(|root| Ok((root, scratch.subgroup("root/in")?, scratch.subgroup("out")?)));
    let outcome = made.and_then(|(root, inside, out)| {
        // A process outside the namespace root, in "out".
        let outsider = spawn(Spawn::fork(), |parent| {
            Scratch::enter(&out)?;
            parent.sync("the outsider's move")?;
            parent.recv::<()>("the end of the check")
        });
        outsider.and_then(|mut outsider| {
            outsider.sync("the outsider's move")?;
            let stranger = outsider.pid().to_string();
            let member = spawn(Spawn::fork(), |_| {
                Scratch::enter(&root)?;
                unshare(&[Kind::Cgroup])?;
                let me = getpid().to_string();
                expect_errno(
                    &format!("moving itself into {out}, a sibling of its namespace root"),
                    Errno::ENOENT,
                    write_file(&format!("{out}/cgroup.procs"), &me),
                )?;
                expect_errno(
                    &format!("moving {stranger}, a process in {out} outside its namespace root, into {inside}"),
                    Errno::ENOENT,
                    write_file(&format!("{inside}/cgroup.procs"), &stranger),
                )?;
                write_file(&format!("{inside}/cgroup.procs"), &me)
                    .at(&format!("moving itself into {inside}, a child of its namespace root"))?;
                let own = cgroups("self")?;
                expect_eq("/proc/self/cgroup after the moves", only_cgroup2(&own, "/in"), own.clone())
            })
            .and_then(|member| member.join());
            let ended = outsider.send("the end of the check", &()).and_then(|()| outsider.join());
            member.and(ended)
        })
    });
    let removed = scratch.remove();
    outcome.and(removed)
}

fn nsdelegate_namespace_root_files_eperm() -> Outcome {
    let scratch = Scratch::create()?;
    let made = scratch.subgroup("root").and_then(|root| Ok((root, scratch.subgroup("root/in")?)));
    let outcome = made.and_then(|(root, inside)| {
        let file = format!("{root}/cgroup.max.descendants");
        spawn(Spawn::fork(), |_| {
            Scratch::enter(&root)?;
            unshare(&[Kind::Cgroup])?;
            expect_errno(&format!("writing 5 to {file} (the namespace root's) from inside"), Errno::EPERM, write_file(&file, "5"))?;
            let below = format!("{inside}/cgroup.max.descendants");
            write_file(&below, "5").at(&format!("writing 5 to {below} (a child of the namespace root) from inside"))?;
            write_file(&format!("{root}/cgroup.procs"), &getpid().to_string())
                .at(&format!("writing {root}/cgroup.procs (delegatable) from inside"))
        })?
        .join()?;
        write_file(&file, "5").at(&format!("writing 5 to {file} from outside the namespace"))?;
        let value = std::fs::read_to_string(&file).at(&format!("reading {file}"))?;
        expect_eq(&format!("{file} after the writes"), "5", value.trim())
    });
    let removed = scratch.remove();
    outcome.and(removed)
}

fn cgroup2_mount_needs_admin_over_cgroupns_owner() -> Outcome {
    // From a cgroup namespace of the check's own, never the initial one: there a mount that
    // wrongly succeeded would apply its options to the whole hierarchy (apply_cgroup_root_flags()).
    spawn(Spawn::clone(&[Kind::Cgroup]), |_| {
        spawn(Spawn::clone(&[Kind::User, Kind::Mnt]).map_root(), |_| {
            mount(Some("tmpfs"), "/tmp", Some("tmpfs"), MsFlags::empty(), None::<&str>).at("mounting a tmpfs on /tmp")?;
            std::fs::create_dir("/tmp/cgroup2").at("mkdir /tmp/cgroup2")?;
            expect_errno(
                "mounting cgroup2 from a new user namespace, in a cgroup namespace owned by the parent user namespace",
                Errno::EPERM,
                mount(Some("cgroup2"), "/tmp/cgroup2", Some("cgroup2"), MsFlags::empty(), None::<&str>),
            )?;
            unshare(&[Kind::Cgroup])?;
            mount(Some("cgroup2"), "/tmp/cgroup2", Some("cgroup2"), MsFlags::empty(), None::<&str>)
                .at("mounting cgroup2 after creating a cgroup namespace owned by the new user namespace")
        })?
        .join()
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
