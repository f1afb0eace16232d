//! Durations as users write them (`90s`, `75m`, `2h`, `1h30m`, `45`) and as
//! wxtoken prints them (`1h 12m`).

use std::time::Duration;

/// The longest duration text accepted (`1d23h59m59s` has 11 characters).
const MAX_LEN: usize = 64;
/// The longest duration wxtoken accepts anywhere: a token never lives longer.
const MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses `90s`, `75m`, `2h`, `1h30m`, `1d` or a bare number of seconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let shown = crate::text::quoted_max(text, 40);
    let bad = || {
        format!("invalid duration {shown}: write it as 90s, 75m, 2h, 1h30m or a number of seconds")
    };
    // No valid duration is this long; parsing it would only waste time.
    if s.is_empty() || s.len() > MAX_LEN {
        return Err(bad());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return check(s.parse::<u64>().map_err(|_| bad())?, &shown);
    }
    // jiff's friendly format, held to the units above: no spaces, signs,
    // fractions or unit words (`1.5h`, `2 hours`); `1ms` parses but is no
    // whole number of seconds.
    static PARSER: jiff::fmt::friendly::SpanParser = jiff::fmt::friendly::SpanParser::new();
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || b"dhms".contains(&b))
    {
        return Err(bad());
    }
    let days = jiff::SpanRelativeTo::days_are_24_hours();
    match PARSER.parse_span(s).and_then(|span| span.to_duration(days)) {
        Ok(d) if d.subsec_nanos() == 0 => check(d.as_secs().unsigned_abs(), &shown),
        _ => Err(bad()),
    }
}

fn check(secs: u64, shown: &str) -> Result<Duration, String> {
    let d = Duration::from_secs(secs);
    if d > MAX {
        return Err(format!(
            "duration {shown} is too long: at most {}",
            human(MAX.as_secs() as i64)
        ));
    }
    Ok(d)
}

/// `1h 12m`, `5m 3s`, `42s`, `2d 3h`; negative values print as `-`.
pub fn human(secs: i64) -> String {
    if secs < 0 {
        return "-".to_string();
    }
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("75m"), Ok(Duration::from_secs(4500)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_garbage_and_absurd_values() {
        for bad in [
            "",
            "m",
            "1x",
            "1h30",
            "-5",
            "1.5h",
            "h1",
            "99999999999999999999",
            "1ms",
            "1h 30m",
            "2hours",
            "+5s",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse("8d").unwrap_err().contains("too long"));
        let huge = parse(&"9".repeat(70_000)).unwrap_err();
        assert!(huge.len() < 200, "{huge}");
        assert!(parse("18446744073709551615h").is_err());
    }

    #[test]
    fn prints_time_left() {
        assert_eq!(human(4320), "1h 12m");
        assert_eq!(human(42), "42s");
        assert_eq!(human(303), "5m 3s");
        assert_eq!(human(90_000), "1d 1h");
        assert_eq!(human(-1), "-");
    }
}
