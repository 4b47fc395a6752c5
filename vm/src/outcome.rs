//! How a VM run ends, each with its own documented exit status.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Every check passed or skipped.
    Passed = 0,
    /// At least one check failed.
    ChecksFailed = 1,
    /// Bad input: usage, a missing file, a file that is not a kernel, an unknown version.
    BadInput = 2,
    /// The kernel panicked.
    Panicked = 3,
    /// The guest stopped before its init started (and did not panic).
    NoInit = 4,
    /// The guest hung past its deadline.
    Hung = 5,
    /// QEMU is missing or failed; a download or a kernel build failed.
    Tooling = 6,
    /// No check failed, but at least one was BROKEN (the guest's environment, not the kernel).
    Broken = 7,
}

pub const EXIT_CODES: &str = "\
Exit status:
  0  every check passed or skipped
  1  at least one check failed
  2  bad input: usage, a missing file, a file that is not a kernel image, an unknown version
  3  the kernel panicked (the panic lines are printed)
  4  the guest stopped before its init started
  5  the guest hung past its deadline
  6  QEMU missing or failing, or a download or kernel build failed
  7  no check failed, but at least one was BROKEN (the environment, not the kernel)";

/// An error that ends the run with `exit` and a one-line explanation.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure { exit, message: message.into() }
    }

    pub fn bad_input(message: impl Into<String>) -> Failure {
        Failure::new(Exit::BadInput, message)
    }

    pub fn tooling(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Tooling, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
