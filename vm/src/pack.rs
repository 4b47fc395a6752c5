//! What goes into the guest's initramfs: the suite binary as /init with its shared
//! libraries, device nodes for the consoles, the kernel config, the modules the checks need
//! (with their dependencies) and the run's arguments.

use crate::guest::{ARGS_FILE, CONFIG_FILE, MODULES_DIR, MODULE_ORDER};
use crate::initramfs::{Archive, Entry};
use crate::kernel::Kernel;
use crate::outcome::Failure;
use std::path::{Path, PathBuf};

/// The shared objects `ldd` lists for a binary (none for a static one).
pub fn shared_libraries(ldd_output: &str) -> Vec<PathBuf> {
    ldd_output
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::tooling(format!("reading {}: {e}", path.display())))
}

/// Builds the archive; also returns the wanted modules that are not module files
/// (built into the kernel, or not built at all).
pub fn initramfs(binary: &Path, kernel: &Kernel, modules: &[&str], args: &[String]) -> Result<(Archive, Vec<String>), Failure> {
    let mut archive = Archive::default();
    archive.add("/init", Entry::File { data: read(binary)?, executable: true });
    let ldd = std::process::Command::new("ldd").arg(binary).output().map_err(|e| Failure::tooling(format!("ldd: {e}")))?;
    for lib in shared_libraries(&String::from_utf8_lossy(&ldd.stdout)) {
        let data = read(&lib)?;
        archive.add(&lib.to_string_lossy(), Entry::File { data, executable: true });
    }
    for (path, major, minor) in [("/dev/console", 5, 1), ("/dev/null", 1, 3), ("/dev/ttyS0", 4, 64), ("/dev/ttyS1", 4, 65)] {
        archive.add(path, Entry::CharDevice { major, minor });
    }
    for dir in ["/proc", "/sys", "/tmp", "/run", "/mnt", "/var/run"] {
        archive.add(dir, Entry::Dir);
    }
    if let Some(config) = &kernel.config {
        archive.add(CONFIG_FILE, Entry::File { data: read(config)?, executable: false });
    }
    let mut missing = modules.iter().map(|m| m.to_string()).collect::<Vec<_>>();
    if let Some(dir) = &kernel.modules {
        let (found, absent) = crate::modules::closure(dir, modules)?;
        let order: Vec<&str> = found.iter().map(|m| m.name.as_str()).collect();
        archive.add(MODULE_ORDER, Entry::File { data: format!("{}\n", order.join("\n")).into_bytes(), executable: false });
        for m in &found {
            archive.add(&format!("{MODULES_DIR}/{}.ko", m.name), Entry::File { data: m.data.clone(), executable: false });
        }
        missing = absent;
    }
    archive.add(ARGS_FILE, Entry::File { data: args.join("\n").into_bytes(), executable: false });
    Ok((archive, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_library_paths_from_ldd() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            shared_libraries(out),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
        assert!(shared_libraries("\tstatically linked\n").is_empty());
    }

    #[test]
    fn packs_init_libraries_devices_config_modules_and_args() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(&config, "CONFIG_UTS_NS=y\n").unwrap();
        let modules = dir.path().join("modules");
        std::fs::create_dir_all(modules.join("kernel/net")).unwrap();
        std::fs::write(modules.join("kernel/net/veth.ko"), b"\0depends=\0").unwrap();
        let kernel = Kernel {
            label: "test".into(),
            image: "/nonexistent".into(),
            release: "6.1.0".into(),
            config: Some(config),
            modules: Some(modules),
        };
        let binary = std::env::current_exe().unwrap();
        let (archive, missing) = initramfs(&binary, &kernel, &["veth", "dummy"], &["pid.".into()]).unwrap();
        assert_eq!(missing, ["dummy"]);
        for path in ["init", "dev/console", "dev/ttyS1", "nsconform/config", "nsconform/modules/veth.ko", "nsconform/args", "proc"] {
            assert!(archive.get(path).is_some(), "{path} missing");
        }
        assert!(archive.paths().any(|p| p.ends_with("libc.so.6")), "libc is packed");
        assert_eq!(archive.get(MODULE_ORDER), Some(&Entry::File { data: b"veth\n".to_vec(), executable: false }));
    }
}
