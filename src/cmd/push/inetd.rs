//! `wxtoken push --inetd`: one HTTP/1.1 request on stdin, its response on
//! stdout, then exit: the shape of systemd socket activation with `Accept=yes`
//! (`wxtoken-push.socket`) and of inetd. The web server proxies the callback
//! URL to the socket; the platform is the request's path (`/NAME`).
//!
//! The request is parsed with httparse, bounded: [`MAX_HEAD`] bytes of request
//! line and headers, [`MAX_BODY`] of body, and one deadline (`--read-timeout`,
//! 10 s) for all of it, so a slow or silent client ends the process. Every
//! answer is complete, with `Content-Length` and `Connection: close`, also for
//! a request refused before its body was read. Nothing in the request becomes
//! an option or an environment variable: the path names a platform of the
//! config that the unit's own environment names, and that is all.

use anyhow::Result;

use super::input::{Input, refuse};
use crate::cli::{Global, PushArgs};
use crate::platform::push::MAX_QUERY;
use crate::platform::xml::MAX_BODY;
use crate::text::{clip, quoted};

/// The longest request line and header block taken (a push's query string is
/// under [`MAX_QUERY`]; the web server adds a few headers).
pub const MAX_HEAD: usize = MAX_QUERY + 8 * 1024;
/// The most header lines taken.
const MAX_HEADERS: usize = 64;

pub fn run(global: &Global, args: &PushArgs) -> Result<()> {
    let mut conn = Input::stdin(args.read_timeout);
    let mut drained = false;
    let result = serve(global, &mut conn, &mut drained);
    let status = super::http_status(&result);
    let body = (result.as_ref()).map_or_else(|_| format!("{}\n", reason(status)), Clone::clone);
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    if status == 405 {
        head.push_str("Allow: GET, POST\r\n");
    }
    // The line first: once the client has its answer, the journal has the reason.
    let result = result.map(|_| ()).map_err(|e| {
        let exit = crate::report::error(&e, &super::common::places(global, true));
        anyhow::Error::new(crate::error::Silent(exit))
    });
    let written = super::write_out(&format!("{head}\r\n{body}"));
    super::start_exchanges(global, args);
    if !drained {
        conn.linger();
    }
    written?;
    result
}

/// The reason phrase of a status push answers with: the `http` crate's, but
/// RFC 9110's name for 413 (the crate keeps the older Payload Too Large).
pub(super) fn reason(status: u16) -> &'static str {
    match ureq::http::StatusCode::from_u16(status).map(|s| s.canonical_reason()) {
        _ if status == 413 => "Content Too Large",
        Ok(Some(reason)) => reason,
        _ => "Service Unavailable",
    }
}

/// What the request's head says.
struct Head {
    method: String,
    target: String,
    /// The client's address as the web server gave it.
    peer: String,
    content_length: Option<u64>,
    chunked: bool,
    /// Where the body starts in the connection's buffer.
    end: usize,
}

/// Reads the request and hands it to the push; `drained` says whether all
/// that the client sent was read.
fn serve(global: &Global, conn: &mut Input, drained: &mut bool) -> Result<String> {
    let head = conn
        .head()
        .map_err(|e| e.context(who(None, &fallback_peer())))?;
    let (path, query) = head.target.split_once('?').unwrap_or((&head.target, ""));
    let name = path.strip_prefix('/').unwrap_or("");
    let platform = (!name.is_empty() && !name.contains('/')).then_some(name);
    let who = who(platform, &head.peer);
    let Some(platform) = platform else {
        return Err(refuse(
            404,
            format!(
                "the path {} names no platform: the callback URL is /PLATFORM",
                quoted(&clip(path, 80))
            ),
        )
        .context(who));
    };
    let fields = crate::platform::push::parse_query(query).unwrap_or_default();
    match head.method.as_str() {
        "POST" if fields.contains_key("echostr") => {
            return Err(refuse(400, "a POST with echostr: a URL check is a GET").context(who));
        }
        "POST" => {}
        "GET" if fields.contains_key("auth_code") && !fields.contains_key("echostr") => {
            // The authorization redirect: the customer's code, exchanged now
            // (`wxtoken authorizers add`); details of a failure on stderr.
            let code = crate::engine::check_code(&fields["auth_code"])
                .map_err(|e| refuse(400, crate::report::message(&e)).context(who.clone()))?;
            return match crate::cmd::session::add_code(global, platform, &code, None) {
                Ok(name) => Ok(format!("authorized: {name}\n")),
                Err(e) => Err(refuse(
                    502,
                    format!(
                        "the redirect's auth_code was not exchanged{}",
                        match e.is::<crate::error::Silent>() {
                            true => String::new(),
                            false => format!(": {}", crate::report::message(&e)),
                        }
                    ),
                )
                .context(who)),
            };
        }
        "GET" if fields.contains_key("echostr") => {
            *drained = head.content_length.unwrap_or(0) == 0 && !head.chunked;
        }
        "GET" => {
            return Err(
                refuse(400, "a GET without echostr or auth_code: pushes are POSTs").context(who),
            );
        }
        other => {
            return Err(refuse(
                405,
                format!(
                    "method {}: expected POST (a push) or GET (a URL check, the authorization redirect)",
                    quoted(&clip(other, 20))
                ),
            )
            .context(who));
        }
    }
    super::handle(
        global,
        platform,
        Some(&head.peer),
        Some(query.to_string()),
        |_| {
            if head.method != "POST" {
                return Ok(Vec::new());
            }
            let body = conn.body(&head)?;
            *drained = true;
            Ok(body)
        },
    )
}

fn who(platform: Option<&str>, peer: &str) -> String {
    match platform {
        Some(p) => format!("push to platform {} from {peer} refused", quoted(p)),
        None => format!("push from {peer} refused"),
    }
}

/// The peer when the request names none: systemd's `REMOTE_ADDR` for an IP
/// socket, else the socket's own peer, the web server.
fn fallback_peer() -> String {
    std::env::var("REMOTE_ADDR")
        .ok()
        .filter(|a| !a.is_empty())
        .map(|a| clip(&a, 64))
        .unwrap_or_else(|| "the web server (no X-Real-IP)".to_string())
}

/// Reading the request from the connection.
impl Input {
    /// The request line and headers.
    fn head(&mut self) -> Result<Head> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&self.buf) {
                Ok(httparse::Status::Complete(end)) => return read_head(&req, end),
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(refuse(
                        431,
                        format!("the request has more than {MAX_HEADERS} header lines"),
                    ));
                }
                Err(e) => return Err(refuse(400, format!("not an HTTP/1.1 request: {e}"))),
            }
            if self.buf.len() >= MAX_HEAD {
                return Err(refuse(
                    431,
                    format!("the request line and headers are longer than {MAX_HEAD} bytes"),
                ));
            }
            let want = (MAX_HEAD - self.buf.len()).min(4096);
            if self.more(want)? == 0 {
                return Err(refuse(
                    400,
                    if self.buf.is_empty() {
                        "the connection closed before a request came".to_string()
                    } else {
                        format!(
                            "the request ended inside its headers after {} bytes",
                            self.buf.len()
                        )
                    },
                ));
            }
        }
    }

    /// The body of a POST: exactly `Content-Length` bytes, at most
    /// [`MAX_BODY`], refused unread when it says more.
    fn body(&mut self, head: &Head) -> Result<Vec<u8>> {
        if head.chunked {
            return Err(refuse(
                411,
                "a chunked body: send Content-Length (nginx and Apache do when they buffer the body)",
            ));
        }
        let Some(length) = head.content_length else {
            return Err(refuse(411, "a POST without Content-Length"));
        };
        if length > MAX_BODY as u64 {
            return Err(refuse(
                413,
                format!("the body has {length} bytes, more than {MAX_BODY}: not a push"),
            ));
        }
        let end = head.end + length as usize;
        self.fill(end)?;
        if self.buf.len() < end {
            return Err(refuse(
                400,
                format!(
                    "the body ended after {} of Content-Length {length} bytes",
                    self.buf.len() - head.end
                ),
            ));
        }
        Ok(self.buf[head.end..end].to_vec())
    }
}

/// Reads what the parsed head says: method, target, peer, body length.
fn read_head(req: &httparse::Request, end: usize) -> Result<Head> {
    let method = req.method.unwrap_or_default().to_string();
    let target = req.path.unwrap_or_default().to_string();
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut real_ip = None;
    let mut forwarded = None;
    for h in req.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        let value = value.trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    refuse(
                        400,
                        format!(
                            "Content-Length {} is not a number",
                            quoted(&clip(value, 30))
                        ),
                    )
                })?;
            if content_length.is_some_and(|m| m != n) {
                return Err(refuse(400, "two different Content-Length headers"));
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("x-real-ip") {
            real_ip = Some(value.to_string());
        } else if h.name.eq_ignore_ascii_case("x-forwarded-for") {
            // The web server appends the address it saw: the last one.
            forwarded = value.rsplit(',').next().map(|a| a.trim().to_string());
        }
    }
    let peer = real_ip
        .or(forwarded)
        .filter(|p| !p.is_empty())
        .map(|p| clip(&p, 64))
        .unwrap_or_else(fallback_peer);
    Ok(Head {
        method,
        target,
        peer,
        content_length,
        chunked,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::push::Refused;

    fn head(raw: &str) -> Result<Head> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(raw.as_bytes()).unwrap() {
            httparse::Status::Complete(end) => read_head(&req, end),
            httparse::Status::Partial => panic!("partial"),
        }
    }

    fn status(e: anyhow::Error) -> u16 {
        e.downcast_ref::<Refused>().unwrap().status
    }

    #[test]
    fn the_peer_is_what_the_web_server_saw() {
        let h = head("POST /acme?x=1 HTTP/1.0\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.9\r\nContent-Length: 12\r\n\r\n").unwrap();
        assert_eq!(
            (h.peer.as_str(), h.content_length),
            ("203.0.113.9", Some(12))
        );
        assert_eq!(h.target, "/acme?x=1");
        let h =
            head("GET / HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 198.51.100.7\r\n\r\n")
                .unwrap();
        assert_eq!(h.peer, "198.51.100.7");
    }

    #[test]
    fn lengths_that_disagree_or_are_no_numbers_are_refused() {
        for raw in [
            "POST /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST /a HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "POST /a HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        ] {
            assert_eq!(status(head(raw).err().unwrap()), 400, "{raw}");
        }
        assert!(
            head("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap()
                .chunked
        );
    }
}
