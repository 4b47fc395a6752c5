//! ID-mapped mounts (mount_setattr(2) MOUNT_ATTR_IDMAP, Linux 5.12): a detached copy of a
//! tmpfs made with open_tree(OPEN_TREE_CLONE) takes the uid and gid mappings of a user
//! namespace, and every owner read or written through it is translated by them, with a
//! mapping whose inside and outside ids differ. Mount-namespace checks (ids `mnt.idmap-*`),
//! each in the scratch namespace of `crate::scratch`.
//!
//! The direction, from fs/mnt_idmapping.c: an owner on disk is read through the mount as if
//! it were an id inside the user namespace, mapped to the outside (make_vfsuid() calls
//! map_id_down()); a creator's fsuid is an outside id, written to disk as the inside id
//! (mapped_fsuid() -> from_vfsuid() calls map_id_up()), and a creator whose fsuid or fsgid
//! the mapping lacks gets EOVERFLOW (fsuidgid_has_mapping() in may_create() and
//! may_o_create(), fs/namei.c).

use crate::scratch::{dirs, in_scratch, tmpfs, touch, SOURCE};
use crate::sys::errno_result;
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nsconform_harness::{expect_eq, expect_errno, host, spawn, At, Check, Kind, Need, Outcome, Probe, Spawn, Stop};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

pub const CHECKS: &[Check] = &[
    Check::new(
        "mnt.idmap-mount-maps-owners",
        "Through a tmpfs copy idmapped with a user namespace mapping 0..65536 to 100000..165536, owners 0 and 1000 read as 100000 and 101000 and an owner outside the range as the overflow id 65534; a file created by fsuid/fsgid 100000 is owned by 0 on disk, and a creator with fsuid 0 gets EOVERFLOW",
        "mount_setattr(2) MOUNT_ATTR_IDMAP; open_tree(2), move_mount(2); make_vfsuid() (map_id_down()) and from_vfsuid() (map_id_up()) in fs/mnt_idmapping.c, i_uid_into_vfsuid() and mapped_fsuid() in include/linux/mnt_idmapping.h; fsuidgid_has_mapping() in may_o_create(), fs/namei.c; FS_ALLOW_IDMAP for tmpfs in mm/shmem.c from Linux 6.3",
        &[Need::Kind(Kind::Mnt), Need::Kind(Kind::User), Need::InitialAdmin, Need::Probe(MOUNT_SETATTR)],
        idmap_mount_maps_owners,
    ),
    Check::new(
        "mnt.idmap-refusals-by-userns-fd-and-filesystem",
        "mount_setattr(MOUNT_ATTR_IDMAP) on a detached copy gives EPERM with the initial user namespace, EINVAL with an fd that is no namespace or a namespace of another kind (mount), and EINVAL for a filesystem without FS_ALLOW_IDMAP (ramfs)",
        "mount_setattr(2) ERRORS; build_mount_idmapped() (init_user_ns: EPERM; !proc_ns_file() or not CLONE_NEWUSER: EINVAL) and can_idmap_mount() (no FS_ALLOW_IDMAP: EINVAL) in fs/namespace.c",
        &[Need::Kind(Kind::Mnt), Need::Kind(Kind::User), Need::InitialAdmin, Need::Probe(MOUNT_SETATTR)],
        idmap_refusals_by_userns_fd_and_filesystem,
    ),
    Check::new(
        "mnt.idmap-once-and-detached-only",
        "A tmpfs copy can be idmapped once, while detached: a second MOUNT_ATTR_IDMAP gives EPERM, and one on a mount attached to the tree (not an OPEN_TREE_CLONE copy) gives EINVAL",
        "mount_setattr(2) ERRORS; can_idmap_mount() in fs/namespace.c: is_idmapped_mnt() gives EPERM, !is_anon_ns() gives EINVAL",
        &[Need::Kind(Kind::Mnt), Need::Kind(Kind::User), Need::Probe(MOUNT_SETATTR)],
        idmap_once_and_detached_only,
    ),
];

/// include/uapi/linux/mount.h
const OPEN_TREE_CLONE: libc::c_uint = 1;
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x0000_0004;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// struct mount_attr (MOUNT_ATTR_SIZE_VER0), include/uapi/linux/mount.h.
#[repr(C)]
#[derive(Default)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) exists (Linux 5.12): with a zero size it gives EINVAL, changing nothing.
const MOUNT_SETATTR: Probe = Probe {
    what: "mount_setattr(2)",
    run: || {
        // SAFETY: a null path and attribute with size 0: the kernel refuses the size before reading either.
        match errno_result(unsafe { libc::syscall(libc::SYS_mount_setattr, -1, 0usize, 0, 0usize, 0usize) }) {
            Err(Errno::ENOSYS) => Err("the kernel has no mount_setattr (ENOSYS): idmapped mounts came with Linux 5.12".into()),
            _ => Ok(()),
        }
    },
};

/// The ids mapped by the user namespace of mnt.idmap-mount-maps-owners: inside 0..65536 is outside 100000..165536.
const BASE: u32 = 100_000;
const RANGE: u32 = 65_536;

/// open_tree(path, OPEN_TREE_CLONE): a detached copy of the mount at `path`.
pub(crate) fn open_tree_clone(path: &str) -> Result<OwnedFd, Errno> {
    let path = CString::new(path).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a NUL-terminated path; on success the kernel returns a new fd that we own.
    let fd =
        errno_result(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC) })?;
    // SAFETY: the fd was just returned by the kernel and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// mount_setattr(fd, "", AT_EMPTY_PATH, {MOUNT_ATTR_IDMAP, userns_fd}) on a detached copy.
fn set_idmap(tree: &impl AsRawFd, userns_fd: i32) -> Result<(), Errno> {
    mount_setattr_idmap(tree.as_raw_fd(), c"", libc::AT_EMPTY_PATH, userns_fd)
}

/// mount_setattr(MOUNT_ATTR_IDMAP) on the path of an attached mount.
fn set_idmap_at(path: &str, userns_fd: i32) -> Result<(), Errno> {
    let path = CString::new(path).map_err(|_| Errno::EINVAL)?;
    mount_setattr_idmap(libc::AT_FDCWD, &path, 0, userns_fd)
}

fn mount_setattr_idmap(dirfd: i32, path: &std::ffi::CStr, flags: libc::c_int, userns_fd: i32) -> Result<(), Errno> {
    let attr = MountAttr { attr_set: MOUNT_ATTR_IDMAP, userns_fd: userns_fd as u64, ..Default::default() };
    // SAFETY: a NUL-terminated path and a live mount_attr of the size passed.
    errno_result(unsafe {
        libc::syscall(libc::SYS_mount_setattr, dirfd, path.as_ptr(), flags, &attr as *const MountAttr, std::mem::size_of::<MountAttr>())
    })
    .map(drop)
}

/// move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH): attaches a detached copy.
pub(crate) fn move_mount(tree: &impl AsRawFd, target: &str) -> Result<(), Errno> {
    let target = CString::new(target).map_err(|_| Errno::EINVAL)?;
    // SAFETY: NUL-terminated paths and a live fd.
    errno_result(unsafe {
        libc::syscall(libc::SYS_move_mount, tree.as_raw_fd(), c"".as_ptr(), libc::AT_FDCWD, target.as_ptr(), MOVE_MOUNT_F_EMPTY_PATH)
    })
    .map(drop)
}

/// A new user namespace whose uid_map and gid_map are both `map` (a mount idmapping needs
/// both: copy_mnt_idmap() refuses an empty map with EINVAL), held by an open
/// /proc/PID/ns/user of its first process, which then exits.
fn userns_with_map(map: &str) -> Result<File, Stop> {
    let mut child = spawn(Spawn::clone(&[Kind::User]), |to_parent| {
        to_parent.send("its readiness", &())?;
        crate::sys::idle(to_parent)
    })?;
    child.recv::<()>("its readiness")?;
    let pid = child.pid();
    for file in ["uid_map", "gid_map"] {
        let path = format!("/proc/{pid}/{file}");
        crate::sys::write_file(&path, map).at(&format!("writing {map:?} to {path}"))?;
    }
    let ns = File::open(format!("/proc/{pid}/ns/user")).at("opening the new user namespace's /proc/PID/ns/user")?;
    child.send("the order to exit", &())?;
    child.join()?;
    Ok(ns)
}

/// Idmaps the detached copy `tree` of a tmpfs: before Linux 6.3 tmpfs has no FS_ALLOW_IDMAP
/// and the kernel answers EINVAL, which is a SKIP there and a FAIL from 6.3.
fn idmap_tmpfs(tree: &impl AsRawFd, userns: &File, what: &str) -> Outcome {
    match set_idmap(tree, userns.as_raw_fd()) {
        Err(Errno::EINVAL) if host::facts().version < (6, 3, 0) => Err(Stop::skip(
            "tmpfs has no idmapped mounts before Linux 6.3 (FS_ALLOW_IDMAP in mm/shmem.c): mount_setattr(MOUNT_ATTR_IDMAP) gave EINVAL",
        )),
        other => other.at(what),
    }
}

/// (uid, gid) of `path` as the caller sees them.
fn owner(path: &str) -> Result<(u32, u32), Stop> {
    let meta = std::fs::metadata(path).at(&format!("stat of {path}"))?;
    Ok((meta.uid(), meta.gid()))
}

fn chown(path: &str, id: u32) -> Outcome {
    std::os::unix::fs::chown(path, Some(id), Some(id)).at(&format!("chown {id}:{id} {path}"))
}

/// Creates `path` (O_CREAT) in a forked child whose fsuid and fsgid are `id`.
fn create_as(path: &'static str, id: u32) -> Result<Result<(), Errno>, Stop> {
    let mut child = spawn(Spawn::fork(), move |to_parent| {
        nix::unistd::setfsgid(nix::unistd::Gid::from_raw(id));
        nix::unistd::setfsuid(nix::unistd::Uid::from_raw(id));
        let created = File::create(path).map(drop).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)));
        to_parent.send("the result of creating the file", &created.map_err(|e| e as i32))
    })?;
    let result = child.recv::<Result<(), i32>>("the result of creating the file")?;
    child.join()?;
    Ok(result.map_err(Errno::from_raw))
}

fn idmap_mount_maps_owners() -> Outcome {
    in_scratch(|| {
        dirs(&["/tmp/src", "/tmp/dst"])?;
        tmpfs("/tmp/src")?;
        for (name, id) in [("zero", 0), ("thousand", 1000), ("beyond", BASE + RANGE)] {
            touch(&format!("/tmp/src/{name}"))?;
            chown(&format!("/tmp/src/{name}"), id)?;
        }
        let userns = userns_with_map(&format!("0 {BASE} {RANGE}"))?;
        let tree = open_tree_clone("/tmp/src").at("open_tree(\"/tmp/src\", OPEN_TREE_CLONE)")?;
        idmap_tmpfs(&tree, &userns, "mount_setattr(MOUNT_ATTR_IDMAP) of the copy with the user namespace mapping \"0 100000 65536\"")?;
        move_mount(&tree, "/tmp/dst").at("move_mount of the idmapped copy to /tmp/dst")?;
        let overflow = (crate::fixture::NOBODY, crate::fixture::NOBODY);
        expect_eq("owner of /tmp/dst/zero (0:0 on disk) through the idmapped mount", (BASE, BASE), owner("/tmp/dst/zero")?)?;
        expect_eq(
            "owner of /tmp/dst/thousand (1000:1000 on disk) through the idmapped mount",
            (BASE + 1000, BASE + 1000),
            owner("/tmp/dst/thousand")?,
        )?;
        expect_eq(
            "owner of /tmp/dst/beyond (165536:165536 on disk, outside the mapping) through the idmapped mount: the overflow ids",
            overflow,
            owner("/tmp/dst/beyond")?,
        )?;
        expect_eq("owner of /tmp/src/zero through the original mount", (0, 0), owner("/tmp/src/zero")?)?;
        create_as("/tmp/dst/by-100000", BASE)?.at("creating /tmp/dst/by-100000 with fsuid and fsgid 100000")?;
        expect_eq(
            "on-disk owner (through /tmp/src) of the file fsuid 100000 created through the idmapped mount",
            (0, 0),
            owner("/tmp/src/by-100000")?,
        )?;
        expect_eq("owner of that file through the idmapped mount", (BASE, BASE), owner("/tmp/dst/by-100000")?)?;
        expect_errno(
            "creating /tmp/dst/by-root with fsuid and fsgid 0, which the mount's mapping lacks",
            Errno::EOVERFLOW,
            create_as("/tmp/dst/by-root", 0)?,
        )
    })
}

fn idmap_refusals_by_userns_fd_and_filesystem() -> Outcome {
    // The run's own user namespace is the initial one (Need::InitialAdmin): a process in
    // another user namespace cannot open any fd of it (ptrace access to a process there needs
    // CAP_SYS_PTRACE in it, cap_ptrace_access_check() in security/commoncap.c).
    let initial = File::open("/proc/self/ns/user").setup("opening /proc/self/ns/user")?;
    in_scratch(move || {
        dirs(&["/tmp/ramfs"])?;
        mount(Some(SOURCE), "/tmp/ramfs", Some("ramfs"), MsFlags::empty(), None::<&str>).at("mounting a ramfs on /tmp/ramfs")?;
        let userns = userns_with_map("0 0 1")?;
        let tree = open_tree_clone("/tmp").at("open_tree(\"/tmp\", OPEN_TREE_CLONE)")?;
        expect_errno(
            "mount_setattr(MOUNT_ATTR_IDMAP) with the initial user namespace",
            Errno::EPERM,
            set_idmap(&tree, initial.as_raw_fd()),
        )?;
        let plain = File::open("/tmp/ramfs").setup("opening the directory /tmp/ramfs")?;
        expect_errno(
            "mount_setattr(MOUNT_ATTR_IDMAP) with an fd of a directory, not a namespace",
            Errno::EINVAL,
            set_idmap(&tree, plain.as_raw_fd()),
        )?;
        // A mount namespace fd: the one kind that cannot be configured out.
        let mnt = File::open("/proc/self/ns/mnt").setup("opening /proc/self/ns/mnt")?;
        expect_errno("mount_setattr(MOUNT_ATTR_IDMAP) with a mount namespace fd", Errno::EINVAL, set_idmap(&tree, mnt.as_raw_fd()))?;
        let ramfs = open_tree_clone("/tmp/ramfs").at("open_tree(\"/tmp/ramfs\", OPEN_TREE_CLONE)")?;
        expect_errno(
            "mount_setattr(MOUNT_ATTR_IDMAP) of a ramfs copy (no FS_ALLOW_IDMAP) with a user namespace fd",
            Errno::EINVAL,
            set_idmap(&ramfs, userns.as_raw_fd()),
        )
    })
}

fn idmap_once_and_detached_only() -> Outcome {
    in_scratch(|| {
        dirs(&["/tmp/src", "/tmp/dst"])?;
        tmpfs("/tmp/src")?;
        let userns = userns_with_map("0 0 1")?;
        let tree = open_tree_clone("/tmp/src").at("open_tree(\"/tmp/src\", OPEN_TREE_CLONE)")?;
        idmap_tmpfs(&tree, &userns, "the first mount_setattr(MOUNT_ATTR_IDMAP) of the detached copy")?;
        expect_errno("a second mount_setattr(MOUNT_ATTR_IDMAP) of the same copy", Errno::EPERM, set_idmap(&tree, userns.as_raw_fd()))?;
        move_mount(&tree, "/tmp/dst").at("move_mount of the idmapped copy to /tmp/dst")?;
        expect_errno(
            "mount_setattr(MOUNT_ATTR_IDMAP) of /tmp/src, a tmpfs attached to the tree",
            Errno::EINVAL,
            set_idmap_at("/tmp/src", userns.as_raw_fd()),
        )
    })
}
