//! `nsconform`: runs the conformance suites against the running kernel, inside a VM booting
//! a chosen kernel, across the kernel matrix, or against kernel mutants. Started by the VM
//! runner as its guest's init, it is the guest.

mod matrix;
mod mutants;
mod progress;

const USAGE: &str = "\
usage: nsconform <command> [OPTIONS]

commands:
  run [OPTIONS] [FILTER...]   run the checks against the running kernel (see `nsconform run --help`)
  list [FILTER...]            print the catalogue: id, behaviour, reference and needs of each check
  vm [OPTIONS] [FILTER...]    boot a kernel in QEMU and run the checks inside (see `nsconform vm --help`)
  matrix [OPTIONS]            run the kernel matrix of ci/kernels.toml against its expectations
  mutants [OPTIONS]           plant the bugs of ci/mutants/ in a kernel, one at a time: every one must make a check FAIL
  help                        print this help
  version                     print the version and the commit it was built from (also -V, --version)

Options follow the GNU conventions: --opt value or --opt=value, combined short flags (-qh),
and -- before FILTERs that begin with a dash.

Exit status: 0 no check failed, 1 at least one check failed, 2 bad usage
(`nsconform vm --help` lists the VM runner's further statuses).";

fn main() {
    nsconform_suites::run_exec_helper_if_asked();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let checks = nsconform_suites::all();
    if nsconform_vm::guest::is_guest() {
        nsconform_vm::guest::init(&checks);
    }
    let status = match args.first().map(String::as_str) {
        Some("run") => {
            nsconform_suites::sweep_leftovers();
            nsconform_harness::cli::main(&args[1..], &checks)
        }
        Some("list") => {
            let mut rest = vec!["--list".to_string()];
            rest.extend_from_slice(&args[1..]);
            nsconform_harness::cli::main(&rest, &checks)
        }
        Some("vm") => nsconform_vm::main(&args[1..], &checks, &progress::terminal),
        Some("matrix") => matrix::main(&args[1..]),
        Some("mutants") => mutants::main(&args[1..], &checks),
        Some("help" | "-h" | "--help") => {
            nsconform_harness::stdout::line(USAGE);
            0
        }
        Some("version" | "-V" | "--version") => {
            nsconform_harness::stdout::line(nsconform_harness::args::VERSION);
            0
        }
        Some(other) => {
            eprintln!("nsconform: unknown command {other:?}; try `nsconform help`");
            2
        }
        None => {
            eprintln!("{USAGE}");
            2
        }
    };
    std::process::exit(status)
}
