//! The VM runner end to end on a real Debian kernel under QEMU: a full run, a panic at boot,
//! a guest past its deadline, and bad input, each with its documented exit status.
//! Needs network access to Debian's mirror once (the kernel is cached) and QEMU (installed by
//! the runner when it runs as root on Debian).

mod common;

use std::process::{Command, Output};

const KERNEL: &str = "debian:6.1";

/// Runs `nsconform vm ARGS` with an output directory of its own (tests run in parallel).
fn vm(args: &[&str]) -> Output {
    let out = tempfile::tempdir().unwrap();
    Command::new(common::binary()).arg("vm").arg("--out").arg(out.path()).args(args).output().expect("running nsconform vm")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn a_debian_kernel_boots_and_runs_the_checks_with_no_failure() {
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = vm(&["--kernel", KERNEL, "--accel", "tcg", "--report", &format!("json={}", report.path().display())]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(report.path()).unwrap()).unwrap();
    assert_eq!(doc["counts"]["fail"], 0, "{}", text(&out));
    assert!(doc["counts"]["pass"].as_u64().unwrap() > 20, "{doc}");
    assert!(doc["kernel"].as_str().unwrap().starts_with("6.1."), "{doc}");
    assert!(text(&out).contains("init started on Linux 6.1."), "{}", text(&out));
}

#[test]
fn a_kernel_without_a_usable_init_panics_with_its_lines_shown() {
    let out = vm(&["--kernel", KERNEL, "--accel", "tcg", "--append", "rdinit=/nonexistent", "uts."]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("Kernel panic - not syncing"), "{}", text(&out));
}

#[test]
fn a_guest_past_its_deadline_is_killed() {
    let out = vm(&["--kernel", KERNEL, "--accel", "tcg", "--deadline", "1", "uts."]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("the guest hung: init did not start within 1s"), "{}", text(&out));
}

#[test]
fn a_hung_guest_still_writes_its_reports_with_the_checks_not_run_named() {
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = vm(&["--kernel", KERNEL, "--accel", "tcg", "--deadline", "10", "--report", &format!("json={}", report.path().display())]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(report.path()).unwrap()).expect("a JSON report");
    let checks = doc["checks"].as_array().unwrap();
    let listed = output_of_list();
    assert_eq!(checks.len(), listed, "every selected check is in the report");
    let not_run: Vec<_> = checks.iter().filter(|c| c["verdict"] == "broken").collect();
    assert!(!not_run.is_empty() && not_run.iter().all(|c| c["observed"].as_str().unwrap().contains("the guest hung")), "{doc}");
}

fn output_of_list() -> usize {
    let out = Command::new(common::binary()).arg("list").output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.starts_with(' ') && !l.ends_with(" checks")).count()
}

/// SIGTERM to the runner alone (not its process group): QEMU must not outlive it.
#[test]
fn qemu_dies_with_a_runner_killed_alone() {
    let out = tempfile::tempdir().unwrap();
    let mut runner = Command::new(common::binary())
        .args(["vm", "--kernel", KERNEL, "--accel", "tcg", "--out"])
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let qemu = (0..600)
        .find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            children_of(runner.id()).into_iter().find(|(_, comm)| comm.starts_with("qemu-system"))
        })
        .expect("QEMU started within 60 s")
        .0;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(runner.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    runner.wait().unwrap();
    let gone = (0..20).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        !alive(qemu)
    });
    assert!(gone, "QEMU {qemu} outlived its runner by a second");
}

fn children_of(parent: u32) -> Vec<(u32, String)> {
    let stat = |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let text = stat(&pid.to_string())?;
            let (head, rest) = text.rsplit_once(')')?;
            let comm = head.split_once('(')?.1.to_string();
            let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent).then_some((pid, comm))
        })
        .collect()
}

/// Running or sleeping (a zombie waiting for init to reap it is dead).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()))
        .is_some_and(|state| state != 'Z' && state != 'X')
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    let not_a_kernel = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_a_kernel.path(), "not a kernel\n").unwrap();
    let path = not_a_kernel.path().display().to_string();
    for (args, message) in [
        (vec!["--kernel", "/nonexistent/bzImage"], "kernel image /nonexistent/bzImage does not exist".to_string()),
        (vec!["--kernel", path.as_str()], format!("{path} is not a kernel image: no x86 boot header (bzImage) found")),
        (vec!["--kernel", "debian:4.19"], "unknown Debian kernel \"4.19\"".to_string()),
    ] {
        let out = vm(&args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&message), "{err}");
    }
}
