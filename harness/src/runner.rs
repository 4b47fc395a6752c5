//! Runs checks one after another from the (single-threaded) main thread: each in a forked
//! process of its own, with a deadline after which its whole process tree is killed.

use crate::channel::{Channel, RecvError};
use crate::check::{Check, Failure, Need, Outcome, Stop};
use crate::host::facts;
use crate::process::{describe, enter_check_process, send_verdict, take_panic_message, Report};
use crate::report::{Record, Verdict};
use crate::requirements::{evaluate, Decision};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Prepares the runner: gathers the facts (forks a probe) and becomes a child subreaper, so
/// that every orphan a check leaves behind is reparented here and can be killed and reaped.
pub fn prepare() {
    facts();
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// Runs one check and returns its record. Call `prepare` first.
pub fn run(check: &Check) -> Record {
    let start = Instant::now();
    let verdict = match evaluate(check.needs, facts()) {
        Decision::Skip(reason) => Verdict::Skip(reason),
        Decision::Run { in_userns } => known_bug(check, supervise(check, in_userns)),
    };
    Record::new(check, verdict, start.elapsed())
}

fn supervise(check: &Check, in_userns: bool) -> Verdict {
    let (ours, theirs) = match Channel::pair() {
        Ok(pair) => pair,
        Err(e) => return Verdict::Broken(broken("creating the report channel", e.to_string())),
    };
    let runner = nix::unistd::getpid();
    // SAFETY: the runner is single-threaded; the child leaves with _exit.
    let pid = match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            // The check process dies with the runner, however the runner ends; its children,
            // blocked on their channel to it, then read EOF and leave.
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
            if nix::unistd::getppid() != runner {
                // SAFETY: the runner died before the signal was armed.
                unsafe { libc::_exit(1) }
            }
            drop(ours);
            enter_check_process(theirs, check.kinds().collect());
            let outcome = catch_unwind(AssertUnwindSafe(|| -> Outcome {
                if in_userns {
                    crate::userns::become_root().map_err(|e| {
                        crate::process::creation_error(
                            &[crate::kind::Kind::User],
                            e.errno,
                            "becoming root of a new user namespace: unshare",
                        )
                    })?;
                }
                (check.body)()
            }))
            .unwrap_or_else(|_| Err(Stop::fail("check body", "no panic", take_panic_message())));
            send_verdict(&outcome);
            // SAFETY: leaves the forked child at once, running no destructor or atexit handler a second time.
            unsafe { libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => child,
        Err(e) => return Verdict::Broken(broken("forking the check process", e.to_string())),
    };
    drop(theirs);
    let verdict = collect(&ours, pid, check.deadline);
    let leftovers = kill_and_reap_descendants();
    match verdict {
        Collected::Verdict(v) => v,
        Collected::Died { last_step, status } => {
            Verdict::fail(last_step, "the check process to report a verdict", format!("it died without one: {}", describe(status)))
        }
        Collected::Hung { last_step } => Verdict::fail(
            last_step,
            format!("the check to finish within {:?}", check.deadline),
            format!("still running at the deadline; killed its {leftovers} processes"),
        ),
    }
}

fn broken(step: &str, observed: String) -> Failure {
    Failure::new(step, "success", observed)
}

/// A FAIL on a kernel that a `Need::KnownBug` of the check names is that known failure.
fn known_bug(check: &Check, verdict: Verdict) -> Verdict {
    let bug = check.needs.iter().find_map(|n| match n {
        Need::KnownBug { since: (major, minor), bug } if facts().version >= (*major, *minor, 0) => Some(*bug),
        _ => None,
    });
    match (verdict, bug) {
        (Verdict::Fail(f), Some(bug)) => Verdict::Fail(Failure { known_bug: Some(bug.into()), ..f }),
        (verdict, _) => verdict,
    }
}

enum Collected {
    Verdict(Verdict),
    Died { last_step: String, status: WaitStatus },
    Hung { last_step: String },
}

fn collect(channel: &Channel, pid: Pid, deadline: Duration) -> Collected {
    let end = Instant::now() + deadline;
    let mut last_step = String::from("starting the check");
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match channel.recv::<Report>(Some(left)) {
            Ok(Report::Step(step)) => last_step = step,
            Ok(Report::Verdict(outcome)) => return Collected::Verdict(outcome.into()),
            Err(RecvError::TimedOut) => return Collected::Hung { last_step },
            Err(_) => {
                let status = waitpid(pid, None).unwrap_or(WaitStatus::StillAlive);
                return Collected::Died { last_step, status };
            }
        }
    }
}

/// Kills every descendant of the runner (a finished check's leftovers or a hung check's whole
/// tree) and reaps them. Returns how many processes it had to kill.
pub fn kill_and_reap_descendants() -> usize {
    let me = nix::unistd::getpid();
    let mut killed = HashSet::new();
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return killed.len(), // ECHILD: no child, hence no descendant
            }
        }
        for pid in descendants(me) {
            if kill(pid, Signal::SIGKILL).is_ok() {
                killed.insert(pid);
            }
        }
        if Instant::now() > give_up {
            eprintln!("nsconform: some processes of a check survived SIGKILL for 10 s");
            return killed.len();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// All descendants of `root`, from the ppid fields of /proc/*/stat.
fn descendants(root: Pid) -> Vec<Pid> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![root.as_raw()];
    while let Some(p) = queue.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            found.push(Pid::from_raw(c));
            queue.push(c);
        }
    }
    found
}
