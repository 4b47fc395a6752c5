//! Standard output that a closed pipe (`nsconform list | head -1`) or a full device cannot
//! turn into a panic: the first failed write is told once on stderr (a closed pipe, as Unix
//! tools do, silently), later lines are dropped, and the run goes on to its report files and
//! its exit status.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static LOST: AtomicBool = AtomicBool::new(false);
static DIVERTED: AtomicBool = AtomicBool::new(false);

/// From now on the lines go to standard error: standard output carries a report
/// (`--report json=-`) that must stay parseable.
pub fn divert_to_stderr() {
    DIVERTED.store(true, Ordering::Relaxed);
}

/// Writes a report (or any text) to standard output as it is.
pub fn write_raw(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|_| out.flush())
}
static FAILED: AtomicBool = AtomicBool::new(false);

/// A write failed for another reason than a closed pipe (a full device, an I/O error): the
/// run's output is lost, which its exit status must say (2, as for an unwritable report).
pub fn failed() -> bool {
    FAILED.load(Ordering::Relaxed)
}

/// Prints `text` and a newline on standard output, unless standard output is gone.
pub fn line(text: &str) {
    if DIVERTED.load(Ordering::Relaxed) {
        eprintln!("{text}");
        return;
    }
    if LOST.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|_| out.flush()) {
        LOST.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            FAILED.store(true, Ordering::Relaxed);
            eprintln!("nsconform: cannot write to standard output ({e}); printing no more");
        }
    }
}
