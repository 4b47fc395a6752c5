//! Kernel modules for the guest: found by name in a modules directory, decompressed on the
//! host, ordered so that every module comes after the modules it depends on (the `depends=`
//! entry of its .modinfo section, which is what depmod reads; Debian packages ship no
//! modules.dep).

use crate::outcome::Failure;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A module ready to pack: its name and its uncompressed ELF bytes.
pub struct Module {
    pub name: String,
    pub data: Vec<u8>,
}

/// Module names use '_' and '-' interchangeably.
fn canonical(name: &str) -> String {
    name.replace('-', "_")
}

/// Every module file under `dir/kernel`, by canonical name.
pub fn index(dir: &Path) -> HashMap<String, PathBuf> {
    let mut found = HashMap::new();
    let mut stack = vec![dir.join("kernel")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Some(name) = module_name(&path) {
                found.insert(canonical(&name), path);
            }
        }
    }
    found
}

fn module_name(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    let base = file.strip_suffix(".xz").or_else(|| file.strip_suffix(".zst")).or_else(|| file.strip_suffix(".gz")).unwrap_or(file);
    base.strip_suffix(".ko").map(String::from)
}

/// Reads a module, decompressing .xz, .zst and .gz with the standard tools.
pub fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    let (tool, package) = match path.extension().and_then(|e| e.to_str()) {
        Some("xz") => ("xz", "xz-utils"),
        Some("zst") => ("zstd", "zstd"),
        Some("gz") => ("gzip", "gzip"),
        _ => return std::fs::read(path).map_err(|e| Failure::tooling(format!("reading {}: {e}", path.display()))),
    };
    let out = std::process::Command::new(tool).arg("-dc").arg(path).output().map_err(|e| {
        Failure::tooling(match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("{tool} is not installed; this kernel's modules are compressed with it: install {package} (Debian, Ubuntu)")
            }
            _ => format!("running {tool} to decompress {}: {e}", path.display()),
        })
    })?;
    if !out.status.success() {
        return Err(Failure::tooling(format!("{tool} -dc {}: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(out.stdout)
}

/// The `depends=` list of a module's .modinfo section.
pub fn depends(module: &[u8]) -> Vec<String> {
    module
        .split(|&b| b == 0)
        .find_map(|field| field.strip_prefix(b"depends="))
        .map(|list| String::from_utf8_lossy(list).split(',').filter(|s| !s.is_empty()).map(canonical).collect())
        .unwrap_or_default()
}

/// The modules `wanted` and everything they depend on, dependencies first. Names that are
/// not module files (built in, or not built at all) are returned separately.
pub fn closure(dir: &Path, wanted: &[&str]) -> Result<(Vec<Module>, Vec<String>), Failure> {
    let index = index(dir);
    let mut ordered: Vec<Module> = Vec::new();
    let mut missing = Vec::new();
    fn visit(
        name: &str,
        index: &HashMap<String, PathBuf>,
        ordered: &mut Vec<Module>,
        missing: &mut Vec<String>,
        path_to: &mut Vec<String>,
    ) -> Result<(), Failure> {
        let name = canonical(name);
        if ordered.iter().any(|m| m.name == name) || missing.contains(&name) || path_to.contains(&name) {
            return Ok(());
        }
        let Some(path) = index.get(&name) else {
            missing.push(name);
            return Ok(());
        };
        let data = read(path)?;
        path_to.push(name.clone());
        for dep in depends(&data) {
            visit(&dep, index, ordered, missing, path_to)?;
        }
        path_to.pop();
        ordered.push(Module { name, data });
        Ok(())
    }
    for name in wanted {
        visit(name, &index, &mut ordered, &mut missing, &mut Vec::new())?;
    }
    Ok((ordered, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_depends_from_modinfo() {
        let module = b"\x7fELF\0\0license=GPL\0depends=net_failover,failover\0intree=Y\0name=virtio_net\0";
        assert_eq!(depends(module), ["net_failover", "failover"]);
        assert!(depends(b"\0depends=\0name=veth\0").is_empty());
    }

    #[test]
    fn orders_dependencies_first_and_reports_missing() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("kernel/drivers/net");
        std::fs::create_dir_all(&net).unwrap();
        std::fs::write(net.join("virtio_net.ko"), b"\0depends=net_failover\0").unwrap();
        std::fs::write(net.join("net_failover.ko"), b"\0depends=failover\0").unwrap();
        std::fs::write(net.join("failover.ko"), b"\0depends=\0").unwrap();
        let (modules, missing) = closure(dir.path(), &["virtio-net", "veth"]).unwrap();
        let names: Vec<_> = modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["failover", "net_failover", "virtio_net"]);
        assert_eq!(missing, ["veth"]);
    }
}
