//! The GitHub token: the one secret type, [`dune_api::secret::Secret`], of its own kind, so its `Debug`
//! and `Display` never show the value and it cannot be passed where the Dune key is expected.

use dune_api::secret::{Secret, SecretKind};

/// The kind of the token for GitHub's REST API.
#[derive(Debug, Clone, Copy)]
pub enum GitHub {}

impl SecretKind for GitHub {
    const NAME: &'static str = "GitHubToken";
}

/// The token for GitHub's REST API (`github_token`); `expose` only for the `Authorization` header,
/// `::add-mask::` and redaction.
pub type GitHubToken = Secret<GitHub>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let t = GitHubToken::new("ghs_abcdef");
        assert_eq!(format!("{t:?} {t}"), "GitHubToken(***) ***");
    }
}
