//! `nsconform matrix`: runs the kernel matrix of ci/kernels.toml (each row a VM run, or the
//! host), compares every row with its expectations and writes the conformance report.

pub mod expectations;
pub mod report;

use crate::progress;
use nsconform_harness::report::{json::record_from_value, Record};
use report::Column;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
usage: nsconform matrix [OPTIONS]

Runs the rows of the kernel matrix (ci/kernels.toml): each a kernel and config booted in a VM,
or the host's running kernel. Compares each row's verdicts with ci/expectations/ROW.txt and
prints every difference as one line (row, check, expected and observed verdict). Writes
report.md and report.html (the matrix) and, per row, report.json, junit.xml and ktap.txt.

  --rows A,B,...      only these rows
  --fast              only the rows marked fast = true (the quick subset CI runs)
  --jobs N            rows run at once (default: the number of CPUs)
  --out DIR           where reports go (default nsconform-matrix)
  --ci-dir DIR        the project's ci folder (default ci): DIR/kernels.toml, DIR/expectations,
                      and fragment paths taken relative to DIR/.. (an installed binary run
                      outside the repository names a copy of it)
  --file FILE         the matrix (default CI-DIR/kernels.toml)
  --expectations DIR  the expectations (default CI-DIR/expectations)
  --record            write each finished row's verdicts to its expectations file instead of
                      comparing (review the change before committing it)
  --list              print the rows and exit

Exit status: 0 every row ran and matched its expectations, 1 a difference or a row that
produced no report, 2 bad input.";

#[derive(Deserialize)]
struct MatrixFile {
    row: Vec<Row>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Row {
    pub name: String,
    pub kernel: String,
    #[serde(default)]
    pub fragments: Vec<String>,
    #[serde(default)]
    pub fast: bool,
}

struct Options {
    rows: Option<Vec<String>>,
    fast: bool,
    jobs: usize,
    out: PathBuf,
    file: PathBuf,
    expectations: PathBuf,
    /// With --ci-dir, its parent: what relative fragment paths in the matrix are relative to
    /// (without it, the working directory).
    root: Option<PathBuf>,
    record: bool,
    list: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        rows: None,
        fast: false,
        jobs: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        out: "nsconform-matrix".into(),
        file: "ci/kernels.toml".into(),
        expectations: "ci/expectations".into(),
        root: None,
        record: false,
        list: false,
    };
    let (mut file, mut expectations) = (None, None);
    use nsconform_harness::args::{positive, shown, value, Arg};
    let mut parser = nsconform_harness::args::parser(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        let name = shown(&arg);
        match arg {
            Arg::Long("rows") => o.rows = Some(value(&mut parser, &name)?.split(',').map(String::from).collect()),
            Arg::Long("fast") => o.fast = true,
            Arg::Long("jobs") => o.jobs = positive(&mut parser, &name)?,
            Arg::Long("out") => o.out = value(&mut parser, &name)?.into(),
            Arg::Long("ci-dir") => {
                let dir = PathBuf::from(value(&mut parser, &name)?);
                o.file = dir.join("kernels.toml");
                o.expectations = dir.join("expectations");
                o.root = Some(dir.join(".."));
            }
            Arg::Long("file") => file = Some(value(&mut parser, &name)?.into()),
            Arg::Long("expectations") => expectations = Some(value(&mut parser, &name)?.into()),
            Arg::Long("record") => o.record = true,
            Arg::Long("list") => o.list = true,
            _ => return Err(format!("unknown argument {name:?}; see nsconform matrix --help")),
        }
    }
    o.file = file.unwrap_or(o.file);
    o.expectations = expectations.unwrap_or(o.expectations);
    Ok(o)
}

pub fn load(file: &Path) -> Result<Vec<Row>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let matrix: MatrixFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(matrix.row)
}

/// `nsconform matrix ARGS`: returns the exit status.
pub fn main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        nsconform_harness::stdout::line(USAGE);
        return 0;
    }
    match parse(args).and_then(|o| Ok((load(&o.file)?, o))) {
        Err(e) => {
            eprintln!("nsconform matrix: {e}");
            2
        }
        Ok((rows, options)) => run(rows, &options),
    }
}

fn run(all: Vec<Row>, o: &Options) -> i32 {
    if let Some(unknown) = o.rows.iter().flatten().find(|name| !all.iter().any(|r| &r.name == *name)) {
        eprintln!("nsconform matrix: no row named {unknown:?} in {}", o.file.display());
        return 2;
    }
    let rows: Vec<Row> =
        all.into_iter().filter(|r| o.rows.as_ref().is_none_or(|names| names.contains(&r.name)) && (!o.fast || r.fast)).collect();
    if o.list {
        for r in &rows {
            nsconform_harness::stdout::line(&format!("{}\t{}\t{}", r.name, r.kernel, r.fragments.join(" ")));
        }
        return 0;
    }
    if let Err(e) = std::fs::create_dir_all(&o.out) {
        eprintln!("nsconform matrix: {}: {e}", o.out.display());
        return 2;
    }
    let start = Instant::now();
    let mut columns = run_rows(&rows, o);
    let mut differences = Vec::new();
    for (row, column) in rows.iter().zip(columns.iter_mut()) {
        let path = o.expectations.join(format!("{}.txt", row.name));
        let text = match std::fs::read_to_string(&path) {
            Err(e) if o.record && e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            read => read.map_err(|e| e.to_string()),
        };
        if let (false, Some(note)) = (o.record, text.as_deref().ok().and_then(|t| other_host_kernel(row, t))) {
            progress::line(&format!("{}: {note}", row.name));
            continue;
        }
        let expected = text.and_then(|t| expectations::parse(&t));
        let expected = match expected {
            Ok(expected) => expected,
            Err(e) => {
                differences.push(format!("{}: expectations {}: {e}", row.name, path.display()));
                continue;
            }
        };
        column.known = expectations::known_bugs(&expected);
        let Some(records) = &column.records else {
            differences.push(format!("{}: produced no report ({})", row.name, column.note));
            continue;
        };
        if !o.record {
            differences.extend(expectations::diff(&row.name, &expected, records));
            continue;
        }
        match expectations::render(&row.name, records, &expected)
            .map(|text| if row.kernel == "host" { format!("{HOST_KERNEL}{}\n{text}", running_release()) } else { text })
            .and_then(|text| std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display())))
        {
            Ok(()) => progress::line(&format!("{}: recorded {} (review before committing)", row.name, path.display())),
            Err(e) => differences.push(format!("{}: {e}", row.name)),
        }
    }
    for (name, text) in [("report.md", report::markdown(&columns, &differences)), ("report.html", report::html(&columns, &differences))] {
        if let Err(e) = std::fs::write(o.out.join(name), text) {
            differences.push(format!("cannot write {}: {e}", o.out.join(name).display()));
        }
    }
    progress::line(&format!(
        "{} rows in {:.0} s; matrix report {}",
        rows.len(),
        start.elapsed().as_secs_f64(),
        o.out.join("report.html").display()
    ));
    for line in &differences {
        nsconform_harness::stdout::line(&format!("DIFF {line}"));
    }
    if differences.is_empty() {
        nsconform_harness::stdout::line(if o.record { "recorded every row's expectations" } else { "every row matches its expectations" });
        0
    } else {
        nsconform_harness::stdout::line(&format!("{} differences", differences.len()));
        1
    }
}

/// The host row's expectations hold for the kernel they were recorded on, named in this line.
const HOST_KERNEL: &str = "# recorded on Linux ";

fn running_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|r| r.trim().to_string()).unwrap_or_default()
}

/// Why the host row is not compared here: its expectations were recorded on another kernel
/// (a CI runner, another machine); its verdicts are still reported.
fn other_host_kernel(row: &Row, expectations: &str) -> Option<String> {
    let recorded = expectations.lines().find_map(|l| l.strip_prefix(HOST_KERNEL))?;
    let running = running_release();
    (row.kernel == "host" && recorded != running)
        .then(|| format!("expectations recorded on Linux {recorded}, this host runs {running}: verdicts reported, not compared"))
}

fn row_command(row: &Row, dir: &Path, root: Option<&Path>) -> Command {
    // /proc/self/exe: the rows run this very binary, even if a rebuild replaced its file.
    let mut cmd = Command::new("/proc/self/exe");
    if row.kernel == "host" {
        cmd.arg("run");
    } else {
        cmd.args(["vm", "--kernel", &row.kernel, "--out"]).arg(dir.join("vm"));
        for f in &row.fragments {
            cmd.arg("--fragment").arg(root.map_or_else(|| PathBuf::from(f), |r| r.join(f)));
        }
    }
    for (format, file) in [("json", "report.json"), ("junit", "junit.xml"), ("ktap", "ktap.txt")] {
        cmd.arg("--report").arg(format!("{format}={}", dir.join(file).display()));
    }
    cmd
}

/// Runs the rows, at most `jobs` at once, each as a child process of this binary.
fn run_rows(rows: &[Row], o: &Options) -> Vec<Column> {
    let mut columns: Vec<Option<Column>> = rows.iter().map(|_| None).collect();
    let mut running: Vec<(usize, Child, Instant)> = Vec::new();
    let mut next = 0;
    while next < rows.len() || !running.is_empty() {
        while running.len() < o.jobs && next < rows.len() {
            let row = &rows[next];
            let dir = o.out.join(&row.name);
            let _ = std::fs::remove_file(dir.join("report.json"));
            let spawned = std::fs::create_dir_all(&dir).and_then(|_| std::fs::File::create(dir.join("output.log"))).and_then(|log| {
                row_command(row, &dir, o.root.as_deref()).stdout(log.try_clone()?).stderr(log).stdin(Stdio::null()).spawn()
            });
            match spawned {
                Ok(child) => {
                    progress::line(&format!("{}: started ({})", row.name, row.kernel));
                    running.push((next, child, Instant::now()));
                }
                Err(e) => columns[next] = Some(Column::new(&row.name, None, format!("cannot start: {e}"))),
            }
            next += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut i = 0;
        while i < running.len() {
            match running[i].1.try_wait() {
                Ok(Some(status)) => {
                    let (index, _, started) = running.remove(i);
                    columns[index] = Some(finish(&rows[index], &o.out.join(&rows[index].name), status, started.elapsed()));
                }
                _ => i += 1,
            }
        }
    }
    columns.into_iter().map(|c| c.expect("every row ends")).collect()
}

fn finish(row: &Row, dir: &Path, status: std::process::ExitStatus, took: Duration) -> Column {
    let kernel = if row.fragments.is_empty() { row.kernel.clone() } else { format!("{} + {}", row.kernel, row.fragments.join(" + ")) };
    let records = read_report(&dir.join("report.json"));
    let note = match &records {
        Some((release, records)) => format!(
            "{kernel}: Linux {release}, {} checks, exit {}, {:.0} s",
            records.len(),
            status.code().unwrap_or(-1),
            took.as_secs_f64()
        ),
        None => format!("{kernel}: exit {}, no report; see {}", status.code().unwrap_or(-1), dir.join("output.log").display()),
    };
    progress::line(&format!("{}: {note}", row.name));
    Column::new(&row.name, records.map(|(_, r)| r), note)
}

pub(crate) fn read_report(path: &Path) -> Option<(String, Vec<Record>)> {
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let records = doc["checks"].as_array()?.iter().map(record_from_value).collect::<Option<Vec<_>>>()?;
    Some((doc["kernel"].as_str()?.to_string(), records))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_file_parses_and_names_existing_fragments() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let rows = load(&root.join("ci/kernels.toml")).unwrap();
        assert!(rows.iter().any(|r| r.kernel == "host"));
        assert!(rows.iter().filter(|r| r.fast).count() >= 3);
        for row in &rows {
            for f in &row.fragments {
                assert!(root.join(f).exists(), "{}: {f} missing", row.name);
            }
            assert!(root.join("ci/expectations").join(format!("{}.txt", row.name)).exists(), "{}: no expectations", row.name);
        }
    }

    #[test]
    fn host_expectations_are_compared_only_on_their_kernel() {
        let host = Row { name: "host".into(), kernel: "host".into(), fragments: vec![], fast: true };
        let vm = Row { name: "debian-6.1".into(), kernel: "debian:6.1".into(), fragments: vec![], fast: true };
        let here = format!("{HOST_KERNEL}{}\nSKIP a.b: c\n", running_release());
        let elsewhere = format!("{HOST_KERNEL}0.0.0-elsewhere\nSKIP a.b: c\n");
        assert_eq!(other_host_kernel(&host, &here), None);
        assert!(other_host_kernel(&host, &elsewhere).unwrap().contains("0.0.0-elsewhere"));
        assert_eq!(other_host_kernel(&vm, &elsewhere), None);
        assert_eq!(other_host_kernel(&host, "SKIP a.b: c\n"), None);
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ci_dir_names_the_matrix_expectations_and_fragment_root() {
        let o = parse(&args(&["--ci-dir", "/opt/nsconform/ci"])).unwrap();
        assert_eq!(o.file, Path::new("/opt/nsconform/ci/kernels.toml"));
        assert_eq!(o.expectations, Path::new("/opt/nsconform/ci/expectations"));
        let row = Row { name: "r".into(), kernel: "k.tar.xz".into(), fragments: vec!["ci/configs/a.config".into()], fast: false };
        let cmd = row_command(&row, Path::new("out"), o.root.as_deref());
        assert!(cmd.get_args().any(|a| a == "/opt/nsconform/ci/../ci/configs/a.config"), "{cmd:?}");
        // --file and --expectations win whatever their place; without --ci-dir, paths are the working directory's.
        let o = parse(&args(&["--file", "m.toml", "--ci-dir", "/x/ci"])).unwrap();
        assert_eq!((o.file.as_path(), o.expectations.as_path()), (Path::new("m.toml"), Path::new("/x/ci/expectations")));
        let cmd = row_command(&row, Path::new("out"), parse(&[]).unwrap().root.as_deref());
        assert!(cmd.get_args().any(|a| a == "ci/configs/a.config"), "{cmd:?}");
    }
}
