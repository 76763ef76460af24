//! A snapshot of the process environment, read once at start-up, so the rest of the program (and tests)
//! never read or write ambient environment variables.

use std::collections::BTreeMap;

/// Environment variables by name.
#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// The current process's environment (variables that are not valid UTF-8 are skipped).
    pub fn from_process() -> Self {
        Env(std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect())
    }

    /// An environment made of the given pairs (tests).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    /// Sets a variable in this snapshot (never in the process).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// Removes a variable from this snapshot.
    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }

    /// Whether we run inside GitHub Actions.
    pub fn is_github_actions(&self) -> bool {
        self.get("GITHUB_ACTIONS").as_deref() == Some("true")
    }

    /// An action input as the toolkit's `getInput` reads it: `INPUT_` + the name with spaces replaced by
    /// `_`, upper-cased; missing is empty; surrounding whitespace trimmed.
    pub fn input(&self, name: &str) -> String {
        let var = format!("INPUT_{}", name.replace(' ', "_").to_uppercase());
        self.get(&var)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    }

    /// Sets an input the way the runner would hand it over (used for command-line flags).
    pub fn set_input(&mut self, name: &str, value: impl Into<String>) {
        self.set(
            format!("INPUT_{}", name.replace(' ', "_").to_uppercase()),
            value,
        );
    }
}
