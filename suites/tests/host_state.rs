//! A full run leaves the host exactly as it found it: hostname, domainname, mount table,
//! network links, SysV and POSIX IPC objects, /var/run/netns and the namespace sysctls.

mod common;

use common::{binary, is_root, run};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::Command;

const SYSCTLS: &[&str] = &[
    "kernel/hostname",
    "kernel/domainname",
    "kernel/msgmax",
    "kernel/msgmnb",
    "kernel/msgmni",
    "kernel/sem",
    "kernel/shmmni",
    "kernel/shmmax",
    "kernel/shmall",
    "kernel/shm_rmid_forced",
    "kernel/pid_max",
    "fs/mqueue/queues_max",
    "fs/mqueue/msg_max",
    "fs/mqueue/msgsize_max",
    "fs/mqueue/msg_default",
    "fs/mqueue/msgsize_default",
    "user/max_user_namespaces",
    "user/max_pid_namespaces",
    "user/max_uts_namespaces",
    "user/max_ipc_namespaces",
    "user/max_net_namespaces",
    "user/max_mnt_namespaces",
    "user/max_cgroup_namespaces",
    "user/max_time_namespaces",
];

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("<{e}>"))
}

fn listing(dir: &str) -> String {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(e) => return format!("<{e}>"),
    };
    names.sort();
    names.join(" ")
}

/// The host's POSIX message queues, listed through an mqueue mount in a private mount
/// namespace of a helper process (the host's IPC namespace has no mount of its own to read).
fn posix_queues() -> String {
    if !is_root() {
        return "<not listed: needs root>".into();
    }
    let mut ls = Command::new("ls");
    ls.arg("-A").arg("/mnt");
    // SAFETY: only system calls between fork and exec.
    unsafe {
        ls.pre_exec(|| {
            use nix::mount::{mount, MsFlags};
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
            mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)?;
            mount(Some("mqueue"), "/mnt", Some("mqueue"), MsFlags::empty(), None::<&str>)?;
            Ok(())
        });
    }
    let out = ls.output().expect("listing POSIX message queues");
    assert!(out.status.success(), "ls of the host's mqueue: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn snapshot() -> BTreeMap<String, String> {
    let mut state = BTreeMap::new();
    for sysctl in SYSCTLS {
        state.insert(format!("sysctl {sysctl}"), read(&format!("/proc/sys/{sysctl}")));
    }
    state.insert("mountinfo".into(), read("/proc/self/mountinfo"));
    state.insert("links".into(), listing("/sys/class/net"));
    state.insert("netns".into(), listing("/var/run/netns"));
    for file in ["msg", "sem", "shm"] {
        state.insert(format!("sysvipc {file}"), read(&format!("/proc/sysvipc/{file}")));
    }
    state.insert("posix message queues".into(), posix_queues());
    state
}

#[test]
fn a_full_run_leaves_the_host_unchanged() {
    let before = snapshot();
    let report = tempfile::NamedTempFile::new().unwrap();
    let result = run(Command::new(binary()), report.path(), &["-q"]);
    let after = snapshot();
    let changed: Vec<String> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}:\n  before: {v}\n  after:  {}", after[k]))
        .collect();
    assert!(changed.is_empty(), "the run changed the host:\n{}\n{}", changed.join("\n"), result.describe());
    assert!(!result.checks().is_empty());
}
