//! Facts about the kernel and the privileges of this run, gathered once in the runner before
//! any check process is forked (children inherit them).

use crate::kconfig::Kconfig;
use crate::kind::{ns_inode, Kind};
use crate::userns;
use std::sync::OnceLock;

pub struct Facts {
    pub release: String,
    pub version: (u32, u32, u32),
    /// `None`: no config file was found anywhere (not an error: verdicts account for it).
    pub kconfig: Option<Kconfig>,
    /// Effective CAP_SYS_ADMIN in our own user namespace.
    pub cap_sys_admin: bool,
    /// Our user namespace is the initial one.
    pub in_initial_userns: bool,
    /// Whether this run can create a user namespace and become root in it.
    pub userns: Result<(), String>,
    /// Kinds whose user.max_<kind>_namespaces is 0 where the run starts: none can be created.
    pub forbidden: Vec<Kind>,
}

static FACTS: OnceLock<Facts> = OnceLock::new();

/// include/uapi/linux/capability.h
pub const CAP_SYS_ADMIN: u32 = 21;

/// The facts of this run. The first call gathers them: make it before forking.
pub fn facts() -> &'static Facts {
    FACTS.get_or_init(|| Facts::gather().unwrap_or_else(|e| panic!("cannot read the kernel's facts: {e}")))
}

impl Facts {
    fn gather() -> Result<Facts, String> {
        let uts = nix::sys::utsname::uname().map_err(|e| format!("uname: {e}"))?;
        let release = uts.release().to_string_lossy().into_owned();
        let version = parse_version(&release).ok_or_else(|| format!("cannot parse kernel release {release:?}"))?;
        let kconfig = Kconfig::find(&release)?;
        let cap_sys_admin = has_effective_cap(CAP_SYS_ADMIN)?;
        let in_initial_userns = is_initial(Kind::User);
        let userns = if cap_sys_admin { Ok(()) } else { userns::probe() };
        let forbidden = Kind::ALL.into_iter().filter(|k| namespace_limit(*k) == Some(0)).collect();
        Ok(Facts { release, version, kconfig, cap_sys_admin, in_initial_userns, userns, forbidden })
    }

    /// The option's state as a verdict can use it: `Some(bool)` when a config was found.
    pub fn config_enabled(&self, option: &str) -> Option<bool> {
        self.kconfig.as_ref().map(|c| c.enabled(option))
    }

    /// The kind is built in: by the config when there is one, else assumed (creation decides).
    pub fn kind_configured(&self, kind: Kind) -> Option<bool> {
        match kind.config_option() {
            None => Some(true),
            Some(option) => self.config_enabled(option),
        }
    }
}

/// user.max_<kind>_namespaces of the run's user namespace (kernel/ucount.c); `None` where the
/// kernel has no such sysctl.
pub fn namespace_limit(kind: Kind) -> Option<u64> {
    let path = format!("/proc/sys/user/max_{}_namespaces", kind.name());
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `major.minor.patch` from a release such as `6.1.0-50-cloud-amd64` or `6.18.44-fc`.
pub fn parse_version(release: &str) -> Option<(u32, u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

/// The process is in the initial namespace of `kind` (fixed inodes, include/linux/proc_ns.h).
/// A kernel without the kind (no /proc/self/ns entry) has only its initial namespace.
pub fn is_initial(kind: Kind) -> bool {
    match (kind.initial_inode(), ns_inode("self", kind.name())) {
        (Some(initial), Ok(ino)) => ino == initial,
        (Some(_), Err(e)) => e.kind() == std::io::ErrorKind::NotFound && std::path::Path::new("/proc/self/ns").is_dir(),
        (None, _) => false,
    }
}

/// The value of a line of /proc/self/status ("CapEff", "Seccomp", ...), trimmed.
pub fn status_field(name: &str) -> Result<String, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    let value = status.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':'));
    value.map(|v| v.trim().to_string()).ok_or_else(|| format!("/proc/self/status has no {name} line"))
}

/// A capability set of /proc/self/status: "CapPrm", "CapEff", "CapBnd", ...
pub fn cap_set(name: &str) -> Result<u64, String> {
    let hex = status_field(name)?;
    u64::from_str_radix(&hex, 16).map_err(|e| format!("{name} {hex:?}: {e}"))
}

/// Whether `cap` is in the effective set.
pub fn has_effective_cap(cap: u32) -> Result<bool, String> {
    Ok(cap_set("CapEff")? & (1 << cap) != 0)
}

#[cfg(test)]
mod tests {
    use super::{parse_version, status_field};

    #[test]
    fn reads_status_fields_trimmed() {
        assert_eq!(status_field("Pid"), Ok(std::process::id().to_string()));
        assert!(status_field("NoSuchLine").is_err());
    }
    use rstest::rstest;

    #[rstest]
    #[case("6.1.0-50-cloud-amd64", Some((6, 1, 0)))]
    #[case("6.18.44-fc-v669", Some((6, 18, 44)))]
    #[case("5.10.223", Some((5, 10, 223)))]
    #[case("7.2", Some((7, 2, 0)))]
    #[case("linux", None)]
    fn parses_kernel_releases(#[case] release: &str, #[case] expected: Option<(u32, u32, u32)>) {
        assert_eq!(parse_version(release), expected);
    }
}
