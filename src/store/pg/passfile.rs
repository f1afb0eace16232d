//! Where the password comes from when the URL has none, as libpq does it:
//! `PGPASSWORD`, then the password file (`passfile=` in the URL, else
//! `PGPASSFILE`, else `~/.pgpass`). No crate reads the password file; its
//! format is libpq's own, one line per entry: `host:port:database:user:password`,
//! `*` matching anything in the first four fields, `\:` and `\\` escaping.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use postgres::config::Host;

/// libpq's default Unix socket folders (Debian's, and upstream's): a
/// connection through one of them is looked up as host `localhost`.
const DEFAULT_SOCKET_DIRS: &[&str] = &["/var/run/postgresql", "/run/postgresql", "/tmp"];

/// Where a connection's password came from, for the hint when the server
/// refuses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The URL's user part or `?password=`.
    Url,
    /// `PGPASSWORD`.
    Env,
    /// A password file's matching line.
    File(PathBuf),
    /// None: no password file matched (this one was looked in, if any).
    Missing(Option<PathBuf>),
}

/// What a password file line is matched against.
pub struct Target<'a> {
    pub host: String,
    pub port: u16,
    pub dbname: &'a str,
    pub user: &'a str,
}

impl Target<'_> {
    /// The host as libpq matches it: a default socket folder is `localhost`.
    pub fn host_of(host: Option<&Host>) -> String {
        match host {
            None => "localhost".to_string(),
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(dir)) => {
                if DEFAULT_SOCKET_DIRS.iter().any(|d| Path::new(d) == dir) {
                    "localhost".to_string()
                } else {
                    dir.display().to_string()
                }
            }
        }
    }
}

/// The password file to read: `passfile=`, `PGPASSFILE`, `~/.pgpass`.
pub fn path(passfile: Option<PathBuf>) -> Option<PathBuf> {
    passfile
        .or_else(|| std::env::var_os("PGPASSFILE").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass")))
}

/// The password for `target` in the file at `path`, if it has one. A file
/// that group or others can read is ignored with a warning, as libpq does.
pub fn lookup(path: &Path, target: &Target) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        log::warn!(
            "password file {} is not a plain file: ignored",
            path.display()
        );
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        log::warn!(
            "password file {} has group or world access; permissions should be u=rw (0600) or less: ignored",
            path.display()
        );
        return None;
    }
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            log::warn!("could not read password file {}: {e}", path.display());
            return None;
        }
    };
    find(&text, target)
}

/// The first line of `text` that matches `target`.
fn find(text: &str, target: &Target) -> Option<String> {
    let port = target.port.to_string();
    let wanted = [target.host.as_str(), &port, target.dbname, target.user];
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .find_map(|line| {
            let mut rest = line;
            // Each field `*`, or the same text with `\` escapes, and its `:`.
            for want in wanted {
                rest = match rest.strip_prefix("*:") {
                    Some(rest) => rest,
                    None => match unescape(rest, true) {
                        (field, Some(rest)) if field == want => rest,
                        _ => return None,
                    },
                };
            }
            Some(unescape(rest, false).0)
        })
        .filter(|p| !p.is_empty())
}

/// `s` with its `\` escapes undone; with `field`, up to its first `:` not
/// escaped, and the rest after that `:` (none: `s` has no such `:`).
fn unescape(s: &str, field: bool) -> (String, Option<&str>) {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            ':' if field => return (out, Some(&s[i + 1..])),
            '\\' => out.extend(chars.next().map(|(_, c)| c)),
            c => out.push(c),
        }
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(host: &str, port: u16, dbname: &'a str, user: &'a str) -> Target<'a> {
        Target {
            host: host.to_string(),
            port,
            dbname,
            user,
        }
    }

    #[test]
    fn the_first_matching_line_wins_with_stars_and_escapes() {
        let file = "# comment\n\
                    other.example:5432:*:*:nope\n\
                    db.example:5432:tokens:wx:first\n\
                    db.example:*:*:wx:second\n\
                    *:*:*:*:any\\:thing\\\\\n\
                    /run/pg\\:x:5433:tok\\:ens:w\\\\x:socket\r\n";
        let t = |h, p, d, u| find(file, &target(h, p, d, u));
        assert_eq!(
            t("db.example", 5432, "tokens", "wx").as_deref(),
            Some("first")
        );
        assert_eq!(
            t("db.example", 6432, "tokens", "wx").as_deref(),
            Some("second")
        );
        assert_eq!(
            t("db.example", 5432, "tokens", "other").as_deref(),
            Some("any:thing\\")
        );
        assert_eq!(
            t("/run/pg:x", 5433, "tok:ens", "w\\x").as_deref(),
            Some("any:thing\\")
        );
        let only_escaped = "/run/pg\\:x:5433:tok\\:ens:w\\\\x:socket\r\n";
        assert_eq!(
            find(only_escaped, &target("/run/pg:x", 5433, "tok:ens", "w\\x")).as_deref(),
            Some("socket")
        );
        // A field is matched whole, not as a prefix; a line short of fields matches nothing.
        assert_eq!(
            find("db:5432:tokens:wx:pw", &target("db", 5432, "tokens", "wxx")),
            None
        );
        assert_eq!(
            find("db:5432:tokens:wx", &target("db", 5432, "tokens", "wx")),
            None
        );
        assert_eq!(
            find("db:5432:tokens:wx:", &target("db", 5432, "tokens", "wx")),
            None
        );
    }

    #[test]
    fn a_default_socket_folder_is_localhost() {
        let unix = |d: &str| Host::Unix(PathBuf::from(d));
        assert_eq!(
            Target::host_of(Some(&unix("/var/run/postgresql"))),
            "localhost"
        );
        assert_eq!(Target::host_of(Some(&unix("/srv/pg"))), "/srv/pg");
        assert_eq!(Target::host_of(None), "localhost");
        assert_eq!(Target::host_of(Some(&Host::Tcp("db".into()))), "db");
    }

    #[test]
    fn a_file_others_can_read_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "*:*:*:*:pw\n").unwrap();
        let t = target("db", 5432, "d", "u");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(lookup(&file, &t).as_deref(), Some("pw"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(lookup(&file, &t), None);
        assert_eq!(lookup(&dir.path().join("missing"), &t), None);
    }
}
