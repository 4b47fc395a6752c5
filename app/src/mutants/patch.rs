//! A mutant: a small deliberate bug in the kernel's namespace code, one file
//! `NN-kind-short-name.patch` in ci/mutants/. Header lines `Key: value` come first, then a
//! line `---`, then a git-style unified diff against the kernel tree:
//!
//! ```text
//! Kind: pid
//! Function: kernel/pid_namespace.c:zap_pid_ns_processes
//! Breaks: init's death no longer kills the other processes of its namespace
//! Expect: pid.init-death-kills-namespace
//! Subtle: no
//! ---
//! diff --git a/kernel/pid_namespace.c b/kernel/pid_namespace.c
//! ...
//! ```

use std::path::{Path, PathBuf};

/// The namespace kinds a mutant may target (`nsfs`: setns, ioctl_ns, /proc/PID/ns).
pub const KINDS: &[&str] = &["uts", "ipc", "pid", "user", "mnt", "net", "cgroup", "time", "nsfs"];
const KEYS: &[&str] = &["Kind", "Function", "Breaks", "Expect", "Subtle"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutant {
    /// The file stem, e.g. `03-pid-zap-skips-kill`.
    pub name: String,
    pub path: PathBuf,
    pub kind: String,
    /// The mutated file, e.g. `kernel/pid_namespace.c`.
    pub file: String,
    /// The mutated function, e.g. `zap_pid_ns_processes`.
    pub function: String,
    /// What the mutant breaks, one line.
    pub breaks: String,
    /// The checks expected to kill it.
    pub expect: Vec<String>,
    pub subtle: bool,
    /// The unified diff (everything after the `---` line).
    pub diff: String,
}

impl Mutant {
    /// `file:function`, as the header gives it.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.function)
    }
}

/// Parses one patch file's text; `path` names it in errors (`FILE:LINE: message`).
pub fn parse(path: &Path, text: &str) -> Result<Mutant, String> {
    let shown = path.display();
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = file_name
        .strip_suffix(".patch")
        .ok_or_else(|| format!("{shown}: a mutant's file name ends in .patch (NN-kind-short-name.patch)"))?
        .to_string();
    let mut parts = name.splitn(3, '-');
    let (number, name_kind, rest) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) || rest.is_empty() || !KINDS.contains(&name_kind) {
        return Err(format!("{shown}: the file name is not NN-kind-short-name.patch with kind one of {}", KINDS.join(" ")));
    }

    let mut values: Vec<(&str, String, usize)> = Vec::new();
    let mut diff_start = None;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        offset += line.len();
        let line = line.trim_end_matches(['\n', '\r']);
        if line == "---" {
            diff_start = Some(offset);
            break;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if ["diff ", "--- ", "+++ ", "@@ "].iter().any(|p| line.starts_with(p)) {
            return Err(format!("{shown}:{number}: the diff begins before the `---` line that ends the headers"));
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("{shown}:{number}: expected a header line `Key: value` or the `---` line before the diff, found {line:?}"));
        };
        let Some(key) = KEYS.iter().find(|k| **k == key.trim()) else {
            return Err(format!("{shown}:{number}: unknown header {:?} (the headers are {})", key.trim(), KEYS.join(", ")));
        };
        if values.iter().any(|(k, _, _)| k == key) {
            return Err(format!("{shown}:{number}: {key} given twice"));
        }
        let value = value.trim().to_string();
        if value.is_empty() {
            return Err(format!("{shown}:{number}: {key} is empty"));
        }
        values.push((key, value, number));
    }
    let Some(diff_start) = diff_start else {
        return Err(format!("{shown}: no `---` line between the headers and the diff"));
    };
    let get = |key: &str| -> Result<(String, usize), String> {
        values
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, v, n)| (v.clone(), *n))
            .ok_or_else(|| format!("{shown}: the header {key}: is missing (every mutant has {})", KEYS.join(", ")))
    };
    let (kind, kind_line) = get("Kind")?;
    if !KINDS.contains(&kind.as_str()) {
        return Err(format!("{shown}:{kind_line}: unknown kind {kind:?} (one of {})", KINDS.join(" ")));
    }
    if kind != name_kind {
        return Err(format!("{shown}:{kind_line}: Kind: {kind} but the file name says {name_kind}"));
    }
    let (function, function_line) = get("Function")?;
    let (file, func) = function
        .rsplit_once(':')
        .filter(|(f, func)| !f.is_empty() && !func.is_empty() && !func.contains(char::is_whitespace))
        .ok_or_else(|| format!("{shown}:{function_line}: Function: wants path/file.c:function, not {function:?}"))?;
    let (breaks, _) = get("Breaks")?;
    let (expect, _) = get("Expect")?;
    let (subtle, subtle_line) = get("Subtle")?;
    let subtle = match subtle.as_str() {
        "yes" => true,
        "no" => false,
        other => return Err(format!("{shown}:{subtle_line}: Subtle: wants yes or no, not {other:?}")),
    };
    let diff = text[diff_start..].to_string();
    let touched = touched_files(&diff);
    if touched.is_empty() {
        return Err(format!("{shown}: no unified diff after the `---` line (no `+++ b/FILE` line)"));
    }
    if !touched.iter().any(|t| t == file) {
        return Err(format!("{shown}:{function_line}: the diff does not touch {file} (it touches {})", touched.join(", ")));
    }
    Ok(Mutant {
        name,
        path: path.to_path_buf(),
        kind,
        file: file.to_string(),
        function: func.to_string(),
        breaks,
        expect: expect.split_whitespace().map(String::from).collect(),
        subtle,
        diff,
    })
}

/// The files a diff changes (its `+++ b/FILE` lines).
pub fn touched_files(diff: &str) -> Vec<String> {
    diff.lines().filter_map(|l| l.strip_prefix("+++ b/")).map(|f| f.trim_end().to_string()).collect()
}

/// The files a diff creates (`--- /dev/null` followed by `+++ b/FILE`).
pub fn created_files(diff: &str) -> Vec<String> {
    let lines: Vec<&str> = diff.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].starts_with("--- /dev/null"))
        .filter_map(|w| w[1].strip_prefix("+++ b/"))
        .map(|f| f.trim_end().to_string())
        .collect()
}

/// Every `*.patch` of `dir`, parsed, sorted by name. A missing directory is an error.
pub fn load_dir(dir: &Path) -> Result<Vec<Mutant>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> =
        entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "patch")).collect();
    paths.sort();
    let mut mutants = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        mutants.push(parse(&path, &text)?);
    }
    Ok(mutants)
}

/// The mutants `--only` names: each token a file stem or a part of one (every token must
/// name at least one mutant).
pub fn select<'a>(mutants: &'a [Mutant], only: &[String]) -> Result<Vec<&'a Mutant>, String> {
    if only.is_empty() {
        return Ok(mutants.iter().collect());
    }
    if let Some(token) = only.iter().find(|t| !mutants.iter().any(|m| is_named(m, t))) {
        return Err(format!("--only {token:?} names no mutant"));
    }
    Ok(mutants.iter().filter(|m| only.iter().any(|t| is_named(m, t))).collect())
}

/// A number names the mutant with that number (`01` is not `101`); other text, every mutant
/// whose name contains it.
fn is_named(m: &Mutant, token: &str) -> bool {
    if token.bytes().all(|b| b.is_ascii_digit()) {
        return m.name.split('-').next() == Some(token);
    }
    m.name == token || m.name.contains(token)
}

/// Parses `I/N` (1 <= I <= N).
pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard wants I/N with 1 <= I <= N, not {text:?}");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if i == 0 || n == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Shard I of N: every Nth mutant of the sorted selection, starting with the Ith, so each
/// shard gets a share of every kind.
pub fn shard<T>(items: Vec<T>, (i, n): (usize, usize)) -> Vec<T> {
    items.into_iter().enumerate().filter(|(index, _)| index % n == i - 1).map(|(_, m)| m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mutants")
    }

    fn header(extra: &str) -> String {
        format!(
            "Kind: uts\nFunction: kernel/utsname.c:copy_utsname\nBreaks: b\nExpect: uts.a\nSubtle: no\n{extra}---\n\
             diff --git a/kernel/utsname.c b/kernel/utsname.c\n--- a/kernel/utsname.c\n+++ b/kernel/utsname.c\n@@ -1 +1 @@\n-a\n+b\n"
        )
    }

    #[test]
    fn parses_the_fixtures() {
        let mutants = load_dir(&fixtures()).unwrap();
        let names: Vec<&str> = mutants.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["01-uts-hostname-not-copied", "02-pid-init-killable"]);
        let m = &mutants[0];
        assert_eq!((m.kind.as_str(), m.file.as_str(), m.function.as_str()), ("uts", "kernel/utsname.c", "clone_uts_ns"));
        assert_eq!(m.location(), "kernel/utsname.c:clone_uts_ns");
        assert_eq!(m.expect, ["uts.new-namespace-copies-names", "uts.uname-reflects-namespace"]);
        assert!(!m.subtle && mutants[1].subtle);
        assert!(m.diff.starts_with("diff --git a/kernel/utsname.c b/kernel/utsname.c\n"), "{}", m.diff);
        assert_eq!(touched_files(&m.diff), ["kernel/utsname.c"]);
    }

    #[test]
    fn names_the_file_and_line_of_a_bad_header() {
        let p = Path::new("ci/mutants/01-uts-x.patch");
        let cases = [
            (
                header("").replace("Kind: uts", "Kind: utz"),
                "ci/mutants/01-uts-x.patch:1: unknown kind \"utz\" (one of uts ipc pid user mnt net cgroup time nsfs)",
            ),
            (
                header("").replace("Breaks: b\n", ""),
                "ci/mutants/01-uts-x.patch: the header Breaks: is missing (every mutant has Kind, Function, Breaks, Expect, Subtle)",
            ),
            (
                header("Expects: uts.b\n"),
                "ci/mutants/01-uts-x.patch:6: unknown header \"Expects\" (the headers are Kind, Function, Breaks, Expect, Subtle)",
            ),
            (header("Subtle: no\n"), "ci/mutants/01-uts-x.patch:6: Subtle given twice"),
            (header("").replace("Subtle: no", "Subtle: maybe"), "ci/mutants/01-uts-x.patch:5: Subtle: wants yes or no, not \"maybe\""),
            (
                header("").replace("copy_utsname", ""),
                "ci/mutants/01-uts-x.patch:2: Function: wants path/file.c:function, not \"kernel/utsname.c:\"",
            ),
            (
                header("").replace("kernel/utsname.c:copy", "kernel/nsproxy.c:copy"),
                "ci/mutants/01-uts-x.patch:2: the diff does not touch kernel/nsproxy.c (it touches kernel/utsname.c)",
            ),
            (header("").replace("---\n", ""), "ci/mutants/01-uts-x.patch:6: the diff begins before the `---` line that ends the headers"),
            ("Kind: uts\n".to_string(), "ci/mutants/01-uts-x.patch: no `---` line between the headers and the diff"),
            (header("").replace("Kind: uts", "Kind: pid"), "ci/mutants/01-uts-x.patch:1: Kind: pid but the file name says uts"),
            (
                header("garbage\n"),
                "ci/mutants/01-uts-x.patch:6: expected a header line `Key: value` or the `---` line before the diff, found \"garbage\"",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(parse(p, &text).unwrap_err(), message);
        }
        assert!(parse(p, &header("# a comment\n\n")).is_ok());
        let e = parse(Path::new("x/uts-nonumber.patch"), &header("")).unwrap_err();
        assert!(e.starts_with("x/uts-nonumber.patch: the file name is not NN-kind-short-name.patch"), "{e}");
    }

    #[test]
    fn selects_by_name_or_part_and_shards_round_robin() {
        let mutants = load_dir(&fixtures()).unwrap();
        let names = |v: Vec<&Mutant>| v.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(select(&mutants, &["02".into()]).unwrap()), ["02-pid-init-killable"]);
        assert_eq!(names(select(&mutants, &["01-uts-hostname-not-copied".into(), "pid".into()]).unwrap()).len(), 2);
        assert_eq!(select(&mutants, &["07".into()]).unwrap_err(), "--only \"07\" names no mutant");
        assert_eq!(
            select(&mutants, &["2".into()]).unwrap_err(),
            "--only \"2\" names no mutant",
            "a number names its mutant, not 02 or 102"
        );
        let items: Vec<u32> = (0..10).collect();
        assert_eq!(shard(items.clone(), (1, 4)), [0, 4, 8]);
        assert_eq!(shard(items.clone(), (4, 4)), [3, 7]);
        let mut all: Vec<u32> = (1..=4).flat_map(|i| shard(items.clone(), (i, 4))).collect();
        all.sort();
        assert_eq!(all, items);
        assert_eq!(parse_shard("2/4"), Ok((2, 4)));
        for bad in ["0/4", "5/4", "2", "a/b", "1/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn finds_created_files() {
        let diff = "diff --git a/x.c b/x.c\nnew file mode 100644\n--- /dev/null\n+++ b/x.c\n@@ -0,0 +1 @@\n+a\n";
        assert_eq!(created_files(diff), ["x.c"]);
        assert!(created_files(&header("")).is_empty());
    }
}
