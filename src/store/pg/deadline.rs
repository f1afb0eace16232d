//! A deadline on everything that waits for the server: connecting (TCP, TLS,
//! the login) and every statement or transaction, for readers and writers.
//!
//! The `postgres` client blocks without a limit of its own: `connect_timeout`
//! bounds the TCP connect alone, and a server (or a pooler without a server)
//! that accepts the connection and then says nothing holds a command for as
//! long as the kernel keeps the socket. So one watchdog thread watches the
//! exchange under way. At its deadline it sends a cancel request (the server
//! ends a slow statement, a hostile view's `pg_sleep` among them, and the
//! caller reports the error as usual); when nothing has come back a few
//! seconds later, nothing will: the command ends with one clear line, exit 1.
//! Any lease it held ends by itself, as a killed run's does.

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

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

/// The exchange being watched.
struct Armed {
    id: u64,
    cancel_at: Instant,
    /// The cancel request to send at `cancel_at` (none while connecting).
    cancel: Option<(CancelToken, MakeRustlsConnect)>,
    /// The line to end the command with.
    message: String,
}

#[derive(Default)]
struct State {
    armed: Option<Armed>,
    next: u64,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

fn watchdog() -> &'static Shared {
    static WATCH: OnceLock<Shared> = OnceLock::new();
    WATCH.get_or_init(|| {
        let shared: Shared = Arc::default();
        let watched = shared.clone();
        std::thread::spawn(move || watch(&watched));
        shared
    })
}

fn watch(shared: &Shared) {
    let (lock, wake) = &**shared;
    let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let Some(armed) = &mut state.armed else {
            state = wake.wait(state).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        let now = Instant::now();
        if now < armed.cancel_at {
            let wait = armed.cancel_at - now;
            state = wake
                .wait_timeout(state, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            continue;
        }
        let id = armed.id;
        if let Some((token, tls)) = armed.cancel.take() {
            // On a thread of its own: to a silent server, it hangs too.
            std::thread::spawn(move || {
                let _ = token.cancel_query(tls);
            });
        }
        let until = Instant::now() + GRACE;
        while state.armed.as_ref().is_some_and(|a| a.id == id) {
            let now = Instant::now();
            if now >= until {
                let message = state.armed.as_ref().map(|a| a.message.clone());
                // The error line, as `report::error` writes it for a message
                // with no cause and no fix (the store does not call up into it).
                let line = message.unwrap_or_default().replace('\n', " ");
                crate::out::errln!(
                    "wxtoken: {}",
                    crate::text::shown(&crate::secret::redact(&line))
                );
                std::process::exit(1);
            }
            state = wake
                .wait_timeout(state, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Runs `f` under a deadline of `limit`: then `cancel` is sent, and if `f`
/// has still not returned `GRACE` later, the command ends with `message`.
pub(super) fn within<T>(
    limit: Duration,
    cancel: Option<(CancelToken, MakeRustlsConnect)>,
    message: impl FnOnce() -> String,
    f: impl FnOnce() -> T,
) -> T {
    let (lock, wake) = &**watchdog();
    let id = {
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        state.next += 1;
        let id = state.next;
        state.armed = Some(Armed {
            id,
            cancel_at: Instant::now() + limit,
            cancel,
            message: message(),
        });
        wake.notify_all();
        id
    };
    let out = f();
    let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
    if state.armed.as_ref().is_some_and(|a| a.id == id) {
        state.armed = None;
        wake.notify_all();
    }
    out
}
