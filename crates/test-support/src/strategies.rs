//! Test-only proptest strategies: text an attacker (or a broken proxy) would send, and any JSON with the
//! keys the parsers look for. Used by the unit tests of dune-api and of the action.

use proptest::prelude::*;
use serde_json::Value;

/// Text that looks like what an attacker would send: command prefixes, line breaks, markdown and HTML
/// specials, and anything else.
pub fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("::".to_string()),
        Just("::error::".to_string()),
        Just("::set-output name=x::".to_string()),
        Just("::stop-commands::".to_string()),
        Just("##[".to_string()),
        Just("##[set-output name=status;]".to_string()),
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just("\r\n".to_string()),
        Just("%".to_string()),
        Just("%0A".to_string()),
        Just("%25".to_string()),
        Just("|".to_string()),
        Just("\\".to_string()),
        Just("`".to_string()),
        Just("<".to_string()),
        Just("<script>".to_string()),
        Just(":".to_string()),
        Just(",".to_string()),
        Just(" ".to_string()),
        Just("ghadelimiter_".to_string()),
        any::<String>(),
        "[a-z]{0,5}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

/// Any JSON, with object keys drawn mostly from the names the parsers look for.
pub fn json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "status",
            "state",
            "node_executions",
            "id",
            "node_id",
            "query_execution_status",
            "materialized_view_refresh_status",
            "execution_id",
            "query_id",
            "name",
            "error",
            "message",
            "type",
            "metadata",
            "line",
            "column",
            "execution_started_at",
            "execution_ended_at",
            "cancelled_at",
            "execution_cost_credits",
            "result_metadata",
            "total_row_count",
            "pipeline_execution_id",
            "success",
        ])
        .prop_map(str::to_string),
        any::<String>(),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        hostile().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}
