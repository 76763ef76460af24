//! The JSON Schemas in schema/ agree with the action: a pipeline file is valid under
//! schema/pipeline.schema.json exactly when the action accepts it (its own validation, through the binary's
//! dry run), except for the rules a schema cannot express, listed here as such; and every `nodes` and
//! `results` output any test produces validates against schema/nodes.schema.json and
//! schema/results.schema.json (`check_outputs`, called by `common::ActionRun` on every run); the `preview`
//! output against schema/preview.schema.json (`assert_conforms`, called by the preview tests). One
//! validator for all of them: the `jsonschema` crate, written apart from the action.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

const PIPELINE: &str = include_str!("../../schema/pipeline.schema.json");
const NODES: &str = include_str!("../../schema/nodes.schema.json");
const RESULTS: &str = include_str!("../../schema/results.schema.json");
const PREVIEW: &str = include_str!("../../schema/preview.schema.json");

fn compile(text: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(text).expect("a schema is JSON");
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "the schemas are JSON Schema 2020-12"
    );
    jsonschema::draft202012::new(&schema).expect("a valid schema")
}

fn validator(which: &'static str) -> &'static jsonschema::Validator {
    static PIPE: OnceLock<jsonschema::Validator> = OnceLock::new();
    static NOD: OnceLock<jsonschema::Validator> = OnceLock::new();
    static RES: OnceLock<jsonschema::Validator> = OnceLock::new();
    static PRE: OnceLock<jsonschema::Validator> = OnceLock::new();
    match which {
        "pipeline" => PIPE.get_or_init(|| compile(PIPELINE)),
        "nodes" => NOD.get_or_init(|| compile(NODES)),
        "results" => RES.get_or_init(|| compile(RESULTS)),
        "preview" => PRE.get_or_init(|| compile(PREVIEW)),
        other => panic!("no schema/{other}.schema.json"),
    }
}

fn errors(which: &'static str, value: &Value) -> Vec<String> {
    validator(which)
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Panics with every way `value` breaks schema/`which`.schema.json (`nodes`, `results`, `preview`).
pub fn assert_conforms(which: &'static str, value: &Value) {
    let problems = errors(which, value);
    assert!(
        problems.is_empty(),
        "schema/{which}.schema.json:\n{}\n{value}",
        problems.join("\n")
    );
}

/// Checks the `nodes` and `results` outputs of a run against their schemas (an empty output, written when
/// the run ended before there was anything to say, is not JSON to check).
pub fn check_outputs(outputs: &BTreeMap<String, String>) {
    for name in ["nodes", "results"] {
        let Some(raw) = outputs.get(name).filter(|r| !r.is_empty()) else {
            continue;
        };
        let value: Value = serde_json::from_str(raw)
            .unwrap_or_else(|e| panic!("output {name} is not JSON ({e}): {raw}"));
        let problems = errors(name, &value);
        assert!(
            problems.is_empty(),
            "output {name} does not match schema/{name}.schema.json: {problems:#?}\n{raw}"
        );
    }
}

/// What the action says of a pipeline file: `true` when a dry run of it succeeds (exit 0), `false` when it
/// is refused as invalid input (exit 2); anything else fails the test.
fn action_accepts(name: &str, text: &str) -> bool {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(name);
    std::fs::write(&file, text).expect("write");
    // The SQL files a pipeline file names (`sql:`) are part of it: the examples' are beside it.
    let queries = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dune/queries");
    std::fs::create_dir_all(dir.path().join("queries")).expect("mkdir");
    for entry in std::fs::read_dir(&queries).expect("examples/dune/queries") {
        let path = entry.expect("entry").path();
        let copy = dir
            .path()
            .join("queries")
            .join(path.file_name().expect("a name"));
        std::fs::copy(&path, copy).expect("copy");
    }
    let out = crate::cli::dry_run_of(&file).output().expect("runs");
    match out.status.code() {
        Some(0) => true,
        Some(2) => false,
        other => panic!(
            "{name}: exit {other:?}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn schema_accepts(name: &str, text: &str) -> Result<(), Vec<String>> {
    let value: Value = if name.ends_with(".json") {
        match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return Err(vec![format!("not JSON: {e}")]),
        }
    } else {
        match serde_yaml_ng::from_str(text) {
            Ok(v) => v,
            Err(e) => return Err(vec![format!("not YAML: {e}")]),
        }
    };
    let problems = errors("pipeline", &value);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The rules of the action's validation that JSON Schema cannot express: files that break only these are
/// valid under the schema and refused by the action.
const BEYOND_THE_SCHEMA: &[(&str, &str)] = &[
    (
        "duplicate-id.yml",
        "pipeline:\n  nodes:\n    - {id: 1, query_execution: {query_id: 1}}\n    - {id: 1, query_execution: {query_id: 2}}\n",
    ),
    (
        "unknown-dependency.yml",
        "pipeline:\n  nodes:\n    - {id: 1, dependencies: [9], query_execution: {query_id: 1}}\n",
    ),
    (
        "self-cycle.yml",
        "pipeline:\n  nodes:\n    - {id: 1, dependencies: [1], query_execution: {query_id: 1}}\n",
    ),
    (
        "cycle.yml",
        "pipeline:\n  nodes:\n    - {id: 1, dependencies: [2], query_execution: {query_id: 1}}\n    - {id: 2, dependencies: [1], materialized_view_refresh: {name: dune.a.b}}\n",
    ),
];

/// Small files, each valid or breaking one rule the schema does express.
const CASES: &[(&str, &str)] = &[
    (
        "one-query.yml",
        "pipeline:\n  nodes:\n    - {id: 1, query_execution: {query_id: 1}}\n",
    ),
    (
        "one-view.json",
        r#"{"pipeline": {"nodes": [{"id": 7, "dependencies": [], "materialized_view_refresh": {"name": "dune.a.mv", "performance": "large"}}]}}"#,
    ),
    (
        "null-fields.yml",
        "pipeline:\n  nodes:\n    - {id: 1, dependencies: null, query_execution: {query_id: 1, performance: null, query_parameters: null}, materialized_view_refresh: null}\n",
    ),
    (
        "new-tier.yml",
        "pipeline:\n  nodes:\n    - {id: 1, query_execution: {query_id: 1, performance: xlarge}}\n",
    ),
    (
        "parameters.yml",
        "pipeline:\n  nodes:\n    - {id: -3, query_execution: {query_id: 1, query_parameters: {chain: base, days: 7}}}\n",
    ),
    ("empty.yml", ""),
    ("list.yml", "- 1\n- 2\n"),
    ("no-pipeline.yml", "nodes: []\n"),
    (
        "extra-top.yml",
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 1}}]}\nname: x\n",
    ),
    (
        "extra-pipeline.yml",
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 1}}], name: x}\n",
    ),
    ("no-nodes.yml", "pipeline: {}\n"),
    ("empty-nodes.yml", "pipeline: {nodes: []}\n"),
    ("nodes-map.yml", "pipeline: {nodes: {a: 1}}\n"),
    ("node-scalar.yml", "pipeline: {nodes: [3]}\n"),
    (
        "no-id.yml",
        "pipeline: {nodes: [{query_execution: {query_id: 1}}]}\n",
    ),
    (
        "string-id.yml",
        "pipeline: {nodes: [{id: a, query_execution: {query_id: 1}}]}\n",
    ),
    (
        "unknown-node-key.yml",
        "pipeline: {nodes: [{id: 1, depends: [], query_execution: {query_id: 1}}]}\n",
    ),
    (
        "deps-scalar.yml",
        "pipeline: {nodes: [{id: 1, dependencies: 2, query_execution: {query_id: 1}}]}\n",
    ),
    (
        "deps-strings.yml",
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 1}}, {id: 2, dependencies: [one], query_execution: {query_id: 2}}]}\n",
    ),
    ("neither.yml", "pipeline: {nodes: [{id: 1}]}\n"),
    (
        "both-null.yml",
        "pipeline: {nodes: [{id: 1, query_execution: null, materialized_view_refresh: null}]}\n",
    ),
    (
        "both.yml",
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 1}, materialized_view_refresh: {name: dune.a.b}}]}\n",
    ),
    (
        "task-scalar.yml",
        "pipeline: {nodes: [{id: 1, query_execution: 5}]}\n",
    ),
    (
        "no-query-id.yml",
        "pipeline: {nodes: [{id: 1, query_execution: {performance: large}}]}\n",
    ),
    (
        "zero-query-id.yml",
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 0}}]}\n",
    ),
    (
        "string-query-id.yml",
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: \"12\"}}]}\n",
    ),
    (
        "unknown-query-key.yml",
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 1, perfromance: large}}]}\n",
    ),
    (
        "blank-tier.yml",
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 1, performance: \" \"}}]}\n",
    ),
    (
        "numeric-tier.yml",
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 1, performance: 3}}]}\n",
    ),
    (
        "parameters-list.yml",
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 1, query_parameters: [a]}}]}\n",
    ),
    (
        "no-view-name.yml",
        "pipeline: {nodes: [{id: 1, materialized_view_refresh: {performance: medium}}]}\n",
    ),
    (
        "blank-view-name.yml",
        "pipeline: {nodes: [{id: 1, materialized_view_refresh: {name: \"  \"}}]}\n",
    ),
    (
        "unknown-view-key.yml",
        "pipeline: {nodes: [{id: 1, materialized_view_refresh: {name: dune.a.b, query_id: 1}}]}\n",
    ),
    ("broken.json", "{\"pipeline\": "),
];

#[test]
fn the_pipeline_schema_and_the_action_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<(String, String)> = CASES
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    // Every fixture and every example pipeline file, as they are.
    for dir in ["tests/fixtures", "examples/dune"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".yml") || name.ends_with(".yaml") || name.ends_with(".json") {
                files.push((name, std::fs::read_to_string(&path).expect("read")));
            }
        }
    }
    assert!(
        files
            .iter()
            .any(|(n, _)| n == "pipeline-with-problems.json")
    );
    assert!(
        files.len() > CASES.len() + 3,
        "the fixtures and examples were found"
    );
    let mut disagreements = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for (name, text) in &files {
        let action = action_accepts(name, text);
        let schema = schema_accepts(name, text);
        if action != schema.is_ok() {
            disagreements.push(format!(
                "{name}: action accepts {action}, schema says {schema:?}"
            ));
        }
        if action {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    assert!(
        valid >= 5 && invalid >= 25,
        "{valid} valid, {invalid} invalid"
    );
    for (name, text) in BEYOND_THE_SCHEMA {
        assert!(
            schema_accepts(name, text).is_ok(),
            "{name}: the schema cannot see this rule"
        );
        assert!(!action_accepts(name, text), "{name}: the action refuses it");
    }
}

#[test]
fn the_output_schemas_reject_what_they_should() {
    let node = serde_json::json!({"id": 1, "kind": "query", "query_id": 5, "status": "completed", "raw_status": "completed",
        "execution_id": "01X", "started_at": null, "ended_at": null, "times": null, "credits": 1.5, "error": null});
    assert!(errors("nodes", &Value::Array(vec![node.clone()])).is_empty());
    let mut bad = node.clone();
    bad["status"] = "succeeded".into();
    assert!(
        !errors("nodes", &Value::Array(vec![bad])).is_empty(),
        "an unknown status word"
    );
    let mut bad = node.clone();
    bad["name"] = "dune.a.b".into();
    assert!(
        !errors("nodes", &Value::Array(vec![bad])).is_empty(),
        "a query node with a name"
    );
    let mut bad = node;
    bad["surprise"] = 1.into();
    assert!(
        !errors("nodes", &Value::Array(vec![bad])).is_empty(),
        "a property the schema does not list"
    );
    let truncated = serde_json::json!([{"truncated": true, "omitted": 3}]);
    assert!(errors("nodes", &truncated).is_empty());
    let result = serde_json::json!({"node_id": 2, "query_id": 5, "execution_id": "01X", "path": null, "rows": 3,
        "bytes": null, "partial": false, "error": null});
    assert!(errors("results", &Value::Array(vec![result.clone()])).is_empty());
    let mut bad = result;
    bad["rows"] = "3".into();
    assert!(
        !errors("results", &Value::Array(vec![bad])).is_empty(),
        "rows as a string"
    );
    let preview = serde_json::json!({"node_id": 2, "query_id": 5, "sql_file": "q.sql", "status": "changed",
        "execution_id": "01X", "credits": 0.5, "saved_result": true, "rows_before": 3, "rows_after": 4,
        "rows_added": 1, "rows_removed": 0, "columns_added": [], "columns_removed": [], "columns_retyped": [],
        "keyed": null, "error": null});
    assert!(errors("preview", &Value::Array(vec![preview.clone()])).is_empty());
    for (field, value, why) in [
        ("status", Value::from("different"), "an unknown status"),
        ("rows_added", Value::from(-1), "a count below 0"),
        (
            "surprise",
            Value::from(1),
            "a property the schema does not list",
        ),
    ] {
        let mut bad = preview.clone();
        bad[field] = value;
        assert!(
            !errors("preview", &Value::Array(vec![bad])).is_empty(),
            "{why}"
        );
    }
    let mut bad = preview;
    if let Some(o) = bad.as_object_mut() {
        o.remove("keyed");
    }
    assert!(
        !errors("preview", &Value::Array(vec![bad])).is_empty(),
        "a required property missing"
    );
}
