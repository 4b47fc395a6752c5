//! The terminal's progress: timed lines on standard error, for the VM runner's events and the
//! matrix's and mutants' own messages alike.

use nsconform_vm::progress::Progress;
use std::sync::OnceLock;
use std::time::Instant;

/// Prints a progress line on stderr, with the time since the run's first one.
pub fn line(message: &str) {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    eprintln!("[{:6.1}s] {message}", start.elapsed().as_secs_f64());
}

/// The sink of the VM runner's events: a diagnostic reads as the `vm` command's own message.
pub fn terminal(event: Progress) {
    if event.is_diagnostic() {
        eprintln!("nsconform vm: {event}");
    } else {
        line(&event.to_string());
    }
}
