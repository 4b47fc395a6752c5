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
        "uts.setns-back-restores-view",
        "setns back into the former UTS namespace restores its hostname",
        "setns(2); utsns_install() in kernel/utsname.c",
        &[Need::Kind(Kind::Uts)],
        setns_back_restores_view,
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
