//! Kernels built from source: `make tinyconfig`, the fragment merged on top
//! (scripts/kconfig/merge_config.sh), `make olddefconfig bzImage`. The result is cached by the
//! hash of the source (tarball bytes, or a tree's path and top Makefile) and the fragment.

use super::Kernel;
use crate::outcome::{progress, Failure};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn build(tree: &Path, fragments: &[PathBuf], cache: &Path) -> Result<Kernel, Failure> {
    if !tree.exists() {
        return Err(Failure::bad_input(format!("kernel source {} does not exist", tree.display())));
    }
    let mut fragment_text = String::new();
    for fragment in fragments {
        let text =
            std::fs::read_to_string(fragment).map_err(|e| Failure::bad_input(format!("config fragment {}: {e}", fragment.display())))?;
        if requested_options(&text).is_empty() {
            return Err(Failure::bad_input(format!("{} has no CONFIG_ lines: not a config fragment", fragment.display())));
        }
        fragment_text.push_str(&text);
    }
    let wanted = requested_options(&fragment_text);
    let source_id = if tree.is_dir() {
        let makefile = std::fs::read(tree.join("Makefile"))
            .map_err(|_| Failure::bad_input(format!("{} has no Makefile: not a kernel tree", tree.display())))?;
        sha256(&[tree.display().to_string().as_bytes(), &makefile].concat())?
    } else {
        sha256_file(tree)?
    };
    let key = sha256(format!("{source_id}\n{fragment_text}").as_bytes())?;
    let out = cache.join(&key[..16]);
    let names: Vec<String> = fragments.iter().map(|f| f.display().to_string()).collect();
    let label = format!("{} + {}", tree.display(), names.join(" + "));
    let (image, config) = (out.join("bzImage"), out.join("config"));
    if image.exists() && config.exists() {
        progress(&format!("using the cached build of {label} in {}", out.display()));
    } else {
        let src = if tree.is_dir() { tree.to_path_buf() } else { unpack(tree, &cache.join("src").join(&source_id[..16]))? };
        compile(&src, fragments, &out.join("build"), &wanted)?;
        std::fs::copy(out.join("build/arch/x86/boot/bzImage"), &image).map_err(|e| Failure::tooling(format!("copying bzImage: {e}")))?;
        std::fs::copy(out.join("build/.config"), &config).map_err(|e| Failure::tooling(format!("copying .config: {e}")))?;
        let _ = std::fs::remove_dir_all(out.join("build"));
    }
    let release = super::image::release_of(&image)?;
    Ok(Kernel { label, image, release, config: Some(config), modules: None })
}

/// `CONFIG_X=value` and `# CONFIG_X is not set` lines of fragments, as (option, value or
/// "n"); a later line for the same option wins, as in merge_config.sh.
pub fn requested_options(fragment: &str) -> Vec<(String, String)> {
    let mut options: Vec<(String, String)> = Vec::new();
    let lines = fragment.lines().filter_map(|l| {
        let l = l.trim();
        if let Some(opt) = l.strip_prefix("# ").and_then(|r| r.strip_suffix(" is not set")) {
            return Some((opt.to_string(), "n".to_string()));
        }
        let (opt, value) = l.split_once('=')?;
        opt.starts_with("CONFIG_").then(|| (opt.to_string(), value.to_string()))
    });
    for (opt, value) in lines {
        options.retain(|(o, _)| *o != opt);
        options.push((opt, value));
    }
    options
}

/// Options of the fragment that the final .config does not carry as requested (Kconfig drops
/// an option whose dependencies are unmet, silently).
pub fn dropped_options(wanted: &[(String, String)], config: &str) -> Vec<String> {
    let parsed = nsconform_harness::kconfig::Kconfig::parse(PathBuf::from(".config"), config);
    wanted
        .iter()
        .filter(|(opt, value)| parsed.value(opt).unwrap_or("n") != value)
        .map(|(opt, value)| format!("{opt}={value} (got {})", parsed.value(opt).unwrap_or("n")))
        .collect()
}

/// Unpacks once; concurrent builds of the same tarball (matrix rows) wait for each other.
fn unpack(tarball: &Path, dest: &Path) -> Result<PathBuf, Failure> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(dest.parent().unwrap_or(Path::new("."))).map_err(|e| Failure::tooling(format!("{}: {e}", dest.display())))?;
    let lock = std::fs::File::create(dest.with_extension("lock")).map_err(|e| Failure::tooling(format!("{}: {e}", dest.display())))?;
    // SAFETY: flock on an fd we own; released when `lock` is dropped.
    unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    if dest.join("Makefile").exists() {
        return Ok(dest.to_path_buf());
    }
    progress(&format!("unpacking {}", tarball.display()));
    let staging = dest.with_extension("new");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| Failure::tooling(format!("{}: {e}", staging.display())))?;
    run(Command::new("tar").arg("-xf").arg(tarball).arg("--strip-components=1").arg("-C").arg(&staging), "tar")?;
    std::fs::rename(&staging, dest).map_err(|e| Failure::tooling(format!("{}: {e}", dest.display())))?;
    Ok(dest.to_path_buf())
}

fn compile(src: &Path, fragments: &[PathBuf], build: &Path, wanted: &[(String, String)]) -> Result<(), Failure> {
    std::fs::create_dir_all(build).map_err(|e| Failure::tooling(format!("{}: {e}", build.display())))?;
    let make = |args: &[&str]| {
        let mut cmd = Command::new("make");
        cmd.arg("-C").arg(src).arg(format!("O={}", build.display())).args(args);
        cmd
    };
    progress("configuring: tinyconfig + fragments");
    run(&mut make(&["tinyconfig"]), "make tinyconfig")?;
    let mut merge = Command::new(src.join("scripts/kconfig/merge_config.sh"));
    merge.current_dir(build).arg("-m").arg(".config");
    for fragment in fragments {
        merge.arg(std::path::absolute(fragment).unwrap_or(fragment.to_path_buf()));
    }
    run(&mut merge, "merge_config.sh")?;
    run(&mut make(&["olddefconfig"]), "make olddefconfig")?;
    let config = std::fs::read_to_string(build.join(".config")).map_err(|e| Failure::tooling(format!(".config: {e}")))?;
    let dropped = dropped_options(wanted, &config);
    if !dropped.is_empty() {
        return Err(Failure::bad_input(format!("the fragment's options did not survive olddefconfig: {}", dropped.join(", "))));
    }
    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).to_string();
    progress(&format!("building bzImage with {jobs} jobs (a few minutes)"));
    make_with_progress(make(&["-j", &jobs, "bzImage"]))
}

/// Runs a long `make`, printing a progress line every 15 s (the step it is at).
pub fn make_with_progress(mut cmd: Command) -> Result<(), Failure> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().map_err(|e| {
        Failure::tooling(format!("cannot run make (install build-essential, flex, bison, bc, libelf-dev, libssl-dev): {e}"))
    })?;
    let mut last_report = Instant::now();
    let mut lines = 0usize;
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines().map_while(Result::ok) {
        lines += 1;
        if last_report.elapsed() > Duration::from_secs(15) {
            progress(&format!("  ... {lines} steps, now {}", line.trim()));
            last_report = Instant::now();
        }
    }
    let status = child.wait().map_err(|e| Failure::tooling(format!("make: {e}")))?;
    if !status.success() {
        return Err(Failure::tooling(format!("make bzImage failed ({status}); see the output above")));
    }
    Ok(())
}

pub fn run(cmd: &mut Command, what: &str) -> Result<(), Failure> {
    let out = cmd.output().map_err(|e| Failure::tooling(format!("cannot run {what}: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Failure::tooling(format!("{what} failed: {}", err.lines().last().unwrap_or("").trim())));
    }
    Ok(())
}

pub fn sha256_file(path: &Path) -> Result<String, Failure> {
    let out = Command::new("sha256sum").arg(path).output().map_err(|e| Failure::tooling(format!("sha256sum: {e}")))?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(String::from)
        .ok_or_else(|| Failure::tooling("sha256sum printed nothing"))
}

pub fn sha256(data: &[u8]) -> Result<String, Failure> {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::tooling(format!("sha256sum: {e}")))?;
    child.stdin.take().expect("piped stdin").write_all(data).map_err(|e| Failure::tooling(format!("sha256sum: {e}")))?;
    let out = child.wait_with_output().map_err(|e| Failure::tooling(format!("sha256sum: {e}")))?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(String::from)
        .ok_or_else(|| Failure::tooling("sha256sum printed nothing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_options_dropped_by_olddefconfig() {
        let wanted = requested_options("CONFIG_UTS_NS=y\nCONFIG_TIME_NS=y\nCONFIG_VETH=y\n# comment\n# CONFIG_TIME_NS is not set\n");
        assert_eq!(wanted.len(), 3);
        let config = "CONFIG_UTS_NS=y\n# CONFIG_TIME_NS is not set\n# CONFIG_VETH is not set\n";
        assert_eq!(dropped_options(&wanted, config), ["CONFIG_VETH=y (got n)"]);
    }
}
