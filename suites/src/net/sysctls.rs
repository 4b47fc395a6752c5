//! Sysctls: the per-namespace net sysctls of a new namespace start at their defaults, and
//! net.ipv4.ip_forward follows the devconf_inherit_init_net rule, never simply its creator.
//!
//! Which sysctls: net.core.somaxconn, net.ipv4.ip_default_ttl and net.unix.max_dgram_qlen are
//! set by the pernet init of every new namespace (preinit_net_sysctl() or
//! sysctl_core_net_init(), inet_init_net(), unix_net_init()) to compiled-in values, on every
//! kernel this suite knows. net.ipv4.conf.{all,default}.* and net.ipv4.ip_forward (which is
//! conf.all.forwarding) are not: devinet_init_net() copies them from the initial namespace or
//! from the creator, as net.core.devconf_inherit_init_net says (Linux 5.1; before, always from
//! the initial namespace), so they get a check of their own that reads that rule.

use super::NET_DEADLINE;
use crate::sys::{read_sysctl, upstream_version, write_sysctl};
use nsconform_harness::{expect_eq, spawn, At, Check, Kind, Need, Outcome, Probe, Spawn, Stop};

pub const CHECKS: &[Check] = &[
    Check::new(
        "net.sysctls-start-at-defaults",
        "The per-namespace net sysctls (net.core.somaxconn, net.ipv4.ip_default_ttl, net.unix.max_dgram_qlen) of a new network namespace start at their defaults whatever its creator set, and a change in one namespace is seen neither by its creator nor by a sibling",
        "network_namespaces(7); preinit_net_sysctl() in net/core/net_namespace.c (sysctl_core_net_init() in net/core/sysctl_net_core.c before 6.8): SOMAXCONN, 4096 from 5.4 (128 before); inet_init_net() in net/ipv4/af_inet.c: IPDEFTTL 64; unix_net_init() in net/unix/af_unix.c: 10",
        &[Need::Kind(Kind::Net)],
        sysctls_start_at_defaults,
    )
    .with_deadline(NET_DEADLINE),
    Check::new(
        "net.ip-forward-copied-from-initial-namespace",
        "net.ipv4.ip_forward of a new network namespace is not its creator's: it is copied from the initial namespace under net.core.devconf_inherit_init_net 0 (the default) or 1, is 0 under 2, and is the creator's only under 3; a change in the new namespace leaves the initial one alone",
        "Documentation/admin-guide/sysctl/net.rst devconf_inherit_init_net; devinet_init_net() in net/ipv4/devinet.c (ip_forward is conf/all/forwarding of the namespace)",
        &[Need::Kind(Kind::Net), Need::Probe(IN_INITIAL_NET)],
        ip_forward_copied_from_initial_namespace,
    )
    .with_deadline(NET_DEADLINE),
];

const INHERIT: &str = "/proc/sys/net/core/devconf_inherit_init_net";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// net.core.devconf_inherit_init_net is registered in the initial namespace only
/// (net_core_table, net/core/sysctl_net_core.c), so reading it tells that the run is there and
/// gives the rule at once.
const IN_INITIAL_NET: Probe = Probe {
    what: "the run is in the initial network namespace (net.core.devconf_inherit_init_net, Linux 5.1, is readable)",
    run: || {
        std::fs::read_to_string(INHERIT)
            .map(drop)
            .map_err(|e| format!("{INHERIT}: {e}: the run is not in the initial network namespace, or the kernel predates Linux 5.1"))
    },
};

/// (path, default, the creator's value, a sibling's value).
fn sysctls() -> [(&'static str, &'static str, &'static str, &'static str); 3] {
    // SOMAXCONN went from 128 to 4096 in Linux 5.4 (include/linux/socket.h).
    let somaxconn = if upstream_version() >= (5, 4, 0) { "4096" } else { "128" };
    [
        ("/proc/sys/net/core/somaxconn", somaxconn, "1000", "2000"),
        ("/proc/sys/net/ipv4/ip_default_ttl", "64", "99", "77"),
        ("/proc/sys/net/unix/max_dgram_qlen", "10", "33", "44"),
    ]
}

fn set(path: &str, value: &str, where_: &str) -> Outcome {
    write_sysctl(path, value).at(&format!("writing {value} to {path} in {where_}"))?;
    expect_eq(&format!("{path} read back in {where_}"), value.to_string(), read_sysctl(path)?)
}

/// Compares every sysctl with its expected value and fails with all the differences at once.
fn expect_values(step: &str, expected: &[(&str, &str)]) -> Outcome {
    let mut want = Vec::new();
    let mut seen = Vec::new();
    for (path, value) in expected {
        let now = read_sysctl(path)?;
        if now != *value {
            want.push(format!("{path}={value}"));
            seen.push(format!("{path}={now}"));
        }
    }
    expect_eq(step, want.join(", "), seen.join(", "))
}

fn sysctls_start_at_defaults() -> Outcome {
    // Namespace A (the creator) changes its own values first, so that a kernel that copied the
    // creator's values into B or C is caught; B changes its own while its sibling C starts.
    spawn(Spawn::clone(&[Kind::Net]), |_| {
        // Older kernels (5.10 among them) hide the net.core and net.unix tables from a namespace
        // whose owner is not the initial user namespace ("Don't export any sysctls to
        // unprivileged users" in sysctl_core_net_init() and unix_sysctl_register()); only there
        // may a sysctl be missing, and it is left out.
        let owned_by_initial_userns = nsconform_harness::host::is_initial(Kind::User);
        let mut present = Vec::new();
        for entry in sysctls() {
            if std::path::Path::new(entry.0).exists() {
                present.push(entry);
            } else if owned_by_initial_userns {
                return Err(Stop::fail(format!("looking for {} in a new namespace", entry.0), "the file", "it does not exist"));
            }
        }
        for (path, _, mine, _) in &present {
            set(path, mine, "the creator's namespace A")?;
        }
        let defaults: Vec<(&str, &str)> = present.iter().map(|(p, d, _, _)| (*p, *d)).collect();
        let mut b = spawn(Spawn::clone(&[Kind::Net]), |to_parent| {
            expect_values("net sysctls of namespace B, created by A after A changed its own", &defaults)?;
            for (path, _, _, sibling) in &present {
                set(path, sibling, "namespace B")?;
            }
            to_parent.sync("B's changes")?;
            to_parent.recv::<()>("the order to exit")
        })?;
        b.sync("B's changes")?;
        spawn(Spawn::clone(&[Kind::Net]), |_| {
            expect_values("net sysctls of namespace C, created by A while its sibling B holds changed values", &defaults)
        })?
        .join()?;
        let mine: Vec<(&str, &str)> = present.iter().map(|(p, _, m, _)| (*p, *m)).collect();
        expect_values("net sysctls of A after its child B changed its own", &mine)?;
        b.send("the order to exit", &())?;
        b.join()?;
        Ok(())
    })?
    .join()
}

fn ip_forward_copied_from_initial_namespace() -> Outcome {
    let rule = read_sysctl(INHERIT)?;
    let initial = read_sysctl(IP_FORWARD)?;
    let flipped = if initial == "0" { "1" } else { "0" };
    let (for_a, for_b): (String, String) = match rule.as_str() {
        // A's creator is the initial namespace: under 0, 1 and 3 A gets its value.
        "0" | "1" => (initial.clone(), initial.clone()),
        "2" => ("0".into(), "0".into()),
        "3" => (initial.clone(), flipped.to_string()),
        other => return Err(Stop::skip(format!("net.core.devconf_inherit_init_net is {other}, a value this check does not know"))),
    };
    let why = format!("devconf_inherit_init_net={rule}, the initial namespace's ip_forward={initial}");
    spawn(Spawn::clone(&[Kind::Net]), |_| {
        expect_eq(&format!("ip_forward of namespace A, created by the initial one ({why})"), for_a.clone(), read_sysctl(IP_FORWARD)?)?;
        set(IP_FORWARD, flipped, "namespace A")?;
        spawn(Spawn::clone(&[Kind::Net]), |_| {
            expect_eq(
                &format!("ip_forward of namespace B, created by A after A set it to {flipped} ({why})"),
                for_b.clone(),
                read_sysctl(IP_FORWARD)?,
            )
        })?
        .join()
    })?
    .join()?;
    expect_eq("ip_forward of the initial namespace after A changed its own", initial, read_sysctl(IP_FORWARD)?)
}
