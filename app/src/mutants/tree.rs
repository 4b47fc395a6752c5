//! The cached kernel tree the mutants are applied to: the source tarball unpacked once, put
//! under git (every file added with -f: the Debian tarball's top .gitignore ignores
//! everything) and committed as the clean baseline, configured from tinyconfig plus the
//! fragments, and built in place so that a mutant rebuilds only what it touches.
//!
//! The tree's directory is keyed by the tarball's and the fragments' content, so another
//! source or fragment gets a fresh tree; a lock file keeps a second run off a tree in use.

use crate::progress;
use nsconform_vm::kernel::source::{dropped_options, make_with_progress, requested_options, run, sha256, sha256_file};
use nsconform_vm::outcome::Failure;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bump when the way a tree is prepared changes: older trees are not reused.
const LAYOUT: &str = "nsconform-mutants-tree-1";
/// Written into the tree's .git: the key the tree was made for.
const KEY_FILE: &str = "nsconform-key";
/// Written into the tree's .git once the tree is configured.
const CONFIGURED: &str = "nsconform-configured";

pub struct Tree {
    pub dir: PathBuf,
    /// Held for the tree's lifetime: the flock that keeps other runs off this tree.
    _lock: File,
}

/// The key of a tree: the tarball's bytes and the fragments' text.
pub fn key(source: &Path, fragments: &[(PathBuf, String)]) -> Result<String, Failure> {
    let mut text = format!("{LAYOUT}\n{}\n", sha256_file(source)?);
    for (_, fragment) in fragments {
        text.push_str(fragment);
        text.push('\n');
    }
    sha256(text.as_bytes())
}

/// Reads the fragments, refusing a file without CONFIG_ lines.
pub fn read_fragments(fragments: &[PathBuf]) -> Result<Vec<(PathBuf, String)>, Failure> {
    fragments
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).map_err(|e| Failure::bad_input(format!("config fragment {}: {e}", f.display())))?;
            if requested_options(&text).is_empty() {
                return Err(Failure::bad_input(format!("{} has no CONFIG_ lines: not a config fragment", f.display())));
            }
            Ok((f.clone(), text))
        })
        .collect()
}

/// A git command in the tree.
pub fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(["-c", "user.name=nsconform", "-c", "user.email=nsconform@localhost", "-c", "core.autocrlf=false"]);
    cmd
}

/// The make command every build of the tree uses (the same each time, so nothing is rebuilt
/// for a changed command line). LOCALVERSION= keeps the git state out of the release name.
pub fn make(dir: &Path, jobs: usize) -> Command {
    let mut cmd = Command::new("make");
    cmd.arg("-C").arg(dir).arg(format!("-j{jobs}")).arg("LOCALVERSION=");
    cmd
}

impl Tree {
    /// Opens (or first creates) the tree for `source` and `fragments` in `dir`, or in
    /// `cache/KEY` when `dir` is None, and locks it.
    pub fn open(source: &Path, fragments: &[PathBuf], dir: Option<&Path>, cache: &Path) -> Result<Tree, Failure> {
        if !source.is_file() {
            return Err(Failure::bad_input(format!(
                "kernel source {} does not exist (apt-get install linux-source-6.12, or give --source TARBALL)",
                source.display()
            )));
        }
        let fragments = read_fragments(fragments)?;
        let key = key(source, &fragments)?;
        let dir = match dir {
            Some(d) => std::path::absolute(d).unwrap_or(d.to_path_buf()),
            None => cache.join(&key[..16]),
        };
        let parent = dir.parent().unwrap_or(Path::new("/")).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| Failure::tooling(format!("{}: {e}", parent.display())))?;
        let lock = lock(&dir)?;
        if dir.exists() {
            match std::fs::read_to_string(dir.join(".git").join(KEY_FILE)) {
                Ok(k) if k.trim() == key => {}
                Ok(_) => {
                    return Err(Failure::bad_input(format!(
                        "{} holds a kernel tree of another source or fragment; remove it or give another --tree",
                        dir.display()
                    )))
                }
                Err(_) => {
                    return Err(Failure::bad_input(format!(
                        "{} exists and is not a mutants tree; remove it or give another --tree",
                        dir.display()
                    )))
                }
            }
        } else {
            create(source, &dir, &key)?;
        }
        let tree = Tree { dir, _lock: lock };
        if !tree.dir.join(".git").join(CONFIGURED).exists() || !tree.dir.join(".config").exists() {
            tree.configure(&fragments)?;
        }
        Ok(tree)
    }

    pub fn image(&self) -> PathBuf {
        self.dir.join("arch/x86/boot/bzImage")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join(".config")
    }

    fn configure(&self, fragments: &[(PathBuf, String)]) -> Result<(), Failure> {
        let start = Instant::now();
        progress::line(&format!("configuring {}: tinyconfig + {}", self.dir.display(), names(fragments)));
        run(make(&self.dir, 1).arg("tinyconfig"), "make tinyconfig")?;
        let mut merge = Command::new(self.dir.join("scripts/kconfig/merge_config.sh"));
        merge.current_dir(&self.dir).arg("-m").arg(".config");
        for (f, _) in fragments {
            merge.arg(std::path::absolute(f).unwrap_or(f.clone()));
        }
        run(&mut merge, "merge_config.sh")?;
        run(make(&self.dir, 1).arg("olddefconfig"), "make olddefconfig")?;
        let config = std::fs::read_to_string(self.config()).map_err(|e| Failure::tooling(format!(".config: {e}")))?;
        let wanted = requested_options(&fragments.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n"));
        let dropped = dropped_options(&wanted, &config);
        if !dropped.is_empty() {
            return Err(Failure::bad_input(format!("the fragment's options did not survive olddefconfig: {}", dropped.join(", "))));
        }
        std::fs::write(self.dir.join(".git").join(CONFIGURED), "").map_err(|e| Failure::tooling(format!("{}: {e}", self.dir.display())))?;
        progress::line(&format!("configured in {:.1} s", start.elapsed().as_secs_f64()));
        Ok(())
    }

    /// Builds the unmutated kernel (the first time: every object; afterwards: what the last
    /// mutant's revert touched). Prints progress; a failure is a tooling failure.
    pub fn build_baseline(&self, jobs: usize) -> Result<Duration, Failure> {
        let start = Instant::now();
        progress::line(&format!(
            "building the unmutated kernel in {} (make -j{jobs} bzImage; the first build takes minutes)",
            self.dir.display()
        ));
        let mut cmd = make(&self.dir, jobs);
        cmd.arg("bzImage");
        make_with_progress(cmd, &progress::terminal)
            .map_err(|f| Failure::tooling(format!("the unmutated kernel does not build: {}", f.message)))?;
        // A build that rewrote a tracked file would make every later cleanliness check fail:
        // such files become part of the baseline.
        if !self.unclean()?.is_empty() {
            run(git(&self.dir).args(["add", "-u"]), "git add -u")?;
            run(git(&self.dir).args(["commit", "-q", "--no-verify", "-m", "files the kernel build rewrote"]), "git commit")?;
        }
        Ok(start.elapsed())
    }

    /// Builds the tree as it is (with a mutant applied), the output going to `log`.
    /// Ok(Err(tail)) when make failed: the last lines of its output.
    pub fn build(&self, jobs: usize, log: &Path) -> Result<Result<Duration, String>, Failure> {
        let start = Instant::now();
        let file = File::create(log).map_err(|e| Failure::tooling(format!("{}: {e}", log.display())))?;
        let err = file.try_clone().map_err(|e| Failure::tooling(format!("{}: {e}", log.display())))?;
        let status = make(&self.dir, jobs)
            .arg("bzImage")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .status()
            .map_err(|e| Failure::tooling(format!("cannot run make: {e}")))?;
        if status.success() {
            return Ok(Ok(start.elapsed()));
        }
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // The compiler's errors, else make's.
        let mut errors: Vec<&str> = text.lines().filter(|l| l.contains("error:")).take(3).collect();
        if errors.is_empty() {
            errors = text.lines().filter(|l| l.contains("Error ")).take(3).collect();
        }
        Ok(Err(if errors.is_empty() { text.lines().last().unwrap_or("").to_string() } else { errors.join(" | ") }))
    }

    /// Applies (or with `reverse`, takes back) a diff with git apply.
    pub fn apply(&self, diff: &str, reverse: bool) -> Result<(), String> {
        use std::io::Write;
        let mut cmd = git(&self.dir);
        cmd.args(["apply", "--whitespace=nowarn"]);
        if reverse {
            cmd.arg("-R");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run git apply: {e}"))?;
        child.stdin.take().expect("piped stdin").write_all(diff.as_bytes()).map_err(|e| format!("git apply: {e}"))?;
        let out = child.wait_with_output().map_err(|e| format!("git apply: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).lines().take(3).collect::<Vec<_>>().join(" | "))
        }
    }

    /// Takes a mutant back: `git apply -R`, else a checkout of the tracked files and the
    /// removal of the files the diff created. Then proves the tree clean.
    pub fn revert(&self, diff: &str) -> Result<(), Failure> {
        if self.apply(diff, true).is_err() {
            self.restore(diff)?;
        }
        let unclean = self.unclean()?;
        if unclean.is_empty() {
            Ok(())
        } else {
            Err(Failure::tooling(format!("the tree {} is not clean after reverting: {}", self.dir.display(), unclean.join(", "))))
        }
    }

    /// Puts every tracked file back as committed and removes the files `diff` creates.
    pub fn restore(&self, diff: &str) -> Result<(), Failure> {
        run(git(&self.dir).args(["checkout", "-q", "--", "."]), "git checkout")?;
        for path in super::patch::created_files(diff) {
            let _ = std::fs::remove_file(self.dir.join(path));
        }
        Ok(())
    }

    /// Tracked files that differ from the baseline commit (empty: clean). Both
    /// `git status --porcelain --untracked-files=no` and `git diff --quiet` must agree.
    pub fn unclean(&self) -> Result<Vec<String>, Failure> {
        let out = git(&self.dir)
            .args(["status", "--porcelain", "--untracked-files=no"])
            .output()
            .map_err(|e| Failure::tooling(format!("git status: {e}")))?;
        if !out.status.success() {
            return Err(Failure::tooling(format!(
                "git status failed in {}: {}",
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let mut files: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().to_string()).collect();
        let quiet = git(&self.dir).args(["diff", "--quiet"]).status().map_err(|e| Failure::tooling(format!("git diff: {e}")))?;
        if !quiet.success() && files.is_empty() {
            files.push("git diff --quiet reports a difference".into());
        }
        Ok(files)
    }
}

fn names(fragments: &[(PathBuf, String)]) -> String {
    fragments.iter().map(|(f, _)| f.display().to_string()).collect::<Vec<_>>().join(" + ")
}

/// Takes the tree's lock (a sibling file DIR.lock), waiting for another run that holds it.
fn lock(dir: &Path) -> Result<File, Failure> {
    use std::os::fd::AsRawFd;
    let path = sibling(dir, "lock");
    let file = File::create(&path).map_err(|e| Failure::tooling(format!("{}: {e}", path.display())))?;
    // SAFETY: flock on an fd we own; released when the file is dropped.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        progress::line(&format!(
            "waiting for another run using the kernel tree {} (lock {}; --tree DIR avoids it)",
            dir.display(),
            path.display()
        ));
        // SAFETY: as above, now blocking until the other run releases it.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Failure::tooling(format!("locking {}: {}", path.display(), std::io::Error::last_os_error())));
        }
    }
    Ok(file)
}

/// Unpacks the tarball next to `dir`, commits it as the baseline and moves it into place.
fn create(source: &Path, dir: &Path, key: &str) -> Result<(), Failure> {
    let start = Instant::now();
    let staging = sibling(dir, "new");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| Failure::tooling(format!("{}: {e}", staging.display())))?;
    progress::line(&format!("unpacking {} into {}", source.display(), staging.display()));
    run(Command::new("tar").arg("-xf").arg(source).arg("--strip-components=1").arg("-C").arg(&staging), "tar")?;
    progress::line(&format!("unpacked in {:.0} s; committing the sources as the clean baseline", start.elapsed().as_secs_f64()));
    run(git(&staging).args(["init", "-q"]), "git init")?;
    run(git(&staging).args(["add", "-f", "-A", "."]), "git add")?;
    run(git(&staging).args(["commit", "-q", "--no-verify", "-m"]).arg(format!("baseline: {}", source.display())), "git commit")?;
    std::fs::write(staging.join(".git").join(KEY_FILE), format!("{key}\n"))
        .map_err(|e| Failure::tooling(format!("{}: {e}", staging.display())))?;
    std::fs::rename(&staging, dir).map_err(|e| Failure::tooling(format!("{}: {e}", dir.display())))?;
    progress::line(&format!("baseline commit ready in {:.0} s", start.elapsed().as_secs_f64()));
    Ok(())
}

/// `DIR.suffix` next to DIR (with_extension would cut a name such as linux-6.12 at its dot).
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    dir.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_keep_the_whole_name() {
        assert_eq!(sibling(Path::new("/c/linux-6.12"), "lock"), Path::new("/c/linux-6.12.lock"));
        assert_eq!(sibling(Path::new("/c/f0d6856b6de63654"), "new"), Path::new("/c/f0d6856b6de63654.new"));
    }
}
