//! Reading the guest's result channel (its second serial port): the bytes QEMU writes to a
//! file, split into lines of the stream protocol (nsconform_harness::stream).

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

    use nsconform_harness::stream::{Event, PROTOCOL};

    const STREAM: &str = include_str!("../tests/fixtures/results-stream.log");

    #[test]
    fn parses_a_recorded_stream() {
        let events: Vec<Event> = STREAM.lines().filter_map(Event::parse).collect();
        assert!(matches!(events.first(), Some(Event::Started { protocol: PROTOCOL, .. })), "{events:?}");
        assert!(matches!(events.last(), Some(Event::Finished { status: 0 })), "{events:?}");
        let verdicts = events.iter().filter_map(|e| match e {
            Event::Check(value) => nsconform_harness::report::json::verdict_from_value(value),
            _ => None,
        });
        assert!(verdicts.count() > 10);
    }

    #[test]
    fn buffers_partial_lines() {
        let mut buf = LineBuffer::default();
        assert_eq!(buf.push(b"one\r\ntw"), ["one\r"]);
        assert_eq!(buf.push(b"o\n"), ["two"]);
    }
}
