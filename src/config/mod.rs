//! Action inputs: read from `INPUT_*` variables exactly as GitHub's toolkit reads them, then validated into
//! a typed [`Config`]. Every problem names the input and the fix, and is found before any request is sent.

use std::time::Duration;

use reqwest::Url;
use serde_json::{Map, Value};

mod input_error;
pub mod results;
mod workspace_path;

use dune_api::Retry;
use dune_api::models::{Performance, Tier};
use dune_api::{ApiKey, Client, Clock};

use crate::pipeline::definition;
use crate::pipeline::plan::Settings;
pub use crate::pipeline::plan::Source;
use crate::results::settings::ResultsConfig;
use crate::review::settings::{MAX_PREVIEW_ROWS, ReviewSettings};
use crate::runner::console::{Console, escape_data};
use crate::runner::env::Env;
use crate::runner::secret::GitHubToken;
pub use input_error::InputError;
pub(crate) use input_error::{err, quoted};
use workspace_path::within_workspace;

/// Dune's default API address.
pub const DEFAULT_API_URL: &str = "https://api.dune.com";

/// The longest `timeout` accepted (GitHub's job limit on self-hosted runners is 5 days; a day is plenty).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The longest `max_age` accepted: Dune keeps results for 90 days.
pub const MAX_MAX_AGE: Duration = Duration::from_secs(90 * 24 * 3600);
/// The most `requests_per_minute` accepted (Dune's Enterprise plans start at 1000 a minute).
pub const MAX_REQUESTS_PER_MINUTE: usize = 1000;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// What runs: a saved query's pipeline or a pipeline file.
    pub source: Source,
    /// The Dune API key.
    pub api_key: ApiKey,
    /// Performance tier for every node that sets none (`medium`, `large`, or a tier this action does not
    /// know, passed through with a warning: the same rule as a pipeline file's, [`Tier::named`]).
    pub performance: Tier,
    /// How long to wait for the whole pipeline.
    pub timeout: Duration,
    /// Query parameters, passed as `query_parameters`.
    pub query_parameters: Option<Map<String, Value>>,
    /// Base URL of the API (no trailing slash).
    pub api_url: Url,
    /// Timeout of each HTTP request.
    pub request_timeout: Duration,
    /// The cap on requests to Dune a minute, all endpoints together (`requests_per_minute`: Dune's read
    /// limit of the plan, 40 on Free).
    pub requests_per_minute: usize,
    /// Cancel the running node executions when `timeout` passes.
    pub cancel_on_timeout: bool,
    /// Read and show the plan; execute nothing.
    pub dry_run: bool,
    /// A pipeline execution started elsewhere to follow instead of starting one (`pipeline_execution_id`).
    pub follow: Option<String>,
    /// Follow the pipeline to its end (`wait`); `false`: start it, write its id, exit 0 (`started`).
    pub wait: bool,
    /// What to do with the results of completed query nodes (`result_rows`, `results_dir`,
    /// `results_format`).
    pub results: ResultsConfig,
    /// Token for GitHub's API (`github_token`, else `GITHUB_TOKEN`); only used by `pr_comment` and
    /// `check_run`.
    pub github_token: Option<GitHubToken>,
    /// Write the sticky pull-request comment.
    pub pr_comment: bool,
    /// Write a check run on the commit.
    pub check_run: bool,
    /// `comment_tag`: keys the sticky PR comment's marker and is added to the check run's default name
    /// (a matrix job's own comment and check); `None`: the comment is keyed by the query or file and the
    /// query parameters.
    pub comment_tag: Option<String>,
    /// `check_name`: the check run's name; `None`: the default (`Dune pipeline · query 42`, then
    /// ` · <comment_tag>` when a tag is set).
    pub check_name: Option<String>,
    /// Reuse the sink queries' latest results instead of running, when every one ended within this
    /// (`max_age`; `None`: always run).
    pub max_age: Option<Duration>,
    /// The certificate authorities both clients trust besides the built-in roots: the image's bundle and
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR` (see [`dune_api::tls`]).
    pub trust: dune_api::tls::TrustRoots,
    /// `preview`, `preview_rows`, `diff_key`: preview the changed SQL instead of running.
    pub preview: crate::review::ReviewSettings,
    /// `sync_sql`: update the saved queries' SQL from the files the pipeline file names before running.
    pub sync_sql: bool,
    /// `only_changed` (with `sync_sql`): run only the nodes whose SQL changed and what depends on them.
    pub only_changed: bool,
}

/// Parses a boolean exactly as the toolkit's `getBooleanInput` (YAML 1.2 core schema).
pub fn parse_bool(input: &'static str, value: &str, default: bool) -> Result<bool, InputError> {
    match value {
        "" => Ok(default),
        "true" | "True" | "TRUE" => Ok(true),
        "false" | "False" | "FALSE" => Ok(false),
        other => Err(err(
            input,
            format!("must be `true` or `false`, got {}", quoted(other)),
        )),
    }
}

/// Parses a duration: plain seconds (`600`) or humantime's grammar, the one the simulator's scenarios use too
/// (`90s`, `15m`, `1h`, `1h30m`, `1h 30m`, `1.5h`, `2 days`), with the action's own error messages.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    use humantime::DurationError as Why;
    let v = value.trim();
    if v.is_empty() {
        return Err("is empty".into());
    }
    if let Ok(secs) = v.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let at = |offset: usize| v[offset..].chars().next().unwrap_or(' ');
    humantime::parse_duration(v).map_err(|why| match why {
        Why::UnknownUnit { unit, .. } if unit.is_empty() => {
            "needs a unit after the last number (s, m or h)".to_string()
        }
        Why::UnknownUnit { unit, .. } => format!("has an unknown unit '{unit}' (use s, m or h)"),
        Why::NumberExpected(offset) if at(offset).is_alphabetic() => {
            format!("needs a number before {:?}", at(offset))
        }
        Why::NumberExpected(offset) | Why::InvalidCharacter(offset) => {
            format!("has an unexpected character {:?}", at(offset))
        }
        Why::NumberOverflow => "is too large".to_string(),
        Why::Empty => "is empty".to_string(),
    })
}

fn duration_input(
    env: &Env,
    input: &'static str,
    default: Duration,
    max: Duration,
) -> Result<Duration, InputError> {
    let raw = env.input(input);
    if raw.is_empty() {
        return Ok(default);
    }
    // A bare number was seconds, beside GitHub's `timeout-minutes`: a trap, so a unit is required.
    if let Ok(n) = raw.trim().parse::<u64>() {
        return Err(err(
            input,
            format!(
                "{} has no unit: write 30m or 1800s (a bare number would be read as seconds, not minutes as in `timeout-minutes`; here: `{n}s` or `{}m`)",
                quoted(&raw),
                n.div_ceil(60).max(1)
            ),
        ));
    }
    let d = parse_duration(&raw).map_err(|why| {
        err(
            input,
            format!(
                "{} {why}: write a duration with its unit (`90s`, `15m`, `1h`)",
                quoted(&raw)
            ),
        )
    })?;
    if d.is_zero() {
        return Err(err(input, "must be longer than zero"));
    }
    if d > max {
        return Err(err(
            input,
            format!(
                "{} is longer than the maximum of {}",
                quoted(&raw),
                humantime::format_duration(max)
            ),
        ));
    }
    Ok(d)
}

/// Whether a URL host is a loopback address (where plain `http://` is allowed).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses and checks the API base URL.
pub fn parse_api_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("{} is not a URL ({e})", quoted(raw)))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "{} uses plain http: use https (plain http is allowed only for loopback hosts such as 127.0.0.1)",
                quoted(raw)
            ));
        }
        other => return Err(format!("has scheme `{other}`: use https://")),
    }
    if url.host().is_none() {
        return Err(format!("{} has no host", quoted(raw)));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("contains credentials: remove them (the key goes in `api_key`)".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{} has a query or fragment: give only the base, such as https://api.dune.com",
            quoted(raw)
        ));
    }
    let mut url = url;
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

/// The `User-Agent` of the action's requests to Dune.
pub const USER_AGENT: &str = concat!("dune-pipeline-action/", env!("CARGO_PKG_VERSION"));

/// The plain log line for a retry: which request, what failed, the next wait, and that the action keeps
/// trying (a patient read, made while following, has no count of attempts: only the timeout ends it).
pub fn retry_line(retry: &Retry<'_>) -> String {
    let wait = retry.wait.as_secs_f64();
    let until = if retry.patient {
        "the pipeline goes on running on Dune, so the action keeps trying until the run's `timeout`"
    } else {
        "still trying"
    };
    // The error names the request (`METHOD /path`); it never holds a secret.
    format!(
        "Dune API: {} (attempt {}); next attempt in {wait:.1} s; {until}",
        retry.error, retry.attempt
    )
}

impl Config {
    /// The inputs a plan is read and started with.
    pub fn plan_settings(&self) -> Settings<'_> {
        Settings {
            performance: &self.performance,
            query_parameters: self.query_parameters.as_ref(),
            timeout: self.timeout,
            dry_run: self.dry_run,
        }
    }

    /// What the Dune client is built from ([`Connection::dune_client`], the one way both steps build it).
    pub fn connection(&self) -> Connection {
        Connection {
            api_url: self.api_url.clone(),
            api_key: self.api_key.clone(),
            request_timeout: self.request_timeout,
            requests_per_minute: self.requests_per_minute,
            trust: self.trust.clone(),
        }
    }

    /// Reads and validates every input. Fails on the first problem.
    pub fn from_env(env: &Env) -> Result<Config, InputError> {
        let raw_query = env.input("query_id");
        let raw_file = env.input("pipeline_file");
        let raw_follow = env.input("pipeline_execution_id");
        if raw_query.is_empty() && raw_file.is_empty() && raw_follow.is_empty() {
            return Err(err(
                "query_id",
                "is required unless `pipeline_file` or `pipeline_execution_id` is given: set `query_id:` to the id of the saved query at the root of the pipeline (the number in https://dune.com/queries/<id>), `pipeline_file:` to a pipeline file in the repository, or `pipeline_execution_id:` to follow a pipeline started elsewhere",
            ));
        }
        if !raw_query.is_empty() && !raw_file.is_empty() {
            return Err(err(
                "pipeline_file",
                "is given together with `query_id`: set exactly one of `query_id` (run the pipeline Dune builds for a saved query) and `pipeline_file` (run the pipeline in a file)",
            ));
        }
        let query_id = match raw_query.parse::<u64>() {
            _ if raw_query.is_empty() => None,
            Ok(id) if id > 0 => Some(id),
            _ => {
                return Err(err(
                    "query_id",
                    format!(
                        "must be a positive integer (the number in https://dune.com/queries/<id>), got {}",
                        quoted(&raw_query)
                    ),
                ));
            }
        };

        // A dry run of a pipeline file sends nothing, so it needs no key (pull requests from forks get no
        // secrets); a key that is given is still checked.
        let offline = !raw_file.is_empty() && parse_bool("dry_run", &env.input("dry_run"), false)?;
        let api_key = match api_key(env) {
            Err(_) if offline && raw_api_key(env).is_none() => ApiKey::new(String::new()),
            key => key?,
        };

        // One rule with the pipeline file's `performance`: a tier this action does not know is passed
        // through (`pipeline::plan` warns about it), and Dune decides.
        let performance =
            Tier::named(&env.input("performance")).unwrap_or(Tier::Known(Performance::Medium));

        let timeout = duration_input(env, "timeout", Duration::from_secs(30 * 60), MAX_TIMEOUT)?;

        let raw_params = env.input("query_parameters");
        let query_parameters = if raw_params.is_empty() {
            None
        } else {
            match serde_json::from_str::<Value>(&raw_params) {
                Ok(Value::Object(map)) => Some(map),
                Ok(_) => {
                    return Err(err(
                        "query_parameters",
                        r#"must be a JSON object such as {"chain": "ethereum", "days": 7}"#,
                    ));
                }
                Err(e) => {
                    return Err(err(
                        "query_parameters",
                        format!(
                            r#"is not valid JSON ({e}): write an object such as {{"chain": "ethereum"}}"#
                        ),
                    ));
                }
            }
        };

        let raw_url = input_or_var(env, "api_url", "DUNE_API_BASE_URL")
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let api_url = parse_api_url(&raw_url).map_err(|m| err("api_url", m))?;

        let request_timeout = duration_input(
            env,
            "request_timeout",
            Duration::from_secs(30),
            Duration::from_secs(600),
        )?;
        let requests_per_minute = requests_per_minute(&env.input("requests_per_minute"))?;
        let cancel_on_timeout =
            parse_bool("cancel_on_timeout", &env.input("cancel_on_timeout"), true)?;
        let dry_run = parse_bool("dry_run", &env.input("dry_run"), false)?;
        let wait = parse_bool("wait", &env.input("wait"), true)?;
        let follow = if raw_follow.is_empty() {
            None
        } else if raw_follow.len() <= 64
            && raw_follow
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            Some(raw_follow.clone())
        } else {
            return Err(err(
                "pipeline_execution_id",
                format!(
                    "{} is not a pipeline execution id (letters and digits, such as `01HZX3K2ABCDEF0123456789XY`)",
                    quoted(&raw_follow)
                ),
            ));
        };
        if follow.is_some() && (dry_run || !wait) {
            return Err(err(
                "pipeline_execution_id",
                "follows a pipeline that already started: it cannot be combined with `dry_run: true` or `wait: false`",
            ));
        }
        let max_age = if env.input("max_age").is_empty() {
            None
        } else {
            Some(duration_input(env, "max_age", Duration::ZERO, MAX_MAX_AGE)?)
        };
        let source = match (query_id, &follow) {
            (Some(id), _) => Source::Query(id),
            (None, Some(id)) if raw_file.is_empty() => Source::Execution(id.clone()),
            (None, _) => {
                let workspace = env.get("GITHUB_WORKSPACE").filter(|w| !w.trim().is_empty());
                let raw_file = match within_workspace(&raw_file, workspace.as_deref()) {
                    Ok(Some(relative)) => relative,
                    Ok(None) => raw_file,
                    Err(why) => {
                        return Err(err("pipeline_file", format!("{} {why}", quoted(&raw_file))));
                    }
                };
                let file = definition::read_file(&raw_file, workspace.as_deref()).map_err(|e| {
                    InputError {
                        file: Some(Box::new(e.clone())),
                        ..err("pipeline_file", e.to_string())
                    }
                })?;
                Source::File(file)
            }
        };
        let (sync_sql, only_changed) = sync_inputs(env, &source)?;
        let results = results::from_env(env)?;
        let preview = preview_inputs(env)?;
        if follow.is_some() && (sync_sql || preview.enabled) {
            return Err(err(
                "pipeline_execution_id",
                "follows a pipeline that already started: it cannot be combined with `sync_sql: true` (which updates saved SQL before a run starts) or `preview: true` (which runs SQL instead of a pipeline)",
            ));
        }
        if preview.enabled && sync_sql {
            return Err(err(
                "preview",
                "`preview` changes nothing saved on Dune, `sync_sql` updates the saved SQL: use `preview` on pull requests and `sync_sql` after the merge, not both in one step",
            ));
        }
        if preview.enabled && !matches!(source, Source::File(_)) {
            return Err(err(
                "preview",
                "previews need a `pipeline_file` whose query nodes name their SQL files (`sql: queries/x.sql`): with `query_id` there is no SQL in the repository to preview",
            ));
        }
        // NOTE: the token is not validated: a bad one must not stop a pipeline that does not use it; the
        // GitHub side channel reports it as a warning.
        let github_token = raw_github_token(env).map(GitHubToken::new);
        let pr_comment = parse_bool("pr_comment", &env.input("pr_comment"), false)?;
        let check_run = parse_bool("check_run", &env.input("check_run"), false)?;
        let comment_tag = label_input(env, "comment_tag", 100)?;
        let check_name = label_input(env, "check_name", 200)?;
        let trust = trust_roots(env)?;

        Ok(Config {
            source,
            api_key,
            performance,
            timeout,
            query_parameters,
            api_url,
            request_timeout,
            requests_per_minute,
            cancel_on_timeout,
            dry_run,
            wait,
            follow,
            results,
            github_token,
            pr_comment,
            check_run,
            comment_tag,
            check_name,
            max_age,
            trust,
            preview,
            sync_sql,
            only_changed,
        })
    }
}

/// A short one-line text input (`comment_tag`, `check_name`): trimmed, `None` when empty, at most `max`
/// characters, no line breaks or control characters.
fn label_input(env: &Env, input: &'static str, max: usize) -> Result<Option<String>, InputError> {
    let raw = env.input(input);
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().any(char::is_control) {
        return Err(err(
            input,
            format!(
                "{} has a line break or control character: write one line such as `ethereum`",
                quoted(&raw)
            ),
        ));
    }
    if value.chars().count() > max {
        return Err(err(
            input,
            format!("is longer than {max} characters: {}", quoted(&raw)),
        ));
    }
    Ok(Some(value.to_string()))
}

/// Reads `preview`, `preview_rows` and `diff_key`.
fn preview_inputs(env: &Env) -> Result<ReviewSettings, InputError> {
    let enabled = parse_bool("preview", &env.input("preview"), false)?;
    let raw_rows = env.input("preview_rows");
    let rows = if raw_rows.is_empty() {
        10
    } else {
        match raw_rows.parse::<usize>() {
            Ok(n) if n <= MAX_PREVIEW_ROWS => n,
            _ => {
                return Err(err(
                    "preview_rows",
                    format!(
                        "must be a whole number from 0 to {MAX_PREVIEW_ROWS} (rows of each side a preview shows), got {}",
                        quoted(&raw_rows)
                    ),
                ));
            }
        }
    };
    let raw_key = env.input("diff_key");
    let key = if raw_key.trim().is_empty() {
        None
    } else {
        let columns: Vec<String> = raw_key.split(',').map(|c| c.trim().to_string()).collect();
        if columns.iter().any(String::is_empty) {
            return Err(err(
                "diff_key",
                format!(
                    "must be column names separated by commas (such as `day,chain`), got {}",
                    quoted(&raw_key)
                ),
            ));
        }
        Some(columns)
    };
    Ok(ReviewSettings { enabled, rows, key })
}

/// What a Dune client needs and nothing else: the post step reads only this (with its saved state), so a
/// pipeline file that is gone or an input that became invalid since the main step cannot stop its cancels.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Base URL of the API (no trailing slash).
    pub api_url: Url,
    /// The Dune API key.
    pub api_key: ApiKey,
    /// Timeout of each HTTP request (`request_timeout`, its default when the input is not valid).
    pub request_timeout: Duration,
    /// The rate cap (`requests_per_minute`, its default when the input is not valid).
    pub requests_per_minute: usize,
    /// The certificate authorities trusted besides the built-in roots (`SSL_CERT_FILE`, `SSL_CERT_DIR`).
    pub trust: dune_api::tls::TrustRoots,
}

impl Connection {
    /// Reads the key and the URL (which must be valid), and `request_timeout` and `requests_per_minute`
    /// (their defaults when empty or not valid): nothing else.
    pub fn from_env(env: &Env) -> Result<Connection, InputError> {
        let api_key = api_key(env)?;
        let raw_url = input_or_var(env, "api_url", "DUNE_API_BASE_URL")
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let api_url = parse_api_url(&raw_url).map_err(|m| err("api_url", m))?;
        let default_timeout = Duration::from_secs(30);
        let request_timeout = duration_input(
            env,
            "request_timeout",
            default_timeout,
            Duration::from_secs(600),
        )
        .unwrap_or(default_timeout);
        let requests_per_minute = requests_per_minute(&env.input("requests_per_minute"))
            .unwrap_or(dune_api::rate::DEFAULT_REQUESTS_PER_MINUTE);
        let trust = trust_roots(env)?;
        Ok(Connection {
            api_url,
            api_key,
            request_timeout,
            requests_per_minute,
            trust,
        })
    }

    /// The Dune client, the one way both steps build it: the base URL, the key, the per-request timeout,
    /// the rate cap, the proxies, and with `RUNNER_DEBUG=1` every request as a `::debug::` line.
    pub fn dune_client(
        &self,
        env: &Env,
        clock: Clock,
        console: &Console,
    ) -> Result<Client, dune_api::Error> {
        let proxies = dune_api::proxy::Proxies::from_lookup(|k| env.get(k));
        let retries = console.clone();
        let client = Client::builder(self.api_url.clone(), self.api_key.clone())
            .clock(clock)
            .per_request_timeout(self.request_timeout)
            .max_requests_per_minute(self.requests_per_minute)
            .user_agent(USER_AGENT)
            .trust_roots(self.trust.clone())
            .retry_hook(std::sync::Arc::new(move |retry: &Retry<'_>| {
                retries.line(&retry_line(retry))
            }));
        if env.get("RUNNER_DEBUG").as_deref() != Some("1") {
            return client.proxies(proxies).build();
        }
        console.line(&format!(
            "::debug::{}",
            escape_data(&format!(
                "Dune API {}: {}",
                self.api_url,
                proxies.describe(self.api_url.as_str())
            ))
        ));
        console.line(&format!(
            "::debug::{}",
            escape_data(&format!("TLS: trusting {}", self.trust.describe()))
        ));
        let console = console.clone();
        client
            .proxies(proxies)
            .debug_hook(std::sync::Arc::new(move |text: &str| {
                console.line(&format!("::debug::{}", escape_data(text)))
            }))
            .build()
    }
}

/// Reads `sync_sql` and `only_changed`: both need a `pipeline_file`, and `only_changed` needs `sync_sql`.
fn sync_inputs(env: &Env, source: &Source) -> Result<(bool, bool), InputError> {
    let sync_sql = parse_bool("sync_sql", &env.input("sync_sql"), false)?;
    let only_changed = parse_bool("only_changed", &env.input("only_changed"), false)?;
    if sync_sql && !matches!(source, Source::File(_)) {
        return Err(err(
            "sync_sql",
            "needs a `pipeline_file` whose query nodes name their SQL files (`sql: queries/x.sql`); with `query_id` there are no files to sync",
        ));
    }
    if only_changed && !sync_sql {
        return Err(err(
            "only_changed",
            "needs `sync_sql: true`: what changed is what the sync updates",
        ));
    }
    Ok((sync_sql, only_changed))
}

/// Reads `requests_per_minute`: a whole number from 1 to [`MAX_REQUESTS_PER_MINUTE`], 40 when empty.
pub fn requests_per_minute(raw: &str) -> Result<usize, InputError> {
    if raw.is_empty() {
        return Ok(dune_api::rate::DEFAULT_REQUESTS_PER_MINUTE);
    }
    match raw.parse::<usize>() {
        Ok(n) if (1..=MAX_REQUESTS_PER_MINUTE).contains(&n) => Ok(n),
        _ => Err(err(
            "requests_per_minute",
            format!(
                "must be a whole number from 1 to {MAX_REQUESTS_PER_MINUTE}: your Dune plan's API read limit a minute (40 on Free, 200 on Plus, 1000 on Enterprise), got {}",
                quoted(raw)
            ),
        )),
    }
}

/// Input `input`, else the variable `var`; trimmed, and `None` when both are empty.
pub(crate) fn input_or_var(env: &Env, input: &str, var: &str) -> Option<String> {
    Some(env.input(input))
        .filter(|v| !v.is_empty())
        .or_else(|| env.get(var).map(|v| v.trim().to_string()))
        .filter(|v| !v.is_empty())
}

/// The raw API key (input, else `DUNE_API_KEY`), for masking before anything else is printed.
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`, read before anything is sent: a path that is missing or holds no
/// certificate is an input error naming the variable (a typo must not fall back silently).
fn trust_roots(env: &Env) -> Result<dune_api::tls::TrustRoots, InputError> {
    dune_api::tls::TrustRoots::from_lookup(|k| env.get(k)).map_err(|e| {
        let var = match &e {
            dune_api::tls::TrustError::Unreadable { var, .. }
            | dune_api::tls::TrustError::NoCertificate { var, .. } => *var,
        };
        err(var, e.to_string())
    })
}

pub fn raw_api_key(env: &Env) -> Option<String> {
    input_or_var(env, "api_key", "DUNE_API_KEY")
}

/// The raw GitHub token (`github_token` input, else `GITHUB_TOKEN`), for masking before anything is
/// printed.
pub fn raw_github_token(env: &Env) -> Option<String> {
    input_or_var(env, "github_token", "GITHUB_TOKEN")
}

/// Masks every secret the inputs hold (`::add-mask::`), before anything else is printed, even when other
/// inputs are invalid: the main and the post step both start with it.
pub fn mask_secrets(env: &Env, console: &Console) {
    if let Some(key) = raw_api_key(env) {
        console.mask(&key);
    }
    if let Some(token) = raw_github_token(env) {
        console.mask(&token);
    }
}

fn api_key(env: &Env) -> Result<ApiKey, InputError> {
    let key = raw_api_key(env).ok_or_else(|| {
        err(
            "api_key",
            "is empty and DUNE_API_KEY is not set: add `api_key: ${{ secrets.DUNE_API_KEY }}` (create the key under Settings → API on dune.com and store it as a repository secret)",
        )
    })?;
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) || !key.is_ascii() {
        // Never echo the key, not even part of it.
        return Err(err(
            "api_key",
            "contains spaces, line breaks or non-ASCII characters: check that the secret holds only the key",
        ));
    }
    Ok(ApiKey::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn token_from_input_or_env() {
        let env = Env::from_pairs([("INPUT_GITHUB_TOKEN", " ghs_x "), ("GITHUB_TOKEN", "y")]);
        assert_eq!(raw_github_token(&env).as_deref(), Some("ghs_x"));
        let env = Env::from_pairs([("INPUT_GITHUB_TOKEN", ""), ("GITHUB_TOKEN", "y")]);
        assert_eq!(raw_github_token(&env).as_deref(), Some("y"));
        assert_eq!(raw_github_token(&Env::default()), None);
    }

    #[test]
    fn defaults() {
        let c = Config::from_env(&env(&[
            ("INPUT_QUERY_ID", " 42 "),
            ("INPUT_API_KEY", "k123"),
        ]))
        .expect("valid");
        assert_eq!(c.source, Source::Query(42));
        assert!(!c.dry_run);
        assert_eq!(c.performance, Tier::Known(Performance::Medium));
        assert_eq!(c.timeout, Duration::from_secs(1800));
        assert_eq!(c.api_url.as_str(), "https://api.dune.com/");
        assert!(c.cancel_on_timeout);
    }

    #[test]
    fn requests_per_minute_is_a_plan_limit() {
        assert_eq!(requests_per_minute(""), Ok(40));
        assert_eq!(requests_per_minute("200"), Ok(200));
        assert_eq!(requests_per_minute("1"), Ok(1));
        assert_eq!(requests_per_minute("1000"), Ok(1000));
        for bad in ["0", "1001", "-5", "40.5", "fast", "1e3"] {
            let e = requests_per_minute(bad).expect_err(bad);
            assert_eq!(e.input, "requests_per_minute");
            assert!(e.message.contains("40 on Free"), "{e}");
        }
        let c = Config::from_env(&env(&[
            ("INPUT_QUERY_ID", "1"),
            ("INPUT_API_KEY", "k"),
            ("INPUT_REQUESTS_PER_MINUTE", "200"),
        ]))
        .expect("valid");
        assert_eq!(c.requests_per_minute, 200);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("600"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        // The simulator's grammar (humantime) is the action's too: spaces, long units, fractions.
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2 minutes"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 45 "), Ok(Duration::from_secs(45)));
        // ... under the action's own messages.
        let why = |v: &str| parse_duration(v).expect_err(v);
        assert_eq!(why(""), "is empty");
        assert_eq!(why("10x"), "has an unknown unit 'x' (use s, m or h)");
        assert_eq!(why("m"), "needs a number before 'm'");
        assert_eq!(
            why("10m5"),
            "needs a unit after the last number (s, m or h)"
        );
        assert_eq!(why("99999999999999999999h"), "is too large");
        assert_eq!(why("-5m"), "has an unexpected character '-'");
    }

    #[test]
    fn a_timeout_without_a_unit_is_refused() {
        for input in ["TIMEOUT", "REQUEST_TIMEOUT"] {
            let e = Config::from_env(&env(&[
                ("INPUT_QUERY_ID", "1"),
                ("INPUT_API_KEY", "k"),
                (format!("INPUT_{input}").as_str(), "30"),
            ]))
            .expect_err("no unit");
            assert_eq!(e.input, input.to_ascii_lowercase());
            assert!(e.to_string().contains("write 30m or 1800s"), "{e}");
        }
    }

    #[test]
    fn max_age_is_an_optional_duration() {
        let with = |v: &str| {
            Config::from_env(&env(&[
                ("INPUT_QUERY_ID", "1"),
                ("INPUT_API_KEY", "k"),
                ("INPUT_MAX_AGE", v),
            ]))
        };
        assert_eq!(with("").expect("valid").max_age, None);
        assert_eq!(
            with("1h").expect("valid").max_age,
            Some(Duration::from_secs(3600))
        );
        for bad in ["soon", "0", "2161h", "3600"] {
            let e = with(bad).expect_err(bad);
            assert_eq!(e.input, "max_age");
        }
        assert!(
            with("soon")
                .expect_err("soon")
                .to_string()
                .contains("`15m`")
        );
    }

    #[test]
    fn booleans_like_the_toolkit() {
        assert_eq!(parse_bool("x", "True", false), Ok(true));
        assert_eq!(parse_bool("x", "FALSE", true), Ok(false));
        assert!(parse_bool("x", "yes", true).is_err());
        assert!(parse_bool("x", "tRUE", true).is_err());
    }

    #[test]
    fn api_url_rules() {
        assert!(parse_api_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_api_url("http://localhost:1/").is_ok());
        assert!(parse_api_url("http://api.dune.com").is_err());
        assert!(parse_api_url("https://u:p@api.dune.com").is_err());
        assert!(parse_api_url("ftp://x").is_err());
        assert_eq!(
            parse_api_url("https://proxy.example/dune/")
                .expect("ok")
                .as_str(),
            "https://proxy.example/dune"
        );
    }

    #[test]
    fn absolute_paths_inside_the_workspace_become_relative() {
        let ws = Some("/github/workspace");
        assert_eq!(
            within_workspace("/github/workspace/out", ws),
            Ok(Some("out".to_string()))
        );
        assert_eq!(
            within_workspace("/github/workspace/./a/../pipelines/p.yml", ws),
            Ok(Some("pipelines/p.yml".to_string()))
        );
        assert_eq!(within_workspace("out", ws), Ok(None));
        assert_eq!(within_workspace("/tmp/out", None), Ok(None));
        for outside in [
            "/tmp/out",
            "/github/workspace2/out",
            "/github/workspace/../x",
            "/github/workspace",
        ] {
            assert!(within_workspace(outside, ws).is_err(), "{outside}");
        }
        let e = Config::from_env(&env(&[
            ("GITHUB_WORKSPACE", "/github/workspace"),
            ("INPUT_PIPELINE_FILE", "/etc/passwd"),
            ("INPUT_API_KEY", "k"),
        ]))
        .expect_err("outside");
        assert_eq!(e.input, "pipeline_file");
        assert!(e.message.contains("outside the workspace"), "{e}");
    }

    #[test]
    fn key_from_env_fallback_and_never_echoed() {
        let c = Config::from_env(&env(&[("INPUT_QUERY_ID", "1"), ("DUNE_API_KEY", "abc")]))
            .expect("valid");
        assert_eq!(c.api_key.expose(), "abc");
        let e = Config::from_env(&env(&[
            ("INPUT_QUERY_ID", "1"),
            ("INPUT_API_KEY", "sek ret"),
        ]))
        .expect_err("invalid");
        assert_eq!(e.input, "api_key");
        assert!(!e.to_string().contains("sek"));
    }

    #[test]
    fn comment_tag_and_check_name_are_one_line() {
        let with = |k: &str, v: &str| {
            Config::from_env(&env(&[
                ("INPUT_QUERY_ID", "1"),
                ("INPUT_API_KEY", "k"),
                (k, v),
            ]))
        };
        let c = with("INPUT_COMMENT_TAG", " ethereum ").expect("valid");
        assert_eq!(c.comment_tag.as_deref(), Some("ethereum"));
        assert_eq!(c.check_name, None);
        let c = with("INPUT_CHECK_NAME", "Dune · eth").expect("valid");
        assert_eq!(c.check_name.as_deref(), Some("Dune · eth"));
        assert_eq!(
            with("INPUT_COMMENT_TAG", "").expect("valid").comment_tag,
            None
        );
        let e = with("INPUT_COMMENT_TAG", "a\nb").expect_err("line break");
        assert_eq!(e.input, "comment_tag");
        let e = with("INPUT_CHECK_NAME", &"x".repeat(201)).expect_err("long");
        assert_eq!(e.input, "check_name");
    }

    #[test]
    fn preview_inputs_defaults_and_values() {
        let s = preview_inputs(&env(&[])).expect("defaults");
        assert_eq!((s.enabled, s.rows, s.key), (false, 10, None));
        let s = preview_inputs(&env(&[
            ("INPUT_PREVIEW", "true"),
            ("INPUT_PREVIEW_ROWS", "3"),
            ("INPUT_DIFF_KEY", "day, chain"),
        ]))
        .expect("values");
        assert_eq!(
            (s.enabled, s.rows, s.key),
            (true, 3, Some(vec!["day".to_string(), "chain".to_string()]))
        );
    }

    #[test]
    fn preview_input_errors_name_the_input() {
        assert_eq!(
            preview_inputs(&env(&[("INPUT_PREVIEW", "yes")])).map_err(|e| e.input),
            Err("preview")
        );
        assert_eq!(
            preview_inputs(&env(&[("INPUT_PREVIEW_ROWS", "101")])).map_err(|e| e.input),
            Err("preview_rows")
        );
        assert_eq!(
            preview_inputs(&env(&[("INPUT_DIFF_KEY", "a,,b")])).map_err(|e| e.input),
            Err("diff_key")
        );
    }
}
