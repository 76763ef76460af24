//! Which certificate authorities the clients trust, as a runner expects: the public web's roots built into
//! the binary, the CA bundle of the image (or of the machine, for the CLI), and, when set, the files that
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` name (the variables OpenSSL, curl and Python read; how a self-hosted
//! runner behind a TLS-inspecting proxy adds the proxy's CA). Verification is never turned off.
//!
//! A variable that names a path that cannot be read, or that holds no PEM certificate, is an error naming
//! the variable (its value is a path, not a secret), so that a typo is not silently ignored.

use std::path::{Path, PathBuf};

/// The CA bundle the image ships (Debian's `ca-certificates`), and where most Linux systems keep theirs.
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Extra trusted roots, added to the built-in ones of every client built with [`TrustRoots::apply`].
#[derive(Clone, Default)]
pub struct TrustRoots {
    certs: Vec<reqwest::Certificate>,
    /// Where they came from, for the debug log: `SSL_CERT_FILE /x.pem (1 certificate)`.
    sources: Vec<String>,
}

impl std::fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoots")
            .field("sources", &self.sources)
            .finish()
    }
}

/// A trust variable that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The path does not exist or cannot be read.
    #[error("{var} names {path:?}, which cannot be read ({detail}): point it at a PEM file of CA certificates{dir}, or unset it", dir = if *var == "SSL_CERT_DIR" { " (a directory of them)" } else { "" })]
    Unreadable {
        /// `SSL_CERT_FILE` or `SSL_CERT_DIR`.
        var: &'static str,
        /// The path as given.
        path: String,
        /// What the system said.
        detail: String,
    },
    /// The path was read, but holds no PEM certificate (`-----BEGIN CERTIFICATE-----`).
    #[error(
        "{var} names {path:?}, which holds no PEM certificate (-----BEGIN CERTIFICATE-----): point it at the CA's certificate in PEM form, or unset it"
    )]
    NoCertificate {
        /// `SSL_CERT_FILE` or `SSL_CERT_DIR`.
        var: &'static str,
        /// The path as given.
        path: String,
    },
}

impl TrustRoots {
    /// The system bundle when there is one, plus `SSL_CERT_FILE` / `SSL_CERT_DIR` as `get` reads them.
    /// A certificate already trusted (the same PEM block: `SSL_CERT_DIR=/etc/ssl/certs` repeats the
    /// bundle) is added once.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<TrustRoots, TrustError> {
        let mut roots = TrustRoots::default();
        let mut seen = std::collections::HashSet::new();
        // Missing on a machine without one (the CLI elsewhere): the built-in roots still apply.
        // NOTE: not checked like the variables' files below (that builds a client): the image's bundle is
        // Debian's, and a machine's is the system's own.
        if let Ok(pem) = std::fs::read(SYSTEM_BUNDLE) {
            let certs = new_certs(&pem, &mut seen);
            roots.add("bundle", SYSTEM_BUNDLE, certs.len(), certs);
        }
        let set = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(file) = set("SSL_CERT_FILE") {
            let var = "SSL_CERT_FILE";
            let pem = std::fs::read(&file).map_err(|e| TrustError::Unreadable {
                var,
                path: file.clone(),
                detail: e.kind().to_string(),
            })?;
            let found = pem_blocks(&pem).len();
            let certs = new_certs(&pem, &mut seen);
            if found == 0 || !usable(&certs) {
                return Err(TrustError::NoCertificate { var, path: file });
            }
            roots.add(var, &file, found, certs);
        }
        if let Some(dirs) = set("SSL_CERT_DIR") {
            let var = "SSL_CERT_DIR";
            for dir in dirs.split(':').filter(|d| !d.is_empty()) {
                let unreadable = |e: std::io::Error| TrustError::Unreadable {
                    var,
                    path: dir.to_string(),
                    detail: e.kind().to_string(),
                };
                let (mut found, mut certs) = (0, Vec::new());
                for pem in dir_files(Path::new(dir)).map_err(unreadable)? {
                    found += pem_blocks(&pem).len();
                    certs.extend(new_certs(&pem, &mut seen));
                }
                if found == 0 || !usable(&certs) {
                    return Err(TrustError::NoCertificate {
                        var,
                        path: dir.to_string(),
                    });
                }
                roots.add(var, dir, found, certs);
            }
        }
        Ok(roots)
    }

    /// From the process environment (for [`crate::ClientBuilder::trust_roots`]).
    pub fn from_process_env() -> Result<TrustRoots, TrustError> {
        TrustRoots::from_lookup(|k| std::env::var(k).ok())
    }

    fn add(&mut self, what: &str, path: &str, found: usize, certs: Vec<reqwest::Certificate>) {
        self.sources.push(format!(
            "{what} {path} ({found} certificate{}, {} new)",
            if found == 1 { "" } else { "s" },
            certs.len()
        ));
        self.certs.extend(certs);
    }

    /// Adds the roots to a client being built.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        self.certs
            .iter()
            .fold(builder, |b, c| b.add_root_certificate(c.clone()))
    }

    /// For the debug log: the built-in roots and where the others came from.
    pub fn describe(&self) -> String {
        let mut parts = vec!["built-in roots".to_string()];
        parts.extend(self.sources.iter().cloned());
        parts.join(", ")
    }
}

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// The `CERTIFICATE` blocks of a PEM text (other blocks and text around them are ignored; PEM is ASCII, so
/// a file that is not UTF-8 has none).
fn pem_blocks(pem: &[u8]) -> Vec<&str> {
    let mut rest = std::str::from_utf8(pem).unwrap_or("");
    let mut blocks = Vec::new();
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        blocks.push(&rest[start..end]);
        rest = &rest[end..];
    }
    blocks
}

/// The certificates of `pem` not seen before (by their PEM block, white space aside).
fn new_certs(
    pem: &[u8],
    seen: &mut std::collections::HashSet<String>,
) -> Vec<reqwest::Certificate> {
    pem_blocks(pem)
        .into_iter()
        .filter(|b| seen.insert(b.split_whitespace().collect()))
        .filter_map(|b| reqwest::Certificate::from_pem(b.as_bytes()).ok())
        .collect()
}

/// Whether a TLS client accepts every one of `certs` as a root (reqwest parses them only when it builds
/// a client). No new certificate is fine: they were all trusted already.
fn usable(certs: &[reqwest::Certificate]) -> bool {
    certs.is_empty()
        || certs
            .iter()
            .fold(reqwest::Client::builder(), |b, c| {
                b.add_root_certificate(c.clone())
            })
            .build()
            .is_ok()
}

/// The contents of every regular file (or symlink to one) in `dir`, each file once (hashed names are
/// symlinks to the same files), like OpenSSL's certificate directories.
fn dir_files(dir: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    paths.sort();
    paths.dedup();
    Ok(paths
        .iter()
        .filter(|p| p.as_path() != Path::new(SYSTEM_BUNDLE))
        .filter_map(|p| std::fs::read(p).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn a_missing_or_empty_path_names_the_variable() {
        let dir = std::env::temp_dir().join(format!("dune-api-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let empty = empty.to_string_lossy().to_string();
        let missing = dir.join("missing.pem").to_string_lossy().to_string();
        // The directory's only file holds no certificate.
        let no_certs = dir.to_string_lossy().to_string();
        let cases = [
            ("SSL_CERT_FILE", &missing, true),
            ("SSL_CERT_FILE", &empty, false),
            ("SSL_CERT_DIR", &missing, true),
            ("SSL_CERT_DIR", &no_certs, false),
        ];
        for (name, path, unreadable) in cases {
            let e = TrustRoots::from_lookup(lookup(&[(name, path.clone())])).expect_err("an error");
            let (var, shown) = match &e {
                TrustError::Unreadable { var, path, .. } if unreadable => (*var, path),
                TrustError::NoCertificate { var, path } if !unreadable => (*var, path),
                other => panic!("{name}={path}: {other:?}"),
            };
            assert_eq!((var, shown), (name, path));
            assert!(e.to_string().starts_with(&format!("{name} names ")), "{e}");
        }
        // Empty values are unset.
        assert!(TrustRoots::from_lookup(lookup(&[("SSL_CERT_FILE", " ".into())])).is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }
}
