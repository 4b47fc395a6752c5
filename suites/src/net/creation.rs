//! Creating a network namespace: refused without CAP_SYS_ADMIN, and with the kind configured out.

use crate::disabled::refused_when_configured_out;
use nsconform_harness::{Check, Kind};

pub const CHECKS: &[Check] = &[
    crate::fixture::create_without_cap_sys_admin_eperm!("net.create-without-cap-sys-admin-eperm", Kind::Net),
    refused_when_configured_out!("net.flag-refused-when-configured-out", Kind::Net),
];
