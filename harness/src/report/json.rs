//! The machine-readable report: the kernel, the counts and one object per check.

use super::{Record, Run, Verdict};
use crate::check::Failure;
use serde_json::{json, Value};
use std::time::Duration;

/// One check's result as a JSON object: its verdict (`verdict_value`) and what the catalogue
/// says of the check.
pub fn record_value(r: &Record) -> Value {
    let mut obj = verdict_value(r);
    obj["kinds"] = json!(r.kinds);
    obj["statement"] = json!(r.statement);
    obj["reference"] = json!(r.reference);
    obj
}

/// What a run found out about one check: its id, verdict (with the reason or the failure)
/// and duration. The line format of `--stream`, whose reader has the catalogue.
pub fn verdict_value(r: &Record) -> Value {
    let mut obj = json!({
        "id": r.id,
        "verdict": r.verdict.word().to_lowercase(),
        "duration_ms": r.duration.as_secs_f64() * 1000.0,
    });
    match &r.verdict {
        Verdict::Pass => {}
        Verdict::Skip(reason) => obj["reason"] = json!(reason),
        Verdict::Fail(f) | Verdict::Broken(f) => {
            obj["step"] = json!(f.step);
            obj["expected"] = json!(f.expected);
            obj["observed"] = json!(f.observed);
            if let Some(bug) = &f.known_bug {
                obj["known_bug"] = json!(bug);
            }
        }
    }
    obj
}

/// The inverse of `verdict_value`: the id, the verdict and the duration; `None` for an
/// object that is not one.
pub fn verdict_from_value(v: &Value) -> Option<(String, Verdict, Duration)> {
    let text = |key: &str| v[key].as_str().map(String::from);
    let failure = || Some(Failure::new(text("step")?, text("expected")?, text("observed")?));
    let verdict = match v["verdict"].as_str()? {
        "pass" => Verdict::Pass,
        "skip" => Verdict::Skip(text("reason")?),
        "fail" | "xfail" => Verdict::Fail(Failure { known_bug: text("known_bug"), ..failure()? }),
        "broken" => Verdict::Broken(failure()?),
        _ => return None,
    };
    Some((text("id")?, verdict, Duration::from_secs_f64(v["duration_ms"].as_f64()? / 1000.0)))
}

/// The inverse of `record_value`; `None` for an object that is not a record.
pub fn record_from_value(v: &Value) -> Option<Record> {
    let (id, verdict, duration) = verdict_from_value(v)?;
    Some(Record {
        id,
        statement: v["statement"].as_str()?.into(),
        reference: v["reference"].as_str()?.into(),
        kinds: serde_json::from_value(v["kinds"].clone()).ok()?,
        verdict,
        duration,
    })
}

pub fn render(run: &Run) -> String {
    let c = run.counts();
    let checks: Vec<Value> = run.records.iter().map(record_value).collect();
    let p = &run.provenance;
    let doc = json!({
        "schema": super::JSON_SCHEMA,
        "nsconform": { "version": p.version, "commit": p.commit },
        "kernel": run.kernel,
        "arch": p.arch,
        "kernel_config": p.config,
        "privilege": p.privilege,
        "started": p.started,
        "duration_ms": run.duration.as_secs_f64() * 1000.0,
        "counts": { "pass": c.pass, "fail": c.fail, "xfail": c.xfail, "skip": c.skip, "broken": c.broken },
        "checks": checks,
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("JSON values always serialize");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use crate::report::fixtures;

    #[test]
    fn records_round_trip() {
        for record in fixtures::run().records {
            let back = super::record_from_value(&super::record_value(&record)).unwrap();
            assert_eq!((back.id, back.verdict, back.kinds), (record.id, record.verdict, record.kinds));
        }
    }

    #[test]
    fn carries_every_field_of_every_verdict() {
        let doc: serde_json::Value = serde_json::from_str(&super::render(&fixtures::run())).unwrap();
        assert_eq!(doc["kernel"], "6.18.44");
        assert_eq!(doc["schema"], super::super::JSON_SCHEMA);
        assert_eq!(doc["nsconform"]["commit"], "abc123");
        assert_eq!(doc["privilege"], "uid 0, CAP_SYS_ADMIN, initial user namespace");
        assert_eq!(doc["started"], "2026-12-01T15:00:00Z");
        assert_eq!(doc["counts"], serde_json::json!({"pass": 1, "fail": 1, "xfail": 1, "skip": 1, "broken": 1}));
        let checks = doc["checks"].as_array().unwrap();
        assert_eq!(checks[0]["verdict"], "pass");
        assert_eq!(checks[0]["kinds"], serde_json::json!(["uts"]));
        assert_eq!(checks[1]["verdict"], "fail");
        assert_eq!(checks[1]["step"], "reading <hostname> & \"domain\"");
        assert_eq!(checks[1]["expected"], "\"a\"");
        assert_eq!(checks[1]["observed"], "\"b\"");
        assert_eq!(checks[2]["verdict"], "skip");
        assert_eq!(checks[2]["reason"], "CONFIG_UTS_NS is not set");
        assert_eq!(checks[3]["verdict"], "broken");
        assert_eq!(checks[3]["observed"], "EAGAIN");
        assert_eq!(checks[4]["verdict"], "xfail");
        assert_eq!(checks[4]["known_bug"], "bug 1");
        assert_eq!(checks[0]["duration_ms"], 1.5);
    }
}
