//! The GitHub token as a newtype: its `Debug` and `Display` never show the value. (The Dune API key's
//! newtype, [`dune_api::ApiKey`], lives with the client that sends it.)

/// The token for GitHub's REST API (`github_token`).
#[derive(Clone, PartialEq, Eq)]
pub struct GitHubToken(String);

impl GitHubToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        GitHubToken(token.into())
    }

    /// The token itself: only for the `Authorization` header, `::add-mask::` and redaction.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for GitHubToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GitHubToken(***)")
    }
}

impl std::fmt::Display for GitHubToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let t = GitHubToken::new("ghs_abcdef");
        assert_eq!(format!("{t:?} {t}"), "GitHubToken(***) ***");
    }
}
