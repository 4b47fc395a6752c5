//! What a check is: an id, the behaviour it verifies, where that behaviour is defined, what it
//! needs from the machine (as data), and a body that sets up, acts and asserts.

use crate::kind::Kind;
use serde::{Deserialize, Serialize};
use std::fmt::{Debug, Display};
use std::time::Duration;

/// The deadline a check gets unless it declares another one.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy)]
pub struct Check {
    /// Stable id, `<kind>.<behaviour>`, e.g. `pid.init-ignores-sigkill-from-inside`.
    pub id: &'static str,
    /// The behaviour, in one line.
    pub statement: &'static str,
    /// Where the behaviour is defined: man page section and/or kernel function and file.
    pub reference: &'static str,
    /// Evaluated before the body runs; an unmet need is a SKIP with its reason.
    pub needs: &'static [Need],
    /// Past this the check's whole process tree is killed and the check fails.
    pub deadline: Duration,
    /// Runs in a forked process of its own (inside a user namespace when the run lacks
    /// CAP_SYS_ADMIN and the check creates namespaces that need it).
    pub body: fn() -> Outcome,
}

impl Check {
    /// The namespace kinds the check creates.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        self.needs.iter().filter_map(|n| match n {
            Need::Kind(k) | Need::KindDisabled(k) => Some(*k),
            _ => None,
        })
    }
}

/// A requirement, declared next to the check.
#[derive(Clone, Copy)]
pub enum Need {
    /// The check creates namespaces of this kind: it must be configured, and the run needs
    /// CAP_SYS_ADMIN for it (its own, or as root of an unprivileged user namespace).
    Kind(Kind),
    /// The check asserts how the kernel refuses this kind when it is configured out.
    KindDisabled(Kind),
    /// The run must start in the initial namespace of this kind (absolute depth limits).
    InitialNamespace(Kind),
    /// CAP_SYS_ADMIN in the initial user namespace; no user-namespace substitute.
    InitialAdmin,
    /// A kernel config option set to y or m.
    Config(&'static str),
    /// A minimum kernel version (major, minor).
    Kernel(u32, u32),
    /// A kernel module (or built-in driver) that must be available.
    Module(&'static str),
    /// A runtime probe of the running kernel.
    Probe(Probe),
}

/// A runtime probe: `Err(reason)` means the need is unmet and the check SKIPs with that reason.
/// Probes run in the runner, before the check's process is forked; they must not change the host.
#[derive(Clone, Copy)]
pub struct Probe {
    pub what: &'static str,
    pub run: fn() -> Result<(), String>,
}

/// The observed difference that fails a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What the check was doing.
    pub step: String,
    pub expected: String,
    pub observed: String,
}

/// Why a check body stopped before passing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stop {
    Fail(Failure),
    /// Only for what can be learnt no earlier than at run time; the reason is mandatory.
    Skip(String),
}

pub type Outcome = Result<(), Stop>;

impl Stop {
    pub fn fail(step: impl Into<String>, expected: impl Into<String>, observed: impl Into<String>) -> Stop {
        Stop::Fail(Failure { step: step.into(), expected: expected.into(), observed: observed.into() })
    }

    pub fn skip(reason: impl Into<String>) -> Stop {
        Stop::Skip(reason.into())
    }

    /// Prefixes the step with the process it happened in, as it travels up to the parent.
    pub fn within(self, who: &str) -> Stop {
        match self {
            Stop::Fail(f) => Stop::Fail(Failure { step: format!("{who}: {}", f.step), ..f }),
            skip => skip,
        }
    }
}

/// Turns an error into a failure of the named step whose expected value was success.
pub trait At<T> {
    fn at(self, step: &str) -> Result<T, Stop>;
}

impl<T, E: Display> At<T> for Result<T, E> {
    fn at(self, step: &str) -> Result<T, Stop> {
        self.map_err(|e| Stop::fail(step, "success", e.to_string()))
    }
}

/// Fails `step` unless `observed == expected`; both are shown with `{:?}`.
pub fn expect_eq<T: PartialEq + Debug>(step: &str, expected: T, observed: T) -> Outcome {
    if expected == observed {
        Ok(())
    } else {
        Err(Stop::fail(step, format!("{expected:?}"), format!("{observed:?}")))
    }
}

/// Fails `step` unless `observed != unexpected`.
pub fn expect_ne<T: PartialEq + Debug>(step: &str, unexpected: T, observed: T) -> Outcome {
    if unexpected != observed {
        Ok(())
    } else {
        Err(Stop::fail(step, format!("anything but {unexpected:?}"), format!("{observed:?}")))
    }
}

/// Fails `step` unless the call failed with `errno`.
pub fn expect_errno<T: Debug>(
    step: &str,
    errno: nix::errno::Errno,
    observed: Result<T, nix::errno::Errno>,
) -> Outcome {
    match observed {
        Err(e) if e == errno => Ok(()),
        Err(e) => Err(Stop::fail(step, format!("{errno}"), format!("{e}"))),
        Ok(v) => Err(Stop::fail(step, format!("{errno}"), format!("success ({v:?})"))),
    }
}

/// Fails `step` unless `condition` holds; `expected` and `observed` describe both sides.
pub fn expect_that(step: &str, condition: bool, expected: impl Display, observed: impl Display) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(Stop::fail(step, expected.to_string(), observed.to_string()))
    }
}

impl Need {
    /// The need in words, for the catalogue.
    pub fn describe(&self) -> String {
        match self {
            Need::Kind(k) => format!("creates {k} namespaces"),
            Need::KindDisabled(k) => format!("{} off", k.config_option().unwrap_or("?")),
            Need::InitialNamespace(k) => format!("starts in the initial {k} namespace"),
            Need::InitialAdmin => "CAP_SYS_ADMIN in the initial user namespace".into(),
            Need::Config(o) => format!("{o}"),
            Need::Kernel(major, minor) => format!("Linux {major}.{minor}+"),
            Need::Module(m) => format!("driver {m}"),
            Need::Probe(p) => format!("probe: {}", p.what),
        }
    }
}
