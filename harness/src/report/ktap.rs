//! KTAP version 1, the kernel's test output format
//! (Documentation/dev-tools/ktap.rst): a plan, one result line per check, `# SKIP reason`
//! directives, diagnostic lines for failures, and `# ERROR` for checks the environment
//! broke (kselftest counts those as "error"). The header carries the run's provenance, and
//! `nsconform run` writes a KTAP file as the checks finish.

use super::{Counts, Provenance, Record, Run, Verdict};

pub fn render(run: &Run) -> String {
    let mut out = header(&run.kernel, &run.provenance, run.records.len());
    for (i, record) in run.records.iter().enumerate() {
        out.push_str(&result(i + 1, record));
    }
    out.push_str(&totals(&run.counts()));
    out
}

/// The version line, the run's provenance as comments, and the plan: written before the
/// first check runs, so a kernel that dies mid-run leaves a readable prefix.
pub fn header(kernel: &str, provenance: &Provenance, planned: usize) -> String {
    let mut out = format!("KTAP version 1\n# nsconform on Linux {kernel}\n");
    for line in provenance.lines() {
        out.push_str(&format!("# {}\n", one_line(&line)));
    }
    out.push_str(&format!("1..{planned}\n"));
    out
}

/// Check number `n`'s result line, with its diagnostic lines before it.
pub fn result(n: usize, record: &Record) -> String {
    match &record.verdict {
        Verdict::Pass => format!("ok {n} {}\n", record.id),
        Verdict::Skip(reason) => format!("ok {n} {} # SKIP {}\n", record.id, one_line(reason)),
        Verdict::Fail(f) | Verdict::Broken(f) => {
            let status = match (&record.verdict, &f.known_bug) {
                (Verdict::Broken(_), _) => format!("not ok {n} {} # ERROR broken by the environment", record.id),
                (_, Some(bug)) => format!("ok {n} {} # XFAIL known kernel bug: {}", record.id, one_line(bug)),
                _ => format!("not ok {n} {}", record.id),
            };
            format!(
                "# step: {}\n# expected: {}\n# observed: {}\n{status}\n",
                one_line(&f.step),
                one_line(&f.expected),
                one_line(&f.observed)
            )
        }
    }
}

/// kselftest's closing line.
pub fn totals(c: &Counts) -> String {
    format!("# Totals: pass:{} fail:{} xfail:{} xpass:0 skip:{} error:{}\n", c.pass, c.fail, c.xfail, c.skip, c.broken)
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
