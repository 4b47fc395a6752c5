//! The `vm` command line: which kernel, which machine, which outputs, which checks.

use crate::kernel;
use crate::outcome::Failure;
use crate::qemu::Accel;
use nsconform_harness::report::Format;
use std::path::PathBuf;
use std::time::Duration;

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
                           the system's apt state; trusted through Debian's archive keyring,
                           installed as root where missing, e.g. on Ubuntu) and reused offline
                           afterwards; a version whose suite moved to another kernel line is
                           an error
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
  --jobs N                 checks the guest runs at the same time (default: its CPUs)
  --accel auto|kvm|tcg     auto (default) uses KVM only if a quick probe guest runs under it
  --deadline SECONDS       the whole guest run's deadline (default 60 with KVM, 240 with TCG)

Output:
  --report FORMAT=FILE     write a ktap, junit or json report of the guest's checks (repeatable;
                           FILE - is standard output, the verdict lines then go to stderr)
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
    pub jobs: Option<u32>,
    pub accel: Option<Accel>,
    pub deadline: Option<Duration>,
    pub reports: Vec<(Format, String)>,
    pub out: Option<PathBuf>,
    pub filters: Vec<String>,
    pub help: bool,
}

impl Options {
    /// The arguments of the guest's run: the options it takes from us, then the filters.
    pub fn guest_args(&self) -> Vec<String> {
        let jobs = self.jobs.map(|n| vec!["--jobs".to_string(), n.to_string()]).unwrap_or_default();
        jobs.into_iter().chain(["--".to_string()]).chain(self.filters.iter().cloned()).collect()
    }

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
            jobs: None,
            accel: None,
            deadline: None,
            reports: Vec::new(),
            out: None,
            filters: Vec::new(),
            help: false,
        };
        use nsconform_harness::args::{positive, shown, text, value, Arg};
        let mut parser = nsconform_harness::args::parser(args);
        while let Some(arg) = parser.next().map_err(|e| Failure::bad_input(e.to_string()))? {
            let name = shown(&arg);
            match arg {
                Arg::Long("kernel") => o.kernel = value(&mut parser, &name).map_err(Failure::bad_input)?,
                Arg::Long("config") => o.config = Some(value(&mut parser, &name).map_err(Failure::bad_input)?.into()),
                Arg::Long("modules") => o.modules = Some(value(&mut parser, &name).map_err(Failure::bad_input)?.into()),
                Arg::Long("fragment") => o.fragments.push(value(&mut parser, &name).map_err(Failure::bad_input)?.into()),
                Arg::Long("refresh") => o.refresh = true,
                Arg::Long("append") => o.append = value(&mut parser, &name).map_err(Failure::bad_input)?,
                Arg::Long("memory") => o.memory_mb = positive(&mut parser, &name).map_err(Failure::bad_input)?,
                Arg::Long("cpus") => o.cpus = positive(&mut parser, &name).map_err(Failure::bad_input)?,
                Arg::Long("jobs") => o.jobs = Some(positive(&mut parser, &name).map_err(Failure::bad_input)?),
                Arg::Long("deadline") => {
                    o.deadline = Some(Duration::from_secs(positive::<u64>(&mut parser, &name).map_err(Failure::bad_input)?))
                }
                Arg::Long("accel") => {
                    o.accel = match value(&mut parser, &name).map_err(Failure::bad_input)?.as_str() {
                        "auto" => None,
                        "kvm" => Some(Accel::Kvm),
                        "tcg" => Some(Accel::Tcg),
                        other => return Err(Failure::bad_input(format!("--accel wants auto, kvm or tcg, not {other:?}"))),
                    }
                }
                Arg::Long("report") => {
                    let spec = value(&mut parser, &name).map_err(Failure::bad_input)?;
                    let (format, file) = spec
                        .split_once('=')
                        .and_then(|(f, file)| Some((Format::parse(f)?, file.to_string())))
                        .filter(|(_, file)| !file.is_empty())
                        .ok_or_else(|| Failure::bad_input(format!("--report wants ktap|junit|json=FILE, not {spec:?}")))?;
                    o.reports.push((format, file));
                }
                Arg::Long("out") => o.out = Some(value(&mut parser, &name).map_err(Failure::bad_input)?.into()),
                Arg::Short('h') | Arg::Long("help") => o.help = true,
                Arg::Value(filter) => o.filters.push(text(filter, "FILTER").map_err(Failure::bad_input)?),
                _ => return Err(Failure::bad_input(format!("unknown option {name:?}; see nsconform vm --help"))),
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Exit;

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
        assert_eq!(o.guest_args(), ["--", "pid."]);
        let odd = Options::parse(&args("--jobs 1 -- --odd")).unwrap();
        assert_eq!(odd.guest_args(), ["--jobs", "1", "--", "--odd"], "a filter that looks like an option stays a filter");
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
