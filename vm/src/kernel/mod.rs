//! Which kernel to boot: a bzImage path, a Debian kernel package, or a source tree built with
//! a config fragment. Each resolves to an image plus, where known, its config and modules.

pub mod debian;
pub mod image;
pub mod source;

use crate::outcome::Failure;
use crate::progress::Progress;
use std::path::{Path, PathBuf};

/// The default kernel: the current Debian stable's.
pub const DEFAULT: &str = "debian:stable";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spec {
    /// A bzImage or vmlinuz, with an optional config file and modules directory.
    Image { image: PathBuf, config: Option<PathBuf>, modules: Option<PathBuf> },
    /// Debian's cloud kernel of a release (5.10, 6.1, 6.12, 7.2) or suite (stable, testing, unstable).
    Debian(String),
    /// A kernel source tree or tarball, built from tinyconfig plus the fragments, in order.
    Source { tree: PathBuf, fragments: Vec<PathBuf> },
}

#[derive(Clone, Debug)]
pub struct Kernel {
    /// How the user named it, for messages and report names.
    pub label: String,
    pub image: PathBuf,
    pub release: String,
    pub config: Option<PathBuf>,
    pub modules: Option<PathBuf>,
}

impl Spec {
    pub fn parse(text: &str, config: Option<PathBuf>, modules: Option<PathBuf>, fragments: Vec<PathBuf>) -> Result<Spec, Failure> {
        if let Some(version) = text.strip_prefix("debian:") {
            debian::suite_of(version)?;
            return Ok(Spec::Debian(version.to_string()));
        }
        let path = PathBuf::from(text.strip_prefix("source:").unwrap_or(text));
        let is_source = text.starts_with("source:") || path.is_dir() || is_tarball(&path);
        if is_source {
            if fragments.is_empty() {
                return Err(Failure::bad_input(format!("building {text} needs --fragment FILE (a config fragment)")));
            }
            return Ok(Spec::Source { tree: path, fragments });
        }
        Ok(Spec::Image { image: path, config, modules })
    }

    pub fn resolve(&self, cache: &Path, refresh: bool, progress: &dyn Fn(Progress)) -> Result<Kernel, Failure> {
        match self {
            Spec::Image { image, config, modules } => from_image(image, config.clone(), modules.clone()),
            Spec::Debian(version) => debian::fetch(version, &cache.join("debian"), refresh, progress),
            Spec::Source { tree, fragments } => source::build(tree, fragments, &cache.join("built"), progress),
        }
    }
}

fn is_tarball(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [".tar", ".tar.xz", ".tar.gz", ".tar.bz2", ".tar.zst", ".tgz"].iter().any(|ext| name.ends_with(ext))
}

/// A kernel given as an image path; its config and modules are looked for where Debian
/// and kernel builds put them unless given.
pub fn from_image(image: &Path, config: Option<PathBuf>, modules: Option<PathBuf>) -> Result<Kernel, Failure> {
    if !image.exists() {
        return Err(Failure::bad_input(format!("kernel image {} does not exist", image.display())));
    }
    let release = image::release_of(image)?;
    for (what, path) in [("config file", &config), ("modules directory", &modules)] {
        if let Some(p) = path.as_ref().filter(|p| !p.exists()) {
            return Err(Failure::bad_input(format!("{what} {} does not exist", p.display())));
        }
    }
    let sibling_config = image.with_file_name(format!("config-{release}"));
    let config = config.or_else(|| {
        [sibling_config, PathBuf::from(format!("/boot/config-{release}")), PathBuf::from(format!("/lib/modules/{release}/config"))]
            .into_iter()
            .find(|p| p.exists())
    });
    let modules = modules.or_else(|| Some(PathBuf::from(format!("/lib/modules/{release}"))).filter(|p| p.exists()));
    Ok(Kernel { label: image.display().to_string(), image: image.to_path_buf(), release, config, modules })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_ways_to_name_a_kernel() {
        assert_eq!(Spec::parse("debian:6.12", None, None, vec![]).unwrap(), Spec::Debian("6.12".into()));
        assert_eq!(
            Spec::parse("source:/usr/src/linux", None, None, vec!["a.config".into(), "b.config".into()]).unwrap(),
            Spec::Source { tree: "/usr/src/linux".into(), fragments: vec!["a.config".into(), "b.config".into()] }
        );
        assert_eq!(
            Spec::parse("/boot/vmlinuz-6.1", Some("c".into()), None, vec![]).unwrap(),
            Spec::Image { image: "/boot/vmlinuz-6.1".into(), config: Some("c".into()), modules: None }
        );
    }

    #[test]
    fn rejects_bad_input_with_one_line() {
        let e = Spec::parse("debian:4.19", None, None, vec![]).unwrap_err();
        assert_eq!(e.message, "unknown Debian kernel \"4.19\": use 5.10, 6.1, 6.12, 7.2, oldstable, stable, testing or unstable");
        let e = Spec::parse("/x/linux-6.12.tar.xz", None, None, vec![]).unwrap_err();
        assert_eq!(e.message, "building /x/linux-6.12.tar.xz needs --fragment FILE (a config fragment)");
        let e = from_image(Path::new("/nonexistent/vmlinuz"), None, None).unwrap_err();
        assert_eq!(e.message, "kernel image /nonexistent/vmlinuz does not exist");
        let text = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(text.path(), "just text\n").unwrap();
        let e = from_image(text.path(), None, None).unwrap_err();
        assert!(e.message.ends_with("is not a kernel image: no x86 boot header (bzImage) found"), "{}", e.message);
    }
}
