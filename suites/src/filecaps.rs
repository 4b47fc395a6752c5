//! File capabilities across user namespaces (capabilities(7), "File capability extended
//! attribute versioning"): a security.capability attribute written by root of a user namespace
//! names that root's uid (a version 3 attribute with its root id), reads back in each reader's
//! terms, and gives capabilities on execve only where its root id is root.

use crate::fixture::{cap_set, map_id, root_target};
use crate::sys::{errno_result, is_parents_root};
use nsconform_harness::{expect_eq, spawn, At, Check, Kind, Need, Outcome, Spawn, Stop};
use std::ffi::CString;
use std::os::unix::process::CommandExt;

pub const CHECKS: &[Check] = &[Check::new(
    "user.file-caps-bound-to-namespace-root",
    "security.capability (version 2: CAP_NET_RAW permitted and effective), written on a file of the parent's tmpfs by root of a child user namespace whose root is uid 100000 outside, is stored as version 3 with root id 100000: it reads back as version 2 inside and as version 3 naming 100000 outside, and executing the file under SECBIT_NOROOT gives CAP_NET_RAW inside, where the root id is root, and no capability outside, where it is not",
    "capabilities(7) File capability extended attribute versioning; cap_convert_nscap() (a version 2 attribute from a writer without CAP_SETFCAP over the filesystem's user namespace becomes version 3 with the writer's root), cap_inode_getsecurity() (version 2 for a reader whose root the root id is) and get_vfs_caps_from_disk() with rootid_owns_currentns() (kuid_root_in_ns() in later kernels) in security/commoncap.c",
    &[Need::Kind(Kind::User), Need::Kind(Kind::Mnt), Need::Config("CONFIG_TMPFS_XATTR")],
    file_caps_bound_to_namespace_root,
)];

const NAME: &std::ffi::CStr = c"security.capability";
const CAP_NET_RAW: u32 = 13;
/// The capability sets a program executed under SECBIT_NOROOT gains from the attribute.
const GAINED: u64 = 1 << CAP_NET_RAW;
/// magic_etc of struct vfs_cap_data and vfs_ns_cap_data (include/uapi/linux/capability.h).
const REVISION_2: u32 = 0x0200_0000;
const REVISION_3: u32 = 0x0300_0000;
const FLAG_EFFECTIVE: u32 = 0x0000_0001;
/// The copy of this binary that carries the attribute, on the check's own tmpfs.
const PROGRAM: &str = "/tmp/capped";
/// The exec helper that prints its capability sets (see `print_capabilities`).
pub const HELPER: &str = "capabilities";

/// The attribute as the kernel stores and returns it: version 2 (magic, permitted and
/// inheritable for two words) or version 3 (the same and a root id), little-endian.
#[derive(Debug, PartialEq, Eq)]
struct Attribute {
    magic: u32,
    permitted: u64,
    inheritable: u64,
    rootid: Option<u32>,
}

impl Attribute {
    fn bytes(&self) -> Vec<u8> {
        let words =
            [self.magic, self.permitted as u32, self.inheritable as u32, (self.permitted >> 32) as u32, (self.inheritable >> 32) as u32];
        words.iter().chain(self.rootid.iter()).flat_map(|w| w.to_le_bytes()).collect()
    }

    fn parse(bytes: &[u8]) -> Option<Attribute> {
        let words: Vec<u32> = bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        match words[..] {
            [magic, p0, i0, p1, i1, ref rest @ ..] if rest.len() <= 1 && bytes.len() % 4 == 0 => Some(Attribute {
                magic,
                permitted: u64::from(p0) | (u64::from(p1) << 32),
                inheritable: u64::from(i0) | (u64::from(i1) << 32),
                rootid: rest.first().copied(),
            }),
            _ => None,
        }
    }
}

fn written() -> Attribute {
    Attribute { magic: REVISION_2 | FLAG_EFFECTIVE, permitted: GAINED, inheritable: 0, rootid: None }
}

fn set_attribute(path: &str, value: &Attribute) -> Outcome {
    let c_path = CString::new(path).at("the program's path")?;
    let bytes = value.bytes();
    // SAFETY: path and name are C strings and bytes a live buffer of the given length.
    errno_result(unsafe { libc::setxattr(c_path.as_ptr(), NAME.as_ptr(), bytes.as_ptr().cast(), bytes.len(), 0) } as libc::c_long)
        .map(drop)
        .at(&format!("setxattr {path} security.capability {value:?}"))
}

/// The attribute as the caller's user namespace reads it, `None` if it does not parse.
fn get_attribute(path: &str) -> Result<Option<Attribute>, Stop> {
    let c_path = CString::new(path).at("the program's path")?;
    let mut buffer = [0u8; 64];
    // SAFETY: path and name are C strings and buffer a live buffer of the given length.
    let size =
        errno_result(unsafe { libc::getxattr(c_path.as_ptr(), NAME.as_ptr(), buffer.as_mut_ptr().cast(), buffer.len()) } as libc::c_long)
            .at(&format!("getxattr {path} security.capability"))?;
    Ok(Attribute::parse(&buffer[..size as usize]))
}

/// Executes `program` as the capability printer under SECBIT_NOROOT and without ambient
/// capabilities, so that root gains only what the file grants: (permitted, effective) of the
/// new program.
fn capabilities_after_exec(program: &str) -> Result<(u64, u64), Stop> {
    let mut command = crate::exec_helper(program, HELPER);
    // SAFETY: prctl is async-signal-safe; the hook touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            // Ambient capabilities would survive execve of a file without file capabilities.
            let cleared = libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0;
            match cleared && libc::prctl(libc::PR_SET_SECUREBITS, 1 /* SECBIT_NOROOT */, 0, 0, 0) == 0 {
                true => Ok(()),
                false => Err(std::io::Error::last_os_error()),
            }
        })
    };
    let out = command.output().at(&format!("execve {program} under SECBIT_NOROOT"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let sets: Vec<u64> = text.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    match (out.status.success(), &sets[..]) {
        (true, &[permitted, effective]) => Ok((permitted, effective)),
        _ => Err(Stop::broken(
            format!("execve {program} as the capability printer"),
            "CapPrm and CapEff printed",
            format!("{}: {text:?}", out.status),
        )),
    }
}

/// The exec helper: its own permitted and effective sets (nothing where they cannot be read).
pub fn print_capabilities() {
    if let (Ok(permitted), Ok(effective)) = (cap_set("CapPrm"), cap_set("CapEff")) {
        println!("{permitted} {effective}");
    }
}

fn file_caps_bound_to_namespace_root() -> Outcome {
    let (root_uid, root_gid) = root_target();
    if is_parents_root("uid_map", root_uid)? || root_uid == 0 {
        return Err(Stop::skip(format!(
            "the run is not root of the initial user namespace, and the uid it maps a child's root to ({root_uid}, its own) is root here too: the attribute would be honoured on both sides"
        )));
    }
    spawn(Spawn::clone(&[Kind::Mnt]), move |_| {
        // Room for this binary (5 MiB in a release build, 60 in a debug one) and a little more.
        let size = std::fs::metadata("/proc/self/exe").setup("the size of this binary")?.len() + (1 << 20);
        nix::mount::mount(
            Some(crate::scratch::SOURCE),
            "/tmp",
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("size={size}").as_str()),
        )
        .at("mounting a tmpfs on /tmp")?;
        std::fs::copy("/proc/self/exe", PROGRAM).setup(&format!("copying this binary to {PROGRAM}"))?;
        nix::unistd::chown(PROGRAM, Some(root_uid.into()), Some(root_gid.into())).at(&format!("chown {PROGRAM} to the child's root"))?;
        let mut child = spawn(Spawn::clone(&[Kind::User]), |to_parent| {
            to_parent.sync("the new user namespace")?;
            to_parent.sync("the mapping")?;
            // Root of the namespace: uid 0 inside, the mapped root id outside.
            nix::unistd::setresgid(0.into(), 0.into(), 0.into()).at("setresgid(0) inside")?;
            nix::unistd::setresuid(0.into(), 0.into(), 0.into()).at("setresuid(0) inside")?;
            set_attribute(PROGRAM, &written())?;
            expect_eq("the attribute read back inside (the root id is root here)", Some(written()), get_attribute(PROGRAM)?)?;
            // Exactly the file's set: without SECBIT_NOROOT root would gain every capability.
            expect_eq(
                "(CapPrm, CapEff) of the file executed inside under SECBIT_NOROOT",
                (GAINED, GAINED),
                capabilities_after_exec(PROGRAM)?,
            )
        })?;
        child.sync("the new user namespace")?;
        map_id(&child.pid().to_string(), 0, root_uid, root_gid)?;
        child.sync("the mapping")?;
        child.join()?;
        let stored = Attribute { magic: REVISION_3 | FLAG_EFFECTIVE, rootid: Some(root_uid), ..written() };
        expect_eq(&format!("the attribute read outside (version 3, root id {root_uid})"), Some(stored), get_attribute(PROGRAM)?)?;
        expect_eq(
            &format!("(CapPrm, CapEff) of the file executed outside under SECBIT_NOROOT, where its root id {root_uid} is not root"),
            (0, 0),
            capabilities_after_exec(PROGRAM)?,
        )
    })?
    .join()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_in_the_kernel_layout() {
        let v3 = Attribute { magic: REVISION_3 | FLAG_EFFECTIVE, rootid: Some(100_000), ..written() };
        assert_eq!(v3.bytes().len(), 24);
        assert_eq!(&v3.bytes()[..8], &[1, 0, 0, 3, 0, 0x20, 0, 0]);
        assert_eq!(Attribute::parse(&v3.bytes()), Some(v3));
        assert_eq!(written().bytes().len(), 20);
        assert_eq!(Attribute::parse(&[0; 12]), None);
    }
}
