//! A message channel between two processes of a check: a SOCK_SEQPACKET socketpair carrying
//! one JSON value per packet, so writers never interleave and an exited peer reads as EOF.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

const MAX_PACKET: usize = 64 * 1024;

pub struct Channel {
    fd: OwnedFd,
}

#[derive(Debug)]
pub enum RecvError {
    /// The peer closed its end (it exited) before sending.
    Closed,
    TimedOut,
    Io(io::Error),
    Decode(String),
}

impl std::fmt::Display for RecvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecvError::Closed => f.write_str("the other side closed the channel"),
            RecvError::TimedOut => f.write_str("timed out"),
            RecvError::Io(e) => write!(f, "{e}"),
            RecvError::Decode(e) => write!(f, "undecodable message: {e}"),
        }
    }
}

impl AsFd for Channel {
    /// For polling several channels at once.
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Channel {
    pub fn pair() -> io::Result<(Channel, Channel)> {
        use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
        let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    pub fn send<T: Serialize>(&self, value: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
        if bytes.len() > MAX_PACKET {
            return Err(io::Error::other(format!("message of {} bytes exceeds {MAX_PACKET}", bytes.len())));
        }
        nix::sys::socket::send(self.fd.as_raw_fd(), &bytes, nix::sys::socket::MsgFlags::MSG_NOSIGNAL)?;
        Ok(())
    }

    /// Waits for the next packet, at most `timeout` when given (zero: only one already queued).
    pub fn recv<T: DeserializeOwned>(&self, timeout: Option<Duration>) -> Result<T, RecvError> {
        if let Some(timeout) = timeout {
            self.wait_readable(timeout)?;
        }
        let mut buf = vec![0u8; MAX_PACKET];
        let n = loop {
            match nix::sys::socket::recv(self.fd.as_raw_fd(), &mut buf, nix::sys::socket::MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                // The peer closed with packets of ours unread: the error is reported once,
                // then the packets it sent before closing are still ours to read.
                Err(nix::errno::Errno::ECONNRESET) => continue,
                Err(e) => return Err(RecvError::Io(e.into())),
                Ok(n) => break n,
            }
        };
        if n == 0 {
            return Err(RecvError::Closed);
        }
        serde_json::from_slice(&buf[..n]).map_err(|e| RecvError::Decode(e.to_string()))
    }

    fn wait_readable(&self, timeout: Duration) -> Result<(), RecvError> {
        use nix::poll::{poll, PollFd, PollFlags};
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, poll_timeout(left)) {
                Ok(0) if left.is_zero() => return Err(RecvError::TimedOut),
                Ok(0) => continue,
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(RecvError::Io(e.into())),
            }
        }
    }
}

/// `left` as poll(2)'s timeout, in whole milliseconds (the longest poll can wait if larger).
pub(crate) fn poll_timeout(left: Duration) -> nix::poll::PollTimeout {
    nix::poll::PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32).unwrap_or(nix::poll::PollTimeout::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_that_closed_with_our_packet_unread_still_delivers_what_it_sent() {
        let (ours, theirs) = Channel::pair().unwrap();
        ours.send(&"an order the peer never reads").unwrap();
        theirs.send(&"its result").unwrap();
        drop(theirs);
        assert!(ours.send(&"another order").is_err(), "the peer is gone");
        assert_eq!(ours.recv::<String>(Some(Duration::ZERO)).unwrap(), "its result");
        assert!(matches!(ours.recv::<String>(Some(Duration::ZERO)), Err(RecvError::Closed)));
    }

    #[test]
    fn a_zero_timeout_reads_only_what_is_queued() {
        let (ours, _theirs) = Channel::pair().unwrap();
        assert!(matches!(ours.recv::<String>(Some(Duration::ZERO)), Err(RecvError::TimedOut)));
    }
}
