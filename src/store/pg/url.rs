//! `postgres://` URLs: parsing, the redacted form every message shows, and TLS.
//!
//! The URL is handed to the `postgres` crate's parser, except for what wxtoken
//! handles itself: `sslrootcert=FILE` (the CA to trust) and the `sslmode` values
//! `verify-ca` / `verify-full`, which the crate does not know. The password (in
//! the user part or as `?password=`) is registered for redaction as soon as the
//! URL is read, and the URL is only ever shown as `postgres://user:***@host/db`.
//!
//! TLS follows libpq's `sslmode`: `disable` never, `allow` and `prefer` (the
//! default) when the server offers it, without checking its certificate (as
//! libpq does); `require`, `verify-ca` and `verify-full` always, checking the
//! certificate against the system's CA store (see `trust`) or, with
//! `sslrootcert=FILE`, against that CA only (`sslrootcert=system`, as in libpq
//! 16, names the system store), and the host name too except with `verify-ca`.
//! Stricter than libpq: `require` checks what `verify-full` does.
//!
//! A URL without a password takes one as libpq would (see `passfile`):
//! `PGPASSWORD`, or the password file (`passfile=FILE`, `PGPASSFILE`, `~/.pgpass`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::passfile;
use crate::error::usage;
use crate::secret::Secret;

/// How long connecting may take when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A parsed `postgres://` URL.
#[derive(Clone)]
pub struct Url {
    pub config: postgres::Config,
    /// The URL with its password replaced by `***`.
    shown: String,
    tls: Tls,
    /// Where the password came from.
    pub(super) password: passfile::Source,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tls {
    /// `sslmode=disable` or `prefer`: the certificate is not checked.
    Unchecked,
    /// `require`, `verify-ca`, `verify-full`: checked against these roots,
    /// and the host name too unless `verify-ca`.
    Checked {
        rootcert: Option<PathBuf>,
        host_name: bool,
    },
}

impl Url {
    /// Whether `--db` is a PostgreSQL URL rather than a path.
    pub fn is_url(s: &str) -> bool {
        s.starts_with("postgres://") || s.starts_with("postgresql://")
    }

    /// `url` is `--db`, which `Location::parse` held to `MAX_DB_ARG` bytes.
    pub fn parse(url: &str) -> Result<Url> {
        let (head, query) = split(url);
        let mut shown = head.to_string();
        let mut source = passfile::Source::Missing(None);
        let mut passfile = None;
        if let Some((before, password, after)) = around_password(head) {
            source = passfile::Source::Url;
            register(password);
            shown = format!("{before}***{after}");
        }
        let mut kept = Vec::new();
        let mut shown_params = Vec::new();
        let mut tls = Tls::Unchecked;
        let mut rootcert = None;
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            let secret = key == "password";
            shown_params.push(if secret { "password=***" } else { param });
            match key {
                "password" => {
                    source = passfile::Source::Url;
                    register(value);
                    kept.push(param.to_string());
                }
                "sslrootcert" => rootcert = Some(PathBuf::from(decode(value))),
                // libpq's, which the `postgres` crate does not know.
                "passfile" => passfile = Some(PathBuf::from(decode(value))),
                "sslmode" => match value {
                    "disable" => kept.push(param.to_string()),
                    // `allow` (libpq: plain first, TLS if the server insists)
                    // is taken as `prefer` (TLS first): the same either way
                    // when the server does not offer TLS.
                    "allow" | "prefer" => kept.push("sslmode=prefer".to_string()),
                    "require" | "verify-ca" | "verify-full" => {
                        tls = Tls::Checked {
                            rootcert: None,
                            host_name: value != "verify-ca",
                        };
                        kept.push("sslmode=require".to_string());
                    }
                    _ => {
                        return Err(usage(format!(
                            "invalid database URL {}: sslmode={} is none of disable, allow, prefer, require, verify-ca, verify-full",
                            crate::text::clip(&shown, 200),
                            crate::text::clip(value, 40)
                        )));
                    }
                },
                _ => kept.push(param.to_string()),
            }
        }
        if !shown_params.is_empty() {
            shown = format!("{shown}?{}", shown_params.join("&"));
        }
        if let Tls::Checked { rootcert: r, .. } = &mut tls {
            *r = rootcert;
        } else if rootcert.is_some() && !kept.iter().any(|p| p == "sslmode=disable") {
            // libpq checks the certificate whenever a root certificate is given.
            tls = Tls::Checked {
                rootcert,
                host_name: true,
            };
            kept.retain(|p| !p.starts_with("sslmode="));
            kept.push("sslmode=require".to_string());
        }
        let mut parsable = head.to_string();
        if !kept.is_empty() {
            parsable = format!("{parsable}?{}", kept.join("&"));
        }
        let mut config = postgres::Config::from_str(&parsable).map_err(|e| {
            usage(format!(
                "invalid database URL {}: {}",
                crate::text::clip(&shown, 200),
                crate::text::clip(&super::describe(&e), 200)
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A server that went away without a word (a host lost, a firewall
        // dropping packets) is found out in about 30 s, not the kernel's two
        // hours (keepalives) or quarter of an hour (data never acknowledged).
        if config.get_keepalives_idle() == Duration::from_secs(7200) {
            config.keepalives_idle(Duration::from_secs(15));
        }
        if config.get_keepalives_interval().is_none() {
            config.keepalives_interval(Duration::from_secs(5));
        }
        if config.get_keepalives_retries().is_none() {
            config.keepalives_retries(3);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(30));
        }
        if config.get_application_name().is_none() {
            config.application_name("wxtoken");
        }
        if source != passfile::Source::Url {
            source = default_password(&mut config, passfile);
        }
        Ok(Url {
            config,
            shown,
            tls,
            password: source,
        })
    }

    /// The TLS connector for this URL's `sslmode`.
    pub fn connector(&self) -> Result<MakeRustlsConnect> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("could not set up TLS")?;
        let (chain, any_name) = match &self.tls {
            Tls::Unchecked => (None, true),
            Tls::Checked {
                rootcert,
                host_name,
            } => {
                let mut roots = RootCertStore::empty();
                match rootcert {
                    Some(path) if path.as_os_str() != "system" => {
                        let certs = CertificateDer::pem_file_iter(path)
                            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                            .map_err(|e| {
                                usage(format!(
                                    "could not read sslrootcert {} of database {}: {e}",
                                    path.display(),
                                    self.shown
                                ))
                            })?;
                        let (added, _) = roots.add_parsable_certificates(certs);
                        if added == 0 {
                            return Err(usage(format!(
                                "sslrootcert {} of database {} holds no certificate",
                                path.display(),
                                self.shown
                            )));
                        }
                    }
                    _ => {
                        roots = crate::tls_roots::roots()
                            .map_err(|e| usage(format!("database {}: {e}", self.shown)))?
                            .store();
                    }
                }
                let chain =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .context("could not set up TLS")?;
                (Some(chain), !host_name)
            }
        };
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier {
                chain,
                any_name,
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// libpq's defaults for a URL without a password: `PGPASSWORD`, then the
/// password file.
fn default_password(config: &mut postgres::Config, passfile: Option<PathBuf>) -> passfile::Source {
    if let Some(password) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
        config.password(Secret::new(password).expose());
        return passfile::Source::Env;
    }
    let Some(path) = passfile::path(passfile) else {
        return passfile::Source::Missing(None);
    };
    let login = std::env::var("USER").unwrap_or_default();
    let user = config.get_user().unwrap_or(&login).to_string();
    let target = passfile::Target {
        host: passfile::Target::host_of(config.get_hosts().first()),
        port: config.get_ports().first().copied().unwrap_or(5432),
        dbname: config.get_dbname().unwrap_or(&user),
        user: &user,
    };
    match passfile::lookup(&path, &target) {
        Some(password) => {
            config.password(Secret::new(password).expose());
            passfile::Source::File(path)
        }
        None => passfile::Source::Missing(path.exists().then_some(path)),
    }
}

/// Splits `scheme://user:pass@host/db` from `?params`, the way the `postgres`
/// crate reads it: the user part runs to the first `@`, the query from the
/// first `?` after it.
fn split(url: &str) -> (&str, &str) {
    let after = url.find('@').map_or(0, |i| i + 1);
    match url[after..].find('?') {
        Some(i) => (&url[..after + i], &url[after + i + 1..]),
        None => (url, ""),
    }
}

/// `head` around the password written in its user part, if it has one: up
/// to the `:` after the user, the password, and from the `@` on.
fn around_password(head: &str) -> Option<(&str, &str, &str)> {
    let start = head.find("://")? + 3;
    let end = start + head[start..].find('@')?;
    let colon = start + head[start..end].find(':')?;
    Some((&head[..=colon], &head[colon + 1..end], &head[end..]))
}

/// Registers a password, as written and decoded, for redaction.
fn register(raw: &str) {
    let decoded = decode(raw);
    if decoded != raw {
        Secret::new(raw.to_string());
    }
    Secret::new(decoded);
}

/// `%XX` escapes decoded (any other `%` kept as written), as UTF-8, lossily.
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The verifier of every `sslmode`: with a `chain`, webpki's (`require`,
/// `verify-full`), which for `verify-ca` (`any_name`) accepts a certificate
/// signed by a trusted CA for any host name (webpki checks the chain, and
/// revocation, before the name, so a name error means the chain was good);
/// without one, that of `prefer` (the connection is encrypted, the certificate
/// is not checked, as libpq does; a man in the middle could downgrade `prefer`
/// to no TLS at all anyway). Handshake signatures are verified either way.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    any_name: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.any_name => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests;
