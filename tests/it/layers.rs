//! The layers of `ARCHITECTURE.md`, checked: every `crate::…` path in `src/` points at the module's own
//! layer or one below it, so no cycle between top-level modules can come back. A new top-level module
//! must be given a layer here (and in ARCHITECTURE.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules of `src/`, bottom layer first. A module may use the ones before it, never after.
const LAYERS: &[&str] = &[
    "runner", "pipeline", "results", "review", "config", "outcome", "report", "github", "post",
    "app", "cli", "demo",
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
