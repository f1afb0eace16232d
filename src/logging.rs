//! stderr diagnostics: `wxtoken: warning: ...`, one line each, secrets redacted.
//!
//! The default level is `warn`, so a successful cron run prints nothing;
//! `-v` adds info, `-vv` debug, `-q` keeps errors only. `RUST_LOG` overrides them,
//! except for what the libraries log about requests (see [`withheld`]).

use log::{Level, Log, Metadata, Record};

pub fn init(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter =
        env_logger::Logger::from_env(env_logger::Env::default().default_filter_or(default));
    log::set_max_level(filter.filter());
    let _ = log::set_logger(Box::leak(Box::new(Logger { filter })));
}

/// Lines go through [`crate::out`], which never fails on a closed or full stderr.
/// env_logger is only the `RUST_LOG` filter.
struct Logger {
    filter: env_logger::Logger,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        !withheld(metadata) && self.filter.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if withheld(record.metadata()) || !self.filter.matches(record) {
            return;
        }
        let level = match record.level() {
            Level::Warn => "warning".to_string(),
            level => level.as_str().to_ascii_lowercase(),
        };
        let text = crate::secret::redact(&record.args().to_string());
        crate::out::log_line(format_args!(
            "wxtoken: {level}: {}",
            text.replace('\n', " ")
        ));
    }

    fn flush(&self) {}
}

/// Library records that are never written, whatever `RUST_LOG` says: the HTTP
/// library's below warn (ureq logs the request URI, query string and secret
/// included, at debug, and ureq-proto the request and response bytes in hex at
/// trace), and the PostgreSQL client's debug and trace (every statement, tokens
/// among its parameters). rustls logs handshake messages only, never the data.
/// Withheld as not even enabled, so ureq does not format them in the first place.
fn withheld(metadata: &Metadata) -> bool {
    let krate = metadata.target().split("::").next().unwrap_or_default();
    match krate {
        "ureq" | "ureq_proto" => metadata.level() > Level::Warn,
        "tokio_postgres" => metadata.level() >= Level::Debug,
        _ => false,
    }
}
