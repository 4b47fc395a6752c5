//! Runs the `nsconform` binary the way a user would and reads its JSON report.

#![allow(dead_code)] // each test file uses a different part

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_nsconform")
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A directory anyone may read and write, holding a copy of the binary anyone may run
/// (the build tree may sit under a home directory that `nobody` cannot enter).
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::copy(binary(), dir.path().join("nsconform")).expect("copying the binary");
        Sandbox { dir }
    }

    pub fn binary(&self) -> PathBuf {
        self.dir.path().join("nsconform")
    }

    pub fn report(&self) -> PathBuf {
        self.dir.path().join("report.json")
    }
}

/// Runs `command`, retrying while its binary is busy: a freshly copied binary stays
/// ETXTBSY while a process that another test thread forks still holds the copy's write fd
/// (until its exec closes it).
pub fn output_of(command: &mut Command) -> Output {
    for _ in 0..50 {
        match command.output() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => std::thread::sleep(std::time::Duration::from_millis(20)),
            other => return other.expect("running nsconform"),
        }
    }
    panic!("the binary stayed busy (ETXTBSY) for a second")
}

/// The outcome of a run: its exit status, output and parsed JSON report.
pub struct RunResult {
    pub output: Output,
    pub report: serde_json::Value,
}

impl RunResult {
    pub fn checks(&self) -> &Vec<serde_json::Value> {
        self.report["checks"].as_array().expect("a checks array")
    }

    pub fn with_verdict(&self, verdict: &str) -> Vec<String> {
        self.checks().iter().filter(|c| c["verdict"] == verdict).map(|c| c["id"].as_str().unwrap().to_string()).collect()
    }

    pub fn describe(&self) -> String {
        format!("{}{}", String::from_utf8_lossy(&self.output.stdout), String::from_utf8_lossy(&self.output.stderr))
    }
}

/// Runs `nsconform run ARGS --report json=REPORT` as prepared by `command`.
pub fn run(mut command: Command, report: &Path, args: &[&str]) -> RunResult {
    command.arg("run").args(args).arg("--report").arg(format!("json={}", report.display()));
    let output = output_of(&mut command);
    let text = std::fs::read_to_string(report)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); output:\n{}", String::from_utf8_lossy(&output.stdout)));
    RunResult { output, report: serde_json::from_str(&text).expect("a JSON report") }
}
