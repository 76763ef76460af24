//! An oracle, written apart from the code: checks a JSON value against the subset of JSON Schema the
//! action's output schemas use (`type` as a name or a list, `enum`, `minimum`, `properties`, `required`,
//! `additionalProperties: false`, `items`, local `$ref`s to `#/$defs/...`). Anything else in a schema is
//! refused, so a schema cannot silently use a keyword this checker ignores.

use serde_json::Value;

const KNOWN: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "title",
    "description",
    "type",
    "enum",
    "minimum",
    "properties",
    "required",
    "additionalProperties",
    "items",
];

fn type_ok(name: &str, v: &Value) -> bool {
    match name {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => panic!("unknown type {other}"),
    }
}

/// Every way `v` breaks `schema` (empty: it conforms), each with its JSON path.
pub fn violations(root: &Value, schema: &Value, v: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(s) = schema.as_object() else {
        return vec![format!("{path}: the schema is not an object")];
    };
    for k in s.keys() {
        assert!(
            KNOWN.contains(&k.as_str()),
            "schema keyword {k} is not checked"
        );
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("a local $ref");
        return violations(root, &root["$defs"][name], v, path);
    }
    if let Some(t) = s.get("type") {
        let names: Vec<&str> = match t {
            Value::String(n) => vec![n.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("bad type"),
        };
        if !names.iter().any(|n| type_ok(n, v)) {
            out.push(format!("{path}: {v} is not of type {t}"));
            return out;
        }
    }
    if let Some(Value::Array(options)) = s.get("enum")
        && !options.contains(v)
    {
        out.push(format!("{path}: {v} is not one of {options:?}"));
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64())
        && n < min
    {
        out.push(format!("{path}: {n} is below {min}"));
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap_or_default();
            if !obj.contains_key(r) {
                out.push(format!("{path}: `{r}` is missing"));
            }
        }
        for (k, item) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => out.extend(violations(root, ps, item, &format!("{path}.{k}"))),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    out.push(format!("{path}: `{k}` is not in the schema"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            out.extend(violations(root, items, item, &format!("{path}[{i}]")));
        }
    }
    out
}

/// Panics with every violation of the schema file `schema` (a path from the repository root).
pub fn assert_conforms(schema: &str, v: &Value) {
    let text = std::fs::read_to_string(format!("{}/{schema}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{schema}: {e}"));
    let root: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{schema}: {e}"));
    let found = violations(&root, &root, v, "$");
    assert!(found.is_empty(), "{schema}:\n{}\n{v}", found.join("\n"));
}

#[test]
fn the_checker_finds_what_breaks_a_schema() {
    let schema = serde_json::json!({
        "type": "array",
        "items": {"type": "object", "additionalProperties": false, "required": ["a"],
                  "properties": {"a": {"type": ["integer", "null"], "minimum": 0},
                                 "b": {"type": "string", "enum": ["x"]}}}
    });
    let check = |v: Value| violations(&schema, &schema, &v, "$");
    assert!(check(serde_json::json!([{"a": 1, "b": "x"}, {"a": null}])).is_empty());
    // `a` below its minimum, `b` not in its enum, `c` not in the schema; then `a` missing.
    assert_eq!(
        check(serde_json::json!([{"b": "y", "c": 1, "a": -1}])).len(),
        3
    );
    assert_eq!(check(serde_json::json!([{"b": "x"}])).len(), 1);
    assert_eq!(check(serde_json::json!({})).len(), 1);
}
