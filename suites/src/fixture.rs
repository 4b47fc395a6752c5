//! Shared set-ups of the checks that the harness does not provide.

use crate::sys::{own_ns, try_clone, try_clone3};
use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::unistd::geteuid;
use nsconform_harness::process::creation_error;
use nsconform_harness::{expect_eq, expect_errno, expect_ne, spawn, At, Kind, Outcome, Probe, Spawn, Stop};

/// A capability set of /proc/self/status (CapPrm, CapEff, CapBnd...).
pub(crate) fn cap_set(name: &str) -> Result<u64, Stop> {
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

/// The check that creating a namespace of `$kind` (built in by `$config`, if the kind has an
/// option) needs CAP_SYS_ADMIN in the creator's user namespace. Its needs keep the run out of
/// a user namespace of the harness's, so that the creator can be one without capabilities.
macro_rules! create_without_cap_sys_admin_eperm {
    ($id:literal, $kind:expr) => {
        nsconform_harness::Check::new(
            $id,
            "Without CAP_SYS_ADMIN in its user namespace a process gets EPERM from unshare and clone with the kind's flag; with CLONE_NEWUSER added, which makes it root of the new namespace's owner, both succeed",
            "unshare(2), clone(2) ERRORS (EPERM); ns_capable(user_ns, CAP_SYS_ADMIN) in unshare_nsproxy_namespaces() and copy_namespaces(), kernel/nsproxy.c",
            &[
                nsconform_harness::Need::KindInOwnUserns($kind),
                nsconform_harness::Need::Kind(nsconform_harness::Kind::User),
                nsconform_harness::Need::Probe(crate::fixture::CREATOR_WITHOUT_CAPABILITIES),
            ],
            || crate::fixture::create_without_cap_sys_admin($kind),
        )
    };
}
pub(crate) use create_without_cap_sys_admin_eperm;

/// A process without capabilities gets EPERM from unshare(2) and clone(2) (clone3(2) for
/// time, whose flag clone cannot carry) with `kind`'s flag. The control: the same process
/// succeeds with CLONE_NEWUSER in the same call, as the new user namespace (created first)
/// owns the new namespace and its root holds CAP_SYS_ADMIN there.
pub fn create_without_cap_sys_admin(kind: Kind) -> Outcome {
    without_capabilities(|| {
        let uid = geteuid();
        let (flag, name) = (kind.flag(), kind.flag_name());
        let with_user = flag | libc::CLONE_NEWUSER;
        // PID and time namespaces made by unshare are for the caller's children.
        let entry = match kind {
            Kind::Pid => "pid_for_children",
            Kind::Time => "time_for_children",
            _ => kind.name(),
        };
        let call = if kind == Kind::Time { "clone3" } else { "clone" };
        let try_call = |flags: libc::c_int| if kind == Kind::Time { try_clone3(flags as u64) } else { try_clone(flags) };
        let before = own_ns(entry)?;
        spawn(Spawn::fork(), |_| {
            unshare(CloneFlags::from_bits_retain(with_user)).map_err(|e| creation_error(&[Kind::User, kind], e, "unshare"))?;
            let step = format!("after unshare(CLONE_NEWUSER | {name}) by uid {uid}");
            if kind == Kind::Pid {
                // pid_for_children reads ENOENT until the new namespace has its init.
                return spawn(Spawn::fork(), |_| {
                    expect_ne(&format!("/proc/self/ns/pid of the first child {step}"), before, own_ns("pid")?)
                })?
                .join();
            }
            expect_ne(&format!("/proc/self/ns/{entry} {step}"), before, own_ns(entry)?)
        })?
        .join()?;
        let clone_works = match try_call(with_user) {
            // Before a402f1e35313 ("fork: allow CLONE_NEWTIME in clone3 flags", 6.3 and some
            // stable releases) clone3 refuses the flag whatever the privilege: nothing to compare.
            Err(Errno::EINVAL) if kind == Kind::Time && nsconform_harness::host::facts().version < (6, 3, 0) => false,
            Err(e) => return Err(creation_error(&[Kind::User, kind], e, call)),
            Ok(()) => true,
        };
        expect_errno(
            &format!("unshare({name}) by uid {uid} without CAP_SYS_ADMIN"),
            Errno::EPERM,
            unshare(CloneFlags::from_bits_retain(flag)),
        )?;
        if clone_works {
            expect_errno(&format!("{call}({name}) by uid {uid} without CAP_SYS_ADMIN"), Errno::EPERM, try_call(flag))?;
        }
        expect_eq(&format!("/proc/self/ns/{entry} after the refused calls"), before, own_ns(entry)?)
    })
}

/// unshare(CLONE_NEWTIME), judged like every namespace creation; fails unless
/// /proc/self/ns/time_for_children then names a new namespace.
pub(crate) fn enter_for_children() -> Outcome {
    let own = own_ns("time")?;
    nsconform_harness::unshare(&[Kind::Time])?;
    let pending = own_ns("time_for_children")?;
    nsconform_harness::expect_that(
        "/proc/self/ns/time_for_children after unshare(CLONE_NEWTIME)",
        pending != own,
        format!("a new namespace, not the caller's ({own})"),
        format!("the caller's own ({pending}): CLONE_NEWTIME was ignored"),
    )
}

/// `userns::map_id` as a check step: its errno judged as any other.
pub(crate) fn map_id(pid: &str, inside: u32, uid: u32, gid: u32) -> Outcome {
    nsconform_harness::userns::map_id(pid, inside, uid, gid)
        .map_err(|e| e.errno)
        .at(&format!("mapping {inside} of {pid}'s user namespace to {uid}:{gid}"))
}

/// The ids root of a child user namespace maps to: 100000 where the run may map any id (it
/// holds CAP_SETUID and CAP_SETGID in the initial user namespace), else the caller's own.
pub(crate) fn root_target() -> (u32, u32) {
    let privileged = nsconform_harness::host::is_initial(Kind::User) && geteuid().is_root();
    if privileged {
        (100_000, 100_000)
    } else {
        (geteuid().as_raw(), nix::unistd::getegid().as_raw())
    }
}
