//! Run as an ordinary user, the suite reports no FAIL: checks that can run inside an
//! unprivileged user namespace do so, the others SKIP with their reason.

mod common;

use common::{is_root, run, Sandbox};
use std::os::unix::process::CommandExt;
use std::process::Command;

const NOBODY: u32 = 65534;

#[test]
fn an_ordinary_user_sees_no_failure_and_reasons_for_every_skip() {
    let sandbox = Sandbox::new();
    let mut command = Command::new(sandbox.binary());
    if is_root() {
        command.uid(NOBODY).gid(NOBODY);
    }
    let result = run(command, &sandbox.report(), &[]);
    assert_eq!(result.with_verdict("fail"), Vec::<String>::new(), "{}", result.describe());
    assert_eq!(result.output.status.code(), Some(0), "{}", result.describe());
    for check in result.checks().iter().filter(|c| c["verdict"] == "skip") {
        let reason = check["reason"].as_str().unwrap_or_default();
        assert!(reason.len() > 10, "{} skipped without a specific reason: {reason:?}", check["id"]);
    }
    // The checks run inside a user namespace, unless the system forbids those and says so.
    let init_check = result.checks().iter().find(|c| c["id"] == "pid.init-ignores-sigkill-from-inside").expect("the check ran");
    assert!(init_check["verdict"] == "pass" || init_check["reason"].as_str().is_some_and(|r| r.contains("user namespace")), "{init_check}");
}
