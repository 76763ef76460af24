//! Properties that must hold for any input: response parsing never panics and its errors stay short and on
//! one line; every escaping function keeps remote text from issuing workflow commands, breaking
//! `GITHUB_OUTPUT`, or breaking (or injecting HTML into) the summary.

use crate::common::unescaped_pipes;
use dune_api::models::{ExecutionStatus, PipelineStatus, cancel_success, pipeline_execution_id};
use dune_api::{Response, decode_json, error_message};
use dune_pipeline_action::report::{code_block, md_cell, md_code, md_text};
use dune_pipeline_action::runner::console::{
    Console, Level, escape_data, escape_property, one_line,
};
use dune_pipeline_action::runner::files::{heredoc, parse_file_commands};
use proptest::prelude::*;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;

/// The runner's `UnescapeString` with its data mappings, applied in its order.
fn runner_unescape_data(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

/// The runner's property mappings, in its order.
fn runner_unescape_property(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

/// Text that looks like what an attacker would send: command prefixes, line breaks, markdown and HTML
/// specials, and anything else.
fn hostile() -> impl Strategy<Value = String> {
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
fn json() -> impl Strategy<Value = Value> {
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

fn headers(content_type: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(CONTENT_TYPE, v);
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    // ── Response parsing ──

    #[test]
    fn parsing_any_json_never_panics(v in json()) {
        let _ = PipelineStatus::from_value(&v);
        let _ = ExecutionStatus::from_value(&v);
        let _ = pipeline_execution_id(&v);
        let _ = cancel_success(&v);
        if let Value::Object(o) = &v {
            prop_assert!(PipelineStatus::from_value(&v).is_ok(), "{o:?}");
        }
    }

    #[test]
    fn parsing_any_bytes_never_panics_and_errors_stay_short(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..2048),
            json().prop_map(|v| v.to_string().into_bytes()),
            hostile().prop_map(String::into_bytes),
        ],
        status in 100u16..600,
        content_type in hostile(),
    ) {
        let resp = Response { status, headers: headers(&content_type), body: body.clone() };
        match decode_json("GET /api/v1/x", &resp) {
            Ok(v) => {
                let _ = PipelineStatus::from_value(&v);
                let _ = ExecutionStatus::from_value(&v);
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(!text.contains(['\n', '\r']), "{text:?}");
                prop_assert!(text.chars().count() < 600, "{text:?}");
            }
        }
        let message = error_message(&resp.headers, &body);
        prop_assert!(!message.contains(['\n', '\r']), "{message:?}");
        prop_assert!(message.chars().count() <= 300, "{message:?}");
    }

    // ── Workflow commands ──

    #[test]
    fn escape_data_round_trips_and_stays_on_one_line(s in hostile()) {
        let e = escape_data(&s);
        prop_assert!(!e.contains(['\n', '\r']));
        prop_assert_eq!(runner_unescape_data(&e), s);
    }

    #[test]
    fn escape_property_round_trips_and_cannot_end_the_property(s in hostile()) {
        let e = escape_property(&s);
        prop_assert!(!e.contains(['\n', '\r', ':', ',']));
        prop_assert_eq!(runner_unescape_property(&e), s);
    }

    #[test]
    fn one_line_is_one_plain_line(s in hostile()) {
        let l = one_line(&s);
        prop_assert!(!l.contains("##["));
        prop_assert!(!l.chars().any(|c| c.is_control() && c != '\t'));
    }

    #[test]
    fn remote_text_never_issues_a_command(title in hostile(), message in hostile(), text in hostile()) {
        let (c, buf) = Console::buffer(true);
        c.line(&format!("node 1 {text}"));
        c.annotate(Level::Error, Some(&title), &message);
        c.annotate(Level::Warning, None, &text);
        c.group(&format!("node 1 ({text}) failed"));
        c.verbatim(&message);
        c.end_group();
        let commands = crate::common::commands(&buf.contents());
        let names: Vec<String> = commands
            .iter()
            .map(|l| l.trim_start_matches("::").split([' ', ':']).next().unwrap_or("").to_string())
            .collect();
        prop_assert_eq!(names, ["error", "warning", "group", "stop-commands", "endgroup"]);
        // The annotation's message arrives whole, as the runner reads it.
        // `::error title=…::data` (an escaped title holds no `:`).
        let rest = &commands[0][2..];
        let data = &rest[rest.find("::").map_or(0, |i| i + 2)..];
        prop_assert_eq!(
            runner_unescape_data(data),
            dune_pipeline_action::runner::console::truncate_chars(&message, 4000)
        );
    }

    // ── GITHUB_OUTPUT / GITHUB_STATE ──

    #[test]
    fn heredoc_round_trips_any_values(values in prop::collection::vec(("[a-z_]{1,12}", hostile()), 1..5)) {
        let mut file = String::new();
        for (name, value) in &values {
            file.push_str(&heredoc(name, value).expect("valid name"));
        }
        let parsed = parse_file_commands(&file).expect("the runner accepts the file");
        prop_assert_eq!(parsed, values);
    }

    // ── Summary markdown ──

    #[test]
    fn md_cell_and_md_text_cannot_break_a_table_or_inject_html(s in hostile()) {
        for out in [md_cell(&s), md_text(&s)] {
            prop_assert!(!out.contains(['\n', '\r', '<']), "{out:?}");
            prop_assert_eq!(unescaped_pipes(&out), 0, "{:?}", out);
        }
    }

    #[test]
    fn md_code_is_one_intact_code_span(s in hostile()) {
        let out = md_code(&s);
        prop_assert!(out.starts_with('`') && out.ends_with('`') && out.len() >= 2);
        prop_assert_eq!(out.matches('`').count(), 2, "{:?}", out);
        prop_assert!(!out.contains(['\n', '\r']));
        prop_assert_eq!(unescaped_pipes(&out), 0, "{:?}", out);
    }

    #[test]
    fn code_block_cannot_be_closed_early(s in hostile()) {
        let block = code_block(&s);
        let fence: String = block.chars().take_while(|c| *c == '`').collect();
        prop_assert!(fence.len() >= 3);
        let inner: Vec<&str> = block.trim_end_matches('\n').lines().collect();
        prop_assert_eq!(inner.last().copied(), Some(fence.as_str()));
        for line in &inner[1..inner.len() - 1] {
            prop_assert!(!line.trim_start().starts_with(fence.as_str()), "{line:?}");
        }
    }
}
