//! /proc/PID/ns files: one inode per namespace, inherited by children, kept alive by an fd or a bind mount.

use super::{for_each_kind, join_new_namespace, open_ns, setns, KEPT_HOSTNAME};
use crate::scratch::{bind, in_scratch, touch};
use crate::sys::{idle, own_ns};
use nix::mount::MsFlags;
use nsconform_harness::{expect_eq, spawn, At, Check, Kind, Need, Outcome, Probe, Spawn, Stop};
use std::collections::BTreeMap;
use std::fs::File;

pub const CHECKS: &[Check] = &[
    Check::new(
        "nsfs.same-namespace-same-inode",
        "For every kind, a namespace has one nsfs inode: its creator, /proc/PID/ns of another process and a process that joins it all see the same st_ino, a new one differs, and all share one st_dev",
        "namespaces(7) /proc/[pid]/ns; ns_get_path() in fs/nsfs.c sets i_ino = ns->inum (proc_alloc_inum())",
        &[Need::KindsWhereConfigured(&Kind::ALL), Need::Kind(Kind::Mnt)],
        || for_each_kind(|kind| join_new_namespace(kind, kind.flag())),
    ),
    Check::new(
        "nsfs.children-inherit-namespaces",
        "A child created without CLONE_NEW* flags is in every namespace of its parent (same inodes in /proc/PID/ns)",
        "namespaces(7); clone(2); copy_namespaces() shares the parent's nsproxy, kernel/nsproxy.c",
        &[],
        children_inherit_namespaces,
    ),
    Check::new(
        "nsfs.open-fd-keeps-namespace-alive",
        "An open /proc/PID/ns file keeps a namespace alive after its processes exit, and setns through it joins it",
        "namespaces(7) /proc/[pid]/ns; setns(2); the nsfs inode holds a reference (nsfs_evict() drops it), fs/nsfs.c",
        &[Need::Kind(Kind::Uts)],
        open_fd_keeps_namespace_alive,
    ),
    Check::new(
        "nsfs.bind-mount-keeps-namespace-alive",
        "A bind mount of /proc/PID/ns/uts keeps the namespace alive after its processes exit, and setns through it joins it",
        "namespaces(7) /proc/[pid]/ns; setns(2); do_loopback() in fs/namespace.c accepts nsfs dentries",
        &[Need::Kind(Kind::Uts), Need::Kind(Kind::Mnt)],
        bind_mount_keeps_namespace_alive,
    ),
    Check::new(
        "nsfs.link-text-names-kind-and-inode",
        "Every /proc/PID/ns entry is a symbolic link whose text is KIND:[INODE], with the entry's st_ino; pid_for_children and time_for_children name the kind itself (pid, time)",
        "namespaces(7) /proc/[pid]/ns; proc_ns_readlink() in fs/proc/namespaces.c; ns_get_name() in fs/nsfs.c prints real_ns_name (or name) and ns->inum",
        &[],
        link_text_names_kind_and_inode,
    ),
    Check::new(
        "nsfs.proc-ns-lists-configured-kinds",
        "/proc/self/ns lists exactly the configured kinds: mnt always, cgroup with CONFIG_CGROUPS, each other kind with its CONFIG_*_NS, pid_for_children and time_for_children with pid and time",
        "namespaces(7) /proc/[pid]/ns; ns_entries[] in fs/proc/namespaces.c, one #ifdef per kind",
        &[Need::Probe(Probe { what: "a kernel config", run: config_found })],
        proc_ns_lists_configured_kinds,
    ),
    Check::new(
        "nsfs.initial-namespaces-fixed-inodes",
        "The initial namespaces, those of the kernel threads, have fixed inode numbers: ipc 0xEFFFFFFF, uts 0xEFFFFFFE, user 0xEFFFFFFD, pid 0xEFFFFFFC, cgroup 0xEFFFFFFB, time 0xEFFFFFFA (each configured kind)",
        "PROC_*_INIT_INO in include/linux/proc_ns.h, set as .ns.inum of init_ipc_ns, init_uts_ns, init_user_ns, init_pid_ns, init_cgroup_ns, init_time_ns; kernel threads keep init_nsproxy (kernel/nsproxy.c)",
        &[Need::Probe(Probe { what: "kthreadd's namespaces", run: kthreadd_namespaces_readable })],
        initial_namespaces_fixed_inodes,
    ),
    Check::new(
        "nsfs.proc-ns-needs-ptrace-access",
        "Reading or opening /proc/PID/ns/mnt needs ptrace read access to PID: a reader of the same uid without CAP_SYS_PTRACE gets EACCES from readlink and open for an undumpable process, and reads it once the process is dumpable again",
        "namespaces(7) /proc/[pid]/ns (ptrace access mode PTRACE_MODE_READ_FSCREDS); proc_ns_readlink() and proc_ns_get_link() in fs/proc/namespaces.c; __ptrace_may_access() in kernel/ptrace.c (an undumpable target needs CAP_SYS_PTRACE), cap_ptrace_access_check() in security/commoncap.c",
        &[],
        proc_ns_needs_ptrace_access,
    ),
];

/// include/uapi/linux/capability.h
const CAP_SYS_PTRACE: u32 = 19;

/// The answers to readlink and to open.
type LinkAndOpen = (Result<(), nix::errno::Errno>, Result<(), nix::errno::Errno>);

/// readlink and open of /proc/`pid`/ns/mnt by a child without CAP_SYS_PTRACE.
fn read_ns_link_without_ptrace_cap(pid: i32) -> Result<LinkAndOpen, Stop> {
    let mut reader = spawn(Spawn::fork(), move |to_parent| {
        crate::sys::set_effective_cap(CAP_SYS_PTRACE, false).at("clearing CAP_SYS_PTRACE from the effective set")?;
        let path = format!("/proc/{pid}/ns/mnt");
        let errno = |e: std::io::Error| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0));
        let link = std::fs::read_link(&path).map(drop).map_err(errno);
        let open = File::open(&path).map(drop).map_err(errno);
        to_parent.send("its answers", &(link.map_err(|e| e as i32), open.map_err(|e| e as i32)))
    })?;
    let (link, open) = reader.recv::<(Result<(), i32>, Result<(), i32>)>("its answers")?;
    reader.join()?;
    Ok((link.map_err(nix::errno::Errno::from_raw), open.map_err(nix::errno::Errno::from_raw)))
}

fn proc_ns_needs_ptrace_access() -> Outcome {
    let mut target = spawn(Spawn::fork(), |to_parent| {
        // Without it, as the reader: commoncap's ptrace check wants the reader's effective set
        // to cover the target's permitted one (cap_ptrace_access_check()).
        crate::sys::drop_cap(CAP_SYS_PTRACE).at("dropping CAP_SYS_PTRACE")?;
        // SAFETY: prctl with integer arguments.
        nix::errno::Errno::result(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) }).at("PR_SET_DUMPABLE 0")?;
        to_parent.sync("undumpable")?;
        to_parent.recv::<()>("the order to become dumpable")?;
        // SAFETY: prctl with integer arguments.
        nix::errno::Errno::result(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) }).at("PR_SET_DUMPABLE 1")?;
        to_parent.sync("dumpable")?;
        idle(to_parent)
    })?;
    target.sync("undumpable")?;
    let pid = target.pid().as_raw();
    let (link, open) = read_ns_link_without_ptrace_cap(pid)?;
    nsconform_harness::expect_errno(&format!("readlink /proc/{pid}/ns/mnt of an undumpable process"), nix::errno::Errno::EACCES, link)?;
    nsconform_harness::expect_errno(&format!("open /proc/{pid}/ns/mnt of an undumpable process"), nix::errno::Errno::EACCES, open)?;
    target.send("the order to become dumpable", &())?;
    target.sync("dumpable")?;
    let (link, open) = read_ns_link_without_ptrace_cap(pid)?;
    link.at(&format!("readlink /proc/{pid}/ns/mnt once the process is dumpable"))?;
    open.at(&format!("open /proc/{pid}/ns/mnt once the process is dumpable"))?;
    target.send("the order to exit", &())?;
    target.join()
}

/// kthreadd is pid 2 of the initial PID namespace, its parent the idle task (PPid 0).
const KTHREADD: &str = "2";

fn kthreadd_namespaces_readable() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/2/status").map_err(|e| format!("/proc/2/status: {e}: not in the initial PID namespace"))?;
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or("").to_string();
    if field("Name:") != "kthreadd" || field("PPid:") != "0" {
        return Err(format!("pid 2 is {:?}, not kthreadd: not in the initial PID namespace", field("Name:")));
    }
    // mnt: the one entry every kernel has.
    std::fs::read_link("/proc/2/ns/mnt")
        .map(drop)
        .map_err(|e| format!("readlink /proc/2/ns/mnt: {e}: reading a kernel thread's namespaces needs ptrace access (root)"))
}

fn initial_namespaces_fixed_inodes() -> Outcome {
    let inodes = namespace_inodes(KTHREADD)?;
    let facts = nsconform_harness::host::facts();
    // Every kind with a fixed number that the kernel has (configured, or listed where no
    // config is found); mnt and net got fixed numbers later and are left out.
    let kinds = Kind::ALL.into_iter().filter(|k| k.initial_inode().is_some());
    for kind in kinds.filter(|k| facts.kind_configured(*k).unwrap_or_else(|| inodes.contains_key(k.name()))) {
        let fixed = kind.initial_inode().unwrap_or_default();
        let observed = inodes.get(kind.name()).map_or_else(|| "no entry".to_string(), |i| format!("{i:#X}"));
        expect_eq(&format!("the inode of kthreadd's {} namespace", kind.name()), format!("{fixed:#X}"), observed)?;
    }
    Ok(())
}

fn config_found() -> Result<(), String> {
    match nsconform_harness::host::facts().kconfig {
        Some(_) => Ok(()),
        None => Err("no kernel config found: which kinds are configured is unknown".into()),
    }
}

fn proc_ns_lists_configured_kinds() -> Outcome {
    let facts = nsconform_harness::host::facts();
    let mut expected = Vec::new();
    for kind in Kind::ALL {
        if facts.kind_configured(kind) == Some(true) {
            expected.push(kind.name().to_string());
            if matches!(kind, Kind::Pid | Kind::Time) {
                expected.push(format!("{}_for_children", kind.name()));
            }
        }
    }
    expected.sort();
    let observed: Vec<String> = namespace_inodes("self")?.into_keys().collect();
    expect_eq("the entries of /proc/self/ns", expected, observed)
}

fn link_text_names_kind_and_inode() -> Outcome {
    let inodes = namespace_inodes("self")?;
    for (entry, inode) in &inodes {
        let link = std::fs::read_link(format!("/proc/self/ns/{entry}")).at(&format!("readlink /proc/self/ns/{entry}"))?;
        let kind = entry.strip_suffix("_for_children").unwrap_or(entry);
        expect_eq(&format!("the text of /proc/self/ns/{entry}"), format!("{kind}:[{inode}]"), link.to_string_lossy().into_owned())?;
    }
    Ok(())
}

/// The inode of every /proc/PID/ns entry.
fn namespace_inodes(pid: &str) -> Result<BTreeMap<String, u64>, Stop> {
    let dir = format!("/proc/{pid}/ns");
    let mut inodes = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).at(&format!("listing {dir}"))? {
        let name = entry.at(&format!("reading {dir}"))?.file_name().to_string_lossy().into_owned();
        inodes.insert(name.clone(), nsconform_harness::kind::ns_inode(pid, &name).at(&format!("stat of {dir}/{name}"))?);
    }
    Ok(inodes)
}

fn children_inherit_namespaces() -> Outcome {
    let mut child = spawn(Spawn::fork(), |to_parent| to_parent.send("its namespaces", &namespace_inodes("self")?))?;
    let theirs = child.recv::<BTreeMap<String, u64>>("its namespaces")?;
    expect_eq("the child's /proc/self/ns inodes vs the parent's", namespace_inodes("self")?, theirs)?;
    child.join()
}

/// A process in a new UTS namespace with a hostname of its own; it waits for the order to exit.
fn spawn_uts_owner() -> Result<(nsconform_harness::Child, u64), Stop> {
    let mut owner = spawn(Spawn::clone(&[Kind::Uts]), |to_parent| {
        nix::unistd::sethostname(KEPT_HOSTNAME).at("sethostname in the new UTS namespace")?;
        to_parent.send("its namespace", &own_ns("uts")?)?;
        idle(to_parent)
    })?;
    let inode = owner.recv::<u64>("its namespace")?;
    Ok((owner, inode))
}

/// Joins the UTS namespace behind `ns` in a child and expects the owner's hostname there.
fn join_kept_uts(ns: File, inode: u64) -> Outcome {
    spawn(Spawn::fork(), move |_| {
        setns(&ns, libc::CLONE_NEWUTS).at("setns into the UTS namespace whose processes exited")?;
        expect_eq("/proc/self/ns/uts after setns", inode, own_ns("uts")?)?;
        expect_eq(
            "the hostname after setns",
            KEPT_HOSTNAME.to_string(),
            nix::unistd::gethostname().at("gethostname")?.to_string_lossy().into_owned(),
        )
    })?
    .join()
}

fn open_fd_keeps_namespace_alive() -> Outcome {
    let (owner, inode) = spawn_uts_owner()?;
    let ns = open_ns(owner.pid(), "uts")?;
    owner.send("the order to exit", &())?;
    owner.join()?;
    join_kept_uts(ns, inode)
}

fn bind_mount_keeps_namespace_alive() -> Outcome {
    in_scratch(|| {
        touch("/tmp/uts")?;
        let (owner, inode) = spawn_uts_owner()?;
        bind(&format!("/proc/{}/ns/uts", owner.pid()), "/tmp/uts", MsFlags::empty()).at("bind-mounting /proc/PID/ns/uts on /tmp/uts")?;
        owner.send("the order to exit", &())?;
        owner.join()?;
        join_kept_uts(File::open("/tmp/uts").at("opening the bind mount /tmp/uts")?, inode)
    })
}
