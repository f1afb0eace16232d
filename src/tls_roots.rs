//! The CA certificates wxtoken trusts for upstream calls and for PostgreSQL's
//! `sslmode=require`: the system's store, so that a private CA or a
//! TLS-inspecting proxy's CA added with `update-ca-certificates` works.
//!
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` replace the system store, as they do for
//! OpenSSL and curl. When neither is set and the system store is empty (a
//! minimal container without ca-certificates), the Mozilla roots built into
//! wxtoken are used, with a warning. The store is read once, at the first TLS
//! connection: `show` on SQLite never reads it.

use std::sync::OnceLock;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

/// Where the trusted CAs come from.
pub enum Roots {
    /// The system store, or `SSL_CERT_FILE` / `SSL_CERT_DIR`.
    System(Vec<CertificateDer<'static>>),
    /// The Mozilla roots built in (the system store is empty).
    Mozilla,
}

impl Roots {
    pub fn store(&self) -> RootCertStore {
        match self {
            Roots::System(certs) => {
                let mut store = RootCertStore::empty();
                store.add_parsable_certificates(certs.iter().cloned());
                store
            }
            Roots::Mozilla => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        }
    }
}

/// The trusted CAs, read at the first call. An error is one line naming the
/// variable or store and the fix.
pub fn roots() -> Result<&'static Roots, String> {
    static ROOTS: OnceLock<Result<Roots, String>> = OnceLock::new();
    ROOTS.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Roots, String> {
    let from_env: Vec<&str> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .into_iter()
        .filter(|v| std::env::var_os(v).is_some())
        .collect();
    for var in &from_env {
        checked(var)?;
    }
    choose(rustls_native_certs::load_native_certs(), &from_env)
}

/// The CA file or folders a variable names pass the StrictModes check with
/// root or the running user as their only owners (as the config: whoever can
/// rewrite a CA file chooses whom wxtoken trusts), and so does each file in a
/// folder. `SSL_CERT_DIR` may list folders separated by `:`.
fn checked(var: &str) -> Result<(), String> {
    use crate::fsafe::{Owners, trusted_as};
    let value = std::env::var_os(var).unwrap_or_default();
    let paths: Vec<std::path::PathBuf> = match var {
        "SSL_CERT_DIR" => std::env::split_paths(&value).collect(),
        _ => vec![value.into()],
    };
    let check = |path: &std::path::Path| {
        trusted_as(path, var, Owners::RootOrMe)
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
    };
    for path in paths.iter().filter(|p| !p.as_os_str().is_empty()) {
        check(path)?;
        if var == "SSL_CERT_DIR"
            && let Ok(entries) = std::fs::read_dir(path)
        {
            for entry in entries.flatten() {
                check(&entry.path())?;
            }
        }
    }
    Ok(())
}

/// What was found, given the variables (`from_env`) that chose where to look.
fn choose(
    found: rustls_native_certs::CertificateResult,
    from_env: &[&str],
) -> Result<Roots, String> {
    // Only certificates rustls can use count.
    let usable = RootCertStore::empty()
        .add_parsable_certificates(found.certs.iter().cloned())
        .0;
    for e in &found.errors {
        log::debug!("reading CA certificates: {e}");
    }
    if usable > 0 {
        log::debug!(
            "trusting {usable} CA certificates from the system store or SSL_CERT_FILE / SSL_CERT_DIR"
        );
        return Ok(Roots::System(found.certs));
    }
    if !from_env.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(format!(
            "{} holds no CA certificate{why}: point it at a PEM file (or folder) of CA certificates, or unset it to use the system store",
            from_env.join(" / ")
        ));
    }
    log::warn!(
        "the system's CA store is empty (install ca-certificates, or set SSL_CERT_FILE): trusting the public CAs built into wxtoken"
    );
    Ok(Roots::Mozilla)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_store_falls_back_only_without_the_variables() {
        let empty = rustls_native_certs::CertificateResult::default;
        assert!(matches!(choose(empty(), &[]), Ok(Roots::Mozilla)));
        let e = choose(empty(), &["SSL_CERT_FILE"]).err().unwrap();
        assert!(
            e.starts_with("SSL_CERT_FILE holds no CA certificate"),
            "{e}"
        );
        // Something that is not a certificate is no certificate.
        let mut junk = empty();
        junk.certs.push(CertificateDer::from(vec![1, 2, 3]));
        assert!(matches!(choose(junk, &[]), Ok(Roots::Mozilla)));
    }
}
