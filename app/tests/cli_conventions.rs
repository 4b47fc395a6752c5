//! The `nsconform` command line as shell users and containers meet it: a closed pipe, PID 1,
//! a filter with a typo, an unwritable report.

mod common;

use common::{binary, output_of};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn list_into_a_pipe_closed_after_one_line_exits_quietly() {
    let mut child = Command::new(binary()).arg("list").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    // The reader is dropped here: every later write meets a closed pipe.
    let out = child.wait_with_output().unwrap();
    assert!(first.contains('.'), "{first}");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stderr_of(&out).is_empty(), "{}", stderr_of(&out));
}

#[test]
fn output_to_a_full_device_is_an_error_not_a_panic() {
    let full = std::fs::File::create("/dev/full").unwrap();
    let out = output_of(Command::new(binary()).args(["list", "uts."]).stdout(full));
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("cannot write to standard output") && !stderr_of(&out).contains("panicked"), "{}", stderr_of(&out));
}

/// As a container entrypoint, or under `unshare -pf --mount-proc`, nsconform is PID 1 but no
/// VM guest: it lists, and mounts, lends and reboots nothing.
#[test]
fn pid_1_outside_a_vm_is_an_ordinary_run() {
    let out = output_of(Command::new("unshare").args(["-Urpf", "--mount-proc"]).arg(binary()).args(["list", "uts."]));
    if stderr_of(&out).contains("unshare failed") {
        eprintln!("skipped: this system refuses unprivileged user or PID namespaces: {}", stderr_of(&out));
        return;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", stderr_of(&out));
    assert!(stdout.contains("uts.hostname-invisible-to-parent") && stdout.ends_with(" checks\n"), "{stdout}");
    assert!(!stdout.contains("PASS") && !stderr_of(&out).contains("nsconform-guest"), "{stdout}{}", stderr_of(&out));
}

#[test]
fn a_filter_that_matches_nothing_fails_with_the_closest_ids() {
    let out = output_of(Command::new(binary()).args(["run", "uts.hostname-invisibel-to-parent"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("the closest: uts.hostname-invisible-to-parent"), "{}", stderr_of(&out));
    assert!(out.stdout.is_empty(), "no check ran");
}

#[test]
fn an_unwritable_report_is_refused_before_any_check_runs() {
    let out = output_of(Command::new(binary()).args(["run", "--report", "json=/nonexistent/dir/report.json", "uts."]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("/nonexistent/dir/report.json"), "{}", stderr_of(&out));
    assert!(out.stdout.is_empty(), "no check ran: {}", String::from_utf8_lossy(&out.stdout));
}

/// nextest asks for the ignored tests with `--list --ignored`: those are the checks that
/// would SKIP here, so nextest reports them as skipped instead of passed.
#[test]
fn the_ignored_listing_is_the_checks_that_skip_here() {
    let listed = output_of(Command::new(binary()).args(["run", "--list", "--format", "terse", "--ignored"]));
    let ids: Vec<String> =
        String::from_utf8_lossy(&listed.stdout).lines().filter_map(|l| l.strip_suffix(": test")).map(String::from).collect();
    assert!(!ids.is_empty(), "some check needs what this machine lacks (a kind configured out)");
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut run = Command::new(binary());
    run.args(["run", "--exact", "--report", &format!("json={}", report.path().display())]).args(&ids);
    let out = output_of(&mut run);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(report.path()).unwrap()).unwrap();
    assert_eq!(doc["counts"]["skip"], ids.len(), "{doc}");
}
