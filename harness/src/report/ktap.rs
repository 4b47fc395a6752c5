//! KTAP version 1, the kernel's test output format
//! (Documentation/dev-tools/ktap.rst): a plan, one result line per check, `# SKIP reason`
//! directives, diagnostic lines for failures, and `# ERROR` for checks the environment
//! broke (kselftest counts those as "error").

use super::{Run, Verdict};

pub fn render(run: &Run) -> String {
    let mut out = format!("KTAP version 1\n# nsconform on Linux {}\n1..{}\n", run.kernel, run.records.len());
    for (i, record) in run.records.iter().enumerate() {
        let n = i + 1;
        match &record.verdict {
            Verdict::Pass => out.push_str(&format!("ok {n} {}\n", record.id)),
            Verdict::Skip(reason) => out.push_str(&format!("ok {n} {} # SKIP {}\n", record.id, one_line(reason))),
            Verdict::Fail(f) | Verdict::Broken(f) => {
                out.push_str(&format!("# step: {}\n", one_line(&f.step)));
                out.push_str(&format!("# expected: {}\n", one_line(&f.expected)));
                out.push_str(&format!("# observed: {}\n", one_line(&f.observed)));
                let line = match (&record.verdict, &f.known_bug) {
                    (Verdict::Broken(_), _) => format!("not ok {n} {} # ERROR broken by the environment", record.id),
                    (_, Some(bug)) => format!("ok {n} {} # XFAIL known kernel bug: {}", record.id, one_line(bug)),
                    _ => format!("not ok {n} {}", record.id),
                };
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    let c = run.counts();
    out.push_str(&format!("# Totals: pass:{} fail:{} xfail:{} xpass:0 skip:{} error:{}\n", c.pass, c.fail, c.xfail, c.skip, c.broken));
    out
}

/// KTAP is line-oriented: a newline inside a value would start a bogus line.
fn one_line(text: &str) -> String {
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use crate::report::fixtures;

    #[test]
    fn renders_plan_results_skips_and_diagnostics() {
        let expected = include_str!("../../tests/fixtures/report.ktap");
        assert_eq!(super::render(&fixtures::run()), expected);
    }
}
