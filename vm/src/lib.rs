//! The VM runner: boots a chosen kernel in QEMU with an initramfs holding the suite binary as
//! init, and reports the checks' verdicts as a host run would. It knows kernels, QEMU and
//! initramfs; what the checks verify is the suites' business.

pub mod console;
pub mod guest;
pub mod initramfs;
pub mod kernel;
pub mod modules;
pub mod outcome;
pub mod pack;
pub mod qemu;
pub mod results;

use kernel::{Kernel, Spec};
use nsconform_harness::report::{terminal, Format, Provenance, Record, Run, Verdict};
use nsconform_harness::stream::{Event, PROTOCOL};
use nsconform_harness::{Check, Need};
use outcome::{progress, Exit, Failure, EXIT_CODES};
use qemu::{Accel, Machine};
use results::LineBuffer;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
usage: nsconform vm [OPTIONS] [FILTER...]

Boots a kernel in QEMU and runs the checks (those whose id contains a FILTER, or all) inside
it, printing the same verdicts as `nsconform run` on the host.

Kernel (default debian:stable, the current Debian stable's cloud kernel):
  --kernel PATH            a bzImage/vmlinuz; its config and modules are looked for next to it,
                           in /boot and /lib/modules unless given:
  --config FILE            the kernel's config
  --modules DIR            its modules directory (lib/modules/RELEASE)
  --kernel debian:VERSION  Debian's cloud kernel: 5.10, 6.1, 6.12, 7.2, oldstable, stable,
                           testing or unstable, fetched with apt into the cache (never touching
                           the system's apt state) and reused offline afterwards
  --refresh                ask apt for a newer package instead of reusing the cached one
  --kernel SOURCE --fragment FILE [--fragment FILE...]
                           build SOURCE (a kernel tree or tarball, or source:PATH) from
                           tinyconfig plus the config fragments (merged in order; e.g.
                           ci/configs/minimal.config ci/configs/no-uts-ns.config); cached by
                           content hash, and refused if Kconfig drops a requested option

Machine:
  --append ARGS            extra kernel command-line arguments
  --memory MB              guest memory (default 1024)
  --cpus N                 guest CPUs (default 2)
  --accel auto|kvm|tcg     auto (default) uses KVM only if a quick probe guest runs under it
  --deadline SECONDS       the whole guest run's deadline (default 60 with KVM, 240 with TCG)

Output:
  --report FORMAT=FILE     write a ktap, junit or json report of the guest's checks (repeatable)
  --out DIR                where the initramfs and logs go (default CACHE/runs/KERNEL)
  -h, --help               print this help

The cache is $NSCONFORM_CACHE, else $XDG_CACHE_HOME/nsconform, else ~/.cache/nsconform.
The kernel console log is kept in the output directory as console.log.
";

#[derive(Debug, PartialEq)]
pub struct Options {
    pub kernel: String,
    pub config: Option<PathBuf>,
    pub modules: Option<PathBuf>,
    pub fragments: Vec<PathBuf>,
    pub refresh: bool,
    pub append: String,
    pub memory_mb: u32,
    pub cpus: u32,
    pub accel: Option<Accel>,
    pub deadline: Option<Duration>,
    pub reports: Vec<(Format, String)>,
    pub out: Option<PathBuf>,
    pub filters: Vec<String>,
    pub help: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, Failure> {
        let mut o = Options {
            kernel: kernel::DEFAULT.into(),
            config: None,
            modules: None,
            fragments: Vec::new(),
            refresh: false,
            append: String::new(),
            memory_mb: 1024,
            cpus: 2,
            accel: None,
            deadline: None,
            reports: Vec::new(),
            out: None,
            filters: Vec::new(),
            help: false,
        };
        use nsconform_harness::args::{shown, text, Arg};
        let mut parser = nsconform_harness::args::parser(args);
        while let Some(arg) = parser.next().map_err(|e| Failure::bad_input(e.to_string()))? {
            let name = shown(&arg);
            macro_rules! value {
                () => {
                    nsconform_harness::args::value(&mut parser, &name).map_err(Failure::bad_input)
                };
            }
            let number = |name: &str, text: String| {
                text.parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Failure::bad_input(format!("{name} wants a positive number, not {text:?}")))
            };
            match arg {
                Arg::Long("kernel") => o.kernel = value!()?,
                Arg::Long("config") => o.config = Some(value!()?.into()),
                Arg::Long("modules") => o.modules = Some(value!()?.into()),
                Arg::Long("fragment") => o.fragments.push(value!()?.into()),
                Arg::Long("refresh") => o.refresh = true,
                Arg::Long("append") => o.append = value!()?,
                Arg::Long("memory") => o.memory_mb = number(&name, value!()?)?,
                Arg::Long("cpus") => o.cpus = number(&name, value!()?)?,
                Arg::Long("deadline") => o.deadline = Some(Duration::from_secs(number(&name, value!()?)?.into())),
                Arg::Long("accel") => {
                    o.accel = match value!()?.as_str() {
                        "auto" => None,
                        "kvm" => Some(Accel::Kvm),
                        "tcg" => Some(Accel::Tcg),
                        other => return Err(Failure::bad_input(format!("--accel wants auto, kvm or tcg, not {other:?}"))),
                    }
                }
                Arg::Long("report") => {
                    let spec = value!()?;
                    let (format, file) = spec
                        .split_once('=')
                        .and_then(|(f, file)| Some((Format::parse(f)?, file.to_string())))
                        .filter(|(_, file)| !file.is_empty())
                        .ok_or_else(|| Failure::bad_input(format!("--report wants ktap|junit|json=FILE, not {spec:?}")))?;
                    o.reports.push((format, file));
                }
                Arg::Long("out") => o.out = Some(value!()?.into()),
                Arg::Short('h') | Arg::Long("help") => o.help = true,
                Arg::Value(filter) => o.filters.push(text(filter, "FILTER").map_err(Failure::bad_input)?),
                _ => return Err(Failure::bad_input(format!("unknown option {name:?}; see nsconform vm --help"))),
            }
        }
        Ok(o)
    }
}

/// `nsconform vm ARGS`: returns the exit status.
pub fn main(args: &[String], checks: &[Check]) -> i32 {
    match run(args, checks) {
        Ok(exit) => exit as i32,
        Err(failure) => {
            eprintln!("nsconform vm: {}", failure.message);
            failure.exit as i32
        }
    }
}

fn run(args: &[String], checks: &[Check]) -> Result<Exit, Failure> {
    let options = Options::parse(args)?;
    if options.help {
        nsconform_harness::stdout::line(&format!("{USAGE}\n{EXIT_CODES}"));
        return Ok(Exit::Passed);
    }
    let filters = nsconform_harness::cli::Options { filters: options.filters.clone(), ..Default::default() };
    filters.filters_match(checks).map_err(Failure::bad_input)?;
    for (format, file) in &options.reports {
        std::fs::File::create(file).map_err(|e| Failure::bad_input(format!("cannot write the {} report to {file}: {e}", format.name())))?;
    }
    let spec = Spec::parse(&options.kernel, options.config.clone(), options.modules.clone(), options.fragments.clone())?;
    let qemu_version = qemu::ensure_installed(progress).map_err(Failure::tooling)?;
    let cache = cache_dir()?;
    let kernel = spec.resolve(&cache, options.refresh)?;
    progress(&format!("kernel {} ({}), config {}", kernel.label, kernel.release, shown(&kernel.config)));
    let out = options.out.clone().unwrap_or_else(|| cache.join("runs").join(sanitize(&kernel.label)));
    std::fs::create_dir_all(&out).map_err(|e| Failure::bad_input(format!("cannot create the output directory {}: {e}", out.display())))?;
    let _lock = lock(&out)?;

    let initrd = out.join("initramfs.cpio");
    write_initramfs(&kernel, checks, &options.filters, &initrd)?;
    let accel = options.accel.unwrap_or_else(|| {
        progress("probing KVM");
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
    let machine = Machine { accel, memory_mb: options.memory_mb, cpus: options.cpus, append: options.append.clone() };
    progress(&format!("booting under {} ({qemu_version}), deadline {deadline:?}", accel.name()));
    let guest = boot(&machine, &kernel, &initrd, &out, deadline)?;
    progress(&format!("console log: {}", out.join("console.log").display()));
    let selected: Vec<&Check> = checks.iter().filter(|c| filters.selects(c.id)).collect();
    conclude(guest, &kernel, &options.reports, &selected)
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

fn shown(path: &Option<PathBuf>) -> String {
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

fn write_initramfs(kernel: &Kernel, checks: &[Check], filters: &[String], path: &Path) -> Result<(), Failure> {
    let start = Instant::now();
    // /proc/PID/exe still reads when a rebuild replaced the file meanwhile (and, unlike
    // /proc/self/exe, means this process to ldd too).
    let binary = PathBuf::from(format!("/proc/{}/exe", std::process::id()));
    let (archive, not_modules) = pack::initramfs(&binary, kernel, &wanted_modules(checks), filters)?;
    let bytes = archive.to_bytes();
    std::fs::write(path, &bytes).map_err(|e| Failure::tooling(format!("writing {}: {e}", path.display())))?;
    progress(&format!(
        "initramfs {} ({:.1} MB) in {:.2} s; not packed as modules (built in or absent): {}",
        path.display(),
        bytes.len() as f64 / 1e6,
        start.elapsed().as_secs_f64(),
        if not_modules.is_empty() { "none".into() } else { not_modules.join(", ") }
    ));
    Ok(())
}

/// What the guest run produced.
struct Guest {
    records: Vec<Record>,
    started: bool,
    finished: Option<i32>,
    hung: Option<String>,
    console: String,
    qemu_status: Option<std::process::ExitStatus>,
    qemu_stderr: String,
    duration: Duration,
    provenance: Provenance,
}

fn boot(machine: &Machine, kernel: &Kernel, initrd: &Path, out: &Path, deadline: Duration) -> Result<Guest, Failure> {
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
        provenance: Provenance::new(shown(&kernel.config), "root, the init of a QEMU guest".into()),
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
                    progress(&format!("init started on Linux {kernel} after {:.1} s", start.elapsed().as_secs_f64()));
                }
                Some(Event::Started { protocol, .. }) => {
                    guest.hung = Some(format!("the guest speaks result protocol {protocol}, this runner {PROTOCOL}"));
                }
                Some(Event::Module { name, error }) => progress(&format!("module {name} did not load: {error}")),
                Some(check @ Event::Check(_)) => {
                    if let Some(record) = check.record() {
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

fn conclude(mut guest: Guest, kernel: &Kernel, reports: &[(Format, String)], selected: &[&Check]) -> Result<Exit, Failure> {
    if let Some(lines) = console::panic_lines(&guest.console) {
        eprintln!("nsconform vm: the kernel panicked:");
        for line in lines {
            eprintln!("  {line}");
        }
        not_run(&mut guest, selected, "the kernel panicked");
        write_reports(&guest, kernel, reports)?;
        return Ok(Exit::Panicked);
    }
    if let Some(why) = guest.hung.clone() {
        let hint = if guest.console.trim().is_empty() { " (the console stayed silent)" } else { "" };
        not_run(&mut guest, selected, &format!("the guest hung: {why}"));
        write_reports(&guest, kernel, reports)?;
        return Err(Failure::new(Exit::Hung, format!("the guest hung: {why}{hint}; killed QEMU")));
    }
    if guest.console.trim().is_empty() && !guest.qemu_status.is_some_and(|s| s.success()) {
        let err = guest.qemu_stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim().to_string();
        return Err(Failure::tooling(format!("QEMU failed ({}): {err}", shown_status(guest.qemu_status))));
    }
    if !guest.started {
        let last = console::tail(&guest.console, 1).pop().unwrap_or_default();
        return Err(Failure::new(
            Exit::NoInit,
            format!(
                "the guest stopped before its init started; last console line: {last:?}{}",
                if last.trim().is_empty() { " (a silent console: if the cached kernel is damaged, run again with --refresh)" } else { "" }
            ),
        ));
    }
    let Some(status) = guest.finished else {
        let last = guest.records.last().map(|r| r.id.clone()).unwrap_or_else(|| "none".into());
        not_run(&mut guest, selected, "the guest stopped before init finished the run");
        write_reports(&guest, kernel, reports)?;
        return Err(Failure::new(Exit::NoInit, format!("the guest stopped before init finished the run (last check reported: {last})")));
    };
    write_reports(&guest, kernel, reports)?;
    Ok(match status {
        0 => Exit::Passed,
        1 => Exit::ChecksFailed,
        nsconform_harness::report::EXIT_BROKEN => Exit::Broken,
        _ => Exit::BadInput,
    })
}

/// Records the selected checks the guest never reported as BROKEN, saying why: the reports
/// then hold what was received and name what was not run.
fn not_run(guest: &mut Guest, selected: &[&Check], why: &str) {
    for check in selected {
        if !guest.records.iter().any(|r| r.id == check.id) {
            let verdict =
                Verdict::Broken(nsconform_harness::Failure::new("running the check in the guest", "a verdict", format!("none: {why}")));
            guest.records.push(Record::new(check, verdict, Duration::ZERO));
        }
    }
}

fn shown_status(status: Option<std::process::ExitStatus>) -> String {
    status.map(|s| s.to_string()).unwrap_or_else(|| "not started".into())
}

fn write_reports(guest: &Guest, kernel: &Kernel, reports: &[(Format, String)]) -> Result<(), Failure> {
    let run = Run {
        kernel: kernel.release.clone(),
        provenance: guest.provenance.clone(),
        records: guest.records.clone(),
        duration: guest.duration,
    };
    if !run.records.is_empty() {
        nsconform_harness::stdout::line(&format!("{} (guest run incl. boot)", terminal::summary(&run)));
    }
    let skipped_reasons = run.records.iter().filter(|r| matches!(&r.verdict, Verdict::Skip(reason) if reason.is_empty())).count();
    if skipped_reasons > 0 {
        eprintln!("nsconform vm: {skipped_reasons} skips carry no reason");
    }
    for (format, file) in reports {
        std::fs::write(file, format.render(&run)).map_err(|e| Failure::bad_input(format!("cannot write the report {file}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_options_and_filters() {
        let o = Options::parse(&args("--kernel debian:6.1 --accel tcg --memory 512 --deadline 30 --report ktap=out.ktap pid.")).unwrap();
        assert_eq!(o.kernel, "debian:6.1");
        assert_eq!(o.accel, Some(Accel::Tcg));
        assert_eq!(o.memory_mb, 512);
        assert_eq!(o.deadline, Some(Duration::from_secs(30)));
        assert_eq!(o.reports, vec![(Format::Ktap, "out.ktap".to_string())]);
        assert_eq!(o.filters, ["pid."]);
        assert_eq!(Options::parse(&[]).unwrap().kernel, "debian:stable");
        let gnu = Options::parse(&args("--kernel=debian:5.10 --cpus=4 -- --odd")).unwrap();
        assert_eq!((gnu.kernel.as_str(), gnu.cpus, gnu.filters), ("debian:5.10", 4, vec!["--odd".to_string()]));
    }

    #[test]
    fn rejects_bad_options_with_one_line() {
        for (line, message) in [
            ("--accel xen", "--accel wants auto, kvm or tcg, not \"xen\""),
            ("--memory lots", "--memory wants a positive number, not \"lots\""),
            ("--report html=x", "--report wants ktap|junit|json=FILE, not \"html=x\""),
            ("--frobnicate", "unknown option \"--frobnicate\"; see nsconform vm --help"),
            ("--kernel", "--kernel needs a value"),
            ("--memory=0", "--memory wants a positive number, not \"0\""),
        ] {
            let e = Options::parse(&args(line)).unwrap_err();
            assert_eq!((e.exit, e.message.as_str()), (Exit::BadInput, message));
        }
    }
}
