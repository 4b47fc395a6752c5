//! What a VM run reports while it works, as typed events. The library never prints them: each
//! step takes a sink from its caller (the `nsconform` binary prints them on the terminal; a
//! test collects them).

use crate::qemu::Accel;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// QEMU is missing and is being installed.
    InstallingQemu,
    /// Debian's archive keyring is missing (an Ubuntu host): installing it with apt-get.
    InstallingKeyring,
    /// A Debian kernel fetched before is reused, without network access.
    DebianCached {
        label: String,
        root: PathBuf,
    },
    /// Another run holds the suite's fetch lock.
    WaitingForFetch {
        label: String,
    },
    ReadingPackageLists {
        label: String,
        suite: String,
        mirror: String,
    },
    Downloading {
        label: String,
        packages: Vec<String>,
    },
    /// One downloaded .deb being unpacked.
    UnpackingPackage {
        label: String,
        file: String,
    },
    /// A source kernel built before with the same source and fragments is reused.
    BuildCached {
        label: String,
        dir: PathBuf,
    },
    UnpackingSource {
        tarball: PathBuf,
    },
    Configuring,
    Building {
        jobs: usize,
    },
    /// A long `make` is still going: the lines it printed so far and its latest one.
    BuildStep {
        steps: usize,
        now: String,
    },
    /// The kernel the run boots.
    Kernel {
        label: String,
        release: String,
        config: Option<PathBuf>,
    },
    Initramfs {
        path: PathBuf,
        bytes: usize,
        took: Duration,
        not_modules: Vec<String>,
    },
    ProbingKvm,
    Booting {
        accel: Accel,
        qemu_version: String,
        deadline: Duration,
    },
    InitStarted {
        kernel: String,
        after: Duration,
    },
    /// A module the checks want that the guest's init could not load.
    ModuleFailed {
        name: String,
        error: String,
    },
    /// The kernel panicked before init started: nothing of the suite ran, so the runner boots
    /// once more (an emulator's flake passes; a kernel that cannot boot panics again).
    BootingAgain {
        first_console: PathBuf,
    },
    ConsoleLog {
        path: PathBuf,
    },
    /// The kernel panicked: the panic's console lines.
    Panicked {
        lines: Vec<String>,
    },
    /// The guest reported skips without a reason.
    SkipsWithoutReason {
        count: usize,
    },
}

impl Progress {
    /// A finding about the run's result rather than a step of it: the terminal shows it as the
    /// command's own message, not as a timed progress line.
    pub fn is_diagnostic(&self) -> bool {
        matches!(self, Progress::Panicked { .. } | Progress::SkipsWithoutReason { .. })
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::InstallingQemu => write!(f, "installing qemu-system-x86 with apt-get (about 10 s)"),
            Progress::InstallingKeyring => write!(f, "installing debian-archive-keyring with apt-get, to trust Debian's archive"),
            Progress::DebianCached { label, root } => write!(f, "{label}: using the cached kernel in {}", root.display()),
            Progress::WaitingForFetch { label } => write!(f, "{label}: waiting for another run fetching it"),
            Progress::ReadingPackageLists { label, suite, mirror } => write!(f, "{label}: reading the {suite} package lists from {mirror}"),
            Progress::Downloading { label, packages } => write!(f, "{label}: downloading {}", packages.join(" ")),
            Progress::UnpackingPackage { label, file } => write!(f, "{label}: unpacking {file}"),
            Progress::BuildCached { label, dir } => write!(f, "using the cached build of {label} in {}", dir.display()),
            Progress::UnpackingSource { tarball } => write!(f, "unpacking {}", tarball.display()),
            Progress::Configuring => write!(f, "configuring: tinyconfig + fragments"),
            Progress::Building { jobs } => write!(f, "building bzImage with {jobs} jobs (a few minutes)"),
            Progress::BuildStep { steps, now } => write!(f, "  ... {steps} steps, now {now}"),
            Progress::Kernel { label, release, config } => write!(f, "kernel {label} ({release}), config {}", crate::shown(config)),
            Progress::Initramfs { path, bytes, took, not_modules } => write!(
                f,
                "initramfs {} ({:.1} MB) in {:.2} s; not packed as modules (built in or absent): {}",
                path.display(),
                *bytes as f64 / 1e6,
                took.as_secs_f64(),
                if not_modules.is_empty() { "none".into() } else { not_modules.join(", ") }
            ),
            Progress::ProbingKvm => write!(f, "probing KVM"),
            Progress::Booting { accel, qemu_version, deadline } => {
                write!(f, "booting under {} ({qemu_version}), deadline {deadline:?}", accel.name())
            }
            Progress::InitStarted { kernel, after } => write!(f, "init started on Linux {kernel} after {:.1} s", after.as_secs_f64()),
            Progress::ModuleFailed { name, error } => write!(f, "module {name} did not load: {error}"),
            Progress::BootingAgain { first_console } => {
                write!(f, "the kernel panicked before init started (its console log: {}); booting once more", first_console.display())
            }
            Progress::ConsoleLog { path } => write!(f, "console log: {}", path.display()),
            Progress::Panicked { lines } => {
                write!(f, "the kernel panicked:")?;
                lines.iter().try_for_each(|line| write!(f, "\n  {line}"))
            }
            Progress::SkipsWithoutReason { count } => write!(f, "{count} skips carry no reason"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_the_terminal_lines_always_did() {
        for (event, text) in [
            (
                Progress::Booting {
                    accel: Accel::Tcg,
                    qemu_version: "QEMU emulator version 9.2.0".into(),
                    deadline: Duration::from_secs(240),
                },
                "booting under tcg (QEMU emulator version 9.2.0), deadline 240s",
            ),
            (
                Progress::Initramfs {
                    path: "/o/initramfs.cpio".into(),
                    bytes: 12_345_678,
                    took: Duration::from_millis(420),
                    not_modules: vec![],
                },
                "initramfs /o/initramfs.cpio (12.3 MB) in 0.42 s; not packed as modules (built in or absent): none",
            ),
            (
                Progress::Kernel { label: "debian:6.1".into(), release: "6.1.0-50".into(), config: None },
                "kernel debian:6.1 (6.1.0-50), config unknown",
            ),
            (
                Progress::InitStarted { kernel: "6.12.9".into(), after: Duration::from_millis(1234) },
                "init started on Linux 6.12.9 after 1.2 s",
            ),
            (
                Progress::Downloading {
                    label: "debian:6.1".into(),
                    packages: vec!["linux-image-6.1.0-50-cloud-amd64".into(), "linux-base-6.1".into()],
                },
                "debian:6.1: downloading linux-image-6.1.0-50-cloud-amd64 linux-base-6.1",
            ),
            (Progress::BuildStep { steps: 812, now: "CC kernel/nsproxy.o".into() }, "  ... 812 steps, now CC kernel/nsproxy.o"),
            (
                Progress::Panicked { lines: vec!["Kernel panic - not syncing: x".into(), "CPU: 0".into()] },
                "the kernel panicked:\n  Kernel panic - not syncing: x\n  CPU: 0",
            ),
        ] {
            assert_eq!(event.to_string(), text);
        }
        assert!(Progress::SkipsWithoutReason { count: 2 }.is_diagnostic() && !Progress::ProbingKvm.is_diagnostic());
    }
}
