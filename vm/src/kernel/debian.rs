//! Debian's cloud kernels, fetched with apt into a private cache (its own sources list, lists,
//! archives and trust), so the system's apt state is never touched. The archive is trusted
//! through Debian's keyring alone (signed-by), never through the system's keys, so a Debian
//! host and an Ubuntu host (with debian-archive-keyring, which is installed when missing)
//! behave alike. A fetched kernel is reused without any network access; `--refresh` asks apt
//! for a newer one.

use super::Kernel;
use crate::outcome::Failure;
use crate::progress::Progress;
use std::path::{Path, PathBuf};
use std::process::Command;

const MIRROR: &str = "http://deb.debian.org/debian";
/// Debian's archive keys: package debian-archive-keyring, on Debian and on Ubuntu (universe).
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
const META: &str = "linux-image-cloud-amd64";

/// The Debian suite carrying each kernel line, or a suite alias.
const SUITES: &[(&str, &str)] = &[
    ("5.10", "bullseye"),
    ("6.1", "bookworm"),
    ("6.12", "trixie"),
    ("7.2", "sid"),
    ("oldstable", "oldstable"),
    ("stable", "stable"),
    ("testing", "testing"),
    ("unstable", "unstable"),
];

pub fn suite_of(version: &str) -> Result<&'static str, Failure> {
    SUITES.iter().find(|(v, _)| *v == version).map(|(_, s)| *s).ok_or_else(|| {
        let known: Vec<_> = SUITES.iter().map(|(v, _)| *v).collect();
        let (last, rest) = known.split_last().expect("a non-empty table");
        Failure::bad_input(format!("unknown Debian kernel {version:?}: use {} or {last}", rest.join(", ")))
    })
}

struct Apt {
    dir: PathBuf,
}

impl Apt {
    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(tool);
        let d = &self.dir;
        cmd.arg("-q")
            .arg(format!("-oDir::Etc::SourceList={}", d.join("sources.list").display()))
            .arg("-oDir::Etc::SourceParts=/dev/null")
            .arg(format!("-oDir::State::Lists={}", d.join("lists").display()))
            .arg(format!("-oDir::Cache={}", d.join("cache").display()))
            .arg(format!("-oDir::Etc::Trusted={}", d.join("trusted.gpg").display()))
            .arg(format!("-oDir::Etc::TrustedParts={}", d.join("trusted.gpg.d").display()))
            .arg("-oDebug::NoLocking=1");
        if nix::unistd::geteuid().is_root() {
            cmd.arg("-oAPT::Sandbox::User=root");
        }
        cmd
    }

    fn run(&self, tool: &str, args: &[&str], cwd: &Path) -> Result<String, Failure> {
        let out = self
            .command(tool)
            .args(args)
            .current_dir(cwd)
            .output()
            .map_err(|e| {
                Failure::tooling(format!(
                    "cannot run {tool} ({e}): debian: kernels need apt; without it give a kernel image (--kernel PATH) or a kernel source with --fragment"
                ))
            })?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            return Err(Failure::tooling(format!("{tool} {}: {last}", args.join(" "))));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The versioned kernel packages the meta-package pulls in (image, binary, modules, base).
    fn kernel_packages(&self) -> Result<Vec<String>, Failure> {
        let mut wanted = vec![META.to_string()];
        let mut found: Vec<String> = Vec::new();
        while let Some(pkg) = wanted.pop() {
            let show = self.run("apt-cache", &["show", "--no-all-versions", &pkg], &self.dir)?;
            let depends = show.lines().find_map(|l| l.strip_prefix("Depends:")).unwrap_or("");
            for alt in depends.split([',', '|']) {
                let name = alt.split_whitespace().next().unwrap_or("");
                if is_versioned_kernel_package(name) && !found.iter().any(|f| f == name) {
                    found.push(name.to_string());
                    wanted.push(name.to_string());
                }
            }
        }
        if found.is_empty() {
            return Err(Failure::tooling(format!("{META} names no kernel package")));
        }
        Ok(found)
    }
}

/// `linux-image-6.1.0-50-cloud-amd64`, `linux-binary-7.2.13+deb14-cloud-amd64`, ...
fn is_versioned_kernel_package(name: &str) -> bool {
    ["linux-image-", "linux-binary-", "linux-modules-", "linux-base-"]
        .iter()
        .any(|p| name.strip_prefix(p).is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit())))
}

pub fn fetch(version: &str, cache: &Path, refresh: bool, progress: &dyn Fn(Progress)) -> Result<Kernel, Failure> {
    let suite = suite_of(version)?;
    let dir = cache.join(suite);
    let root = dir.join("root");
    let label = format!("debian:{version}");
    std::fs::create_dir_all(&dir).map_err(|e| Failure::tooling(format!("creating {}: {e}", dir.display())))?;
    let _lock = lock(&dir, &label, progress)?;
    if root.exists() && !refresh {
        progress(Progress::DebianCached { label: label.clone(), root: root.clone() });
        return locate(&root, label).and_then(|k| of_version(version, suite, k));
    }
    let apt = Apt { dir: dir.clone() };
    ensure_keyring(progress)?;
    for sub in ["lists/partial", "cache/archives/partial", "debs", "trusted.gpg.d"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| Failure::tooling(format!("creating {}: {e}", dir.display())))?;
    }
    std::fs::write(dir.join("sources.list"), format!("deb [signed-by={KEYRING}] {MIRROR} {suite} main\n"))
        .map_err(|e| Failure::tooling(format!("writing the private sources list: {e}")))?;
    progress(Progress::ReadingPackageLists { label: label.clone(), suite: suite.into(), mirror: MIRROR.into() });
    apt.run("apt-get", &["update"], &dir)?;
    let packages = apt.kernel_packages()?;
    progress(Progress::Downloading { label: label.clone(), packages: packages.clone() });
    let debs = dir.join("debs");
    for old in std::fs::read_dir(&debs).into_iter().flatten().flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    let mut args = vec!["download"];
    args.extend(packages.iter().map(String::as_str));
    apt.run("apt-get", &args, &debs)?;
    let staging = dir.join("root.new");
    let _ = std::fs::remove_dir_all(&staging);
    for deb in std::fs::read_dir(&debs).into_iter().flatten().flatten() {
        progress(Progress::UnpackingPackage { label: label.clone(), file: deb.file_name().to_string_lossy().into_owned() });
        let status = Command::new("dpkg-deb").arg("-x").arg(deb.path()).arg(&staging).status();
        if !status.is_ok_and(|s| s.success()) {
            return Err(Failure::tooling(format!("dpkg-deb -x {} failed", deb.path().display())));
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::rename(&staging, &root).map_err(|e| Failure::tooling(format!("moving the kernel into the cache: {e}")))?;
    locate(&root, label).and_then(|k| of_version(version, suite, k))
}

/// Installs Debian's archive keyring where it is missing (an Ubuntu host), as root with apt;
/// otherwise says what to do.
fn ensure_keyring(progress: &dyn Fn(Progress)) -> Result<(), Failure> {
    if Path::new(KEYRING).exists() {
        return Ok(());
    }
    let missing = || format!("{KEYRING} is missing: install the package debian-archive-keyring (on Ubuntu from universe)");
    if !nix::unistd::geteuid().is_root() {
        return Err(Failure::tooling(missing()));
    }
    progress(Progress::InstallingKeyring);
    // dpkg prints its progress whatever -qq says: shown only when the install fails.
    let installed = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends", "debian-archive-keyring"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output();
    match installed {
        Ok(out) if out.status.success() && Path::new(KEYRING).exists() => Ok(()),
        Ok(out) => Err(Failure::tooling(format!(
            "{}; apt-get could not: {}",
            missing(),
            String::from_utf8_lossy(&out.stderr).trim().lines().last().unwrap_or("no message")
        ))),
        Err(e) => Err(Failure::tooling(format!("{}; apt-get could not run: {e}", missing()))),
    }
}

/// A kernel line (`7.2`) must be what its suite gave: a suite that moved on to another line
/// is an error, never a silent substitute.
fn of_version(version: &str, suite: &str, kernel: Kernel) -> Result<Kernel, Failure> {
    let numbered = version.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if numbered && !kernel.release.starts_with(&format!("{version}.")) {
        return Err(Failure::tooling(format!(
            "debian:{version} asked for Linux {version}, but Debian's {suite} has {}: use debian:{suite} for it, or another version",
            kernel.release
        )));
    }
    Ok(kernel)
}

/// Serialises fetches of one suite: parallel runs of a cold cache would share apt's lists.
fn lock(dir: &Path, label: &str, progress: &dyn Fn(Progress)) -> Result<std::fs::File, Failure> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::create(dir.join("lock")).map_err(|e| Failure::tooling(format!("{}: {e}", dir.display())))?;
    // SAFETY: flock on an fd we own; the lock goes with the file.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        progress(Progress::WaitingForFetch { label: label.into() });
        // SAFETY: flock on a descriptor this function owns; the lock goes with it.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    }
    Ok(file)
}

/// Finds image, config and modules in an unpacked kernel package (/boot and /lib/modules, or
/// /usr/lib/modules/VERSION/{vmlinuz,config} in newer packages).
fn locate(root: &Path, label: String) -> Result<Kernel, Failure> {
    let modules_parent = ["usr/lib/modules", "lib/modules"].iter().map(|p| root.join(p)).find(|p| p.is_dir());
    let release_dir = modules_parent
        .as_ref()
        .and_then(|p| std::fs::read_dir(p).ok()?.flatten().map(|e| e.path()).find(|p| p.is_dir()))
        .ok_or_else(|| Failure::tooling(format!("no modules directory in {}", root.display())))?;
    let release = release_dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let first = |candidates: [PathBuf; 2]| candidates.into_iter().find(|p| p.exists());
    let image = first([root.join(format!("boot/vmlinuz-{release}")), release_dir.join("vmlinuz")])
        .ok_or_else(|| Failure::tooling(format!("no vmlinuz for {release} in {}", root.display())))?;
    let config = first([root.join(format!("boot/config-{release}")), release_dir.join("config")]);
    let kernel = Kernel { label, image, release: release.clone(), config, modules: Some(release_dir) };
    let header = super::image::release_of(&kernel.image)?;
    if header != release {
        return Err(Failure::tooling(format!("the image says {header} but its modules are for {release}")));
    }
    Ok(kernel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("linux-image-6.1.0-50-cloud-amd64", true)]
    #[case("linux-binary-7.2.13+deb14-cloud-amd64", true)]
    #[case("linux-modules-7.2.13+deb14-cloud-amd64", true)]
    #[case("linux-image-cloud-amd64", false)]
    #[case("linux-base-cloud-amd64", false)]
    #[case("initramfs-tools", false)]
    fn recognises_versioned_kernel_packages(#[case] name: &str, #[case] versioned: bool) {
        assert_eq!(is_versioned_kernel_package(name), versioned);
    }

    #[test]
    fn a_suite_that_moved_to_another_kernel_line_is_an_error() {
        let kernel =
            |release: &str| Kernel { label: "debian".into(), image: PathBuf::new(), release: release.into(), config: None, modules: None };
        assert!(of_version("7.2", "sid", kernel("7.2.13+deb14-cloud-amd64")).is_ok());
        assert!(of_version("6.1", "bookworm", kernel("6.1.0-50-cloud-amd64")).is_ok());
        assert!(of_version("unstable", "unstable", kernel("7.3.1+deb14-cloud-amd64")).is_ok());
        let e = of_version("7.2", "sid", kernel("7.3.1+deb14-cloud-amd64")).unwrap_err();
        assert_eq!(
            e.message,
            "debian:7.2 asked for Linux 7.2, but Debian's sid has 7.3.1+deb14-cloud-amd64: use debian:sid for it, or another version"
        );
        assert!(of_version("7.2", "sid", kernel("7.21.0-1-cloud-amd64")).is_err(), "7.21 is not 7.2");
    }

    #[test]
    fn maps_kernel_lines_to_suites() {
        assert_eq!(suite_of("6.1").unwrap(), "bookworm");
        assert_eq!(suite_of("stable").unwrap(), "stable");
    }
}
