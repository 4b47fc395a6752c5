//! PID namespaces: PID 1 and its signal immunity, visibility, NSpid, the death of init,
//! reparenting, unshare semantics and nesting limits (pid_namespaces(7)).

use crate::disabled::refused_when_configured_out;
use crate::pidfd::fdinfo_pids;
use crate::sys::{
    captive, idle, nspid, outer_pid, own_ns, pidfd_exited_within, pidfd_open, pidfd_probe, poll_until, raw_clone3_set_tid, read_sysctl,
    write_sysctl,
};
use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::{geteuid, getpid, getppid, Pid};
use nsconform_harness::{
    expect_eq, expect_errno, expect_that, spawn, unshare as enter, At, Check, Kind, Need, Outcome, Parent, Spawn, Stop,
};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;

pub const CHECKS: &[Check] = &[
    Check::new(
        "pid.first-child-is-pid-1",
        "The first process of a new PID namespace is PID 1 there and sees its parent as PID 0",
        "pid_namespaces(7); alloc_pid() in kernel/pid.c; getppid() returns 0 for a parent outside (task_tgid_nr_ns)",
        &[Need::Kind(Kind::Pid)],
        first_child_is_pid_1,
    ),
    Check::new(
        "pid.nspid-from-parent-and-child",
        "NSpid lists a process's ids from the reader's /proc level down to its own namespace",
        "proc(5) /proc/pid/status NSpid; proc_pid_status() in fs/proc/array.c",
        &[Need::Kind(Kind::Pid), Need::Kind(Kind::Mnt)],
        nspid_from_parent_and_child,
    ),
    Check::new(
        "pid.ancestor-sees-descendants",
        "A process sees (can signal) processes of descendant PID namespaces; from inside, an outside pid gives ESRCH",
        "pid_namespaces(7); find_task_by_vpid() searches only the caller's namespace, kernel/pid.c",
        &[Need::Kind(Kind::Pid)],
        ancestor_sees_descendants,
    ),
    Check::new(
        "pid.init-ignores-sigkill-from-inside",
        "PID 1 survives SIGKILL sent from inside its namespace, and kill() returns 0",
        "pid_namespaces(7); sig_task_ignored() drops it for SIGNAL_UNKILLABLE init, kernel/signal.c",
        &[Need::Kind(Kind::Pid)],
        || init_ignores_from_inside(Signal::SIGKILL),
    ),
    Check::new(
        "pid.init-ignores-sigstop-from-inside",
        "PID 1 is not stopped by SIGSTOP sent from inside its namespace, and kill() returns 0",
        "pid_namespaces(7); sig_task_ignored() drops it for SIGNAL_UNKILLABLE init, kernel/signal.c",
        &[Need::Kind(Kind::Pid)],
        || init_ignores_from_inside(Signal::SIGSTOP),
    ),
    Check::new(
        "pid.init-ignores-sigterm-from-inside",
        "PID 1 without a handler survives SIGTERM sent from inside its namespace",
        "pid_namespaces(7); sig_task_ignored() drops default-action signals for init, kernel/signal.c",
        &[Need::Kind(Kind::Pid)],
        || init_ignores_from_inside(Signal::SIGTERM),
    ),
    Check::new(
        "pid.init-ignores-sigterm-from-ancestor",
        "PID 1 without a handler survives SIGTERM sent from an ancestor namespace",
        "pid_namespaces(7); sig_task_ignored() forces only SIGKILL and SIGSTOP from ancestors, kernel/signal.c",
        &[Need::Kind(Kind::Pid)],
        init_ignores_sigterm_from_ancestor,
    ),
    Check::new(
        "pid.init-killed-by-sigkill-from-ancestor",
        "SIGKILL sent from an ancestor namespace kills PID 1",
        "pid_namespaces(7); prepare_signal()/sig_task_ignored() force SIGKILL from ancestors, kernel/signal.c",
        &[Need::Kind(Kind::Pid)],
        init_killed_by_sigkill_from_ancestor,
    ),
    Check::new(
        "pid.init-stopped-by-sigstop-from-ancestor",
        "SIGSTOP sent from an ancestor namespace stops PID 1",
        "pid_namespaces(7); sig_task_ignored() forces SIGSTOP from ancestors, kernel/signal.c",
        &[Need::Kind(Kind::Pid)],
        init_stopped_by_sigstop_from_ancestor,
    ),
    Check::new(
        "pid.init-death-kills-namespace",
        "When PID 1 dies every other process of its namespace, nested namespaces included, is killed by SIGKILL (none can leave by itself) and init is reaped only after them",
        "pid_namespaces(7); zap_pid_ns_processes() in kernel/pid_namespace.c (SIGKILL to every task, then waits until only init's pid is allocated), called from find_child_reaper() in kernel/exit.c",
        &[Need::Kind(Kind::Pid)],
        init_death_kills_namespace,
    ),
    Check::new(
        "pid.signal-sender-pid-as-seen-by-receiver",
        "A signal's si_pid is the sender's pid in the receiver's PID namespace: 0 from a sender in an ancestor namespace, which the receiver cannot see; the sender's inner pid from inside",
        "signal(7), sigaction(2) si_pid; send_signal_locked() in kernel/signal.c sets si_pid = 0 when task_pid_nr_ns(current, task_active_pid_ns(t)) is 0",
        &[Need::Kind(Kind::Pid)],
        signal_sender_pid_as_seen_by_receiver,
    ),
    Check::new(
        "pid.clone3-set-tid-per-level",
        "clone3 with set_tid gives the child the chosen pid in each PID namespace level, innermost first (1 for a new namespace's init); a chosen pid in use gives EEXIST",
        "clone3(2) set_tid (Linux 5.5); alloc_pid() in kernel/pid.c takes set_tid[ns->level - i] for level i, EEXIST when idr_alloc finds it taken",
        &[Need::Kind(Kind::Pid), Need::Kernel(5, 5)],
        clone3_set_tid_per_level,
    ),
    Check::new(
        "pid.ns-last-pid-per-namespace",
        "/proc/sys/kernel/ns_last_pid reads and sets the last pid of the reader's own PID namespace: 2 after a new namespace's init forked once; after writing 499 the next child is 500",
        "pid_namespaces(7) /proc/sys/kernel/ns_last_pid (Linux 3.3); pid_ns_ctl_handler() in kernel/pid_namespace.c works on task_active_pid_ns(current); the sysctl exists only with CONFIG_CHECKPOINT_RESTORE",
        &[Need::Kind(Kind::Pid), Need::Config("CONFIG_CHECKPOINT_RESTORE")],
        ns_last_pid_per_namespace,
    ),
    Check::new(
        "pid.fork-into-dead-namespace-enomem",
        "After PID 1 died, fork() into its namespace (through setns) fails with ENOMEM",
        "pid_namespaces(7); alloc_pid() fails without PIDNS_ADDING, kernel/pid.c; disable_pid_allocation()",
        &[Need::Kind(Kind::Pid)],
        fork_into_dead_namespace_enomem,
    ),
    Check::new(
        "pid.orphans-reparent-to-init",
        "An orphan in a PID namespace is reparented to the namespace's PID 1",
        "pid_namespaces(7); find_new_reaper() in kernel/exit.c",
        &[Need::Kind(Kind::Pid)],
        || orphan_reparenting(false),
    ),
    Check::new(
        "pid.orphans-reparent-to-subreaper",
        "An orphan is reparented to the closest PR_SET_CHILD_SUBREAPER ancestor inside its PID namespace",
        "prctl(2) PR_SET_CHILD_SUBREAPER; find_new_reaper() in kernel/exit.c",
        &[Need::Kind(Kind::Pid)],
        || orphan_reparenting(true),
    ),
    Check::new(
        "pid.unshare-moves-only-children",
        "unshare(CLONE_NEWPID) leaves the caller in its PID namespace; its next child is PID 1 of the new one",
        "unshare(2); pid_namespaces(7); nsproxy->pid_ns_for_children in kernel/nsproxy.c",
        &[Need::Kind(Kind::Pid)],
        unshare_moves_only_children,
    ),
    Check::new(
        "pid.second-unshare-einval",
        "A second unshare(CLONE_NEWPID) before the first child gives EINVAL",
        "unshare(2); copy_pid_ns() rejects pid_ns_for_children != active namespace, kernel/pid_namespace.c",
        &[Need::Kind(Kind::Pid)],
        second_unshare_einval,
    ),
    Check::new(
        "pid.thread-after-unshare-einval",
        "After unshare(CLONE_NEWPID), pthread_create (CLONE_THREAD) fails with EINVAL",
        "clone(2) EINVAL; copy_process() rejects CLONE_SIGHAND when pid_ns_for_children differs, kernel/fork.c",
        &[Need::Kind(Kind::Pid)],
        thread_after_unshare_einval,
    ),
    Check::new(
        "pid.nesting-32-levels",
        "32 nested PID namespaces can be created below the initial one; the 33rd gives ENOSPC",
        "pid_namespaces(7); MAX_PID_NS_LEVEL in include/linux/pid_namespace.h; create_pid_namespace()",
        &[Need::Kind(Kind::Pid), Need::InitialNamespace(Kind::Pid)],
        nesting_32_levels,
    ),
    Check::new(
        "pid.max-pid-namespaces-enospc",
        "user.max_pid_namespaces (lowered inside a child user namespace) caps creation with ENOSPC",
        "namespaces(7) /proc/sys/user; inc_pid_namespaces() and inc_ucount() in kernel/ucount.c",
        &[Need::Kind(Kind::Pid), Need::Kind(Kind::User)],
        max_pid_namespaces_enospc,
    ),
    Check::new(
        "pid.procfs-shows-only-namespace-pids",
        "A procfs mounted inside a new PID namespace lists only that namespace's processes, by their pids there, and /proc/self resolves to the reader's pid there",
        "pid_namespaces(7) /proc and PID namespaces; proc_pid_readdir() and proc_pid_lookup() in fs/proc/base.c use the mount's PID namespace, proc_self_get_link() in fs/proc/self.c",
        &[Need::Kind(Kind::Pid), Need::Kind(Kind::Mnt)],
        procfs_shows_only_namespace_pids,
    ),
    Check::new(
        "pid.procfs-options-per-mount",
        "Two procfs mounts of one PID namespace keep their own options (Linux 5.8): subset=pid hides /proc/meminfo in one only, hidepid shows in its mount's options only",
        "proc(5) mount options; proc_get_tree() in fs/proc/root.c gives every mount its own superblock (get_tree_nodev) since 5.8; proc_show_options() in fs/proc/inode.c",
        &[Need::Kernel(5, 8), Need::Kind(Kind::Pid), Need::Kind(Kind::Mnt)],
        procfs_options_per_mount,
    ),
    Check::new(
        "pid.pidfd-fdinfo-in-readers-namespace",
        "The Pid and NSpid lines of a pidfd's fdinfo number the process in the PID namespace of the procfs they are read through: from the parent its pid there, and NSpid down to its own namespace (\"1234 1\"); 1 inside; a single 0 in a sibling namespace where it is not visible; a zombie keeps its pid, a reaped process reads -1",
        "proc(5) /proc/pid/fdinfo (pidfd); pidfd_show_fdinfo() in kernel/fork.c (fs/pidfs.c from 6.9): pid_nr_ns() in proc_pid_ns() of the procfs, -1 once !pid_has_task()",
        &[Need::Kind(Kind::Pid), Need::Kind(Kind::Mnt)],
        pidfd_fdinfo_in_readers_namespace,
    ),
    Check::new(
        "pid.pidfd-get-info-in-callers-namespace",
        "PIDFD_GET_INFO gives pid, tgid and ppid as the caller's PID namespace numbers them: the outer pid and the caller as parent from the parent namespace, 1 and 0 for init from inside, and ESRCH (EREMOTE from 7.0) from a sibling namespace where the process is not visible",
        "include/uapi/linux/pidfd.h PIDFD_GET_INFO (Linux 6.13, probed); pidfd_info() in fs/pidfs.c: task_pid_vnr(), task_tgid_vnr(), task_ppid_nr_ns(task, NULL); ESRCH, or EREMOTE since ab89060fbc92, when !pid_in_current_pidns()",
        &[Need::Kind(Kind::Pid), Need::Probe(crate::pidfd::GET_INFO_PROBE)],
        pidfd_get_info_in_callers_namespace,
    ),
    Check::new(
        "pid.procfs-mount-refused-when-not-fully-visible",
        "Mounting procfs in a new user, mount and PID namespace gives EPERM when the procfs visible in the creator's mount namespace has a directory (/proc/sys) covered by another mount, which the new namespace inherits locked; with nothing covered the same mount succeeds",
        "mount_namespaces(7), user_namespaces(7); mount_too_revealing() and mnt_already_visible() in fs/namespace.c: a locked child mount over a non-empty directory makes a procfs not fully visible (SB_I_USERNS_VISIBLE)",
        &[Need::Kind(Kind::Mnt), Need::Kind(Kind::User), Need::KindInOwnUserns(Kind::Pid)],
        procfs_mount_refused_when_not_fully_visible,
    ),
    Check::new(
        "pid.procfs-mount-needs-admin-over-pidns-owner",
        "Root of a new user and mount namespace gets EPERM mounting procfs while its PID namespace is owned by the parent user namespace; after creating a PID namespace of its own, the mount succeeds",
        "pid_namespaces(7); proc_init_fs_context() in fs/proc/root.c sets fc->user_ns to the PID namespace's owner, and mount_capable() in fs/super.c checks CAP_SYS_ADMIN there",
        &[Need::Kind(Kind::User), Need::KindInOwnUserns(Kind::Mnt), Need::KindInOwnUserns(Kind::Pid)],
        procfs_mount_needs_admin_over_pidns_owner,
    ),
    Check::new(
        "pid.procfs-mount-uses-active-namespace",
        "procfs mounted after unshare(CLONE_NEWPID) but before any fork shows the caller's own (active) PID namespace, not the one for its children: /proc/self is the caller's unchanged pid and its first child (pid 1 in the new namespace) is listed by its pid in the caller's",
        "pid_namespaces(7); proc_init_fs_context() in fs/proc/root.c takes task_active_pid_ns(current), not nsproxy->pid_ns_for_children",
        &[Need::Kind(Kind::Pid), Need::Kind(Kind::Mnt)],
        procfs_mount_uses_active_namespace,
    ),
    Check::new(
        "pid.procfs-thread-self-names-inner-tid",
        "In a procfs of a new PID namespace, /proc/thread-self of a second thread of init reads \"1/task/TID\" with the thread's id there (gettid()); /proc/self and /proc/thread-self of that procfs give ENOENT to a reader outside the namespace",
        "proc(5) /proc/thread-self (Linux 3.17); proc_thread_self_get_link() in fs/proc/thread_self.c and proc_self_get_link() in fs/proc/self.c number the reader in the procfs's PID namespace, ENOENT when it is not there",
        &[Need::Kind(Kind::Pid), Need::Kind(Kind::Mnt)],
        procfs_thread_self_names_inner_tid,
    ),
    Check::new(
        "pid.procfs-hidepid-hides-unptraceable",
        "In a new PID namespace, for a reader without CAP_SYS_PTRACE (nor the gid= group) and an undumpable process: a procfs with hidepid=2 neither lists nor finds it (ENOENT), one with hidepid=1 lists it but refuses its files (EPERM), one without hidepid shows it",
        "proc(5) hidepid (per mount since Linux 5.8); has_pid_permissions() and proc_pid_permission() in fs/proc/base.c: ptrace_may_access(PTRACE_MODE_READ_FSCREDS), proc_pid_readdir() skips what HIDEPID_INVISIBLE hides",
        &[Need::Kernel(5, 8), Need::Kind(Kind::Pid), Need::Kind(Kind::Mnt)],
        procfs_hidepid_hides_unptraceable,
    ),
    Check::new(
        "pid.joiner-sees-outside-parent-as-0",
        "A process forked into a PID namespace by a parent that joined it with setns has getppid() 0 and, through the namespace's procfs, Pid and Tgid of its pid there and PPid 0; through its parent's procfs it has its outer pid and the parent's",
        "pid_namespaces(7), setns(2); getppid() uses task_tgid_vnr(); task_state() in fs/proc/array.c: PPid is task_tgid_nr_ns(real_parent, the procfs's namespace), 0 where the parent is not visible",
        &[Need::Kind(Kind::Pid), Need::Kind(Kind::Mnt)],
        joiner_sees_outside_parent_as_0,
    ),
    Check::new(
        "pid.kill-minus-one-stays-in-namespace",
        "kill(-1, 0) from inside a PID namespace reaches only the namespace's other processes: ESRCH for init alone and for a process alone with init, success once init has another child",
        "kill(2) (pid -1: every process the caller may signal but init); kill_something_info() in kernel/signal.c skips tasks whose task_pid_vnr() is 0 (outside) or 1",
        &[Need::Kind(Kind::Pid)],
        kill_minus_one_stays_in_namespace,
    ),
    Check::new(
        "pid.pid-max-per-namespace",
        "kernel.pid_max is per PID namespace (Linux 6.14): root of the namespace's owning user namespace (mapped to a uid other than the global root) owns it and may write it; the value holds inside while the parent namespace's is unchanged, and clone3 set_tid refuses a pid at or above it with EINVAL while one below is accepted",
        "pid_namespaces(7); commit 7863dcc72d0f (\"pid: allow pid_max to be set per pid namespace\", 6.14): register_pidns_sysctls(), pid_table_root_permissions() and pid_table_root_set_ownership() in kernel/pid.c; alloc_pid() refuses tid >= pid_max of each level",
        &[Need::Kernel(6, 14), Need::Kind(Kind::User), Need::KindInOwnUserns(Kind::Pid)],
        pid_max_per_namespace,
    ),
    crate::fixture::create_without_cap_sys_admin_eperm!("pid.create-without-cap-sys-admin-eperm", Kind::Pid),
    refused_when_configured_out!("pid.flag-refused-when-configured-out", Kind::Pid),
];

const ANSWER_WITHIN: Duration = Duration::from_secs(2);

fn first_child_is_pid_1() -> Outcome {
    spawn(Spawn::clone(&[Kind::Pid]), |_| {
        expect_eq("getpid() of the first process", 1, getpid().as_raw())?;
        expect_eq("getppid() of the first process", 0, getppid().as_raw())
    })?
    .join()
}

fn nspid_from_parent_and_child() -> Outcome {
    let mut child = spawn(Spawn::clone(&[Kind::Pid, Kind::Mnt]), |to_parent| {
        use nix::mount::{mount, MsFlags};
        mount(Some("proc"), "/proc", Some("proc"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC, None::<&str>)
            .at("mounting a proc of the new PID namespace on /proc")?;
        expect_eq("NSpid of itself, read through its own proc", vec![1], nspid("self")?)?;
        to_parent.sync("the child's own reading")
    })?;
    child.sync("the child's own reading")?;
    let pid = child.pid().as_raw();
    expect_eq("NSpid of the child read by its parent", vec![pid, 1], nspid(&pid.to_string())?)?;
    child.join()
}

fn ancestor_sees_descendants() -> Outcome {
    let me = getpid().as_raw();
    let child = spawn(Spawn::clone(&[Kind::Pid]), |to_parent| {
        let outside = to_parent.recv::<i32>("the parent's pid")?;
        expect_that("the parent's pid differs from every pid inside", outside > 1, "a pid > 1", outside)?;
        expect_errno("kill(parent's pid, 0) from inside", Errno::ESRCH, kill(Pid::from_raw(outside), None))
    })?;
    child.send("the parent's pid", &me)?;
    kill(child.pid(), None).at("kill(child's pid, 0) from the parent's namespace")?;
    child.join()
}

/// PID 1 has a helper in its namespace send `signal` to it, then proves it still runs.
fn init_ignores_from_inside(signal: Signal) -> Outcome {
    let mut init = spawn(Spawn::clone(&[Kind::Pid]), move |to_parent| {
        let helper = spawn(Spawn::fork(), move |_| kill(Pid::from_raw(1), signal).at(&format!("kill(1, {signal}) from inside")))?;
        helper.join()?;
        to_parent.send("init's answer after the signal", &getpid().as_raw())
    })?;
    let answer = init.recv_within::<i32>(&format!("init's answer after {signal} from inside"), ANSWER_WITHIN)?;
    expect_eq("init's pid in its answer", 1, answer)?;
    init.join()
}

/// Answers pings until the parent closes the conversation.
fn answer_pings(to_parent: &Parent) -> Outcome {
    while to_parent.recv::<bool>("a ping")? {
        to_parent.send("a pong", &())?;
    }
    Ok(())
}

fn init_ignores_sigterm_from_ancestor() -> Outcome {
    let mut init = spawn(Spawn::clone(&[Kind::Pid]), answer_pings)?;
    init.send("a ping", &true)?;
    init.recv::<()>("a pong before the signal")?;
    kill(init.pid(), Signal::SIGTERM).at("kill(init, SIGTERM) from the parent's namespace")?;
    init.send("a ping", &true)?;
    init.recv_within::<()>("a pong after SIGTERM from an ancestor", ANSWER_WITHIN)?;
    init.send("the end", &false)?;
    init.join()
}

fn ns_last_pid_per_namespace() -> Outcome {
    const NS_LAST_PID: &str = "/proc/sys/kernel/ns_last_pid";
    let fork_once = || -> Result<i32, Stop> {
        let child = spawn(Spawn::fork(), |_| Ok(()))?;
        let pid = child.pid().as_raw();
        child.join().map(|_| pid)
    };
    spawn(Spawn::clone(&[Kind::Pid]), move |_| {
        let first = fork_once()?;
        expect_eq("init's first child in the new namespace", 2, first)?;
        expect_eq("ns_last_pid read in the new namespace", first.to_string(), read_sysctl(NS_LAST_PID)?)?;
        write_sysctl(NS_LAST_PID, "499").at("writing 499 to ns_last_pid in the new namespace")?;
        expect_eq("the pid of the next child after ns_last_pid = 499", 500, fork_once()?)
    })?
    .join()
}

/// init of a new namespace P creates a child in a newer namespace Q with pid 1 there and
/// CHOSEN in P; the child reports its NSpid and waits; CHOSEN is then taken in P.
fn clone3_set_tid_per_level() -> Outcome {
    const CHOSEN: libc::pid_t = 300;
    spawn(Spawn::clone(&[Kind::Pid]), |_| {
        let (report_r, report_w) = nix::unistd::pipe().setup("a pipe from the child")?;
        let (hold_r, hold_w) = nix::unistd::pipe().setup("a pipe that holds the child")?;
        let child =
            raw_clone3_set_tid(libc::CLONE_NEWPID as u64, &[1, CHOSEN]).at(&format!("clone3(CLONE_NEWPID, set_tid [1, {CHOSEN}])"))?;
        if child == 0 {
            drop((report_r, hold_w));
            let line: String = nspid("self").map(|levels| levels.iter().map(|l| format!("{l} ")).collect()).unwrap_or_default();
            let _ = std::fs::File::from(report_w).write_all(line.as_bytes());
            let _ = std::fs::File::from(hold_r).read(&mut [0u8]);
            // SAFETY: leaves the child at once, running no destructor or atexit handler a second time.
            unsafe { libc::_exit(0) }
        }
        drop((report_w, hold_r));
        let mut levels = String::new();
        std::fs::File::from(report_r).read_to_string(&mut levels).setup("reading the child's NSpid")?;
        let taken = raw_clone3_set_tid(0, &[CHOSEN]).map(|pid| {
            if pid == 0 {
                // SAFETY: a child that should not exist leaves at once.
                unsafe { libc::_exit(0) }
            }
        });
        drop(hold_w);
        let _ = nix::sys::wait::waitpid(Pid::from_raw(child), None);
        let levels: Vec<&str> = levels.split_whitespace().collect();
        let inner_two = levels[levels.len().saturating_sub(2)..].join(" ");
        expect_eq("the child's pids in P and Q (the last two of its NSpid)", format!("{CHOSEN} 1"), inner_two)?;
        expect_errno(&format!("clone3 with set_tid [{CHOSEN}] while {CHOSEN} is in use"), Errno::EEXIST, taken)
    })?
    .join()
}

/// init blocks SIGUSR1 (a blocked signal is queued even for init, which ignores unhandled ones)
/// and reads the si_pid of one from its parent's namespace, then of one from its own child.
fn signal_sender_pid_as_seen_by_receiver() -> Outcome {
    let mut init = spawn(Spawn::clone(&[Kind::Pid]), |to_parent| {
        let mut usr1 = nix::sys::signal::SigSet::empty();
        usr1.add(Signal::SIGUSR1);
        usr1.thread_block().at("blocking SIGUSR1")?;
        to_parent.sync("SIGUSR1 blocked")?;
        let from_outside = sigusr1_sender("a SIGUSR1 from the parent's namespace")?;
        let child = spawn(Spawn::fork(), |_| kill(Pid::from_raw(1), Signal::SIGUSR1).at("kill(1, SIGUSR1) from inside"))?;
        let child_pid = child.pid().as_raw();
        let from_inside = sigusr1_sender("a SIGUSR1 from init's child")?;
        child.join()?;
        expect_eq("si_pid of SIGUSR1 from the parent's namespace", 0, from_outside)?;
        expect_eq("si_pid of SIGUSR1 from init's child (its pid in the namespace)", child_pid, from_inside)
    })?;
    init.sync("SIGUSR1 blocked")?;
    kill(init.pid(), Signal::SIGUSR1).at("kill(init, SIGUSR1) from the parent's namespace")?;
    init.join()
}

/// Waits up to two seconds for a blocked SIGUSR1 and returns its si_pid.
fn sigusr1_sender(what: &str) -> Result<i32, Stop> {
    let info = crate::sys::wait_sigusr1(what)?;
    // SAFETY: a signal sent by kill(2) (SI_USER) carries si_pid.
    Ok(unsafe { info.si_pid() })
}

fn init_killed_by_sigkill_from_ancestor() -> Outcome {
    let mut init = spawn(Spawn::clone(&[Kind::Pid]), answer_pings)?;
    init.send("a ping", &true)?;
    init.recv::<()>("a pong before the signal")?;
    let pidfd = pidfd_open(init.pid().as_raw()).at("pidfd_open(init)")?;
    kill(init.pid(), Signal::SIGKILL).at("kill(init, SIGKILL) from the parent's namespace")?;
    // init waits for pings on a channel its parent keeps open: only a signal can end it.
    let dead = pidfd_exited_within(&pidfd, DEATH_WITHIN).at("poll on init's pidfd")?;
    expect_that(
        "init after SIGKILL from its parent's namespace",
        dead,
        format!("dead within {DEATH_WITHIN:?}"),
        format!("still alive after {DEATH_WITHIN:?}: the SIGKILL was dropped"),
    )?;
    let status = init.wait_status()?;
    expect_eq("init's wait status", WaitStatus::Signaled(init.pid(), Signal::SIGKILL, false), status)
}

fn init_stopped_by_sigstop_from_ancestor() -> Outcome {
    let mut init = spawn(Spawn::clone(&[Kind::Pid]), answer_pings)?;
    init.send("a ping", &true)?;
    init.recv::<()>("a pong before the signal")?;
    kill(init.pid(), Signal::SIGSTOP).at("kill(init, SIGSTOP) from the parent's namespace")?;
    let mut status = WaitStatus::StillAlive;
    poll_until(DEATH_WITHIN, || {
        status = init.waitpid(Some(WaitPidFlag::WUNTRACED | WaitPidFlag::WNOHANG)).unwrap_or(WaitStatus::StillAlive);
        status != WaitStatus::StillAlive
    });
    expect_eq("init's wait status", WaitStatus::Stopped(init.pid(), Signal::SIGSTOP), status)?;
    kill(init.pid(), Signal::SIGCONT).at("kill(init, SIGCONT)")?;
    init.send("the end", &false)?;
    init.join()
}

/// Reports its pid as the check sees it, then waits to be killed, unable to leave by itself.
fn victim(to_parent: &Parent) -> Outcome {
    to_parent.send("its pid", &outer_pid()?)?;
    captive()
}

/// How long the processes of a dead init's namespace may take to die.
const DEATH_WITHIN: Duration = Duration::from_secs(2);

fn init_death_kills_namespace() -> Outcome {
    // init starts a sibling and a nested namespace with a process of its own, and reports
    // all their pids as this process sees them (the first NSpid entry). None of them can
    // leave by itself: each ignores every catchable signal and closed its descriptors.
    let mut init = spawn(Spawn::clone(&[Kind::Pid]), |to_parent| {
        let mut sibling = spawn(Spawn::fork(), victim)?;
        let mut nested = spawn(Spawn::clone(&[Kind::Pid]), |to_init| {
            let mut inner = spawn(Spawn::fork(), victim)?;
            let inner_pid = inner.recv::<i32>("the nested process's pid")?;
            to_init.send("pids", &[outer_pid()?, inner_pid])?;
            captive()
        })?;
        let mut pids = vec![sibling.recv::<i32>("the sibling's pid")?];
        pids.extend(nested.recv::<[i32; 2]>("the nested pids")?);
        to_parent.send("the pids of init's namespace", &pids)?;
        to_parent.recv::<()>("the order to exit")
    })?;
    let pids = init.recv::<Vec<i32>>("the pids of init's namespace")?;
    // A process of init's namespace whose parent, the watcher, is outside it (setns, then
    // fork): its wait status shows how it died, and init may not be reaped before it is.
    let ns = std::fs::File::open(format!("/proc/{}/ns/pid", init.pid())).at("opening init's /proc/PID/ns/pid")?;
    let mut watcher = spawn(Spawn::fork(), move |to_parent| {
        nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWPID).at("setns into init's PID namespace")?;
        let mut outsider = spawn(Spawn::fork(), victim)?;
        outsider.recv::<i32>("the outsider's pid")?;
        to_parent.send("the outsider's pid", &outsider.pid().as_raw())?;
        to_parent.recv::<()>("the news that init was told to exit")?;
        let (code, status) = crate::sys::peek_exit(outsider.pid().as_raw()).at("waitid(WEXITED | WNOWAIT) on the outsider")?;
        expect_eq("how the outsider ended (si_code, si_status of waitid)", (libc::CLD_KILLED, libc::SIGKILL), (code, status))?;
        to_parent.sync("the outsider's death")?;
        to_parent.recv::<()>("the order to reap the outsider")?;
        outsider.wait_status().map(drop)
    })?;
    let outsider = watcher.recv::<i32>("the outsider's pid")?;
    let named: Vec<(&str, i32)> = ["init's sibling", "nested init", "the nested namespace's process", "the watcher's child"]
        .into_iter()
        .zip(pids.into_iter().chain([outsider]))
        .collect();
    let pidfds: Vec<_> = named.iter().map(|(_, p)| pidfd_open(*p).at(&format!("pidfd_open({p})"))).collect::<Result<_, _>>()?;
    init.send("the order to exit", &())?;
    watcher.send("the news that init was told to exit", &())?;
    for ((who, pid), fd) in named.iter().zip(&pidfds) {
        let dead = pidfd_exited_within(fd, DEATH_WITHIN).at(&format!("poll on the pidfd of {who}"))?;
        expect_that(
            &format!("{who} (pid {pid}) after init was told to exit"),
            dead,
            format!("dead within {DEATH_WITHIN:?} (it cannot leave by itself)"),
            format!("still alive after {DEATH_WITHIN:?}: zap_pid_ns_processes() did not kill it"),
        )?;
    }
    watcher.sync("the outsider's death")?;
    // The outsider is a zombie its parent has not reaped: init, whose children are dead, must
    // go to sleep in its exit waiting for it (zap_pid_ns_processes()) rather than end.
    let asleep_in_exit = |(state, flags): (char, u64)| matches!(state, 'S' | 'D' | 'I') && flags & PF_EXITING != 0;
    let mut seen = None;
    poll_until(DEATH_WITHIN, || {
        seen = state_and_flags(init.pid());
        seen.is_none_or(|s| s.0 == 'Z' || asleep_in_exit(s))
    });
    let early = init.waitpid(Some(WaitPidFlag::WNOHANG))?;
    if early == WaitStatus::StillAlive {
        let (state, flags) =
            seen.ok_or_else(|| Stop::broken(format!("reading /proc/{}/stat", init.pid()), "init's state and flags", "unreadable"))?;
        expect_that(
            "init's /proc/PID/stat while a killed process of its namespace awaits its outside parent",
            asleep_in_exit((state, flags)),
            "asleep (S, D or I) with PF_EXITING in its flags",
            format!("state {state}, flags {flags:#x} after {DEATH_WITHIN:?}"),
        )?;
    }
    expect_eq("init's state while a killed process of its namespace awaits its outside parent", WaitStatus::StillAlive, early)?;
    watcher.send("the order to reap the outsider", &())?;
    watcher.join()?;
    init.join()?;
    for ((who, pid), fd) in named.iter().zip(&pidfds) {
        expect_errno(&format!("pidfd_send_signal(0) to {who} (pid {pid}) once init was reaped"), Errno::ESRCH, pidfd_probe(fd))?;
    }
    Ok(())
}

/// PF_EXITING of task->flags (include/linux/sched.h): set once do_exit() began.
const PF_EXITING: u64 = 0x4;

/// The state letter and the flags (fields 3 and 9) of /proc/PID/stat.
fn state_and_flags(pid: Pid) -> Option<(char, u64)> {
    let fields = nsconform_harness::process::proc_stat(pid.as_raw())?;
    Some((fields.first()?.chars().next()?, fields.get(6)?.parse().ok()?))
}

fn fork_into_dead_namespace_enomem() -> Outcome {
    let init = spawn(Spawn::clone(&[Kind::Pid]), |_| Ok(()))?;
    let ns = std::fs::File::open(format!("/proc/{}/ns/pid", init.pid())).at("opening init's /proc/PID/ns/pid")?;
    init.join()?;
    spawn(Spawn::fork(), |_| {
        nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWPID).at("setns into the dead PID namespace")?;
        // SAFETY: single-threaded; a child that should not exist leaves at once.
        let forked = unsafe { nix::unistd::fork() };
        if let Ok(nix::unistd::ForkResult::Child) = forked {
            // SAFETY: leaves the forked child at once, running no destructor or atexit handler a second time.
            unsafe { libc::_exit(0) }
        }
        expect_errno("fork() into the dead PID namespace", Errno::ENOMEM, forked.map(|_| ()))
    })?
    .join()
}

/// A grandchild is orphaned inside a PID namespace and reports its new parent.
fn orphan_reparenting(with_subreaper: bool) -> Outcome {
    spawn(Spawn::clone(&[Kind::Pid]), move |_| {
        let reaper = spawn(Spawn::fork(), |_| {
            let expected = if with_subreaper {
                // SAFETY: prctl with integer arguments.
                Errno::result(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).at("PR_SET_CHILD_SUBREAPER")?;
                getpid().as_raw()
            } else {
                1
            };
            let (here, there) = nsconform_harness::channel::Channel::pair().at("socketpair")?;
            let middle = spawn(Spawn::fork(), |_| {
                // The orphan: forked, then left behind when the middle process exits.
                spawn(Spawn::fork(), |_| {
                    let adopted = poll_until(ANSWER_WITHIN, || getppid().as_raw() == expected);
                    there.send(&(adopted, getppid().as_raw())).at("reporting the new parent")
                })
                .map(drop)
            })?;
            middle.join()?;
            let (_, ppid) = here.recv::<(bool, i32)>(Some(ANSWER_WITHIN * 2)).at("waiting for the orphan's report")?;
            let who = if with_subreaper { "the subreaper's pid" } else { "1 (init)" };
            expect_eq(&format!("the orphan's parent, expected {who}"), expected, ppid)
        })?;
        reaper.join()
    })?
    .join()
}

fn unshare_moves_only_children() -> Outcome {
    spawn(Spawn::fork(), |_| {
        let (pid, ns) = (getpid(), own_ns("pid")?);
        enter(&[Kind::Pid])?;
        expect_eq("getpid() after unshare", pid, getpid())?;
        expect_eq("/proc/self/ns/pid after unshare", ns, own_ns("pid")?)?;
        let mut child = spawn(Spawn::fork(), |to_parent| to_parent.send("its pid and namespace", &(getpid().as_raw(), own_ns("pid")?)))?;
        let (child_pid, child_ns) = child.recv::<(i32, u64)>("its pid and namespace")?;
        expect_eq("the first child's getpid()", 1, child_pid)?;
        expect_eq("the caller's pid_for_children vs the child's namespace", child_ns, own_ns("pid_for_children")?)?;
        expect_that("the child's namespace differs from the caller's", child_ns != ns, "a new namespace", "the caller's")?;
        child.join()
    })?
    .join()
}

fn second_unshare_einval() -> Outcome {
    spawn(Spawn::fork(), |_| {
        enter(&[Kind::Pid])?;
        expect_errno("the second unshare(CLONE_NEWPID)", Errno::EINVAL, unshare(CloneFlags::CLONE_NEWPID))
    })?
    .join()
}

fn thread_after_unshare_einval() -> Outcome {
    spawn(Spawn::fork(), |_| {
        enter(&[Kind::Pid])?;
        let created = std::thread::Builder::new().spawn(|| ()).map(drop);
        let errno = created.map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)));
        expect_errno("pthread_create after unshare(CLONE_NEWPID)", Errno::EINVAL, errno)
    })?
    .join()
}

/// Descends one PID namespace level per process; the deepest asserts the limit.
fn descend(level: usize) -> Outcome {
    const MAX_LEVEL: usize = 32;
    if level == MAX_LEVEL {
        expect_eq("NSpid entries at the deepest level", MAX_LEVEL + 1, nspid("self")?.len())?;
        return expect_errno(&format!("unshare(CLONE_NEWPID) at level {MAX_LEVEL}"), Errno::ENOSPC, unshare(CloneFlags::CLONE_NEWPID));
    }
    nsconform_harness::step(&format!("creating PID namespace level {}", level + 1));
    enter(&[Kind::Pid]).map_err(|stop| stop.within(&format!("level {level}")))?;
    spawn(Spawn::fork(), move |_| descend(level + 1))?.join()
}

fn nesting_32_levels() -> Outcome {
    spawn(Spawn::fork(), |_| descend(0))?.join()
}

fn max_pid_namespaces_enospc() -> Outcome {
    spawn(Spawn::clone(&[Kind::User]).map_root(), |_| {
        // This user namespace's own limit table: the host's value is untouched.
        write_sysctl("/proc/sys/user/max_pid_namespaces", "1").at("lowering max_pid_namespaces to 1 in the child user namespace")?;
        enter(&[Kind::Pid])?;
        spawn(Spawn::fork(), |_| {
            expect_errno("a second PID namespace over max_pid_namespaces=1", Errno::ENOSPC, unshare(CloneFlags::CLONE_NEWPID))
        })?
        .join()
    })?
    .join()
}

/// Mounts a procfs of the caller's PID namespace on `point` with `options`; a SKIP where the
/// run's own /proc is not fully visible and the mount is refused for it.
fn mount_proc(point: &str, options: Option<&str>) -> Outcome {
    use nix::mount::{mount, MsFlags};
    let step = format!("mounting a proc of the new PID namespace on {point} with options {options:?}");
    let answer = mount(Some("proc"), point, Some("proc"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC, options);
    if answer == Err(Errno::EPERM) {
        return expect_procfs_mount_allowed(&step, answer);
    }
    answer.at(&step)
}

/// The pids a procfs lists: its numeric entries.
fn listed_pids(proc: &str) -> Result<std::collections::BTreeSet<i32>, Stop> {
    let entries = std::fs::read_dir(proc).at(&format!("listing {proc}"))?;
    Ok(entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
}

fn procfs_shows_only_namespace_pids() -> Outcome {
    let outside = getpid().as_raw();
    spawn(Spawn::clone(&[Kind::Pid, Kind::Mnt]), move |_| {
        mount_proc("/proc", None)?;
        let mut second = spawn(Spawn::fork(), |to_parent| {
            let link = std::fs::read_link("/proc/self").at("readlink /proc/self")?;
            to_parent.send("its /proc/self", &link.to_string_lossy())?;
            idle(to_parent)
        })?;
        let second_pid = second.pid().as_raw();
        expect_eq("/proc/self of the second process", second_pid.to_string(), second.recv::<String>("its /proc/self")?)?;
        let link = std::fs::read_link("/proc/self").at("readlink /proc/self")?;
        expect_eq("/proc/self of PID 1", "1", &*link.to_string_lossy())?;
        expect_eq("the pids /proc lists", std::collections::BTreeSet::from([1, second_pid]), listed_pids("/proc")?)?;
        if outside != 1 && outside != second_pid {
            let found = std::path::Path::new(&format!("/proc/{outside}")).exists();
            expect_that(
                &format!("/proc/{outside}, the pid of the namespace's parent process outside"),
                !found,
                "no such entry",
                "it exists",
            )?;
        }
        second.send("the order to exit", &())?;
        second.join()
    })?
    .join()
}

/// The super options (the last field) of the mountinfo line of `point`.
fn super_options(point: &str) -> Result<Vec<String>, Stop> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").at("reading /proc/self/mountinfo")?;
    let line = mountinfo
        .lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some(point))
        .ok_or_else(|| Stop::fail(format!("finding {point} in /proc/self/mountinfo"), "a mount", "none"))?;
    let options = line.rsplit_once(" - ").and_then(|(_, tail)| tail.split_whitespace().nth(2)).unwrap_or_default();
    Ok(options.split(',').map(str::to_string).collect())
}

fn procfs_options_per_mount() -> Outcome {
    spawn(Spawn::clone(&[Kind::Pid, Kind::Mnt]), |_| {
        use nix::mount::{mount, MsFlags};
        mount(Some("nsconform"), "/tmp", Some("tmpfs"), MsFlags::empty(), Some("size=64k")).at("mounting a tmpfs on /tmp")?;
        for dir in ["/tmp/subset", "/tmp/full"] {
            std::fs::create_dir(dir).at(&format!("creating {dir}"))?;
        }
        mount_proc("/tmp/subset", Some("subset=pid,hidepid=invisible"))?;
        mount_proc("/tmp/full", None)?;
        let exists = |path: &str| std::path::Path::new(path).exists();
        expect_that("/tmp/subset/1 (a pid entry under subset=pid)", exists("/tmp/subset/1"), "exists", "missing")?;
        expect_that("/tmp/subset/meminfo under subset=pid", !exists("/tmp/subset/meminfo"), "no such entry", "it exists")?;
        expect_that(
            "/tmp/full/meminfo on the mount without options",
            exists("/tmp/full/meminfo"),
            "exists",
            "missing: the other mount's subset=pid applies",
        )?;
        let (subset, full) = (super_options("/tmp/subset")?, super_options("/tmp/full")?);
        for option in ["subset=pid", "hidepid=invisible"] {
            expect_that(&format!("{option} in the options of /tmp/subset"), subset.iter().any(|o| o == option), option, subset.join(","))?;
            expect_that(
                &format!("{option} in the options of /tmp/full"),
                !full.iter().any(|o| o == option),
                format!("no {option}"),
                full.join(","),
            )?;
        }
        Ok(())
    })?
    .join()
}

/// A process that mounts a procfs of its new PID namespace (in a new mount namespace) and runs `body`.
fn with_own_procfs(body: impl FnOnce(&Parent) -> Outcome) -> Result<nsconform_harness::Child, Stop> {
    spawn(Spawn::clone(&[Kind::Pid, Kind::Mnt]), |to_parent| {
        mount_proc("/proc", None)?;
        body(to_parent)
    })
}

fn pidfd_fdinfo_in_readers_namespace() -> Outcome {
    // The target reads the fdinfo of its own pidfd through the procfs of its namespace.
    let mut target = with_own_procfs(|to_parent| {
        let own = pidfd_open(getpid().as_raw()).at("pidfd_open of itself")?;
        to_parent.send("its own pidfd's Pid and NSpid", &fdinfo_pids(&own)?)?;
        idle(to_parent)
    })?;
    let inside = target.recv::<(i32, Vec<i32>)>("its own pidfd's Pid and NSpid")?;
    expect_eq("(Pid, NSpid) of a pidfd of PID 1, read inside its namespace", (1, vec![1]), inside)?;
    let pid = target.pid().as_raw();
    let pidfd = pidfd_open(pid).at("pidfd_open of the child")?;
    expect_eq("(Pid, NSpid) of a pidfd of the child, read by its parent", (pid, vec![pid, 1]), fdinfo_pids(&pidfd)?)?;
    // The sibling inherits the pidfd; the target is not visible from its PID namespace.
    with_own_procfs(|_| {
        expect_eq(
            "(Pid, NSpid) of the same pidfd read in a sibling PID namespace, where the child is not visible",
            (0, vec![0]),
            fdinfo_pids(&pidfd)?,
        )
    })?
    .join()?;
    target.send("the order to exit", &())?;
    crate::sys::peek_exit(pid).at("waitid(WEXITED | WNOWAIT) on the child")?;
    expect_eq("(Pid, NSpid) of the pidfd of the child, a zombie not yet reaped", (pid, vec![pid, 1]), fdinfo_pids(&pidfd)?)?;
    target.join()?;
    expect_eq("(Pid, NSpid) of the pidfd of the child once reaped", (-1, vec![-1]), fdinfo_pids(&pidfd)?)
}

fn pidfd_get_info_in_callers_namespace() -> Outcome {
    use crate::pidfd::get_info;
    let me = getpid().as_raw() as u32;
    let mut init = spawn(Spawn::clone(&[Kind::Pid]), |to_parent| {
        let own = pidfd_open(1).at("pidfd_open(1) inside")?;
        expect_eq("PIDFD_GET_INFO (pid, tgid, ppid) of init, from inside its namespace", Ok((1, 1, 0)), get_info(&own))?;
        let second = spawn(Spawn::fork(), idle)?;
        let pid = second.pid().as_raw() as u32;
        let pidfd = pidfd_open(second.pid().as_raw()).at("pidfd_open of init's child")?;
        expect_eq("PIDFD_GET_INFO (pid, tgid, ppid) of init's child, from inside", Ok((pid, pid, 1)), get_info(&pidfd))?;
        second.send("the order to exit", &())?;
        second.join()?;
        to_parent.sync("its readings")?;
        idle(to_parent)
    })?;
    init.sync("its readings")?;
    let outer = init.pid().as_raw() as u32;
    let pidfd = pidfd_open(init.pid().as_raw()).at("pidfd_open of the child")?;
    expect_eq("PIDFD_GET_INFO (pid, tgid, ppid) of the child, from its parent's namespace", Ok((outer, outer, me)), get_info(&pidfd))?;
    // ESRCH until ab89060fbc92 ("pidfs: return -EREMOTE when PIDFD_GET_INFO is called on
    // another ns", 7.0, in stable 6.18 and 6.19) told it apart from a reaped process.
    spawn(Spawn::clone(&[Kind::Pid]), |_| {
        let answer = get_info(&pidfd);
        expect_that(
            "PIDFD_GET_INFO on the inherited pidfd of the child, from a sibling PID namespace where it is not visible",
            matches!(answer, Err(Errno::ESRCH | Errno::EREMOTE)),
            "ESRCH (EREMOTE from 7.0 and stable 6.18)",
            format!("{answer:?}"),
        )
    })?
    .join()?;
    init.send("the order to exit", &())?;
    init.join()
}

/// Runs a child in a new user (root mapped), mount and PID namespace that mounts its procfs
/// on /proc, and returns the mount's answer.
fn procfs_mount_in_new_namespaces() -> Result<Result<(), Errno>, Stop> {
    use nix::mount::{mount, MsFlags};
    let mut child = spawn(Spawn::clone(&[Kind::User, Kind::Mnt, Kind::Pid]).map_root(), |to_parent| {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let answer = mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>).map_err(|e| e as i32);
        to_parent.send("the answer of the mount", &answer)
    })?;
    let answer = child.recv::<Result<(), i32>>("the answer of the mount")?;
    child.join()?;
    Ok(answer.map_err(Errno::from_raw))
}

/// Mounts on /proc's subdirectories in the caller's mount namespace (a container runtime
/// masking parts of /proc), which keep a procfs from being fully visible to a user namespace.
fn proc_covered() -> Result<Vec<String>, Stop> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").at("reading /proc/self/mountinfo")?;
    // /proc/sys/fs/binfmt_misc is a permanently empty directory: a mount there hides nothing.
    let covered = mountinfo.lines().filter_map(|l| l.split_whitespace().nth(4)).filter(|p| p.starts_with("/proc/"));
    Ok(covered.filter(|p| *p != "/proc/sys/fs/binfmt_misc").map(str::to_string).collect())
}

/// The control of a procfs mount by root of a user namespace: success, or a SKIP where the
/// run's own /proc is not fully visible (then EPERM is the rule, not a fault).
fn expect_procfs_mount_allowed(step: &str, answer: Result<(), Errno>) -> Outcome {
    let covered = proc_covered()?;
    if answer == Err(Errno::EPERM) && !covered.is_empty() {
        return Err(Stop::skip(format!(
            "the run's /proc is not fully visible (mounts on {}), so no user namespace may mount a procfs",
            covered.join(", ")
        )));
    }
    expect_eq(step, Ok(()), answer)
}

fn procfs_mount_refused_when_not_fully_visible() -> Outcome {
    expect_procfs_mount_allowed(
        "mounting the procfs of a new user, mount and PID namespace, the creator's /proc fully visible",
        procfs_mount_in_new_namespaces()?,
    )?;
    spawn(Spawn::clone(&[Kind::Mnt]), |_| {
        use nix::mount::{mount, MsFlags};
        mount(Some("nsconform"), "/proc/sys", Some("tmpfs"), MsFlags::empty(), Some("size=16k")).at("mounting a tmpfs on /proc/sys")?;
        let answer = procfs_mount_in_new_namespaces()?;
        expect_errno("the same mount once a tmpfs covers /proc/sys in the creator's mount namespace", Errno::EPERM, answer)
    })?
    .join()
}

fn procfs_mount_needs_admin_over_pidns_owner() -> Outcome {
    use nix::mount::{mount, MsFlags};
    spawn(Spawn::clone(&[Kind::User, Kind::Mnt]).map_root(), |_| {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        expect_errno(
            "mounting procfs by root of a new user namespace whose PID namespace the parent user namespace owns",
            Errno::EPERM,
            mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>),
        )?;
        spawn(Spawn::clone(&[Kind::Pid]), |_| {
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            let answer = mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>);
            expect_procfs_mount_allowed("mounting the procfs of a PID namespace it created (so owns)", answer)
        })?
        .join()
    })?
    .join()
}

fn procfs_mount_uses_active_namespace() -> Outcome {
    // The caller's active PID namespace is one of the check's own, so that it may mount its
    // procfs whatever the run's privilege (pid.procfs-mount-needs-admin-over-pidns-owner).
    spawn(Spawn::clone(&[Kind::Pid]), |_| spawn(Spawn::unshare(&[Kind::Pid, Kind::Mnt]), unshared_caller_mounts_proc)?.join())?.join()
}

/// After unshare(CLONE_NEWPID | CLONE_NEWNS), mounts proc and reads it.
fn unshared_caller_mounts_proc(_: &Parent) -> Outcome {
    let me = getpid().as_raw();
    mount_proc("/proc", None)?;
    let link = std::fs::read_link("/proc/self").at("readlink /proc/self after unshare(CLONE_NEWPID) and the mount")?;
    expect_eq("/proc/self of the caller (its pid in its own PID namespace)", me.to_string(), link.to_string_lossy().into_owned())?;
    let mut child = spawn(Spawn::fork(), |to_parent| to_parent.send("its pid", &getpid().as_raw()))?;
    expect_eq("getpid() of the caller's first child", 1, child.recv::<i32>("its pid")?)?;
    let outer = child.pid().as_raw();
    let listed = listed_pids("/proc")?;
    expect_that(
        &format!("the first child, pid {outer} in the caller's namespace, in the procfs the caller mounted"),
        listed.contains(&outer),
        format!("/proc/{outer} listed"),
        format!("{listed:?}"),
    )?;
    child.join()
}

fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

fn procfs_thread_self_names_inner_tid() -> Outcome {
    let mut init = with_own_procfs(|to_parent| {
        let read = || std::fs::read_link("/proc/thread-self").map(|l| l.to_string_lossy().into_owned());
        expect_eq("/proc/thread-self of init's main thread", "1/task/1".to_string(), read().at("readlink /proc/thread-self")?)?;
        let (tid, link) = std::thread::spawn(move || (gettid(), read().map_err(|e| e.to_string())))
            .join()
            .map_err(|_| Stop::broken("a second thread", "it returns", "it panicked"))?;
        expect_eq("/proc/thread-self of init's second thread", Ok(format!("1/task/{tid}")), link)?;
        to_parent.sync("its readings")?;
        idle(to_parent)
    })?;
    init.sync("its readings")?;
    let procfs = format!("/proc/{}/root/proc", init.pid());
    for entry in ["self", "thread-self"] {
        let answer = std::fs::read_link(format!("{procfs}/{entry}")).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)));
        expect_errno(&format!("readlink {procfs}/{entry} by the parent, not in that procfs's namespace"), Errno::ENOENT, answer)?;
    }
    init.send("the order to exit", &())?;
    init.join()
}

/// include/uapi/linux/capability.h
const CAP_SYS_PTRACE: u32 = 19;

fn procfs_hidepid_hides_unptraceable() -> Outcome {
    spawn(Spawn::clone(&[Kind::Pid, Kind::Mnt]), |_| {
        use nix::mount::{mount, MsFlags};
        mount(Some("nsconform"), "/tmp", Some("tmpfs"), MsFlags::empty(), Some("size=64k")).at("mounting a tmpfs on /tmp")?;
        for (dir, options) in [("/tmp/shown", None), ("/tmp/noaccess", Some("hidepid=1")), ("/tmp/invisible", Some("hidepid=2"))] {
            std::fs::create_dir(dir).setup(&format!("creating {dir}"))?;
            mount_proc(dir, options)?;
        }
        let mut target = spawn(Spawn::fork(), |to_parent| {
            // SAFETY: prctl with integer arguments.
            Errno::result(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) }).at("PR_SET_DUMPABLE 0")?;
            to_parent.sync("undumpable")?;
            idle(to_parent)
        })?;
        target.sync("undumpable")?;
        let pid = target.pid().as_raw();
        spawn(Spawn::fork(), move |_| {
            // hidepid spares members of the gid= group, kgid 0 by default: leave it when in it.
            if nsconform_harness::host::is_initial(Kind::User) && geteuid().is_root() {
                let nogroup = nix::unistd::Gid::from_raw(crate::fixture::NOBODY);
                nix::unistd::setgroups(&[]).at("dropping the supplementary groups")?;
                nix::unistd::setresgid(nogroup, nogroup, nogroup).at("setresgid to 65534")?;
            } else if crate::sys::is_parents_root("gid_map", nix::unistd::getegid().as_raw())? {
                return Err(Stop::skip(
                    "the run's gid is its parent user namespace's root group, which hidepid spares, and no other gid is mapped to drop to",
                ));
            }
            crate::sys::set_effective_cap(CAP_SYS_PTRACE, false).at("clearing CAP_SYS_PTRACE from the effective set")?;
            let me = getpid().as_raw();
            let status = |dir: &str| {
                std::fs::read_to_string(format!("{dir}/{pid}/status")).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
            };
            let shown = listed_pids("/tmp/shown")?;
            expect_that(&format!("/tmp/shown lists the undumpable {pid}"), shown.contains(&pid), "listed", format!("{shown:?}"))?;
            status("/tmp/shown").at(&format!("reading /tmp/shown/{pid}/status"))?;
            let noaccess = listed_pids("/tmp/noaccess")?;
            expect_that(&format!("hidepid=1 lists {pid}"), noaccess.contains(&pid), "listed", format!("{noaccess:?}"))?;
            expect_errno(&format!("reading /tmp/noaccess/{pid}/status (hidepid=1)"), Errno::EPERM, status("/tmp/noaccess"))?;
            let invisible = listed_pids("/tmp/invisible")?;
            expect_that(&format!("hidepid=2 lists the reader itself ({me})"), invisible.contains(&me), "listed", format!("{invisible:?}"))?;
            expect_that(&format!("hidepid=2 lists {pid}"), !invisible.contains(&pid), "not listed", format!("{invisible:?}"))?;
            let found = std::fs::metadata(format!("/tmp/invisible/{pid}")).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)));
            expect_errno(&format!("stat /tmp/invisible/{pid} (hidepid=2)"), Errno::ENOENT, found)
        })?
        .join()?;
        target.send("the order to exit", &())?;
        target.join()
    })?
    .join()
}

/// The Pid, Tgid and PPid lines of a status file.
fn status_pids(path: &str) -> Result<(i32, i32, i32), Stop> {
    let text = std::fs::read_to_string(path).at(&format!("reading {path}"))?;
    let field = |name: &str| -> Result<i32, Stop> {
        let value = text.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
        value.and_then(|v| v.parse().ok()).ok_or_else(|| Stop::fail(format!("the {name} line of {path}"), "a number", format!("{value:?}")))
    };
    Ok((field("Pid:")?, field("Tgid:")?, field("PPid:")?))
}

fn joiner_sees_outside_parent_as_0() -> Outcome {
    let mut init = with_own_procfs(|to_parent| {
        to_parent.sync("its procfs")?;
        idle(to_parent)
    })?;
    init.sync("its procfs")?;
    let ns = std::fs::File::open(format!("/proc/{}/ns/pid", init.pid())).at("opening init's /proc/PID/ns/pid")?;
    // The namespace's procfs, reached through init's root (init's mount namespace).
    let procfs = format!("/proc/{}/root/proc", init.pid());
    let mut parent = spawn(Spawn::fork(), move |to_check| {
        nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWPID).at("setns into init's PID namespace")?;
        let procfs = procfs.clone();
        let mut joiner = spawn(Spawn::fork(), move |to_parent| {
            let own = (getpid().as_raw(), getppid().as_raw());
            let inner = status_pids(&format!("{procfs}/self/status"))?;
            to_parent.send("its readings", &(own, inner))?;
            idle(to_parent)
        })?;
        let ((pid, ppid), inner) = joiner.recv::<((i32, i32), (i32, i32, i32))>("its readings")?;
        expect_that("getpid() of the joiner's child in the namespace", pid > 1, "a pid > 1", pid)?;
        expect_eq("getppid() of the joiner's child (its parent is outside the namespace)", 0, ppid)?;
        expect_eq("(Pid, Tgid, PPid) of the child through the namespace's procfs", (pid, pid, 0), inner)?;
        to_check.send("the child's outer pid", &joiner.pid().as_raw())?;
        to_check.recv::<()>("the check's reading")?;
        joiner.send("the order to exit", &())?;
        joiner.join()
    })?;
    let outer = parent.recv::<i32>("the child's outer pid")?;
    let status = status_pids(&format!("/proc/{outer}/status"))?;
    expect_eq("(Pid, Tgid, PPid) of the child through the check's procfs", (outer, outer, parent.pid().as_raw()), status)?;
    parent.send("the check's reading", &())?;
    parent.join()?;
    init.send("the order to exit", &())?;
    init.join()
}

fn kill_minus_one_stays_in_namespace() -> Outcome {
    let minus_one = Pid::from_raw(-1);
    spawn(Spawn::clone(&[Kind::Pid]), move |_| {
        expect_errno("kill(-1, 0) by init alone in its namespace", Errno::ESRCH, kill(minus_one, None))?;
        spawn(Spawn::fork(), move |_| {
            expect_errno("kill(-1, 0) by the only process of the namespace besides init", Errno::ESRCH, kill(minus_one, None))
        })?
        .join()?;
        let other = spawn(Spawn::fork(), idle)?;
        let answer = kill(minus_one, None);
        other.send("the order to exit", &())?;
        other.join()?;
        answer.at("kill(-1, 0) by init with a child in its namespace")
    })?
    .join()
}

/// clone3 with set_tid `[tid]` in the caller's PID namespace; the child leaves at once.
fn clone3_with_pid(tid: libc::pid_t) -> Result<(), Errno> {
    let child = raw_clone3_set_tid(0, &[tid])?;
    if child == 0 {
        // SAFETY: leaves the child at once, running no destructor or atexit handler a second time.
        unsafe { libc::_exit(0) }
    }
    nix::sys::wait::waitpid(Pid::from_raw(child), None).map(drop)
}

fn pid_max_per_namespace() -> Outcome {
    const PID_MAX: &str = "/proc/sys/kernel/pid_max";
    // Above pid_max_min (8 per possible CPU, at least 301) on any machine of under 1250 CPUs.
    const VALUE: libc::pid_t = 10_000;
    let before = read_sysctl(PID_MAX)?;
    let (uid, gid) = crate::fixture::root_target();
    if crate::sys::is_parents_root("uid_map", uid)? {
        // Were the file global on a broken kernel, the new namespace's root could write the host's.
        return Err(Stop::skip(format!(
            "uid {uid} is the parent user namespace's root (/proc/self/uid_map): the new namespace's root must be another uid"
        )));
    }
    let mut child = spawn(Spawn::clone(&[Kind::User]), |to_parent| {
        to_parent.sync("the new user namespace")?;
        to_parent.sync("the mapping")?;
        // Root of this namespace is never the global root: a kernel with one global pid_max
        // would refuse the write below (EACCES), never apply it to the host.
        let root = (nix::unistd::Uid::from_raw(0), nix::unistd::Gid::from_raw(0));
        nix::unistd::setresgid(root.1, root.1, root.1).at("setresgid(0) in the new user namespace")?;
        nix::unistd::setresuid(root.0, root.0, root.0).at("setresuid(0) in the new user namespace")?;
        spawn(Spawn::clone(&[Kind::Pid]), |_| {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(PID_MAX).at(&format!("stat {PID_MAX}"))?;
            expect_eq(&format!("owner of {PID_MAX} in the new PID namespace, read by its owner's root"), (0, 0), (meta.uid(), meta.gid()))?;
            write_sysctl(PID_MAX, &VALUE.to_string()).at(&format!("writing {VALUE} to pid_max as root of the PID namespace's owner"))?;
            expect_eq("pid_max read back inside", VALUE.to_string(), read_sysctl(PID_MAX)?)?;
            clone3_with_pid(VALUE - 1).at(&format!("clone3 with set_tid [{}] under pid_max {VALUE}", VALUE - 1))?;
            expect_errno(&format!("clone3 with set_tid [{VALUE}] under pid_max {VALUE}"), Errno::EINVAL, clone3_with_pid(VALUE))
        })?
        .join()
    })?;
    child.sync("the new user namespace")?;
    crate::fixture::map_id(&child.pid().to_string(), 0, uid, gid)?;
    child.sync("the mapping")?;
    child.join()?;
    expect_eq("pid_max of the parent's PID namespace after the write inside", before, read_sysctl(PID_MAX)?)
}
