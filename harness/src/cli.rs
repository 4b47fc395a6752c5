//! The command line shared by `cargo test` (the suites' test target has `harness = false`)
//! and `nsconform run`: name filters, the catalogue, report files, and the libtest flags
//! that `cargo test` and `cargo nextest` pass.

use crate::check::Check;
use crate::report::{ktap, terminal, Format, Provenance, Record, Run, Verdict};
use std::io::Write;
use std::time::Instant;

pub const USAGE: &str = "\
usage: nsconform run [OPTIONS] [FILTER...]
       cargo test --test conformance -- [OPTIONS] [FILTER...]

Runs namespace conformance checks against the running kernel, each in forked children in
fresh namespaces, and prints one line per check: PASS, FAIL (with the step, the expected and
the observed value), SKIP (with the reason) or BROKEN (the environment or the harness failed,
e.g. a resource limit refused a fork: the check says nothing about the kernel).

  FILTER                 run the checks whose id contains FILTER (any of several)
  --exact                FILTERs must equal the id
  --skip PATTERN         leave out checks whose id contains PATTERN (repeatable)
  --list                 print the catalogue (id, behaviour, reference, needs) and exit
  --report FORMAT=FILE   also write a report: FORMAT is ktap, junit or json; FILE '-' is stdout
                         (repeatable; the variable NSCONFORM_REPORT=FORMAT=FILE,... does the same)
  --stream FILE          also write each result as a JSON line to FILE as soon as it is known
                         (the VM runner's guest uses it)
  -j, --jobs N           run up to N checks at the same time (default: the CPUs this process may
                         use; 1 runs them one after another). Checks declared to run alone or
                         in a group never overlap. Results are printed in catalogue order.
  -q, --quiet            print only failures and the summary
  -h, --help             print this help
  -V, --version          print the version and the commit it was built from
  --                     every later argument is a FILTER

Environment: KCONFIG_PATH names the kernel config to use instead of /proc/config.gz,
/lib/modules/$(uname -r)/{build/.config,config} and /boot/config-$(uname -r).
Accepted for cargo test and cargo nextest: --format terse|pretty, --ignored,
--include-ignored, --nocapture, --show-output, --test-threads N (as --jobs), --color WHEN,
-Z OPT.
--ignored selects the checks whose needs this machine does not meet (they would SKIP): so
cargo nextest lists them as ignored and reports them as skipped, with the reasons in
`nsconform list` and in the SKIP lines of `nsconform run`.

Exit status: 0 every check passed or skipped, 1 at least one check failed, 2 bad usage, a
report or standard output that could not be written, 7 no check failed but at least one was BROKEN.";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub filters: Vec<String>,
    pub exact: bool,
    pub skip: Vec<String>,
    pub list: bool,
    /// `--list --format terse`: libtest's `NAME: test` lines, for nextest.
    pub terse: bool,
    /// `--ignored`: run (or list) only ignored tests, and no check is ignored.
    pub only_ignored: bool,
    pub quiet: bool,
    pub help: bool,
    pub version: bool,
    pub reports: Vec<(Format, String)>,
    pub stream: Option<String>,
    /// `--jobs N`: checks run at the same time (default: the CPUs this process may use).
    pub jobs: Option<usize>,
}

impl Options {
    pub fn parse(args: &[String], env_reports: Option<&str>) -> Result<Options, String> {
        use crate::args::{shown, value, Arg};
        let mut o = Options::default();
        let mut parser = crate::args::parser(args);
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            let name = shown(&arg);
            match arg {
                Arg::Long("exact") => o.exact = true,
                Arg::Long("skip") => o.skip.push(value(&mut parser, &name)?),
                Arg::Long("list") => o.list = true,
                Arg::Long("report") => o.reports.push(parse_report(&value(&mut parser, &name)?)?),
                Arg::Long("stream") => o.stream = Some(value(&mut parser, &name)?),
                Arg::Short('q') | Arg::Long("quiet") => o.quiet = true,
                Arg::Short('h') | Arg::Long("help") => o.help = true,
                Arg::Short('V') | Arg::Long("version") => o.version = true,
                Arg::Long("ignored") => o.only_ignored = true,
                Arg::Long("format") => match value(&mut parser, &name)?.as_str() {
                    "terse" => o.terse = true,
                    "pretty" => {}
                    other => return Err(format!("unknown --format {other:?} (terse or pretty)")),
                },
                Arg::Long("include-ignored" | "nocapture" | "show-output") => {}
                Arg::Short('j') | Arg::Long("jobs" | "test-threads") => o.jobs = Some(crate::args::positive(&mut parser, &name)?),
                Arg::Long("color") | Arg::Short('Z') => drop(value(&mut parser, &name)?),
                Arg::Value(filter) => o.filters.push(crate::args::text(filter, "FILTER")?),
                _ => return Err(format!("unknown option {name:?}; see --help")),
            }
        }
        // A listing writes no report: the variable (set for the runs of a CI job) is not its concern.
        for spec in env_reports.filter(|_| !o.list).unwrap_or("").split(',').filter(|s| !s.is_empty()) {
            o.reports.push(parse_report(spec).map_err(|e| format!("NSCONFORM_REPORT: {e}"))?);
        }
        Ok(o)
    }

    /// Every FILTER selects a check: a typo must not pass as an empty, successful run.
    /// `Err` names the filter and the closest ids.
    pub fn filters_match(&self, checks: &[Check]) -> Result<(), String> {
        let unmatched =
            self.filters.iter().find(|f| !checks.iter().any(|c| if self.exact { c.id == f.as_str() } else { c.id.contains(f.as_str()) }));
        let Some(filter) = unmatched else { return Ok(()) };
        let mut ids: Vec<&str> = checks.iter().map(|c| c.id).collect();
        ids.sort_by_key(|id| edit_distance(filter, id));
        let how = if self.exact { "is no check id" } else { "matches no check id" };
        Err(format!("{filter:?} {how}; the closest: {}", ids[..ids.len().min(3)].join(", ")))
    }

    pub fn selects(&self, id: &str) -> bool {
        let wanted = self.filters.is_empty() || self.filters.iter().any(|f| if self.exact { id == f } else { id.contains(f.as_str()) });
        wanted && !self.skip.iter().any(|s| id.contains(s.as_str()))
    }
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn parse_report(spec: &str) -> Result<(Format, String), String> {
    let (format, file) = spec.split_once('=').ok_or_else(|| format!("report {spec:?} is not FORMAT=FILE"))?;
    let format = Format::parse(format).ok_or_else(|| format!("unknown report format {format:?} (ktap, junit or json)"))?;
    if file.is_empty() {
        return Err(format!("report {spec:?} names no file"));
    }
    Ok((format, file.to_string()))
}

/// `nsconform run` and `list`: the command line `args` over `checks`; returns the exit status.
/// A FILTER that selects nothing is an error.
pub fn main(args: &[String], checks: &[Check]) -> i32 {
    main_with(args, checks, true)
}

/// The `cargo test` entry: as `main`, but a FILTER that selects nothing selects nothing, as in
/// libtest (`cargo test NAME` hands NAME to every test binary of the workspace).
pub fn cargo_test_main(args: &[String], checks: &[Check]) -> i32 {
    main_with(args, checks, false)
}

fn main_with(args: &[String], checks: &[Check], strict_filters: bool) -> i32 {
    let env_reports = match std::env::var("NSCONFORM_REPORT") {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            eprintln!("nsconform: NSCONFORM_REPORT is not UTF-8: give FORMAT=FILE,... with a UTF-8 path");
            return 2;
        }
    };
    let options = match Options::parse(args, env_reports.as_deref()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("nsconform: {e}");
            return 2;
        }
    };
    if let Some(dup) = checks.iter().enumerate().find(|(i, c)| checks[..*i].iter().any(|d| d.id == c.id)) {
        eprintln!("nsconform: two checks share the id {}", dup.1.id);
        return 2;
    }
    if options.help {
        crate::stdout::line(USAGE);
        return 0;
    }
    if options.version {
        crate::stdout::line(crate::args::VERSION);
        return 0;
    }
    let mut selected: Vec<&Check> = checks.iter().filter(|c| options.selects(c.id)).collect();
    if options.only_ignored {
        // libtest's ignored tests are the checks whose needs this machine does not meet: they
        // would SKIP. nextest lists them with `--ignored` and shows them as skipped, not passed.
        selected.retain(|c| matches!(crate::requirements::evaluate(c.needs, crate::host::facts()), crate::requirements::Decision::Skip(_)));
    }
    if let (true, Err(e)) = (strict_filters, options.filters_match(checks)) {
        eprintln!("nsconform: {e}");
        return 2;
    }
    if options.list {
        print_catalogue(&selected, options.terse);
        return if crate::stdout::failed() { 2 } else { 0 };
    }
    // Report files are created before any check runs: an unwritable path is bad usage now,
    // not a surprise after the whole run. A KTAP file is written as the checks finish.
    let mut ktap_files = Vec::new();
    for (format, file) in options.reports.iter().filter(|(_, file)| file != "-") {
        match std::fs::File::create(file) {
            Ok(opened) if *format == Format::Ktap => ktap_files.push(opened),
            Ok(_) => {}
            Err(e) => {
                eprintln!("nsconform: cannot write the {} report to {file}: {e}", format.name());
                return 2;
            }
        }
    }
    // A report on standard output keeps it parseable: the terminal lines go to stderr.
    if options.reports.iter().any(|(_, file)| file == "-") {
        crate::stdout::divert_to_stderr();
    }
    let say = crate::stdout::line;
    let mut stream = match options.stream.as_deref().map(|f| std::fs::OpenOptions::new().append(true).create(true).open(f)) {
        None => None,
        Some(Ok(file)) => Some(file),
        Some(Err(e)) => {
            eprintln!("nsconform: cannot open the stream {}: {e}", options.stream.as_deref().unwrap_or(""));
            return 2;
        }
    };
    crate::runner::prepare();
    let provenance = Provenance::of_this_run();
    let start = Instant::now();
    let release = crate::host::facts().release.clone();
    let mut ktap_lost = None;
    let mut write_ktap = |text: &str| {
        for file in &mut ktap_files {
            if let Err(e) = file.write_all(text.as_bytes()) {
                ktap_lost.get_or_insert(e);
            }
        }
    };
    write_ktap(&ktap::header(&release, &provenance, selected.len()));
    let mut records: Vec<Record> = Vec::with_capacity(selected.len());
    crate::runner::run_all(&selected, options.jobs.unwrap_or_else(crate::runner::default_jobs), |record| {
        if !options.quiet || matches!(record.verdict, Verdict::Fail(_) | Verdict::Broken(_)) {
            say(&terminal::line(&record));
        }
        write_ktap(&ktap::result(records.len() + 1, &record));
        if let Some(stream) = stream.as_mut() {
            let _ = writeln!(stream, "{}", crate::stream::Event::check(&record).line());
        }
        records.push(record);
    });
    let run = Run { kernel: release, provenance, records, duration: start.elapsed() };
    write_ktap(&ktap::totals(&run.counts()));
    say(&terminal::summary(&run));
    if let Some(e) = ktap_lost {
        eprintln!("nsconform: cannot write the ktap report: {e}");
        return 2;
    }
    for (format, file) in options.reports.iter().filter(|(format, file)| *format != Format::Ktap || file == "-") {
        let text = format.render(&run);
        let written = if file == "-" { crate::stdout::write_raw(&text) } else { std::fs::write(file, text) };
        if let Err(e) = written {
            eprintln!("nsconform: cannot write the {} report to {file}: {e}", format.name());
            return 2;
        }
    }
    if crate::stdout::failed() {
        return 2;
    }
    run.counts().exit_status()
}

fn print_catalogue(checks: &[&Check], terse: bool) {
    for c in checks {
        if terse {
            crate::stdout::line(&format!("{}: test", c.id));
        } else {
            let needs: Vec<_> = c.needs.iter().map(|n| n.describe()).collect();
            let sharing = match c.sharing {
                crate::Sharing::Concurrent => String::new(),
                crate::Sharing::Alone(why) => format!("\n    runs alone: {why}"),
                crate::Sharing::Group(group) => format!("\n    runs one at a time with the {group} group"),
            };
            crate::stdout::line(&format!(
                "{}\n    {}\n    reference: {}\n    needs: {}{sharing}",
                c.id,
                c.statement,
                c.reference,
                needs.join("; ")
            ));
        }
    }
    if terse {
        return;
    }
    crate::stdout::line(&format!("{} checks", checks.len()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[rstest]
    #[case::nextest_list("--list --format terse", Options { list: true, terse: true, ..Default::default() })]
    #[case::nextest_run("--exact uts.a --nocapture", Options { exact: true, filters: vec!["uts.a".into()], ..Default::default() })]
    #[case::cargo_test_defaults("--test-threads 2 --color=auto", Options { jobs: Some(2), ..Default::default() })]
    #[case::jobs("-j 3", Options { jobs: Some(3), ..Default::default() })]
    #[case::reports("--report ktap=out.ktap --report=json=-", Options {
        reports: vec![(Format::Ktap, "out.ktap".into()), (Format::Json, "-".into())], ..Default::default() })]
    #[case::filters_and_skips("uts pid --skip nesting -q", Options {
        filters: vec!["uts".into(), "pid".into()], skip: vec!["nesting".into()], quiet: true, ..Default::default() })]
    #[case::gnu_conventions("--skip=nesting -qh -- --odd-filter", Options {
        filters: vec!["--odd-filter".into()], skip: vec!["nesting".into()], quiet: true, help: true, ..Default::default() })]
    #[case::libtest_attached_values("--test-threads=1 -Zunstable-options --format=terse", Options {
        terse: true, jobs: Some(1), ..Default::default() })]
    fn parses_our_and_libtest_flags(#[case] line: &str, #[case] expected: Options) {
        assert_eq!(Options::parse(&args(line), None).unwrap(), expected);
    }

    #[rstest]
    #[case("--frobnicate", "unknown option \"--frobnicate\"; see --help")]
    #[case("--report xml=a", "unknown report format \"xml\" (ktap, junit or json)")]
    #[case("--report ktap", "report \"ktap\" is not FORMAT=FILE")]
    #[case("--skip", "--skip needs a value")]
    #[case("--jobs 0", "--jobs wants a positive number, not \"0\"")]
    fn rejects_bad_input_with_a_clear_message(#[case] line: &str, #[case] message: &str) {
        assert_eq!(Options::parse(&args(line), None).unwrap_err(), message);
    }

    #[test]
    fn a_filter_that_matches_nothing_is_an_error_naming_the_closest_ids() {
        fn body() -> crate::Outcome {
            Ok(())
        }
        let check = |id| Check::new(id, "", "", &[], body);
        let checks = [check("uts.hostname-invisible"), check("pid.nesting-32-levels"), check("pid.nesting-limit")];
        assert!(Options::parse(&args("uts. pid."), None).unwrap().filters_match(&checks).is_ok());
        assert_eq!(
            Options::parse(&args("pid. nestign"), None).unwrap().filters_match(&checks).unwrap_err(),
            "\"nestign\" matches no check id; the closest: pid.nesting-limit, pid.nesting-32-levels, uts.hostname-invisible"
        );
        assert!(Options::parse(&args("--exact pid.nesting"), None)
            .unwrap()
            .filters_match(&checks)
            .unwrap_err()
            .starts_with("\"pid.nesting\" is no check id; the closest: pid.nesting-limit"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn reads_reports_from_the_environment() {
        let o = Options::parse(&[], Some("junit=a.xml,ktap=b")).unwrap();
        assert_eq!(o.reports, vec![(Format::Junit, "a.xml".into()), (Format::Ktap, "b".into())]);
        assert!(Options::parse(&[], Some("yaml=x")).unwrap_err().starts_with("NSCONFORM_REPORT: "));
        assert!(Options::parse(&args("--list"), Some("garbage")).unwrap().reports.is_empty(), "a listing ignores the variable");
    }

    #[rstest]
    #[case("", "uts.a", true)]
    #[case("uts", "uts.a", true)]
    #[case("uts --skip .a", "uts.a", false)]
    #[case("--exact uts", "uts.a", false)]
    #[case("--exact uts.a", "uts.a", true)]
    #[case("--ignored", "uts.a", true)]
    fn selects_checks_like_libtest(#[case] line: &str, #[case] id: &str, #[case] selected: bool) {
        assert_eq!(Options::parse(&args(line), None).unwrap().selects(id), selected);
    }
}
