//! The layers of `ARCHITECTURE.md`, checked: every `crate::…` path in `src/` points at the module's own
//! layer or one below it, so no cycle between top-level modules can come back. A new top-level module
//! must be given a layer here (and in ARCHITECTURE.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules of `src/`, bottom layer first. A module may use the ones before it, never after.
const LAYERS: &[&str] = &[
    "runner", "pipeline", "results", "config", "outcome", "report", "github", "post", "app", "cli",
    "demo",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/pipeline/plan.rs` → `pipeline`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// Top-level modules named by `crate::` paths in `text`, including grouped ones (`crate::{a, b::c}`).
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `dune_pipeline_action::…` or another crate's path
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Every import between two different top-level modules: (from, to) → the files that make it.
fn edges(src: &Path) -> BTreeMap<(String, String), Vec<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for file in files {
        let Some(from) = module_of(src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for to in crate_paths(&text) {
            if to != from {
                let shown = file
                    .strip_prefix(src)
                    .unwrap_or(&file)
                    .display()
                    .to_string();
                out.entry((from.clone(), to)).or_default().push(shown);
            }
        }
    }
    out
}

/// The imports that point up (or at a module no layer names), as messages.
fn wrong_way(edges: &BTreeMap<(String, String), Vec<String>>) -> Vec<String> {
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong = Vec::new();
    for ((from, to), files) in edges {
        match (rank(from), rank(to)) {
            (Some(f), Some(t)) if t < f => {}
            (None, _) => wrong.push(format!("`{from}` has no layer in LAYERS")),
            (_, None) => wrong.push(format!("`{to}` (used by `{from}`) has no layer in LAYERS")),
            _ => wrong.push(format!(
                "`{from}` imports `crate::{to}`, a layer above it ({}): move the code it needs down, or this code up",
                files.join(", ")
            )),
        }
    }
    wrong
}

#[test]
fn imports_point_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = edges(&src);
    assert!(
        edges.contains_key(&("app".to_string(), "pipeline".to_string())),
        "the scan found no imports at all: {edges:?}"
    );
    let wrong = wrong_way(&edges);
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_catches_an_import_upwards_and_grouped_paths() {
    let paths = crate_paths(
        "use crate::{outcome::Outcome, report};\nlet x = crate::app::run; // crate::cli\n",
    );
    assert_eq!(
        paths.into_iter().collect::<Vec<_>>(),
        vec!["app", "outcome", "report"]
    );
    let mut e = BTreeMap::new();
    e.insert(
        ("runner".to_string(), "app".to_string()),
        vec!["runner/env.rs".to_string()],
    );
    e.insert(
        ("app".to_string(), "runner".to_string()),
        vec!["app.rs".to_string()],
    );
    let wrong = wrong_way(&e);
    assert_eq!(wrong.len(), 1, "{wrong:?}");
    assert!(
        wrong[0].contains("`runner` imports `crate::app`"),
        "{wrong:?}"
    );
}

#[test]
fn the_client_crate_knows_nothing_of_the_action_or_github() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("crates/dune-api/Cargo.toml"))
        .expect("crates/dune-api/Cargo.toml");
    assert!(!manifest.contains("octocrab"), "{manifest}");
    for line in manifest.lines().filter(|l| l.contains("path =")) {
        assert!(
            line.contains("../dune-sim"),
            "dune-api may depend on no crate of this workspace but the simulator (for tests): {line}"
        );
    }
    let mut files = Vec::new();
    rust_files(&root.join("crates/dune-api/src"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for banned in ["dune_pipeline_action", "octocrab", "GITHUB_", "::debug::"] {
            assert!(
                !text.contains(banned),
                "{} mentions {banned}",
                file.display()
            );
        }
    }
}

/// The non-test code of a crate source file: the text before its `#[cfg(test)]` module, and nothing of a
/// file that is compiled for tests only.
fn non_test_code(text: &str) -> &str {
    if text.trim_start().starts_with("#![cfg(test)]") {
        return "";
    }
    text.find("#[cfg(test)]\nmod ")
        .map_or(text, |at| &text[..at])
}

/// The names of the action's inputs, from `action.yml` (the keys indented by two under `inputs:`).
fn action_inputs(manifest: &str) -> Vec<String> {
    let mut inputs = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            inside = line.trim_end() == "inputs:";
            continue;
        }
        if inside
            && let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
            && !name.starts_with(' ')
        {
            inputs.push(name.to_string());
        }
    }
    inputs
}

/// Where `word` stands as a whole identifier in `text` (not inside `per_request_timeout`).
fn word_at(text: &str, word: &str) -> Option<usize> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).map(|(at, _)| at).find(|&at| {
        !text[..at].chars().next_back().is_some_and(ident)
            && !text[at + word.len()..].chars().next().is_some_and(ident)
    })
}

/// Issue 18: `dune-api` is a crate someone could publish, so its code says nothing of the action: no
/// input of `action.yml` that is not also a word of Dune's API (`api_url`, `request_timeout`,
/// `results_dir`, ...), none of Dune's words written as the action's input (`` `query_id` input``), and no
/// advice about the job.
#[test]
fn the_client_crate_names_no_input_of_the_action() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("action.yml")).expect("action.yml");
    let inputs = action_inputs(&manifest);
    assert!(
        ["api_key", "query_id", "request_timeout", "results_dir"]
            .iter()
            .all(|i| inputs.iter().any(|n| n == i)),
        "inputs read from action.yml: {inputs:?}"
    );
    let spec = std::fs::read_to_string(root.join("crates/dune-sim/tests/spec/dune-openapi.json"))
        .expect("the vendored OpenAPI spec");
    let mut files = Vec::new();
    rust_files(&root.join("crates/dune-api/src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let code = non_test_code(&text);
        let mut say = |what: String| found.push(format!("{}: {what}", file.display()));
        for input in &inputs {
            if !input.contains('_') {
                // `timeout`: an ordinary word.
                continue;
            }
            if word_at(&spec, input).is_none() {
                if let Some(at) = word_at(code, input) {
                    let line = code[..at].lines().count().max(1);
                    say(format!("line {line} names the input `{input}`"));
                }
                continue;
            }
            for phrase in [format!("`{input}` input"), format!("input `{input}`")] {
                if code.contains(&phrase) {
                    say(format!("{phrase:?}"));
                }
            }
        }
        for phrase in ["re-run the job", "dune-pipeline-action", "the action"] {
            if code.contains(phrase) {
                say(format!("{phrase:?}"));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_input_check_sees_an_input_name() {
    let code =
        "fn f() {}\n/// Raise `request_timeout`.\nconst X: u8 = 1;\n#[cfg(test)]\nmod tests {}";
    assert_eq!(word_at(non_test_code(code), "request_timeout"), Some(21));
    assert_eq!(word_at("per_request_timeout", "request_timeout"), None);
    assert_eq!(
        action_inputs(
            "name: x\ninputs:\n  api_key:\n    description: k\n  query_id:\noutputs:\n  status:\n"
        ),
        ["api_key", "query_id"]
    );
}
