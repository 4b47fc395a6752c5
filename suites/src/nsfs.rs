use nsconform_harness::Check;
pub const CHECKS: &[Check] = &[];
