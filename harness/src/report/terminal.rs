//! The human-readable report: one line per check, details under a failure, and a summary
//! that counts PASS, FAIL, SKIP and BROKEN separately.

use super::{Record, Run, Verdict};

pub fn line(record: &Record) -> String {
    let ms = record.duration.as_secs_f64() * 1000.0;
    let head = format!("{:<4} {} ({ms:.1} ms)", record.verdict.word(), record.id);
    match &record.verdict {
        Verdict::Pass => head,
        Verdict::Skip(reason) => format!("{head}: {reason}"),
        Verdict::Fail(f) | Verdict::Broken(f) => format!(
            "{head}{}\n       step:     {}\n       expected: {}\n       observed: {}",
            f.known_bug.as_ref().map(|b| format!(": known kernel bug: {b}")).unwrap_or_default(),
            f.step,
            f.expected,
            f.observed
        ),
    }
}

pub fn summary(run: &Run) -> String {
    let c = run.counts();
    let mut text = format!(
        "{} passed, {} failed, {} known kernel bugs, {} skipped, {} broken of {} checks in {:.2} s on Linux {}",
        c.pass,
        c.fail,
        c.xfail,
        c.skip,
        c.broken,
        run.records.len(),
        run.duration.as_secs_f64(),
        run.kernel
    );
    for (label, word) in
        [("failed", "FAIL"), ("known kernel bugs", "XFAIL"), ("broken (the environment or the harness, not the kernel)", "BROKEN")]
    {
        let ids: Vec<_> = run.records.iter().filter(|r| r.verdict.word() == word).map(|r| r.id.as_str()).collect();
        if !ids.is_empty() {
            text.push_str(&format!("\n{label}: {}", ids.join(" ")));
        }
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
        assert_eq!(
            lines[4],
            "XFAIL uts.e (0.2 ms): known kernel bug: bug 1\n       step:     bind\n       expected: success\n       observed: EINVAL"
        );
        assert_eq!(lines[3], "BROKEN uts.d (0.1 ms)\n       step:     fork\n       expected: success\n       observed: EAGAIN");
    }

    #[test]
    fn summary_counts_each_verdict_and_names_failures() {
        assert_eq!(
            summary(&fixtures::run()),
            "1 passed, 1 failed, 1 known kernel bugs, 1 skipped, 1 broken of 5 checks in 0.01 s on Linux 6.18.44\nfailed: uts.b\nknown kernel bugs: uts.e\nbroken (the environment or the harness, not the kernel): uts.d"
        );
    }
}
