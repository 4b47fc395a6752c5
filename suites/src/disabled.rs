//! How the kernel refuses a namespace kind that is configured out: clone(2) and unshare(2)
//! with its flag fail with EINVAL, and /proc/self/ns has no entry for it
//! (e.g. copy_utsname() in include/linux/utsname.h without CONFIG_UTS_NS; proc_ns_dir_entries
//! in fs/proc/namespaces.c lists only configured kinds).

use crate::sys::try_clone;
use nix::errno::Errno;
use nsconform_harness::{expect_errno, spawn, Kind, Outcome, Spawn, Stop};

/// The check that `$kind`'s flag is refused when its config option is off.
macro_rules! refused_when_configured_out {
    ($id:literal, $kind:expr) => {
        nsconform_harness::Check::new(
            $id,
            "With the kind configured out, clone and unshare with its flag give EINVAL and /proc/self/ns lacks its entry",
            "clone(2) and unshare(2) ERRORS (EINVAL); create_new_namespaces() in kernel/nsproxy.c; proc_ns_dir_entries in fs/proc/namespaces.c",
            &[nsconform_harness::Need::KindDisabled($kind)],
            || crate::disabled::refused($kind),
        )
    };
}
pub(crate) use refused_when_configured_out;

pub fn refused(kind: Kind) -> Outcome {
    spawn(Spawn::fork(), |_| {
        let flag = nix::sched::CloneFlags::from_bits_retain(kind.flag());
        expect_errno(&format!("unshare({})", kind.flag_name()), Errno::EINVAL, nix::sched::unshare(flag))?;
        expect_errno(&format!("clone({})", kind.flag_name()), Errno::EINVAL, try_clone(kind.flag()))?;
        expect_no_ns_entry(kind.name())
    })?
    .join()
}

/// /proc/self/ns lists only configured kinds.
pub fn expect_no_ns_entry(entry: &str) -> Outcome {
    let path = format!("/proc/self/ns/{entry}");
    let observed = match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => e.to_string(),
        Ok(_) => "it exists".to_string(),
    };
    Err(Stop::fail(format!("looking up {path}"), "no such entry (ENOENT)", observed))
}
