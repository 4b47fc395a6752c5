//! Runs checks, as many at a time as asked, from the (single-threaded) main thread. Each check
//! gets a supervisor process of its own, a child subreaper: it forks the check's process,
//! enforces the deadline and kills the check's whole process tree, which its subreaper role
//! keeps apart from every other check's. The runner collects the verdicts and hands them on
//! in catalogue order.

use crate::channel::{Channel, RecvError};
use crate::check::{Check, Failure, Need, Outcome, Sharing, Stop};
use crate::host::facts;
use crate::process::{describe, enter_check_process, send_verdict, take_panic_message, Report};
use crate::report::{Record, Verdict};
use crate::requirements::{evaluate, Decision};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::AsFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Beyond a check's deadline, how long its supervisor may take to kill the check's processes
/// and report before the runner gives up on it.
const SUPERVISOR_GRACE: Duration = Duration::from_secs(15);

/// Prepares the runner: gathers the facts (forks a probe) and becomes a child subreaper, so
/// that a process that escapes its check's supervisor is reparented here and can be killed.
pub fn prepare() {
    facts();
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// As many checks at a time as this process may use CPUs.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Runs one check and returns its record. Call `prepare` first.
pub fn run(check: &Check) -> Record {
    let mut record = None;
    run_all(&[check], 1, |r| record = Some(r));
    record.expect("run_all hands on a record for every check")
}

/// Runs `checks`, at most `jobs` at a time and never against their `Sharing`, and hands each
/// record to `done` in the order of `checks`. Call `prepare` first.
pub fn run_all(checks: &[&Check], jobs: usize, mut done: impl FnMut(Record)) {
    let mut waiting: VecDeque<usize> = (0..checks.len()).collect();
    let mut finished: Vec<Option<Record>> = vec![None; checks.len()];
    let mut running: Vec<Running> = Vec::new();
    let mut next = 0;
    loop {
        start_what_may_start(checks, jobs.max(1), &mut waiting, &mut running, &mut finished);
        while let Some(record) = finished.get_mut(next).and_then(Option::take) {
            done(record);
            next += 1;
        }
        if running.is_empty() && waiting.is_empty() {
            break;
        }
        for (index, verdict, took) in wait_for_verdicts(&mut running) {
            finished[index] = Some(Record::new(checks[index], known_bug(checks[index], verdict), took));
        }
    }
    // Processes that escaped their supervisor (it was killed) were reparented here.
    kill_and_reap_descendants();
}

/// A check whose supervisor is running.
struct Running {
    index: usize,
    sharing: Sharing,
    supervisor: Pid,
    channel: Channel,
    start: Instant,
    give_up: Instant,
}

/// Starts waiting checks in order while slots are free and their sharing allows. A check that
/// must run alone and cannot start yet holds back the ones after it, so that it is not starved.
/// Checks whose needs are unmet are recorded as SKIP at once.
fn start_what_may_start(
    checks: &[&Check],
    jobs: usize,
    waiting: &mut VecDeque<usize>,
    running: &mut Vec<Running>,
    finished: &mut [Option<Record>],
) {
    let mut position = 0;
    while position < waiting.len() && running.len() < jobs {
        let index = waiting[position];
        let check = checks[index];
        let sharings: Vec<Sharing> = running.iter().map(|r| r.sharing).collect();
        if !check.sharing.may_join(&sharings) {
            if matches!(check.sharing, Sharing::Alone(_)) {
                return;
            }
            position += 1;
            continue;
        }
        waiting.remove(position);
        let start = Instant::now();
        match evaluate(check.needs, facts()) {
            Decision::Skip(reason) => finished[index] = Some(Record::new(check, Verdict::Skip(reason), start.elapsed())),
            Decision::Run { in_userns } => match start_supervisor(check, in_userns) {
                Ok((supervisor, channel)) => running.push(Running {
                    index,
                    sharing: check.sharing,
                    supervisor,
                    channel,
                    start,
                    give_up: start + check.deadline + SUPERVISOR_GRACE,
                }),
                Err(failure) => finished[index] = Some(Record::new(check, Verdict::Broken(failure), start.elapsed())),
            },
        }
    }
}

/// Waits until at least one running check has its verdict (or its supervisor is lost) and
/// returns those verdicts with each check's duration.
fn wait_for_verdicts(running: &mut Vec<Running>) -> Vec<(usize, Verdict, Duration)> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let nearest = running.iter().map(|r| r.give_up).min().unwrap_or_else(Instant::now);
    let left = nearest.saturating_duration_since(Instant::now());
    let mut fds: Vec<PollFd> = running.iter().map(|r| PollFd::new(r.channel.as_fd(), PollFlags::POLLIN)).collect();
    let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX);
    if matches!(poll(&mut fds, ms), Err(nix::errno::Errno::EINTR)) {
        return Vec::new();
    }
    let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
    drop(fds);
    let now = Instant::now();
    let mut verdicts = Vec::new();
    // From the back, so that removing one leaves the positions of those still to see.
    for position in (0..running.len()).rev() {
        let r = &running[position];
        let (verdict, took) = if ready[position] {
            match r.channel.recv::<(Outcome, Duration)>(Some(Duration::ZERO)) {
                Ok((outcome, took)) => (Verdict::from(outcome), took),
                Err(e) => (Verdict::Broken(broken("collecting the verdict from the check's supervisor", e.to_string())), now - r.start),
            }
        } else if now >= r.give_up {
            let _ = kill(r.supervisor, Signal::SIGKILL);
            let observed = format!("its supervisor did not report within the deadline and {SUPERVISOR_GRACE:?}; killed it");
            (Verdict::Broken(broken("supervising the check", observed)), now - r.start)
        } else {
            continue;
        };
        let r = running.remove(position);
        let _ = waitpid(r.supervisor, None);
        verdicts.push((r.index, verdict, took));
    }
    verdicts
}

/// Forks the check's supervisor, which reports `(Outcome, Duration)` on the returned channel.
fn start_supervisor(check: &Check, in_userns: bool) -> Result<(Pid, Channel), Failure> {
    let (ours, theirs) = Channel::pair().map_err(|e| broken("creating the channel to the check's supervisor", e.to_string()))?;
    let runner = nix::unistd::getpid();
    // SAFETY: the runner is single-threaded; the child leaves with _exit.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok((child, ours)),
        Err(e) => Err(broken("forking the check's supervisor", e.to_string())),
        Ok(nix::unistd::ForkResult::Child) => {
            drop(ours);
            die_with(runner);
            // Orphans of the check are reparented to the supervisor, not to the runner, so that
            // killing its descendants never touches another check's processes.
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
            let start = Instant::now();
            let outcome = outcome_of(supervise(check, in_userns));
            let _ = theirs.send(&(outcome, start.elapsed()));
            // SAFETY: leaves the forked child at once, running no destructor or atexit handler a second time.
            unsafe { libc::_exit(0) }
        }
    }
}

/// The calling process dies with `parent`, however that ends.
fn die_with(parent: Pid) {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    if nix::unistd::getppid() != parent {
        // SAFETY: the parent died before the signal was armed; leave at once.
        unsafe { libc::_exit(1) }
    }
}

fn outcome_of(verdict: Verdict) -> Outcome {
    match verdict {
        Verdict::Pass => Ok(()),
        Verdict::Fail(f) => Err(Stop::Fail(f)),
        Verdict::Skip(reason) => Err(Stop::Skip(reason)),
        Verdict::Broken(f) => Err(Stop::Broken(f)),
    }
}

fn supervise(check: &Check, in_userns: bool) -> Verdict {
    let (ours, theirs) = match Channel::pair() {
        Ok(pair) => pair,
        Err(e) => return Verdict::Broken(broken("creating the report channel", e.to_string())),
    };
    let supervisor = nix::unistd::getpid();
    // SAFETY: the supervisor is single-threaded; the child leaves with _exit.
    let pid = match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            // The check process dies with its supervisor, however that ends; its children,
            // blocked on their channel to it, then read EOF and leave.
            die_with(supervisor);
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
