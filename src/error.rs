//! The errors that decide an exit status. Everything else is an `anyhow::Error`
//! and exits 1; `main` prints each error once, as `wxtoken: {err:#}`.

use std::fmt;

/// Exit 2: a bad flag, a missing secret, an unknown app, an unreadable config.
#[derive(Debug)]
pub struct Usage(pub String);

/// Exit 3 (`show` only): no usable token is stored for that app right now.
#[derive(Debug)]
pub struct NoToken(pub String);

/// Exit with a code and no message: the problems were already printed.
#[derive(Debug)]
pub struct Silent(pub u8);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for NoToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for Silent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit {}", self.0)
    }
}
impl std::error::Error for Usage {}
impl std::error::Error for NoToken {}
impl std::error::Error for Silent {}

/// A usage or configuration error (exit 2).
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage(msg.into()).into()
}

/// "No usable token" (exit 3).
pub fn no_token(msg: impl Into<String>) -> anyhow::Error {
    NoToken(msg.into()).into()
}

/// The documented exit status for an error, and whether it still needs printing.
pub fn exit_status(err: &anyhow::Error) -> (u8, bool) {
    for cause in err.chain() {
        if let Some(Silent(code)) = cause.downcast_ref::<Silent>() {
            return (*code, false);
        }
        if cause.is::<Usage>() {
            return (2, true);
        }
        if cause.is::<NoToken>() {
            return (3, true);
        }
    }
    (1, true)
}
