//! How the runner reads a step's log as workflow commands, written independently of the action: the oracle
//! the tests check the action's console against. Used by the integration tests and by the unit tests of
//! `src/runner/console.rs`.

/// Every line the runner would act on as a workflow command, with `::stop-commands::` fences honoured,
/// leading whitespace trimmed (as the runner does), and bare CRs ending lines (as .NET's ReadLine does).
pub fn commands(log: &str) -> Vec<String> {
    let mut fence: Option<String> = None;
    let mut out = Vec::new();
    for line in log.split(['\n', '\r']) {
        let line = line.trim_start();
        if let Some(token) = &fence {
            if line == format!("::{token}::") {
                fence = None;
            }
            continue;
        }
        if let Some(token) = line.strip_prefix("::stop-commands::") {
            fence = Some(token.to_string());
        }
        if line.starts_with("::") || line.contains("##[") {
            out.push(line.to_string());
        }
    }
    assert!(fence.is_none(), "an unclosed stop-commands fence");
    out
}

/// The runner's `UnescapeString` with its data mappings, applied in its order.
pub fn runner_unescape_data(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

/// The runner's property mappings, in its order.
pub fn runner_unescape_property(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}
