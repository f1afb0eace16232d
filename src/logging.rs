//! stderr diagnostics: `wxtoken: warning: ...`, one line each, secrets redacted.
//!
//! The default level is `warn`, so a successful cron run prints nothing;
//! `-v` adds info, `-vv` debug, `-q` keeps errors only. `RUST_LOG` overrides them,
//! except that the HTTP library never logs its raw bytes and the PostgreSQL
//! client never logs its statements' parameters.

use std::io::Write;

pub fn init(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format(|buf, record| {
            // ureq's trace level dumps the request and response bytes (the secret in
            // the query string or body, the token in the answer): never written.
            if record.level() == log::Level::Trace && record.target().starts_with("ureq") {
                return Ok(());
            }
            // The PostgreSQL client's debug level logs every statement's parameters
            // (tokens among them): never written either.
            if record.level() >= log::Level::Debug && record.target().starts_with("tokio_postgres")
            {
                return Ok(());
            }
            let level = match record.level() {
                log::Level::Warn => "warning".to_string(),
                level => level.as_str().to_ascii_lowercase(),
            };
            let text = crate::secret::redact(&record.args().to_string());
            writeln!(buf, "wxtoken: {level}: {}", text.replace('\n', " "))
        })
        .init();
}
