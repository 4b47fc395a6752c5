//! Reading the guest's kernel console log: did the kernel panic, and with which lines.

/// The marker every kernel prints when it panics (panic() in kernel/panic.c).
const PANIC: &str = "Kernel panic - not syncing";

/// Lines that start the report a panic concludes (an oops, a BUG, a warning turned fatal).
const REPORT_START: &[&str] = &["BUG:", "Oops:", "general protection fault", "------------[ cut here ]------------"];

/// Lines that end a panic's report (with panic=-1 the end marker may never be printed).
const REPORT_END: &[&str] = &["---[ end Kernel panic", "Kernel Offset:"];

/// The panic lines of a console log: from the start of the report that led to the panic
/// (an oops or BUG up to 40 lines back, else the 3 lines before the panic) to the end of its
/// stack trace (at most 30 lines on). `None` without a panic.
pub fn panic_lines(log: &str) -> Option<Vec<String>> {
    let lines: Vec<&str> = log.lines().map(|l| l.trim_end_matches('\r')).collect();
    let at = lines.iter().position(|l| l.contains(PANIC))?;
    let start =
        (at.saturating_sub(40)..at).rev().find(|&i| REPORT_START.iter().any(|m| lines[i].contains(m))).unwrap_or(at.saturating_sub(3));
    let last = lines.len().min(at + 31) - 1;
    let end = (at..=last).find(|&i| REPORT_END.iter().any(|m| lines[i].contains(m))).unwrap_or(last);
    Some(lines[start..=end].iter().map(|l| l.to_string()).collect())
}

/// The last `n` non-empty lines, to show why a guest stopped.
pub fn tail(log: &str, n: usize) -> Vec<String> {
    let lines: Vec<_> = log.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| l.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_INIT: &str = include_str!("../tests/fixtures/console-no-init-panic.log");
    const CRASH: &str = include_str!("../tests/fixtures/console-sysrq-crash.log");
    const CLEAN: &str = include_str!("../tests/fixtures/console-clean-run.log");

    #[test]
    fn finds_a_boot_panic_with_its_cause_and_trace() {
        let lines = panic_lines(NO_INIT).expect("a panic");
        assert!(lines.iter().any(|l| l.contains("Kernel panic - not syncing: VFS: Unable to mount root fs")), "{lines:#?}");
        assert!(lines.iter().any(|l| l.contains("mount_block_root")), "the stack trace: {lines:#?}");
        assert!(lines.last().unwrap().contains("Kernel Offset:"), "{lines:#?}");
    }

    #[test]
    fn reports_a_crash_from_the_line_that_caused_it() {
        let lines = panic_lines(CRASH).expect("a panic");
        assert!(lines[0].contains("sysrq: Trigger a crash"), "{lines:#?}");
        assert!(lines.iter().any(|l| l.contains("sysrq_handle_crash")), "{lines:#?}");
    }

    #[test]
    fn a_clean_run_has_no_panic() {
        assert_eq!(panic_lines(CLEAN), None);
    }
}
