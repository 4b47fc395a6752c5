//! The QEMU command line, and the probe that decides whether KVM can be trusted.

use crate::progress::Progress;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const QEMU: &str = "qemu-system-x86_64";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

pub struct Machine {
    pub accel: Accel,
    pub memory_mb: u32,
    pub cpus: u32,
    /// Extra kernel command-line arguments.
    pub append: String,
    /// The kernel's CONFIG_HZ, where its config is known.
    pub hz: Option<u64>,
}

impl Machine {
    /// ttyS0 carries the kernel console, ttyS1 the results. `panic=-1` with `-no-reboot`
    /// makes a panic end QEMU at once; the guest ends a run with reboot(2) for the same reason
    /// (a kernel without ACPI never powers off). The NIC is a virtio-net device on a hub port
    /// with no other member: a real (non-virtual) device with no connectivity.
    pub fn command(&self, image: &Path, initrd: &Path, console: &Path, results: &Path) -> Command {
        let mut cmd = qemu();
        cmd.args(["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"])
            .args(["-accel", self.accel.name()])
            .args(["-m", &self.memory_mb.to_string(), "-smp", &self.cpus.to_string()])
            .arg("-kernel")
            .arg(image)
            .arg("-initrd")
            .arg(initrd)
            .arg("-append")
            .arg(
                format!(
                    "console=ttyS0 panic=-1 oops=panic loglevel=4 {}rdinit=/init {} {}",
                    self.clock_args(),
                    crate::guest::MARKER,
                    self.append
                )
                .trim_end(),
            )
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .arg("-serial")
            .arg(format!("file:{}", results.display()))
            .args(["-netdev", "hubport,id=n0,hubid=0", "-device", "virtio-net-pci,netdev=n0"]);
        if self.accel == Accel::Tcg {
            cmd.args(["-cpu", "max"]);
        }
        cmd
    }

    /// Under TCG the guest's TSC runs at the host's rate, but calibrating it against the
    /// emulated PIT sometimes fails and the clocksource watchdog sometimes marks it unstable;
    /// the kernel then falls back to jiffies, and the vDSO answers clock_gettime with the
    /// system call, leaving the time checks' vDSO reads untested (mutant 91 survived so).
    /// The host's TSC rate and `tsc=reliable` keep the guest on the TSC. With the kernel's HZ,
    /// `lpj` is the value the boot CPU derives from that rate: without it a TCG CPU lacking
    /// constant_tsc calibrates the delay loop again on every other CPU ("calibrate_delay_direct()
    /// failed"): 0.12 s of boot with 2 vCPUs here, 0.04 s with it.
    fn clock_args(&self) -> String {
        if self.accel != Accel::Tcg {
            return String::new();
        }
        match (host_tsc_khz(), self.hz) {
            (Some(khz), Some(hz)) if hz > 0 => format!("tsc=reliable tsc_early_khz={khz} lpj={} ", khz * 1000 / hz),
            (Some(khz), _) => format!("tsc=reliable tsc_early_khz={khz} "),
            (None, _) => "tsc=reliable ".into(),
        }
    }
}

/// The host's CPU clock in kHz from /proc/cpuinfo (x86's constant TSC runs at it).
fn host_tsc_khz() -> Option<u64> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mhz: f64 = cpuinfo.lines().find_map(|l| l.strip_prefix("cpu MHz")?.split(':').nth(1)?.trim().parse().ok())?;
    Some((mhz * 1000.0).round() as u64)
}

/// QEMU as a child that dies with this process, however it ends (a signal to it alone, a
/// panic, a closed stdout): PR_SET_PDEATHSIG, set between fork and exec.
fn qemu() -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(QEMU);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// KVM is used only if this kernel actually starts under it: /dev/kvm existing is not enough
/// (on some hosts a KVM guest stalls silently in the boot stub, after "Probing EDD"). The
/// probe boots the kernel without an initramfs and waits up to 3 s for start_kernel()'s
/// "Linux version" banner. The answer is remembered per host boot (boot_id) in `cache`.
pub fn kvm_works(image: &Path, work: &Path, cache: &Path) -> bool {
    if std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        return false;
    }
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    // Remembered per boot and per image: a damaged image must not settle the answer for others.
    let image_id = std::fs::metadata(image).map(|m| format!("{}-{:?}", m.len(), m.modified().ok())).unwrap_or_default();
    let image_id: String = image_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    let remembered = cache.join(format!("kvm-probe-{}-{image_id}", boot_id.trim()));
    if let Ok(answer) = std::fs::read_to_string(&remembered) {
        return answer.trim() == "works";
    }
    let serial = work.join("kvm-probe.log");
    let _ = std::fs::remove_file(&serial);
    let child = qemu()
        .args(["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-accel", "kvm", "-m", "256"])
        .arg("-kernel")
        .arg(image)
        .args(["-append", "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1 rdinit=/nonexistent"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return false };
    let started = |_: ()| std::fs::read_to_string(&serial).is_ok_and(|log| log.contains("Linux version"));
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut works = false;
    while Instant::now() < deadline && !works {
        works = started(());
        if matches!(child.try_wait(), Ok(Some(_))) {
            works = started(());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::write(&remembered, if works { "works" } else { "stalls" });
    works
}

/// The installer (also run by CI): Debian 12 takes qemu-system-x86 from bookworm-backports,
/// to match its preinstalled qemu-utils.
const INSTALLER: &str = include_str!("../install-qemu.sh");

fn version() -> Option<String> {
    let out = Command::new(QEMU).arg("--version").output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").to_string())
}

/// QEMU's version, installing it first when it is missing and we are root on a Debian
/// system; otherwise the error names exactly what to install.
pub fn ensure_installed(progress: &dyn Fn(Progress)) -> Result<String, String> {
    if let Some(v) = version() {
        return Ok(v);
    }
    let how = "install qemu-system-x86 (on Debian 12 from bookworm-backports, to match its qemu-utils): \
               ci/install-qemu.sh does it";
    let can_install = nix::unistd::geteuid().is_root() && Path::new("/usr/bin/apt-get").exists();
    if !can_install {
        return Err(format!("{QEMU} not found: {how}"));
    }
    progress(Progress::InstallingQemu);
    let status = Command::new("bash").arg("-c").arg(INSTALLER).stdout(Stdio::null()).status();
    match (status, version()) {
        (Ok(s), Some(v)) if s.success() => Ok(v),
        _ => Err(format!("{QEMU} not found and installing it failed: {how}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composes_console_results_nic_and_accel() {
        let m = Machine { accel: Accel::Tcg, memory_mb: 512, cpus: 2, append: "quiet".into(), hz: Some(250) };
        let cmd = m.command(Path::new("/k"), Path::new("/i"), Path::new("/c.log"), Path::new("/r.log"));
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.contains("-accel tcg"), "{joined}");
        assert!(joined.contains("-serial file:/c.log -serial file:/r.log"), "{joined}");
        assert!(joined.contains("console=ttyS0 panic=-1 oops=panic loglevel=4 tsc=reliable "), "{joined}");
        assert!(joined.contains("rdinit=/init NSCONFORM_GUEST=1 quiet"), "{joined}");
        if let Some(khz) = host_tsc_khz() {
            assert!(joined.contains(&format!("tsc_early_khz={khz} lpj={} ", khz * 4)), "{joined}");
        }
        assert!(joined.contains("-no-reboot"), "{joined}");
        assert!(joined.contains("virtio-net-pci"), "{joined}");
    }
}
