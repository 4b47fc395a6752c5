//! UTS namespaces: hostname and NIS domain name (uts_namespaces(7)).
//!
//! Every check first moves into a throwaway UTS namespace of its own, so the names it sets
//! are never the host's.

use crate::disabled::refused_when_configured_out;
use crate::sys::own_ns;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nsconform_harness::{expect_eq, expect_errno, expect_that, spawn, At, Check, Kind, Need, Outcome, Spawn, Stop};
use std::os::fd::AsFd;

pub const CHECKS: &[Check] = &[
    Check::new(
        "uts.new-namespace-copies-names",
        "A new UTS namespace starts with a copy of its creator's hostname and domainname",
        "uts_namespaces(7); copy_utsname() and clone_uts_ns() in kernel/utsname.c",
        &[Need::Kind(Kind::Uts)],
        new_namespace_copies_names,
    ),
    Check::new(
        "uts.hostname-invisible-to-parent",
        "A hostname set in a child UTS namespace is not seen by its parent",
        "uts_namespaces(7); sethostname(2); __do_sys_sethostname() in kernel/sys.c",
        &[Need::Kind(Kind::Uts)],
        || invisible_to_parent(Name::Host),
    ),
    Check::new(
        "uts.domainname-invisible-to-parent",
        "A domainname set in a child UTS namespace is not seen by its parent",
        "uts_namespaces(7); setdomainname(2); __do_sys_setdomainname() in kernel/sys.c",
        &[Need::Kind(Kind::Uts)],
        || invisible_to_parent(Name::Domain),
    ),
    Check::new(
        "uts.hostname-invisible-to-child",
        "A hostname set after a child UTS namespace was created is not seen in the child",
        "uts_namespaces(7); sethostname(2); __do_sys_sethostname() in kernel/sys.c",
        &[Need::Kind(Kind::Uts)],
        || invisible_to_child(Name::Host),
    ),
    Check::new(
        "uts.domainname-invisible-to-child",
        "A domainname set after a child UTS namespace was created is not seen in the child",
        "uts_namespaces(7); setdomainname(2); __do_sys_setdomainname() in kernel/sys.c",
        &[Need::Kind(Kind::Uts)],
        || invisible_to_child(Name::Domain),
    ),
    Check::new(
        "uts.uname-reflects-namespace",
        "uname(2) reports the nodename and domainname of the caller's UTS namespace",
        "uname(2); __do_sys_newuname() in kernel/sys.c reads utsname() of the caller",
        &[Need::Kind(Kind::Uts)],
        uname_reflects_namespace,
    ),
    Check::new(
        "uts.set-needs-cap-sys-admin-in-owner",
        "sethostname and setdomainname give EPERM without CAP_SYS_ADMIN in the UTS namespace's owning user namespace",
        "sethostname(2) ERRORS; __do_sys_sethostname() checks ns_capable(current->nsproxy->uts_ns->user_ns, CAP_SYS_ADMIN)",
        &[Need::Kind(Kind::Uts), Need::Kind(Kind::User)],
        set_needs_cap_in_owner,
    ),
    Check::new(
        "uts.set-by-root-of-owning-user-namespace",
        "Root of a new user namespace, created together with a UTS namespace (which it then owns), may set that namespace's hostname and domainname",
        "sethostname(2), user_namespaces(7); clone_uts_ns() in kernel/utsname.c records the creator's user namespace; __do_sys_sethostname() and __do_sys_setdomainname() in kernel/sys.c check ns_capable(uts_ns->user_ns, CAP_SYS_ADMIN)",
        &[Need::KindInOwnUserns(Kind::Uts), Need::Kind(Kind::User)],
        set_by_root_of_owning_user_namespace,
    ),
    Check::new(
        "uts.setns-back-restores-view",
        "setns back into the former UTS namespace restores its hostname",
        "setns(2); utsns_install() in kernel/utsname.c",
        &[Need::Kind(Kind::Uts)],
        setns_back_restores_view,
    ),
    Check::new(
        "uts.hostname-length-limit",
        "sethostname accepts 0 and 64 bytes (__NEW_UTS_LEN) and gives EINVAL for 65 bytes and a negative length, leaving the hostname unchanged",
        "sethostname(2) ERRORS (EINVAL: len negative or larger than allowed); __do_sys_sethostname() in kernel/sys.c checks len > __NEW_UTS_LEN (include/uapi/linux/utsname.h: 64)",
        &[Need::Kind(Kind::Uts)],
        || length_limit(Name::Host),
    ),
    Check::new(
        "uts.domainname-length-limit",
        "setdomainname accepts 0 and 64 bytes (__NEW_UTS_LEN) and gives EINVAL for 65 bytes and a negative length, leaving the domainname unchanged",
        "setdomainname(2) ERRORS (EINVAL: len negative or too large); __do_sys_setdomainname() in kernel/sys.c checks len > __NEW_UTS_LEN (include/uapi/linux/utsname.h: 64)",
        &[Need::Kind(Kind::Uts)],
        || length_limit(Name::Domain),
    ),
    Check::new(
        "uts.proc-sys-reads-caller-namespace",
        "/proc/sys/kernel/hostname and domainname read the names of the reader's UTS namespace: a child's after it set its own, the parent's unchanged",
        "proc(5) /proc/sys/kernel/{hostname,domainname}; get_uts() and proc_do_uts_string() in kernel/utsname_sysctl.c use current->nsproxy->uts_ns",
        &[Need::Kind(Kind::Uts)],
        proc_sys_reads_caller_namespace,
    ),
    Check::new(
        "uts.new-namespace-copies-kernel-identity",
        "uname's sysname, release, version and machine in a new UTS namespace equal its creator's, and /proc/sys/kernel/ostype, osrelease and version read the same",
        "uts_namespaces(7); clone_uts_ns() in kernel/utsname.c copies the whole new_utsname; proc_do_uts_string() in kernel/utsname_sysctl.c",
        &[Need::Kind(Kind::Uts)],
        new_namespace_copies_kernel_identity,
    ),
    Check::new(
        "uts.proc-sys-write-eacces-unless-global-root",
        "A process whose euid is not the global root gets EACCES opening /proc/sys/kernel/hostname and domainname for writing, even as root of the user namespace owning its UTS namespace, where sethostname and setdomainname succeed",
        "proc_sys_permission(), sysctl_perm() and test_perm() in fs/proc/proc_sysctl.c (mode 0644 against GLOBAL_ROOT_UID, no capability); uts_kern_table in kernel/utsname_sysctl.c",
        &[Need::KindInOwnUserns(Kind::Uts), Need::Kind(Kind::User), Need::Probe(crate::fixture::CREATOR_WITHOUT_CAPABILITIES)],
        proc_sys_write_eacces_unless_global_root,
    ),
    Check::new(
        "uts.proc-sys-write-by-global-root-without-owner-cap",
        "The global root (euid 0 in the initial user namespace's terms) inside a child user namespace, without CAP_SYS_ADMIN over its UTS namespace's owner, gets EPERM from sethostname yet may write /proc/sys/kernel/hostname and domainname, which change its own UTS namespace only",
        "test_perm() in fs/proc/proc_sysctl.c checks the file mode against GLOBAL_ROOT_UID, not ns_capable(); proc_do_uts_string() in kernel/utsname_sysctl.c writes current's uts_ns; __do_sys_sethostname() in kernel/sys.c checks ns_capable()",
        &[Need::Kind(Kind::Uts), Need::Kind(Kind::User), Need::InitialAdmin],
        proc_sys_write_by_global_root_without_owner_cap,
    ),
    crate::fixture::create_without_cap_sys_admin_eperm!("uts.create-without-cap-sys-admin-eperm", Kind::Uts),
    refused_when_configured_out!("uts.flag-refused-when-configured-out", Kind::Uts),
];

#[derive(Clone, Copy)]
enum Name {
    Host,
    Domain,
}

impl Name {
    fn label(self) -> &'static str {
        match self {
            Name::Host => "hostname",
            Name::Domain => "domainname",
        }
    }

    fn get(self) -> Result<String, Stop> {
        let uts = nix::sys::utsname::uname().at("uname")?;
        let value = match self {
            Name::Host => nix::unistd::gethostname().at("gethostname")?,
            Name::Domain => uts.domainname().to_owned(),
        };
        Ok(value.to_string_lossy().into_owned())
    }

    fn try_set(self, value: &str) -> Result<(), Errno> {
        let ret = match self {
            // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
            Name::Host => unsafe { libc::sethostname(value.as_ptr().cast(), value.len()) },
            // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
            Name::Domain => unsafe { libc::setdomainname(value.as_ptr().cast(), value.len()) },
        };
        Errno::result(ret).map(drop)
    }

    /// The name's /proc/sys/kernel file.
    fn sysctl(self) -> &'static str {
        match self {
            Name::Host => "/proc/sys/kernel/hostname",
            Name::Domain => "/proc/sys/kernel/domainname",
        }
    }

    /// The name read from its /proc/sys/kernel file, without the trailing newline.
    fn read_sysctl(self) -> Result<String, Stop> {
        let text = std::fs::read_to_string(self.sysctl()).at(&format!("reading {}", self.sysctl()))?;
        Ok(text.trim_end_matches('\n').to_string())
    }

    /// The set call with a raw length (negative lengths included).
    fn try_set_len(self, value: &[u8], len: libc::c_int) -> Result<(), Errno> {
        let len = len as libc::size_t;
        let ret = match self {
            // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
            Name::Host => unsafe { libc::sethostname(value.as_ptr().cast(), len) },
            // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
            Name::Domain => unsafe { libc::setdomainname(value.as_ptr().cast(), len) },
        };
        Errno::result(ret).map(drop)
    }

    fn set(self, value: &str) -> Outcome {
        self.try_set(value).at(&format!("setting the {} to {value:?}", self.label()))
    }
}

fn new_namespace_copies_names() -> Outcome {
    let parent = spawn(Spawn::clone(&[Kind::Uts]), |_| {
        Name::Host.set("nsconform-creator")?;
        Name::Domain.set("creator.nsconform.test")?;
        let child = spawn(Spawn::clone(&[Kind::Uts]), |_| {
            expect_eq("hostname in the new namespace", "nsconform-creator".to_string(), Name::Host.get()?)?;
            expect_eq("domainname in the new namespace", "creator.nsconform.test".to_string(), Name::Domain.get()?)
        })?;
        child.join()
    })?;
    parent.join()
}

fn invisible_to_parent(name: Name) -> Outcome {
    let parent = spawn(Spawn::clone(&[Kind::Uts]), |_| {
        name.set("nsconform-parent")?;
        let mut child = spawn(Spawn::clone(&[Kind::Uts]), |to_parent| {
            name.set("nsconform-child")?;
            to_parent.sync("the child's change")
        })?;
        child.sync("the child's change")?;
        expect_eq(&format!("the parent's {} after the child set its own", name.label()), "nsconform-parent".to_string(), name.get()?)?;
        child.join()
    })?;
    parent.join()
}

fn invisible_to_child(name: Name) -> Outcome {
    let parent = spawn(Spawn::clone(&[Kind::Uts]), |_| {
        name.set("nsconform-before")?;
        let mut child = spawn(Spawn::clone(&[Kind::Uts]), |to_parent| {
            to_parent.sync("the child's start")?;
            to_parent.sync("the parent's change")?;
            expect_eq(
                &format!("the child's {} after the parent changed its own", name.label()),
                "nsconform-before".to_string(),
                name.get()?,
            )
        })?;
        child.sync("the child's start")?;
        name.set("nsconform-after")?;
        child.sync("the parent's change")?;
        child.join()
    })?;
    parent.join()
}

fn uname_reflects_namespace() -> Outcome {
    spawn(Spawn::clone(&[Kind::Uts]), |_| {
        Name::Host.set("nsconform-uname")?;
        Name::Domain.set("uname.nsconform.test")?;
        let uts = nix::sys::utsname::uname().at("uname")?;
        expect_eq("uname().nodename", "nsconform-uname", &*uts.nodename().to_string_lossy())?;
        expect_eq("uname().domainname", "uname.nsconform.test", &*uts.domainname().to_string_lossy())
    })?
    .join()
}

fn set_needs_cap_in_owner() -> Outcome {
    spawn(Spawn::clone(&[Kind::Uts]), |_| {
        // Root of a new user namespace has every capability there, but the UTS namespace
        // still belongs to the parent user namespace.
        spawn(Spawn::clone(&[Kind::User]).map_root(), |_| {
            let has_admin = nsconform_harness::host::has_effective_cap(nsconform_harness::host::CAP_SYS_ADMIN)
                .map_err(|e| Stop::fail("reading CapEff", "a capability mask", e))?;
            expect_that("CapEff in the new user namespace", has_admin, "CAP_SYS_ADMIN", "missing")?;
            expect_errno(
                "sethostname from a user namespace that does not own the UTS namespace",
                Errno::EPERM,
                Name::Host.try_set("nsconform-denied"),
            )?;
            expect_errno(
                "setdomainname from a user namespace that does not own the UTS namespace",
                Errno::EPERM,
                Name::Domain.try_set("denied.nsconform.test"),
            )
        })?
        .join()
    })?
    .join()
}

fn setns_back_restores_view() -> Outcome {
    spawn(Spawn::clone(&[Kind::Uts]), |_| {
        Name::Host.set("nsconform-old")?;
        let old_inode = own_ns("uts")?;
        let old = std::fs::File::open("/proc/self/ns/uts").at("opening /proc/self/ns/uts")?;
        nsconform_harness::unshare(&[Kind::Uts])?;
        Name::Host.set("nsconform-new")?;
        nix::sched::setns(old.as_fd(), CloneFlags::CLONE_NEWUTS).at("setns back to the old UTS namespace")?;
        expect_eq("/proc/self/ns/uts after setns back", old_inode, own_ns("uts")?)?;
        expect_eq("hostname after setns back", "nsconform-old".to_string(), Name::Host.get()?)
    })?
    .join()
}

/// __NEW_UTS_LEN, include/uapi/linux/utsname.h.
const NEW_UTS_LEN: usize = 64;

fn length_limit(name: Name) -> Outcome {
    spawn(Spawn::clone(&[Kind::Uts]), |_| {
        let label = name.label();
        name.set("")?;
        expect_eq(&format!("{label} after setting 0 bytes"), String::new(), name.get()?)?;
        let longest = "n".repeat(NEW_UTS_LEN);
        name.set(&longest)?;
        expect_eq(&format!("{label} after setting {NEW_UTS_LEN} bytes"), longest.clone(), name.get()?)?;
        let too_long = "m".repeat(NEW_UTS_LEN + 1);
        expect_errno(&format!("setting the {label} to {} bytes", NEW_UTS_LEN + 1), Errno::EINVAL, name.try_set(&too_long))?;
        expect_errno(&format!("setting the {label} with length -1"), Errno::EINVAL, name.try_set_len(too_long.as_bytes(), -1))?;
        expect_eq(&format!("{label} after the refused calls"), longest, name.get()?)
    })?
    .join()
}

fn proc_sys_reads_caller_namespace() -> Outcome {
    let parent = spawn(Spawn::clone(&[Kind::Uts]), |_| {
        Name::Host.set("nsconform-proc-parent")?;
        Name::Domain.set("parent.nsconform.test")?;
        let mut child = spawn(Spawn::clone(&[Kind::Uts]), |to_parent| {
            for (name, copied) in [(Name::Host, "nsconform-proc-parent"), (Name::Domain, "parent.nsconform.test")] {
                expect_eq(&format!("{} in the new namespace", name.sysctl()), copied.to_string(), name.read_sysctl()?)?;
            }
            Name::Host.set("nsconform-proc-child")?;
            Name::Domain.set("child.nsconform.test")?;
            expect_eq("/proc/sys/kernel/hostname after sethostname", "nsconform-proc-child".to_string(), Name::Host.read_sysctl()?)?;
            expect_eq("/proc/sys/kernel/domainname after setdomainname", "child.nsconform.test".to_string(), Name::Domain.read_sysctl()?)?;
            to_parent.sync("the child's change")
        })?;
        child.sync("the child's change")?;
        expect_eq("the parent's /proc/sys/kernel/hostname", "nsconform-proc-parent".to_string(), Name::Host.read_sysctl()?)?;
        expect_eq("the parent's /proc/sys/kernel/domainname", "parent.nsconform.test".to_string(), Name::Domain.read_sysctl()?)?;
        child.join()
    })?;
    parent.join()
}

/// uname's fields that no namespace call changes, and the /proc/sys/kernel files of three.
fn kernel_identity() -> Result<Vec<(String, String)>, Stop> {
    let uts = nix::sys::utsname::uname().at("uname")?;
    let mut fields: Vec<(String, String)> = [
        ("uname().sysname", uts.sysname()),
        ("uname().release", uts.release()),
        ("uname().version", uts.version()),
        ("uname().machine", uts.machine()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string_lossy().into_owned()))
    .collect();
    for file in ["ostype", "osrelease", "version"] {
        let path = format!("/proc/sys/kernel/{file}");
        let text = std::fs::read_to_string(&path).at(&format!("reading {path}"))?;
        fields.push((path, text.trim_end_matches('\n').to_string()));
    }
    Ok(fields)
}

fn new_namespace_copies_kernel_identity() -> Outcome {
    let outside = kernel_identity()?;
    expect_that(
        "uname().sysname outside",
        outside.first().is_some_and(|(_, v)| v == "Linux"),
        "Linux",
        outside.first().map(|(_, v)| v.as_str()).unwrap_or(""),
    )?;
    spawn(Spawn::clone(&[Kind::Uts]), move |_| {
        Name::Host.set("nsconform-identity")?;
        expect_eq("uname's other fields and /proc/sys/kernel/{ostype,osrelease,version} in the new namespace", outside, kernel_identity()?)
    })?
    .join()
}

/// Before a write through /proc/sys: the file must show the caller's throwaway namespace
/// (`own` is the name just set there). Where it does not, a write could land in another
/// namespace, the host's included, so the check FAILs without writing.
fn expect_sysctl_is_own(name: Name, own: &str) -> Outcome {
    expect_eq(&format!("{} before writing it (the caller's throwaway namespace)", name.sysctl()), own.to_string(), name.read_sysctl()?)
}

/// Opens `path` for writing: the errno of open(2) or of the write(2) of `value`. Without
/// O_TRUNC, which on a read-only /proc/sys would answer EROFS before the permission check.
fn try_write_sysctl(path: &str, value: &str) -> Result<(), Errno> {
    use std::io::Write;
    let errno = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    std::fs::OpenOptions::new().write(true).open(path).map_err(errno)?.write_all(value.as_bytes()).map_err(errno)
}

fn proc_sys_write_eacces_unless_global_root() -> Outcome {
    crate::fixture::without_capabilities(|| {
        let uid = nix::unistd::geteuid();
        if uid.is_root() && nsconform_harness::host::is_initial(Kind::User) {
            // A global uid 0 without capabilities (a container's --cap-drop=ALL) still owns the files.
            return Err(Stop::skip("the run is the global uid 0 without capabilities: the check needs another uid"));
        }
        // Root of a new user namespace, mapped to this uid (not 0), in a UTS namespace it owns.
        nsconform_harness::userns::become_root()
            .map_err(|e| nsconform_harness::process::creation_error(&[Kind::User], e.errno, "becoming root of a new user namespace"))?;
        nsconform_harness::unshare(&[Kind::Uts])?;
        for name in [Name::Host, Name::Domain] {
            name.set("nsconform-owner-set")?;
            expect_sysctl_is_own(name, "nsconform-owner-set")?;
            expect_errno(
                &format!("writing {} as root of the owning user namespace, mapped to uid {uid}", name.sysctl()),
                Errno::EACCES,
                try_write_sysctl(name.sysctl(), "nsconform-by-proc"),
            )?;
            expect_eq(&format!("{} after the refused write", name.label()), "nsconform-owner-set".to_string(), name.get()?)?;
            expect_eq(&format!("{} read back", name.sysctl()), "nsconform-owner-set".to_string(), name.read_sysctl()?)?;
        }
        Ok(())
    })
}

fn proc_sys_write_by_global_root_without_owner_cap() -> Outcome {
    if !nix::unistd::geteuid().is_root() {
        return Err(Stop::skip(format!("the run's euid is {}, not the global root", nix::unistd::geteuid())));
    }
    let own = (Name::Host.get()?, Name::Domain.get()?);
    let outer = spawn(Spawn::clone(&[Kind::Uts]), |_| {
        Name::Host.set("nsconform-global-outer")?;
        Name::Domain.set("outer.nsconform.test")?;
        let mut child = spawn(Spawn::clone(&[Kind::User]).map_root(), |to_parent| {
            // uid 0 here is uid 0 of the initial user namespace (map_root maps it to the run's
            // euid); the UTS namespace belongs to the parent user namespace.
            for name in [Name::Host, Name::Domain] {
                expect_errno(
                    &format!("setting the {} from a user namespace that does not own the UTS namespace", name.label()),
                    Errno::EPERM,
                    name.try_set("nsconform-denied"),
                )?;
            }
            expect_sysctl_is_own(Name::Host, "nsconform-global-outer")?;
            expect_sysctl_is_own(Name::Domain, "outer.nsconform.test")?;
            try_write_sysctl(Name::Host.sysctl(), "nsconform-global-written").at("writing /proc/sys/kernel/hostname as the global root")?;
            try_write_sysctl(Name::Domain.sysctl(), "written.nsconform.test")
                .at("writing /proc/sys/kernel/domainname as the global root")?;
            expect_eq("hostname after the /proc/sys write", "nsconform-global-written".to_string(), Name::Host.get()?)?;
            expect_eq("domainname after the /proc/sys write", "written.nsconform.test".to_string(), Name::Domain.get()?)?;
            to_parent.sync("the writes")
        })?;
        child.sync("the writes")?;
        // The parent shares the UTS namespace: it sees the writes.
        expect_eq("the hostname read by the UTS namespace's other member", "nsconform-global-written".to_string(), Name::Host.get()?)?;
        child.join()
    })?;
    outer.join()?;
    expect_eq("the check process's own names (its parent UTS namespace) afterwards", own, (Name::Host.get()?, Name::Domain.get()?))
}

fn set_by_root_of_owning_user_namespace() -> Outcome {
    let own = (Name::Host.get()?, Name::Domain.get()?);
    spawn(Spawn::clone(&[Kind::User, Kind::Uts]).map_root(), |_| {
        Name::Host.set("nsconform-userns-root")?;
        Name::Domain.set("userns-root.nsconform.test")?;
        expect_eq("hostname after sethostname", "nsconform-userns-root".to_string(), Name::Host.get()?)?;
        expect_eq("domainname after setdomainname", "userns-root.nsconform.test".to_string(), Name::Domain.get()?)
    })?
    .join()?;
    expect_eq("the creator's own names afterwards", own, (Name::Host.get()?, Name::Domain.get()?))
}
