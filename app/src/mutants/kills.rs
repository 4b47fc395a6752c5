//! ci/mutants/kills.txt: per mutant, the checks that killed it in a recorded run (reviewed and
//! committed like ci/expectations/*.txt), and the `--covers` query joining it with the
//! patches' Function headers.

use super::patch::Mutant;
use std::collections::BTreeMap;

/// The pseudo check id recorded for a mutant whose kernel crashed or hung.
pub const CRASH: &str = "crash";

const HEADER: &str = "\
# The checks that killed each kernel mutant of the patches beside this file (NAME: check-id ...;
# `crash`: the mutated kernel panicked or hung; nothing after the colon: it survived). Written by
# `nsconform mutants --record` from a real run, then reviewed; read by `--covers`.
";

/// Parses kills.txt into name -> killers.
pub fn parse(text: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut kills = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, checks) =
            line.split_once(':').ok_or_else(|| format!("line {}: expected `NAME: check-id ...`, found {line:?}", index + 1))?;
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("line {}: bad mutant name {name:?}", index + 1));
        }
        if kills.insert(name.to_string(), checks.split_whitespace().map(String::from).collect()).is_some() {
            return Err(format!("line {}: {name} listed twice", index + 1));
        }
    }
    Ok(kills)
}

/// The file's text: the header, then one sorted line per mutant with its sorted killers.
pub fn render(kills: &BTreeMap<String, Vec<String>>) -> String {
    let mut out = String::from(HEADER);
    for (name, checks) in kills {
        let mut checks = checks.clone();
        checks.sort();
        checks.dedup();
        out.push_str(name);
        out.push(':');
        for c in checks {
            out.push(' ');
            out.push_str(&c);
        }
        out.push('\n');
    }
    out
}

/// The recorded kills updated with this run's, keeping only mutants that still exist.
pub fn merge(old: BTreeMap<String, Vec<String>>, new: BTreeMap<String, Vec<String>>, existing: &[Mutant]) -> BTreeMap<String, Vec<String>> {
    let mut kills: BTreeMap<String, Vec<String>> = old.into_iter().filter(|(name, _)| existing.iter().any(|m| &m.name == name)).collect();
    kills.extend(new);
    kills
}

/// Whether `query` names the mutant's function: the function's name, its file, the whole
/// `file:function`, or a directory holding the file (`kernel/` or `kernel`).
pub fn matches(query: &str, m: &Mutant) -> bool {
    let dir = query.trim_end_matches('/');
    query == m.function || query == m.file || query == m.location() || (!dir.is_empty() && m.file.starts_with(&format!("{dir}/")))
}

/// The answer to `--covers QUERY`: the text, and whether any check covers it.
pub fn covers(query: &str, mutants: &[Mutant], kills: &BTreeMap<String, Vec<String>>) -> (String, bool) {
    let hits: Vec<&Mutant> = mutants.iter().filter(|m| matches(query, m)).collect();
    if hits.is_empty() {
        return (format!("no mutant of {query}\n"), false);
    }
    let mut out = String::new();
    let mut covering: Vec<&str> = Vec::new();
    for m in &hits {
        out.push_str(&format!("{} ({}): {}\n  ", m.name, m.location(), m.breaks));
        match kills.get(&m.name) {
            None => out.push_str(&format!("not recorded in kills.txt (run `nsconform mutants --only {} --record`)\n", m.name)),
            Some(checks) if checks.is_empty() => out.push_str("survived: no check kills it\n"),
            Some(checks) => {
                out.push_str(&format!("killed by {}\n", checks.join(" ")));
                covering.extend(checks.iter().map(String::as_str).filter(|c| *c != CRASH));
            }
        }
    }
    covering.sort();
    covering.dedup();
    let unrecorded = hits.iter().filter(|m| !kills.contains_key(&m.name)).count();
    if covering.is_empty() && unrecorded > 0 {
        out.push_str(&format!("no recorded kill covers {query}: record the mutants above first\n"));
    } else if covering.is_empty() {
        let n = hits.len();
        out.push_str(&format!("no check covers {query}: its {n} mutant{} survived\n", if n == 1 { "" } else { "s" }));
    } else {
        out.push_str(&format!("checks covering {query}: {}\n", covering.join(" ")));
    }
    (out, !covering.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn mutants() -> Vec<Mutant> {
        super::super::patch::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mutants")).unwrap()
    }

    #[test]
    fn round_trips_sorted() {
        let text = "# comment\nb: z.check a.check\na-mutant: crash\nc:\n";
        let kills = parse(text).unwrap();
        assert_eq!(kills["b"], ["z.check", "a.check"]);
        assert!(kills["c"].is_empty());
        let rendered = render(&kills);
        assert!(rendered.starts_with("# The checks that killed"));
        assert!(rendered.ends_with("a-mutant: crash\nb: a.check z.check\nc:\n"), "{rendered}");
        assert_eq!(parse(&rendered).unwrap(), parse("a-mutant: crash\nb: a.check z.check\nc:\n").unwrap());
        assert_eq!(parse("x y\n").unwrap_err(), "line 1: expected `NAME: check-id ...`, found \"x y\"");
        assert_eq!(parse("x: a\nx: b\n").unwrap_err(), "line 2: x listed twice");
    }

    #[test]
    fn merges_a_partial_run_and_drops_removed_mutants() {
        let old = parse("01-uts-hostname-not-copied: uts.a\n02-pid-init-killable: pid.a\n99-net-gone: net.a\n").unwrap();
        let new = parse("02-pid-init-killable: pid.b\n").unwrap();
        let merged = merge(old, new, &mutants());
        assert_eq!(
            render(&merged).lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>(),
            ["01-uts-hostname-not-copied: uts.a", "02-pid-init-killable: pid.b"]
        );
    }

    #[test]
    fn answers_covers_by_function_file_or_directory() {
        let kills =
            parse("01-uts-hostname-not-copied: uts.uname-reflects-namespace uts.new-namespace-copies-names\n02-pid-init-killable:\n")
                .unwrap();
        let ms = mutants();
        for query in ["clone_uts_ns", "kernel/utsname.c", "kernel/utsname.c:clone_uts_ns"] {
            let (text, covered) = covers(query, &ms, &kills);
            assert!(covered, "{query}");
            assert!(
                text.ends_with(&format!("checks covering {query}: uts.new-namespace-copies-names uts.uname-reflects-namespace\n")),
                "{text}"
            );
        }
        let (text, covered) = covers("sig_task_ignored", &ms, &kills);
        assert!(!covered);
        assert!(
            text.contains("survived: no check kills it\n") && text.ends_with("no check covers sig_task_ignored: its 1 mutant survived\n"),
            "{text}"
        );
        let (text, covered) = covers("kernel/", &ms, &kills);
        assert!(covered && text.contains("02-pid-init-killable (kernel/signal.c:sig_task_ignored)"), "{text}");
        assert_eq!(covers("zap_pid_ns_processes", &ms, &kills), ("no mutant of zap_pid_ns_processes\n".to_string(), false));
        assert!(!covers("utsname.c", &ms, &kills).1);
        let (text, _) = covers("clone_uts_ns", &ms, &parse("").unwrap());
        assert!(text.contains("not recorded in kills.txt (run `nsconform mutants --only 01-uts-hostname-not-copied --record`)"), "{text}");
        assert!(text.ends_with("no recorded kill covers clone_uts_ns: record the mutants above first\n"), "{text}");
    }
}
