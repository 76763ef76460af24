//! Secrets as one newtype, [`Secret`]: its `Debug` and `Display` never show the value, so no log line,
//! error message or `{:?}` can leak it. What a secret is for is a type parameter ([`SecretKind`]), so a
//! Dune key cannot be passed where another service's token is expected.

use std::marker::PhantomData;

/// What a [`Secret`] is for: its name in `Debug` output.
pub trait SecretKind {
    /// The name `Debug` shows, as in `ApiKey(***)`.
    const NAME: &'static str;
}

/// A secret value of kind `K`, redacted in `Debug` and `Display`.
pub struct Secret<K: SecretKind> {
    value: String,
    kind: PhantomData<fn() -> K>,
}

impl<K: SecretKind> Secret<K> {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret {
            value: value.into(),
            kind: PhantomData,
        }
    }

    /// The secret itself: only for the request header that carries it, for masking and for redaction.
    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl<K: SecretKind> Clone for Secret<K> {
    fn clone(&self) -> Self {
        Secret::new(self.value.clone())
    }
}

impl<K: SecretKind> PartialEq for Secret<K> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<K: SecretKind> Eq for Secret<K> {}

impl<K: SecretKind> std::fmt::Debug for Secret<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}(***)", K::NAME)
    }
}

impl<K: SecretKind> std::fmt::Display for Secret<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The kind of a Dune API key.
#[derive(Debug, Clone, Copy)]
pub enum DuneKey {}

impl SecretKind for DuneKey {
    const NAME: &'static str = "ApiKey";
}

/// The Dune API key.
pub type ApiKey = Secret<DuneKey>;

/// Replaces every occurrence of each secret in `text` with `***` (a last line of defence for text that
/// came from elsewhere, such as an HTTP client's error message).
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(*s, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let k = ApiKey::new("sk_live_123456");
        assert_eq!(format!("{k:?} {k}"), "ApiKey(***) ***");
        assert_eq!(redact("x sk_live_123456 y", &[k.expose()]), "x *** y");
    }
}
