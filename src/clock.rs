//! Wall-clock time as Unix seconds, and RFC 3339 formatting in UTC.
//!
//! On PostgreSQL, writers take the database server's time: one clock for
//! every host that shares the database ([`follow`]).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds added to this host's clock (see [`follow`]).
static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// This host's clock, in Unix milliseconds.
pub fn local_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// From now on, [`now_ms`] and [`now`] are this host's clock plus
/// `offset_ms`: the database server's time, when several hosts share it, so
/// that what one host stores and decides reads the same on the others.
pub fn follow(offset_ms: i64) {
    OFFSET_MS.store(offset_ms, Ordering::Relaxed);
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    local_ms() + OFFSET_MS.load(Ordering::Relaxed)
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    now_ms().div_euclid(1000)
}

/// `2026-11-23T21:59:46Z` for a Unix time in seconds (`-` past the year 9999).
pub fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix).map_or_else(|_| "-".to_string(), |t| t.to_string())
}

/// A Unix time in the local time zone (`TZ`, else the system's), as `format`
/// (strftime) says.
pub fn local(unix: i64, format: &str) -> String {
    match jiff::Timestamp::from_second(unix) {
        Ok(t) => t
            .to_zoned_datetime(jiff::tz::TimeZone::system())
            .strftime(format)
            .to_string(),
        Err(_) => "-".to_string(),
    }
}

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) into Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    static PARSER: jiff::fmt::rfc2822::DateTimeParser =
        jiff::fmt::rfc2822::DateTimeParser::new().relaxed_weekday(true);
    PARSER.parse_timestamp(s).ok().map(|t| t.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_471_186), "2026-11-23T21:59:46Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn parses_http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Mon, 23 Nov 2026 21:59:46 GMT"),
            Some(1_795_471_186)
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
