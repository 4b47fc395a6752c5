//! The runner end to end on fixture checks that misbehave: a hung process tree, a panic in a
//! child, a crashed check process, a failed expectation, an unmet need, a leftover orphan, a
//! child's SKIP racing its parent's write, a fork refused by a resource limit (BROKEN) and a
//! namespace kind the check does not declare (BROKEN); and a concurrent run: checks overlap,
//! one declared to run alone overlaps none, records come in catalogue order.
//! `harness = false`: the runner forks, so it must run from a single-threaded main.

use nix::sys::wait::{waitpid, WaitPidFlag};
use nsconform_harness::report::Verdict;
use nsconform_harness::{expect_eq, runner, spawn, step, Check, Need, Outcome, Probe, Spawn};
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_millis(300);

fn fixture(id: &'static str, needs: &'static [Need], body: fn() -> Outcome) -> Check {
    Check::new(id, "fixture", "none", needs, body).with_deadline(SHORT)
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn hangs_with_a_detached_grandchild() -> Outcome {
    let child = spawn(Spawn::fork(), |_| {
        let _grandchild = spawn(Spawn::fork(), |_| {
            nix::unistd::setsid().ok();
            step("grandchild sleeping forever");
            sleep_forever()
        })?;
        sleep_forever()
    })?;
    child.join()
}

fn child_panics() -> Outcome {
    spawn(Spawn::fork(), |_| panic!("boom in the child"))?.join()
}

fn check_process_aborts() -> Outcome {
    step("about to abort");
    std::process::abort()
}

/// Aborts while its child sleeps: the child is reparented to the runner.
fn aborts_leaving_a_child() -> Outcome {
    let _child = spawn(Spawn::fork(), |_| sleep_forever())?;
    std::process::abort()
}

/// The runner's children, seen from a check process: only this one.
fn runner_has_no_other_child() -> Outcome {
    let runner = nix::unistd::getppid().as_raw();
    let children = std::fs::read_to_string(format!("/proc/{runner}/task/{runner}/children")).unwrap();
    expect_eq("the runner's children", std::process::id().to_string(), children.trim().to_string())
}

fn expectation_fails() -> Outcome {
    expect_eq("comparing names", "expected-name", "observed-name")
}

fn leaves_an_orphan() -> Outcome {
    spawn(Spawn::fork(), |_| spawn(Spawn::fork(), |_| sleep_forever()).map(drop))?.join()
}

/// The harness's promise for `Spawn::clone`: the child itself is in the new namespaces, time
/// included (where unshare alone would only set time_for_children).
fn child_starts_in_new_time_namespace() -> Outcome {
    let parent =
        nsconform_harness::kind::ns_inode("self", "time").map_err(|e| nsconform_harness::Stop::skip(format!("no time namespaces: {e}")))?;
    spawn(Spawn::clone(&[nsconform_harness::Kind::Time]), move |_| {
        let own = nsconform_harness::kind::ns_inode("self", "time").unwrap();
        nsconform_harness::expect_ne("the child's time namespace", parent, own)
    })?
    .join()
}

/// The child skips at once; the parent, unaware, writes to it after it finished.
fn child_skips_before_the_parent_writes() -> Outcome {
    let child = spawn(Spawn::fork(), |_| Err(nsconform_harness::Stop::skip("the child's reason")))?;
    std::thread::sleep(Duration::from_millis(50));
    child.send("an order the child never reads", &())?;
    child.join()
}

/// A fork refused by RLIMIT_NPROC (enforced for a process without CAP_SYS_ADMIN and
/// CAP_SYS_RESOURCE: run as an ordinary user, or dropped to one here).
fn fork_refused_by_rlimit_nproc() -> Outcome {
    use nix::sys::resource::{setrlimit, Resource};
    if nix::unistd::geteuid().is_root() {
        nix::unistd::setgid(nix::unistd::Gid::from_raw(65534)).map_err(|e| nsconform_harness::Stop::skip(format!("setgid: {e}")))?;
        nix::unistd::setuid(nix::unistd::Uid::from_raw(65534)).map_err(|e| nsconform_harness::Stop::skip(format!("setuid: {e}")))?;
    }
    setrlimit(Resource::RLIMIT_NPROC, 1, 1).map_err(|e| nsconform_harness::Stop::skip(format!("setrlimit: {e}")))?;
    spawn(Spawn::fork(), |_| Ok(()))?.join()
}

/// Typed messages both ways, a barrier, and a child's failure arriving with its step.
fn choreography() -> Outcome {
    let mut child = spawn(Spawn::fork(), |to_parent| {
        let n: u32 = to_parent.recv("a number")?;
        to_parent.send("its double", &(n * 2))?;
        to_parent.sync("the barrier")?;
        expect_eq("the child's own comparison", 1, 2)
    })?;
    child.send("a number", &21u32)?;
    expect_eq("the double", 42u32, child.recv("its double")?)?;
    child.sync("the barrier")?;
    child.join()
}

/// Where the overlap fixtures leave markers (set once, before any fork): `started/PID` stays,
/// `running/PID` goes when the fixture ends.
static MARKERS: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

fn mark(what: &str) -> std::path::PathBuf {
    let path = MARKERS.get().expect("set in main").join(what);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join(std::process::id().to_string()), "").unwrap();
    path
}

fn others(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).unwrap().count() - 1
}

/// Marks itself started and running, then waits until `expected` other checks have started
/// too: proof that they overlap. Gives up (a FAIL naming how many it saw) after two seconds.
fn overlap_with(expected: usize) -> Outcome {
    let started = mark("started");
    let running = mark("running");
    let end = Instant::now() + Duration::from_secs(2);
    while others(&started) < expected && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::remove_file(running.join(std::process::id().to_string())).unwrap();
    expect_eq("other checks started at the same time", expected, others(&started))
}

/// Marks itself running and asserts that no other check runs, for a while.
fn alone() -> Outcome {
    let running = mark("running");
    for _ in 0..20 {
        expect_eq("other checks running at the same time", 0, others(&running))?;
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn no_children_left() -> bool {
    matches!(waitpid(None, Some(WaitPidFlag::WNOHANG)), Err(nix::errno::Errno::ECHILD))
}

fn verdict_of(check: &Check) -> (Verdict, Duration) {
    let start = Instant::now();
    let record = runner::run(check);
    assert!(no_children_left(), "{}: processes left behind", check.id);
    (record.verdict, start.elapsed())
}

fn main() {
    runner::prepare();

    let (verdict, took) = verdict_of(&fixture("self.hang", &[], hangs_with_a_detached_grandchild));
    let Verdict::Fail(f) = verdict else { panic!("a hung check must fail, got {verdict:?}") };
    assert_eq!(f.step, "grandchild sleeping forever");
    assert_eq!(f.expected, "the check to finish within 300ms");
    assert_eq!(f.observed, "still running at the deadline; killed its 3 processes");
    assert!(took < SHORT + Duration::from_secs(1), "the hung check took {took:?}");

    let (verdict, _) = verdict_of(&fixture("self.panic", &[], child_panics));
    let Verdict::Fail(f) = verdict else { panic!("a panicking child must fail the check, got {verdict:?}") };
    assert_eq!(f.step, "child");
    assert!(f.observed.contains("boom in the child") && f.observed.contains("runner_selftest.rs"), "{f:?}");

    let (verdict, _) = verdict_of(&fixture("self.abort", &[], check_process_aborts));
    assert_eq!(verdict, Verdict::fail("about to abort", "the check process to report a verdict", "it died without one: killed by SIGABRT"));

    let crash = [
        fixture("self.abort-leaving-a-child", &[], aborts_leaving_a_child),
        fixture("self.after-the-crash", &[], runner_has_no_other_child),
    ];
    let mut verdicts = Vec::new();
    runner::run_all(&crash.iter().collect::<Vec<_>>(), 1, |record| verdicts.push(record.verdict));
    assert!(matches!(&verdicts[0], Verdict::Fail(f) if f.observed == "it died without one: killed by SIGABRT"), "{verdicts:?}");
    assert_eq!(verdicts[1], Verdict::Pass, "a crashed check's orphans are killed before the next check starts");

    let (verdict, _) = verdict_of(&fixture("self.mismatch", &[], expectation_fails));
    assert_eq!(verdict, Verdict::fail("comparing names", "\"expected-name\"", "\"observed-name\""));

    const UNMET: &[Need] = &[Need::Probe(Probe { what: "fixture probe", run: || Err("never available".into()) })];
    let (verdict, _) = verdict_of(&fixture("self.unmet", UNMET, || panic!("must not run")));
    assert_eq!(verdict, Verdict::Skip("fixture probe: never available".into()));

    let (verdict, _) = verdict_of(&fixture("self.orphan", &[], leaves_an_orphan));
    assert_eq!(verdict, Verdict::Pass, "an orphan left behind is killed, not held against the check");

    let (verdict, _) = verdict_of(&fixture("self.choreography", &[], choreography));
    assert_eq!(verdict, Verdict::fail("child: the child's own comparison", "1", "2"), "messages, barrier and the child's failure");

    for _ in 0..20 {
        let (verdict, _) = verdict_of(&fixture("self.lost-skip", &[], child_skips_before_the_parent_writes));
        assert_eq!(verdict, Verdict::Skip("the child's reason".into()), "a child's SKIP is never lost to a broken pipe");
    }

    let (verdict, _) = verdict_of(&fixture("self.nproc", &[], fork_refused_by_rlimit_nproc));
    let Verdict::Broken(f) = verdict else { panic!("a fork refused by RLIMIT_NPROC is BROKEN, got {verdict:?}") };
    assert!(f.observed.starts_with("EAGAIN") && f.observed.contains("RLIMIT_NPROC"), "{f:?}");

    if nix::unistd::geteuid().is_root() {
        const TIME: &[Need] = &[Need::Kind(nsconform_harness::Kind::Time)];
        let (verdict, _) = verdict_of(&fixture("self.time", TIME, child_starts_in_new_time_namespace));
        assert!(matches!(verdict, Verdict::Pass | Verdict::Skip(_)), "{verdict:?}");
    }

    let (verdict, _) = verdict_of(&fixture("self.undeclared", &[], child_starts_in_new_time_namespace));
    let Verdict::Broken(f) = verdict else { panic!("creating an undeclared kind is BROKEN, got {verdict:?}") };
    assert_eq!(f.observed, "time is not declared: add Need::Kind(Kind::Time) to the check");

    let markers = tempfile::tempdir().unwrap();
    MARKERS.set(markers.path().to_owned()).unwrap();
    let fixtures = [
        Check::new("self.alone", "fixture", "none", &[], alone).alone("fixture"),
        fixture("self.overlap-a", &[], || overlap_with(2)),
        fixture("self.overlap-b", &[], || overlap_with(2)),
        fixture("self.overlap-c", &[], || overlap_with(2)),
    ];
    let mut order = Vec::new();
    runner::run_all(&fixtures.iter().collect::<Vec<_>>(), 3, |record| order.push((record.id, record.verdict)));
    assert!(no_children_left(), "processes left behind by a concurrent run");
    let expected: Vec<_> = fixtures.iter().map(|c| (c.id.to_string(), Verdict::Pass)).collect();
    assert_eq!(order, expected, "three checks overlap, the one that runs alone overlaps none, and records come in catalogue order");

    println!("runner self-test: hang, panic, abort, mismatch, choreography, unmet need, orphan, lost SKIP, a crash's orphans, RLIMIT_NPROC, an undeclared kind, overlap and a check that runs alone all handled");
}
