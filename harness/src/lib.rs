//! nsconform's harness: runs each conformance check in forked processes in fresh
//! namespaces, with a deadline, and reports PASS, FAIL or SKIP with reasons.
//!
//! A check is data ([`Check`]: id, statement, reference, needs) plus a body that uses
//! [`spawn`] to choreograph children and the `expect_*` helpers to assert.

pub mod args;
pub mod channel;
pub mod check;
pub mod cli;
pub mod host;
pub mod kconfig;
pub mod kind;
pub mod process;
pub mod report;
pub mod requirements;
pub mod runner;
pub mod stdout;
pub mod stream;
pub mod userns;

pub use check::{
    expect_eq, expect_errno, expect_ne, expect_that, At, Check, Failure, Need, Outcome, Probe, Sharing, Stop, DEFAULT_DEADLINE,
};
pub use kind::Kind;
pub use process::{spawn, step, unshare, Child, Parent, Spawn};

/// The `cargo test` entry of a binary of checks (`harness = false`): parses the command line
/// as libtest would, runs, exits.
pub fn main(checks: &[Check]) -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(cli::cargo_test_main(&args, checks))
}
