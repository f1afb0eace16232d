//! Tests of the PostgreSQL URL parser.
use super::*;

fn shown(url: &str) -> String {
    Url::parse(url).unwrap().to_string()
}

#[test]
fn the_password_is_never_shown() {
    assert_eq!(
        shown("postgres://wx:pa%40ss@db.example:5433/tokens?sslmode=require"),
        "postgres://wx:***@db.example:5433/tokens?sslmode=require"
    );
    assert_eq!(
        shown("postgresql://wx@db/tokens?password=hunter2x&sslmode=disable"),
        "postgresql://wx@db/tokens?password=***&sslmode=disable"
    );
    assert_eq!(
        shown("postgres:///tokens?host=/run/postgresql"),
        "postgres:///tokens?host=/run/postgresql"
    );
    assert_eq!(
        crate::secret::redact("x pa@ss y pa%40ss z"),
        "x *** y *** z"
    );
    assert_eq!(crate::secret::redact("hunter2x"), "***");
}

#[test]
fn reads_the_usual_forms() {
    let url = Url::parse("postgres://wx:pw@127.0.0.1:6543/tokens").unwrap();
    assert_eq!(url.config.get_user(), Some("wx"));
    assert_eq!(url.config.get_dbname(), Some("tokens"));
    assert_eq!(url.config.get_ports(), &[6543]);
    assert_eq!(url.tls, Tls::Unchecked);
    let url = Url::parse("postgres://wx@/tokens?host=/run/pg&sslmode=verify-full").unwrap();
    assert_eq!(
        url.config.get_hosts(),
        &[postgres::config::Host::Unix("/run/pg".into())]
    );
    assert_eq!(
        url.tls,
        Tls::Checked {
            rootcert: None,
            host_name: true
        }
    );
    let url = Url::parse("postgres://wx@db/t?sslrootcert=/etc/ca.pem").unwrap();
    assert_eq!(
        url.tls,
        Tls::Checked {
            rootcert: Some("/etc/ca.pem".into()),
            host_name: true
        }
    );
    assert_eq!(
        url.config.get_ssl_mode(),
        postgres::config::SslMode::Require
    );
    assert!(Url::parse("postgres://wx@db/t?bogus=1").is_err());
}

#[test]
fn sslmode_takes_libpq_s_six_values() {
    let tls = |mode: &str| Url::parse(&format!("postgres://wx@db/t?sslmode={mode}")).map(|u| u.tls);
    assert_eq!(tls("disable").unwrap(), Tls::Unchecked);
    assert_eq!(tls("allow").unwrap(), Tls::Unchecked);
    assert_eq!(tls("prefer").unwrap(), Tls::Unchecked);
    let checked = |host_name| Tls::Checked {
        rootcert: None,
        host_name,
    };
    assert_eq!(tls("require").unwrap(), checked(true));
    assert_eq!(tls("verify-ca").unwrap(), checked(false));
    assert_eq!(tls("verify-full").unwrap(), checked(true));
    let url = Url::parse("postgres://wx@db/t?sslmode=allow").unwrap();
    assert_eq!(url.config.get_ssl_mode(), postgres::config::SslMode::Prefer);
    let err = tls("verify_full").unwrap_err().to_string();
    assert!(
        err.contains("sslmode=verify_full is none of disable, allow, prefer"),
        "{err}"
    );
    assert!(Url::is_url("postgresql://x") && !Url::is_url("/var/lib/x.db"));
}
