//! The running kernel's build configuration, found where LTP looks for it
//! (lib/tst_kconfig.c): $KCONFIG_PATH, /proc/config.gz, /lib/modules/$(uname -r)/build/.config,
//! /lib/modules/$(uname -r)/config, /boot/config-$(uname -r).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The override variable, named as in LTP.
pub const OVERRIDE_VAR: &str = "KCONFIG_PATH";

#[derive(Clone, Debug)]
pub struct Kconfig {
    /// Where it was read from.
    pub source: PathBuf,
    values: HashMap<String, String>,
}

impl Kconfig {
    /// Parses `.config` text: `CONFIG_X=value` lines; `# CONFIG_X is not set` and absent
    /// options both mean off.
    pub fn parse(source: PathBuf, text: &str) -> Kconfig {
        let values = text
            .lines()
            .filter_map(|line| line.trim().split_once('='))
            .filter(|(name, _)| name.starts_with("CONFIG_"))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Kconfig { source, values }
    }

    /// The option's value, `None` when it is not set.
    pub fn value(&self, option: &str) -> Option<&str> {
        self.values.get(option).map(String::as_str).filter(|v| *v != "n")
    }

    /// Built in or a module.
    pub fn enabled(&self, option: &str) -> bool {
        matches!(self.value(option), Some("y" | "m"))
    }

    /// Reads the first config found in LTP's order for kernel release `release`.
    /// `Ok(None)`: none exists. `Err`: one exists but cannot be read; a config that is there
    /// and unreadable must not silently turn into "unknown".
    pub fn find(release: &str) -> Result<Option<Kconfig>, String> {
        if let Some(path) = std::env::var_os(OVERRIDE_VAR) {
            let path = PathBuf::from(path);
            return Self::read(&path).map(Some).map_err(|e| format!("{OVERRIDE_VAR}={}: {e}", path.display()));
        }
        for path in Self::candidates(release) {
            if path.exists() {
                return Self::read(&path).map(Some).map_err(|e| format!("{}: {e}", path.display()));
            }
        }
        Ok(None)
    }

    fn candidates(release: &str) -> [PathBuf; 4] {
        [
            PathBuf::from("/proc/config.gz"),
            PathBuf::from(format!("/lib/modules/{release}/build/.config")),
            PathBuf::from(format!("/lib/modules/{release}/config")),
            PathBuf::from(format!("/boot/config-{release}")),
        ]
    }

    /// Reads a plain or gzip-compressed config file.
    pub fn read(path: &Path) -> std::io::Result<Kconfig> {
        let raw = std::fs::read(path)?;
        let text = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&raw[..]).read_to_string(&mut text)?;
            text
        } else {
            String::from_utf8(raw).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?
        };
        if !text.lines().any(|l| l.starts_with("CONFIG_") || l.starts_with("# CONFIG_")) {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not a kernel config (no CONFIG_ lines)"));
        }
        Ok(Kconfig::parse(path.to_path_buf(), &text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::io::Write;

    const SAMPLE: &str = "#\n# Automatically generated file\n#\nCONFIG_UTS_NS=y\n# CONFIG_TIME_NS is not set\nCONFIG_VETH=m\nCONFIG_LOCALVERSION=\"-cloud\"\nCONFIG_NR_CPUS=64\n";

    #[rstest]
    #[case("CONFIG_UTS_NS", true)]
    #[case("CONFIG_VETH", true)]
    #[case("CONFIG_TIME_NS", false)]
    #[case("CONFIG_NET_NS", false)]
    #[case("CONFIG_NR_CPUS", false)]
    fn enabled_means_y_or_m(#[case] option: &str, #[case] enabled: bool) {
        let config = Kconfig::parse("sample".into(), SAMPLE);
        assert_eq!(config.enabled(option), enabled);
    }

    #[test]
    fn values_keep_their_text() {
        let config = Kconfig::parse("sample".into(), SAMPLE);
        assert_eq!(config.value("CONFIG_LOCALVERSION"), Some("\"-cloud\""));
        assert_eq!(config.value("CONFIG_TIME_NS"), None);
    }

    #[test]
    fn reads_gzip_and_plain_files() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("config");
        std::fs::write(&plain, SAMPLE).unwrap();
        let gz = dir.path().join("config.gz");
        let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
        enc.write_all(SAMPLE.as_bytes()).unwrap();
        enc.finish().unwrap();
        for path in [plain, gz] {
            let config = Kconfig::read(&path).unwrap();
            assert!(config.enabled("CONFIG_UTS_NS"), "{}", path.display());
            assert_eq!(config.source, path);
        }
    }

    #[test]
    fn rejects_a_file_that_is_not_a_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "hello\n").unwrap();
        let err = Kconfig::read(&path).unwrap_err();
        assert!(err.to_string().contains("not a kernel config"), "{err}");
    }

    #[test]
    fn candidates_follow_ltp_order() {
        let paths = Kconfig::candidates("6.1.0-x");
        let names: Vec<_> = paths.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(names, ["/proc/config.gz", "/lib/modules/6.1.0-x/build/.config", "/lib/modules/6.1.0-x/config", "/boot/config-6.1.0-x"]);
    }
}
