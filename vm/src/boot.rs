//! One guest run: the initramfs written, QEMU started, the result stream read as it comes,
//! and the run stopped at its deadline.

use crate::kernel::Kernel;
use crate::outcome::Failure;
use crate::pack;
use crate::progress::Progress;
use crate::qemu::{self, Accel, Machine};
use crate::results::LineBuffer;
use nsconform_harness::report::{terminal, Provenance, Record};
use nsconform_harness::stream::{Event, PROTOCOL};
use nsconform_harness::{Check, Need};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The modules the checks declare, and the NIC's drivers (virtio_net does not depend on
/// its PCI transport, so virtio_pci is named too).
fn wanted_modules(checks: &[Check]) -> Vec<&'static str> {
    let mut names = vec!["virtio_pci", "virtio_net"];
    for check in checks {
        for need in check.needs {
            if let Need::Module(name) = need {
                if !names.contains(name) {
                    names.push(name);
                }
            }
        }
    }
    names
}

pub fn write_initramfs(
    kernel: &Kernel,
    checks: &[Check],
    guest_args: &[String],
    path: &Path,
    progress: &dyn Fn(Progress),
) -> Result<(), Failure> {
    let start = Instant::now();
    // /proc/PID/exe still reads when a rebuild replaced the file meanwhile (and, unlike
    // /proc/self/exe, means this process to ldd too).
    let binary = PathBuf::from(format!("/proc/{}/exe", std::process::id()));
    let (archive, not_modules) = pack::initramfs(&binary, kernel, &wanted_modules(checks), guest_args)?;
    let bytes = archive.to_bytes();
    std::fs::write(path, &bytes).map_err(|e| Failure::tooling(format!("writing {}: {e}", path.display())))?;
    progress(Progress::Initramfs { path: path.to_path_buf(), bytes: bytes.len(), took: start.elapsed(), not_modules });
    Ok(())
}

/// What the guest run produced.
pub struct Guest {
    pub records: Vec<Record>,
    pub started: bool,
    pub finished: Option<i32>,
    pub hung: Option<String>,
    pub console: String,
    pub qemu_status: Option<std::process::ExitStatus>,
    pub qemu_stderr: String,
    pub duration: Duration,
    pub provenance: Provenance,
}

/// Boots the guest and gathers its records, completing each verdict from `checks`, the
/// catalogue the guest's init (this very binary) runs.
pub fn boot(
    machine: &Machine,
    kernel: &Kernel,
    checks: &[Check],
    initrd: &Path,
    out: &Path,
    deadline: Duration,
    progress: &dyn Fn(Progress),
) -> Result<Guest, Failure> {
    let (console_log, results_log, stderr_log) = (out.join("console.log"), out.join("results.log"), out.join("qemu.stderr"));
    for log in [&console_log, &results_log] {
        // A new file, not a truncated one: a QEMU of an earlier run that is still writing
        // keeps the old file, never this run's.
        let _ = std::fs::remove_file(log);
        std::fs::write(log, b"").map_err(|e| Failure::tooling(format!("{}: {e}", log.display())))?;
    }
    let stderr = std::fs::File::create(&stderr_log).map_err(|e| Failure::tooling(format!("{}: {e}", stderr_log.display())))?;
    let start = Instant::now();
    let mut qemu = machine
        .command(&kernel.image, initrd, &console_log, &results_log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| Failure::tooling(format!("cannot start {}: {e}", qemu::QEMU)))?;
    let mut results = std::fs::File::open(&results_log).map_err(|e| Failure::tooling(format!("{}: {e}", results_log.display())))?;
    let mut lines = LineBuffer::default();
    let mut guest = Guest {
        records: Vec::new(),
        started: false,
        finished: None,
        hung: None,
        console: String::new(),
        qemu_status: None,
        qemu_stderr: String::new(),
        duration: Duration::ZERO,
        provenance: Provenance::new(crate::shown(&kernel.config), "root, the init of a QEMU guest".into()),
    };
    let boot_deadline = deadline.min(Duration::from_secs(match machine.accel {
        Accel::Kvm => 20,
        Accel::Tcg => 60,
    }));
    loop {
        let exited = qemu.try_wait().map_err(|e| Failure::tooling(format!("waiting for QEMU: {e}")))?;
        let mut fresh = Vec::new();
        let _ = results.read_to_end(&mut fresh);
        for line in lines.push(&fresh) {
            let event = Event::parse(&line);
            match event {
                Some(Event::Started { protocol, kernel }) if protocol == PROTOCOL => {
                    guest.started = true;
                    progress(Progress::InitStarted { kernel, after: start.elapsed() });
                }
                Some(Event::Started { protocol, .. }) => {
                    guest.hung = Some(format!("the guest speaks result protocol {protocol}, this runner {PROTOCOL}"));
                }
                Some(Event::Module { name, error }) => progress(Progress::ModuleFailed { name, error }),
                Some(check @ Event::Check(_)) => {
                    if let Some(record) = check.record(checks) {
                        nsconform_harness::stdout::line(&terminal::line(&record));
                        guest.records.push(record);
                    }
                }
                Some(Event::Finished { status }) => guest.finished = Some(status),
                None => {}
            }
        }
        if let Some(status) = exited {
            guest.qemu_status = Some(status);
            break;
        }
        let elapsed = start.elapsed();
        let stalled = if let Some(refused) = guest.hung.take() {
            Some(refused)
        } else if !guest.started && elapsed > boot_deadline {
            Some(format!("init did not start within {boot_deadline:?}"))
        } else if elapsed > deadline {
            Some(format!("the guest ran past its {deadline:?} deadline"))
        } else {
            None
        };
        if let Some(why) = stalled {
            let _ = qemu.kill();
            let _ = qemu.wait();
            guest.hung = Some(why);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    guest.duration = start.elapsed();
    guest.console = String::from_utf8_lossy(&std::fs::read(&console_log).unwrap_or_default()).into_owned();
    guest.qemu_stderr = std::fs::read_to_string(&stderr_log).unwrap_or_default();
    Ok(guest)
}
