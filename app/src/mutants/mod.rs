//! `nsconform mutants`: mutation testing of the suite against the kernel itself. Each mutant
//! of ci/mutants/ is a small deliberate bug in the kernel's namespace code; it is applied to
//! a cached, already built minimal kernel tree, rebuilt incrementally, booted with every
//! check, and taken back. A mutant is killed when at least one check FAILs; every mutant
//! must be killed.

pub mod kills;
pub mod patch;
pub mod report;
pub mod tree;

use crate::progress;
use nsconform_harness::report::Record;
use nsconform_harness::Check;
use nsconform_vm::outcome::{Exit, Failure};
use patch::Mutant;
use report::{Entry, Fate, Summary};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tree::Tree;

pub const USAGE: &str = "\
usage: nsconform mutants [OPTIONS]
       nsconform mutants --covers FUNCTION

Mutation testing of the checks against the kernel: each mutant in ci/mutants/ is a small bug
planted in the kernel's namespace code (a patch). The command builds a minimal kernel once in
a cached tree, proves the unmutated kernel green (every check PASSes or SKIPs in a VM), then
per mutant applies the patch, rebuilds incrementally (make bzImage), boots the kernel in QEMU
(TCG) with every check, records which checks FAIL, and reverts the patch, proving the tree
clean (git status and git diff). A mutant is killed when at least one check FAILs; a kernel
that panics or hangs kills it too, shown apart as \"killed by crash\". A mutant that does not
apply or build is an error of the mutant, never a kill. Every mutant must be killed.

The tree: SOURCE is unpacked into the cache (one tree per source and fragment content, under
$NSCONFORM_CACHE, else $XDG_CACHE_HOME/nsconform, else ~/.cache/nsconform, in mutants/),
committed to git as the clean baseline, configured with make tinyconfig + the fragments
(merge_config.sh) + olddefconfig, and built in place, keeping the objects. The first build
takes minutes; afterwards a mutant's rebuild takes seconds. A lock file keeps two runs off
one tree: a second run waits for the first (or give it --tree DIR).

Patch files: NN-kind-short-name.patch, header lines before a line `---` and a git-style
unified diff:
  Kind: uts|ipc|pid|user|mnt|net|cgroup|time|nsfs
  Function: path/file.c:function     the mutated function
  Breaks: what the mutant breaks, one line
  Expect: check-id check-id ...      the checks expected to kill it
  Subtle: yes|no

Options:
  --only A,B,...      only these mutants: a number names the mutant with that number (01 is
                      not 101), other text every mutant whose file stem contains it
  --shard I/N         every Nth mutant of the selection starting with the Ith (1 <= I <= N),
                      for parallel CI jobs
  --mutants DIR       the patches (default ci/mutants)
  --kills FILE        the recorded kills (default DIR/kills.txt)
  --record            write this run's kills to the kills file (lines of the mutants that
                      ran are replaced, those of removed patches dropped); review, commit
  --covers FUNCTION   print which checks cover a kernel function (a function name,
                      path/file.c, path/file.c:function or a directory), from the kills file
                      and the patches' Function headers; builds nothing. Exit 0 when some
                      check covers it, 1 when none does (or no mutant mutates it)
  --list              print the selected mutants and exit
  --prepare           only build the tree and prove the unmutated kernel green
  --source TARBALL    the kernel source (default /usr/src/linux-source-6.12.tar.xz)
  --fragment FILE     a config fragment (repeatable; default ci/configs/minimal.config and
                      ci/configs/mutants.config)
  --tree DIR          use DIR for the kernel tree instead of the cache
  --jobs N            make -jN (default: the number of CPUs)
  --deadline SECONDS  a guest run's deadline before it counts as hung (default 120)
  --out DIR           where reports go (default nsconform-matrix): mutants.md, mutants.html,
                      mutants.json, and per mutant mutants/NAME/ with build.log, output.log,
                      report.json and the VM's logs
  -h, --help          print this help

Exit status:
  0  every selected mutant was killed (or none was selected)
  1  a mutant survived, the unmutated kernel is not green (a check FAILed or is BROKEN, or
     it crashed), or the tree was not clean after a revert (the run stops there)
  2  bad input: an option, a malformed patch (the file and line are named), an unknown check
     id in Expect:, a missing source or fragment, a tree in use; or a mutant that does not
     apply or does not build
  6  tooling failure: QEMU missing or failing, the unmutated kernel does not build, git fails,
     a mutant's VM run failed for a reason of the tooling
When several apply, 1 wins over 6, and 6 over 2.";

#[derive(Debug, PartialEq)]
struct Options {
    only: Vec<String>,
    shard: Option<(usize, usize)>,
    dir: PathBuf,
    kills: Option<PathBuf>,
    record: bool,
    covers: Option<String>,
    list: bool,
    prepare: bool,
    source: PathBuf,
    fragments: Vec<PathBuf>,
    tree: Option<PathBuf>,
    jobs: usize,
    deadline: u64,
    out: PathBuf,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        only: Vec::new(),
        shard: None,
        dir: "ci/mutants".into(),
        kills: None,
        record: false,
        covers: None,
        list: false,
        prepare: false,
        source: "/usr/src/linux-source-6.12.tar.xz".into(),
        fragments: Vec::new(),
        tree: None,
        jobs: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        deadline: 120,
        out: "nsconform-matrix".into(),
    };
    use nsconform_harness::args::{positive, shown, value, Arg};
    let mut parser = nsconform_harness::args::parser(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        let name = shown(&arg);
        match arg {
            Arg::Long("only") => o.only.extend(value(&mut parser, &name)?.split(',').filter(|s| !s.is_empty()).map(String::from)),
            Arg::Long("shard") => o.shard = Some(patch::parse_shard(&value(&mut parser, &name)?)?),
            Arg::Long("mutants") => o.dir = value(&mut parser, &name)?.into(),
            Arg::Long("kills") => o.kills = Some(value(&mut parser, &name)?.into()),
            Arg::Long("record") => o.record = true,
            Arg::Long("covers") => o.covers = Some(value(&mut parser, &name)?),
            Arg::Long("list") => o.list = true,
            Arg::Long("prepare") => o.prepare = true,
            Arg::Long("source") => o.source = value(&mut parser, &name)?.into(),
            Arg::Long("fragment") => o.fragments.push(value(&mut parser, &name)?.into()),
            Arg::Long("tree") => o.tree = Some(value(&mut parser, &name)?.into()),
            Arg::Long("jobs") => o.jobs = positive(&mut parser, &name)?,
            Arg::Long("deadline") => o.deadline = positive(&mut parser, &name)?,
            Arg::Long("out") => o.out = value(&mut parser, &name)?.into(),
            _ => return Err(format!("unknown argument {name:?}; see nsconform mutants --help")),
        }
    }
    if o.fragments.is_empty() {
        o.fragments.push("ci/configs/minimal.config".into());
        o.fragments.push("ci/configs/mutants.config".into());
    }
    Ok(o)
}

/// `nsconform mutants ARGS`: returns the exit status. `checks` is the catalogue the Expect
/// headers are validated against.
pub fn main(args: &[String], checks: &[Check]) -> i32 {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        nsconform_harness::stdout::line(USAGE);
        return 0;
    }
    let options = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("nsconform mutants: {e}");
            return Exit::BadInput as i32;
        }
    };
    match run(&options, checks) {
        Ok(status) => status,
        Err(failure) => {
            eprintln!("nsconform mutants: {}", failure.message);
            failure.exit as i32
        }
    }
}

/// The check ids of Expect headers that are not in the catalogue.
fn unknown_expectations(mutants: &[Mutant], checks: &[Check]) -> Vec<String> {
    if checks.is_empty() {
        return Vec::new();
    }
    mutants
        .iter()
        .flat_map(|m| {
            m.expect
                .iter()
                .filter(|id| !checks.iter().any(|c| c.id == id.as_str()))
                .map(move |id| format!("{}: Expect: {id}", m.path.display()))
        })
        .collect()
}

fn read_kills(path: &Path) -> Result<BTreeMap<String, Vec<String>>, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) => kills::parse(&text).map_err(|e| Failure::bad_input(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(Failure::bad_input(format!("{}: {e}", path.display()))),
    }
}

fn run(o: &Options, checks: &[Check]) -> Result<i32, Failure> {
    let all = patch::load_dir(&o.dir).map_err(Failure::bad_input)?;
    let unknown = unknown_expectations(&all, checks);
    if !unknown.is_empty() {
        return Err(Failure::bad_input(format!("unknown check ids (see nsconform list): {}", unknown.join(", "))));
    }
    let kills_path = o.kills.clone().unwrap_or_else(|| o.dir.join("kills.txt"));
    if let Some(query) = &o.covers {
        let (text, covered) = kills::covers(query, &all, &read_kills(&kills_path)?);
        nsconform_harness::stdout::line(text.trim_end_matches('\n'));
        return Ok(if covered { 0 } else { 1 });
    }
    let mut selected = patch::select(&all, &o.only).map_err(Failure::bad_input)?;
    if let Some(shard) = o.shard {
        selected = patch::shard(selected, shard);
    }
    if o.list {
        for m in &selected {
            nsconform_harness::stdout::line(&format!("{}\t{}\t{}\t{}", m.name, m.kind, m.location(), m.breaks));
        }
        return Ok(0);
    }
    if selected.is_empty() && !o.prepare {
        nsconform_harness::stdout::line(&format!("no mutant selected ({} in {}): nothing to do", all.len(), o.dir.display()));
        return Ok(0);
    }
    let recorded = if o.record { Some(read_kills(&kills_path)?) } else { None };
    std::fs::create_dir_all(o.out.join("mutants")).map_err(|e| Failure::bad_input(format!("{}: {e}", o.out.display())))?;
    nsconform_vm::qemu::ensure_installed(&progress::terminal).map_err(Failure::tooling)?;
    let started = Instant::now();

    let cache = nsconform_vm::cache_dir()?.join("mutants");
    let tree = Tree::open(&o.source, &o.fragments, o.tree.as_deref(), &cache)?;
    let leftover = tree.unclean()?;
    if !leftover.is_empty() {
        progress::line(&format!("the tree holds changes of an interrupted run ({}): restoring the baseline", leftover.join(", ")));
        tree.restore("")?;
        let still = tree.unclean()?;
        if !still.is_empty() {
            return Err(Failure::new(
                Exit::ChecksFailed,
                format!("the tree {} cannot be restored: {}", tree.dir.display(), still.join(", ")),
            ));
        }
    }
    let baseline_build = tree.build_baseline(o.jobs)?;
    progress::line(&format!("unmutated kernel built in {:.1} s; booting it with every check", baseline_build.as_secs_f64()));
    let base_dir = o.out.join("mutants").join("baseline");
    let base = boot(&tree, &base_dir, o.deadline)?;
    let release = base.report.as_ref().map(|(k, _)| k.clone()).unwrap_or_default();
    match &base.report {
        Some((_, records)) if base.status == Some(0) || base.status == Some(1) => {
            let bad: Vec<String> = records
                .iter()
                .filter(|r| matches!(r.verdict.word(), "FAIL" | "BROKEN"))
                .map(|r| format!("{} {}", r.verdict.word(), r.id))
                .collect();
            if !bad.is_empty() {
                eprintln!(
                    "nsconform mutants: the unmutated kernel is not green, so no mutant can be judged: {}; see {}",
                    bad.join(", "),
                    base_dir.join("output.log").display()
                );
                return Ok(Exit::ChecksFailed as i32);
            }
        }
        _ => {
            let why = format!(
                "the unmutated kernel did not run the checks ({}); see {}",
                describe(base.status),
                base_dir.join("output.log").display()
            );
            if base.status == Some(Exit::Tooling as i32) {
                return Err(Failure::tooling(why));
            }
            eprintln!("nsconform mutants: {why}");
            return Ok(Exit::ChecksFailed as i32);
        }
    }
    let checks_run = base.report.as_ref().map_or(0, |(_, r)| r.len());
    progress::line(&format!("unmutated kernel green: Linux {release}, {checks_run} checks in {:.1} s", base.took.as_secs_f64()));
    if o.prepare {
        nsconform_harness::stdout::line(&format!("kernel tree {} built and green; no mutant run (--prepare)", tree.dir.display()));
        return Ok(0);
    }

    let mut entries = Vec::new();
    let mut aborted = None;
    for (index, m) in selected.iter().enumerate() {
        let label = format!("{} ({}/{})", m.name, index + 1, selected.len());
        let (entry, revert) = mutate(&tree, m, &label, o);
        entries.push(entry);
        if let Err(e) = revert {
            aborted = Some(e.message);
            break;
        }
    }

    let summary = Summary {
        kernel: release,
        tree: tree.dir.display().to_string(),
        checks: checks_run,
        baseline_build,
        baseline_boot: base.took,
        wall: started.elapsed(),
        aborted: aborted.clone(),
    };
    for (name, text) in [
        ("mutants.md", report::markdown(&summary, &entries)),
        ("mutants.html", report::html(&summary, &entries)),
        ("mutants.json", report::json(&summary, &entries)),
    ] {
        std::fs::write(o.out.join(name), text)
            .map_err(|e| Failure::bad_input(format!("cannot write {}: {e}", o.out.join(name).display())))?;
    }
    if let Some(old) = recorded {
        let new = entries.iter().filter_map(|e| e.recorded_kills().map(|k| (e.mutant.name.clone(), k))).collect();
        std::fs::write(&kills_path, kills::render(&kills::merge(old, new, &all)))
            .map_err(|e| Failure::bad_input(format!("cannot write {}: {e}", kills_path.display())))?;
        progress::line(&format!("recorded {} (review before committing)", kills_path.display()));
    }
    let score = report::score(&entries);
    progress::line(&format!(
        "{} mutant{} in {:.0} s; report {}",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64(),
        o.out.join("mutants.html").display()
    ));
    for e in entries.iter().filter(|e| !e.fate.killed()) {
        nsconform_harness::stdout::line(&format!("{}: {}", e.mutant.name, e.headline()));
    }
    nsconform_harness::stdout::line(&format!("score: {}/{} mutants killed", score.0, score.1));
    if let Some(why) = aborted {
        eprintln!("nsconform mutants: stopped: {why}");
        return Ok(Exit::ChecksFailed as i32);
    }
    Ok(if entries.iter().any(|e| e.fate == Fate::Survived) {
        Exit::ChecksFailed as i32
    } else if entries.iter().any(|e| matches!(e.fate, Fate::Error(_))) {
        Exit::Tooling as i32
    } else if entries.iter().any(|e| matches!(e.fate, Fate::ApplyError(_) | Fate::BuildError(_))) {
        Exit::BadInput as i32
    } else {
        Exit::Passed as i32
    })
}

/// One mutant: apply, build, boot, judge; then revert (the second value: Err when the tree
/// could not be proven clean, which stops the run).
fn mutate(tree: &Tree, m: &Mutant, label: &str, o: &Options) -> (Entry, Result<(), Failure>) {
    let cycle = Instant::now();
    let dir = o.out.join("mutants").join(&m.name);
    let _ = std::fs::remove_dir_all(&dir);
    let mut entry =
        Entry { mutant: m.clone(), fate: Fate::Survived, killers: Vec::new(), build: None, boot: None, cycle: None, note: String::new() };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        entry.fate = Fate::Error(format!("{}: {e}", dir.display()));
        return (entry, Ok(()));
    }
    progress::line(&format!("{label}: {} — {}", m.location(), m.breaks));
    if let Err(e) = tree.apply(&m.diff, false) {
        progress::line(&format!("{label}: does not apply: {e}"));
        entry.fate = Fate::ApplyError(e);
        // git apply is all or nothing, but prove it.
        return (entry, tree.revert_check());
    }
    progress::line(&format!("{label}: applied; building (make -j{} bzImage)", o.jobs));
    match tree.build(o.jobs, &dir.join("build.log")) {
        Err(e) => entry.fate = Fate::Error(e.message),
        Ok(Err(tail)) => {
            progress::line(&format!("{label}: BUILD ERROR (see {}): {tail}", dir.join("build.log").display()));
            entry.fate = Fate::BuildError(tail);
        }
        Ok(Ok(took)) => {
            entry.build = Some(took);
            progress::line(&format!("{label}: built in {:.1} s; booting with every check", took.as_secs_f64()));
            match boot(tree, &dir, o.deadline) {
                Err(e) => entry.fate = Fate::Error(e.message),
                Ok(b) => {
                    entry.boot = Some(b.took);
                    judge(&mut entry, &b);
                    progress::line(&format!("{label}: booted and checked in {:.1} s: {}", b.took.as_secs_f64(), entry.headline()));
                }
            }
        }
    }
    let started = Instant::now();
    let revert = tree.revert(&m.diff);
    entry.cycle = Some(cycle.elapsed());
    match &revert {
        Ok(()) => progress::line(&format!(
            "{label}: reverted, tree clean ({:.1} s); cycle {:.1} s",
            started.elapsed().as_secs_f64(),
            cycle.elapsed().as_secs_f64()
        )),
        Err(e) => progress::line(&format!("{label}: {}", e.message)),
    }
    (entry, revert)
}

/// What a guest run of the checks gave.
struct Boot {
    status: Option<i32>,
    report: Option<(String, Vec<Record>)>,
    /// FAIL lines of the output (for a guest that crashed before writing its report).
    failed_lines: Vec<String>,
    took: Duration,
    log: PathBuf,
}

/// Boots the tree's kernel with every check: this binary's `vm` command as a child process.
fn boot(tree: &Tree, dir: &Path, deadline: u64) -> Result<Boot, Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::tooling(format!("{}: {e}", dir.display())))?;
    let (report, log) = (dir.join("report.json"), dir.join("output.log"));
    let _ = std::fs::remove_file(&report);
    let file = std::fs::File::create(&log).map_err(|e| Failure::tooling(format!("{}: {e}", log.display())))?;
    let err = file.try_clone().map_err(|e| Failure::tooling(format!("{}: {e}", log.display())))?;
    let start = Instant::now();
    // /proc/self/exe: this very binary, even if a rebuild replaced its file.
    let status = Command::new("/proc/self/exe")
        .args(["vm", "--kernel"])
        .arg(tree.image())
        .arg("--config")
        .arg(tree.config())
        .args(["--accel", "tcg", "--deadline", &deadline.to_string(), "--report"])
        .arg(format!("json={}", report.display()))
        .arg("--out")
        .arg(dir.join("vm"))
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .status()
        .map_err(|e| Failure::tooling(format!("cannot start the VM runner: {e}")))?;
    let took = start.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let failed_lines =
        text.lines().filter_map(|l| l.strip_prefix("FAIL ")).filter_map(|l| l.split_whitespace().next()).map(String::from).collect();
    Ok(Boot { status: status.code(), report: crate::matrix::read_report(&report), failed_lines, took, log })
}

fn describe(status: Option<i32>) -> String {
    let meaning = match status {
        Some(0) => "every check passed or skipped",
        Some(1) => "a check failed",
        Some(2) => "bad input",
        Some(3) => "the kernel panicked",
        Some(4) => "the guest stopped before init finished",
        Some(5) => "the guest hung past its deadline",
        Some(6) => "QEMU or tooling failed",
        Some(_) => "unknown status",
        None => "killed by a signal",
    };
    match status {
        Some(code) => format!("vm exit {code}: {meaning}"),
        None => meaning.to_string(),
    }
}

/// The mutant's fate from its guest run. A broken check (environment trouble) is never a kill.
fn judge(entry: &mut Entry, b: &Boot) {
    let failed: Vec<String> = match &b.report {
        Some((_, records)) => records.iter().filter(|r| r.verdict.word() == "FAIL").map(|r| r.id.clone()).collect(),
        None => b.failed_lines.clone(),
    };
    entry.killers = failed;
    entry.note = format!("{}; log {}", describe(b.status), b.log.display());
    let crashed = [Exit::Panicked, Exit::NoInit, Exit::Hung].map(|e| e as i32);
    entry.fate = match b.status {
        Some(code) if crashed.contains(&code) => Fate::Crashed(describe(b.status)),
        Some(0 | 1) if b.report.is_none() => Fate::Error(format!("the VM runner wrote no readable report ({})", describe(b.status))),
        Some(0 | 1) if entry.killers.is_empty() => Fate::Survived,
        Some(0 | 1) => Fate::Killed,
        _ => Fate::Error(describe(b.status)),
    };
}

impl Tree {
    /// Proves the tree clean without touching it.
    fn revert_check(&self) -> Result<(), Failure> {
        let unclean = self.unclean()?;
        if unclean.is_empty() {
            Ok(())
        } else {
            Err(Failure::tooling(format!("the tree {} is not clean: {}", self.dir.display(), unclean.join(", "))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_options() {
        let o =
            parse(&args("--only 01,pid --only 03 --shard 2/4 --record --jobs 3 --out o --fragment a.config --fragment b.config")).unwrap();
        assert_eq!(o.only, ["01", "pid", "03"]);
        assert_eq!(o.shard, Some((2, 4)));
        assert!(o.record);
        assert_eq!((o.jobs, o.out), (3, PathBuf::from("o")));
        assert_eq!(o.fragments, [PathBuf::from("a.config"), PathBuf::from("b.config")]);
        let d = parse(&[]).unwrap();
        assert_eq!(d.fragments, [PathBuf::from("ci/configs/minimal.config"), PathBuf::from("ci/configs/mutants.config")]);
        assert_eq!((d.dir, d.out, d.deadline), (PathBuf::from("ci/mutants"), PathBuf::from("nsconform-matrix"), 120));
        assert_eq!(parse(&args("--shard 5/4")).unwrap_err(), "--shard wants I/N with 1 <= I <= N, not \"5/4\"");
        assert_eq!(parse(&args("--frob")).unwrap_err(), "unknown argument \"--frob\"; see nsconform mutants --help");
        assert_eq!(parse(&args("--covers")).unwrap_err(), "--covers needs a value");
    }

    fn fixture_args(extra: &str) -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mutants");
        let mut a = vec!["--mutants".to_string(), dir.display().to_string()];
        a.extend(args(extra));
        a
    }

    #[test]
    fn covers_and_list_build_nothing() {
        let kills = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(kills.path(), "01-uts-hostname-not-copied: uts.new-namespace-copies-names\n").unwrap();
        let k = kills.path().display().to_string();
        assert_eq!(main(&fixture_args(&format!("--kills {k} --covers clone_uts_ns")), &[]), 0);
        assert_eq!(main(&fixture_args(&format!("--kills {k} --covers sig_task_ignored")), &[]), 1);
        assert_eq!(main(&fixture_args(&format!("--kills {k} --covers zap_pid_ns_processes")), &[]), 1);
        assert_eq!(main(&fixture_args("--list --shard 2/2"), &[]), 0);
        assert_eq!(main(&fixture_args("--list --only 09"), &[]), 2);
        assert_eq!(main(&args("--mutants /nonexistent/mutants --list"), &[]), 2);
        // --shard beyond the number of mutants: nothing selected, nothing built.
        assert_eq!(main(&fixture_args("--shard 3/3 --source /nonexistent.tar.xz"), &[]), 0);
    }

    #[test]
    fn a_broken_or_skipped_check_is_never_a_kill() {
        use nsconform_harness::report::Verdict;
        let m = patch::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mutants")).unwrap().remove(0);
        let record = |id: &str, verdict| Record {
            id: id.into(),
            statement: String::new(),
            reference: String::new(),
            kinds: vec![],
            verdict,
            duration: Duration::ZERO,
        };
        let mut entry =
            Entry { mutant: m, fate: Fate::Survived, killers: vec![], build: None, boot: None, cycle: None, note: String::new() };
        let mut b = Boot {
            status: Some(1),
            report: Some(("6.12".into(), vec![record("uts.a", Verdict::Skip("r".into())), record("uts.b", Verdict::fail("s", "e", "o"))])),
            failed_lines: vec![],
            took: Duration::ZERO,
            log: "log".into(),
        };
        judge(&mut entry, &b);
        assert_eq!((entry.fate.clone(), entry.killers.clone()), (Fate::Killed, vec!["uts.b".to_string()]));
        b.report.as_mut().unwrap().1.pop();
        judge(&mut entry, &b);
        assert_eq!(entry.fate, Fate::Survived);
        b = Boot { status: Some(3), report: None, failed_lines: vec!["pid.x".into()], took: Duration::ZERO, log: "log".into() };
        judge(&mut entry, &b);
        assert_eq!(
            (entry.fate.clone(), entry.killers.clone()),
            (Fate::Crashed("vm exit 3: the kernel panicked".into()), vec!["pid.x".to_string()])
        );
        b.status = Some(6);
        judge(&mut entry, &b);
        assert!(matches!(entry.fate, Fate::Error(_)));
    }
}
