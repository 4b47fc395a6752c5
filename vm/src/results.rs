//! The guest's result channel (its second serial port): one JSON object per line, an
//! `event` field telling what it is. Serial lines may end in "\r" and a line may be cut off
//! when the guest dies; such lines are ignored.

use nsconform_harness::report::{json::record_from_value, Record};

#[derive(Debug)]
pub enum Event {
    /// Init started; the kernel's release.
    Started { kernel: String },
    /// A module could not be loaded.
    ModuleFailed { name: String, error: String },
    Check(Record),
    /// The run ended with the harness's exit status.
    Finished { status: i32 },
}

pub fn parse_line(line: &str) -> Option<Event> {
    let v: serde_json::Value = serde_json::from_str(line.trim_end_matches('\r').trim()).ok()?;
    let text = |key: &str| v[key].as_str().unwrap_or_default().to_string();
    match v["event"].as_str()? {
        "started" => Some(Event::Started { kernel: text("kernel") }),
        "module" => Some(Event::ModuleFailed { name: text("name"), error: text("error") }),
        "check" => record_from_value(&v).map(Event::Check),
        "finished" => Some(Event::Finished { status: v["status"].as_i64()? as i32 }),
        _ => None,
    }
}

/// Splits newly read bytes into complete lines, keeping a partial last line for later.
#[derive(Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            lines.push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = include_str!("../tests/fixtures/results-stream.log");

    #[test]
    fn parses_a_recorded_stream() {
        let events: Vec<Event> = STREAM.lines().filter_map(parse_line).collect();
        assert!(matches!(events.first(), Some(Event::Started { .. })), "{events:?}");
        assert!(matches!(events.last(), Some(Event::Finished { status: 0 })), "{events:?}");
        assert!(events.iter().filter(|e| matches!(e, Event::Check(_))).count() > 10);
    }

    #[test]
    fn ignores_noise_and_cut_lines() {
        assert!(parse_line("\r").is_none());
        assert!(parse_line("{\"event\":\"check\",\"id\":\"uts.a\",\"verd").is_none());
        assert!(parse_line("garbage").is_none());
    }

    #[test]
    fn buffers_partial_lines() {
        let mut buf = LineBuffer::default();
        assert_eq!(buf.push(b"one\r\ntw"), ["one\r"]);
        assert_eq!(buf.push(b"o\n"), ["two"]);
    }
}
