//! The conformance report across the matrix: kernel/config (columns) x behaviour (rows),
//! grouped by namespace kind, as Markdown and as one self-contained HTML page. A behaviour
//! whose verdict differs between columns is marked, so kernel differences stand out. A FAIL
//! that the row's expectations name as a known kernel bug shows as XFAIL with the bug, apart
//! from a new FAIL; BROKEN (the environment's trouble) shows apart from both.

use nsconform_harness::report::{Record, Verdict};
use std::collections::BTreeMap;

/// One column: a matrix row's name and its records (`None` when the row produced no report).
pub struct Column {
    pub name: String,
    pub records: Option<Vec<Record>>,
    pub note: String,
    /// Known kernel bugs of this row: check id to upstream reference.
    pub known: BTreeMap<String, String>,
}

impl Column {
    pub fn new(name: &str, records: Option<Vec<Record>>, note: String) -> Column {
        Column { name: name.into(), records, note, known: BTreeMap::new() }
    }
}

/// A check's verdict in one column, and the known bug it fails by, if any.
#[derive(Clone, Copy)]
struct Cell<'a> {
    verdict: &'a Verdict,
    known: Option<&'a str>,
}

struct Line<'a> {
    id: &'a str,
    statement: &'a str,
    reference: &'a str,
    cells: Vec<Option<Cell<'a>>>,
}

fn lines(columns: &[Column]) -> BTreeMap<&str, Vec<Line<'_>>> {
    let mut ids: Vec<(&str, &str, &str)> = Vec::new();
    for r in columns.iter().flat_map(|c| c.records.iter().flatten()) {
        if !ids.iter().any(|(id, _, _)| *id == r.id) {
            ids.push((&r.id, &r.statement, &r.reference));
        }
    }
    let mut groups: BTreeMap<&str, Vec<Line>> = BTreeMap::new();
    for (id, statement, reference) in ids {
        let cells = columns
            .iter()
            .map(|c| {
                let record = c.records.as_ref().and_then(|rs| rs.iter().find(|r| r.id == id))?;
                let known = match &record.verdict {
                    Verdict::Fail(f) => c.known.get(id).or(f.known_bug.as_ref()).map(String::as_str),
                    _ => None,
                };
                Some(Cell { verdict: &record.verdict, known })
            })
            .collect();
        let kind = id.split('.').next().unwrap_or("other");
        groups.entry(kind).or_default().push(Line { id, statement, reference, cells });
    }
    groups
}

fn word(cell: Option<Cell>) -> &'static str {
    match cell {
        None => "-",
        Some(Cell { known: Some(_), .. }) => "XFAIL",
        Some(c) => c.verdict.word(),
    }
}

fn detail(cell: Option<Cell>) -> String {
    let Some(cell) = cell else { return String::new() };
    let bug = cell.known.map(|b| format!("known kernel bug: {b}; ")).unwrap_or_default();
    match cell.verdict {
        Verdict::Skip(reason) => reason.clone(),
        Verdict::Fail(f) => format!("{bug}{}: expected {}, observed {}", f.step, f.expected, f.observed),
        Verdict::Broken(f) => format!("broken by the environment: {}: expected {}, observed {}", f.step, f.expected, f.observed),
        Verdict::Pass => String::new(),
    }
}

/// The verdict most columns gave the check (a cell that differs from it stands out).
fn majority(line: &Line) -> Option<&'static str> {
    let words: Vec<&'static str> = line.cells.iter().map(|c| word(*c)).filter(|w| *w != "-").collect();
    // max_by_key keeps the last of equals: a tie goes to PASS.
    ["BROKEN", "FAIL", "XFAIL", "SKIP", "PASS"].into_iter().max_by_key(|w| words.iter().filter(|x| *x == w).count())
}

/// Verdicts differ between the columns that ran the check.
fn differs(line: &Line) -> bool {
    let mut present = line.cells.iter().map(|c| word(*c)).filter(|w| *w != "-");
    let first = present.next();
    present.any(|w| Some(w) != first)
}

/// The known kernel bugs of every column, as `row: check: bug` lines.
fn known_bugs(columns: &[Column]) -> Vec<String> {
    columns.iter().flat_map(|c| c.known.iter().map(move |(id, bug)| format!("{}: {id}: {bug}", c.name))).collect()
}

/// What a reader needs first: the differences from the expectations (what fails the run) and
/// the known kernel bugs.
fn headline_lists(differences: &[String], columns: &[Column]) -> [(&'static str, Vec<String>); 2] {
    [("Differences from the expectations", differences.to_vec()), ("Known kernel bugs (expected FAILs)", known_bugs(columns))]
}

pub fn markdown(columns: &[Column], differences: &[String]) -> String {
    let mut out = String::from("# nsconform conformance matrix\n\n");
    for (title, items) in headline_lists(differences, columns) {
        out.push_str(&format!("## {title}\n\n"));
        if items.is_empty() {
            out.push_str("none\n");
        }
        for item in items {
            out.push_str(&format!("- {}\n", item.replace('|', "\\|")));
        }
        out.push('\n');
    }
    out.push_str("## Rows\n\n");
    for c in columns {
        out.push_str(&format!("- **{}**: {}\n", c.name, c.note));
    }
    out.push_str("\nA behaviour marked ≠ has different verdicts across the columns; XFAIL is a FAIL the row expects because of a known kernel bug, BROKEN a check the environment broke; notes below the tables give every SKIP reason, bug reference and FAIL message.\n");
    let mut notes = Vec::new();
    for (kind, lines) in lines(columns) {
        out.push_str(&format!("\n## {kind}\n\n| behaviour |"));
        for c in columns {
            out.push_str(&format!(" {} |", c.name));
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(columns.len()));
        out.push('\n');
        for line in &lines {
            let mark = if differs(line) { " ≠" } else { "" };
            out.push_str(&format!("| `{}`{mark} |", line.id));
            for (c, cell) in columns.iter().zip(&line.cells) {
                let text = detail(*cell);
                if text.is_empty() {
                    out.push_str(&format!(" {} |", word(*cell)));
                } else {
                    notes.push(format!("{}. {} / `{}`: {}", notes.len() + 1, c.name, line.id, md_cell(&text)));
                    out.push_str(&format!(" {} [{}] |", word(*cell), notes.len()));
                }
            }
            out.push('\n');
        }
    }
    out.push_str("\n## Notes\n\n");
    for n in notes {
        out.push_str(&n);
        out.push('\n');
    }
    out
}

/// Text made safe for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Text made safe for a Markdown table cell.
pub(crate) fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The start of a self-contained report page (no scripts, no external files): the common
/// style plus `css`, and the title as heading. The caller closes body and html.
pub(crate) fn page_start(title: &str, css: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\n\
         body{{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}}\n\
         table{{border-collapse:collapse;margin-bottom:1.5em}}\n\
         th,td{{border:1px solid #ccc;padding:3px 8px;text-align:center}}\n\
         th.kind{{background:#333;color:#fff;text-align:left}}\n\
         td.id{{text-align:left;font-family:monospace}}\n\
         details{{font-size:12px;text-align:left;max-width:22em}}summary{{cursor:pointer}}\n\
         thead th{{position:sticky;top:0;background:#f4f4f4}}\n\
         {css}</style></head><body>\n<h1>{t}</h1>\n",
        t = escape(title)
    )
}

pub fn html(columns: &[Column], differences: &[String]) -> String {
    let mut out = page_start(
        "nsconform conformance matrix",
        "tr.differs td.id{background:#fff3c4}\n\
         td.PASS{background:#d8f5d0}td.FAIL{background:#f7c5c5;font-weight:bold}td.SKIP{background:#e8e8e8}td.none{background:#fff}\n\
         td.XFAIL{background:#e3d5f5}td.BROKEN{background:#ffd9a8;font-style:italic}\n\
         td.odd{outline:2px solid #d08000;outline-offset:-2px}\n\
         table.matrix{table-layout:fixed}table.matrix th:first-child{width:30em}\n\
         table.matrix td:not(.id),table.matrix thead th:not(:first-child){width:7em;overflow-wrap:anywhere}\n\
         body.only-differences tr.same{display:none}\n",
    );
    for (title, items) in headline_lists(differences, columns) {
        out.push_str(&format!("<h2>{}</h2>\n<ul>\n", escape(title)));
        if items.is_empty() {
            out.push_str("<li>none</li>\n");
        }
        for item in items {
            out.push_str(&format!("<li>{}</li>\n", escape(&item)));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<h2>Rows</h2>\n<ul>\n");
    for c in columns {
        out.push_str(&format!("<li><b>{}</b>: {}</li>\n", escape(&c.name), escape(&c.note)));
    }
    out.push_str("</ul>\n<p>Yellow behaviours differ between columns; an outlined cell differs from the verdict most columns gave; XFAIL is a known kernel bug (expected), BROKEN the environment's trouble. Hover or open a cell for its reason or failure.</p>\n\
<p><label><input type=\"checkbox\" onchange=\"document.body.classList.toggle('only-differences', this.checked)\"> show only the behaviours that differ between columns</label></p>\n<table class=\"matrix\">\n<thead><tr><th>behaviour</th>");
    for c in columns {
        out.push_str(&format!("<th>{}</th>", escape(&c.name)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (kind, lines) in lines(columns) {
        out.push_str(&format!("<tr><th class=\"kind\" colspan=\"{}\">{}</th></tr>\n", columns.len() + 1, escape(kind)));
        for line in &lines {
            let class = if differs(line) { " class=\"differs\"" } else { " class=\"same\"" };
            out.push_str(&format!(
                "<tr{class}><td class=\"id\" title=\"{}&#10;{}\">{}</td>",
                escape(line.statement),
                escape(line.reference),
                escape(line.id)
            ));
            let usual = majority(line);
            for cell in &line.cells {
                let text = detail(*cell);
                let w = word(*cell);
                let class = match cell {
                    None => "none".to_string(),
                    Some(_) if Some(w) != usual => format!("{w} odd"),
                    Some(_) => w.to_string(),
                };
                if text.is_empty() {
                    out.push_str(&format!("<td class=\"{class}\">{w}</td>"));
                } else {
                    out.push_str(&format!(
                        "<td class=\"{class}\" title=\"{t}\"><details><summary>{w}</summary>{t}</details></td>",
                        t = escape(&text)
                    ));
                }
            }
            out.push_str("</tr>\n");
        }
    }
    out.push_str("</tbody></table>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(id: &str, verdict: Verdict) -> Record {
        Record { id: id.into(), statement: "s".into(), reference: "r".into(), kinds: vec![], verdict, duration: Duration::ZERO }
    }

    fn columns() -> Vec<Column> {
        vec![
            Column::new("6.1", Some(vec![record("uts.a", Verdict::Pass), record("pid.b", Verdict::Pass)]), "debian:6.1".into()),
            Column::new(
                "no-uts",
                Some(vec![record("uts.a", Verdict::Skip("CONFIG_UTS_NS is not set".into())), record("pid.b", Verdict::Pass)]),
                "minimal".into(),
            ),
            Column::new("broken", None, "no report".into()),
        ]
    }

    #[test]
    fn markdown_groups_by_kind_and_marks_differences() {
        let md = markdown(&columns(), &[]);
        assert!(md.contains("## pid\n\n| behaviour | 6.1 | no-uts | broken |"), "{md}");
        assert!(md.contains("| `uts.a` ≠ | PASS | SKIP [1] | - |"), "{md}");
        assert!(md.contains("| `pid.b` | PASS | PASS | - |"), "{md}");
        assert!(md.contains("1. no-uts / `uts.a`: CONFIG_UTS_NS is not set"), "{md}");
    }

    #[test]
    fn a_known_bug_shows_as_xfail_with_its_reference_apart_from_a_new_fail() {
        let fail = || record("mnt.c", Verdict::fail("bind", "success", "EINVAL"));
        let mut known = Column::new("host", Some(vec![fail()]), "host".into());
        known.known.insert("mnt.c".into(), "upstream bug X".into());
        let columns = [known, Column::new("new", Some(vec![fail()]), "other".into())];
        let md = markdown(&columns, &[]);
        assert!(md.contains("| `mnt.c` ≠ | XFAIL [1] | FAIL [2] |"), "{md}");
        assert!(md.contains("1. host / `mnt.c`: known kernel bug: upstream bug X; bind: expected success, observed EINVAL"), "{md}");
        assert!(html(&columns, &[]).contains("<td class=\"XFAIL"), "XFAIL has its own style");
    }

    #[test]
    fn html_is_self_contained_with_reasons_on_hover_and_click() {
        let page = html(&columns(), &["row: uts.a: expected PASS, got SKIP (why)".to_string()]);
        let first = page.find("Differences from the expectations").unwrap();
        assert!(first < page.find("<table").unwrap() && page.contains("<li>row: uts.a: expected PASS, got SKIP (why)</li>"), "{page}");
        assert!(page.contains("only-differences") && page.contains("<tr class=\"same\">"), "a filter for the differences");
        assert!(page.starts_with("<!DOCTYPE html>") && !page.contains("<script src") && !page.contains("<link"));
        assert!(page.contains("<tr class=\"differs\"><td class=\"id\""), "{page}");
        assert!(page.contains("<td class=\"SKIP odd\" title=\"CONFIG_UTS_NS is not set\"><details><summary>SKIP</summary>CONFIG_UTS_NS is not set</details>"), "{page}");
    }
}
