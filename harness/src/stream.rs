//! The result stream from a VM guest to its runner: one JSON event per line on the guest's
//! second serial port, versioned, written by the guest's init and by `run --stream`, read by
//! the VM runner. Also the names the runner and the guest share.

use crate::check::Check;
use crate::report::json::{verdict_from_value, verdict_value};
use crate::report::Record;
use serde::{Deserialize, Serialize};

/// Raised when an event changes shape; the runner refuses a guest that speaks another.
pub const PROTOCOL: u32 = 2;

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
    /// One check's verdict (`json::verdict_value`). The runner, the same binary as the guest's
    /// init, takes the rest of the record from its catalogue: a serial port is slow without
    /// KVM, and whole records were four times as many bytes.
    Check(serde_json::Value),
    /// The run ended with the harness's exit status.
    Finished { status: i32 },
}

impl Event {
    pub fn started(kernel: String) -> Event {
        Event::Started { protocol: PROTOCOL, kernel }
    }

    pub fn check(record: &Record) -> Event {
        Event::Check(verdict_value(record))
    }

    /// The record of a check event, with the check's entry in `checks`; `None` for another
    /// event or a check `checks` lacks.
    pub fn record(&self, checks: &[Check]) -> Option<Record> {
        let Event::Check(value) = self else { return None };
        let (id, verdict, duration) = verdict_from_value(value)?;
        let check = checks.iter().find(|c| c.id == id)?;
        Some(Record::new(check, verdict, duration))
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
        assert!(Event::check(&record).line().starts_with("{\"event\":\"check\""));
    }

    #[test]
    fn a_check_event_carries_the_verdict_and_the_catalogue_the_rest() {
        use crate::check::Need;
        use crate::kind::Kind;
        let catalogue = [Check::new("uts.b", "the catalogue's statement", "utsname.c", &[Need::Kind(Kind::Uts)], || Ok(()))];
        let record = fixtures::run().records.remove(1);
        let line = Event::check(&record).line();
        assert!(!line.contains("statement of uts.b"), "{line}");
        let back = Event::parse(&line).unwrap().record(&catalogue).unwrap();
        assert_eq!((back.id.as_str(), &back.verdict, back.duration), ("uts.b", &record.verdict, record.duration));
        assert_eq!(
            (back.statement.as_str(), back.reference.as_str(), back.kinds),
            ("the catalogue's statement", "utsname.c", vec![Kind::Uts])
        );
        assert!(Event::parse(&line).unwrap().record(&[]).is_none(), "a check the catalogue lacks");
    }

    #[test]
    fn noise_and_cut_lines_are_no_events() {
        assert!(Event::parse("\r").is_none());
        assert!(Event::parse("{\"event\":\"check\",\"id\":\"uts.a\",\"verd").is_none());
        assert!(Event::parse("garbage").is_none());
        assert!(Event::parse("{\"event\":\"reboot\"}").is_none());
    }
}
