//! Thin wrappers over the system calls and /proc files the suites use and nix does not cover.

use nix::errno::Errno;
use nsconform_harness::{At, Stop};

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

/// pidfd_open(2) (Linux 5.3).
pub fn pidfd_open(pid: i32) -> Result<std::os::fd::OwnedFd, Errno> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain system call; on success it returns a new fd that we own.
    let fd = errno_result(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

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
    // SAFETY: check processes are single-threaded; the child only calls _exit.
    let pid = errno_result(unsafe { libc::syscall(libc::SYS_clone, (flags | libc::SIGCHLD) as libc::c_ulong, 0usize, 0usize, 0usize, 0usize) })?;
    if pid == 0 {
        // SAFETY: leaves the forked child at once, running no destructor or atexit handler a second time.
        unsafe { libc::_exit(0) }
    }
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
    Ok(())
}

/// The first fields of struct clone_args (CLONE_ARGS_SIZE_VER0, include/uapi/linux/sched.h).
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
}

/// clone3(2) (Linux 5.3) with fork semantics, for flags clone(2) cannot carry (CLONE_NEWTIME
/// is a CSIGNAL bit there). A child that should not have been created leaves at once.
pub fn try_clone3(flags: u64) -> Result<(), Errno> {
    let args = CloneArgs { flags, exit_signal: libc::SIGCHLD as u64, ..Default::default() };
    // SAFETY: check processes are single-threaded; a null stack gives the child a copy of ours, and it only calls _exit.
    let pid = errno_result(unsafe { libc::syscall(libc::SYS_clone3, &args, std::mem::size_of::<CloneArgs>()) })?;
    if pid == 0 {
        // SAFETY: leaves the forked child at once, running no destructor or atexit handler a second time.
        unsafe { libc::_exit(0) }
    }
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
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

#[cfg(test)]
mod tests {
    use super::debian_upstream_version;

    #[test]
    fn reads_debian_upstream_versions() {
        let debian = "Linux version 6.1.0-50-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.135-1 (2025-04-25)\n";
        assert_eq!(debian_upstream_version(debian), Some((6, 1, 135)));
        let plain = "Linux version 6.18.44-fc-v669 (builder@sandboxing) (gcc (GCC) 15.3.0, GNU ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0\n";
        assert_eq!(debian_upstream_version(plain), None);
    }
}
