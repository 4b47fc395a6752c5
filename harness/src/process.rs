//! Choreography of a check's processes: spawn a child in fresh namespaces, talk to it with
//! typed messages and barriers, and collect its result (a failure or panic included) as data.
//!
//! Every process of a check is forked from a single-threaded process, so fork, unshare and
//! setns behave as they would in a C test.

use crate::channel::{Channel, RecvError};
use crate::check::{At, Outcome, Stop};
use crate::kind::{flags_of, ns_inode, Kind};
pub use crate::requirements::creation_error;
use crate::userns;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How a child is created.
#[derive(Clone, Debug)]
pub struct Spawn {
    kinds: Vec<Kind>,
    by_unshare: bool,
    map_root: bool,
    keep_propagation: bool,
}

impl Spawn {
    /// The child starts inside fresh namespaces of `kinds` (clone(2) semantics: with
    /// CLONE_NEWPID it is PID 1 of the new PID namespace).
    pub fn clone(kinds: &[Kind]) -> Spawn {
        Spawn { kinds: kinds.to_vec(), by_unshare: false, map_root: false, keep_propagation: false }
    }

    /// The child is forked into the parent's namespaces and then calls unshare(2) with
    /// `kinds` itself (with CLONE_NEWPID only its own children enter the new PID namespace).
    pub fn unshare(kinds: &[Kind]) -> Spawn {
        Spawn { by_unshare: true, ..Spawn::clone(kinds) }
    }

    /// A plain fork: the child shares every namespace of its parent.
    pub fn fork() -> Spawn {
        Spawn::clone(&[])
    }

    /// With a new user namespace: map root in it to the parent's euid and egid.
    pub fn map_root(mut self) -> Spawn {
        self.map_root = true;
        self
    }

    /// With a new mount namespace: keep the propagation copied from the parent. By default
    /// every mount is made private first, so no mount in the child can reach the parent.
    pub fn keep_propagation(mut self) -> Spawn {
        self.keep_propagation = true;
        self
    }
}

#[derive(Serialize, Deserialize)]
enum Frame {
    Msg(serde_json::Value),
    End(End),
}

#[derive(Serialize, Deserialize)]
enum End {
    Done,
    Stopped(Stop),
    Panicked(String),
}

/// The parent's handle on a child.
pub struct Child {
    pid: Pid,
    channel: Channel,
    end: std::cell::RefCell<Option<Outcome>>,
    reaped: std::cell::Cell<Option<WaitStatus>>,
}

/// A child's handle on its parent.
pub struct Parent {
    channel: Channel,
}

/// Creates a child as `how` says and runs `body` in it. The child's failure or panic reaches
/// the parent through `Child::recv`, `Child::join` and friends.
pub fn spawn(how: Spawn, body: impl FnOnce(&Parent) -> Outcome) -> Result<Child, Stop> {
    undeclared(&how.kinds)?;
    let flags = flags_of(&how.kinds);
    let (ours, theirs) = Channel::pair().setup("creating the channel to a child")?;
    let parent_inodes: Vec<_> = how.kinds.iter().map(|k| (*k, ns_inode("self", k.name()).ok())).collect();
    let (uid, gid) = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    // A PID namespace child must come from clone itself; other kinds are entered by
    // unshare in the forked child, which creates the same namespaces.
    let clone_flags = if how.by_unshare || flags & libc::CLONE_NEWPID == 0 { 0 } else { flags };
    let pid = raw_fork(clone_flags).map_err(|errno| creation_error(&how.kinds, errno, "clone"))?;
    if pid != 0 {
        drop(theirs);
        return Ok(Child { pid: Pid::from_raw(pid), channel: ours, end: Default::default(), reaped: Default::default() });
    }
    drop(ours);
    let parent = Parent { channel: theirs };
    let result = catch_unwind(AssertUnwindSafe(|| -> Outcome {
        if clone_flags == 0 && flags != 0 {
            unshare_kinds(&how.kinds)?;
        }
        if how.map_root && how.kinds.contains(&Kind::User) {
            userns::map_root("self", uid, gid).at("mapping root in the new user namespace")?;
        }
        if how.kinds.contains(&Kind::Time) && !how.by_unshare {
            enter_time_for_children()?;
        }
        for (kind, before) in &parent_inodes {
            // With unshare, PID and time namespaces are for the children only.
            let for_children = how.by_unshare && matches!(kind, Kind::Pid | Kind::Time);
            if let (Some(before), false) = (before, for_children) {
                expect_new_namespace(*kind, *before)?;
            }
        }
        if how.kinds.contains(&Kind::Mnt) && !how.keep_propagation {
            make_mounts_private()?;
        }
        body(&parent)
    }));
    let end = match result {
        Ok(Ok(())) => End::Done,
        Ok(Err(stop)) => End::Stopped(stop),
        Err(_) => End::Panicked(take_panic_message()),
    };
    let _ = parent.channel.send(&Frame::End(end));
    // SAFETY: leaves without running the parent's atexit handlers or destructors twice.
    unsafe { libc::_exit(0) }
}

/// fork(), or clone(flags | SIGCHLD) with no new stack, which has fork's semantics. The raw
/// system call is safe here because every process of a check is single-threaded; glibc
/// no longer caches the pid (2.25) and signals itself by the kernel's tid (2.34).
/// The one raw clone of the project: checks that must see the kernel's own answer to a flag
/// call it too.
pub fn raw_fork(flags: libc::c_int) -> Result<libc::pid_t, nix::errno::Errno> {
    let ret = if flags == 0 {
        // SAFETY: the process is single-threaded (see the module comment).
        unsafe { libc::fork() }
    } else {
        // SAFETY: as above; a null stack makes the child run on a copy of ours.
        unsafe { libc::syscall(libc::SYS_clone, (flags | libc::SIGCHLD) as libc::c_ulong, 0usize, 0usize, 0usize, 0usize) as libc::pid_t }
    };
    if ret < 0 {
        Err(nix::errno::Errno::last())
    } else {
        Ok(ret)
    }
}

/// pidfd_open(2) (Linux 5.3): a descriptor of `pid` that is readable once it has exited.
pub fn pidfd_open(pid: libc::pid_t) -> Result<std::os::fd::OwnedFd, nix::errno::Errno> {
    use std::os::fd::FromRawFd;
    // SAFETY: a system call with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// unshare(2) of `kinds` by the calling process, expected to succeed: a refusal is judged by
/// the same rules as in `spawn` (FAIL when configured, SKIP when no config can tell). A new
/// mount namespace is made private at once, so no later mount can reach the parent's.
pub fn unshare(kinds: &[Kind]) -> Outcome {
    undeclared(kinds)?;
    unshare_kinds(kinds)?;
    if kinds.contains(&Kind::Mnt) {
        make_mounts_private()?;
    }
    Ok(())
}

/// A check creates only the kinds its needs declare: the runner judges a kind that is missing
/// or refused by those needs, so an undeclared kind would be misjudged on a kernel without
/// it. A defect of the check, reported as BROKEN. Outside a check process anything goes.
fn undeclared(kinds: &[Kind]) -> Outcome {
    let Some(declared) = DECLARED.get() else { return Ok(()) };
    match kinds.iter().find(|k| !declared.contains(k)) {
        Some(kind) => Err(Stop::broken(
            format!("creating a {kind} namespace"),
            format!("only the kinds the check's needs declare ({declared:?})"),
            format!("{kind} is not declared: add Need::Kind(Kind::{kind:?}) to the check"),
        )),
        None => Ok(()),
    }
}

fn unshare_kinds(kinds: &[Kind]) -> Outcome {
    nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(flags_of(kinds))).map_err(|errno| creation_error(kinds, errno, "unshare"))
}

fn make_mounts_private() -> Outcome {
    use nix::mount::{mount, MsFlags};
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .at("making every mount of the new mount namespace private")
}

/// unshare(CLONE_NEWTIME) creates the namespace for the caller's children only; the caller
/// enters it with setns on its time_for_children (timens_install() in kernel/time/namespace.c).
fn enter_time_for_children() -> Outcome {
    let ns = std::fs::File::open("/proc/self/ns/time_for_children").at("opening /proc/self/ns/time_for_children")?;
    nix::sched::setns(&ns, nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
        .at("setns into the new time namespace (time_for_children)")
}

fn expect_new_namespace(kind: Kind, parent_inode: u64) -> Outcome {
    let now = ns_inode("self", kind.name()).at(&format!("reading /proc/self/ns/{kind}"))?;
    if now == parent_inode {
        return Err(Stop::fail(
            format!("entering a new {kind} namespace"),
            format!("/proc/self/ns/{kind} differs from the parent's ({parent_inode})"),
            format!("the same inode {now}: {} was ignored", kind.flag_name()),
        ));
    }
    Ok(())
}

impl Child {
    /// The child's pid in its parent's PID namespace.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Sends `value` to the child. A child that already finished (it skipped, failed or
    /// died) cannot take it: its own result is returned instead, so a SKIP is never lost to
    /// a broken pipe; a channel lost with no result from the child is BROKEN.
    pub fn send<T: Serialize>(&self, what: &str, value: &T) -> Outcome {
        let frame = Frame::Msg(serde_json::to_value(value).setup(what)?);
        let Err(error) = self.channel.send(&frame) else { return Ok(()) };
        let step = format!("sending {what} to the child");
        loop {
            match self.channel.recv::<Frame>(Some(Duration::ZERO)) {
                Ok(Frame::Msg(_)) => continue,
                Ok(Frame::End(end)) => {
                    let outcome = end_outcome(end);
                    *self.end.borrow_mut() = Some(outcome.clone());
                    outcome?;
                    return Err(Stop::broken(step, "the child to wait for it", "the child finished without reading it"));
                }
                Err(RecvError::Closed) => {
                    return match self.wait_status()? {
                        WaitStatus::Signaled(_, signal, _) => {
                            Err(Stop::fail(step, what.to_string(), format!("the child died without a result: killed by {signal}")))
                        }
                        status => Err(Stop::broken(step, "success", format!("{error}; the child {}", describe(status)))),
                    }
                }
                Err(_) => return Err(Stop::broken(step, "success", error.to_string())),
            }
        }
    }

    /// Waits for the child's next message, `what` names it (and the step, if this hangs).
    pub fn recv<T: DeserializeOwned>(&mut self, what: &str) -> Result<T, Stop> {
        self.recv_inner(what, None)
    }

    /// Like `recv`, but fails once `timeout` passes, reporting the child's scheduler state.
    pub fn recv_within<T: DeserializeOwned>(&mut self, what: &str, timeout: Duration) -> Result<T, Stop> {
        self.recv_inner(what, Some(timeout))
    }

    /// Both sides call `sync`: neither returns before the other arrived.
    pub fn sync(&mut self, what: &str) -> Outcome {
        self.send(what, &())?;
        self.recv::<()>(what)
    }

    fn recv_inner<T: DeserializeOwned>(&mut self, what: &str, timeout: Option<Duration>) -> Result<T, Stop> {
        let step = format!("waiting for {what} from the child");
        crate::process::step(&step);
        match self.channel.recv::<Frame>(timeout) {
            Ok(Frame::Msg(v)) => serde_json::from_value(v).map_err(|e| Stop::broken(&step, what, format!("undecodable: {e}"))),
            Ok(Frame::End(end)) => {
                let outcome = end_outcome(end);
                *self.end.borrow_mut() = Some(outcome.clone());
                outcome?;
                Err(Stop::fail(step, what.to_string(), "the child finished without sending it"))
            }
            Err(RecvError::TimedOut) => Err(Stop::fail(
                step,
                format!("{what} within {:?}", timeout.unwrap_or_default()),
                format!("nothing; the child's state is {}", proc_state(self.pid)),
            )),
            Err(RecvError::Closed) => {
                let status = self.wait_status()?;
                Err(Stop::fail(step, what.to_string(), format!("the child died without a result: {}", describe(status))))
            }
            Err(e) => Err(Stop::broken(step, what.to_string(), e.to_string())),
        }
    }

    /// Waits for the child to finish and returns its result.
    pub fn join(self) -> Outcome {
        crate::process::step("waiting for a child to finish");
        let end = self.end.take();
        let outcome = match end {
            Some(outcome) => outcome,
            None => loop {
                match self.channel.recv::<Frame>(None) {
                    Ok(Frame::Msg(_)) => continue,
                    Ok(Frame::End(end)) => break end_outcome(end),
                    Err(_) => {
                        let status = self.wait_status()?;
                        return Err(Stop::fail(
                            "waiting for a child to finish",
                            "its result",
                            format!("the child died without a result: {}", describe(status)),
                        ));
                    }
                }
            },
        };
        outcome?;
        match self.wait_status()? {
            WaitStatus::Exited(_, 0) => Ok(()),
            status => Err(Stop::fail("reaping a child", "exit status 0", describe(status))),
        }
    }

    /// Reaps the child and returns how it ended, without looking at its result.
    pub fn wait_status(&self) -> Result<WaitStatus, Stop> {
        self.waitpid(None)
    }

    /// waitpid(2) on the child with `flags` (e.g. WUNTRACED to see it stop).
    /// An exit or death is remembered: the child can be reaped only once.
    pub fn waitpid(&self, flags: Option<WaitPidFlag>) -> Result<WaitStatus, Stop> {
        if let Some(status) = self.reaped.get() {
            return Ok(status);
        }
        crate::process::step("waiting for a child's status");
        let status = loop {
            match waitpid(self.pid, flags) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.at("waitpid on a child")?,
            }
        };
        if matches!(status, WaitStatus::Exited(..) | WaitStatus::Signaled(..)) {
            self.reaped.set(Some(status));
        }
        Ok(status)
    }
}

impl Parent {
    pub fn send<T: Serialize>(&self, what: &str, value: &T) -> Outcome {
        self.channel.send(&Frame::Msg(serde_json::to_value(value).setup(what)?)).setup(&format!("sending {what} to the parent"))
    }

    pub fn recv<T: DeserializeOwned>(&self, what: &str) -> Result<T, Stop> {
        let step = format!("waiting for {what} from the parent");
        crate::process::step(&step);
        match self.channel.recv::<Frame>(None) {
            Ok(Frame::Msg(v)) => serde_json::from_value(v).map_err(|e| Stop::broken(&step, what, format!("undecodable: {e}"))),
            Ok(Frame::End(_)) => Err(Stop::broken(step, what, "an end frame from the parent")),
            Err(e) => Err(Stop::broken(step, what, e.to_string())),
        }
    }

    pub fn sync(&self, what: &str) -> Outcome {
        self.send(what, &())?;
        self.recv::<()>(what)
    }
}

fn end_outcome(end: End) -> Outcome {
    match end {
        End::Done => Ok(()),
        End::Stopped(stop) => Err(stop.within("child")),
        End::Panicked(message) => Err(Stop::fail("child", "no panic", message)),
    }
}

/// A wait status in words.
pub fn describe(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exited with status {code}"),
        WaitStatus::Signaled(_, sig, _) => format!("killed by {sig}"),
        WaitStatus::Stopped(_, sig) => format!("stopped by {sig}"),
        other => format!("{other:?}"),
    }
}

/// The fields of /proc/PID/stat after the command name, from the state (field 3 of proc(5))
/// on: ppid, pgrp, session, tty_nr, tpgid, flags, ...; `None` once the process is gone.
pub fn proc_stat(pid: libc::pid_t) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit_once(')')?.1.split_whitespace().map(String::from).collect())
}

/// The scheduler state letter of /proc/PID/stat, in words.
pub fn proc_state(pid: Pid) -> String {
    match proc_stat(pid.as_raw()).and_then(|fields| fields.first()?.chars().next()) {
        Some('T') => "T (stopped)".into(),
        Some('t') => "t (traced)".into(),
        Some('Z') => "Z (zombie)".into(),
        Some('S') => "S (sleeping)".into(),
        Some('R') => "R (running)".into(),
        Some('D') => "D (uninterruptible)".into(),
        Some(c) => c.to_string(),
        None => "gone".into(),
    }
}

// The runner's end of the report channel and the panic message, per check process.
static RUNNER: OnceLock<Channel> = OnceLock::new();
static DECLARED: OnceLock<Vec<Kind>> = OnceLock::new();
static PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Frames a check process sends to the runner.
#[derive(Serialize, Deserialize)]
pub(crate) enum Report {
    Step(String),
    Verdict(Result<(), Stop>),
}

/// Names what the check is doing now. If it hangs, the failure names this step. Any process
/// of the check may call it.
pub fn step(what: &str) {
    if let Some(runner) = RUNNER.get() {
        let _ = runner.send(&Report::Step(what.to_string()));
    }
}

/// Installs the report channel and the panic hook in a new check process.
pub(crate) fn enter_check_process(runner: Channel, declared: Vec<Kind>) {
    let _ = RUNNER.set(runner);
    let _ = DECLARED.set(declared);
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic".into());
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("panicked{location}: {message}"));
    }));
}

pub(crate) fn take_panic_message() -> String {
    PANIC.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_else(|| "panicked".into())
}

pub(crate) fn send_verdict(outcome: &Outcome) {
    if let Some(runner) = RUNNER.get() {
        let _ = runner.send(&Report::Verdict(outcome.clone()));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn proc_stat_starts_at_the_state() {
        let fields = super::proc_stat(std::process::id() as libc::pid_t).expect("our own /proc/PID/stat");
        assert!(["R", "S"].contains(&fields[0].as_str()), "{fields:?}");
        assert_eq!(fields[1], nix::unistd::getppid().as_raw().to_string(), "{fields:?}");
        assert!(super::proc_stat(-1).is_none());
    }
}
