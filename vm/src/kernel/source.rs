//! Kernels built from source: `make tinyconfig`, the fragment merged on top
//! (scripts/kconfig/merge_config.sh), `make olddefconfig bzImage`. The result is cached by the
//! hash of the source (tarball bytes, or a tree's path and top Makefile) and the fragment.

use super::Kernel;
use crate::outcome::Failure;
use crate::progress::Progress;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn build(tree: &Path, fragments: &[PathBuf], cache: &Path, progress: &dyn Fn(Progress)) -> Result<Kernel, Failure> {
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
        progress(Progress::BuildCached { label: label.clone(), dir: out.clone() });
    } else {
        let src = if tree.is_dir() { tree.to_path_buf() } else { unpack(tree, &cache.join("src").join(&source_id[..16]), progress)? };
        compile(&src, fragments, &out.join("build"), &wanted, progress)?;
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
fn unpack(tarball: &Path, dest: &Path, progress: &dyn Fn(Progress)) -> Result<PathBuf, Failure> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(dest.parent().unwrap_or(Path::new("."))).map_err(|e| Failure::tooling(format!("{}: {e}", dest.display())))?;
    let lock = std::fs::File::create(dest.with_extension("lock")).map_err(|e| Failure::tooling(format!("{}: {e}", dest.display())))?;
    // SAFETY: flock on an fd we own; released when `lock` is dropped.
    unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    if dest.join("Makefile").exists() {
        return Ok(dest.to_path_buf());
    }
    progress(Progress::UnpackingSource { tarball: tarball.to_path_buf() });
    let staging = dest.with_extension("new");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| Failure::tooling(format!("{}: {e}", staging.display())))?;
    run(Command::new("tar").arg("-xf").arg(tarball).arg("--strip-components=1").arg("-C").arg(&staging), "tar")?;
    std::fs::rename(&staging, dest).map_err(|e| Failure::tooling(format!("{}: {e}", dest.display())))?;
    Ok(dest.to_path_buf())
}

fn compile(
    src: &Path,
    fragments: &[PathBuf],
    build: &Path,
    wanted: &[(String, String)],
    progress: &dyn Fn(Progress),
) -> Result<(), Failure> {
    std::fs::create_dir_all(build).map_err(|e| Failure::tooling(format!("{}: {e}", build.display())))?;
    let make = |args: &[&str]| {
        let mut cmd = Command::new("make");
        cmd.arg("-C").arg(src).arg(format!("O={}", build.display())).args(args);
        cmd
    };
    progress(Progress::Configuring);
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
    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    progress(Progress::Building { jobs });
    make_with_progress(make(&["-j", &jobs.to_string(), "bzImage"]), progress)
}

/// Runs a long `make`, reporting the step it is at every 15 s.
pub fn make_with_progress(mut cmd: Command, progress: &dyn Fn(Progress)) -> Result<(), Failure> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().map_err(|e| {
        Failure::tooling(format!("cannot run make (install build-essential, flex, bison, bc, libelf-dev, libssl-dev): {e}"))
    })?;
    let mut last_report = Instant::now();
    for (before, line) in BufReader::new(child.stdout.take().expect("piped stdout")).lines().map_while(Result::ok).enumerate() {
        if last_report.elapsed() > Duration::from_secs(15) {
            progress(Progress::BuildStep { steps: before + 1, now: line.trim().to_string() });
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
    use std::cell::RefCell;

    /// A stand-in kernel tree: the make targets and merge_config.sh that `compile` runs, the
    /// bzImage a copy of a file carrying only the boot header.
    fn fake_tree(root: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let tree = root.join("linux-fake");
        std::fs::create_dir_all(tree.join("scripts/kconfig")).unwrap();
        std::fs::write(
            tree.join("Makefile"),
            "tinyconfig:\n\techo '# tiny' > $(O)/.config\nolddefconfig:\n\t@:\n\
             bzImage:\n\tmkdir -p $(O)/arch/x86/boot && cp bzImage.fake $(O)/arch/x86/boot/bzImage\n",
        )
        .unwrap();
        let merge = tree.join("scripts/kconfig/merge_config.sh");
        std::fs::write(&merge, "#!/bin/sh\n# -m BASE FRAGMENT...\nbase=$2; shift 2; cat \"$@\" >> \"$base\"\n").unwrap();
        std::fs::set_permissions(&merge, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut image = vec![0u8; 0x400];
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x20E..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        image[0x300..0x30C].copy_from_slice(b"6.12.0-fake\0");
        std::fs::write(tree.join("bzImage.fake"), image).unwrap();
        tree
    }

    #[test]
    fn reports_a_tarball_build_then_its_cache_hit() {
        let dir = tempfile::tempdir().unwrap();
        let tree = fake_tree(dir.path());
        let tarball = dir.path().join("linux-fake.tar");
        run(Command::new("tar").arg("-cf").arg(&tarball).arg("-C").arg(dir.path()).arg("linux-fake"), "tar").unwrap();
        // The build must need the tarball alone.
        std::fs::remove_dir_all(&tree).unwrap();
        let fragment = dir.path().join("ns.config");
        std::fs::write(&fragment, "CONFIG_UTS_NS=y\n").unwrap();
        let cache = dir.path().join("cache");
        let events = RefCell::new(Vec::new());
        let sink = |event| events.borrow_mut().push(event);

        let kernel = build(&tarball, std::slice::from_ref(&fragment), &cache, &sink).unwrap();
        assert_eq!(kernel.release, "6.12.0-fake");
        let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        assert_eq!(
            events.take(),
            [Progress::UnpackingSource { tarball: tarball.clone() }, Progress::Configuring, Progress::Building { jobs }]
        );

        let again = build(&tarball, &[fragment], &cache, &sink).unwrap();
        let cached = again.image.parent().unwrap().to_path_buf();
        assert_eq!(events.take(), [Progress::BuildCached { label: kernel.label, dir: cached }]);
    }

    #[test]
    fn finds_options_dropped_by_olddefconfig() {
        let wanted = requested_options("CONFIG_UTS_NS=y\nCONFIG_TIME_NS=y\nCONFIG_VETH=y\n# comment\n# CONFIG_TIME_NS is not set\n");
        assert_eq!(wanted.len(), 3);
        let config = "CONFIG_UTS_NS=y\n# CONFIG_TIME_NS is not set\n# CONFIG_VETH is not set\n";
        assert_eq!(dropped_options(&wanted, config), ["CONFIG_VETH=y (got n)"]);
    }
}
