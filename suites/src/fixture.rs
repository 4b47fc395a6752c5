//! Shared set-ups of the checks that the harness does not provide.

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::unistd::geteuid;
use nsconform_harness::{expect_eq, spawn, At, Outcome, Probe, Spawn, Stop};

/// A capability set of /proc/self/status (CapPrm, CapEff, CapBnd...).
fn cap_set(name: &str) -> Result<u64, Stop> {
    nsconform_harness::host::cap_set(name).at(&format!("reading {name} of /proc/self/status"))
}

/// The uid and gid a privileged run drops to: nobody.
pub const NOBODY: u32 = 65534;

/// Whether `id` lies in an extent of a uid_map or gid_map text ("inside outside count" lines).
fn id_mapped(map: &str, id: u32) -> bool {
    map.lines().any(|l| {
        let f: Vec<u64> = l.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        f.len() == 3 && f[0] <= id as u64 && (id as u64) < f[0] + f[2]
    })
}

/// A creator without capabilities is at hand: the run holds none, or may drop them by
/// becoming nobody (CAP_SETUID and CAP_SETGID, and uid and gid 65534 mapped).
pub const CREATOR_WITHOUT_CAPABILITIES: Probe = Probe {
    what: "a creator without capabilities",
    run: || {
        let eff = nsconform_harness::host::cap_set("CapEff")?;
        if eff == 0 {
            return Ok(());
        }
        let setid = (1 << CAP_SETUID) | (1 << CAP_SETGID);
        if eff & setid != setid {
            return Err(format!("the run holds capabilities (CapEff {eff:#x}) but not CAP_SETUID and CAP_SETGID to drop them"));
        }
        let uid_map = std::fs::read_to_string("/proc/self/uid_map").map_err(|e| format!("/proc/self/uid_map: {e}"))?;
        let gid_map = std::fs::read_to_string("/proc/self/gid_map").map_err(|e| format!("/proc/self/gid_map: {e}"))?;
        if !id_mapped(&uid_map, NOBODY) || !id_mapped(&gid_map, NOBODY) {
            return Err(format!("uid or gid {NOBODY} is not mapped in the run's user namespace, so the run cannot drop to it"));
        }
        Ok(())
    },
};

/// include/uapi/linux/capability.h
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

/// Runs `body` in a forked process that holds no capability. A privileged run's process
/// becomes nobody (no supplementary groups; the uid change from 0 clears every capability set,
/// capabilities(7)) and dumpable again, as the uid change made it undumpable and an
/// undumpable process's /proc files belong to root. An unprivileged run's is one already.
/// A system that forbids unprivileged user namespaces makes the check SKIP.
pub fn without_capabilities(body: impl FnOnce() -> Outcome) -> Outcome {
    spawn(Spawn::fork(), |_| {
        if cap_set("CapEff")? != 0 {
            let nobody_gid = nix::unistd::Gid::from_raw(NOBODY);
            let nobody_uid = nix::unistd::Uid::from_raw(NOBODY);
            nix::unistd::setgroups(&[]).at("dropping the supplementary groups")?;
            nix::unistd::setresgid(nobody_gid, nobody_gid, nobody_gid).at("setresgid to nobody")?;
            nix::unistd::setresuid(nobody_uid, nobody_uid, nobody_uid).at("setresuid to nobody")?;
            // SAFETY: prctl with integer arguments.
            Errno::result(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) }).at("PR_SET_DUMPABLE")?;
        }
        for set in ["CapEff", "CapPrm", "CapAmb"] {
            expect_eq(&format!("{set} of the creator (uid {})", geteuid()), "0x0".to_string(), format!("{:#x}", cap_set(set)?))?;
        }
        if let Some(why) = userns_refusal() {
            return Err(Stop::skip(format!("uid {} may not create user namespaces here: {why}", geteuid())));
        }
        body()
    })?
    .join()
}

/// Why the system refuses the caller a user namespace (a policy or a limit, not a kernel
/// fault), tried in a throwaway child; `None` when unshare(CLONE_NEWUSER) does not refuse.
fn userns_refusal() -> Option<String> {
    // SAFETY: check processes are single-threaded; the child only calls unshare and _exit.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let code = match unshare(CloneFlags::CLONE_NEWUSER) {
                Ok(()) => 0,
                Err(errno) => errno as i32,
            };
            // SAFETY: leaves the forked child at once, running no destructor or atexit handler a second time.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => match nix::sys::wait::waitpid(child, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => match Errno::from_raw(code) {
                errno @ (Errno::EPERM | Errno::EACCES) => Some(format!(
                    "unshare(CLONE_NEWUSER) gave {errno} (kernel.unprivileged_userns_clone, an LSM such as AppArmor's userns restriction, or a seccomp filter)"
                )),
                errno @ (Errno::ENOSPC | Errno::EUSERS) => Some(format!("unshare(CLONE_NEWUSER) gave {errno}: the user.max_user_namespaces limit is reached")),
                _ => None,
            },
            _ => None,
        },
        Err(_) => None,
    }
}
