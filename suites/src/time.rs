//! Time namespaces: per-namespace offsets of CLOCK_MONOTONIC and CLOCK_BOOTTIME
//! (time_namespaces(7), Linux 5.6).
//!
//! unshare(CLONE_NEWTIME) leaves the caller in its time namespace: the new one is for its
//! children (/proc/self/ns/time_for_children). Its offsets are written to
//! /proc/self/timens_offsets before the first child enters, which freezes them. Absolute
//! times given to sleeps and timers on those clocks are read on the namespace's clock.

use crate::fixture::enter_for_children;
use crate::sys::{own_ns, write_file};
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use nsconform_harness::host::facts;
use nsconform_harness::process::creation_error;
use nsconform_harness::userns::become_root;
use nsconform_harness::{expect_eq, expect_errno, expect_that, spawn, At, Check, Kind, Need, Outcome, Probe, Spawn, Stop};
use std::ffi::CStr;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

pub const CHECKS: &[Check] = &[
    Check::new(
        "time.monotonic-clocks-offset",
        "CLOCK_MONOTONIC, _RAW and _COARSE read in a time namespace are shifted by its monotonic offset (vDSO and system call)",
        "time_namespaces(7); timens_add_monotonic() in include/linux/time_namespace.h; posix_get_monotonic_*() in kernel/time/posix-timers.c; the vDSO's time-namespace page",
        &[Need::Kind(Kind::Time)],
        || in_new_namespace(|| child_sees_shift(MONOTONIC, MONOTONIC_OFFSET)),
    ),
    Check::new(
        "time.boottime-clocks-offset",
        "CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM and /proc/uptime read in a time namespace are shifted by its boottime offset",
        "time_namespaces(7); timens_add_boottime(); posix_get_boottime_timespec() in kernel/time/posix-timers.c; uptime_proc_show() in fs/proc/uptime.c",
        &[Need::Kind(Kind::Time)],
        || in_new_namespace(|| child_sees_shift(BOOTTIME, BOOTTIME_OFFSET)),
    ),
    Check::new(
        "time.realtime-not-offset",
        "CLOCK_REALTIME, _COARSE and CLOCK_TAI are not shifted in a time namespace with monotonic and boottime offsets",
        "time_namespaces(7): only CLOCK_MONOTONIC and CLOCK_BOOTTIME are virtualised; posix_get_realtime_timespec() in kernel/time/posix-timers.c",
        &[Need::Kind(Kind::Time)],
        || in_new_namespace(|| child_sees_shift(REALTIME, 0)),
    ),
    Check::new(
        "time.clock-nanosleep-abstime-offset",
        "clock_nanosleep(TIMER_ABSTIME) on CLOCK_MONOTONIC and CLOCK_BOOTTIME in a time namespace takes the time on the namespace's clock: it returns once that clock reaches it, neither at once nor the offset later",
        "clock_nanosleep(2), time_namespaces(7); timens_ktime_to_host() in include/linux/time_namespace.h and do_timens_ktime_to_host() in kernel/time/namespace.c, called by common_nsleep_timens() in kernel/time/posix-timers.c and clock_nanosleep() in kernel/time/posix-stubs.c",
        &[Need::Kind(Kind::Time)],
        || in_new_namespace(clock_nanosleep_abstime_offset),
    ),
    Check::new(
        "time.timerfd-abstime-offset",
        "timerfd_settime(TFD_TIMER_ABSTIME) on CLOCK_MONOTONIC and CLOCK_BOOTTIME in a time namespace takes the time on the namespace's clock: timerfd_gettime gives the time left to it, and the timer fires once that clock reaches it",
        "timerfd_create(2), time_namespaces(7); timerfd_setup() in fs/timerfd.c converts through timens_ktime_to_host(); timerfd_gettime() reports hrtimer_expires_remaining_adjusted()",
        &[Need::Kind(Kind::Time), Need::Probe(TIMERFD)],
        || in_new_namespace(timerfd_abstime_offset),
    ),
    Check::new(
        "time.timer-settime-abstime-offset",
        "timer_settime(TIMER_ABSTIME) of a POSIX timer on CLOCK_MONOTONIC and CLOCK_BOOTTIME in a time namespace takes the time on the namespace's clock: timer_gettime gives the time left to it",
        "timer_settime(2), time_namespaces(7); common_timer_set() in kernel/time/posix-timers.c converts through timens_ktime_to_host(); common_timer_get() reports the time left",
        &[Need::Kind(Kind::Time), Need::Probe(POSIX_TIMERS)],
        || in_new_namespace(timer_settime_abstime_offset),
    ),
    Check::new(
        "time.sysinfo-uptime-offset",
        "sysinfo(2) in a time namespace reports an uptime shifted by its boottime offset",
        "sysinfo(2), time_namespaces(7); do_sysinfo() in kernel/sys.c: ktime_get_boottime_ts64() then timens_add_boottime(), seconds rounded up",
        &[Need::Kind(Kind::Time)],
        || in_new_namespace(sysinfo_uptime_offset),
    ),
    Check::new(
        "time.setns-switches-clocks",
        "setns into a time namespace shifts the caller's own CLOCK_MONOTONIC and CLOCK_BOOTTIME (vDSO and system call) by that namespace's offsets at once, and setns into another by the other's",
        "setns(2), time_namespaces(7); timens_install() in kernel/time/namespace.c sets nsproxy->time_ns; commit_nsset() in kernel/nsproxy.c calls timens_commit(), which maps the namespace's vDSO page (timens_set_vvar_page(), vdso_join_timens())",
        &[Need::Kind(Kind::Time)],
        setns_switches_clocks,
    ),
    Check::new(
        "time.child-namespace-inherits-offsets",
        "A time namespace created inside another starts with its parent's offsets",
        "time_namespaces(7); clone_time_ns() copies old_ns->offsets, kernel/time/namespace.c",
        &[Need::Kind(Kind::Time)],
        child_namespace_inherits_offsets,
    ),
    Check::new(
        "time.offsets-frozen-after-first-entry",
        "timens_offsets can be rewritten until the first process enters the namespace, then gives EACCES",
        "time_namespaces(7) /proc/PID/timens_offsets; proc_timens_set_offset() checks frozen_offsets, set by timens_commit(), kernel/time/namespace.c",
        &[Need::Kind(Kind::Time)],
        offsets_frozen_after_first_entry,
    ),
    Check::new(
        "time.offsets-bad-clock-or-nsec-einval",
        "timens_offsets refuses a clock other than CLOCK_MONOTONIC or CLOCK_BOOTTIME, nsec >= 1e9 or a malformed line with EINVAL",
        "time_namespaces(7); timens_offsets_write() in fs/proc/base.c; proc_timens_set_offset() in kernel/time/namespace.c",
        &[Need::Kind(Kind::Time)],
        offsets_bad_clock_or_nsec_einval,
    ),
    Check::new(
        "time.offsets-out-of-range-erange",
        "timens_offsets refuses an offset that makes the clock negative or exceed KTIME_SEC_MAX / 2 with ERANGE",
        "time_namespaces(7); proc_timens_set_offset() in kernel/time/namespace.c",
        &[Need::Kind(Kind::Time)],
        offsets_out_of_range_erange,
    ),
    Check::new(
        "time.offsets-need-cap-sys-time-in-owner",
        "Writing timens_offsets without CAP_SYS_TIME in the time namespace's owning user namespace gives EPERM",
        "time_namespaces(7); proc_timens_set_offset() checks file_ns_capable(file, time_ns->user_ns, CAP_SYS_TIME)",
        &[Need::Kind(Kind::Time), Need::Kind(Kind::User)],
        offsets_need_cap_sys_time_in_owner,
    ),
    Check::new(
        "time.offsets-survive-execve",
        "A program executed in a time namespace sees its offset, through /proc/uptime and through the vDSO the exec mapped",
        "time_namespaces(7); the namespace belongs to the task, and execve() maps the vDSO data of its time namespace (vdso_join_timens(), timens_on_fork())",
        &[Need::Kind(Kind::Time)],
        offsets_survive_execve,
    ),
    Check::new(
        "time.vfork-after-unshare",
        "After unshare(CLONE_NEWTIME), posix_spawn (CLONE_VM | CLONE_VFORK) gives EINVAL (before 6.2) or runs a program that is in the new namespace after execve",
        "copy_process() refused CLONE_VM while time_ns != time_ns_for_children (5.6 to 6.1); later copy_namespaces() shares the nsproxy with CLONE_VM and exec_task_namespaces() in kernel/nsproxy.c switches on execve",
        &[Need::Kind(Kind::Time)],
        vfork_after_unshare,
    ),
    Check::new(
        "time.thread-after-unshare",
        "After unshare(CLONE_NEWTIME), pthread_create gives EINVAL (before 6.2) or creates a thread that stays in the caller's time namespace",
        "copy_process() refused CLONE_THREAD while time_ns != time_ns_for_children (5.6 to 6.1); later copy_namespaces() in kernel/nsproxy.c shares the nsproxy with CLONE_VM",
        &[Need::Kind(Kind::Time)],
        thread_after_unshare,
    ),
    Check::new(
        "time.clone3-creates-namespace",
        "clone3(CLONE_NEWTIME) starts the child in a new time namespace",
        "clone(2) CLONE_NEWTIME (clone3 only: the bit is part of CSIGNAL in clone); clone3_args_valid() in kernel/fork.c, fixed by \"fork: allow CLONE_NEWTIME in clone3 flags\" (2023)",
        &[Need::Kind(Kind::Time)],
        clone3_creates_namespace,
    ),
    crate::fixture::create_without_cap_sys_admin_eperm!("time.create-without-cap-sys-admin-eperm", Kind::Time),
    Check::new(
        "time.flag-refused-when-configured-out",
        "With CONFIG_TIME_NS off, unshare and clone3 with CLONE_NEWTIME give EINVAL and /proc/self/ns lacks time",
        "copy_time_ns() stub in include/linux/time_namespace.h; clone(2) cannot carry CLONE_NEWTIME (a CSIGNAL bit), so clone3(2) is used; proc_ns_dir_entries in fs/proc/namespaces.c",
        &[Need::KindDisabled(Kind::Time)],
        refused_when_configured_out,
    ),
];

const NSEC_PER_SEC: i64 = 1_000_000_000;
/// Offsets large enough that no unshifted reading can fall in the shifted window.
const MONOTONIC_OFFSET: i64 = 10 * 86_400;
const BOOTTIME_OFFSET: i64 = 20 * 86_400;
/// The kernel releases where a CLONE_VM child after unshare(CLONE_NEWTIME) is allowed: commit
/// 2b5f9dad32ed "fs/exec: switch timens when a task gets a new mm", merged for 6.2.
const VM_SHARING_ALLOWED: (u32, u32, u32) = (6, 2, 0);
const OFFSETS: &str = "/proc/self/timens_offsets";

#[derive(Clone, Copy)]
struct Clock {
    id: libc::clockid_t,
    name: &'static str,
}

const MONOTONIC: &[Clock] = &[
    Clock { id: libc::CLOCK_MONOTONIC, name: "CLOCK_MONOTONIC" },
    Clock { id: libc::CLOCK_MONOTONIC_RAW, name: "CLOCK_MONOTONIC_RAW" },
    Clock { id: libc::CLOCK_MONOTONIC_COARSE, name: "CLOCK_MONOTONIC_COARSE" },
];
const BOOTTIME: &[Clock] =
    &[Clock { id: libc::CLOCK_BOOTTIME, name: "CLOCK_BOOTTIME" }, Clock { id: libc::CLOCK_BOOTTIME_ALARM, name: "CLOCK_BOOTTIME_ALARM" }];
const REALTIME: &[Clock] = &[
    Clock { id: libc::CLOCK_REALTIME, name: "CLOCK_REALTIME" },
    Clock { id: libc::CLOCK_REALTIME_COARSE, name: "CLOCK_REALTIME_COARSE" },
    Clock { id: libc::CLOCK_TAI, name: "CLOCK_TAI" },
];

fn offsets_text(monotonic: i64, boottime: i64) -> String {
    // Numeric clock ids: 5.6 accepts only those, later kernels also the names.
    format!("{} {monotonic} 0\n{} {boottime} 0\n", libc::CLOCK_MONOTONIC, libc::CLOCK_BOOTTIME)
}

fn set_offsets(monotonic: i64, boottime: i64) -> Outcome {
    let text = offsets_text(monotonic, boottime);
    write_file(OFFSETS, &text).at(&format!("writing {text:?} to {OFFSETS}"))
}

/// In a forked process: a new time namespace for its children, with the test offsets.
fn in_new_namespace(then: fn() -> Outcome) -> Outcome {
    spawn(Spawn::fork(), move |_| {
        enter_for_children()?;
        set_offsets(MONOTONIC_OFFSET, BOOTTIME_OFFSET)?;
        then()
    })?
    .join()
}

/// Nanoseconds of `clock`, through libc (the vDSO where it serves the clock) or the system call.
fn read_clock(clock: libc::clockid_t, syscall: bool) -> Result<i64, Errno> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to fill.
    let ret = if syscall {
        // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
        unsafe { libc::syscall(libc::SYS_clock_gettime, clock, &mut ts) as libc::c_int }
    } else {
        // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
        unsafe { libc::clock_gettime(clock, &mut ts) }
    };
    Errno::result(ret)?;
    Ok(ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec)
}

fn read_all(clocks: &[Clock]) -> Result<Vec<[i64; 2]>, Stop> {
    clocks
        .iter()
        .map(|c| {
            Ok([
                read_clock(c.id, false).at(&format!("clock_gettime({})", c.name))?,
                read_clock(c.id, true).at(&format!("syscall clock_gettime({})", c.name))?,
            ])
        })
        .collect()
}

/// /proc/uptime's first field, in hundredths of a second.
fn uptime_centis(text: &str) -> Result<i64, Stop> {
    let step = format!("parsing /proc/uptime {text:?}");
    let first = text.split_whitespace().next().ok_or_else(|| Stop::fail(&step, "two fields", "none"))?;
    let (secs, centis) = first.split_once('.').ok_or_else(|| Stop::fail(&step, "seconds.hundredths", first))?;
    Ok(secs.parse::<i64>().at(&step)? * 100 + centis.parse::<i64>().at(&step)?)
}

/// Fails unless `observed` (ns) lies within [low, high] shifted by `offset` seconds.
fn expect_shifted(what: &str, low: i64, high: i64, offset: i64, observed: i64) -> Outcome {
    let (low, high) = (low + offset * NSEC_PER_SEC, high + offset * NSEC_PER_SEC);
    expect_that(
        what,
        (low..=high).contains(&observed),
        format!("between {low} and {high} ns (offset {offset} s)"),
        format!("{observed} ns"),
    )
}

fn expect_uptime_shifted(what: &str, low: i64, high: i64, offset: i64, centis: i64) -> Outcome {
    let to_centis = |ns: i64| (ns + offset * NSEC_PER_SEC) / (NSEC_PER_SEC / 100);
    let (low, high) = (to_centis(low), to_centis(high));
    expect_that(
        what,
        (low..=high).contains(&centis),
        format!("between {low} and {high} hundredths (offset {offset} s)"),
        format!("{centis}"),
    )
}

/// Forks a child into the pending time namespace. What it reads of `clocks` (and, with
/// CLOCK_BOOTTIME, /proc/uptime) must lie between this process's readings before and after,
/// shifted by `offset` seconds.
fn child_sees_shift(clocks: &[Clock], offset: i64) -> Outcome {
    // Clocks this system cannot read at all (CLOCK_BOOTTIME_ALARM without an RTC) are left out.
    let clocks: Vec<Clock> = clocks.iter().copied().filter(|c| read_clock(c.id, true).is_ok()).collect();
    let pending = own_ns("time_for_children")?;
    let before = read_all(&clocks)?;
    let boot_before = read_clock(libc::CLOCK_BOOTTIME, false).at("clock_gettime(CLOCK_BOOTTIME)")?;
    let inner = clocks.clone();
    let mut child = spawn(Spawn::fork(), move |to_parent| {
        let readings = (own_ns("time")?, read_all(&inner)?, std::fs::read_to_string("/proc/uptime").at("reading /proc/uptime")?);
        to_parent.send("its namespace and readings", &readings)
    })?;
    let (ns, inside, uptime) = child.recv::<(u64, Vec<[i64; 2]>, String)>("its namespace and readings")?;
    let after = read_all(&clocks)?;
    let boot_after = read_clock(libc::CLOCK_BOOTTIME, false).at("clock_gettime(CLOCK_BOOTTIME)")?;
    expect_eq("the child's time namespace vs its parent's time_for_children", pending, ns)?;
    for (i, clock) in clocks.iter().enumerate() {
        for (k, how) in ["clock_gettime (vDSO)", "the clock_gettime system call"].iter().enumerate() {
            expect_shifted(
                &format!("{} read in the namespace through {how}", clock.name),
                before[i][0],
                after[i][1],
                offset,
                inside[i][k],
            )?;
        }
    }
    if clocks.iter().any(|c| c.id == libc::CLOCK_BOOTTIME) {
        expect_uptime_shifted("/proc/uptime read in the namespace", boot_before, boot_after, offset, uptime_centis(&uptime)?)?;
    }
    child.join()
}

fn child_namespace_inherits_offsets() -> Outcome {
    in_new_namespace(|| {
        spawn(Spawn::fork(), |_| {
            // Inside the first namespace, a second one for the children, offsets untouched:
            // they read what this process reads.
            enter_for_children()?;
            child_sees_shift(&[MONOTONIC, BOOTTIME].concat(), 0)
        })?
        .join()
    })
}

/// The clocks timers may be set on in a time namespace, with the offset `in_new_namespace`
/// gives each.
const TIMER_CLOCKS: [(Clock, i64); 2] = [
    (Clock { id: libc::CLOCK_MONOTONIC, name: "CLOCK_MONOTONIC" }, MONOTONIC_OFFSET),
    (Clock { id: libc::CLOCK_BOOTTIME, name: "CLOCK_BOOTTIME" }, BOOTTIME_OFFSET),
];
/// How far ahead of the namespace's clock the timers are set.
const TIMER_DELAY: i64 = 25_000_000;
/// How long a timer 25 ms ahead may take to fire, however slow the machine: one set on the
/// host's clock instead would fire days later.
const WAKE_LIMIT: Duration = Duration::from_secs(2);

fn timespec(ns: i64) -> libc::timespec {
    libc::timespec { tv_sec: ns / NSEC_PER_SEC, tv_nsec: ns % NSEC_PER_SEC }
}

fn nanos(ts: &libc::timespec) -> i64 {
    ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec
}

/// A need of the timer checks: the system call exists (the minimal configs leave out
/// CONFIG_TIMERFD and CONFIG_POSIX_TIMERS). Only ENOSYS says it does not.
fn probe_enosys(ret: libc::c_int, option: &str) -> Result<(), String> {
    match Errno::result(ret) {
        Err(Errno::ENOSYS) => Err(format!("ENOSYS: the kernel is built without {option}")),
        _ => Ok(()),
    }
}

const TIMERFD: Probe = Probe {
    what: "timerfd_create(2)",
    run: || {
        // SAFETY: a system call with integer arguments; a returned fd is closed at once.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC) };
        if fd >= 0 {
            // SAFETY: fd is ours.
            unsafe { libc::close(fd) };
        }
        probe_enosys(fd, "CONFIG_TIMERFD")
    },
};

const POSIX_TIMERS: Probe = Probe {
    what: "timer_create(2)",
    run: || {
        let (ret, timer) = posix_timer_create(libc::CLOCK_MONOTONIC);
        if ret == 0 {
            // SAFETY: deletes the timer just created.
            unsafe { libc::timer_delete(timer) };
        }
        probe_enosys(ret, "CONFIG_POSIX_TIMERS")
    },
};

/// timer_create(2) of a timer that never notifies (SIGEV_NONE): the call's result and the
/// timer, for the caller to delete.
fn posix_timer_create(clock: libc::clockid_t) -> (libc::c_int, libc::timer_t) {
    // SAFETY: an all-zero sigevent is a valid value, then made SIGEV_NONE.
    let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
    event.sigev_notify = libc::SIGEV_NONE;
    let mut timer: libc::timer_t = std::ptr::null_mut();
    // SAFETY: event and timer are live values of the types timer_create expects.
    let ret = unsafe { libc::timer_create(clock, &mut event, &mut timer) };
    (ret, timer)
}

/// Fails unless the time left on a timer armed at `start + TIMER_DELAY` on the namespace's
/// clock, as the kernel reported it before the clock read `read_at`, is TIMER_DELAY less
/// what passed: not days more (the time taken as the host's) and not nothing (converted twice).
fn expect_time_left(what: &str, start: i64, read_at: i64, left: i64) -> Outcome {
    let low = start + TIMER_DELAY - read_at;
    expect_that(
        what,
        (low..=TIMER_DELAY).contains(&left),
        format!("between {low} and {TIMER_DELAY} ns (armed at the namespace's clock + {TIMER_DELAY} ns)"),
        format!("{left} ns"),
    )
}

/// Fails unless the namespace's clock read `end` once the timer fired or the sleep ended,
/// at least the absolute time asked for.
fn expect_not_early(what: &str, start: i64, end: i64) -> Outcome {
    let target = start + TIMER_DELAY;
    expect_that(
        what,
        end >= target,
        format!("at least {target} ns (the absolute time asked for)"),
        format!("{end} ns, {} ns early", target - end),
    )
}

/// Host readings of both timer clocks, through the vDSO.
fn read_timer_clocks() -> Result<[i64; 2], Stop> {
    let read = |c: &Clock| read_clock(c.id, false).at(&format!("clock_gettime({})", c.name));
    Ok([read(&TIMER_CLOCKS[0].0)?, read(&TIMER_CLOCKS[1].0)?])
}

/// Forks a child per timer clock into the pending time namespace, all timing at once, that
/// runs `timed` on its clock and sends what it measured: first the namespace's clock when it
/// started, which must lie between this process's readings before and after, shifted by the
/// clock's offset. `judge` gets the start and the rest. Each answer must come within WAKE_LIMIT.
fn per_timer_clock(what: &str, timed: fn(Clock) -> Result<Vec<i64>, Stop>, judge: impl Fn(Clock, i64, &[i64]) -> Outcome) -> Outcome {
    let before = read_timer_clocks()?;
    let step = |clock: &Clock| format!("{what} on {}", clock.name);
    let mut children = Vec::new();
    for (clock, _) in TIMER_CLOCKS {
        let answer = step(&clock);
        children.push(spawn(Spawn::fork(), move |to_parent| to_parent.send(&answer, &timed(clock)?))?);
    }
    let mut answers = Vec::new();
    for ((clock, _), child) in TIMER_CLOCKS.iter().zip(&mut children) {
        answers.push(child.recv_within::<Vec<i64>>(&step(clock), WAKE_LIMIT)?);
    }
    let after = read_timer_clocks()?;
    for (i, ((clock, offset), answer)) in TIMER_CLOCKS.into_iter().zip(answers).enumerate() {
        let (start, rest) = answer.split_first().ok_or_else(|| Stop::broken("decoding the child's answer", "its readings", "none"))?;
        expect_shifted(&format!("{} read in the namespace", clock.name), before[i], after[i], offset, *start)?;
        judge(clock, *start, rest)?;
    }
    children.into_iter().try_for_each(|child| child.join())
}

fn clock_nanosleep_abstime_offset() -> Outcome {
    per_timer_clock(
        "the end of clock_nanosleep(TIMER_ABSTIME) to the namespace's clock + 25 ms",
        |clock| {
            let start = read_clock(clock.id, false).at(&format!("clock_gettime({})", clock.name))?;
            let until = timespec(start + TIMER_DELAY);
            // SAFETY: until is a live timespec; no remainder is asked for.
            let ret = unsafe { libc::clock_nanosleep(clock.id, libc::TIMER_ABSTIME, &until, std::ptr::null_mut()) };
            let end = read_clock(clock.id, false).at(&format!("clock_gettime({})", clock.name))?;
            Ok(vec![start, ret as i64, end])
        },
        |clock, start, r: &[i64]| {
            let (ret, end) = (r[0], r[1]);
            expect_eq(&format!("clock_nanosleep({}, TIMER_ABSTIME)", clock.name), Errno::from_raw(0), Errno::from_raw(ret as i32))?;
            expect_not_early(&format!("{} in the namespace when clock_nanosleep returned", clock.name), start, end)
        },
    )
}

fn timerfd_abstime_offset() -> Outcome {
    per_timer_clock(
        "a timerfd armed with TFD_TIMER_ABSTIME at the namespace's clock + 25 ms",
        |clock| {
            let step = |call: &str| format!("{call} on {}", clock.name);
            // SAFETY: a system call with integer arguments; the fd it returns is ours.
            let fd = Errno::result(unsafe { libc::timerfd_create(clock.id, libc::TFD_CLOEXEC) }).at(&step("timerfd_create"))?;
            // SAFETY: fd is a new descriptor no one else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let start = read_clock(clock.id, false).at(&step("clock_gettime"))?;
            let new = libc::itimerspec { it_interval: timespec(0), it_value: timespec(start + TIMER_DELAY) };
            // SAFETY: new is a live itimerspec; no old value is asked for.
            Errno::result(unsafe { libc::timerfd_settime(fd.as_raw_fd(), libc::TFD_TIMER_ABSTIME, &new, std::ptr::null_mut()) })
                .at(&step("timerfd_settime(TFD_TIMER_ABSTIME)"))?;
            let mut current = libc::itimerspec { it_interval: timespec(0), it_value: timespec(0) };
            // SAFETY: current is a live itimerspec to fill.
            Errno::result(unsafe { libc::timerfd_gettime(fd.as_raw_fd(), &mut current) }).at(&step("timerfd_gettime"))?;
            let read_at = read_clock(clock.id, false).at(&step("clock_gettime"))?;
            let mut poll = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: poll is a live pollfd.
            let ready = Errno::result(unsafe { libc::poll(&mut poll, 1, WAKE_LIMIT.as_millis() as libc::c_int) })
                .at(&step("poll on the timerfd"))?;
            let mut count = [0u8; 8];
            if ready == 1 {
                nix::unistd::read(&fd, &mut count).at(&step("reading the timerfd"))?;
            }
            let expirations = u64::from_ne_bytes(count);
            let end = read_clock(clock.id, false).at(&step("clock_gettime"))?;
            Ok(vec![start, nanos(&current.it_value), read_at, ready as i64, expirations as i64, end])
        },
        |clock, start, r: &[i64]| {
            let (left, read_at, ready, expirations, end) = (r[0], r[1], r[2], r[3], r[4]);
            expect_time_left(&format!("timerfd_gettime's it_value on {} right after arming", clock.name), start, read_at, left)?;
            expect_eq(&format!("poll on the {} timerfd within {WAKE_LIMIT:?} (1: it fired)", clock.name), 1, ready)?;
            expect_eq(&format!("the expirations read from the {} timerfd", clock.name), 1, expirations)?;
            expect_not_early(&format!("{} in the namespace once the timerfd fired", clock.name), start, end)
        },
    )
}

fn timer_settime_abstime_offset() -> Outcome {
    per_timer_clock(
        "a POSIX timer armed with TIMER_ABSTIME at the namespace's clock + 25 ms",
        |clock| {
            let step = |call: &str| format!("{call} on {}", clock.name);
            let (ret, timer) = posix_timer_create(clock.id);
            Errno::result(ret).at(&step("timer_create(SIGEV_NONE)"))?;
            let start = read_clock(clock.id, false).at(&step("clock_gettime"))?;
            let new = libc::itimerspec { it_interval: timespec(0), it_value: timespec(start + TIMER_DELAY) };
            // SAFETY: timer is the live timer created above; new is a live itimerspec.
            Errno::result(unsafe { libc::timer_settime(timer, libc::TIMER_ABSTIME, &new, std::ptr::null_mut()) })
                .at(&step("timer_settime(TIMER_ABSTIME)"))?;
            let mut current = libc::itimerspec { it_interval: timespec(0), it_value: timespec(0) };
            // SAFETY: current is a live itimerspec to fill.
            Errno::result(unsafe { libc::timer_gettime(timer, &mut current) }).at(&step("timer_gettime"))?;
            let read_at = read_clock(clock.id, false).at(&step("clock_gettime"))?;
            // SAFETY: deletes the timer created above, used no more.
            unsafe { libc::timer_delete(timer) };
            Ok(vec![start, nanos(&current.it_value), read_at])
        },
        |clock, start, r: &[i64]| {
            let (left, read_at) = (r[0], r[1]);
            expect_time_left(&format!("timer_gettime's it_value on {} right after arming", clock.name), start, read_at, left)
        },
    )
}

fn sysinfo_uptime_offset() -> Outcome {
    let before = read_clock(libc::CLOCK_BOOTTIME, false).at("clock_gettime(CLOCK_BOOTTIME)")?;
    let mut child = spawn(Spawn::fork(), |to_parent| {
        // SAFETY: an all-zero sysinfo is a valid value for sysinfo(2) to fill.
        let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
        // SAFETY: info is a live struct sysinfo.
        Errno::result(unsafe { libc::sysinfo(&mut info) }).at("sysinfo")?;
        to_parent.send("its sysinfo uptime", &(info.uptime as i64))
    })?;
    let uptime = child.recv::<i64>("its sysinfo uptime")?;
    let after = read_clock(libc::CLOCK_BOOTTIME, false).at("clock_gettime(CLOCK_BOOTTIME)")?;
    // The kernel rounds the seconds up.
    let (low, high) = (before / NSEC_PER_SEC + BOOTTIME_OFFSET, (after + NSEC_PER_SEC - 1) / NSEC_PER_SEC + BOOTTIME_OFFSET);
    expect_that(
        "sysinfo's uptime read in the namespace",
        (low..=high).contains(&uptime),
        format!("between {low} and {high} s (CLOCK_BOOTTIME outside, plus the {BOOTTIME_OFFSET} s offset)"),
        format!("{uptime} s"),
    )?;
    child.join()
}

/// The offsets of the second namespace the setns check joins (the first has the usual ones).
const SECOND_MONOTONIC_OFFSET: i64 = 3 * 86_400;
const SECOND_BOOTTIME_OFFSET: i64 = 5 * 86_400;

fn setns_switches_clocks() -> Outcome {
    let clocks = [TIMER_CLOCKS[0].0, TIMER_CLOCKS[1].0];
    let before = read_all(&clocks)?;
    let mut child = spawn(Spawn::fork(), move |to_parent| {
        // Two namespaces of this process's making, each with its offsets, joined in turn.
        let mut joined = Vec::new();
        for (monotonic, boottime) in [(MONOTONIC_OFFSET, BOOTTIME_OFFSET), (SECOND_MONOTONIC_OFFSET, SECOND_BOOTTIME_OFFSET)] {
            enter_for_children()?;
            set_offsets(monotonic, boottime)?;
            joined.push(std::fs::File::open("/proc/self/ns/time_for_children").at("opening /proc/self/ns/time_for_children")?);
        }
        let mut readings = Vec::new();
        for (i, ns) in joined.iter().enumerate() {
            nix::sched::setns(ns, nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
                .at(&format!("setns into the namespace {} created", ["first", "second"][i]))?;
            readings.push(read_all(&clocks)?);
        }
        to_parent.send("its clocks after each setns", &readings)
    })?;
    let readings = child.recv::<Vec<Vec<[i64; 2]>>>("its clocks after each setns")?;
    let after = read_all(&clocks)?;
    let offsets = [[MONOTONIC_OFFSET, BOOTTIME_OFFSET], [SECOND_MONOTONIC_OFFSET, SECOND_BOOTTIME_OFFSET]];
    for (n, inside) in readings.iter().enumerate() {
        for (i, clock) in clocks.iter().enumerate() {
            for (k, how) in ["clock_gettime (vDSO)", "the clock_gettime system call"].iter().enumerate() {
                expect_shifted(
                    &format!("{} read through {how} after setns into the {} namespace", clock.name, ["first", "second"][n]),
                    before[i][0],
                    after[i][1],
                    offsets[n][i],
                    inside[i][k],
                )?;
            }
        }
    }
    child.join()
}

fn offsets_frozen_after_first_entry() -> Outcome {
    spawn(Spawn::fork(), |_| {
        enter_for_children()?;
        set_offsets(MONOTONIC_OFFSET, BOOTTIME_OFFSET)?;
        set_offsets(MONOTONIC_OFFSET + 1, BOOTTIME_OFFSET + 1)?;
        spawn(Spawn::fork(), |_| Ok(()))?.join()?;
        expect_errno("writing timens_offsets after a child entered the namespace", Errno::EACCES, write_file(OFFSETS, &offsets_text(1, 1)))
    })?
    .join()
}

fn offsets_bad_clock_or_nsec_einval() -> Outcome {
    spawn(Spawn::fork(), |_| {
        enter_for_children()?;
        let bad = [
            ("CLOCK_REALTIME (0)", "0 1 0"),
            ("CLOCK_PROCESS_CPUTIME_ID (2)", "2 1 0"),
            ("CLOCK_MONOTONIC_RAW (4)", "4 1 0"),
            ("CLOCK_BOOTTIME_ALARM (9)", "9 1 0"),
            ("nsec = 1000000000", "1 0 1000000000"),
            ("a missing nsec field", "1 1"),
        ];
        for (what, text) in bad {
            expect_errno(&format!("writing {what} ({text:?}) to timens_offsets"), Errno::EINVAL, write_file(OFFSETS, text))?;
        }
        set_offsets(1, 1)
    })?
    .join()
}

fn offsets_out_of_range_erange() -> Outcome {
    spawn(Spawn::fork(), |_| {
        enter_for_children()?;
        // KTIME_SEC_MAX is 9223372036 s; the shifted clock must stay within [0, KTIME_SEC_MAX / 2].
        let bad = [
            ("CLOCK_MONOTONIC shifted below zero", "1 -9000000000 0"),
            ("CLOCK_BOOTTIME shifted past KTIME_SEC_MAX / 2", "7 9000000000 0"),
            ("an offset beyond KTIME_SEC_MAX", "1 9300000000 0"),
        ];
        for (what, text) in bad {
            expect_errno(&format!("writing {what} ({text:?}) to timens_offsets"), Errno::ERANGE, write_file(OFFSETS, text))?;
        }
        set_offsets(1, 1)
    })?
    .join()
}

fn offsets_need_cap_sys_time_in_owner() -> Outcome {
    spawn(Spawn::fork(), |_| {
        enter_for_children()?;
        // Every capability in a new user namespace, none in the one owning the time namespace.
        become_root().at("becoming root of a new user namespace")?;
        expect_errno(
            "writing timens_offsets from a user namespace that does not own the time namespace",
            Errno::EPERM,
            write_file(OFFSETS, &offsets_text(MONOTONIC_OFFSET, BOOTTIME_OFFSET)),
        )
    })?
    .join()
}

/// The program the checks execute: this binary again, printing its clocks
/// (`print_clocks`) instead of running checks.
const SELF: &CStr = c"/proc/self/exe";
/// The exec helper that prints the clocks (see `print_clocks`).
pub const HELPER: &str = "clocks";

/// The exec helper: /proc/uptime, then CLOCK_BOOTTIME read through libc (the vDSO) in the
/// same seconds.hundredths form.
pub fn print_clocks() {
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    let boottime = read_clock(libc::CLOCK_BOOTTIME, false).unwrap_or(0);
    println!("{}\n{}.{:02}", uptime.trim(), boottime / NSEC_PER_SEC, boottime % NSEC_PER_SEC / (NSEC_PER_SEC / 100));
}

/// Both readings of an executed `print_clocks` must be shifted by the boottime offset.
fn expect_program_shifted(what: &str, low: i64, high: i64, printed: &str) -> Outcome {
    let mut lines = printed.lines();
    let uptime = uptime_centis(lines.next().unwrap_or_default())?;
    let vdso = uptime_centis(lines.next().unwrap_or_default())?;
    expect_uptime_shifted(&format!("/proc/uptime read by {what}"), low, high, BOOTTIME_OFFSET, uptime)?;
    expect_uptime_shifted(&format!("CLOCK_BOOTTIME through the vDSO of {what}"), low, high, BOOTTIME_OFFSET, vdso)
}

/// fork and execve of this binary as the clock printer (a pre_exec hook keeps Rust from using
/// posix_spawn, whose CLONE_VM older kernels refuse here: see time.vfork-after-unshare).
fn fork_exec_output() -> Result<String, Stop> {
    use std::os::unix::process::CommandExt;
    let mut command = crate::exec_helper(SELF.to_str().unwrap_or_default(), HELPER);
    // SAFETY: the hook does nothing; it only forces fork + execve.
    unsafe { command.pre_exec(|| Ok(())) };
    let out = command.output().at("fork and execve of this binary as a clock printer")?;
    expect_that("the clock printer's exit status", out.status.success(), "success", out.status)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn offsets_survive_execve() -> Outcome {
    in_new_namespace(|| {
        let before = read_clock(libc::CLOCK_BOOTTIME, false).at("clock_gettime(CLOCK_BOOTTIME)")?;
        let printed = fork_exec_output()?;
        let after = read_clock(libc::CLOCK_BOOTTIME, false).at("clock_gettime(CLOCK_BOOTTIME)")?;
        expect_program_shifted("a program executed in the namespace", before, after, &printed)
    })
}

/// posix_spawn(3) of `argv` with environment `env` and its standard output read back; the
/// error is posix_spawn's.
fn posix_spawn_output(argv: &[&CStr], env: &[&CStr]) -> Result<Result<String, Errno>, Stop> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 returns, which we then own.
    Errno::result(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }).at("pipe2")?;
    // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut args: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr() as *mut libc::c_char).collect();
    args.push(std::ptr::null_mut());
    let mut env: Vec<*mut libc::c_char> = env.iter().map(|e| e.as_ptr() as *mut libc::c_char).collect();
    env.push(std::ptr::null_mut());
    let mut pid: libc::pid_t = 0;
    // SAFETY: the file actions are initialised before use and destroyed after; argv and envp
    // are null-terminated arrays of C strings that outlive the call.
    // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
    let ret = unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut actions);
        libc::posix_spawn_file_actions_adddup2(&mut actions, write_end.as_raw_fd(), 1);
        let ret = libc::posix_spawn(&mut pid, argv[0].as_ptr(), &actions, std::ptr::null(), args.as_ptr(), env.as_ptr());
        libc::posix_spawn_file_actions_destroy(&mut actions);
        ret
    };
    drop(write_end);
    if ret != 0 {
        return Ok(Err(Errno::from_raw(ret)));
    }
    let mut out = String::new();
    std::fs::File::from(read_end).read_to_string(&mut out).at("reading the spawned program's output")?;
    let status = waitpid(Pid::from_raw(pid), None).at("waitpid on the spawned program")?;
    expect_eq("the spawned program's wait status", WaitStatus::Exited(Pid::from_raw(pid), 0), status)?;
    Ok(Ok(out))
}

/// Fails with `errno` from a CLONE_VM child after unshare(CLONE_NEWTIME) only where the kernel
/// still refused those (before 6.2).
fn refused_before_vm_sharing(step: &str, errno: Errno) -> Outcome {
    let release = &facts().release;
    if errno == Errno::EINVAL && facts().version < VM_SHARING_ALLOWED {
        return Ok(());
    }
    let expected = if facts().version < VM_SHARING_ALLOWED { "success or EINVAL" } else { "success (Linux 6.2+)" };
    match nsconform_harness::check::environment_errno(errno) {
        Some(why) => Err(Stop::broken(step, expected, format!("{errno} ({why})"))),
        None => Err(Stop::fail(step, expected, format!("{errno} on {release}"))),
    }
}

fn vfork_after_unshare() -> Outcome {
    spawn(Spawn::fork(), |_| {
        enter_for_children()?;
        set_offsets(0, BOOTTIME_OFFSET)?;
        let before = read_clock(libc::CLOCK_BOOTTIME, false).at("clock_gettime(CLOCK_BOOTTIME)")?;
        let env = std::ffi::CString::new(format!("{}={HELPER}", crate::EXEC_HELPER_VAR)).setup("the helper's environment")?;
        let spawned = posix_spawn_output(&[SELF], &[&env])?;
        let after = read_clock(libc::CLOCK_BOOTTIME, false).at("clock_gettime(CLOCK_BOOTTIME)")?;
        match spawned {
            Err(errno) => refused_before_vm_sharing("posix_spawn after unshare(CLONE_NEWTIME)", errno),
            Ok(printed) => expect_program_shifted("the posix_spawn'd program (in the new namespace after execve)", before, after, &printed),
        }
    })?
    .join()
}

fn thread_after_unshare() -> Outcome {
    spawn(Spawn::fork(), |_| {
        let own = own_ns("time")?;
        enter_for_children()?;
        let created =
            std::thread::Builder::new().spawn(|| nsconform_harness::kind::ns_inode("thread-self", "time").map_err(|e| e.to_string()));
        match created {
            Err(e) => {
                refused_before_vm_sharing("pthread_create after unshare(CLONE_NEWTIME)", Errno::from_raw(e.raw_os_error().unwrap_or(0)))
            }
            Ok(thread) => {
                let ino = thread.join().map_err(|_| Stop::fail("joining the thread", "its answer", "it panicked"))?;
                let ino = ino.map_err(|e| Stop::fail("reading /proc/thread-self/ns/time in the thread", "an inode", e))?;
                expect_eq("the thread's time namespace vs the caller's", own, ino)
            }
        }
    })?
    .join()
}

/// clone3(CLONE_NEWTIME) with fork semantics: Ok(0) in the child, Ok(pid) in the parent.
fn clone3_newtime() -> Result<libc::pid_t, Errno> {
    crate::sys::raw_clone3(libc::CLONE_NEWTIME as u64)
}

fn clone3_creates_namespace() -> Outcome {
    spawn(Spawn::fork(), |_| {
        let parents = own_ns("time")?;
        let pid = match clone3_newtime() {
            Ok(0) => {
                let moved = own_ns("time").is_ok_and(|ns| ns != parents);
                // SAFETY: leaves the child at once.
                unsafe { libc::_exit(if moved { 0 } else { 1 }) }
            }
            Ok(pid) => Pid::from_raw(pid),
            Err(Errno::EINVAL) if facts().version < (6, 3, 0) => {
                return Err(Stop::skip(format!(
                    "clone3 refuses CLONE_NEWTIME with EINVAL on {}: it lacks commit a402f1e35313 \"fork: allow CLONE_NEWTIME in clone3 flags\" (6.3, backported to some stable releases), without which the flag counts as a CSIGNAL bit",
                    facts().release
                )))
            }
            Err(errno) => return Err(creation_error(&[Kind::Time], errno, "clone3")),
        };
        let status = waitpid(pid, None).at("waitpid on the clone3 child")?;
        expect_eq("the clone3 child's verdict (0: its time namespace differs from its parent's)", WaitStatus::Exited(pid, 0), status)
    })?
    .join()
}

fn refused_when_configured_out() -> Outcome {
    spawn(Spawn::fork(), |_| {
        expect_errno(
            "unshare(CLONE_NEWTIME)",
            Errno::EINVAL,
            nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
        )?;
        match clone3_newtime() {
            // SAFETY: leaves the forked child at once, running no destructor or atexit handler a second time.
            Ok(0) => unsafe { libc::_exit(0) },
            Ok(pid) => {
                let _ = waitpid(Pid::from_raw(pid), None);
                return Err(Stop::fail("clone3(CLONE_NEWTIME)", "EINVAL", format!("a child ({pid})")));
            }
            // Kernels without clone3 (before 5.3) cannot be asked.
            Err(Errno::ENOSYS) => (),
            Err(errno) => expect_eq("clone3(CLONE_NEWTIME)", Errno::EINVAL, errno)?,
        }
        crate::disabled::expect_no_ns_entry("time")?;
        crate::disabled::expect_no_ns_entry("time_for_children")
    })?
    .join()
}
