//! Proxies as curl reads them from the environment: `https_proxy`/`HTTPS_PROXY` for https URLs,
//! `http_proxy`/`HTTP_PROXY` for http URLs, `all_proxy`/`ALL_PROXY` for both when the specific one is unset,
//! and `no_proxy`/`NO_PROXY` (comma-separated hosts, domains, IPs or CIDR ranges, `*` for all) for the
//! hosts reached directly. The lower-case name wins when both are set, as in curl.
//!
//! Read from a lookup (the caller's environment) rather than the process, and applied to a
//! [`reqwest::ClientBuilder`] explicitly, so every client built with it follows the same rules; [`Proxies::describe`] says which proxy a URL goes through, without credentials.

use hyper_util::client::proxy::matcher::Matcher;
use reqwest::{NoProxy, Proxy, Url};

/// The proxy settings of an environment.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    http: Option<String>,
    https: Option<String>,
    all: Option<String>,
    no: Option<String>,
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxies")
            .field("http", &self.http.as_deref().map(without_credentials))
            .field("https", &self.https.as_deref().map(without_credentials))
            .field("all", &self.all.as_deref().map(without_credentials))
            .field("no", &self.no)
            .finish()
    }
}

/// A proxy URL as curl accepts it: `host:port` means `http://host:port`.
fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// A proxy URL for a log line: scheme, host and port only (no user, password, path or query).
pub fn without_credentials(url: &str) -> String {
    match Url::parse(&with_scheme(url)) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port_or_known_default() {
                Some(p) => format!("{}://{host}:{p}", u.scheme()),
                None => format!("{}://{host}", u.scheme()),
            }
        }
        Err(_) => "(an unparsable proxy URL)".to_string(),
    }
}

impl Proxies {
    /// Reads the variables through `get` (for example the caller's environment). Empty values are unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Proxies {
        let var = |name: &str| {
            [name.to_ascii_lowercase(), name.to_ascii_uppercase()]
                .iter()
                .find_map(|n| {
                    get(n)
                        .map(|v| v.trim().to_string())
                        .filter(|v| !v.is_empty())
                })
        };
        Proxies {
            http: var("http_proxy"),
            https: var("https_proxy"),
            all: var("all_proxy"),
            no: var("no_proxy"),
        }
    }

    /// Reads the process environment.
    pub fn from_process_env() -> Proxies {
        Proxies::from_lookup(|k| std::env::var(k).ok())
    }

    /// Whether any proxy is set.
    pub fn any(&self) -> bool {
        self.http.is_some() || self.https.is_some() || self.all.is_some()
    }

    /// Uses these proxies (and only these: reqwest's own reading of the process environment is turned
    /// off). Fails, naming the variable but not its value, when a proxy URL is not usable.
    pub fn apply(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, String> {
        builder = builder.no_proxy();
        let no = self.no.as_deref().and_then(NoProxy::from_string);
        type Make = fn(String) -> reqwest::Result<Proxy>;
        let entries: [(&str, &Option<String>, Make); 3] = [
            ("HTTP_PROXY", &self.http, |u| Proxy::http(u)),
            ("HTTPS_PROXY", &self.https, |u| Proxy::https(u)),
            ("ALL_PROXY", &self.all, |u| Proxy::all(u)),
        ];
        for (name, url, make) in entries {
            let Some(url) = url else { continue };
            let proxy = Url::parse(&with_scheme(url))
                .ok()
                .filter(|u| u.host_str().is_some())
                .and_then(|u| make(u.to_string()).ok())
                .ok_or_else(|| {
                    format!("{name} is not a usable proxy URL (expected http://host:port)")
                })?;
            builder = builder.proxy(proxy.no_proxy(no.clone()));
        }
        Ok(builder)
    }

    /// Which way requests to `url` go, for the debug log: `through proxy http://proxy:3128 (HTTPS_PROXY)`,
    /// `direct (NO_PROXY covers api.dune.com)` or `direct (no proxy set)`. Never shows credentials.
    pub fn describe(&self, url: &str) -> String {
        let Ok(target) = url.parse::<http::Uri>() else {
            return "direct (not a URL)".to_string();
        };
        if !self.any() {
            return "direct (no proxy set)".to_string();
        }
        let mut m = Matcher::builder();
        if let Some(a) = &self.all {
            m = m.all(with_scheme(a));
        }
        if let Some(h) = &self.http {
            m = m.http(with_scheme(h));
        }
        if let Some(h) = &self.https {
            m = m.https(with_scheme(h));
        }
        if let Some(n) = &self.no {
            m = m.no(n.clone());
        }
        let https = target.scheme_str() == Some("https");
        let (specific, name) = if https {
            (&self.https, "HTTPS_PROXY")
        } else {
            (&self.http, "HTTP_PROXY")
        };
        let (chosen, used) = match specific {
            Some(p) => (Some(p), name),
            None => (self.all.as_ref(), "ALL_PROXY"),
        };
        match (m.build().intercept(&target), chosen) {
            (Some(_), Some(p)) => format!("through proxy {} ({used})", without_credentials(p)),
            (None, Some(_)) => format!(
                "direct (NO_PROXY covers {})",
                target.host().unwrap_or_default()
            ),
            _ => format!("direct (no {name} or ALL_PROXY set)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Proxies {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Proxies::from_lookup(move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn either_case_lower_case_first_like_curl() {
        let p = env(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:2"),
        ]);
        assert_eq!(
            p.describe("https://api.dune.com/x"),
            "through proxy http://lower:2 (HTTPS_PROXY)"
        );
        let p = env(&[("HTTPS_PROXY", "upper:3128")]);
        assert_eq!(
            p.describe("https://api.dune.com/x"),
            "through proxy http://upper:3128 (HTTPS_PROXY)"
        );
        let p = env(&[("http_proxy", "http://h:8080")]);
        assert_eq!(
            p.describe("http://127.0.0.1:9/x"),
            "through proxy http://h:8080 (HTTP_PROXY)"
        );
        assert_eq!(
            p.describe("https://api.dune.com"),
            "direct (no HTTPS_PROXY or ALL_PROXY set)"
        );
        let p = env(&[("ALL_PROXY", "http://all:1")]);
        assert_eq!(
            p.describe("https://api.dune.com"),
            "through proxy http://all:1 (ALL_PROXY)"
        );
        assert_eq!(
            env(&[]).describe("https://api.dune.com"),
            "direct (no proxy set)"
        );
    }

    #[test]
    fn no_proxy_hosts_domains_and_star() {
        for no in [
            "api.dune.com",
            ".dune.com",
            "dune.com",
            "example.org, api.dune.com",
            "*",
        ] {
            let p = env(&[("HTTPS_PROXY", "http://p:1"), ("no_proxy", no)]);
            assert_eq!(
                p.describe("https://api.dune.com/v1"),
                "direct (NO_PROXY covers api.dune.com)",
                "{no}"
            );
        }
        let p = env(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "127.0.0.0/8")]);
        assert!(p.describe("https://127.0.0.1:8443/").starts_with("direct"));
        assert!(p.describe("https://example.com/").starts_with("through"));
    }

    #[test]
    fn credentials_are_never_shown() {
        let p = env(&[(
            "HTTPS_PROXY",
            "http://alice:s3cret@proxy.corp:3128/path?x=1",
        )]);
        let d = p.describe("https://api.dune.com");
        assert_eq!(d, "through proxy http://proxy.corp:3128 (HTTPS_PROXY)");
        assert!(!format!("{p:?}").contains("s3cret"));
        assert!(p.apply(reqwest::Client::builder()).is_ok());
        let bad = env(&[("HTTPS_PROXY", "http://")]);
        let e = bad.apply(reqwest::Client::builder()).expect_err("bad url");
        assert_eq!(
            e,
            "HTTPS_PROXY is not a usable proxy URL (expected http://host:port)"
        );
    }
}
