//! What GitHub's runner shows of a step's annotations, written apart from the action: the runner keeps at
//! most 10 annotations of each kind (error, warning, notice) per step, in the order printed, and leaves
//! the rest in the log only (actions/runner `ExecutionContext.cs`, `_maxIssueCount`). The harness prints
//! every line it gets; this oracle is what a user sees on the run's page.
#![allow(dead_code)]

use test_support::workflow_commands::{commands, runner_unescape_data, runner_unescape_property};

/// The runner's limit of annotations of one kind per step.
pub const PER_KIND: usize = 10;

/// One annotation as the runner reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// `error`, `warning` or `notice`.
    pub kind: String,
    /// The `title=` property, unescaped.
    pub title: Option<String>,
    /// The `file=` property, unescaped.
    pub file: Option<String>,
    /// The message, unescaped.
    pub message: String,
}

/// The annotations the run's page shows, and how many the runner dropped.
#[derive(Debug, Default)]
pub struct RunnerView {
    pub errors: Vec<Annotation>,
    pub warnings: Vec<Annotation>,
    pub notices: Vec<Annotation>,
    /// Annotations printed past the limit of their kind (in the log only).
    pub dropped: usize,
}

impl RunnerView {
    /// Reads a step's log as the runner does.
    pub fn of(log: &str) -> RunnerView {
        let mut view = RunnerView::default();
        for command in commands(log) {
            let Some(rest) = command.strip_prefix("::") else {
                continue;
            };
            let name_end = rest.find([' ', ':']).unwrap_or(rest.len());
            let kind = &rest[..name_end];
            let list = match kind {
                "error" => &mut view.errors,
                "warning" => &mut view.warnings,
                "notice" => &mut view.notices,
                _ => continue,
            };
            let after = &rest[name_end..];
            let Some(split) = after.find("::") else {
                continue;
            };
            let (props, data) = (after[..split].trim(), &after[split + 2..]);
            let prop = |key: &str| {
                props
                    .split(',')
                    .find_map(|p| p.strip_prefix(&format!("{key}=")))
                    .map(runner_unescape_property)
            };
            let annotation = Annotation {
                kind: kind.to_string(),
                title: prop("title"),
                file: prop("file"),
                message: runner_unescape_data(data),
            };
            if list.len() < PER_KIND {
                list.push(annotation);
            } else {
                view.dropped += 1;
            }
        }
        view
    }

    /// The titles of the errors shown.
    pub fn error_titles(&self) -> Vec<String> {
        self.errors
            .iter()
            .map(|a| a.title.clone().unwrap_or_default())
            .collect()
    }
}

#[test]
fn the_runner_keeps_ten_of_each_kind() {
    let mut log = String::new();
    for i in 0..12 {
        log.push_str(&format!("::error title=e{i}::m%0A{i}\n::warning::w{i}\n"));
    }
    log.push_str("::notice file=a%2Cb.yml,line=1,title=t%3A x::n\n");
    let view = RunnerView::of(&log);
    assert_eq!(view.errors.len(), 10);
    assert_eq!(view.warnings.len(), 10);
    assert_eq!(view.dropped, 4);
    assert_eq!(view.errors[9].title.as_deref(), Some("e9"));
    assert_eq!(view.errors[0].message, "m\n0");
    assert_eq!(view.notices[0].file.as_deref(), Some("a,b.yml"));
    assert_eq!(view.notices[0].title.as_deref(), Some("t: x"));
}
