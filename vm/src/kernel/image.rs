//! Recognising an x86 bzImage and reading the release string it carries
//! (Documentation/arch/x86/boot.rst: "HdrS" at 0x202, kernel_version at 0x20E).

use crate::outcome::Failure;
use std::path::Path;

/// The kernel release of the bzImage at `path`, e.g. `6.1.0-50-cloud-amd64`.
pub fn release_of(path: &Path) -> Result<String, Failure> {
    let data = std::fs::read(path).map_err(|e| Failure::bad_input(format!("cannot read kernel {}: {e}", path.display())))?;
    parse_release(&data)
        .ok_or_else(|| Failure::bad_input(format!("{} is not a kernel image: no x86 boot header (bzImage) found", path.display())))
}

pub fn parse_release(data: &[u8]) -> Option<String> {
    if data.len() < 0x210 || &data[0x202..0x206] != b"HdrS" {
        return None;
    }
    let offset = u16::from_le_bytes([data[0x20E], data[0x20F]]) as usize + 0x200;
    let text = data.get(offset..offset.checked_add(256)?.min(data.len()))?;
    let version = text.split(|&b| b == 0 || b == b' ').next()?;
    let version = std::str::from_utf8(version).ok()?;
    (!version.is_empty()).then(|| version.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_release;

    fn image(version: &str) -> Vec<u8> {
        let mut data = vec![0u8; 0x400];
        data[0x202..0x206].copy_from_slice(b"HdrS");
        data[0x20E..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        let text = format!("{version} (builder@host) #1 SMP\0");
        data[0x300..0x300 + text.len()].copy_from_slice(text.as_bytes());
        data
    }

    #[test]
    fn reads_the_release_from_the_boot_header() {
        assert_eq!(parse_release(&image("6.1.0-50-cloud-amd64")).as_deref(), Some("6.1.0-50-cloud-amd64"));
    }

    #[test]
    fn rejects_text_and_short_files() {
        assert_eq!(parse_release(b"#!/bin/sh\necho not a kernel\n"), None);
        assert_eq!(parse_release(&[0u8; 0x300]), None);
    }
}
