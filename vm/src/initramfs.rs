//! A reproducible newc (SVR4 "070701") cpio archive, the format the kernel unpacks as an
//! initramfs (Documentation/driver-api/early-userspace/buffer-format.rst): entries sorted
//! by path, fixed inode numbers, owner root and mtime 0, so the same inputs give the same bytes.

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File { data: Vec<u8>, executable: bool },
    CharDevice { major: u32, minor: u32 },
}

#[derive(Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    /// Adds `entry` at `path` (absolute or relative; stored relative) and its parent directories.
    pub fn add(&mut self, path: &str, entry: Entry) {
        let path = path.trim_start_matches('/').to_string();
        let mut parent = String::new();
        for part in path.split('/').collect::<Vec<_>>().split_last().map(|(_, dirs)| dirs).unwrap_or(&[]) {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            self.entries.entry(parent.clone()).or_insert(Entry::Dir);
        }
        self.entries.insert(path, entry);
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path.trim_start_matches('/'))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (path, entry)) in self.entries.iter().enumerate() {
            let (mode, nlink, rdev, data): (u32, u32, (u32, u32), &[u8]) = match entry {
                Entry::Dir => (0o040755, 2, (0, 0), &[]),
                Entry::File { data, executable } => (if *executable { 0o100755 } else { 0o100644 }, 1, (0, 0), data),
                Entry::CharDevice { major, minor } => (0o020600, 1, (*major, *minor), &[]),
            };
            write_header(&mut out, i as u32 + 1, mode, nlink, data.len() as u32, rdev, path);
            out.extend_from_slice(data);
            pad(&mut out);
        }
        write_header(&mut out, 0, 0, 1, 0, (0, 0), "TRAILER!!!");
        out
    }

    /// Reads back an archive written by `to_bytes` (for tests and inspection).
    pub fn parse(mut bytes: &[u8]) -> Result<Archive, String> {
        let mut archive = Archive::default();
        let mut consumed = 0usize;
        loop {
            if bytes.len() < 110 || &bytes[..6] != b"070701" {
                return Err(format!("bad cpio header at byte {consumed}"));
            }
            let field = |i: usize| u32::from_str_radix(std::str::from_utf8(&bytes[6 + i * 8..14 + i * 8]).unwrap_or("x"), 16);
            let field = |i| field(i).map_err(|e| format!("bad header field at byte {consumed}: {e}"));
            let (mode, size, rmaj, rmin, namesize) = (field(1)?, field(6)? as usize, field(9)?, field(10)?, field(11)? as usize);
            let name = std::str::from_utf8(&bytes[110..110 + namesize - 1]).map_err(|e| e.to_string())?.to_string();
            let data_start = align(110 + namesize);
            if name == "TRAILER!!!" {
                return Ok(archive);
            }
            let data = bytes.get(data_start..data_start + size).ok_or("truncated cpio data")?;
            let entry = match mode & 0o170000 {
                0o040000 => Entry::Dir,
                0o020000 => Entry::CharDevice { major: rmaj, minor: rmin },
                _ => Entry::File { data: data.to_vec(), executable: mode & 0o111 != 0 },
            };
            archive.entries.insert(name, entry);
            let next = align(data_start + size);
            consumed += next;
            bytes = &bytes[next.min(bytes.len())..];
        }
    }
}

fn write_header(out: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, size: u32, rdev: (u32, u32), name: &str) {
    let fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad(out);
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

fn pad(out: &mut Vec<u8>) {
    out.resize(align(out.len()), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Archive {
        let mut a = Archive::default();
        a.add("/init", Entry::File { data: b"\x7fELF...".to_vec(), executable: true });
        a.add("/lib/x86_64-linux-gnu/libc.so.6", Entry::File { data: vec![1, 2, 3], executable: false });
        a.add("/dev/console", Entry::CharDevice { major: 5, minor: 1 });
        a
    }

    #[test]
    fn adds_parent_directories_and_sorts_paths() {
        let paths: Vec<_> = sample().paths().map(String::from).collect();
        assert_eq!(paths, ["dev", "dev/console", "init", "lib", "lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu/libc.so.6"]);
    }

    #[test]
    fn round_trips_through_the_newc_format() {
        let bytes = sample().to_bytes();
        assert_eq!(&bytes[..6], b"070701");
        assert_eq!(bytes.len() % 4, 0);
        let back = Archive::parse(&bytes).unwrap();
        assert_eq!(back.entries, sample().entries);
    }

    #[test]
    fn is_reproducible() {
        assert_eq!(sample().to_bytes(), sample().to_bytes());
    }
}
