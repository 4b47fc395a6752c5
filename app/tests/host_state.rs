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

/// The cgroup2 directory of this process: (mount point + path below the mount's root).
fn own_cgroup2_dir() -> Option<String> {
    let own = read("/proc/self/cgroup").lines().find_map(|l| l.strip_prefix("0::").map(String::from))?;
    let mountinfo = read("/proc/self/mountinfo");
    let (root, point) = mountinfo.lines().find_map(|l| {
        let fields: Vec<&str> = l.split_whitespace().collect();
        let dash = fields.iter().position(|f| *f == "-")?;
        (fields.get(dash + 1) == Some(&"cgroup2")).then(|| (fields[3].to_string(), fields[4].to_string()))
    })?;
    let below = own.strip_prefix(root.trim_end_matches('/'))?;
    Some(format!("{}{}", point.trim_end_matches('/'), below.trim_end_matches('/')))
}

#[test]
fn a_run_sweeps_the_scratch_cgroup_a_killed_run_left() {
    let Some(dir) = own_cgroup2_dir() else { return eprintln!("skipped: no cgroup2 directory") };
    // A pid far above pid_max's default stands for a run that is gone.
    let leftover = format!("{dir}/nsconform-{}", 4_000_000);
    if std::fs::create_dir(&leftover).is_err() {
        return eprintln!("skipped: {dir} is not writable");
    }
    let out = common::output_of(Command::new(binary()).args(["run", "--exact", "uts.new-namespace-copies-names"]));
    let swept = !std::path::Path::new(&leftover).exists();
    let _ = std::fs::remove_dir(&leftover);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(swept, "{leftover} survived a run");
}
