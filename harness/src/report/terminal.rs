//! The human-readable report: one line per check, details under a failure, and a summary
//! that counts PASS, FAIL and SKIP separately.

use super::{Record, Run, Verdict};

pub fn line(record: &Record) -> String {
    let ms = record.duration.as_secs_f64() * 1000.0;
    let head = format!("{:<4} {} ({ms:.1} ms)", record.verdict.word(), record.id);
    match &record.verdict {
        Verdict::Pass => head,
        Verdict::Skip(reason) => format!("{head}: {reason}"),
        Verdict::Fail(f) => format!(
            "{head}\n       step:     {}\n       expected: {}\n       observed: {}",
            f.step, f.expected, f.observed
        ),
    }
}

pub fn summary(run: &Run) -> String {
    let c = run.counts();
    let mut text = format!(
        "{} passed, {} failed, {} skipped of {} checks in {:.2} s on Linux {}",
        c.pass,
        c.fail,
        c.skip,
        run.records.len(),
        run.duration.as_secs_f64(),
        run.kernel
    );
    let failed: Vec<_> = run.records.iter().filter(|r| matches!(r.verdict, Verdict::Fail(_))).map(|r| r.id.as_str()).collect();
    if !failed.is_empty() {
        text.push_str(&format!("\nfailed: {}", failed.join(" ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn lines_show_verdict_id_duration_and_details() {
        let run = fixtures::run();
        let lines: Vec<_> = run.records.iter().map(line).collect();
        assert_eq!(lines[0], "PASS uts.a (1.5 ms)");
        assert_eq!(
            lines[1],
            "FAIL uts.b (0.2 ms)\n       step:     reading <hostname> & \"domain\"\n       expected: \"a\"\n       observed: \"b\""
        );
        assert_eq!(lines[2], "SKIP uts.c (0.0 ms): CONFIG_UTS_NS is not set");
    }

    #[test]
    fn summary_counts_each_verdict_and_names_failures() {
        assert_eq!(
            summary(&fixtures::run()),
            "1 passed, 1 failed, 1 skipped of 3 checks in 0.01 s on Linux 6.18.44\nfailed: uts.b"
        );
    }
}
