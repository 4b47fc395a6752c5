//! User namespaces: capabilities, uid and gid mappings, setgroups, nesting, the per-namespace
//! limits of /proc/sys/user and the ownership of every other namespace (user_namespaces(7)).
//!
//! A user namespace needs no privilege, so these checks run as the user who started the run.
//! Checks whose meaning depends on being uid 0 with every capability first become root of a
//! user namespace of their own (`as_root_of_own_userns`), so root and ordinary users see alike.

use crate::disabled::refused_when_configured_out;
use crate::fixture::{cap_set, without_capabilities, CREATOR_WITHOUT_CAPABILITIES};
use crate::ns_ioctl::{related, NS_GET_USERNS};
use crate::sys::{own_ns, try_clone, with_second_thread, write_file, write_sysctl};
use nix::errno::Errno;
use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{getegid, geteuid, getgid, getuid};
use nsconform_harness::userns::{become_root, map_root};
use nsconform_harness::{
    expect_eq, expect_errno, expect_that, spawn, step, unshare as enter, At, Check, Kind, Need, Outcome, Probe, Spawn, Stop,
};
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

/// The check that `max_<kind>_namespaces`, lowered to 1 in a child user namespace, refuses a
/// second namespace of `kind` with ENOSPC.
macro_rules! limit_check {
    ($id:literal, $kind:expr, $sysctl:literal) => {
        Check::new(
            $id,
            concat!("user.", $sysctl, " (lowered to 1 inside a child user namespace) refuses a second namespace with ENOSPC"),
            concat!(
                "namespaces(7) /proc/sys/user/",
                $sysctl,
                "; inc_ucount() in kernel/ucount.c checks the limit of every ancestor user namespace"
            ),
            &[Need::Kind(Kind::User), Need::Kind($kind)],
            || limit_enospc($kind),
        )
    };
}

/// The check that a namespace of `kind` created inside a user namespace is owned by it.
macro_rules! owner_check {
    ($id:literal, $kind:expr) => {
        Check::new(
            $id,
            "A namespace created by a process inside a user namespace is owned by it: NS_GET_USERNS returns that user namespace",
            "ioctl_ns(2) NS_GET_USERNS; ns_ioctl() in fs/nsfs.c; each copy_*_ns() records current_user_ns() as the owner",
            &[Need::Kind(Kind::User), Need::Kind($kind), Need::Kernel(4, 9)],
            || owned_by_creators_userns($kind),
        )
    };
}

pub const CHECKS: &[Check] = &[
    Check::new(
        "user.new-namespace-has-full-capabilities",
        "The first process of a new user namespace has the full permitted, effective and bounding capability sets, though its creator (an unprivileged uid) held none",
        "user_namespaces(7) Capabilities; set_cred_user_ns() in kernel/user_namespace.c sets CAP_FULL_SET, called from create_user_ns()",
        &[Need::Kind(Kind::User), Need::Probe(CREATOR_WITHOUT_CAPABILITIES)],
        new_namespace_has_full_capabilities,
    ),
    Check::new(
        "user.owner-without-capabilities-maps-and-joins",
        "An owner without capabilities (an unprivileged uid) writes its child namespace's uid_map and gid_map (its own ids only, gid_map after \"deny\") and joins it with setns, gaining the full capability set there",
        "user_namespaces(7); map_write() and new_idmap_permitted() check the opener's capabilities in the target namespace, which cap_capable() in security/commoncap.c grants its owner; userns_install() and set_cred_user_ns() in kernel/user_namespace.c",
        &[Need::Kind(Kind::User), Need::Probe(CREATOR_WITHOUT_CAPABILITIES)],
        owner_without_capabilities_maps_and_joins,
    ),
    Check::new(
        "user.no-capabilities-over-parent-namespace-objects",
        "Root of a new user namespace gets EPERM over a UTS namespace its parent user namespace owns, yet succeeds in one it owns",
        "user_namespaces(7) Capabilities; cap_capable() in security/commoncap.c; utsns_install() and __do_sys_sethostname()",
        &[Need::Kind(Kind::User), Need::Kind(Kind::Uts)],
        no_capabilities_over_parent_objects,
    ),
    Check::new(
        "user.unmapped-ids-read-as-overflow",
        "With no mapping written, the process's own ids and a file owner's ids read as the overflow uid and gid (65534)",
        "user_namespaces(7) Unmapped user and group IDs; from_kuid_munged() in kernel/user_namespace.c; /proc/sys/kernel/overflowuid",
        &[Need::Kind(Kind::User)],
        unmapped_ids_read_as_overflow,
    ),
    Check::new(
        "user.maps-written-once",
        "uid_map and gid_map accept a single successful write; the next one gives EPERM",
        "user_namespaces(7) Defining user and group ID mappings; map_write() in kernel/user_namespace.c",
        &[Need::Kind(Kind::User)],
        maps_written_once,
    ),
    Check::new(
        "user.unprivileged-uid-map-own-euid-only",
        "A writer without CAP_SETUID over the parent may map only its own euid, one line of count 1 (EPERM otherwise)",
        "user_namespaces(7) Rules for writing to mapping files; new_idmap_permitted() in kernel/user_namespace.c",
        &[Need::Kind(Kind::User)],
        unprivileged_uid_map_own_euid_only,
    ),
    Check::new(
        "user.unprivileged-gid-map-needs-setgroups-deny",
        "A writer without CAP_SETGID over the parent may map its own egid only after writing \"deny\" to setgroups (EPERM before)",
        "user_namespaces(7) Interaction with system calls that change process UIDs or GIDs; new_idmap_permitted() in kernel/user_namespace.c",
        &[Need::Kind(Kind::User)],
        unprivileged_gid_map_needs_setgroups_deny,
    ),
    Check::new(
        "user.map-bad-lines-einval",
        "uid_map and gid_map refuse malformed, empty, wrapping or overlapping extents and more than 340 lines with EINVAL",
        "user_namespaces(7) Defining user and group ID mappings; map_write() in kernel/user_namespace.c (UID_GID_MAP_MAX_EXTENTS = 340 since 4.15)",
        &[Need::Kind(Kind::User)],
        map_bad_lines_einval,
    ),
    Check::new(
        "user.map-parent-root-needs-setfcap",
        "Mapping the parent's uid 0 needs CAP_SETFCAP when the namespace was created (EPERM without)",
        "user_namespaces(7); verify_root_map() and parent_could_setfcap in kernel/user_namespace.c (5.12, commit db2e718a4798, backported to 5.10 and other stable lines)",
        &[Need::Kind(Kind::User)],
        map_parent_root_needs_setfcap,
    ),
    Check::new(
        "user.setgroups-accepts-allow-or-deny-only",
        "/proc/PID/setgroups accepts \"allow\" or \"deny\" (trailing whitespace allowed); anything else gives EINVAL",
        "user_namespaces(7) The /proc/[pid]/setgroups file; proc_setgroups_write() in kernel/user_namespace.c",
        &[Need::Kind(Kind::User)],
        setgroups_accepts_allow_or_deny_only,
    ),
    Check::new(
        "user.setgroups-allow-after-deny-eperm",
        "Writing \"allow\" to setgroups after \"deny\" gives EPERM",
        "user_namespaces(7) The /proc/[pid]/setgroups file; proc_setgroups_write() in kernel/user_namespace.c",
        &[Need::Kind(Kind::User)],
        setgroups_allow_after_deny_eperm,
    ),
    Check::new(
        "user.setgroups-deny-after-gid-map-eperm",
        "Writing \"deny\" to setgroups once gid_map is written gives EPERM",
        "user_namespaces(7) The /proc/[pid]/setgroups file; proc_setgroups_write() checks gid_map.nr_extents, kernel/user_namespace.c",
        &[Need::Kind(Kind::User)],
        setgroups_deny_after_gid_map_eperm,
    ),
    Check::new(
        "user.setgroups-inherited-by-child-namespaces",
        "A new user namespace starts with its parent's setgroups setting; under \"deny\", \"allow\" gives EPERM",
        "user_namespaces(7) The /proc/[pid]/setgroups file; create_user_ns() copies parent_ns->flags, kernel/user_namespace.c",
        &[Need::Kind(Kind::User)],
        setgroups_inherited_by_child_namespaces,
    ),
    Check::new(
        "user.creation-needs-mapped-euid",
        "Creating a user namespace gives EPERM while the creator's euid is unmapped in its own user namespace",
        "user_namespaces(7); create_user_ns() checks kuid_has_mapping(parent_ns, owner), kernel/user_namespace.c",
        &[Need::Kind(Kind::User)],
        creation_needs_mapped_euid,
    ),
    Check::new(
        "user.unshare-multithreaded-einval",
        "A process with two threads gets EINVAL from unshare(CLONE_NEWUSER); once single-threaded again it succeeds",
        "unshare(2) ERRORS (EINVAL, CLONE_NEWUSER implies CLONE_THREAD); ksys_unshare() adds CLONE_THREAD | CLONE_FS for CLONE_NEWUSER and check_unshare_flags() refuses CLONE_THREAD unless thread_group_empty(), kernel/fork.c",
        &[Need::Kind(Kind::User)],
        unshare_multithreaded_einval,
    ),
    Check::new(
        "user.clone-with-clone-fs-einval",
        "clone(CLONE_NEWUSER | CLONE_FS) gives EINVAL: a new user namespace cannot share its creator's root and cwd; clone(CLONE_NEWUSER) alone succeeds",
        "clone(2) ERRORS (EINVAL); copy_process() in kernel/fork.c: (clone_flags & (CLONE_NEWUSER|CLONE_FS)) == (CLONE_NEWUSER|CLONE_FS)",
        &[Need::Kind(Kind::User)],
        clone_with_clone_fs_einval,
    ),
    Check::new(
        "user.creation-in-chroot-eperm",
        "A chrooted process gets EPERM from unshare(CLONE_NEWUSER) and clone(CLONE_NEWUSER); the same process could create one before its chroot",
        "unshare(2), clone(2) ERRORS (EPERM); create_user_ns() in kernel/user_namespace.c: current_chrooted() (fs/namespace.c)",
        &[Need::Kind(Kind::Mnt), Need::Kind(Kind::User)],
        creation_in_chroot_eperm,
    ),
    Check::new(
        "user.nesting-33-levels",
        "33 nested user namespaces can be created below the initial one; the 34th gives ENOSPC",
        "create_user_ns() fails when parent_ns->level > 32, kernel/user_namespace.c (user_namespaces(7) says 32 and EUSERS: the kernel wins)",
        &[Need::Kind(Kind::User), Need::InitialNamespace(Kind::User), Need::Probe(ROOM_FOR_NESTING)],
        nesting_33_levels,
    ),
    limit_check!("user.max-user-namespaces-enospc", Kind::User, "max_user_namespaces"),
    limit_check!("user.max-uts-namespaces-enospc", Kind::Uts, "max_uts_namespaces"),
    limit_check!("user.max-ipc-namespaces-enospc", Kind::Ipc, "max_ipc_namespaces"),
    limit_check!("user.max-net-namespaces-enospc", Kind::Net, "max_net_namespaces"),
    limit_check!("user.max-mnt-namespaces-enospc", Kind::Mnt, "max_mnt_namespaces"),
    limit_check!("user.max-cgroup-namespaces-enospc", Kind::Cgroup, "max_cgroup_namespaces"),
    limit_check!("user.max-time-namespaces-enospc", Kind::Time, "max_time_namespaces"),
    owner_check!("user.owns-new-uts-namespace", Kind::Uts),
    owner_check!("user.owns-new-ipc-namespace", Kind::Ipc),
    owner_check!("user.owns-new-net-namespace", Kind::Net),
    owner_check!("user.owns-new-mnt-namespace", Kind::Mnt),
    owner_check!("user.owns-new-pid-namespace", Kind::Pid),
    owner_check!("user.owns-new-cgroup-namespace", Kind::Cgroup),
    owner_check!("user.owns-new-time-namespace", Kind::Time),
    refused_when_configured_out!("user.flag-refused-when-configured-out", Kind::User),
];

/// include/uapi/linux/capability.h
const CAP_SETFCAP: u32 = 31;

/// Runs `body` as uid 0 with every capability in a fresh user namespace of its own.
fn as_root_of_own_userns(body: impl FnOnce() -> Outcome) -> Outcome {
    spawn(Spawn::clone(&[Kind::User]).map_root(), |_| body())?.join()
}

fn read_number<T: std::str::FromStr>(path: &str) -> Result<T, Stop>
where
    T::Err: std::fmt::Display,
{
    std::fs::read_to_string(path).at(&format!("reading {path}"))?.trim().parse().at(&format!("parsing {path}"))
}

/// The full capability mask of this kernel (bits 0 to cap_last_cap).
fn full_capabilities() -> Result<(u32, u64), Stop> {
    let last: u32 = read_number("/proc/sys/kernel/cap_last_cap")?;
    Ok((last, u64::MAX >> (63 - last.min(63))))
}

fn new_namespace_has_full_capabilities() -> Outcome {
    let (last, full) = full_capabilities()?;
    without_capabilities(|| {
        spawn(Spawn::clone(&[Kind::User]), move |_| {
            for set in ["CapPrm", "CapEff", "CapBnd"] {
                let mask = cap_set(set)?;
                expect_eq(
                    &format!("{set} in the new user namespace (cap_last_cap {last}) of a creator without capabilities"),
                    format!("{full:#x}"),
                    format!("{mask:#x}"),
                )?;
            }
            Ok(())
        })?
        .join()
    })
}

fn owner_without_capabilities_maps_and_joins() -> Outcome {
    let (last, full) = full_capabilities()?;
    without_capabilities(|| {
        let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
        let inherited = std::fs::read_to_string("/proc/self/setgroups").at("reading /proc/self/setgroups")?;
        let mut child = spawn(Spawn::clone(&[Kind::User]), |to_parent| {
            to_parent.sync("the child's new user namespace")?;
            to_parent.sync("the owner's writes")?;
            expect_eq("geteuid() in the child once its owner mapped it", 0, geteuid().as_raw())?;
            expect_eq("getegid() in the child once its owner mapped it", 0, getegid().as_raw())?;
            to_parent.sync("the owner's join")
        })?;
        child.sync("the child's new user namespace")?;
        let proc = format!("/proc/{}", child.pid());
        // Each rule with its control: the refused line first (a refusal leaves the map unwritten).
        let other = uid.wrapping_add(1);
        expect_errno(
            &format!("the owner (uid {uid}) mapping uid {other}, not its own"),
            Errno::EPERM,
            write_file(&format!("{proc}/uid_map"), &format!("0 {other} 1")),
        )?;
        write_file(&format!("{proc}/uid_map"), &format!("0 {uid} 1"))
            .at(&format!("the owner (uid {uid}, no capabilities) writing \"0 {uid} 1\" to the child's uid_map"))?;
        if inherited.trim() == "allow" {
            expect_errno(
                "the owner writing the child's gid_map while setgroups is \"allow\"",
                Errno::EPERM,
                write_file(&format!("{proc}/gid_map"), &format!("0 {gid} 1")),
            )?;
        }
        write_file(&format!("{proc}/setgroups"), "deny").at("the owner writing \"deny\" to the child's setgroups")?;
        write_file(&format!("{proc}/gid_map"), &format!("0 {gid} 1"))
            .at(&format!("the owner writing \"0 {gid} 1\" to the child's gid_map"))?;
        child.sync("the owner's writes")?;
        let ns = File::open(format!("{proc}/ns/user")).at(&format!("opening {proc}/ns/user"))?;
        setns(ns.as_fd(), CloneFlags::CLONE_NEWUSER)
            .at("setns into the child's user namespace by its owner, which holds no capabilities")?;
        expect_eq("geteuid() of the owner after joining", 0, geteuid().as_raw())?;
        for set in ["CapPrm", "CapEff"] {
            expect_eq(
                &format!("{set} of the owner after joining (cap_last_cap {last})"),
                format!("{full:#x}"),
                format!("{:#x}", cap_set(set)?),
            )?;
        }
        child.sync("the owner's join")?;
        child.join()
    })
}

fn no_capabilities_over_parent_objects() -> Outcome {
    spawn(Spawn::clone(&[Kind::Uts]), |_| {
        let parents_uts = File::open("/proc/self/ns/uts").at("opening /proc/self/ns/uts")?;
        spawn(Spawn::clone(&[Kind::User]).map_root(), move |_| {
            let admin = cap_set("CapEff")? & (1 << nsconform_harness::host::CAP_SYS_ADMIN) != 0;
            expect_that("CapEff in the new user namespace", admin, "CAP_SYS_ADMIN", "missing")?;
            expect_errno(
                "sethostname in the UTS namespace the parent user namespace owns",
                Errno::EPERM,
                nix::unistd::sethostname("nsconform-denied"),
            )?;
            expect_errno(
                "setns into the UTS namespace the parent user namespace owns",
                Errno::EPERM,
                setns(parents_uts.as_fd(), CloneFlags::CLONE_NEWUTS),
            )?;
            enter(&[Kind::Uts])?;
            nix::unistd::sethostname("nsconform-own").at("sethostname in a UTS namespace the new user namespace owns")
        })?
        .join()
    })?
    .join()
}

fn unmapped_ids_read_as_overflow() -> Outcome {
    let overflow_uid: u32 = read_number("/proc/sys/kernel/overflowuid")?;
    let overflow_gid: u32 = read_number("/proc/sys/kernel/overflowgid")?;
    // From uid 0 of a namespace of its own, so that the overflow ids cannot be the ids the
    // process had before (as they would be for a run as nobody).
    as_root_of_own_userns(|| {
        expect_eq("geteuid() before the new user namespace", 0, geteuid().as_raw())?;
        spawn(Spawn::clone(&[Kind::User]), move |_| {
            expect_eq("getuid() with no uid_map", overflow_uid, getuid().as_raw())?;
            expect_eq("geteuid() with no uid_map", overflow_uid, geteuid().as_raw())?;
            expect_eq("getgid() with no gid_map", overflow_gid, getgid().as_raw())?;
            expect_eq("getegid() with no gid_map", overflow_gid, getegid().as_raw())?;
            let root = std::fs::metadata("/").at("stat /")?;
            expect_eq("st_uid of / (owned by an id unmapped here)", overflow_uid, root.uid())?;
            expect_eq("st_gid of / (owned by an id unmapped here)", overflow_gid, root.gid())
        })?
        .join()
    })
}

fn maps_written_once() -> Outcome {
    let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
    spawn(Spawn::clone(&[Kind::User]), move |_| {
        map_root("self", uid, gid).at("the first writes of setgroups, uid_map and gid_map")?;
        // The same lines again: only the one-write rule can refuse them.
        expect_errno("a second write of the same line to uid_map", Errno::EPERM, write_file("/proc/self/uid_map", &format!("0 {uid} 1")))?;
        expect_errno("a second write of the same line to gid_map", Errno::EPERM, write_file("/proc/self/gid_map", &format!("0 {gid} 1")))
    })?
    .join()
}

// The first process of a new user namespace has no capability in the parent namespace, so
// writing its own maps it is the unprivileged writer of new_idmap_permitted(), even for root.

fn unprivileged_uid_map_own_euid_only() -> Outcome {
    let uid = geteuid().as_raw();
    let other = uid.wrapping_add(1);
    spawn(Spawn::clone(&[Kind::User]), move |_| {
        let map = "/proc/self/uid_map";
        expect_errno(&format!("mapping uid {other}, not its own euid {uid}"), Errno::EPERM, write_file(map, &format!("0 {other} 1")))?;
        expect_errno("mapping its own euid with a count of 2", Errno::EPERM, write_file(map, &format!("0 {uid} 2")))?;
        expect_errno("mapping its own euid plus a second line", Errno::EPERM, write_file(map, &format!("0 {uid} 1\n1 {other} 1")))?;
        write_file(map, &format!("0 {uid} 1")).at("mapping its own euid in one line")?;
        expect_eq("geteuid() after the mapping", 0, geteuid().as_raw())
    })?
    .join()
}

fn unprivileged_gid_map_needs_setgroups_deny() -> Outcome {
    let inherited = std::fs::read_to_string("/proc/self/setgroups").at("reading /proc/self/setgroups")?;
    if inherited.trim() == "deny" {
        return Err(Stop::skip(
            "setgroups is already \"deny\" in the run's user namespace, and every child inherits it, so a gid_map write before \"deny\" cannot be observed",
        ));
    }
    let gid = getegid().as_raw();
    spawn(Spawn::clone(&[Kind::User]), move |_| {
        let map = "/proc/self/gid_map";
        expect_errno("mapping its own egid while setgroups is \"allow\"", Errno::EPERM, write_file(map, &format!("0 {gid} 1")))?;
        write_file("/proc/self/setgroups", "deny").at("writing \"deny\" to setgroups")?;
        expect_errno("mapping another gid than its own egid", Errno::EPERM, write_file(map, &format!("0 {} 1", gid.wrapping_add(1))))?;
        write_file(map, &format!("0 {gid} 1")).at("mapping its own egid after \"deny\"")?;
        expect_eq("getegid() after the mapping", 0, getegid().as_raw())
    })?
    .join()
}

fn map_bad_lines_einval() -> Outcome {
    spawn(Spawn::clone(&[Kind::User]), |_| {
        let too_many: String = (0..341).map(|i| format!("{i} {i} 1\n")).collect();
        let bad = [
            ("a non-numeric field", "0 x 1"),
            ("a missing count", "0 0"),
            ("a zero count", "0 0 0"),
            ("an empty line", "\n"),
            ("trailing junk", "0 0 1 x"),
            ("first id 4294967295", "4294967295 0 1"),
            ("an extent that wraps past 2^32", "4294967290 0 10"),
            ("overlapping extents", "0 0 1\n0 1 1"),
            ("341 extents", &too_many),
        ];
        // Lines are parsed before any permission is checked, so an unprivileged writer sees
        // EINVAL too, and a refused write leaves the map unwritten for the next attempt.
        for (what, text) in bad {
            for map in ["uid_map", "gid_map"] {
                expect_errno(&format!("{what} in {map}"), Errno::EINVAL, write_file(&format!("/proc/self/{map}"), text))?;
            }
        }
        Ok(())
    })?
    .join()
}

fn map_parent_root_needs_setfcap() -> Outcome {
    // As uid 0 of its own namespace, mapping uid 0 is mapping its own euid: the one line an
    // unprivileged writer may write, unless its creator lacked CAP_SETFCAP.
    as_root_of_own_userns(|| {
        spawn(Spawn::fork(), |_| {
            crate::sys::set_effective_cap(CAP_SETFCAP, false).at("dropping CAP_SETFCAP from the effective set")?;
            enter(&[Kind::User])?;
            let written = write_file("/proc/self/uid_map", "0 0 1");
            if written.is_ok() && nsconform_harness::host::facts().version < (5, 12, 0) {
                return Err(Stop::skip("this kernel predates the rule (5.12, commit db2e718a4798) and carries no backport of it"));
            }
            expect_errno("mapping the parent's uid 0 into a namespace created without CAP_SETFCAP", Errno::EPERM, written)
        })?
        .join()?;
        spawn(Spawn::fork(), |_| {
            enter(&[Kind::User])?;
            write_file("/proc/self/uid_map", "0 0 1").at("mapping the parent's uid 0 into a namespace created with CAP_SETFCAP")
        })?
        .join()
    })
}

fn setgroups_accepts_allow_or_deny_only() -> Outcome {
    spawn(Spawn::clone(&[Kind::User]), |_| {
        let file = "/proc/self/setgroups";
        for junk in ["maybe", "allowed", "deny deny", "1"] {
            expect_errno(&format!("writing {junk:?} to setgroups"), Errno::EINVAL, write_file(file, junk))?;
        }
        // A namespace below a "deny" one inherits "deny", and "allow" is then refused (EPERM,
        // user.setgroups-allow-after-deny-eperm): only a namespace that inherited "allow" may write it.
        if std::fs::read_to_string(file).at("reading setgroups")?.trim() == "allow" {
            write_file(file, "allow\n").at("writing \"allow\\n\" to setgroups")?;
        }
        write_file(file, "deny\n").at("writing \"deny\\n\" to setgroups")?;
        let now = std::fs::read_to_string(file).at("reading setgroups")?;
        expect_eq("setgroups after writing \"deny\"", "deny", now.trim())
    })?
    .join()
}

fn setgroups_allow_after_deny_eperm() -> Outcome {
    spawn(Spawn::clone(&[Kind::User]), |_| {
        // The control: "allow" is accepted while it is still allowed (a namespace created
        // under "deny" inherits it, and then no "allow" is ever accepted).
        if std::fs::read_to_string("/proc/self/setgroups").at("reading setgroups")?.trim() == "allow" {
            write_file("/proc/self/setgroups", "allow").at("writing \"allow\" before \"deny\"")?;
        }
        write_file("/proc/self/setgroups", "deny").at("writing \"deny\" to setgroups")?;
        expect_errno("writing \"allow\" after \"deny\"", Errno::EPERM, write_file("/proc/self/setgroups", "allow"))
    })?
    .join()
}

fn setgroups_deny_after_gid_map_eperm() -> Outcome {
    // The parent, with CAP_SETGID over the child's namespace, writes its gid_map.
    as_root_of_own_userns(|| {
        let mut child = spawn(Spawn::clone(&[Kind::User]), |to_parent| {
            to_parent.sync("the child's new user namespace")?;
            to_parent.sync("the end of the parent's writes")
        })?;
        let mut control = spawn(Spawn::clone(&[Kind::User]), |to_parent| {
            to_parent.sync("the control child's new user namespace")?;
            to_parent.sync("the end of the parent's writes")
        })?;
        child.sync("the child's new user namespace")?;
        control.sync("the control child's new user namespace")?;
        let pid = child.pid();
        write_file(&format!("/proc/{}/setgroups", control.pid()), "deny")
            .at("the parent writing \"deny\" to a child's setgroups before its gid_map (control)")?;
        write_file(&format!("/proc/{pid}/gid_map"), "0 0 1").at("the parent writing the child's gid_map")?;
        expect_errno("writing \"deny\" to setgroups after gid_map", Errno::EPERM, write_file(&format!("/proc/{pid}/setgroups"), "deny"))?;
        child.sync("the end of the parent's writes")?;
        control.sync("the end of the parent's writes")?;
        control.join()?;
        child.join()
    })
}

fn setgroups_inherited_by_child_namespaces() -> Outcome {
    let own = std::fs::read_to_string("/proc/self/setgroups").at("reading /proc/self/setgroups")?;
    let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
    spawn(Spawn::clone(&[Kind::User]), move |_| {
        let first = std::fs::read_to_string("/proc/self/setgroups").at("reading setgroups of the new namespace")?;
        expect_eq("setgroups of a new namespace vs its parent's", own.trim(), first.trim())?;
        // map_root writes "deny" first, then maps its ids so that it may create a namespace.
        map_root("self", uid, gid).at("writing \"deny\" and mapping its own ids")?;
        spawn(Spawn::clone(&[Kind::User]), |_| {
            let nested = std::fs::read_to_string("/proc/self/setgroups").at("reading setgroups of the nested namespace")?;
            expect_eq("setgroups of a namespace created under \"deny\"", "deny", nested.trim())?;
            expect_errno("writing \"allow\" to the inherited \"deny\"", Errno::EPERM, write_file("/proc/self/setgroups", "allow"))
        })?
        .join()
    })?
    .join()
}

fn creation_needs_mapped_euid() -> Outcome {
    let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
    spawn(Spawn::clone(&[Kind::User]), move |_| {
        expect_errno("unshare(CLONE_NEWUSER) while the euid is unmapped", Errno::EPERM, unshare(CloneFlags::CLONE_NEWUSER))?;
        map_root("self", uid, gid).at("mapping its own ids")?;
        unshare(CloneFlags::CLONE_NEWUSER).at("unshare(CLONE_NEWUSER) once the euid is mapped")
    })?
    .join()
}

/// Every level of the nesting counts against user.max_user_namespaces of the initial namespace.
const ROOM_FOR_NESTING: Probe = Probe {
    what: "user.max_user_namespaces leaves room for 34 nested namespaces",
    run: || match std::fs::read_to_string("/proc/sys/user/max_user_namespaces").map(|s| s.trim().parse::<u64>()) {
        Ok(Ok(max)) if max >= 64 => Ok(()),
        Ok(Ok(max)) => Err(format!("it is {max}; the check needs at least 64")),
        other => Err(format!("cannot read it: {other:?}")),
    },
};

fn nesting_33_levels() -> Outcome {
    const MAX_LEVEL: usize = 33;
    spawn(Spawn::fork(), |_| {
        for level in 1..=MAX_LEVEL {
            step(&format!("creating user namespace level {level}"));
            become_root().map_err(|e| Stop::fail(format!("creating user namespace level {level}"), "success", e.to_string()))?;
        }
        expect_errno(&format!("unshare(CLONE_NEWUSER) at level {MAX_LEVEL}"), Errno::ENOSPC, unshare(CloneFlags::CLONE_NEWUSER))
    })?
    .join()
}

fn limit_enospc(kind: Kind) -> Outcome {
    // This user namespace's own limit table: the host's value is untouched.
    as_root_of_own_userns(|| {
        let sysctl = format!("/proc/sys/user/max_{kind}_namespaces");
        write_sysctl(&sysctl, "1").at(&format!("lowering {sysctl} to 1 in the child user namespace"))?;
        let second = format!("a second {kind} namespace over {sysctl} = 1");
        if kind == Kind::User {
            // The first one is counted here; the second, created from inside it, too.
            become_root().at("the first user namespace under the limit")?;
            return expect_errno(&second, Errno::ENOSPC, unshare(CloneFlags::CLONE_NEWUSER));
        }
        enter(&[kind])?;
        expect_errno(&second, Errno::ENOSPC, unshare(CloneFlags::from_bits_retain(kind.flag())))
    })
}

fn owned_by_creators_userns(kind: Kind) -> Outcome {
    as_root_of_own_userns(|| {
        let userns = own_ns("user")?;
        // unshare(CLONE_NEWTIME) leaves the caller where it was: its new namespace is the one
        // for its children. The other kinds are entered by the child.
        let how = if kind == Kind::Time { Spawn::fork() } else { Spawn::clone(&[kind]) };
        spawn(how, move |_| {
            let entry = if kind == Kind::Time {
                crate::fixture::enter_for_children()?;
                "time_for_children"
            } else {
                kind.name()
            };
            let path = format!("/proc/self/ns/{entry}");
            let ns = File::open(&path).at(&format!("opening {path}"))?;
            let owner = related(&ns, NS_GET_USERNS).at(&format!("ioctl({path}, NS_GET_USERNS)"))?;
            let owner = owner.metadata().at("fstat of the owner's fd")?.ino();
            expect_eq(&format!("inode of the owner of the new {kind} namespace (that of the creator's user namespace)"), userns, owner)
        })?
        .join()
    })
}

fn unshare_multithreaded_einval() -> Outcome {
    spawn(Spawn::fork(), |_| {
        let own = own_ns("user")?;
        with_second_thread(|| {
            expect_errno("unshare(CLONE_NEWUSER) by a process with two threads", Errno::EINVAL, unshare(CloneFlags::CLONE_NEWUSER))?;
            expect_eq("/proc/self/ns/user after the refused unshare", own, own_ns("user")?)
        })?;
        unshare(CloneFlags::CLONE_NEWUSER).at("unshare(CLONE_NEWUSER) by the same process once its second thread is gone")?;
        expect_that(
            "/proc/self/ns/user after unshare(CLONE_NEWUSER)",
            own_ns("user")? != own,
            format!("an inode other than {own}"),
            "the same inode",
        )
    })?
    .join()
}

fn clone_with_clone_fs_einval() -> Outcome {
    expect_errno("clone(CLONE_NEWUSER | CLONE_FS)", Errno::EINVAL, try_clone(libc::CLONE_NEWUSER | libc::CLONE_FS))?;
    try_clone(libc::CLONE_NEWUSER).at("clone(CLONE_NEWUSER) without CLONE_FS")
}

fn creation_in_chroot_eperm() -> Outcome {
    // A new mount namespace with a tmpfs on /tmp to chroot into.
    spawn(Spawn::clone(&[Kind::Mnt]), |_| {
        nix::mount::mount(Some("nsconform"), "/tmp", Some("tmpfs"), nix::mount::MsFlags::empty(), Some("size=64k"))
            .at("mounting a tmpfs on /tmp")?;
        try_clone(libc::CLONE_NEWUSER).at("clone(CLONE_NEWUSER) before the chroot")?;
        nix::unistd::chroot("/tmp").at("chroot(\"/tmp\")")?;
        std::env::set_current_dir("/").at("chdir(\"/\")")?;
        expect_errno("clone(CLONE_NEWUSER) after chroot(\"/tmp\")", Errno::EPERM, try_clone(libc::CLONE_NEWUSER))?;
        expect_errno("unshare(CLONE_NEWUSER) after chroot(\"/tmp\")", Errno::EPERM, unshare(CloneFlags::CLONE_NEWUSER))
    })?
    .join()
}
