//! How a guest run ends: its verdicts, or a panic, a hang, a guest that stopped early, each
//! with its exit status, and the reports, which always hold what the guest sent.

use crate::boot::Guest;
use crate::console;
use crate::kernel::Kernel;
use crate::outcome::{Exit, Failure};
use crate::progress::Progress;
use nsconform_harness::report::{terminal, Format, Record, Run, Verdict};
use nsconform_harness::Check;
use std::time::Duration;

pub fn conclude(
    mut guest: Guest,
    kernel: &Kernel,
    reports: &[(Format, String)],
    selected: &[&Check],
    progress: &dyn Fn(Progress),
) -> Result<Exit, Failure> {
    if let Some(lines) = console::panic_lines(&guest.console) {
        progress(Progress::Panicked { lines });
        not_run(&mut guest, selected, "the kernel panicked");
        write_reports(&guest, kernel, reports, progress)?;
        return Ok(Exit::Panicked);
    }
    if let Some(why) = guest.hung.clone() {
        let hint = if guest.console.trim().is_empty() { " (the console stayed silent)" } else { "" };
        not_run(&mut guest, selected, &format!("the guest hung: {why}"));
        write_reports(&guest, kernel, reports, progress)?;
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
        write_reports(&guest, kernel, reports, progress)?;
        return Err(Failure::new(Exit::NoInit, format!("the guest stopped before init finished the run (last check reported: {last})")));
    };
    write_reports(&guest, kernel, reports, progress)?;
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

fn write_reports(guest: &Guest, kernel: &Kernel, reports: &[(Format, String)], progress: &dyn Fn(Progress)) -> Result<(), Failure> {
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
        progress(Progress::SkipsWithoutReason { count: skipped_reasons });
    }
    for (format, file) in reports {
        let text = format.render(&run);
        let written = if file == "-" { nsconform_harness::stdout::write_raw(&text) } else { std::fs::write(file, text) };
        written.map_err(|e| Failure::bad_input(format!("cannot write the report {file}: {e}")))?;
    }
    Ok(())
}
