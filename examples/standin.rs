//! A local stand-in of the WeChat token API, for trying wxtoken without a WeChat
//! account and for the benchmarks. Every appid and secret is accepted.
//!
//!     standin [--port N] [--latency-ms N] [--expires-in N] [COMMAND ARGS...]
//!     standin [--latency-ms N] --load REQUESTS [--concurrency C]
//!
//! With a command, it runs it with `WXTOKEN_API_BASE` pointing here and
//! `WXTOKEN_DB` naming a throwaway database (removed afterwards: the stand-in's
//! tokens must not land in a real one), and exits with its status; without, it
//! prints its URL and serves until interrupted.
//!
//! `--load` measures the stand-in's own capacity, for the benchmarks: C clients
//! send REQUESTS token requests in all, each on a new connection (as wxtoken's
//! are: the stand-in closes every connection), and it prints the requests per
//! second next to the ideal C / latency, as one `key=value` line on stdout.

#[path = "../tests/cli/support/standin.rs"]
mod standin;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const USAGE: &str = "standin: usage: standin [--port N] [--latency-ms N] [--expires-in N] [COMMAND ARGS...]\n       standin [--latency-ms N] --load REQUESTS [--concurrency C]";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    let (mut port, mut latency_ms, mut expires_in) = (0u16, 0u64, 7200i64);
    let (mut load, mut concurrency) = (None, 1usize);
    while let Some(flag) = args.next_if(|a| a.starts_with("--")) {
        let value = args.next().and_then(|v| v.parse::<i64>().ok());
        match (flag.as_str(), value) {
            ("--port", Some(v)) => port = v as u16,
            ("--latency-ms", Some(v)) => latency_ms = v as u64,
            ("--expires-in", Some(v)) => expires_in = v,
            ("--load", Some(v)) if v > 0 => load = Some(v as usize),
            ("--concurrency", Some(v)) if v > 0 => concurrency = v as usize,
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let server = standin::StandIn::start_on(
        &format!("127.0.0.1:{port}"),
        standin::wechat(Duration::from_millis(latency_ms), expires_in),
    );
    if let Some(requests) = load {
        return measure(server.addr(), requests, concurrency, latency_ms);
    }
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
    let mut child = Command::new(program);
    child.args(rest);
    let status = server.run(child).map(|out| out.status);
    eprintln!("standin: answered {} requests", server.requests().len());
    match status {
        Ok(s) => ExitCode::from(s.code().unwrap_or(1) as u8),
        Err(e) => {
            eprintln!("standin: could not run {program}: {e}");
            ExitCode::from(127)
        }
    }
}

/// `--load`: `concurrency` clients send `requests` token requests in all; prints
/// the rate achieved and the ideal one (every client always waiting on an answer).
fn measure(addr: SocketAddr, requests: usize, concurrency: usize, latency_ms: u64) -> ExitCode {
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..concurrency.min(requests) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        return;
                    }
                    if !token_request(addr, i) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let failed = failed.into_inner();
    let rate = requests as f64 / seconds;
    let ideal = if latency_ms == 0 {
        f64::INFINITY
    } else {
        concurrency.min(requests) as f64 * 1000.0 / latency_ms as f64
    };
    println!(
        "requests={requests} concurrency={concurrency} latency_ms={latency_ms} seconds={seconds:.3} per_second={rate:.0} ideal_per_second={ideal:.0} failed={failed}"
    );
    eprintln!(
        "standin: {requests} requests, {concurrency} at once, {latency_ms} ms each: {seconds:.2} s, {rate:.0} requests/s (ideal {ideal:.0}/s), {failed} failed"
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One classic token request on a new connection; true when answered 200.
fn token_request(addr: SocketAddr, i: usize) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let request = format!(
        "GET /cgi-bin/token?grant_type=client_credential&appid=wxload{i:012}&secret=load HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    );
    let mut answer = Vec::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_end(&mut answer).is_ok()
        && answer.starts_with(b"HTTP/1.1 200")
}
