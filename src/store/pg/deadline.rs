//! A deadline on everything that waits for the server: connecting (TCP, TLS,
//! the login) and every statement or transaction, for readers and writers.
//!
//! The `postgres` client blocks without a limit of its own: `connect_timeout`
//! bounds the TCP connect alone, and a server (or a pooler without a server)
//! that accepts the connection and then says nothing holds a command for as
//! long as the kernel keeps the socket. So a watchdog thread watches each
//! exchange. At its deadline it sends a cancel request (the server
//! ends a slow statement, a hostile view's `pg_sleep` among them, and the
//! caller reports the error as usual); when nothing has come back a few
//! seconds later, nothing will: the command ends with one clear line, exit 1.
//! Any lease it held ends by itself, as a killed run's does.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use postgres::CancelToken;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How long one statement or one transaction of a writer may take, all waits
/// included: longer than the writers' `statement_timeout` (30 s), so that the
/// server's own error comes first when it is there to give it.
pub(super) const WRITER: Duration = Duration::from_secs(35);
/// The same for a reader (`show`, `status`, `history`): its reads are short.
pub(super) const READER: Duration = Duration::from_secs(10);
/// After a cancel request, how long the answer may take before the server
/// is taken for silent.
const GRACE: Duration = Duration::from_secs(3);

/// Runs `f` under a deadline of `limit`, watched by a thread of its own: then
/// `cancel` is sent, and if `f` has still not returned `GRACE` later, the
/// command ends with `message`.
pub(super) fn within<T>(
    limit: Duration,
    cancel: Option<(CancelToken, MakeRustlsConnect)>,
    message: String,
    f: impl FnOnce() -> T,
) -> T {
    // `f` has returned when `done` is dropped: the watcher hears "disconnected".
    let (done, returned) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let timed_out = |wait| returned.recv_timeout(wait) == Err(RecvTimeoutError::Timeout);
        if !timed_out(limit) {
            return;
        }
        if let Some((token, tls)) = cancel {
            // On a thread of its own: to a silent server, it hangs too.
            std::thread::spawn(move || {
                let _ = token.cancel_query(tls);
            });
        }
        if timed_out(GRACE) {
            // The error line, as `report::error` writes it for a message
            // with no cause and no fix (the store does not call up into it).
            let line = message.replace('\n', " ");
            crate::out::errln!(
                "wxtoken: {}",
                crate::text::shown(&crate::secret::redact(&line))
            );
            std::process::exit(1);
        }
    });
    let out = f();
    drop(done);
    out
}
