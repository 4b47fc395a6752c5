//! The scratch space of mount checks: a private mount namespace with a tmpfs on /tmp, and
//! the mount calls the checks build in it.

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nsconform_harness::{spawn, At, Kind, Outcome, Spawn};

/// The source name of every tmpfs the checks mount, to tell them from the host's mounts.
pub(crate) const SOURCE: &str = "nsconform";

pub(crate) fn tmpfs(point: &str) -> Outcome {
    tmpfs_with(point, MsFlags::empty())
}

pub(crate) fn tmpfs_with(point: &str, flags: MsFlags) -> Outcome {
    mount(Some(SOURCE), point, Some("tmpfs"), flags, Some("size=64k")).at(&format!("mounting a tmpfs on {point}"))
}

pub(crate) fn dirs(paths: &[&str]) -> Outcome {
    paths.iter().try_for_each(|p| std::fs::create_dir(p).at(&format!("creating the directory {p}")))
}

pub(crate) fn touch(path: &str) -> Outcome {
    std::fs::File::create(path).map(drop).at(&format!("creating the file {path}"))
}

pub(crate) fn bind(source: &str, target: &str, flags: MsFlags) -> Result<(), Errno> {
    mount(Some(source), target, None::<&str>, MsFlags::MS_BIND | flags, None::<&str>)
}

/// Runs `body` in a new, private mount namespace with a tmpfs on /tmp: the scratch space every
/// check builds its mounts in.
pub(crate) fn in_scratch(body: impl FnOnce() -> Outcome) -> Outcome {
    spawn(Spawn::clone(&[Kind::Mnt]), |_| {
        tmpfs("/tmp")?;
        body()
    })?
    .join()
}
