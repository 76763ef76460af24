//! Secrets as newtypes: their `Debug` and `Display` never show the value, so no log line, error message or
//! `{:?}` can leak them.

/// The Dune API key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key itself: only for the request header and for `::add-mask::`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

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
