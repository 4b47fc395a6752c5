//! Stamps the binary with the commit it was built from (`unknown` outside a git checkout), for
//! the provenance of every report.
use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=NSCONFORM_COMMIT={commit}");
    // Rebuilt when HEAD moves; a path that does not exist would rerun this on every build.
    let git_dir = Command::new("git").args(["rev-parse", "--git-dir"]).output().ok().filter(|o| o.status.success());
    let watched: Vec<String> = git_dir
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .map(|dir| {
            let head = format!("{dir}/HEAD");
            let reference =
                std::fs::read_to_string(&head).ok().and_then(|h| h.strip_prefix("ref: ").map(|r| format!("{dir}/{}", r.trim())));
            [Some(head), reference, Some(format!("{dir}/packed-refs"))].into_iter().flatten().filter(|p| Path::new(p).exists()).collect()
        })
        .unwrap_or_default();
    if watched.is_empty() {
        println!("cargo:rerun-if-changed=build.rs");
    }
    for path in watched {
        println!("cargo:rerun-if-changed={path}");
    }
}
