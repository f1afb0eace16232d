//! The exit statuses, and the errors that decide one. Everything else is an
//! `anyhow::Error` and exits 1; `main` reports each error once, with
//! [`crate::report`].

/// wxtoken's documented exit statuses (see the README, "Exit status"),
/// ordered as the worse of two outcomes is chosen: a configuration error over
/// a failure over success (`NoToken` is `show`'s alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Done (or a `--help`, or stdout closed by its reader).
    Ok = 0,
    /// A failure: upstream refused, the database could not be written...
    Failure = 1,
    /// A bad flag, a missing secret, an unknown app, an unreadable config, an
    /// untrusted path.
    Usage = 2,
    /// `show` (and `history --app`): no usable token is stored right now.
    NoToken = 3,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// Exit 2: a bad flag, a missing secret, an unknown app, an unreadable config.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// Exit 3 (`show` only): no usable token is stored for that app right now.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoToken(pub String);

/// Exit with an [`Exit`] status and no message: the problems were already
/// printed.
#[derive(Debug, thiserror::Error)]
#[error("exit {}", *.0 as u8)]
pub struct Silent(pub Exit);

/// A usage or configuration error (exit 2).
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage(msg.into()).into()
}

/// "No usable token" (exit 3).
pub fn no_token(msg: impl Into<String>) -> anyhow::Error {
    NoToken(msg.into()).into()
}

/// The documented exit status for an error, and whether it still needs printing.
pub fn exit_status(err: &anyhow::Error) -> (Exit, bool) {
    for cause in err.chain() {
        if let Some(Silent(exit)) = cause.downcast_ref::<Silent>() {
            return (*exit, false);
        }
        if cause.is::<Usage>() {
            return (Exit::Usage, true);
        }
        if cause.is::<NoToken>() {
            return (Exit::NoToken, true);
        }
    }
    (Exit::Failure, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_documented_status() {
        let cases = [
            (usage("bad flag"), Exit::Usage, true),
            (no_token("none stored"), Exit::NoToken, true),
            (anyhow::anyhow!("could not write"), Exit::Failure, true),
            (Silent(Exit::Usage).into(), Exit::Usage, false),
            (Silent(Exit::Failure).into(), Exit::Failure, false),
            (usage("deep").context("outer"), Exit::Usage, true),
        ];
        for (err, exit, printed) in cases {
            assert_eq!(exit_status(&err), (exit, printed), "{err:#}");
        }
        assert_eq!(
            [Exit::Ok, Exit::Failure, Exit::Usage, Exit::NoToken].map(|e| e as u8),
            [0, 1, 2, 3]
        );
    }
}
