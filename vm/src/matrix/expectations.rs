//! Expected verdicts of a matrix row (ci/expectations/ROW.txt): one line per check,
//! `PASS id`, `FAIL id` or `SKIP id: reason`. A run is compared with them check by check;
//! every difference is one line naming the row, the check and both verdicts.

use nsconform_harness::report::{Record, Verdict};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    Pass,
    Fail,
    Skip(String),
}

impl Expected {
    fn of(verdict: &Verdict) -> Expected {
        match verdict {
            Verdict::Pass => Expected::Pass,
            Verdict::Fail(_) => Expected::Fail,
            Verdict::Skip(reason) => Expected::Skip(reason.clone()),
        }
    }

    fn show(&self) -> String {
        match self {
            Expected::Pass => "PASS".into(),
            Expected::Fail => "FAIL".into(),
            Expected::Skip(reason) => format!("SKIP ({reason})"),
        }
    }
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
            "FAIL" => (rest.to_string(), Expected::Fail),
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

pub fn render(row: &str, records: &[Record]) -> String {
    let mut out = format!("# Expected verdicts of the matrix row {row}: recorded from a real run, then reviewed.\n");
    for r in records {
        match &r.verdict {
            Verdict::Pass => out.push_str(&format!("PASS {}\n", r.id)),
            Verdict::Fail(_) => out.push_str(&format!("FAIL {}\n", r.id)),
            Verdict::Skip(reason) => out.push_str(&format!("SKIP {}: {reason}\n", r.id)),
        }
    }
    out
}

/// The differences between a row's run and its expectations, one line each.
pub fn diff(row: &str, expected: &BTreeMap<String, Expected>, records: &[Record]) -> Vec<String> {
    let mut lines = Vec::new();
    for r in records {
        let got = Expected::of(&r.verdict);
        match expected.get(&r.id) {
            None => lines.push(format!("{row}: {}: no expectation, got {}", r.id, got.show())),
            Some(want) if *want != got => lines.push(format!("{row}: {}: expected {}, got {}", r.id, want.show(), got.show())),
            Some(_) => {}
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
        let expected = parse(&render("row", &run)).unwrap();
        assert!(diff("row", &expected, &run).is_empty());

        let flipped = parse("PASS uts.a\nPASS uts.b\nFAIL uts.c\nPASS uts.gone\n").unwrap();
        assert_eq!(
            diff("row", &flipped, &run),
            [
                "row: uts.b: expected PASS, got SKIP (CONFIG_UTS_NS is not set)",
                "row: uts.gone: expected PASS, but the check did not run",
            ]
        );
        let mut more = run.clone();
        more.push(record("uts.new", Verdict::Pass));
        assert_eq!(diff("row", &expected, &more), ["row: uts.new: no expectation, got PASS"]);
    }

    #[test]
    fn rejects_malformed_lines() {
        assert_eq!(parse("MAYBE uts.a").unwrap_err(), "line 1: unknown verdict \"MAYBE\"");
        assert_eq!(parse("SKIP uts.a").unwrap_err(), "line 1: a SKIP needs \"ID: reason\"");
        assert_eq!(parse("PASS uts.a\nPASS uts.a").unwrap_err(), "line 2: uts.a is listed twice");
    }
}
