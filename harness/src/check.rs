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
    /// Whether it may run alongside other checks.
    pub sharing: Sharing,
}

/// Whether a check may run at the same time as others. Declared, never discovered by flakiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// The default: the check changes and observes only namespaces and objects of its own.
    Concurrent,
    /// The check observes machine-wide state that any other check disturbs (memory counters,
    /// the CPU a namespace is created on): it runs with no other check. The text says why.
    Alone(&'static str),
    /// The checks of one group change the same machine-wide state: they run one at a time,
    /// alongside checks of other groups.
    Group(&'static str),
}

impl Sharing {
    /// May a check with this sharing start while checks with `running` sharings run?
    pub fn may_join(self, running: &[Sharing]) -> bool {
        match self {
            _ if running.is_empty() => true,
            Sharing::Alone(_) => false,
            _ if running.iter().any(|r| matches!(r, Sharing::Alone(_))) => false,
            Sharing::Group(g) => !running.contains(&Sharing::Group(g)),
            Sharing::Concurrent => true,
        }
    }
}

impl Check {
    /// A check with the default deadline; the arguments are the fields of the same names.
    pub const fn new(
        id: &'static str,
        statement: &'static str,
        reference: &'static str,
        needs: &'static [Need],
        body: fn() -> Outcome,
    ) -> Check {
        Check { id, statement, reference, needs, deadline: DEFAULT_DEADLINE, body, sharing: Sharing::Concurrent }
    }

    /// The same check, run with no other check at the same time, for the reason given.
    pub const fn alone(self, why: &'static str) -> Check {
        Check { sharing: Sharing::Alone(why), ..self }
    }

    /// The same check, run one at a time with the other checks of `group`.
    pub const fn in_group(self, group: &'static str) -> Check {
        Check { sharing: Sharing::Group(group), ..self }
    }

    /// The same check with another deadline.
    pub const fn with_deadline(self, deadline: Duration) -> Check {
        Check { deadline, ..self }
    }

    /// The namespace kinds the check creates (the only kinds its processes may create with
    /// `spawn` and `unshare`: see `process::undeclared`).
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        let mut kinds: Vec<Kind> = Vec::new();
        let mentioned = self.needs.iter().flat_map(|n| match n {
            Need::Kind(k) | Need::KindDisabled(k) | Need::KindInOwnUserns(k) => std::slice::from_ref(k),
            Need::KindsWhereConfigured(kinds) => kinds,
            _ => &[],
        });
        for kind in mentioned {
            if !kinds.contains(kind) {
                kinds.push(*kind);
            }
        }
        kinds.into_iter()
    }
}

/// A requirement, declared next to the check.
#[derive(Clone, Copy)]
pub enum Need {
    /// The check creates namespaces of this kind: it must be configured, and the run needs
    /// CAP_SYS_ADMIN for it (its own, or as root of an unprivileged user namespace).
    Kind(Kind),
    /// The check creates namespaces of this kind only inside, or together with, a user
    /// namespace of its own, which gives it the privilege: the kind must be configured, but
    /// the run needs no CAP_SYS_ADMIN for it.
    KindInOwnUserns(Kind),
    /// The check creates namespaces of these kinds where the kernel has them (configured, or
    /// listed in /proc/self/ns where no config is found) and does without them elsewhere: no
    /// SKIP follows from them; its other needs say what privilege it takes.
    KindsWhereConfigured(&'static [Kind]),
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
    /// Not a requirement but a fact: from Linux `since` (major, minor) the kernel has the
    /// named upstream bug, so a FAIL there is a known failure (XFAIL), counted apart.
    KnownBug { since: (u32, u32), bug: &'static str },
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
    /// The upstream bug this failure is known to come from on this kernel (XFAIL), from the
    /// check's `Need::KnownBug`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_bug: Option<String>,
}

impl Failure {
    pub fn new(step: impl Into<String>, expected: impl Into<String>, observed: impl Into<String>) -> Failure {
        Failure { step: step.into(), expected: expected.into(), observed: observed.into(), known_bug: None }
    }
}

/// Why a check body stopped before passing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stop {
    Fail(Failure),
    /// Only for what can be learnt no earlier than at run time; the reason is mandatory.
    Skip(String),
    /// The harness or the environment failed, not the behaviour under test (LTP's TBROK): a
    /// resource limit refused a fork, descriptors ran out, the channel to a child was lost.
    Broken(Failure),
}

pub type Outcome = Result<(), Stop>;

impl Stop {
    pub fn fail(step: impl Into<String>, expected: impl Into<String>, observed: impl Into<String>) -> Stop {
        Stop::Fail(Failure::new(step, expected, observed))
    }

    pub fn skip(reason: impl Into<String>) -> Stop {
        Stop::Skip(reason.into())
    }

    pub fn broken(step: impl Into<String>, expected: impl Into<String>, observed: impl Into<String>) -> Stop {
        Stop::Broken(Failure::new(step, expected, observed))
    }

    /// Prefixes the step with the process it happened in, as it travels up to the parent.
    pub fn within(self, who: &str) -> Stop {
        let prefixed = |f: Failure| Failure { step: format!("{who}: {}", f.step), ..f };
        match self {
            Stop::Fail(f) => Stop::Fail(prefixed(f)),
            Stop::Broken(f) => Stop::Broken(prefixed(f)),
            skip => skip,
        }
    }
}

/// Turns an error into a failure of the named step whose expected value was success, or into
/// BROKEN when the error is the environment's (descriptors exhausted), never the kernel's
/// namespace semantics.
pub trait At<T> {
    fn at(self, step: &str) -> Result<T, Stop>;
    /// For steps outside the behaviour under test (scratch files, channels): any error is BROKEN.
    fn setup(self, step: &str) -> Result<T, Stop>;
}

impl<T, E: Display> At<T> for Result<T, E> {
    fn at(self, step: &str) -> Result<T, Stop> {
        self.map_err(|e| match environment_trouble(&e.to_string()) {
            Some(why) => Stop::broken(step, "success", format!("{e} ({why})")),
            None => Stop::fail(step, "success", e.to_string()),
        })
    }

    fn setup(self, step: &str) -> Result<T, Stop> {
        self.map_err(|e| Stop::broken(step, "success", e.to_string()))
    }
}

/// Errors no namespace behaviour produces, only the limits of the machine or the run, told
/// by their description (the same strerror text in nix's Errno and std's io::Error).
fn environment_trouble(error: &str) -> Option<&'static str> {
    use nix::errno::Errno;
    // ENFILE's text contains EMFILE's: look for it first. std's text for EAGAIN differs from nix's.
    let eagain = ["Resource temporarily unavailable", Errno::EAGAIN.desc()].iter().any(|t| error.contains(t));
    if eagain {
        return environment_errno(Errno::EAGAIN);
    }
    [Errno::ENFILE, Errno::EMFILE].into_iter().find(|e| error.contains(e.desc())).and_then(environment_errno)
}

/// Why `errno` means the environment, not the kernel's namespace code, refused a step.
pub fn environment_errno(errno: nix::errno::Errno) -> Option<&'static str> {
    use nix::errno::Errno;
    match errno {
        Errno::EMFILE => Some("the run has used up its file descriptors: RLIMIT_NOFILE"),
        Errno::ENFILE => Some("the system's file table is full"),
        Errno::EAGAIN if process_limit_reached() => Some("the run's processes reached RLIMIT_NPROC"),
        _ => None,
    }
}

/// The processes and threads of this run's real uid fill its RLIMIT_NPROC (counted as the
/// kernel does, per user: a fork then fails with EAGAIN, whatever it was for).
fn process_limit_reached() -> bool {
    let Ok((soft, _)) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NPROC) else { return false };
    if soft == nix::sys::resource::RLIM_INFINITY {
        return false;
    }
    let uid = nix::unistd::getuid().as_raw().to_string();
    let mine = |pid: &str| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status.lines().any(|l| l.strip_prefix("Uid:").and_then(|ids| ids.split_whitespace().next()) == Some(uid.as_str()))
    };
    let threads: u64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()) && mine(pid))
        .map(|pid| std::fs::read_dir(format!("/proc/{pid}/task")).map(|t| t.count() as u64).unwrap_or(1))
        .sum();
    threads + 1 >= soft
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
pub fn expect_errno<T: Debug>(step: &str, errno: nix::errno::Errno, observed: Result<T, nix::errno::Errno>) -> Outcome {
    match observed {
        Err(e) if e == errno => Ok(()),
        Err(e) => match environment_errno(e) {
            Some(why) => Err(Stop::broken(step, format!("{errno}"), format!("{e} ({why})"))),
            None => Err(Stop::fail(step, format!("{errno}"), format!("{e}"))),
        },
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
            Need::KindInOwnUserns(k) => format!("creates {k} namespaces under its own user namespace"),
            Need::KindsWhereConfigured(kinds) => {
                let names: Vec<_> = kinds.iter().map(|k| k.name()).collect();
                format!("creates {} namespaces where configured", names.join(", "))
            }
            Need::KindDisabled(k) => format!("{} off", k.config_option().unwrap_or("?")),
            Need::InitialNamespace(k) => format!("starts in the initial {k} namespace"),
            Need::InitialAdmin => "CAP_SYS_ADMIN in the initial user namespace".into(),
            Need::Config(o) => o.to_string(),
            Need::Kernel(major, minor) => format!("Linux {major}.{minor}+"),
            Need::Module(m) => format!("driver {m}"),
            Need::Probe(p) => format!("probe: {}", p.what),
            Need::KnownBug { since: (major, minor), bug } => format!("known bug from Linux {major}.{minor}: {bug}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn exhausted_descriptors_are_broken_not_failed() {
        let io: Result<(), std::io::Error> = Err(std::io::Error::from_raw_os_error(libc::EMFILE));
        assert!(matches!(io.at("opening"), Err(Stop::Broken(f)) if f.observed.contains("RLIMIT_NOFILE")));
        assert!(matches!(Err::<(), _>(Errno::ENFILE).at("opening"), Err(Stop::Broken(f)) if f.observed.contains("file table")));
        assert!(matches!(Err::<(), _>(Errno::EPERM).at("mounting"), Err(Stop::Fail(_))));
        assert!(matches!(Err::<(), _>(Errno::EPERM).setup("a scratch file"), Err(Stop::Broken(_))));
    }

    #[test]
    fn sharing_keeps_alone_checks_and_groups_apart() {
        use Sharing::{Alone, Concurrent, Group};
        assert!(Concurrent.may_join(&[Concurrent, Group("nic")]));
        assert!(Alone("why").may_join(&[]));
        assert!(!Alone("why").may_join(&[Concurrent]));
        assert!(!Concurrent.may_join(&[Alone("why")]));
        assert!(!Group("nic").may_join(&[Concurrent, Group("nic")]), "one check of a group at a time");
        assert!(Group("nic").may_join(&[Concurrent, Group("cgroup tree")]), "alongside other groups");
    }

    #[test]
    fn kinds_are_listed_once_in_order_of_mention() {
        const NEEDS: &[Need] =
            &[Need::Kind(Kind::Mnt), Need::KindsWhereConfigured(&[Kind::Uts, Kind::Mnt]), Need::KindInOwnUserns(Kind::Uts)];
        let check = Check::new("x.y", "", "", NEEDS, || Ok(()));
        assert_eq!(check.kinds().collect::<Vec<_>>(), [Kind::Mnt, Kind::Uts]);
    }
}
