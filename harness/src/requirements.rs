//! Turns a check's declared needs into a decision before it runs: run it (directly, or as
//! root of a fresh user namespace), or skip it with the specific reason; and judges a refused
//! namespace creation while it runs (FAIL, SKIP or BROKEN).

use crate::check::Need;
use crate::check::Stop;
use crate::host::{facts, is_initial, Facts};
use crate::kind::{ns_inode, Kind};

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Run { in_userns: bool },
    Skip(String),
}

pub fn evaluate(needs: &[Need], facts: &Facts) -> Decision {
    let mut needs_admin = false;
    for need in needs {
        let unmet = match *need {
            Need::Kind(kind) => {
                needs_admin |= kind.needs_admin();
                match (facts.kind_configured(kind), kind.config_option()) {
                    (Some(false), Some(option)) => Some(format!("{option} is not set")),
                    _ if facts.forbidden.contains(&kind) => Some(forbidden(kind)),
                    _ if !kind.needs_admin() && !facts.cap_sys_admin => facts.userns.clone().err(),
                    _ => None,
                }
            }
            Need::KindInOwnUserns(kind) => match (facts.kind_configured(kind), kind.config_option()) {
                (Some(false), Some(option)) => Some(format!("{option} is not set")),
                _ if facts.forbidden.contains(&kind) => Some(forbidden(kind)),
                _ => None,
            },
            Need::KindsWhereConfigured(_) => None,
            Need::KindDisabled(kind) => {
                needs_admin |= kind.needs_admin();
                match (facts.kind_configured(kind), kind.config_option()) {
                    (_, None) => Some(format!("{kind} namespaces cannot be configured out")),
                    (Some(true), Some(option)) => Some(format!("{option}=y: this check needs the kind configured out")),
                    (None, Some(option)) => Some(format!("no kernel config was found to tell whether {option} is off")),
                    (Some(false), _) => None,
                }
            }
            Need::InitialNamespace(kind) => (!is_initial(kind)).then(|| format!("the run does not start in the initial {kind} namespace")),
            Need::InitialAdmin => {
                (!(facts.cap_sys_admin && facts.in_initial_userns)).then(|| "needs CAP_SYS_ADMIN in the initial user namespace".to_string())
            }
            Need::Config(option) => match facts.config_enabled(option) {
                None => Some(format!("no kernel config was found to tell whether {option} is set")),
                Some(false) => Some(format!("{option} is not set")),
                Some(true) => None,
            },
            Need::Kernel(major, minor) => {
                (facts.version < (major, minor, 0)).then(|| format!("needs Linux {major}.{minor} or newer; this is {}", facts.release))
            }
            Need::Module(name) => module_unavailable(name, facts),
            Need::Probe(probe) => (probe.run)().err().map(|why| format!("{}: {why}", probe.what)),
            Need::KnownBug { .. } => None,
        };
        if let Some(reason) = unmet {
            return Decision::Skip(reason);
        }
    }
    match (needs_admin && !facts.cap_sys_admin, &facts.userns) {
        (false, _) => Decision::Run { in_userns: false },
        (true, Ok(())) => Decision::Run { in_userns: true },
        (true, Err(why)) => Decision::Skip(format!("needs CAP_SYS_ADMIN to create namespaces, and {why}")),
    }
}

fn forbidden(kind: Kind) -> String {
    format!("user.max_{}_namespaces is 0: this system forbids new {kind} namespaces", kind.name())
}

/// Why driver `name` is unavailable, or `None` when it is built in (CONFIG_NAME=y), loaded
/// (/sys/module/NAME) or installed as a module (modules.dep lists NAME.ko*).
fn module_unavailable(name: &str, facts: &Facts) -> Option<String> {
    let option = format!("CONFIG_{}", name.to_uppercase().replace('-', "_"));
    let setting = facts.kconfig.as_ref().map(|c| c.value(&option).unwrap_or("n").to_string());
    if setting.as_deref() == Some("y") || module_installed(name, &facts.release) {
        return None;
    }
    Some(match setting.as_deref() {
        Some("m") => format!("{option}=m, but the {name} module is neither loaded nor installed"),
        Some(_) => format!("{option} is not set"),
        None => format!("driver {name} is neither loaded nor installed as a module, and no kernel config tells whether it is built in"),
    })
}

/// Loaded (/sys/module/NAME), or installed (modules.builtin or modules.dep list NAME.ko*).
fn module_installed(name: &str, release: &str) -> bool {
    let name = name.replace('-', "_");
    if std::path::Path::new(&format!("/sys/module/{name}")).exists() {
        return true;
    }
    let builtin = std::fs::read_to_string(format!("/lib/modules/{release}/modules.builtin")).unwrap_or_default();
    let dep = std::fs::read_to_string(format!("/lib/modules/{release}/modules.dep")).unwrap_or_default();
    let file = format!("/{name}.ko");
    builtin.lines().chain(dep.lines()).any(|l| l.split(':').next().is_some_and(|p| p.replace('-', "_").contains(&file)))
}

/// The verdict when the kernel refuses to create a process or namespaces, by the harness's
/// rules: a kind the config enables must be creatable (FAIL); with no config found, EINVAL is a
/// SKIP that says so, unless /proc/self/ns shows every kind built in (FAIL). Resource limits
/// (RLIMIT_NPROC, the namespace count limits, descriptors) are the environment's: BROKEN.
/// Kinds the config disables never get here: their checks are skipped beforehand.
pub fn creation_error(kinds: &[Kind], errno: nix::errno::Errno, call: &str) -> Stop {
    use nix::errno::Errno;
    let flags: Vec<_> = kinds.iter().map(|k| k.flag_name()).collect();
    let step = format!("{call}({})", flags.join(" | "));
    let limit = match errno {
        Errno::EAGAIN => Some("a limit refused a new process (RLIMIT_NPROC, kernel.threads-max or kernel.pid_max)".to_string()),
        // A namespace limit of 0 is the system's choice; any other ENOSPC is the kernel's
        // to explain (an off-by-one depth or a limit charged to the wrong namespace).
        Errno::ENOSPC => kinds
            .iter()
            .find(|k| crate::host::namespace_limit(**k) == Some(0))
            .map(|k| format!("user.max_{}_namespaces is 0 in this user namespace", k.name())),
        other => crate::check::environment_errno(other).map(String::from),
    };
    if let Some(why) = limit {
        return Stop::broken(step, "success", format!("{errno}: {why}"));
    }
    let facts = facts();
    if errno == Errno::EINVAL && facts.kconfig.is_none() {
        let built_in: Vec<_> = kinds.iter().filter(|k| ns_inode("self", k.name()).is_ok()).collect();
        if built_in.len() < kinds.len() || kinds.is_empty() {
            return Stop::skip(format!(
                "{step} gave EINVAL and no kernel config was found ({} and LTP's paths) to tell whether the kind is configured",
                crate::kconfig::OVERRIDE_VAR
            ));
        }
        let entries: Vec<_> = built_in.iter().map(|k| format!("/proc/self/ns/{k}")).collect();
        return Stop::fail(step, format!("success ({} exist, so the kinds are built in)", entries.join(", ")), errno.to_string());
    }
    let configured: Vec<_> = kinds.iter().filter_map(|k| k.config_option()).map(|o| format!("{o}=y")).collect();
    let expected = if configured.is_empty() { "success".to_string() } else { format!("success ({})", configured.join(", ")) };
    let limits: Vec<String> = kinds
        .iter()
        .filter(|_| errno == Errno::ENOSPC)
        .filter_map(|k| crate::host::namespace_limit(*k).map(|n| format!("user.max_{}_namespaces here: {n}", k.name())))
        .collect();
    let observed = if limits.is_empty() { errno.to_string() } else { format!("{errno} ({})", limits.join(", ")) };
    Stop::fail(step, expected, observed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Probe;
    use crate::kconfig::Kconfig;
    use crate::kind::Kind;
    use rstest::rstest;

    fn facts(config: Option<&str>, root: bool, userns: Result<(), String>) -> Facts {
        Facts {
            release: "6.1.0-test".into(),
            version: (6, 1, 0),
            kconfig: config.map(|text| Kconfig::parse("test".into(), text)),
            cap_sys_admin: root,
            in_initial_userns: true,
            userns,
            forbidden: vec![],
        }
    }

    const ALL_ON: &str = "CONFIG_UTS_NS=y\nCONFIG_USER_NS=y\nCONFIG_PID_NS=y\n";
    const UTS_OFF: &str = "# CONFIG_UTS_NS is not set\nCONFIG_USER_NS=y\n";

    fn skip(reason: &str) -> Decision {
        Decision::Skip(reason.into())
    }

    #[test]
    fn a_refused_creation_is_broken_by_limits_and_a_fail_otherwise() {
        use nix::errno::Errno;
        let broken = |errno| matches!(creation_error(&[Kind::Uts], errno, "unshare"), Stop::Broken(_));
        assert!(broken(Errno::EAGAIN) && broken(Errno::EMFILE));
        let Stop::Fail(f) = creation_error(&[Kind::Pid], Errno::ENOSPC, "unshare") else {
            panic!("ENOSPC under a limit that is not 0 is the kernel's (an off-by-one depth fails)")
        };
        assert!(f.observed.starts_with("ENOSPC: No space left on device (user.max_pid_namespaces here: "), "{f:?}");
        let Stop::Fail(f) = creation_error(&[Kind::Uts], Errno::EPERM, "unshare") else { panic!("EPERM for a configured kind fails") };
        assert_eq!((f.step.as_str(), f.observed.as_str()), ("unshare(CLONE_NEWUTS)", "EPERM: Operation not permitted"));
    }

    #[test]
    fn a_kind_whose_namespace_limit_is_zero_skips_even_for_root() {
        let mut f = facts(Some(ALL_ON), true, Ok(()));
        f.forbidden = vec![Kind::User];
        assert_eq!(
            evaluate(&[Need::Kind(Kind::Uts), Need::Kind(Kind::User)], &f),
            skip("user.max_user_namespaces is 0: this system forbids new user namespaces")
        );
        assert_eq!(evaluate(&[Need::Kind(Kind::Uts)], &f), Decision::Run { in_userns: false });
    }

    #[rstest]
    #[case::root(&[Need::Kind(Kind::Uts)], Some(ALL_ON), true, Ok(()), Decision::Run { in_userns: false })]
    #[case::user_via_userns(&[Need::Kind(Kind::Uts)], Some(ALL_ON), false, Ok(()), Decision::Run { in_userns: true })]
    #[case::user_without_userns(&[Need::Kind(Kind::Uts)], Some(ALL_ON), false, Err("EPERM".into()),
        skip("needs CAP_SYS_ADMIN to create namespaces, and EPERM"))]
    #[case::configured_off(&[Need::Kind(Kind::Uts)], Some(UTS_OFF), true, Ok(()), skip("CONFIG_UTS_NS is not set"))]
    #[case::no_config_runs(&[Need::Kind(Kind::Uts)], None, true, Ok(()), Decision::Run { in_userns: false })]
    #[case::userns_only_needs_no_admin(&[Need::Kind(Kind::User)], Some(ALL_ON), false, Ok(()), Decision::Run { in_userns: false })]
    #[case::userns_forbidden(&[Need::Kind(Kind::User)], Some(ALL_ON), false, Err("forbidden".into()), skip("forbidden"))]
    #[case::disabled_check_on_enabled_kind(&[Need::KindDisabled(Kind::Uts)], Some(ALL_ON), true, Ok(()),
        skip("CONFIG_UTS_NS=y: this check needs the kind configured out"))]
    #[case::disabled_check_on_disabled_kind(&[Need::KindDisabled(Kind::Uts)], Some(UTS_OFF), true, Ok(()), Decision::Run { in_userns: false })]
    #[case::disabled_check_without_config(&[Need::KindDisabled(Kind::Uts)], None, true, Ok(()),
        skip("no kernel config was found to tell whether CONFIG_UTS_NS is off"))]
    #[case::initial_admin(&[Need::InitialAdmin], Some(ALL_ON), false, Ok(()), skip("needs CAP_SYS_ADMIN in the initial user namespace"))]
    #[case::config_option(&[Need::Config("CONFIG_CHECKPOINT_RESTORE")], Some(ALL_ON), true, Ok(()),
        skip("CONFIG_CHECKPOINT_RESTORE is not set"))]
    #[case::kernel_too_old(&[Need::Kernel(6, 12)], Some(ALL_ON), true, Ok(()), skip("needs Linux 6.12 or newer; this is 6.1.0-test"))]
    #[case::kernel_new_enough(&[Need::Kernel(5, 6)], Some(ALL_ON), true, Ok(()), Decision::Run { in_userns: false })]
    #[case::builtin_module(&[Need::Module("veth")], Some("CONFIG_VETH=y\n"), true, Ok(()), Decision::Run { in_userns: false })]
    #[case::absent_module(&[Need::Module("nsconform_nonexistent")], Some("CONFIG_NSCONFORM_NONEXISTENT=m\n"), true, Ok(()),
        skip("CONFIG_NSCONFORM_NONEXISTENT=m, but the nsconform_nonexistent module is neither loaded nor installed"))]
    #[case::unconfigured_module(&[Need::Module("nsconform_nonexistent")], Some(ALL_ON), true, Ok(()),
        skip("CONFIG_NSCONFORM_NONEXISTENT is not set"))]
    #[case::probe(&[Need::Probe(Probe { what: "pidfd", run: || Err("ENOSYS".into()) })], Some(ALL_ON), true, Ok(()), skip("pidfd: ENOSYS"))]
    fn decides_before_running(
        #[case] needs: &[Need],
        #[case] config: Option<&str>,
        #[case] root: bool,
        #[case] userns: Result<(), String>,
        #[case] expected: Decision,
    ) {
        assert_eq!(evaluate(needs, &facts(config, root, userns)), expected);
    }
}
