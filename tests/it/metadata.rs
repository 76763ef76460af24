//! action.yml and README.md describe the same action: the same inputs with the same defaults, the same
//! outputs; and action.yml builds its own Dockerfile between releases. Both files are parsed, nothing is listed here, so
//! an input added to one file and not the other fails this test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

const ACTION_YML: &str = include_str!("../../action.yml");
const README: &str = include_str!("../../README.md");
const DOCKERFILE: &str = include_str!("../../Dockerfile");

/// An input's default as the runner hands it over, or `None` for a required input without one.
type Defaults = BTreeMap<String, Option<String>>;

fn action() -> Value {
    serde_yaml_ng::from_str(ACTION_YML).unwrap()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn action_inputs() -> Defaults {
    let action = action();
    let inputs = action["inputs"].as_mapping().unwrap();
    inputs
        .iter()
        .map(|(name, spec)| {
            let required = spec.get("required").and_then(Value::as_bool) == Some(true);
            let default = spec.get("default").map(scalar);
            let default = match (required, default) {
                (true, None) => None,
                (_, d) => Some(d.unwrap_or_default()),
            };
            (scalar(name), default)
        })
        .collect()
}

fn action_outputs() -> Vec<String> {
    let mut names: Vec<String> = action()["outputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(scalar)
        .collect();
    names.sort();
    names
}

/// The rows of the first table under `## {heading}`, split into trimmed cells.
fn readme_table(heading: &str) -> Vec<Vec<String>> {
    let start = README
        .lines()
        .position(|l| l.trim() == format!("## {heading}"))
        .unwrap_or_else(|| panic!("README has no `## {heading}` section"));
    README
        .lines()
        .skip(start + 1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// `` `name` `` → `name`.
fn code(cell: &str) -> String {
    cell.strip_prefix('`')
        .and_then(|c| c.strip_suffix('`'))
        .unwrap_or_else(|| panic!("README cell {cell:?} is not `code`"))
        .to_string()
}

fn readme_inputs() -> Defaults {
    readme_table("Inputs")
        .iter()
        .map(|row| {
            let default = match row[1].as_str() {
                "(required)" => None,
                cell => Some(match code(cell).as_str() {
                    "\"\"" => String::new(),
                    d => d.to_string(),
                }),
            };
            (code(&row[0]), default)
        })
        .collect()
}

fn readme_outputs() -> Vec<String> {
    let mut names: Vec<String> = readme_table("Outputs")
        .iter()
        .map(|r| code(&r[0]))
        .collect();
    names.sort();
    names
}

#[test]
fn readme_inputs_match_action_yml() {
    let action = action_inputs();
    let readme = readme_inputs();
    assert!(action.len() >= 8, "action.yml inputs not found: {action:?}");
    let only = |a: &Defaults, b: &Defaults| -> Vec<String> {
        a.keys().filter(|k| !b.contains_key(*k)).cloned().collect()
    };
    assert!(
        only(&action, &readme).is_empty(),
        "inputs in action.yml but not in README's table: {:?}",
        only(&action, &readme)
    );
    assert!(
        only(&readme, &action).is_empty(),
        "inputs in README's table but not in action.yml: {:?}",
        only(&readme, &action)
    );
    for (name, default) in &action {
        assert_eq!(
            &readme[name], default,
            "input `{name}`: README's default (None = `(required)`) differs from action.yml's"
        );
    }
}

#[test]
fn readme_outputs_match_action_yml() {
    let action = action_outputs();
    assert!(
        action.len() >= 5,
        "action.yml outputs not found: {action:?}"
    );
    assert_eq!(readme_outputs(), action);
}

#[test]
fn the_table_parser_reads_defaults_and_required_inputs() {
    let inputs = readme_inputs();
    assert_eq!(inputs["query_id"], Some(String::new()));
    assert_eq!(inputs["api_key"], Some(String::new()));
    assert_eq!(inputs["timeout"], Some("30m".to_string()));
    assert_eq!(
        action_inputs()["cancel_on_timeout"],
        Some("true".to_string())
    );
}

#[test]
fn action_yml_builds_this_commit_between_releases() {
    // A release tag's action.yml is pinned to its image by digest (.ci/pin-action-image, run by the
    // release workflow and tested in .ci/run); the branch itself builds its own Dockerfile.
    let action = action();
    let runs = &action["runs"];
    assert_eq!(scalar(&runs["using"]), "docker");
    let image = scalar(&runs["image"]);
    assert_eq!(
        image, "Dockerfile",
        "runs.image must be `Dockerfile` on the branch: the release workflow pins the digest on the release tag only"
    );
}

#[test]
fn the_post_entrypoint_exists_in_the_image() {
    let post = scalar(&action()["runs"]["post-entrypoint"]);
    assert_eq!(post, "/dune-pipeline-action-post");
    assert!(
        DOCKERFILE.contains("ln -s dune-pipeline-action /out/dune-pipeline-action-post"),
        "the Dockerfile must create the {post} symlink"
    );
}
