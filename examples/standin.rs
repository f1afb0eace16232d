//! A local stand-in of the WeChat token API, for trying wxtoken without a WeChat
//! account and for the benchmarks. Every appid and secret is accepted.
//!
//!     standin [--port N] [--latency-ms N] [--expires-in N] [COMMAND ARGS...]
//!
//! With a command, it runs it with `WXTOKEN_API_BASE` pointing here and exits with
//! its status; without, it prints its URL and serves until interrupted.

#[path = "../tests/cli/support/standin.rs"]
mod standin;

use std::process::{Command, ExitCode};
use std::time::Duration;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    let (mut port, mut latency_ms, mut expires_in) = (0u16, 0u64, 7200i64);
    while let Some(flag) = args.next_if(|a| a.starts_with("--")) {
        let value = args.next().and_then(|v| v.parse::<i64>().ok());
        match (flag.as_str(), value) {
            ("--port", Some(v)) => port = v as u16,
            ("--latency-ms", Some(v)) => latency_ms = v as u64,
            ("--expires-in", Some(v)) => expires_in = v,
            _ => {
                eprintln!(
                    "standin: usage: standin [--port N] [--latency-ms N] [--expires-in N] [COMMAND ARGS...]"
                );
                return ExitCode::from(2);
            }
        }
    }
    let server = standin::StandIn::start_on(
        &format!("127.0.0.1:{port}"),
        standin::wechat(Duration::from_millis(latency_ms), expires_in),
    );
    let command: Vec<String> = args.collect();
    let Some((program, rest)) = command.split_first() else {
        println!("{}", server.url());
        eprintln!(
            "standin: serving the WeChat token API at {} (Ctrl-C stops)",
            server.url()
        );
        loop {
            std::thread::park();
        }
    };
    let status = Command::new(program)
        .args(rest)
        .env("WXTOKEN_API_BASE", server.url())
        .status();
    eprintln!("standin: answered {} requests", server.requests().len());
    match status {
        Ok(s) => ExitCode::from(s.code().unwrap_or(1) as u8),
        Err(e) => {
            eprintln!("standin: could not run {program}: {e}");
            ExitCode::from(127)
        }
    }
}
