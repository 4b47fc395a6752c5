//! A kernel that silently ignores or refuses a namespace flag fails the checks of that kind.
//! The faults are simulated with a seccomp filter on the suite's process: SECCOMP_RET_ERRNO
//! with errno 0 makes unshare(2) return success without doing anything (ignored flag);
//! EINVAL is a refused flag (seccomp(2), SECCOMP_RET_ERRNO).
#![cfg(target_arch = "x86_64")]

mod common;

use common::{run, Sandbox};
use rstest::rstest;
use std::os::unix::process::CommandExt;
use std::process::Command;

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// unshare(2) and clone(2) with `flag` in their flags return `unshare_errno` and
/// `clone_errno` without running; everything else runs.
fn filter(flag: libc::c_int, unshare_errno: i32, clone_errno: i32) -> Vec<libc::sock_filter> {
    const LD_W_ABS: u16 = 0x20;
    const JEQ: u16 = 0x15;
    const JSET: u16 = 0x45;
    const RET: u16 = 0x06;
    vec![
        stmt(LD_W_ABS, 4),                           // 0: arch
        jump(JEQ, AUDIT_ARCH_X86_64, 0, 9),          // 1: other arch: allow
        stmt(LD_W_ABS, 0),                           // 2: syscall number
        jump(JEQ, libc::SYS_unshare as u32, 1, 0),   // 3
        jump(JEQ, libc::SYS_clone as u32, 3, 6),     // 4
        stmt(LD_W_ABS, 16),                          // 5: unshare flags
        jump(JSET, flag as u32, 0, 4),               // 6
        stmt(RET, RET_ERRNO | unshare_errno as u32), // 7
        stmt(LD_W_ABS, 16),                          // 8: clone flags
        jump(JSET, flag as u32, 0, 1),               // 9
        stmt(RET, RET_ERRNO | clone_errno as u32),   // 10
        stmt(RET, RET_ALLOW),                        // 11
    ]
}

/// Runs the checks of `kind` under the filter and returns the ids that did not FAIL, apart from
/// the checks of a configured-out kind and a SKIP of checks whose probe decides before any flag
/// is used: the physical-device check needs a spare NIC, the nsdelegate checks a cgroup2 mount
/// with nsdelegate.
fn not_failed_under(kind: &str, flag: libc::c_int, unshare_errno: i32, clone_errno: i32) -> Vec<String> {
    let sandbox = Sandbox::new();
    let program = filter(flag, unshare_errno, clone_errno);
    let mut command = Command::new(sandbox.binary());
    // SAFETY: only prctl system calls between fork and exec; `program` outlives the spawn.
    unsafe {
        let program = program.clone();
        command.pre_exec(move || {
            let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr() as *mut _ };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog as *const _) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let result = run(command, &sandbox.report(), &[&format!("{kind}.")]);
    assert_eq!(result.output.status.code(), Some(1), "the run must fail:\n{}", result.describe());
    result
        .checks()
        .iter()
        .filter(|c| c["verdict"] != "fail" && !c["id"].as_str().unwrap().ends_with("-when-configured-out"))
        .filter(|c| {
            let probed = c["id"] == "net.physical-device-returns-to-initial" || c["id"].as_str().unwrap().starts_with("cgroup.nsdelegate-");
            !(probed && c["verdict"] == "skip")
        })
        .map(|c| format!("{} ({})", c["id"], c["verdict"]))
        .collect()
}

/// An ignored flag (unshare succeeds, errno 0) or a refused one (EINVAL) fails every check of
/// its kind but the `untouched` ones; clone(2) with the flag is refused either way.
#[rstest]
#[case::an_ignored_uts_flag("uts", libc::CLONE_NEWUTS, 0, &[])]
#[case::an_ignored_ipc_flag("ipc", libc::CLONE_NEWIPC, 0, &[])]
#[case::a_refused_pid_flag("pid", libc::CLONE_NEWPID, libc::EINVAL, &[])]
#[case::a_refused_uts_flag("uts", libc::CLONE_NEWUTS, libc::EINVAL, &[])]
#[case::an_ignored_net_flag("net", libc::CLONE_NEWNET, 0, &[])]
#[case::a_refused_net_flag("net", libc::CLONE_NEWNET, libc::EINVAL, &[])]
#[case::an_ignored_user_flag("user", libc::CLONE_NEWUSER, 0, &[])]
// clone3(2) passes its flags in a struct the filter cannot read: those checks are untouched.
#[case::an_ignored_cgroup_flag_but_clone3(
    "cgroup",
    libc::CLONE_NEWCGROUP,
    0,
    &[r#""cgroup.clone-into-cgroup-namespace-rooted-at-target" ("pass")"#]
)]
#[case::an_ignored_time_flag_but_clone3("time", libc::CLONE_NEWTIME, 0, &[r#""time.clone3-creates-namespace" ("pass")"#])]
fn a_faulty_flag_fails_every_check_of_its_kind(
    #[case] kind: &str,
    #[case] flag: libc::c_int,
    #[case] unshare_errno: i32,
    #[case] untouched: &[&str],
) {
    assert_eq!(not_failed_under(kind, flag, unshare_errno, libc::EINVAL), untouched);
}
