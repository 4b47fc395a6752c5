//! Verdicts and their reports: a line per check on the terminal, and on request KTAP,
//! JUnit XML and JSON files.

pub mod json;
pub mod junit;
pub mod ktap;
pub mod terminal;

use crate::check::{Check, Failure, Outcome, Stop};
use crate::kind::Kind;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(Failure),
    Skip(String),
    /// The harness or the environment failed: the check says nothing about the kernel.
    Broken(Failure),
}

impl Verdict {
    pub fn fail(step: impl Into<String>, expected: impl Into<String>, observed: impl Into<String>) -> Verdict {
        Verdict::Fail(Failure::new(step, expected, observed))
    }

    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail(f) if f.known_bug.is_some() => "XFAIL",
            Verdict::Fail(_) => "FAIL",
            Verdict::Skip(_) => "SKIP",
            Verdict::Broken(_) => "BROKEN",
        }
    }
}

impl From<Outcome> for Verdict {
    fn from(outcome: Outcome) -> Verdict {
        match outcome {
            Ok(()) => Verdict::Pass,
            Err(Stop::Fail(f)) => Verdict::Fail(f),
            Err(Stop::Skip(reason)) => Verdict::Skip(reason),
            Err(Stop::Broken(f)) => Verdict::Broken(f),
        }
    }
}

/// One check's result.
#[derive(Clone, Debug)]
pub struct Record {
    pub id: String,
    pub statement: String,
    pub reference: String,
    /// The namespace kinds the check creates (or asserts refused).
    pub kinds: Vec<Kind>,
    pub verdict: Verdict,
    pub duration: Duration,
}

impl Record {
    pub fn new(check: &Check, verdict: Verdict, duration: Duration) -> Record {
        Record {
            id: check.id.into(),
            statement: check.statement.into(),
            reference: check.reference.into(),
            kinds: check.kinds().collect(),
            verdict,
            duration,
        }
    }
}

/// A whole run: the kernel it ran on, where the run came from, and every record, in order.
#[derive(Clone, Debug)]
pub struct Run {
    pub kernel: String,
    pub provenance: Provenance,
    pub records: Vec<Record>,
    pub duration: Duration,
}

/// Version of the JSON report's layout; raised when a field changes meaning or goes away.
pub const JSON_SCHEMA: u32 = 2;

/// Where a run's verdicts come from, carried by every report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// nsconform's version and the commit it was built from.
    pub version: String,
    pub commit: String,
    pub arch: String,
    /// Where the kernel config was read from, or why none was.
    pub config: String,
    /// The run's privilege: uid, CAP_SYS_ADMIN, initial user namespace or not.
    pub privilege: String,
    /// When the run started, UTC, RFC 3339.
    pub started: String,
}

impl Provenance {
    /// This build, with the given config and privilege, starting now.
    pub fn new(config: String, privilege: String) -> Provenance {
        Provenance {
            version: env!("CARGO_PKG_VERSION").into(),
            commit: env!("NSCONFORM_COMMIT").into(),
            arch: std::env::consts::ARCH.into(),
            config,
            privilege,
            started: utc_now(),
        }
    }

    /// The run in this process, from the facts the runner gathered.
    pub fn of_this_run() -> Provenance {
        let facts = crate::host::facts();
        let config = facts.kconfig.as_ref().map(|k| k.source.display().to_string()).unwrap_or_else(|| "none found".into());
        let privilege = format!(
            "uid {}, {}CAP_SYS_ADMIN, {} user namespace",
            nix::unistd::getuid(),
            if facts.cap_sys_admin { "" } else { "no " },
            if facts.in_initial_userns { "initial" } else { "a child" }
        );
        Provenance::new(config, privilege)
    }

    /// One line per fact, `name: value`, for the headers of the text formats.
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!("nsconform: {} ({})", self.version, self.commit),
            format!("arch: {}", self.arch),
            format!("kernel config: {}", self.config),
            format!("privilege: {}", self.privilege),
            format!("started: {}", self.started),
        ]
    }
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ` (days to civil date: H. Hinnant's algorithm).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rest) = ((secs / 86400) as i64, secs % 86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub broken: usize,
    /// FAILs that are known upstream bugs of the kernel (not in `fail`).
    pub xfail: usize,
}

/// Exit status of a run with a check failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit status of a run with a check BROKEN and none failed.
pub const EXIT_BROKEN: i32 = 7;

impl Counts {
    /// 0 when every check passed or skipped; a FAIL outranks a BROKEN.
    pub fn exit_status(&self) -> i32 {
        if self.fail > 0 {
            EXIT_FAILED
        } else if self.broken > 0 {
            EXIT_BROKEN
        } else {
            0
        }
    }
}

impl Run {
    pub fn counts(&self) -> Counts {
        self.records.iter().fold(Counts::default(), |mut c, r| {
            match &r.verdict {
                Verdict::Pass => c.pass += 1,
                Verdict::Fail(f) if f.known_bug.is_some() => c.xfail += 1,
                Verdict::Fail(_) => c.fail += 1,
                Verdict::Skip(_) => c.skip += 1,
                Verdict::Broken(_) => c.broken += 1,
            }
            c
        })
    }
}

/// A report file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Ktap,
    Junit,
    Json,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "ktap" => Some(Format::Ktap),
            "junit" => Some(Format::Junit),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Ktap => "ktap",
            Format::Junit => "junit",
            Format::Json => "json",
        }
    }

    pub fn render(self, run: &Run) -> String {
        match self {
            Format::Ktap => ktap::render(run),
            Format::Junit => junit::render(run),
            Format::Json => json::render(run),
        }
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A recorded run with one verdict of each kind, shared by the format tests.
    pub fn run() -> Run {
        let record = |id: &str, verdict: Verdict, micros: u64| Record {
            id: id.into(),
            statement: format!("statement of {id}"),
            reference: "uts_namespaces(7)".into(),
            kinds: vec![Kind::Uts],
            verdict,
            duration: Duration::from_micros(micros),
        };
        Run {
            kernel: "6.18.44".into(),
            provenance: Provenance {
                version: "0.1.0".into(),
                commit: "abc123".into(),
                arch: "x86_64".into(),
                config: "/proc/config.gz".into(),
                privilege: "uid 0, CAP_SYS_ADMIN, initial user namespace".into(),
                started: "2026-12-01T15:00:00Z".into(),
            },
            records: vec![
                record("uts.a", Verdict::Pass, 1500),
                record("uts.b", Verdict::fail("reading <hostname> & \"domain\"", "\"a\"", "\"b\""), 250),
                record("uts.c", Verdict::Skip("CONFIG_UTS_NS is not set".into()), 0),
                record("uts.d", Verdict::Broken(Failure::new("fork", "success", "EAGAIN")), 100),
                record(
                    "uts.e",
                    Verdict::Fail(Failure { known_bug: Some("bug 1".into()), ..Failure::new("bind", "success", "EINVAL") }),
                    200,
                ),
            ],
            duration: Duration::from_millis(12),
        }
    }
}
