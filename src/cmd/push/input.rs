//! Standard input read against one deadline, for every way a push arrives
//! (`--inetd`, CGI, a pipe): `poll` before each read, so that a slow or
//! silent sender ends the process instead of holding it. And the polite end
//! of an answer: what the sender still sends is read and dropped for a
//! moment, so that closing with unread data does not reset the connection
//! before the answer is read. A request refused by its HTTP form is a
//! [`Refused`] with the status that says why.

use std::fs::File;
use std::io::Read;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::platform::push::Refused;
use crate::platform::xml::MAX_BODY;

/// How long the end of an answer waits for the sender to finish sending what
/// will not be read.
const LINGER: Duration = Duration::from_secs(1);

/// How much of what will not be read the end of an answer takes in: enough
/// for a sender that declared a body a little over [`MAX_BODY`] to finish
/// writing it before the process ends (a pipe holds only 64 KiB), bounded all
/// the same.
const LINGER_BYTES: usize = 16 * MAX_BODY;

/// A request refused by its HTTP form (not by the push's content): its
/// status and why.
pub(super) fn refuse(status: u16, why: impl Into<String>) -> anyhow::Error {
    Refused {
        status,
        why: why.into(),
    }
    .into()
}

/// Standard input, read before a deadline into a buffer.
pub struct Input {
    fd: ManuallyDrop<File>,
    deadline: Instant,
    pub buf: Vec<u8>,
}

impl Input {
    /// Standard input, to be read within `timeout` from now.
    pub fn stdin(timeout: Duration) -> Input {
        Input {
            // SAFETY: fd 0 is open for the whole process (a connection, a pipe
            // or a file); ManuallyDrop never closes it.
            fd: ManuallyDrop::new(unsafe { File::from_raw_fd(0) }),
            deadline: Instant::now() + timeout,
            buf: Vec::new(),
        }
    }

    /// Reads up to `want` more bytes into the buffer before the deadline; 0
    /// at the end of the input. Past the deadline: HTTP 408.
    pub fn more(&mut self, want: usize) -> Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if !readable(&self.fd, left) {
            return Err(refuse(
                408,
                format!(
                    "the request did not arrive within the read timeout ({} bytes came)",
                    self.buf.len()
                ),
            ));
        }
        let old = self.buf.len();
        self.buf.resize(old + want, 0);
        let n = loop {
            match self.fd.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(refuse(400, format!("could not read the request: {e}")));
                }
            }
        };
        self.buf.truncate(old + n);
        Ok(n)
    }

    /// Reads until the buffer holds `len` bytes or the input ends.
    pub fn fill(&mut self, len: usize) -> Result<()> {
        while self.buf.len() < len {
            if self.more(len - self.buf.len())? == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Ends the answer (`shutdown` of a socket's sending side), then reads and
    /// drops what the sender still sends, for at most [`LINGER`] and
    /// [`LINGER_BYTES`].
    pub fn linger(&mut self) {
        // On a pipe it fails (ENOTSOCK): nothing to end.
        let _ = rustix::net::shutdown(std::io::stdout(), rustix::net::Shutdown::Write);
        let until = Instant::now() + LINGER;
        let mut scratch = [0u8; 4096];
        let mut total = 0;
        while total < LINGER_BYTES {
            if !readable(&self.fd, until.saturating_duration_since(Instant::now())) {
                return;
            }
            match self.fd.read(&mut scratch) {
                Ok(0) | Err(_) => return,
                Ok(n) => total += n,
            }
        }
    }
}

/// Waits until `fd` can be read (data or its end) for at most `left`.
fn readable(fd: &File, left: Duration) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let deadline = Instant::now() + left;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // (Never past i64 seconds; were it so, zero: not blocking.)
        let left = Timespec::try_from(left).unwrap_or_default();
        match poll(&mut [PollFd::new(fd, PollFlags::IN)], Some(&left)) {
            Err(rustix::io::Errno::INTR) => {}
            n => return n.is_ok_and(|n| n > 0),
        }
    }
}
