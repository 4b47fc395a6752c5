//! The VM runner: boots a chosen kernel in QEMU with an initramfs holding the suite binary as
//! init, and reports the checks' verdicts as a host run would. It knows kernels, QEMU and
//! initramfs; what the checks verify is the suites' business.

pub mod boot;
pub mod conclusion;
pub mod console;
pub mod guest;
pub mod initramfs;
pub mod kernel;
pub mod modules;
pub mod options;
pub mod outcome;
pub mod pack;
pub mod progress;
pub mod qemu;
pub mod results;

use boot::{boot, write_initramfs};
use conclusion::conclude;
use kernel::Spec;
use nsconform_harness::Check;
use options::Options;
pub use options::USAGE;
use outcome::{Exit, Failure, EXIT_CODES};
use progress::Progress;
use qemu::{Accel, Machine};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `nsconform vm ARGS`: returns the exit status. The run's progress goes to `progress`.
pub fn main(args: &[String], checks: &[Check], progress: &dyn Fn(Progress)) -> i32 {
    match run(args, checks, progress) {
        Ok(exit) => exit as i32,
        Err(failure) => {
            eprintln!("nsconform vm: {}", failure.message);
            failure.exit as i32
        }
    }
}

fn run(args: &[String], checks: &[Check], progress: &dyn Fn(Progress)) -> Result<Exit, Failure> {
    let options = Options::parse(args)?;
    if options.help {
        nsconform_harness::stdout::line(&format!("{USAGE}\n{EXIT_CODES}"));
        return Ok(Exit::Passed);
    }
    let filters = nsconform_harness::cli::Options { filters: options.filters.clone(), ..Default::default() };
    filters.filters_match(checks).map_err(Failure::bad_input)?;
    for (format, file) in &options.reports {
        if file == "-" {
            // Standard output carries the report: the verdict lines go to standard error.
            nsconform_harness::stdout::divert_to_stderr();
            continue;
        }
        std::fs::File::create(file).map_err(|e| Failure::bad_input(format!("cannot write the {} report to {file}: {e}", format.name())))?;
    }
    let spec = Spec::parse(&options.kernel, options.config.clone(), options.modules.clone(), options.fragments.clone())?;
    let qemu_version = qemu::ensure_installed(progress).map_err(Failure::tooling)?;
    let cache = cache_dir()?;
    let kernel = spec.resolve(&cache, options.refresh, progress)?;
    progress(Progress::Kernel { label: kernel.label.clone(), release: kernel.release.clone(), config: kernel.config.clone() });
    let out = options.out.clone().unwrap_or_else(|| cache.join("runs").join(sanitize(&kernel.label)));
    std::fs::create_dir_all(&out).map_err(|e| Failure::bad_input(format!("cannot create the output directory {}: {e}", out.display())))?;
    let _lock = lock(&out)?;

    let initrd = out.join("initramfs.cpio");
    write_initramfs(&kernel, checks, &options.guest_args(), &initrd, progress)?;
    let accel = options.accel.unwrap_or_else(|| {
        progress(Progress::ProbingKvm);
        if qemu::kvm_works(&kernel.image, &out, &cache) {
            Accel::Kvm
        } else {
            Accel::Tcg
        }
    });
    let deadline = options.deadline.unwrap_or(match accel {
        Accel::Kvm => Duration::from_secs(60),
        Accel::Tcg => Duration::from_secs(240),
    });
    let config = kernel.config.as_deref().and_then(|path| nsconform_harness::kconfig::Kconfig::read(path).ok());
    let hz = config.as_ref().and_then(|c| c.value("CONFIG_HZ")?.parse().ok());
    let machine = Machine { accel, memory_mb: options.memory_mb, cpus: options.cpus, append: options.append.clone(), hz };
    progress(Progress::Booting { accel, qemu_version, deadline });
    let mut guest = boot(&machine, &kernel, checks, &initrd, &out, deadline, progress)?;
    if !guest.started && console::panic_lines(&guest.console).is_some() {
        // Seen once in about 25 boots of Debian 7.2 under TCG with 2 vCPUs: an int3 Oops in
        // ktime_get while the kernel patched its own text, before init.
        let first_console = out.join("console.first-boot.log");
        std::fs::rename(out.join("console.log"), &first_console)
            .map_err(|e| Failure::tooling(format!("keeping the first console log: {e}")))?;
        progress(Progress::BootingAgain { first_console });
        guest = boot(&machine, &kernel, checks, &initrd, &out, deadline, progress)?;
    }
    progress(Progress::ConsoleLog { path: out.join("console.log") });
    let selected: Vec<&Check> = checks.iter().filter(|c| filters.selects(c.id)).collect();
    conclude(guest, &kernel, &options.reports, &selected, progress)
}

/// Holds the output directory for this run: two runs writing the same logs would mix them.
fn lock(out: &Path) -> Result<std::fs::File, Failure> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::create(out.join("lock"))
        .map_err(|e| Failure::bad_input(format!("cannot write in the output directory {}: {e}", out.display())))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(Failure::bad_input(format!("another run is using {}; give this one its own --out DIR", out.display())));
    }
    Ok(file)
}

pub(crate) fn shown(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "unknown".into())
}

pub fn cache_dir() -> Result<PathBuf, Failure> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("NSCONFORM_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("nsconform")))
        .or_else(|| env("HOME").map(|d| d.join(".cache/nsconform")))
        .ok_or_else(|| Failure::bad_input("no cache directory: set NSCONFORM_CACHE or HOME"))
}

fn sanitize(label: &str) -> String {
    label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
}
