//! The result stream from a VM guest to its runner: one JSON event per line on the guest's
//! second serial port, versioned, written by the guest's init and by `run --stream`, read by
//! the VM runner. Also the names the runner and the guest share.

use crate::report::json::{record_from_value, record_value};
use crate::report::Record;
use serde::{Deserialize, Serialize};

/// Raised when an event changes shape; the runner refuses a guest that speaks another.
pub const PROTOCOL: u32 = 1;

/// The environment variable through which the guest lends its NIC to the physical-device
/// check (set by the guest's init, or by a user who lends a spare NIC on a host).
pub const SPARE_NIC_VAR: &str = "NSCONFORM_SPARE_NIC";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Init started on this kernel release.
    Started { protocol: u32, kernel: String },
    /// A module could not be loaded.
    Module { name: String, error: String },
    /// One check's record (the fields of the JSON report's check objects).
    Check(serde_json::Value),
    /// The run ended with the harness's exit status.
    Finished { status: i32 },
}

impl Event {
    pub fn started(kernel: String) -> Event {
        Event::Started { protocol: PROTOCOL, kernel }
    }

    pub fn check(record: &Record) -> Event {
        Event::Check(record_value(record))
    }

    /// The record a check event carries.
    pub fn record(&self) -> Option<Record> {
        match self {
            Event::Check(value) => record_from_value(value),
            _ => None,
        }
    }

    /// One line of the stream (no newline).
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("events always serialize")
    }

    /// An event from a line; serial lines may end in "\r", and a line cut off when the guest
    /// died, or any other noise, is `None`.
    pub fn parse(line: &str) -> Option<Event> {
        serde_json::from_str(line.trim_end_matches('\r').trim()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn every_event_round_trips_through_one_line() {
        let record = fixtures::run().records.remove(1);
        let events = [
            Event::started("6.1.0".into()),
            Event::Module { name: "veth".into(), error: "ENOENT".into() },
            Event::check(&record),
            Event::Finished { status: 1 },
        ];
        for event in events {
            let line = event.line();
            assert!(!line.contains('\n'), "{line}");
            let back = Event::parse(&format!("{line}\r")).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(back.line(), line);
        }
        let check = Event::parse(&Event::check(&record).line()).unwrap();
        assert_eq!(check.record().unwrap().verdict, record.verdict);
        assert!(Event::check(&record).line().starts_with("{\"event\":\"check\""));
    }

    #[test]
    fn noise_and_cut_lines_are_no_events() {
        assert!(Event::parse("\r").is_none());
        assert!(Event::parse("{\"event\":\"check\",\"id\":\"uts.a\",\"verd").is_none());
        assert!(Event::parse("garbage").is_none());
        assert!(Event::parse("{\"event\":\"reboot\"}").is_none());
    }
}
