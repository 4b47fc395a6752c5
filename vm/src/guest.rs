//! The guest side: the same `nsconform` binary is the initramfs's /init. As PID 1 it mounts
//! the kernel filesystems, loads the packed modules, runs the checks with their results
//! streamed to the second serial port, and reboots (QEMU runs with -no-reboot, so it exits).

use nix::mount::{mount, MsFlags};
use nsconform_harness::stream::{Event, SPARE_NIC_VAR};
use nsconform_harness::Check;
use std::io::Write;
use std::os::fd::AsRawFd;

/// Where the host's initramfs puts things.
pub const RESULTS_TTY: &str = "/dev/ttyS1";
pub const ARGS_FILE: &str = "/nsconform/args";
pub const CONFIG_FILE: &str = "/nsconform/config";
pub const MODULES_DIR: &str = "/nsconform/modules";
pub const MODULE_ORDER: &str = "/nsconform/modules/order";

/// On the guest kernel's command line, set by the VM runner alone. The kernel hands an
/// unknown `NAME=value` (without a dot) to init as an environment variable.
pub const MARKER: &str = "NSCONFORM_GUEST=1";

/// This process is a guest's init: PID 1 and started by the VM runner's kernel command line.
/// PID 1 alone is not enough: a container entrypoint or `unshare -pf` is PID 1 too, and must
/// run as on any host (guest mode mounts over / and reboots).
pub fn is_guest() -> bool {
    let (name, value) = MARKER.split_once('=').expect("NAME=value");
    std::process::id() == 1 && std::env::var(name).is_ok_and(|v| v == value)
}

pub fn init(checks: &[Check]) -> ! {
    mount_kernel_filesystems();
    join_named_v1_hierarchy();
    let mut results = std::fs::OpenOptions::new().write(true).open(RESULTS_TTY).ok();
    let mut emit = |event: Event| {
        if let Some(tty) = results.as_mut() {
            let _ = writeln!(tty, "{}", event.line());
        }
    };
    let release = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    emit(Event::started(release));
    for (name, error) in load_modules() {
        emit(Event::Module { name, error });
    }
    if let Some(nic) = physical_nic() {
        // The guest's NIC is the runner's to lend: the physical-device check may move it.
        std::env::set_var(SPARE_NIC_VAR, nic);
    }
    if std::path::Path::new(CONFIG_FILE).exists() {
        std::env::set_var(nsconform_harness::kconfig::OVERRIDE_VAR, CONFIG_FILE);
    }
    let mut args = vec!["--stream".to_string(), RESULTS_TTY.to_string()];
    args.extend(std::fs::read_to_string(ARGS_FILE).unwrap_or_default().lines().filter(|l| !l.is_empty()).map(String::from));
    let status = nsconform_harness::cli::main(&args, checks);
    emit(Event::Finished { status });
    drain(results.as_ref());
    let _ = std::io::stdout().flush();
    drain(Some(&std::io::stdout()));
    nix::unistd::sync();
    let _ = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_AUTOBOOT);
    std::process::exit(status)
}

/// The first network device backed by hardware (a `device` link in sysfs): the runner's NIC.
fn physical_nic() -> Option<String> {
    let mut names: Vec<String> =
        std::fs::read_dir("/sys/class/net").ok()?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names.into_iter().find(|n| std::path::Path::new(&format!("/sys/class/net/{n}/device")).exists())
}

/// Waits until a serial port has sent everything written to it: reboot would cut it off.
fn drain(tty: Option<&impl AsRawFd>) {
    if let Some(tty) = tty {
        // SAFETY: tcdrain on an fd we own.
        unsafe { libc::tcdrain(tty.as_raw_fd()) };
    }
}

fn mount_kernel_filesystems() {
    // cgroup2 with nsdelegate (Linux 4.13), as systemd mounts it: the nsdelegate checks run in
    // the guest, which is thrown away, and never remount the host's hierarchy.
    let mounts: [(&str, &str, &str, Option<&str>); 6] = [
        ("proc", "/proc", "proc", None),
        ("sysfs", "/sys", "sysfs", None),
        ("devtmpfs", "/dev", "devtmpfs", None),
        ("tmpfs", "/tmp", "tmpfs", None),
        ("tmpfs", "/run", "tmpfs", None),
        ("cgroup2", "/sys/fs/cgroup", "cgroup2", Some("nsdelegate")),
    ];
    for (source, target, fstype, data) in mounts {
        let _ = std::fs::create_dir_all(target);
        // A kernel that rejects the option still gets the filesystem, without it.
        let mounted = mount(Some(source), target, Some(fstype), MsFlags::empty(), data).or_else(|e| {
            if data.is_some() {
                mount(Some(source), target, Some(fstype), MsFlags::empty(), None::<&str>)
            } else {
                Err(e)
            }
        });
        if let Err(e) = mounted {
            println!("nsconform-guest: mounting {fstype} on {target}: {e}");
        }
    }
}

/// A named cgroup v1 hierarchy (no controllers) with init, and so every check, in its child
/// cgroup "guest": cgroup.v1-mount-rooted-at-namespace-root needs a v1 hierarchy with the run
/// below its root, which no other guest mount gives. A kernel without cgroup v1 skips that check.
fn join_named_v1_hierarchy() {
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems.lines().any(|l| l.split_whitespace().last() == Some("cgroup")) {
        return;
    }
    let (point, child) = ("/run/cgroup-v1", "/run/cgroup-v1/guest");
    let joined = std::fs::create_dir_all(point)
        .and_then(|()| Ok(mount(Some("cgroup"), point, Some("cgroup"), MsFlags::empty(), Some("none,name=nsconform-guest"))?))
        .and_then(|()| std::fs::create_dir(child))
        .and_then(|()| std::fs::write(format!("{child}/cgroup.procs"), "0"));
    // The console log keeps it: the v1 mount check then SKIPs, for want of such a hierarchy.
    if let Err(e) = joined {
        println!("nsconform-guest: joining a named cgroup v1 hierarchy at {child}: {e}");
    }
}

/// Loads the packed modules in order; returns the ones that failed, with the reason.
fn load_modules() -> Vec<(String, String)> {
    let order = std::fs::read_to_string(MODULE_ORDER).unwrap_or_default();
    let mut failed = Vec::new();
    for name in order.lines().filter(|l| !l.is_empty()) {
        let path = format!("{MODULES_DIR}/{name}.ko");
        let result = std::fs::File::open(&path).map_err(|e| e.to_string()).and_then(|file| {
            // SAFETY: finit_module(2) with a valid fd and an empty parameter string.
            let ret = unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), c"".as_ptr(), 0) };
            match nix::errno::Errno::result(ret) {
                Ok(_) | Err(nix::errno::Errno::EEXIST) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        });
        if let Err(error) = result {
            failed.push((name.to_string(), error));
        }
    }
    failed
}
