//! Runs checks, as many at a time as asked, from the (single-threaded) main thread, starting
//! them round-robin over their suites. Each check runs in a forked process of its own that is
//! a child subreaper: orphans of the check stay in its tree, apart from every other check's,
//! and it kills and reaps them when its body ends. The runner enforces each deadline, kills a
//! hung check's whole tree, and hands the records on in catalogue order.

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

/// Prepares the runner: gathers the facts (forks a probe) and becomes a child subreaper, so
/// that the processes of a check whose own process died are reparented here and can be killed.
pub fn prepare() {
    facts();
    become_subreaper();
}

fn become_subreaper() {
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
    let mut waiting: VecDeque<usize> = start_order(checks).into();
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
        for (index, verdict, took) in wait_for_verdicts(checks, &mut running) {
            finished[index] = Some(Record::new(checks[index], known_bug(checks[index], verdict), took));
        }
    }
    kill_and_reap_descendants();
}

/// The order in which checks start: round-robin over their suites (the id up to the first
/// dot), so that checks contending for the same kernel locks and workers (network namespaces
/// under rtnl_lock, say) do not all run side by side.
fn start_order(checks: &[&Check]) -> Vec<usize> {
    let mut suites: Vec<(&str, VecDeque<usize>)> = Vec::new();
    for (index, check) in checks.iter().enumerate() {
        let suite = check.id.split('.').next().unwrap_or_default();
        match suites.iter_mut().find(|(name, _)| *name == suite) {
            Some((_, queue)) => queue.push_back(index),
            None => suites.push((suite, VecDeque::from([index]))),
        }
    }
    let mut order = Vec::with_capacity(checks.len());
    while order.len() < checks.len() {
        for (_, queue) in &mut suites {
            order.extend(queue.pop_front());
        }
    }
    order
}

/// A check whose process is running.
struct Running {
    index: usize,
    sharing: Sharing,
    pid: Pid,
    channel: Channel,
    /// Readable once the check's process has exited, even while its children hold the channel.
    exited: Option<std::os::fd::OwnedFd>,
    start: Instant,
    last_step: String,
}

/// Starts waiting checks in order while slots are free and their sharing allows. Checks that
/// must run alone wait until every other check has finished, so that the run drains once for
/// them rather than once per such check. Checks whose needs are unmet are recorded as SKIP at once.
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
        let alone = matches!(check.sharing, Sharing::Alone(_));
        let others_left = waiting.iter().any(|i| !matches!(checks[*i].sharing, Sharing::Alone(_)));
        if !check.sharing.may_join(&sharings) || (alone && others_left) {
            position += 1;
            continue;
        }
        waiting.remove(position);
        let start = Instant::now();
        match evaluate(check.needs, facts()) {
            Decision::Skip(reason) => finished[index] = Some(Record::new(check, Verdict::Skip(reason), start.elapsed())),
            Decision::Run { in_userns } => match start_check(check, in_userns) {
                Ok((pid, channel)) => running.push(Running {
                    index,
                    sharing: check.sharing,
                    pid,
                    channel,
                    // Without pidfds (before 5.3) a death is seen only when the channel closes.
                    exited: crate::process::pidfd_open(pid.as_raw()).ok(),
                    start,
                    last_step: "starting the check".into(),
                }),
                Err(failure) => finished[index] = Some(Record::new(check, Verdict::Broken(failure), start.elapsed())),
            },
        }
    }
}

/// Waits until at least one running check ends (a verdict, its process's death, or its
/// deadline) and returns the verdicts of those that ended, with their durations.
fn wait_for_verdicts(checks: &[&Check], running: &mut Vec<Running>) -> Vec<(usize, Verdict, Duration)> {
    use nix::poll::{poll, PollFd, PollFlags};
    let deadline_of = |r: &Running| r.start + checks[r.index].deadline;
    let nearest = running.iter().map(deadline_of).min().unwrap_or_else(Instant::now);
    let left = nearest.saturating_duration_since(Instant::now());
    let mut fds = Vec::new();
    let mut owners = Vec::new();
    for (position, r) in running.iter().enumerate() {
        for fd in std::iter::once(r.channel.as_fd()).chain(r.exited.as_ref().map(|fd| fd.as_fd())) {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
            owners.push(position);
        }
    }
    if matches!(poll(&mut fds, crate::channel::poll_timeout(left)), Err(nix::errno::Errno::EINTR)) {
        return Vec::new();
    }
    let mut ready = vec![false; running.len()];
    for (fd, position) in fds.iter().zip(owners) {
        ready[position] |= fd.revents().is_some_and(|r| !r.is_empty());
    }
    drop(fds);
    let mut ended = Vec::new();
    let mut lost_a_tree = false;
    // From the back, so that removing one leaves the positions of those still to see.
    for position in (0..running.len()).rev() {
        let r = &mut running[position];
        let verdict = if ready[position] {
            match read_reports(r) {
                Some((verdict, died)) => {
                    lost_a_tree |= died;
                    verdict
                }
                None => continue,
            }
        } else if Instant::now() >= deadline_of(r) {
            lost_a_tree = true;
            let killed = kill_tree(r.pid);
            Verdict::fail(
                r.last_step.clone(),
                format!("the check to finish within {:?}", checks[r.index].deadline),
                format!("still running at the deadline; killed its {killed} processes"),
            )
        } else {
            continue;
        };
        let r = running.remove(position);
        ended.push((r.index, verdict, r.start.elapsed()));
    }
    // A check process that died or was killed could not clean up its tree: what is left of it
    // was reparented here.
    if lost_a_tree {
        kill_strays(running);
    }
    ended
}

/// Reads what a check reported: its last step, and its verdict when it has one (its process,
/// which cleans up its own tree after sending it, then reaped), or `None` while it runs. The
/// flag says that the process died without a verdict.
fn read_reports(r: &mut Running) -> Option<(Verdict, bool)> {
    // Whether the process had exited before the channel was last found empty: only then is
    // an empty channel final (a verdict sent just before the exit is queued by then).
    let mut exited = false;
    loop {
        match r.channel.recv::<Report>(Some(Duration::ZERO)) {
            Ok(Report::Step(step)) => r.last_step = step,
            Ok(Report::Verdict(outcome)) => {
                let _ = waitpid(r.pid, None);
                return Some((outcome.into(), false));
            }
            Err(RecvError::TimedOut) if !exited => {
                exited = has_exited(r);
                if !exited {
                    return None;
                }
            }
            Err(_) => {
                let status = waitpid(r.pid, None).unwrap_or(WaitStatus::StillAlive);
                let observed = format!("it died without one: {}", describe(status));
                return Some((Verdict::fail(r.last_step.clone(), "the check process to report a verdict", observed), true));
            }
        }
    }
}

/// The check's process has exited (its children may still hold the channel open).
fn has_exited(r: &Running) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let Some(fd) = &r.exited else { return false };
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1))
}

/// Forks the check's process, which reports its steps and verdict on the returned channel.
fn start_check(check: &Check, in_userns: bool) -> Result<(Pid, Channel), Failure> {
    let (ours, theirs) = Channel::pair().map_err(|e| broken("creating the report channel", e.to_string()))?;
    let runner = nix::unistd::getpid();
    // SAFETY: the runner is single-threaded; the child leaves with _exit.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok((child, ours)),
        Err(e) => Err(broken("forking the check process", e.to_string())),
        Ok(nix::unistd::ForkResult::Child) => {
            // The check process dies with the runner, however the runner ends; its children,
            // blocked on their channel to it, then read EOF and leave.
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
            if nix::unistd::getppid() != runner {
                // SAFETY: the runner died before the signal was armed; leave at once.
                unsafe { libc::_exit(1) }
            }
            // Orphans of the check are reparented to its own process, not to the runner.
            become_subreaper();
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
            // An orphan left behind is killed, not held against the check.
            kill_and_reap_descendants();
            // SAFETY: leaves the forked child at once, running no destructor or atexit handler a second time.
            unsafe { libc::_exit(0) }
        }
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

/// Kills every descendant of the calling process (the runner's at the end of a run, a check
/// process's when its body ended) and reaps them. Returns how many processes it had to kill.
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
    let children = process_tree();
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

/// Kills `pid` and all its descendants (a hung check's tree: its process is a subreaper, so
/// the whole tree hangs below it) and reaps `pid`. Returns how many processes it killed.
fn kill_tree(pid: Pid) -> usize {
    let mut tree = descendants(pid);
    tree.push(pid);
    let killed = tree.iter().filter(|p| kill(**p, Signal::SIGKILL).is_ok()).count();
    let _ = waitpid(pid, None);
    killed
}

/// Kills and reaps the runner's children that are no running check's process: what was left
/// of a check whose process died or was killed (its orphans came here). Their own children
/// come here in turn as they die, so this repeats until none is left.
fn kill_strays(running: &[Running]) {
    let me = nix::unistd::getpid().as_raw();
    let checks: HashSet<i32> = running.iter().map(|r| r.pid.as_raw()).collect();
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let strays: Vec<Pid> = children_of(me).into_iter().filter(|p| !checks.contains(&p.as_raw())).collect();
        if strays.is_empty() || Instant::now() > give_up {
            return;
        }
        for stray in strays {
            for p in descendants(stray) {
                let _ = kill(p, Signal::SIGKILL);
            }
            let _ = kill(stray, Signal::SIGKILL);
            let _ = waitpid(stray, Some(WaitPidFlag::__WALL));
        }
    }
}

/// The children of `parent`, from the ppid fields of /proc/*/stat.
fn children_of(parent: i32) -> Vec<Pid> {
    process_tree().remove(&parent).unwrap_or_default().into_iter().map(Pid::from_raw).collect()
}

/// Every process's children, by pid, from the ppid fields of /proc/*/stat.
fn process_tree() -> HashMap<i32, Vec<i32>> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let ppid = crate::process::proc_stat(pid).and_then(|fields| fields.get(1)?.parse().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    children
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_start_round_robin_over_their_suites() {
        let ids = ["net.a", "net.b", "net.c", "uts.a", "pid.a", "pid.b"];
        let checks: Vec<Check> = ids.iter().map(|id| Check::new(id, "", "", &[], || Ok(()))).collect();
        let order: Vec<&str> = start_order(&checks.iter().collect::<Vec<_>>()).into_iter().map(|i| ids[i]).collect();
        assert_eq!(order, ["net.a", "uts.a", "pid.a", "net.b", "pid.b", "net.c"]);
    }
}
