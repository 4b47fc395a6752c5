//! The mutants report, next to the matrix report: mutants.md, a self-contained mutants.html
//! and mutants.json. The score (killed/total, per kind) first, then every mutant, survivors
//! first, then errors, crashes and kills.

use super::kills::CRASH;
use super::patch::Mutant;
use crate::matrix::report::{escape, md_cell, page_start};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// At least one check FAILed.
    Killed,
    /// The mutated kernel panicked, hung or stopped before the run finished.
    Crashed(String),
    /// Every check passed or skipped.
    Survived,
    /// The patch does not apply to the tree (an error of the mutant).
    ApplyError(String),
    /// The mutated kernel does not build (an error of the mutant).
    BuildError(String),
    /// The tooling failed (QEMU, the VM runner).
    Error(String),
}

impl Fate {
    pub fn killed(&self) -> bool {
        matches!(self, Fate::Killed | Fate::Crashed(_))
    }

    pub fn word(&self) -> &'static str {
        match self {
            Fate::Killed => "killed",
            Fate::Crashed(_) => "killed by crash",
            Fate::Survived => "survived",
            Fate::ApplyError(_) => "apply error",
            Fate::BuildError(_) => "build error",
            Fate::Error(_) => "error",
        }
    }

    /// The report's order: survivors first, then errors, crashes, kills.
    fn rank(&self) -> u8 {
        match self {
            Fate::Survived => 0,
            Fate::ApplyError(_) | Fate::BuildError(_) | Fate::Error(_) => 1,
            Fate::Crashed(_) => 2,
            Fate::Killed => 3,
        }
    }

    fn detail(&self) -> &str {
        match self {
            Fate::Crashed(s) | Fate::ApplyError(s) | Fate::BuildError(s) | Fate::Error(s) => s,
            Fate::Killed | Fate::Survived => "",
        }
    }

    fn class(&self) -> &'static str {
        match self {
            Fate::Killed => "killed",
            Fate::Crashed(_) => "crash",
            Fate::Survived => "survived",
            _ => "error",
        }
    }
}

/// One mutant's result.
#[derive(Clone, Debug)]
pub struct Entry {
    pub mutant: Mutant,
    pub fate: Fate,
    /// The checks that FAILed.
    pub killers: Vec<String>,
    pub build: Option<Duration>,
    pub boot: Option<Duration>,
    /// The whole cycle: apply, build, boot, revert.
    pub cycle: Option<Duration>,
    pub note: String,
}

impl Entry {
    /// The expected killers that did not fail.
    pub fn missing_expected(&self) -> Vec<&str> {
        self.mutant.expect.iter().filter(|e| !self.killers.contains(e)).map(String::as_str).collect()
    }

    /// Whether the expected killers were among the killers: all, some or none.
    pub fn expected(&self) -> &'static str {
        let missing = self.missing_expected().len();
        if !matches!(self.fate, Fate::Killed | Fate::Crashed(_) | Fate::Survived) {
            "-"
        } else if missing == 0 {
            "all"
        } else if missing < self.mutant.expect.len() {
            "some"
        } else {
            "none"
        }
    }

    pub fn headline(&self) -> String {
        match &self.fate {
            Fate::Killed => format!("KILLED by {} (expected killers: {})", self.killers.join(" "), self.expected()),
            Fate::Crashed(why) => format!("KILLED BY CRASH: {why}"),
            Fate::Survived => format!("SURVIVED: no check failed (expected {})", self.mutant.expect.join(" ")),
            other => format!("{}: {}", other.word().to_uppercase(), other.detail()),
        }
    }

    /// The line kills.txt gets: the killers (plus `crash`), none for a survivor; errors are
    /// not recorded.
    pub fn recorded_kills(&self) -> Option<Vec<String>> {
        match self.fate {
            Fate::Killed | Fate::Survived => Some(self.killers.clone()),
            Fate::Crashed(_) => Some(self.killers.iter().cloned().chain([CRASH.to_string()]).collect()),
            _ => None,
        }
    }
}

/// The run around the mutants.
pub struct Summary {
    pub kernel: String,
    pub tree: String,
    pub checks: usize,
    pub baseline_build: Duration,
    pub baseline_boot: Duration,
    pub wall: Duration,
    /// Why the run stopped early (an unclean tree), if it did.
    pub aborted: Option<String>,
}

/// Killed (including by crash) and total.
pub fn score(entries: &[Entry]) -> (usize, usize) {
    (entries.iter().filter(|e| e.fate.killed()).count(), entries.len())
}

fn per_kind(entries: &[Entry]) -> BTreeMap<&str, (usize, usize)> {
    let mut kinds: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for e in entries {
        let k = kinds.entry(e.mutant.kind.as_str()).or_default();
        k.0 += usize::from(e.fate.killed());
        k.1 += 1;
    }
    kinds
}

fn ordered(entries: &[Entry]) -> Vec<&Entry> {
    let mut v: Vec<&Entry> = entries.iter().collect();
    v.sort_by(|a, b| (a.fate.rank(), &a.mutant.name).cmp(&(b.fate.rank(), &b.mutant.name)));
    v
}

fn seconds(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.1}", d.as_secs_f64())).unwrap_or_else(|| "-".into())
}

fn intro(s: &Summary, entries: &[Entry]) -> Vec<String> {
    let (killed, total) = score(entries);
    let mut lines = vec![
        format!(
            "Score: {killed}/{total} mutants killed ({} by a crash)",
            entries.iter().filter(|e| matches!(e.fate, Fate::Crashed(_))).count()
        ),
        format!(
            "Kernel: Linux {} built in {}; the unmutated kernel is green: {} checks in {:.1} s",
            s.kernel,
            s.tree,
            s.checks,
            s.baseline_boot.as_secs_f64()
        ),
        format!("Wall time {:.0} s (of which the unmutated build {:.1} s)", s.wall.as_secs_f64(), s.baseline_build.as_secs_f64()),
    ];
    if let Some(why) = &s.aborted {
        lines.push(format!("The run STOPPED early: {why}"));
    }
    lines
}

pub fn markdown(s: &Summary, entries: &[Entry]) -> String {
    let mut out = String::from("# nsconform kernel mutants\n\n");
    for line in intro(s, entries) {
        out.push_str(&format!("- {line}\n"));
    }
    out.push_str("\nA mutant is killed when at least one check FAILs; a kernel that panics or hangs kills it \"by crash\". Every mutant must be killed.\n\n| kind | killed | total |\n|---|---|---|\n");
    for (kind, (killed, total)) in per_kind(entries) {
        out.push_str(&format!("| {kind} | {killed} | {total} |\n"));
    }
    out.push_str("\n## Mutants\n\n| mutant | kind | function | breaks | verdict | killed by | expected killers among them | build s | boot s |\n|---|---|---|---|---|---|---|---|---|\n");
    for e in ordered(entries) {
        let m = &e.mutant;
        let verdict = match e.fate.detail() {
            "" => e.fate.word().to_uppercase(),
            d => format!("{}: {}", e.fate.word().to_uppercase(), md_cell(d)),
        };
        let killers =
            if e.killers.is_empty() { "-".to_string() } else { e.killers.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" ") };
        let missing = e.missing_expected();
        let expected = if missing.is_empty() || e.expected() == "-" {
            e.expected().to_string()
        } else {
            format!("{} (not: {})", e.expected(), missing.join(" "))
        };
        out.push_str(&format!(
            "| `{}`{} | {} | `{}` | {} | {verdict} | {killers} | {expected} | {} | {} |\n",
            m.name,
            if m.subtle { " (subtle)" } else { "" },
            m.kind,
            m.location(),
            md_cell(&m.breaks),
            seconds(e.build),
            seconds(e.boot)
        ));
    }
    out
}

pub fn html(s: &Summary, entries: &[Entry]) -> String {
    let mut out = page_start(
        "nsconform kernel mutants",
        "td.l{text-align:left}\n\
         tr.survived td.v{background:#f7c5c5;font-weight:bold}tr.error td.v{background:#ffd9a8}tr.crash td.v{background:#e3d4f5}tr.killed td.v{background:#d8f5d0}\n",
    );
    out.push_str("<ul>\n");
    for line in intro(s, entries) {
        out.push_str(&format!("<li>{}</li>\n", escape(&line)));
    }
    out.push_str("</ul>\n<p>A mutant is killed when at least one check FAILs; a kernel that panics or hangs kills it \"by crash\" (violet). Survivors (red) and errors (orange) come first.</p>\n");
    out.push_str("<table>\n<thead><tr><th>kind</th><th>killed</th><th>total</th></tr></thead>\n<tbody>\n");
    for (kind, (killed, total)) in per_kind(entries) {
        out.push_str(&format!("<tr><td class=\"l\">{}</td><td>{killed}</td><td>{total}</td></tr>\n", escape(kind)));
    }
    out.push_str("</tbody></table>\n<table>\n<thead><tr><th>mutant</th><th>kind</th><th>function</th><th>breaks</th><th>verdict</th><th>killed by</th><th>expected killers among them</th><th>build s</th><th>boot s</th></tr></thead>\n<tbody>\n");
    for e in ordered(entries) {
        let m = &e.mutant;
        let verdict = match e.fate.detail() {
            "" => escape(&e.fate.word().to_uppercase()),
            d => format!("<details><summary>{}</summary>{}</details>", escape(&e.fate.word().to_uppercase()), escape(d)),
        };
        let missing = e.missing_expected();
        let expected_title =
            if missing.is_empty() { String::new() } else { format!(" title=\"not among them: {}\"", escape(&missing.join(" "))) };
        out.push_str(&format!(
            "<tr class=\"{}\"><td class=\"id\" title=\"{}\">{}{}</td><td>{}</td><td class=\"id\">{}</td><td class=\"l\">{}</td><td class=\"v\">{verdict}</td><td class=\"id\">{}</td><td{expected_title}>{}</td><td>{}</td><td>{}</td></tr>\n",
            e.fate.class(),
            escape(&e.note),
            escape(&m.name),
            if m.subtle { " (subtle)" } else { "" },
            escape(&m.kind),
            escape(&m.location()),
            escape(&m.breaks),
            e.killers.iter().map(|k| escape(k)).collect::<Vec<_>>().join("<br>"),
            e.expected(),
            seconds(e.build),
            seconds(e.boot)
        ));
    }
    out.push_str("</tbody></table>\n</body></html>\n");
    out
}

pub fn json(s: &Summary, entries: &[Entry]) -> String {
    let (killed, total) = score(entries);
    let kinds: serde_json::Map<String, serde_json::Value> =
        per_kind(entries).into_iter().map(|(k, (killed, total))| (k.to_string(), json!({"killed": killed, "total": total}))).collect();
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    let mutants: Vec<serde_json::Value> = ordered(entries)
        .into_iter()
        .map(|e| {
            let m = &e.mutant;
            json!({
                "name": m.name,
                "kind": m.kind,
                "function": m.location(),
                "breaks": m.breaks,
                "subtle": m.subtle,
                "verdict": e.fate.word(),
                "killed": e.fate.killed(),
                "detail": e.fate.detail(),
                "killed_by": e.killers,
                "expected": m.expect,
                "expected_among_killers": e.expected(),
                "expected_missing": e.missing_expected(),
                "build_s": secs(e.build),
                "boot_s": secs(e.boot),
                "cycle_s": secs(e.cycle),
                "note": e.note,
            })
        })
        .collect();
    let doc = json!({
        "kernel": s.kernel,
        "tree": s.tree,
        "checks": s.checks,
        "baseline_build_s": s.baseline_build.as_secs_f64(),
        "baseline_boot_s": s.baseline_boot.as_secs_f64(),
        "wall_s": s.wall.as_secs_f64(),
        "aborted": s.aborted,
        "score": {"killed": killed, "total": total, "per_kind": kinds},
        "mutants": mutants,
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("JSON values always serialize");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn entries() -> Vec<Entry> {
        let ms = super::super::patch::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mutants")).unwrap();
        vec![
            Entry {
                mutant: ms[0].clone(),
                fate: Fate::Killed,
                killers: vec!["uts.new-namespace-copies-names".into(), "uts.x".into()],
                build: Some(Duration::from_millis(8100)),
                boot: Some(Duration::from_millis(6200)),
                cycle: None,
                note: "vm exit 1".into(),
            },
            Entry {
                mutant: ms[1].clone(),
                fate: Fate::Survived,
                killers: vec![],
                build: Some(Duration::from_secs(9)),
                boot: Some(Duration::from_secs(6)),
                cycle: None,
                note: "vm exit 0".into(),
            },
        ]
    }

    fn summary() -> Summary {
        Summary {
            kernel: "6.12.57".into(),
            tree: "/cache/t".into(),
            checks: 152,
            baseline_build: Duration::from_secs(200),
            baseline_boot: Duration::from_secs(7),
            wall: Duration::from_secs(240),
            aborted: None,
        }
    }

    #[test]
    fn markdown_lists_survivors_first_with_the_score() {
        let md = markdown(&summary(), &entries());
        assert!(md.contains("- Score: 1/2 mutants killed (0 by a crash)\n"), "{md}");
        assert!(md.contains("| pid | 0 | 1 |\n| uts | 1 | 1 |\n"), "{md}");
        let survivor = md.find("| `02-pid-init-killable` (subtle) | pid | `kernel/signal.c:sig_task_ignored` |").expect(&md);
        let killed = md.find("| `01-uts-hostname-not-copied` | uts |").expect(&md);
        assert!(survivor < killed);
        assert!(
            md.contains("| KILLED | `uts.new-namespace-copies-names` `uts.x` | some (not: uts.uname-reflects-namespace) | 8.1 | 6.2 |"),
            "{md}"
        );
    }

    #[test]
    fn html_is_self_contained_and_json_carries_every_field() {
        let page = html(&summary(), &entries());
        assert!(page.starts_with("<!DOCTYPE html>") && !page.contains("<script") && !page.contains("<link"));
        assert!(page.find("<tr class=\"survived\">").unwrap() < page.find("<tr class=\"killed\">").unwrap(), "{page}");
        let doc: serde_json::Value = serde_json::from_str(&json(&summary(), &entries())).unwrap();
        assert_eq!(doc["score"]["killed"], 1);
        assert_eq!(doc["score"]["per_kind"]["uts"]["total"], 1);
        let first = &doc["mutants"][0];
        assert_eq!(
            (first["name"].as_str(), first["verdict"].as_str(), first["killed"].as_bool()),
            (Some("02-pid-init-killable"), Some("survived"), Some(false))
        );
        let second = &doc["mutants"][1];
        assert_eq!(second["function"], "kernel/utsname.c:clone_uts_ns");
        assert_eq!(second["killed_by"][1], "uts.x");
        assert_eq!(second["expected_missing"][0], "uts.uname-reflects-namespace");
        assert_eq!(second["build_s"], 8.1);
    }

    #[test]
    fn records_kills_with_crash_and_not_errors() {
        let mut e = entries().remove(0);
        assert_eq!(e.recorded_kills().unwrap().len(), 2);
        e.fate = Fate::Crashed("panic".into());
        assert_eq!(e.recorded_kills().unwrap().last().unwrap(), "crash");
        e.fate = Fate::BuildError("x".into());
        assert_eq!(e.recorded_kills(), None);
    }
}
