//! Thin wrappers over the system calls and /proc files the suites use and nix does not cover.

use nix::errno::Errno;
use nsconform_harness::{At, Kind, Stop};

/// The result of a raw libc call that returns -1 and sets errno on failure.
pub fn errno_result(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// The `NSpid` ids of process `pid` ("self" works), from the outermost level visible to the
/// /proc mount that is read down to the process's own namespace (proc(5), /proc/pid/status).
pub fn nspid(pid: &str) -> Result<Vec<i32>, Stop> {
    let step = format!("reading NSpid of /proc/{pid}/status");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).at(&step)?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .ok_or_else(|| Stop::fail(&step, "an NSpid line", "none (CONFIG_PID_NS off or a kernel before 4.1)"))?;
    line.split_whitespace().map(|s| s.parse::<i32>().at(&step)).collect()
}

/// This process's pid as the /proc mount in use sees it (the first NSpid entry).
pub fn outer_pid() -> Result<i32, Stop> {
    nspid("self")?.first().copied().ok_or_else(|| Stop::fail("reading NSpid", "at least one id", "none"))
}

/// The inode of /proc/self/ns/<entry>.
pub fn own_ns(entry: &str) -> Result<u64, Stop> {
    nsconform_harness::kind::ns_inode("self", entry).at(&format!("reading /proc/self/ns/{entry}"))
}

pub use nsconform_harness::process::pidfd_open;

/// pidfd_send_signal(2) with signal 0: Ok while the process exists (a zombie included),
/// ESRCH once it has been reaped.
pub fn pidfd_probe(fd: &std::os::fd::OwnedFd) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain system call on a valid fd.
    errno_result(unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), 0, 0usize, 0) }).map(drop)
}

/// The raw clone(2) system call with fork semantics, for checks that assert how the kernel
/// answers a flag. A child that should not have been created leaves at once.
pub fn try_clone(flags: libc::c_int) -> Result<(), Errno> {
    let pid = nsconform_harness::process::raw_fork(flags)?;
    if pid == 0 {
        // SAFETY: leaves the forked child at once, running no destructor or atexit handler a second time.
        unsafe { libc::_exit(0) }
    }
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    Ok(())
}

/// struct clone_args up to its cgroup field (CLONE_ARGS_SIZE_VER2, include/uapi/linux/sched.h).
/// Kernels before 5.5 accept the first 80 bytes (CLONE_ARGS_SIZE_VER1) as long as set_tid and
/// set_tid_size are zero; cgroup came with 5.7 and is passed only when used.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// CLONE_ARGS_SIZE_VER1: clone_args without its cgroup field.
const CLONE_ARGS_SIZE_VER1: usize = 80;

/// clone3(2) (Linux 5.3) with fork semantics: 0 in the child, its pid in the parent. For flags
/// clone(2) cannot carry (CLONE_NEWTIME is a CSIGNAL bit there).
pub fn raw_clone3(flags: u64) -> Result<libc::pid_t, Errno> {
    raw_clone3_set_tid(flags, &[])
}

/// clone3(2) choosing the child's pid per PID namespace level, innermost first (set_tid,
/// Linux 5.5).
pub fn raw_clone3_set_tid(flags: u64, set_tid: &[libc::pid_t]) -> Result<libc::pid_t, Errno> {
    raw_clone3_with(flags, set_tid, None)
}

/// clone3(2) with fork semantics, set_tid (5.5) and, for CLONE_INTO_CGROUP, the target
/// cgroup's directory fd (5.7).
pub fn raw_clone3_with(flags: u64, set_tid: &[libc::pid_t], cgroup: Option<std::os::fd::RawFd>) -> Result<libc::pid_t, Errno> {
    let args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        set_tid: if set_tid.is_empty() { 0 } else { set_tid.as_ptr() as u64 },
        set_tid_size: set_tid.len() as u64,
        cgroup: cgroup.map_or(0, |fd| fd as u64),
        ..Default::default()
    };
    let size = if cgroup.is_some() { std::mem::size_of::<CloneArgs>() } else { CLONE_ARGS_SIZE_VER1 };
    // SAFETY: check processes are single-threaded; a null stack gives the child a copy of ours, as
    // fork does; set_tid points to set_tid_size live pids; args is a live clone_args of at least
    // `size` bytes.
    errno_result(unsafe { libc::syscall(libc::SYS_clone3, &args, size) }).map(|pid| pid as libc::pid_t)
}

/// clone3(2) of `flags`: a child that should not have been created leaves at once.
pub fn try_clone3(flags: u64) -> Result<(), Errno> {
    let pid = raw_clone3(flags)?;
    if pid == 0 {
        // SAFETY: leaves the forked child at once, running no destructor or atexit handler a second time.
        unsafe { libc::_exit(0) }
    }
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    Ok(())
}

/// Writes `value` to a /proc/sys file, returning the errno on failure.
pub fn write_sysctl(path: &str, value: &str) -> Result<(), Errno> {
    write_file(path, value)
}

/// Writes `text` to a file (a /proc control file, e.g. uid_map) in one write(2), returning the
/// errno on failure.
pub fn write_file(path: &str, text: &str) -> Result<(), Errno> {
    std::fs::write(path, text).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// Reads a /proc/sys file with its whitespace normalised to single spaces.
pub fn read_sysctl(path: &str) -> Result<String, Stop> {
    let text = std::fs::read_to_string(path).at(&format!("reading {path}"))?;
    Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Polls `done` every millisecond until it holds or `limit` passes; returns whether it held.
pub fn poll_until(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if std::time::Instant::now() > end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// A child body that waits until its parent tells it to go (or goes away).
pub fn idle(to_parent: &nsconform_harness::Parent) -> nsconform_harness::Outcome {
    to_parent.recv::<()>("the order to exit")
}

/// The inode of an open namespace file: its identity (same namespace <=> same inode).
pub fn fd_inode(fd: &impl std::os::fd::AsFd) -> Result<u64, Stop> {
    Ok(nix::sys::stat::fstat(fd.as_fd()).at("fstat of a namespace fd")?.st_ino)
}

/// The rest of a process that must be killed and cannot leave by itself: every catchable
/// signal is ignored, every inherited descriptor closed (no channel can wake it with EOF),
/// and it waits in pause(2), which nothing but a fatal signal ends. Only SIGKILL (or
/// SIGSTOP) from outside can change its state.
pub fn captive() -> ! {
    // SAFETY: signal dispositions and close on a single-threaded process about to wait forever.
    unsafe {
        for sig in 1..=libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_IGN);
            }
        }
        for fd in 0..4096 {
            libc::close(fd);
        }
        loop {
            libc::pause();
        }
    }
}

/// Waits until the pidfd polls readable (the process exited), at most `limit`.
pub fn pidfd_exited_within(fd: &std::os::fd::OwnedFd, limit: std::time::Duration) -> Result<bool, Errno> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let end = std::time::Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) if left.is_zero() => return Ok(false),
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => return Ok(true),
            Err(e) => return Err(e),
        }
    }
}

/// How child `pid` ended, read with waitid(WEXITED | WNOWAIT): it stays a zombie, to be
/// reaped later. Returns the siginfo's si_code (CLD_KILLED, CLD_EXITED...) and si_status.
pub fn peek_exit(pid: i32) -> Result<(i32, i32), Errno> {
    loop {
        // SAFETY: siginfo_t is plain data for waitid(2) to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
        let ret = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
        match Errno::result(ret) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            // SAFETY: waitid filled info for an exited child, whose si_status is the valid union member.
            Ok(_) => return Ok((info.si_code, unsafe { info.si_status() })),
        }
    }
}

/// The running kernel's upstream version, stable sublevel included. Debian names its releases
/// after the ABI (6.1.0-50-amd64) and gives the upstream version in /proc/version
/// ("... Debian 6.1.135-1 (...)"); elsewhere the release itself carries it.
pub fn upstream_version() -> (u32, u32, u32) {
    let proc_version = std::fs::read_to_string("/proc/version").unwrap_or_default();
    debian_upstream_version(&proc_version).unwrap_or(nsconform_harness::host::facts().version)
}

fn debian_upstream_version(proc_version: &str) -> Option<(u32, u32, u32)> {
    let (_, after) = proc_version.rsplit_once(" Debian ")?;
    let word = after.split_whitespace().next()?;
    let (major, minor, patch) = nsconform_harness::host::parse_version(word)?;
    // "6.1.135-1" or "6.1.135-1~deb11u1"; a backport such as "6.12.38-1~bpo12+1" is the same.
    word.starts_with(&format!("{major}.{minor}.{patch}")).then_some((major, minor, patch))
}

/// (st_dev, st_ino) of `path`: the identity of a directory, as a root or a cwd.
pub fn dev_ino(path: &str) -> Result<(u64, u64), Stop> {
    let st = nix::sys::stat::stat(path).at(&format!("stat of {path:?}"))?;
    Ok((st.st_dev, st.st_ino))
}

/// A process created with clone(CLONE_FS): it shares its creator's fs_struct (root, cwd and
/// umask, clone(2)) and tells its own view whenever asked, until its creator drops it.
pub struct FsSibling {
    pid: nix::unistd::Pid,
    ask: std::fs::File,
    answers: std::io::BufReader<std::fs::File>,
}

/// What a process sees of its fs_struct: its cwd (getcwd(3)) and its root's (st_dev, st_ino).
#[derive(Debug, PartialEq, Eq)]
pub struct FsView {
    pub cwd: String,
    pub root: (u64, u64),
}

impl FsSibling {
    pub fn spawn() -> Result<FsSibling, Stop> {
        let (ask_r, ask_w) = nix::unistd::pipe().setup("a pipe to the CLONE_FS sibling")?;
        let (answer_r, answer_w) = nix::unistd::pipe().setup("a pipe from the CLONE_FS sibling")?;
        let pid = nsconform_harness::process::raw_fork(libc::CLONE_FS).at("clone(CLONE_FS)")?;
        if pid == 0 {
            drop((ask_w, answer_r));
            // SAFETY: prctl with integer arguments: the sibling dies with its creator.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            serve_fs_view(std::fs::File::from(ask_r), std::fs::File::from(answer_w));
            // SAFETY: leaves the child at once, running no destructor or atexit handler a second time.
            unsafe { libc::_exit(0) }
        }
        let answers = std::io::BufReader::new(std::fs::File::from(answer_r));
        Ok(FsSibling { pid: nix::unistd::Pid::from_raw(pid), ask: std::fs::File::from(ask_w), answers })
    }

    /// The sibling's cwd and root as it sees them now.
    pub fn view(&mut self) -> Result<FsView, Stop> {
        use std::io::{BufRead, Write};
        let step = "asking the CLONE_FS sibling for its cwd and root";
        self.ask.write_all(b"?").setup(step)?;
        let mut line = String::new();
        self.answers.read_line(&mut line).setup(step)?;
        let mut fields = line.trim_end_matches('\n').splitn(3, ' ');
        let mut number = || fields.next().and_then(|f| f.parse::<u64>().ok());
        let root = number().zip(number()).ok_or_else(|| Stop::broken(step, "\"DEV INO CWD\"", format!("{line:?}")))?;
        Ok(FsView { cwd: fields.next().unwrap_or_default().to_string(), root })
    }

    /// Lets the sibling exit and reaps it: the fs_struct has one user fewer.
    pub fn finish(self) -> nsconform_harness::Outcome {
        drop(self.ask);
        let status = nix::sys::wait::waitpid(self.pid, None).at("waitpid on the CLONE_FS sibling")?;
        nsconform_harness::expect_eq("the CLONE_FS sibling's exit", nix::sys::wait::WaitStatus::Exited(self.pid, 0), status)
    }
}

/// The CLONE_FS sibling's loop: one line "DEV INO CWD" per byte asked, until EOF.
fn serve_fs_view(mut ask: std::fs::File, mut answer: std::fs::File) {
    use std::io::{Read, Write};
    let mut byte = [0u8; 1];
    while matches!(ask.read(&mut byte), Ok(1)) {
        let cwd = match nix::unistd::getcwd() {
            Ok(path) => path.to_string_lossy().into_owned(),
            Err(e) => format!("getcwd failed: {e}"),
        };
        let (dev, ino) = nix::sys::stat::stat("/").map(|st| (st.st_dev, st.st_ino)).unwrap_or((0, 0));
        if writeln!(answer, "{dev} {ino} {cwd}").is_err() {
            return;
        }
    }
}

/// Runs `body` while the process has a second thread (blocked, doing nothing), then ends the
/// thread and returns once /proc/self/task shows a single thread again: thread_group_empty()
/// and current_is_single_threaded() hold only after the kernel released the thread, later
/// than pthread_join returns.
pub fn with_second_thread<T>(body: impl FnOnce() -> Result<T, Stop>) -> Result<T, Stop> {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new().spawn(move || wait.recv()).setup("creating a second thread")?;
    let threads = || std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0);
    let result = if threads() == 2 {
        body()
    } else {
        Err(Stop::broken("counting /proc/self/task with a second thread", "2", threads().to_string()))
    };
    let _ = release.send(());
    let _ = thread.join();
    if !poll_until(std::time::Duration::from_secs(2), || threads() == 1) {
        return Err(Stop::broken("waiting for the second thread to be released", "1 entry in /proc/self/task", threads().to_string()));
    }
    result
}

/// capget(2)/capset(2) of the calling thread (_LINUX_CAPABILITY_VERSION_3: two 32-bit words).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Waits up to two seconds for a blocked SIGUSR1 and returns its siginfo.
pub fn wait_sigusr1(what: &str) -> Result<libc::siginfo_t, Stop> {
    let mut usr1 = nix::sys::signal::SigSet::empty();
    usr1.add(nix::sys::signal::Signal::SIGUSR1);
    // SAFETY: siginfo_t is plain data; all zeroes is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let timeout = libc::timespec { tv_sec: 2, tv_nsec: 0 };
    // SAFETY: a system call with pointers to live values of the types it expects.
    let signal = unsafe { libc::sigtimedwait(usr1.as_ref(), &mut info, &timeout) };
    if signal != libc::SIGUSR1 {
        return Err(Stop::fail(format!("waiting for {what}"), "it within 2 s", format!("none: {}", Errno::last())));
    }
    Ok(info)
}

/// Reads the caller's capability sets, lets `edit` change word `cap / 32` under mask `bit`,
/// and sets them.
fn edit_caps(cap: u32, edit: impl FnOnce(&mut CapData, u32)) -> Result<(), Errno> {
    let mut header = CapHeader { version: 0x2008_0522, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget fills two CapData words for version 3, as the array provides.
    errno_result(unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) })?;
    edit(&mut data[(cap / 32) as usize], 1u32 << (cap % 32));
    // SAFETY: capset reads the header and two CapData words.
    errno_result(unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) }).map(drop)
}

/// Sets capability `cap` in the caller's effective set (it must be permitted) or clears it.
pub fn set_effective_cap(cap: u32, on: bool) -> Result<(), Errno> {
    edit_caps(cap, |word, bit| if on { word.effective |= bit } else { word.effective &= !bit })
}

/// Drops capability `cap` from every set of the caller, for good.
pub fn drop_cap(cap: u32) -> Result<(), Errno> {
    edit_caps(cap, |word, bit| {
        word.effective &= !bit;
        word.permitted &= !bit;
        word.inheritable &= !bit;
    })
}

/// `id` of the caller's user namespace is 0 of its parent, by /proc/self/`map` ("uid_map" or
/// "gid_map"); never in the initial user namespace.
pub fn is_parents_root(map: &str, id: u32) -> Result<bool, Stop> {
    if nsconform_harness::host::is_initial(Kind::User) {
        return Ok(false);
    }
    let path = format!("/proc/self/{map}");
    let text = std::fs::read_to_string(&path).at(&format!("reading {path}"))?;
    Ok(text.lines().any(|line| {
        let f: Vec<u64> = line.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        f.len() == 3 && (f[0]..f[0] + f[2]).contains(&u64::from(id)) && f[1] + (u64::from(id) - f[0]) == 0
    }))
}

#[cfg(test)]
mod tests {
    use super::debian_upstream_version;

    #[test]
    fn reads_debian_upstream_versions() {
        let debian = "Linux version 6.1.0-50-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.135-1 (2025-04-25)\n";
        assert_eq!(debian_upstream_version(debian), Some((6, 1, 135)));
        let plain =
            "Linux version 6.18.44-fc-v669 (builder@sandboxing) (gcc (GCC) 15.3.0, GNU ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0\n";
        assert_eq!(debian_upstream_version(plain), None);
    }
}
