//! Expected verdicts of a matrix row (ci/expectations/ROW.txt): what differs from PASS, one
//! line per check, `SKIP id: reason` or `FAIL id: upstream reference` (a known kernel bug: a
//! FAIL is expected only with the bug it comes from). A check without a line is expected to
//! PASS, so a new check needs no line where it passes. BROKEN is never expected. A run is compared
//! with them check by check; every difference is one line naming the row, the check and both
//! verdicts, and a known bug that no longer fails is a difference too.

use nsconform_harness::report::{Record, Verdict};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    Pass,
    /// A known kernel bug, with its upstream reference.
    Fail(String),
    Skip(String),
}

impl Expected {
    fn show(&self) -> String {
        match self {
            Expected::Pass => "PASS".into(),
            Expected::Fail(bug) => format!("FAIL (known bug: {bug})"),
            Expected::Skip(reason) => format!("SKIP ({reason})"),
        }
    }

    fn matches(&self, verdict: &Verdict) -> bool {
        match (self, verdict) {
            (Expected::Pass, Verdict::Pass) | (Expected::Fail(_), Verdict::Fail(_)) => true,
            (Expected::Skip(want), Verdict::Skip(got)) => want == got,
            _ => false,
        }
    }
}

fn show(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Pass => "PASS".into(),
        Verdict::Skip(reason) => format!("SKIP ({reason})"),
        Verdict::Fail(f) | Verdict::Broken(f) => {
            format!("{} ({}: expected {}, observed {})", verdict.word(), f.step, f.expected, f.observed)
        }
    }
}

/// The known kernel bugs of a row's expectations: check id to upstream reference.
pub fn known_bugs(expected: &BTreeMap<String, Expected>) -> BTreeMap<String, String> {
    expected
        .iter()
        .filter_map(|(id, e)| match e {
            Expected::Fail(bug) => Some((id.clone(), bug.clone())),
            _ => None,
        })
        .collect()
}

pub fn parse(text: &str) -> Result<BTreeMap<String, Expected>, String> {
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').ok_or_else(|| format!("line {}: {line:?} is not VERDICT ID", n + 1))?;
        let (id, expected) = match word {
            "PASS" => (rest.to_string(), Expected::Pass),
            "FAIL" => {
                let (id, bug) = rest
                    .split_once(": ")
                    .filter(|(_, bug)| !bug.trim().is_empty())
                    .ok_or_else(|| format!("line {}: a FAIL needs \"ID: upstream reference\" of the known kernel bug", n + 1))?;
                (id.to_string(), Expected::Fail(bug.to_string()))
            }
            "BROKEN" => return Err(format!("line {}: BROKEN is never expected: it is the environment's trouble, not the kernel's", n + 1)),
            "SKIP" => {
                let (id, reason) = rest.split_once(": ").ok_or_else(|| format!("line {}: a SKIP needs \"ID: reason\"", n + 1))?;
                (id.to_string(), Expected::Skip(reason.to_string()))
            }
            other => return Err(format!("line {}: unknown verdict {other:?}", n + 1)),
        };
        if map.insert(id.clone(), expected).is_some() {
            return Err(format!("line {}: {id} is listed twice", n + 1));
        }
    }
    Ok(map)
}

/// The expectations file for `records`. A FAIL keeps the bug reference it had in `previous`;
/// a new one is marked for review (it must name its upstream bug before it is committed).
/// `Err` lists the BROKEN checks: an environment's trouble is never recorded.
pub fn render(row: &str, records: &[Record], previous: &BTreeMap<String, Expected>) -> Result<String, String> {
    let broken: Vec<&str> = records.iter().filter(|r| matches!(r.verdict, Verdict::Broken(_))).map(|r| r.id.as_str()).collect();
    if !broken.is_empty() {
        return Err(format!("not recorded: BROKEN checks (fix the environment and run again): {}", broken.join(" ")));
    }
    let mut out = format!(
        "# Expected verdicts of the matrix row {row} that are not PASS (a check without a line must PASS):\n# recorded from a real run, then reviewed.\n"
    );
    for r in records {
        match &r.verdict {
            Verdict::Pass => {}
            Verdict::Fail(f) => {
                let bug = match (previous.get(&r.id), &f.known_bug) {
                    (Some(Expected::Fail(bug)), _) | (_, Some(bug)) => bug.as_str(),
                    _ => "UNREVIEWED: a new FAIL; name the upstream bug or fix the check",
                };
                out.push_str(&format!("FAIL {}: {bug}\n", r.id))
            }
            Verdict::Skip(reason) => out.push_str(&format!("SKIP {}: {reason}\n", r.id)),
            Verdict::Broken(_) => unreachable!("refused above"),
        }
    }
    Ok(out)
}

/// The differences between a row's run and its expectations, one line each.
pub fn diff(row: &str, expected: &BTreeMap<String, Expected>, records: &[Record]) -> Vec<String> {
    let mut lines = Vec::new();
    for r in records {
        let got = show(&r.verdict);
        match expected.get(&r.id).unwrap_or(&Expected::Pass) {
            Expected::Fail(bug) if r.verdict == Verdict::Pass => lines.push(format!(
                "{row}: {}: expected FAIL (known bug: {bug}), got PASS: the bug looks fixed here; update the expectation",
                r.id
            )),
            want if !want.matches(&r.verdict) => lines.push(format!("{row}: {}: expected {}, got {got}", r.id, want.show())),
            _ => {}
        }
    }
    for (id, want) in expected {
        if !records.iter().any(|r| &r.id == id) {
            lines.push(format!("{row}: {id}: expected {}, but the check did not run", want.show()));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(id: &str, verdict: Verdict) -> Record {
        Record { id: id.into(), statement: String::new(), reference: String::new(), kinds: vec![], verdict, duration: Duration::ZERO }
    }

    #[test]
    fn round_trips_and_reports_each_difference_in_one_line() {
        let run = vec![
            record("uts.a", Verdict::Pass),
            record("uts.b", Verdict::Skip("CONFIG_UTS_NS is not set".into())),
            record("uts.c", Verdict::fail("step", "x", "y")),
        ];
        let expected = parse(&render("row", &run, &parse("FAIL uts.c: bug 1").unwrap()).unwrap()).unwrap();
        assert_eq!(expected["uts.c"], Expected::Fail("bug 1".into()), "a recorded FAIL keeps its bug");
        assert!(diff("row", &expected, &run).is_empty());

        let flipped = parse("PASS uts.a\nPASS uts.b\nFAIL uts.c: bug 1\nPASS uts.gone\n").unwrap();
        assert_eq!(
            diff("row", &flipped, &run),
            ["row: uts.b: expected PASS, got SKIP (CONFIG_UTS_NS is not set)", "row: uts.gone: expected PASS, but the check did not run",]
        );
        let mut more = run.clone();
        more.push(record("uts.new", Verdict::Pass));
        assert!(diff("row", &expected, &more).is_empty(), "a new check that passes needs no line");
        more.push(record("uts.newer", Verdict::Skip("why".into())));
        assert_eq!(diff("row", &expected, &more), ["row: uts.newer: expected PASS, got SKIP (why)"]);
        assert!(!render("row", &run, &expected).unwrap().lines().any(|l| l.starts_with("PASS")), "only what is not PASS is recorded");
    }

    #[test]
    fn a_known_bug_is_no_difference_while_it_fails_and_one_when_it_passes() {
        let expected = parse("FAIL mnt.a: upstream bug X\n").unwrap();
        assert_eq!(known_bugs(&expected)["mnt.a"], "upstream bug X");
        assert!(diff("host", &expected, &[record("mnt.a", Verdict::fail("s", "e", "o"))]).is_empty());
        assert_eq!(
            diff("host", &expected, &[record("mnt.a", Verdict::Pass)]),
            ["host: mnt.a: expected FAIL (known bug: upstream bug X), got PASS: the bug looks fixed here; update the expectation"]
        );
    }

    #[test]
    fn broken_is_never_expected_nor_recorded() {
        let broken = record("pid.a", Verdict::Broken(nsconform_harness::Failure::new("fork", "success", "EAGAIN")));
        assert_eq!(
            diff("row", &parse("PASS pid.a").unwrap(), std::slice::from_ref(&broken)),
            ["row: pid.a: expected PASS, got BROKEN (fork: expected success, observed EAGAIN)"]
        );
        assert!(render("row", &[broken], &BTreeMap::new()).unwrap_err().contains("pid.a"));
        assert!(parse("BROKEN pid.a").unwrap_err().contains("never expected"));
    }

    #[test]
    fn a_new_fail_is_recorded_for_review() {
        let text = render("row", &[record("uts.c", Verdict::fail("s", "e", "o"))], &BTreeMap::new()).unwrap();
        assert!(text.contains("FAIL uts.c: UNREVIEWED"), "{text}");
    }

    #[test]
    fn rejects_malformed_lines() {
        assert_eq!(parse("MAYBE uts.a").unwrap_err(), "line 1: unknown verdict \"MAYBE\"");
        assert_eq!(parse("SKIP uts.a").unwrap_err(), "line 1: a SKIP needs \"ID: reason\"");
        assert_eq!(parse("FAIL uts.a").unwrap_err(), "line 1: a FAIL needs \"ID: upstream reference\" of the known kernel bug");
        assert_eq!(parse("PASS uts.a\nPASS uts.a").unwrap_err(), "line 2: uts.a is listed twice");
    }
}
