//! Mount namespaces: the copied mount table, isolation of later changes, propagation types
//! and their /proc/PID/mountinfo tags, locked mounts in less privileged copies, and mount
//! namespaces kept alive by a bind mount of their nsfs file (mount_namespaces(7)).
//!
//! Every check first mounts a tmpfs on /tmp inside a private mount namespace of its own (the
//! scratch namespace) and builds its trees there, so no mount can reach the host. Mount
//! namespaces cannot be configured out, so this kind has no `flag-refused-when-configured-out`
//! check: it could only ever skip.

use crate::scratch::{bind, dirs, in_scratch, tmpfs, tmpfs_with, touch, SOURCE};
use crate::sys::{dev_ino, own_ns, set_effective_cap, FsSibling};
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nsconform_harness::{expect_eq, expect_errno, expect_ne, expect_that, spawn, At, Check, Kind, Need, Outcome, Probe, Spawn, Stop};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

pub const CHECKS: &[Check] = &[
    Check::new(
        "mnt.new-namespace-copies-mount-table",
        "A new mount namespace starts with a copy of its creator's mount table",
        "mount_namespaces(7); copy_mnt_ns() and copy_tree() in fs/namespace.c",
        &[Need::Kind(Kind::Mnt)],
        new_namespace_copies_mount_table,
    ),
    Check::new(
        "mnt.mount-invisible-to-parent",
        "A mount made in a child mount namespace (private propagation) is not seen by its parent",
        "mount_namespaces(7); do_new_mount() attaches to current->nsproxy->mnt_ns only, fs/namespace.c",
        &[Need::Kind(Kind::Mnt)],
        || change_invisible_to_parent(Change::Mount),
    ),
    Check::new(
        "mnt.mount-invisible-to-child",
        "A mount made after a child mount namespace was created (private propagation) is not seen in the child",
        "mount_namespaces(7); do_new_mount() attaches to current->nsproxy->mnt_ns only, fs/namespace.c",
        &[Need::Kind(Kind::Mnt)],
        || change_invisible_to_child(Change::Mount),
    ),
    Check::new(
        "mnt.umount-invisible-to-parent",
        "An unmount in a child mount namespace (private propagation) leaves the parent's copy mounted",
        "mount_namespaces(7); umount(2); do_umount() in fs/namespace.c",
        &[Need::Kind(Kind::Mnt)],
        || change_invisible_to_parent(Change::Umount),
    ),
    Check::new(
        "mnt.umount-invisible-to-child",
        "An unmount after a child mount namespace was created (private propagation) leaves the child's copy mounted",
        "mount_namespaces(7); umount(2); do_umount() in fs/namespace.c",
        &[Need::Kind(Kind::Mnt)],
        || change_invisible_to_child(Change::Umount),
    ),
    Check::new(
        "mnt.shared-propagates-both-ways",
        "A shared mount copied into a new namespace of the same user namespace stays in its peer group (shared:N on both sides) and mounts propagate both ways",
        "mount_namespaces(7) SHARED SUBTREES, /proc/PID/mountinfo optional fields; clone_mnt() and propagate_mnt() in fs/namespace.c, fs/pnode.c; show_mountinfo() in fs/proc_namespace.c",
        &[Need::Kind(Kind::Mnt)],
        || exchange(Spawn::clone(&[Kind::Mnt]).keep_propagation(), None, shared_both_ways),
    ),
    Check::new(
        "mnt.slave-receives-but-does-not-send",
        "A mount made a slave (master:N) receives mounts from its former peer group and sends none back",
        "mount_namespaces(7) MS_SLAVE; change_mnt_propagation() and propagate_mnt() in fs/pnode.c; show_mountinfo() in fs/proc_namespace.c",
        &[Need::Kind(Kind::Mnt)],
        || exchange(Spawn::clone(&[Kind::Mnt]).keep_propagation(), Some(MsFlags::MS_SLAVE), slave_one_way),
    ),
    Check::new(
        "mnt.private-neither-sends-nor-receives",
        "A mount made private has no propagation tag and neither sends nor receives mounts",
        "mount_namespaces(7) MS_PRIVATE; change_mnt_propagation() in fs/pnode.c; show_mountinfo() in fs/proc_namespace.c",
        &[Need::Kind(Kind::Mnt)],
        || exchange(Spawn::clone(&[Kind::Mnt]).keep_propagation(), Some(MsFlags::MS_PRIVATE), |seen| isolated(seen, &[])),
    ),
    Check::new(
        "mnt.unbindable-neither-sends-nor-receives",
        "A mount made unbindable is tagged `unbindable` and neither sends nor receives mounts",
        "mount_namespaces(7) MS_UNBINDABLE; change_mnt_propagation() in fs/pnode.c; show_mountinfo() in fs/proc_namespace.c",
        &[Need::Kind(Kind::Mnt)],
        || exchange(Spawn::clone(&[Kind::Mnt]).keep_propagation(), Some(MsFlags::MS_UNBINDABLE), |seen| isolated(seen, &["unbindable"])),
    ),
    Check::new(
        "mnt.bind-of-unbindable-einval",
        "Bind-mounting an unbindable mount, recursively or not, gives EINVAL",
        "mount(2) ERRORS; mount_namespaces(7); __do_loopback() returns -EINVAL for IS_MNT_UNBINDABLE(old), fs/namespace.c",
        &[Need::Kind(Kind::Mnt)],
        bind_of_unbindable_einval,
    ),
    Check::new(
        "mnt.rbind-skips-unbindable-submounts",
        "A recursive bind copies a tree's submounts except the unbindable ones",
        "mount_namespaces(7) MS_UNBINDABLE; copy_tree() skips IS_MNT_UNBINDABLE children without CL_COPY_UNBINDABLE, fs/namespace.c",
        &[Need::Kind(Kind::Mnt)],
        rbind_skips_unbindable_submounts,
    ),
    Check::new(
        "mnt.less-privileged-copy-turns-shared-into-slave",
        "A copy owned by a new user namespace turns a shared mount into a slave of its peer group (master:N): it receives mounts and sends none",
        "mount_namespaces(7) restrictions; copy_mnt_ns() passes CL_SHARED_TO_SLAVE when the user namespace differs, clone_mnt() in fs/namespace.c",
        &[Need::Kind(Kind::Mnt), Need::Kind(Kind::User)],
        || exchange(Spawn::clone(&[Kind::User, Kind::Mnt]).map_root().keep_propagation(), None, slave_one_way),
    ),
    Check::new(
        "mnt.locked-mount-umount-einval",
        "In a copy owned by a less privileged user namespace the copied mounts are locked: umount gives EINVAL (MNT_DETACH too)",
        "mount_namespaces(7) restrictions; lock_mnt_tree() in fs/namespace.c sets MNT_LOCKED; can_umount() returns -EINVAL",
        &[Need::Kind(Kind::Mnt), Need::Kind(Kind::User)],
        || in_less_privileged_copy(prepare_locked_umount, locked_mount_umount_einval),
    ),
    Check::new(
        "mnt.locked-flags-remount-eperm",
        "In a less privileged copy, a remount that clears a locked RDONLY, NOSUID, NODEV or NOEXEC flag or changes the atime mode gives EPERM",
        "mount_namespaces(7) restrictions; lock_mnt_tree() sets MNT_LOCK_*; can_change_locked_flags() in fs/namespace.c",
        &[Need::Kind(Kind::Mnt), Need::Kind(Kind::User)],
        || in_less_privileged_copy(prepare_locked_flags, locked_flags_remount_eperm),
    ),
    Check::new(
        "mnt.bind-with-locked-children-einval",
        "In a less privileged copy, a non-recursive bind of a mount with locked children gives EINVAL (a recursive one works)",
        "mount_namespaces(7) restrictions; __do_loopback() returns -EINVAL when __has_locked_children(), fs/namespace.c",
        &[Need::Kind(Kind::Mnt), Need::Kind(Kind::User)],
        || in_less_privileged_copy(prepare_locked_children, bind_with_locked_children_einval),
    ),
    Check::new(
        "mnt.ns-file-bind-keeps-namespace-alive",
        "A bind mount of a newer namespace's /proc/PID/ns/mnt keeps it alive after its processes exit, and setns through it joins it",
        "namespaces(7) /proc/[pid]/ns; setns(2); do_loopback() with mnt_ns_loop() (ids per CPU since 6.18: the check stays on one CPU), mntns_install() in fs/namespace.c",
        &[Need::Kind(Kind::Mnt)],
        ns_file_bind_keeps_namespace_alive,
    ),
    Check::new(
        "mnt.ns-file-bind-of-older-namespace-einval",
        "Bind-mounting /proc/PID/ns/mnt of the caller's own or an older mount namespace gives EINVAL",
        "mount(2); mnt_ns_loop() in fs/namespace.c refuses a namespace whose sequence number (ns_id since 6.18, allocated in per-CPU batches: the check stays on one CPU) is not greater than the caller's",
        &[Need::Kind(Kind::Mnt)],
        ns_file_bind_of_older_namespace_einval,
    ),
    Check::new(
        "mnt.ns-file-bind-of-newer-namespace-from-any-cpu",
        "Bind-mounting /proc/PID/ns/mnt of a newer mount namespace works whichever CPUs the two namespaces were created on",
        "mount(2); namespaces(7); mnt_ns_loop() in fs/namespace.c must refuse only the caller's own or an older namespace. Known bug from 6.18: 7d7d16498958 (\"mnt: support ns lookup\") draws ns_id from per-CPU batches, so a newer namespace created on another CPU can carry a smaller id and is refused with EINVAL (worked around in canonical/snapd PR 17376)",
        &[
            Need::Kind(Kind::Mnt),
            Need::Probe(Probe { what: "two CPUs to create namespaces on", run: || two_cpus().map(drop) }),
            Need::KnownBug { since: (6, 18), bug: MNT_NS_ID_PER_CPU },
        ],
        ns_file_bind_of_newer_namespace_from_any_cpu,
    )
    .alone("mount namespace ids come from per-CPU batches: another check creating mount namespaces meanwhile would change which ids its two namespaces get"),
    Check::new(
        "mnt.unshare-unshares-cwd-and-root",
        "unshare(CLONE_NEWNS) also unshares the fs_struct: a sibling created with CLONE_FS, which saw its creator's chdir before, no longer sees its chdir or chroot after",
        "unshare(2) CLONE_NEWNS implies CLONE_FS; ksys_unshare() in kernel/fork.c adds CLONE_FS, unshare_fs() copies a shared fs_struct",
        &[Need::Kind(Kind::Mnt)],
        unshare_unshares_cwd_and_root,
    ),
    Check::new(
        "mnt.pivot-root-moves-root-to-put-old",
        "pivot_root(new_root, put_old) in a new mount namespace makes the mount at new_root the caller's root and cwd and mounts the old root on put_old",
        "pivot_root(2); SYSCALL_DEFINE2(pivot_root) in fs/namespace.c: attach_mnt() of the old root on put_old, chroot_fs_refs()",
        &[Need::Kind(Kind::Mnt)],
        pivot_root_moves_root_to_put_old,
    ),
    Check::new(
        "mnt.pivot-root-refusals",
        "pivot_root gives EINVAL when new_root is not a mount point, put_old is not under new_root or the caller's root is not a mount point, EBUSY when new_root is the current root, ENOTDIR for a file, EPERM without CAP_SYS_ADMIN; the valid call then succeeds",
        "pivot_root(2) ERRORS; SYSCALL_DEFINE2(pivot_root) in fs/namespace.c: may_mount(), LOOKUP_DIRECTORY, new_mnt == root_mnt, path_mounted(), is_path_reachable()",
        &[Need::Kind(Kind::Mnt)],
        pivot_root_refusals,
    ),
    crate::fixture::create_without_cap_sys_admin_eperm!("mnt.create-without-cap-sys-admin-eperm", Kind::Mnt),
    Check::new(
        "mnt.mount-needs-cap-sys-admin-in-namespace-owner",
        "Root of a child user namespace can neither mount nor unmount in a mount namespace that an ancestor user namespace owns (EPERM), and can mount once it has a mount namespace of its own",
        "user_namespaces(7) (mount namespaces owned by a user namespace); may_mount() checks ns_capable(current->nsproxy->mnt_ns->user_ns, CAP_SYS_ADMIN) for path_mount() and path_umount(), fs/namespace.c",
        &[Need::Kind(Kind::Mnt), Need::Kind(Kind::User)],
        mount_needs_cap_sys_admin_in_namespace_owner,
    ),
    Check::new(
        "mnt.unbindable-copied-into-new-namespace",
        "An unbindable mount is copied into a new mount namespace, tagged `unbindable` there, and cannot be bind-mounted there (EINVAL, recursively or not)",
        "mount_namespaces(7) MS_UNBINDABLE; copy_mnt_ns() passes CL_COPY_UNBINDABLE to copy_tree(), clone_mnt() copies the mount's flags, __do_loopback() refuses IS_MNT_UNBINDABLE(old), fs/namespace.c",
        &[Need::Kind(Kind::Mnt), Need::KnownBug { since: (6, 17), bug: UNBINDABLE_NOT_CLONED }],
        unbindable_copied_into_new_namespace,
    ),
    Check::new(
        "mnt.umount-propagates-to-shared-copy",
        "An unmount under a shared mount also unmounts the copy's peer in a new mount namespace of the same user namespace",
        "mount_namespaces(7) SHARED SUBTREES; umount(2); do_umount() calls umount_tree(mnt, UMOUNT_PROPAGATE | UMOUNT_SYNC), propagate_umount() in fs/pnode.c",
        &[Need::Kind(Kind::Mnt)],
        umount_propagates_to_shared_copy,
    ),
    Check::new(
        "mnt.move-from-other-namespace-einval",
        "Moving a mount of another mount namespace (reached through /proc/PID/root) gives EINVAL, with mount(MS_MOVE) and with move_mount; moving one of the caller's works",
        "mount(2) MS_MOVE, move_mount(2) ERRORS; do_move_mount() in fs/namespace.c: an attached source must pass check_mnt() (be in current->nsproxy->mnt_ns), else -EINVAL",
        &[Need::Kind(Kind::Mnt), Need::Probe(OPEN_TREE)],
        move_from_other_namespace_einval,
    ),
    Check::new(
        "mnt.ns-file-move-into-own-namespace-eloop",
        "A detached copy of a mount namespace's own /proc/PID/ns/mnt (open_tree OPEN_TREE_CLONE) moved into that namespace gives ELOOP; a copy of a newer namespace's file moves in",
        "open_tree(2), move_mount(2); do_move_mount() returns -ELOOP when check_for_nsfs_mounts() finds mnt_ns_loop() true (namespace not newer than the caller's), fs/namespace.c",
        &[Need::Kind(Kind::Mnt), Need::Probe(OPEN_TREE)],
        ns_file_move_into_own_namespace_eloop,
    ),
];

/// open_tree(2) and move_mount(2) exist (Linux 5.2): with unknown flags open_tree gives
/// EINVAL, ENOSYS without it.
const OPEN_TREE: Probe = Probe {
    what: "open_tree(2) and move_mount(2)",
    run: || {
        // SAFETY: an empty path and flags no kernel accepts: refused before anything is looked up.
        match crate::sys::errno_result(unsafe { libc::syscall(libc::SYS_open_tree, -1, c"".as_ptr(), u32::MAX) }) {
            Err(Errno::ENOSYS) => Err("the kernel has no open_tree (ENOSYS): the new mount API came with Linux 5.2".into()),
            _ => Ok(()),
        }
    },
};

/// One line of /proc/self/mountinfo (proc(5)).
#[derive(Debug)]
struct Mount {
    point: String,
    options: String,
    /// The optional fields: shared:N, master:N, propagate_from:N, unbindable.
    tags: Vec<String>,
    fstype: String,
    source: String,
}

fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split(' ').collect();
    let mut rest = right.split(' ');
    Some(Mount {
        point: fields.get(4)?.replace("\\040", " "),
        options: fields.get(5)?.to_string(),
        tags: fields.get(6..)?.iter().map(|s| s.to_string()).collect(),
        fstype: rest.next()?.to_string(),
        source: rest.next()?.to_string(),
    })
}

fn mountinfo_of(pid: &str) -> Result<Vec<Mount>, Stop> {
    let path = format!("/proc/{pid}/mountinfo");
    let text = std::fs::read_to_string(&path).at(&format!("reading {path}"))?;
    Ok(text.lines().filter_map(parse_mountinfo_line).collect())
}

/// The topmost tmpfs of this suite mounted on `point` in the caller's namespace.
fn ours_at(point: &str) -> Result<Option<Mount>, Stop> {
    Ok(mountinfo_of("self")?.into_iter().rfind(|m| m.point == point && m.source == SOURCE))
}

fn is_mounted(point: &str) -> Result<bool, Stop> {
    Ok(ours_at(point)?.is_some())
}

/// The propagation tags of the suite's mount on `point`.
fn tags(point: &str) -> Result<Vec<String>, Stop> {
    let mount = ours_at(point)?;
    mount.map(|m| m.tags).ok_or_else(|| Stop::fail(format!("finding {point} in /proc/self/mountinfo"), "a mount", "none"))
}

/// The peer group N of a `shared:N` or `master:N` tag.
fn group(tags: &[String], prefix: &str) -> Option<u32> {
    tags.iter().find_map(|t| t.strip_prefix(prefix)?.parse().ok())
}

fn set_propagation(point: &str, flags: MsFlags) -> Outcome {
    mount(None::<&str>, point, None::<&str>, flags, None::<&str>).at(&format!("setting the propagation of {point} to {flags:?}"))
}

fn new_namespace_copies_mount_table() -> Outcome {
    in_scratch(|| {
        dirs(&["/tmp/a", "/tmp/b"])?;
        tmpfs("/tmp/a")?;
        tmpfs_with("/tmp/b", MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC)?;
        spawn(Spawn::clone(&[Kind::Mnt]), |_| {
            // Both tables read here at once: the parent's through /proc/PPID (its view). The copy
            // lists mounts in tree order (copy_tree() in fs/namespace.c), not in the creator's
            // order of mounting, so the tables are compared as sorted lists.
            let summary = |mounts: Vec<Mount>| -> Vec<String> {
                let mut lines: Vec<String> =
                    mounts.into_iter().map(|m| format!("{} {} {} {}", m.point, m.options, m.fstype, m.source)).collect();
                lines.sort();
                lines
            };
            let parent = summary(mountinfo_of(&nix::unistd::getppid().to_string())?);
            let own = summary(mountinfo_of("self")?);
            expect_that(
                "the parent's table includes the scratch mounts",
                parent.iter().any(|m| m.starts_with("/tmp/b ro,")),
                "/tmp/b read-only",
                parent.join("; "),
            )?;
            expect_eq("mount points, options, types and sources of the new namespace vs its creator's", parent, own)
        })?
        .join()
    })
}

/// A change to the mount table of the scratch namespace: mounting a tmpfs on /tmp/later,
/// or unmounting the one on /tmp/before.
#[derive(Clone, Copy)]
enum Change {
    Mount,
    Umount,
}

impl Change {
    fn prepare(self) -> Outcome {
        dirs(&["/tmp/before", "/tmp/later"])?;
        tmpfs("/tmp/before")
    }

    fn point(self) -> &'static str {
        match self {
            Change::Mount => "/tmp/later",
            Change::Umount => "/tmp/before",
        }
    }

    /// Makes the change and confirms it took effect where it was made.
    fn make(self) -> Outcome {
        match self {
            Change::Mount => tmpfs("/tmp/later")?,
            Change::Umount => umount2("/tmp/before", MntFlags::empty()).at("unmounting /tmp/before")?,
        }
        let mounted = matches!(self, Change::Mount);
        expect_eq(&format!("{} mounted where the change was made", self.point()), mounted, is_mounted(self.point())?)
    }

    /// Fails unless the other namespace still has the table from before the change.
    fn expect_unmade(self, whose: &str) -> Outcome {
        let mounted = matches!(self, Change::Umount);
        expect_eq(&format!("{} mounted in {whose} after the other namespace's change", self.point()), mounted, is_mounted(self.point())?)
    }
}

fn change_invisible_to_parent(change: Change) -> Outcome {
    in_scratch(|| {
        change.prepare()?;
        let mut child = spawn(Spawn::clone(&[Kind::Mnt]), |to_parent| {
            change.make()?;
            to_parent.sync("the child's change")
        })?;
        child.sync("the child's change")?;
        change.expect_unmade("the parent")?;
        child.join()
    })
}

fn change_invisible_to_child(change: Change) -> Outcome {
    in_scratch(|| {
        change.prepare()?;
        let mut child = spawn(Spawn::clone(&[Kind::Mnt]), |to_parent| {
            to_parent.sync("the child's start")?;
            to_parent.sync("the parent's change")?;
            change.expect_unmade("the child")
        })?;
        child.sync("the child's start")?;
        change.make()?;
        child.sync("the parent's change")?;
        child.join()
    })
}

/// What each side of a propagation exchange saw.
struct Seen {
    creator_tags: Vec<String>,
    copy_tags: Vec<String>,
    /// The copy sees the tmpfs the creator mounted under /tmp/p afterwards.
    to_copy: bool,
    /// The creator sees the tmpfs the copy mounted under /tmp/p afterwards.
    to_creator: bool,
}

/// In the scratch namespace (the creator) /tmp/p is a shared tmpfs. A copy of the namespace
/// made as `copy` says gives its /tmp/p the propagation `retype` (None: keeps what it got);
/// then each side mounts a tmpfs under /tmp/p and the other tells whether it sees it.
fn exchange(copy: Spawn, retype: Option<MsFlags>, judge: fn(&Seen) -> Outcome) -> Outcome {
    in_scratch(move || {
        dirs(&["/tmp/p"])?;
        tmpfs("/tmp/p")?;
        dirs(&["/tmp/p/from-creator", "/tmp/p/from-copy"])?;
        set_propagation("/tmp/p", MsFlags::MS_SHARED)?;
        let mut other = spawn(copy, move |to_creator| {
            if let Some(flags) = retype {
                set_propagation("/tmp/p", flags)?;
            }
            to_creator.send("the copy's tags", &tags("/tmp/p")?)?;
            to_creator.sync("the creator's mount")?;
            to_creator.send("whether the copy sees it", &is_mounted("/tmp/p/from-creator")?)?;
            tmpfs("/tmp/p/from-copy")?;
            to_creator.sync("the copy's mount")
        })?;
        let copy_tags = other.recv::<Vec<String>>("the copy's tags")?;
        tmpfs("/tmp/p/from-creator")?;
        other.sync("the creator's mount")?;
        let to_copy = other.recv::<bool>("whether the copy sees it")?;
        other.sync("the copy's mount")?;
        let seen = Seen { creator_tags: tags("/tmp/p")?, copy_tags, to_copy, to_creator: is_mounted("/tmp/p/from-copy")? };
        other.join()?;
        judge(&seen)
    })
}

fn creator_group(seen: &Seen) -> Result<u32, Stop> {
    group(&seen.creator_tags, "shared:")
        .ok_or_else(|| Stop::fail("the creator's tags for /tmp/p after MS_SHARED", "shared:N", seen.creator_tags.join(" ")))
}

fn shared_both_ways(seen: &Seen) -> Outcome {
    let n = creator_group(seen)?;
    expect_eq("the copy's peer group of /tmp/p", Some(n), group(&seen.copy_tags, "shared:"))?;
    expect_that("a mount by the creator, seen in the copy", seen.to_copy, "propagated", "absent")?;
    expect_that("a mount by the copy, seen by the creator", seen.to_creator, "propagated", "absent")
}

fn slave_one_way(seen: &Seen) -> Outcome {
    let n = creator_group(seen)?;
    expect_eq("the copy's master of /tmp/p (master:N)", Some(n), group(&seen.copy_tags, "master:"))?;
    expect_eq("the copy's own peer group of /tmp/p", None, group(&seen.copy_tags, "shared:"))?;
    expect_that("a mount by the creator, seen in the copy", seen.to_copy, "propagated", "absent")?;
    expect_that("a mount by the copy, seen by the creator", !seen.to_creator, "absent", "propagated")
}

/// A mount type that exchanges nothing and carries exactly `expected_tags`.
fn isolated(seen: &Seen, expected_tags: &[&str]) -> Outcome {
    creator_group(seen)?;
    expect_eq("the copy's tags for /tmp/p", expected_tags.join(" "), seen.copy_tags.join(" "))?;
    expect_that("a mount by the creator, seen in the copy", !seen.to_copy, "absent", "propagated")?;
    expect_that("a mount by the copy, seen by the creator", !seen.to_creator, "absent", "propagated")
}

fn bind_of_unbindable_einval() -> Outcome {
    in_scratch(|| {
        dirs(&["/tmp/u", "/tmp/target"])?;
        tmpfs("/tmp/u")?;
        set_propagation("/tmp/u", MsFlags::MS_UNBINDABLE)?;
        expect_eq("the tags of /tmp/u", vec!["unbindable".to_string()], tags("/tmp/u")?)?;
        expect_errno("bind-mounting the unbindable /tmp/u", Errno::EINVAL, bind("/tmp/u", "/tmp/target", MsFlags::empty()))?;
        expect_errno("recursively bind-mounting the unbindable /tmp/u", Errno::EINVAL, bind("/tmp/u", "/tmp/target", MsFlags::MS_REC))
    })
}

fn rbind_skips_unbindable_submounts() -> Outcome {
    in_scratch(|| {
        dirs(&["/tmp/tree", "/tmp/copy"])?;
        tmpfs("/tmp/tree")?;
        dirs(&["/tmp/tree/kept", "/tmp/tree/skipped"])?;
        tmpfs("/tmp/tree/kept")?;
        tmpfs("/tmp/tree/skipped")?;
        set_propagation("/tmp/tree/skipped", MsFlags::MS_UNBINDABLE)?;
        bind("/tmp/tree", "/tmp/copy", MsFlags::MS_REC).at("recursively bind-mounting /tmp/tree on /tmp/copy")?;
        expect_that("/tmp/copy after the rbind", is_mounted("/tmp/copy")?, "mounted", "not mounted")?;
        expect_that("the bindable submount /tmp/copy/kept", is_mounted("/tmp/copy/kept")?, "copied", "missing")?;
        expect_that("the unbindable submount /tmp/copy/skipped", !is_mounted("/tmp/copy/skipped")?, "skipped", "copied")
    })
}

/// In the scratch namespace, `prepare` builds mounts; then `body` runs in a copy of the
/// namespace owned by a new user namespace, where those mounts are locked.
fn in_less_privileged_copy(prepare: fn() -> Outcome, body: fn() -> Outcome) -> Outcome {
    in_scratch(|| {
        prepare()?;
        spawn(Spawn::clone(&[Kind::User, Kind::Mnt]).map_root(), |_| body())?.join()
    })
}

fn prepare_locked_umount() -> Outcome {
    dirs(&["/tmp/locked", "/tmp/own"])?;
    tmpfs("/tmp/locked")
}

fn locked_mount_umount_einval() -> Outcome {
    expect_errno("umount of the copied (locked) /tmp/locked", Errno::EINVAL, umount2("/tmp/locked", MntFlags::empty()))?;
    expect_errno("umount(MNT_DETACH) of the copied (locked) /tmp/locked", Errno::EINVAL, umount2("/tmp/locked", MntFlags::MNT_DETACH))?;
    // The copy's own mounts are not locked: the refusal is the lock, not a lack of privilege.
    tmpfs("/tmp/own")?;
    umount2("/tmp/own", MntFlags::empty()).at("umount of a tmpfs the copy mounted itself")
}

/// The flags the creator mounts /tmp/flags with; each is locked in the copy.
const LOCKED_FLAGS: [(MsFlags, &str); 4] = [
    (MsFlags::MS_RDONLY, "MS_RDONLY"),
    (MsFlags::MS_NOSUID, "MS_NOSUID"),
    (MsFlags::MS_NODEV, "MS_NODEV"),
    (MsFlags::MS_NOEXEC, "MS_NOEXEC"),
];

fn all_locked_flags() -> MsFlags {
    LOCKED_FLAGS.iter().fold(MsFlags::MS_NOATIME, |acc, (f, _)| acc | *f)
}

fn prepare_locked_flags() -> Outcome {
    dirs(&["/tmp/flags"])?;
    tmpfs_with("/tmp/flags", all_locked_flags())
}

fn remount(flags: MsFlags) -> Result<(), Errno> {
    mount(None::<&str>, "/tmp/flags", None::<&str>, MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags, None::<&str>)
}

fn locked_flags_remount_eperm() -> Outcome {
    // Keeping every locked flag is allowed: the refusals below are about clearing one.
    remount(all_locked_flags()).at("remounting /tmp/flags with all its flags kept")?;
    for (flag, name) in LOCKED_FLAGS {
        expect_errno(&format!("remount of /tmp/flags clearing the locked {name}"), Errno::EPERM, remount(all_locked_flags() - flag))?;
    }
    let strictatime = (all_locked_flags() - MsFlags::MS_NOATIME) | MsFlags::MS_STRICTATIME;
    expect_errno("remount of /tmp/flags changing the locked atime mode from noatime to strictatime", Errno::EPERM, remount(strictatime))
}

fn prepare_locked_children() -> Outcome {
    dirs(&["/tmp/tree", "/tmp/target"])?;
    tmpfs("/tmp/tree")?;
    dirs(&["/tmp/tree/child"])?;
    tmpfs("/tmp/tree/child")
}

fn bind_with_locked_children_einval() -> Outcome {
    expect_errno(
        "non-recursive bind of /tmp/tree, whose child mount is locked",
        Errno::EINVAL,
        bind("/tmp/tree", "/tmp/target", MsFlags::empty()),
    )?;
    bind("/tmp/tree", "/tmp/target", MsFlags::MS_REC).at("recursive bind of /tmp/tree with its locked child")
}

/// Keeps the check's processes on the CPU it runs on. mnt_ns_loop() orders namespaces by
/// their id; since 6.18 ids come from per-CPU batches (ns_tree_gen_id()), so only namespaces
/// created on one CPU are numbered in creation order.
/// Older kernels number them globally: there a failure to pin does not matter.
fn pin_to_this_cpu() -> Outcome {
    use nix::sched::{sched_setaffinity, CpuSet};
    let pinned = (|| {
        // SAFETY: plain system call without arguments.
        let cpu = Errno::result(unsafe { libc::sched_getcpu() })?;
        let mut set = CpuSet::new();
        set.set(cpu as usize)?;
        sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
    })();
    match pinned {
        Err(e) if nsconform_harness::host::facts().version >= (6, 18, 0) => Err(Stop::skip(format!(
            "cannot pin the check to one CPU ({e}), and since 6.18 mount namespace ids follow creation order only per CPU"
        ))),
        _ => Ok(()),
    }
}

fn ns_file_bind_keeps_namespace_alive() -> Outcome {
    pin_to_this_cpu()?;
    in_scratch(|| {
        touch("/tmp/mntns")?;
        dirs(&["/tmp/inside"])?;
        let mut child = spawn(Spawn::clone(&[Kind::Mnt]), |to_parent| {
            tmpfs("/tmp/inside")?;
            to_parent.send("its namespace", &own_ns("mnt")?)?;
            to_parent.recv::<()>("the order to exit")
        })?;
        let inode = child.recv::<u64>("its namespace")?;
        bind(&format!("/proc/{}/ns/mnt", child.pid()), "/tmp/mntns", MsFlags::empty())
            .at("bind-mounting the child's (newer) /proc/PID/ns/mnt on /tmp/mntns")?;
        child.send("the order to exit", &())?;
        child.join()?;
        spawn(Spawn::fork(), move |_| {
            let ns = std::fs::File::open("/tmp/mntns").at("opening the bind mount /tmp/mntns")?;
            nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNS).at("setns into the mount namespace whose processes exited")?;
            expect_eq("/proc/self/ns/mnt after setns", inode, own_ns("mnt")?)?;
            expect_that("the dead child's tmpfs on /tmp/inside", is_mounted("/tmp/inside")?, "mounted", "not mounted")
        })?
        .join()
    })
}

fn ns_file_bind_of_older_namespace_einval() -> Outcome {
    pin_to_this_cpu()?;
    in_scratch(|| {
        touch("/tmp/mntns")?;
        expect_errno(
            "bind-mounting the caller's own /proc/self/ns/mnt",
            Errno::EINVAL,
            bind("/proc/self/ns/mnt", "/tmp/mntns", MsFlags::empty()),
        )?;
        let creator = nix::unistd::getpid();
        spawn(Spawn::clone(&[Kind::Mnt]), move |_| {
            let older = format!("/proc/{creator}/ns/mnt");
            expect_errno("bind-mounting the parent's (older) /proc/PID/ns/mnt", Errno::EINVAL, bind(&older, "/tmp/mntns", MsFlags::empty()))
        })?
        .join()
    })
}

/// The upstream bug behind a FAIL of the any-CPU ordering check (reported, not worked around).
const MNT_NS_ID_PER_CPU: &str = "Linux 6.18+, 7d7d16498958 (\"mnt: support ns lookup\") draws mount namespace ids from per-CPU batches and mnt_ns_loop() refuses a newer namespace with a smaller id (EINVAL); worked around in canonical/snapd PR 17376";

/// The upstream bug behind a FAIL of mnt.unbindable-copied-into-new-namespace.
const UNBINDABLE_NOT_CLONED: &str = "Linux 6.17+: 406fea799925 (\"mount: separate the flags accessed only under namespace_sem\") moved MNT_UNBINDABLE into mount->mnt_t_flags (T_UNBINDABLE), which clone_mnt() did not copy, so a new namespace's copy of an unbindable mount is private and bindable; fixed by \"mount: keep a copied mount unbindable\" (in stable 7.2.11, per Debian's changelog; clone_mnt() copies old->mnt_t_flags & T_UNBINDABLE), not yet in 6.18.44";

/// The first two CPUs this process may run on.
fn two_cpus() -> Result<(usize, usize), String> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).map_err(|e| format!("sched_getaffinity: {e}"))?;
    let mut allowed = (0..nix::sched::CpuSet::count()).filter(|&cpu| set.is_set(cpu).unwrap_or(false));
    match (allowed.next(), allowed.next()) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err("the run may use only one CPU".into()),
    }
}

fn run_on(cpu: usize) -> Outcome {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).setup("a CPU set")?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).setup(&format!("moving to CPU {cpu}"))
}

/// Each order of two CPUs: the caller's namespace created on one, a newer one on the other,
/// then the caller binds the newer one's /proc/PID/ns/mnt. With ids from per-CPU batches one
/// of the two orders gives the newer namespace the smaller id.
fn ns_file_bind_of_newer_namespace_from_any_cpu() -> Outcome {
    let (a, b) = two_cpus().map_err(Stop::skip)?;
    for (older_cpu, newer_cpu) in [(a, b), (b, a)] {
        spawn(Spawn::fork(), move |_| {
            run_on(older_cpu)?;
            in_scratch(|| {
                touch("/tmp/mntns")?;
                run_on(newer_cpu)?;
                let mut child = spawn(Spawn::clone(&[Kind::Mnt]), |to_parent| {
                    to_parent.send("its namespace", &own_ns("mnt")?)?;
                    to_parent.recv::<()>("the order to exit")
                })?;
                let newer = child.recv::<u64>("its namespace")?;
                expect_ne("the child's mount namespace", own_ns("mnt")?, newer)?;
                let bound = bind(&format!("/proc/{}/ns/mnt", child.pid()), "/tmp/mntns", MsFlags::empty());
                child.send("the order to exit", &())?;
                child.join()?;
                bound.at(&format!(
                    "bind-mounting /proc/PID/ns/mnt of a namespace created on CPU {newer_cpu} from the older namespace created on CPU {older_cpu}"
                ))
            })
        })?
        .join()?;
    }
    Ok(())
}

fn unshare_unshares_cwd_and_root() -> Outcome {
    spawn(Spawn::fork(), |_| {
        std::env::set_current_dir("/").at("chdir(\"/\")")?;
        let mut sibling = FsSibling::spawn()?;
        let before = sibling.view()?;
        std::env::set_current_dir("/proc").at("chdir(\"/proc\")")?;
        expect_eq("the CLONE_FS sibling's cwd after its creator's chdir(\"/proc\")", "/proc".to_string(), sibling.view()?.cwd)?;
        nsconform_harness::unshare(&[Kind::Mnt])?;
        std::env::set_current_dir("/").at("chdir(\"/\") after unshare(CLONE_NEWNS)")?;
        nix::unistd::chroot("/proc").at("chroot(\"/proc\") after unshare(CLONE_NEWNS)")?;
        let after = sibling.view()?;
        expect_eq("the CLONE_FS sibling's cwd after its creator's unshare(CLONE_NEWNS) and chdir(\"/\")", "/proc".to_string(), after.cwd)?;
        expect_eq("the CLONE_FS sibling's root (st_dev, st_ino of /) after its creator's chroot(\"/proc\")", before.root, after.root)?;
        sibling.finish()
    })?
    .join()
}

/// Runs `body` chrooted into a tree for pivot_root in a new mount namespace: the root is a
/// tmpfs (a mount point, as pivot_root wants) holding /marker, /new (a tmpfs) with /new/old,
/// /new/dir/old and the file /new/file, /other (a tmpfs), and /plain, a directory holding
/// /plain/new (a tmpfs) with /plain/new/old.
fn in_pivot_tree(body: impl FnOnce() -> Outcome) -> Outcome {
    in_scratch(|| {
        dirs(&["/tmp/new", "/tmp/other", "/tmp/plain", "/tmp/plain/new"])?;
        tmpfs("/tmp/new")?;
        tmpfs("/tmp/other")?;
        tmpfs("/tmp/plain/new")?;
        dirs(&["/tmp/new/old", "/tmp/new/dir", "/tmp/new/dir/old", "/tmp/plain/new/old"])?;
        touch("/tmp/new/file")?;
        touch("/tmp/marker")?;
        nix::unistd::chroot("/tmp").at("chroot(\"/tmp\"), the scratch tmpfs")?;
        std::env::set_current_dir("/").at("chdir(\"/\")")?;
        body()
    })
}

fn pivot_root_moves_root_to_put_old() -> Outcome {
    in_pivot_tree(|| {
        let (old_root, new_root) = (dev_ino("/")?, dev_ino("/new")?);
        nix::unistd::pivot_root("/new", "/new/old").at("pivot_root(\"/new\", \"/new/old\")")?;
        expect_eq("(st_dev, st_ino) of / after pivot_root: the former /new", new_root, dev_ino("/")?)?;
        expect_eq("(st_dev, st_ino) of the cwd, which was the old root: the new root", new_root, dev_ino(".")?)?;
        expect_eq("(st_dev, st_ino) of /old: the old root", old_root, dev_ino("/old")?)?;
        let marker = std::path::Path::new("/old/marker").exists();
        expect_that("/old/marker, a file of the old root", marker, "exists", "missing")
    })
}

fn pivot_root_refusals() -> Outcome {
    in_pivot_tree(|| {
        let pivot = |new: &str, old: &str| nix::unistd::pivot_root(new, old);
        expect_errno(
            "pivot_root(\"/new/dir\", \"/new/dir/old\"): new_root is not a mount point",
            Errno::EINVAL,
            pivot("/new/dir", "/new/dir/old"),
        )?;
        expect_errno("pivot_root(\"/new\", \"/other\"): put_old is not under new_root", Errno::EINVAL, pivot("/new", "/other"))?;
        expect_errno("pivot_root(\"/\", \"/new/old\"): new_root is the current root", Errno::EBUSY, pivot("/", "/new/old"))?;
        expect_errno("pivot_root(\"/new/file\", \"/new/old\"): new_root is a file", Errno::ENOTDIR, pivot("/new/file", "/new/old"))?;
        spawn(Spawn::fork(), |_| {
            set_effective_cap(nsconform_harness::host::CAP_SYS_ADMIN, false).at("clearing CAP_SYS_ADMIN from the effective set")?;
            expect_errno("pivot_root(\"/new\", \"/new/old\") without CAP_SYS_ADMIN", Errno::EPERM, pivot("/new", "/new/old"))
        })?
        .join()?;
        spawn(Spawn::fork(), |_| {
            nix::unistd::chroot("/plain").at("chroot(\"/plain\"), a directory that is not a mount point")?;
            std::env::set_current_dir("/").at("chdir(\"/\")")?;
            expect_errno(
                "pivot_root(\"/new\", \"/new/old\") with a root that is not a mount point",
                Errno::EINVAL,
                pivot("/new", "/new/old"),
            )
        })?
        .join()?;
        pivot("/new", "/new/old").at("pivot_root(\"/new\", \"/new/old\") after the refusals")
    })
}

fn unbindable_copied_into_new_namespace() -> Outcome {
    in_scratch(|| {
        dirs(&["/tmp/u", "/tmp/target"])?;
        tmpfs("/tmp/u")?;
        set_propagation("/tmp/u", MsFlags::MS_UNBINDABLE)?;
        // keep_propagation: the default private remount of the copy would clear `unbindable`.
        spawn(Spawn::clone(&[Kind::Mnt]).keep_propagation(), |_| {
            let copied = ours_at("/tmp/u")?;
            expect_that("/tmp/u in the new mount namespace", copied.is_some(), "copied", "missing")?;
            expect_eq("the tags of /tmp/u in the new namespace", vec!["unbindable".to_string()], tags("/tmp/u")?)?;
            expect_errno("bind-mounting the copied unbindable /tmp/u", Errno::EINVAL, bind("/tmp/u", "/tmp/target", MsFlags::empty()))?;
            expect_errno(
                "recursively bind-mounting the copied unbindable /tmp/u",
                Errno::EINVAL,
                bind("/tmp/u", "/tmp/target", MsFlags::MS_REC),
            )
        })?
        .join()
    })
}

fn umount_propagates_to_shared_copy() -> Outcome {
    in_scratch(|| {
        dirs(&["/tmp/p"])?;
        tmpfs("/tmp/p")?;
        dirs(&["/tmp/p/sub"])?;
        set_propagation("/tmp/p", MsFlags::MS_SHARED)?;
        tmpfs("/tmp/p/sub")?;
        let mut copy = spawn(Spawn::clone(&[Kind::Mnt]).keep_propagation(), |to_creator| {
            expect_that("/tmp/p/sub in the copy before the creator's umount", is_mounted("/tmp/p/sub")?, "mounted", "not mounted")?;
            to_creator.sync("the copy's start")?;
            to_creator.sync("the creator's umount")?;
            expect_that("/tmp/p/sub in the copy after the creator's umount", !is_mounted("/tmp/p/sub")?, "unmounted", "still mounted")
        })?;
        copy.sync("the copy's start")?;
        umount2("/tmp/p/sub", MntFlags::empty()).at("unmounting /tmp/p/sub in the creator")?;
        copy.sync("the creator's umount")?;
        copy.join()
    })
}

fn move_from_other_namespace_einval() -> Outcome {
    in_scratch(|| {
        dirs(&["/tmp/x", "/tmp/target", "/tmp/own"])?;
        let mut other = spawn(Spawn::clone(&[Kind::Mnt]), |to_parent| {
            tmpfs("/tmp/x")?;
            to_parent.sync("its mount")?;
            to_parent.recv::<()>("the order to exit")
        })?;
        other.sync("its mount")?;
        let foreign = format!("/proc/{}/root/tmp/x", other.pid());
        let moved = |source: &str| mount(Some(source), "/tmp/target", None::<&str>, MsFlags::MS_MOVE, None::<&str>);
        expect_errno(
            &format!("mount(\"{foreign}\", \"/tmp/target\", MS_MOVE): a mount of another namespace"),
            Errno::EINVAL,
            moved(&foreign),
        )?;
        let path = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(&foreign)
            .at(&format!("open(\"{foreign}\", O_PATH)"))?;
        expect_errno(
            "move_mount of an O_PATH fd of the other namespace's mount to /tmp/target",
            Errno::EINVAL,
            crate::idmap::move_mount(&path, "/tmp/target"),
        )?;
        expect_that("/tmp/target after the refused moves", !is_mounted("/tmp/target")?, "not mounted", "mounted")?;
        tmpfs("/tmp/own")?;
        moved("/tmp/own").at("mount(\"/tmp/own\", \"/tmp/target\", MS_MOVE) of the caller's own mount")?;
        expect_that("/tmp/target after moving the caller's own mount", is_mounted("/tmp/target")?, "mounted", "not mounted")?;
        other.send("the order to exit", &())?;
        other.join()
    })
}

fn ns_file_move_into_own_namespace_eloop() -> Outcome {
    pin_to_this_cpu()?;
    in_scratch(|| {
        touch("/tmp/own")?;
        touch("/tmp/newer")?;
        let own = crate::idmap::open_tree_clone("/proc/self/ns/mnt").at("open_tree(\"/proc/self/ns/mnt\", OPEN_TREE_CLONE)")?;
        let moved = crate::idmap::move_mount(&own, "/tmp/own");
        if moved.is_ok() {
            // The namespace would pin itself and never be freed: undo the cycle before failing.
            umount2("/tmp/own", MntFlags::MNT_DETACH).at("detaching the wrongly attached /tmp/own")?;
        }
        expect_errno("move_mount of the copy of the caller's own /proc/self/ns/mnt onto /tmp/own, in that namespace", Errno::ELOOP, moved)?;
        let mut child = spawn(Spawn::clone(&[Kind::Mnt]), |to_parent| {
            to_parent.sync("its namespace")?;
            to_parent.recv::<()>("the order to exit")
        })?;
        child.sync("its namespace")?;
        let newer = crate::idmap::open_tree_clone(&format!("/proc/{}/ns/mnt", child.pid()))
            .at("open_tree(\"/proc/PID/ns/mnt\", OPEN_TREE_CLONE) of a newer namespace")?;
        let moved = crate::idmap::move_mount(&newer, "/tmp/newer");
        child.send("the order to exit", &())?;
        child.join()?;
        moved.at("move_mount of the copy of the newer namespace's file onto /tmp/newer")
    })
}

fn mount_needs_cap_sys_admin_in_namespace_owner() -> Outcome {
    // The scratch mount namespace is owned by the check's user namespace; were the refusal
    // missing, the child's mounts would land there, never on the host.
    in_scratch(|| {
        dirs(&["/tmp/owned", "/tmp/mine"])?;
        tmpfs("/tmp/owned")?;
        spawn(Spawn::clone(&[Kind::User]).map_root(), |_| {
            expect_errno(
                "mounting a tmpfs on /tmp/mine as root of a child user namespace, in its parent's mount namespace",
                Errno::EPERM,
                mount(Some(SOURCE), "/tmp/mine", Some("tmpfs"), MsFlags::empty(), Some("size=64k")),
            )?;
            expect_errno(
                "unmounting /tmp/owned as root of a child user namespace",
                Errno::EPERM,
                umount2("/tmp/owned", MntFlags::empty()),
            )?;
            nsconform_harness::unshare(&[Kind::Mnt])?;
            tmpfs("/tmp/mine")?;
            umount2("/tmp/mine", MntFlags::empty()).at("unmounting /tmp/mine in the mount namespace it owns")
        })?
        .join()
    })
}
