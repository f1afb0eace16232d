//! The exchange of a pushed code after `push` has answered: WeCom wants the
//! answer within 1000 ms and WeChat gives up after 5 s, while an exchange
//! may take its whole `exchange_timeout`. So `push` stores the code sealed,
//! prints `success`, and starts `wxtoken refresh --app PLATFORM/APPID` in a
//! process of its own: its own session (setsid: a web server that ends the
//! request's process group does not end it), no inherited standard streams
//! (the web server's response is complete when `push` exits), the database,
//! config and API base passed in the environment (never in `ps`). Whatever
//! stops it, the next `refresh` finishes the exchange.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::Global;

/// Starts the exchange of customer `appid`'s pending code of platform
/// `platform` in a detached process; returns once it is started.
pub fn detach(
    global: &Global,
    platform: &str,
    appid: &str,
    timeout: Option<Duration>,
) -> Result<()> {
    let exe = std::env::current_exe().context("could not find the wxtoken program")?;
    let mut cmd = Command::new(exe);
    cmd.args(["refresh", "--app", &format!("{platform}/{appid}")]);
    if let Some(t) = timeout {
        cmd.args(["--exchange-timeout", &format!("{}", t.as_secs())]);
    }
    if let Some(config) = crate::cmd::common::config_path(global) {
        cmd.env("WXTOKEN_CONFIG", config);
    }
    if let Some(db) = &global.db {
        cmd.env("WXTOKEN_DB", db);
    }
    if let Some(base) = &global.api_base {
        cmd.env("WXTOKEN_API_BASE", base);
    }
    // A CGI request's headers are not the exchange's environment (httpoxy:
    // a `Proxy:` header arrives as HTTP_PROXY).
    if std::env::var_os("GATEWAY_INTERFACE").is_some() {
        cmd.env_remove("HTTP_PROXY").env_remove("GATEWAY_INTERFACE");
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| rustix::process::setsid().map(drop).map_err(Into::into));
    }
    cmd.spawn()
        .context("could not start the exchange in a process of its own")?;
    Ok(())
}
