//! Workflow commands (`::error::`, `::group::`, `::add-mask::` …) and the escaping rules GitHub's runner
//! applies to them. Every line the action prints goes through [`Console`], so remote text (node errors, view
//! names) can never start a workflow command of its own.

use std::io::Write;
use std::sync::{Arc, Mutex};

pub(crate) use dune_api::text::{one_line, truncate_chars};

/// Escapes a command's message the way the toolkit's `escapeData` does (`%` first, then CR and LF).
pub(crate) fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a command property (`title=…`) the way the toolkit's `escapeProperty` does.
pub(crate) fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub shows at most 4096 characters of an annotation's message.
pub(crate) const MAX_ANNOTATION_CHARS: usize = 4000;

/// GitHub's runner keeps this many annotations of each kind (error, warning, notice) per step, in the order
/// printed; later ones stay in the log only (`ExecutionContext.cs`: `_maxIssueCount`, counted per kind).
pub const RUNNER_ANNOTATIONS_PER_KIND: usize = 10;

/// Annotations of one kind a step prints before the rest are held back: two slots stay free, one for an
/// "and N more" annotation and one for the step's own ([`Console::annotate_final`]).
pub const ORDINARY_ANNOTATIONS: usize = RUNNER_ANNOTATIONS_PER_KIND - 2;

/// A place in a file of the repository: its path (relative to the repository root), line and column
/// (both 1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// Annotation levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Notice,
    Warning,
    Error,
}

impl Level {
    const ALL: [Level; 3] = [Level::Error, Level::Warning, Level::Notice];

    fn index(self) -> usize {
        match self {
            Level::Error => 0,
            Level::Warning => 1,
            Level::Notice => 2,
        }
    }

    fn command(self) -> &'static str {
        match self {
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// `s` with its first character in upper case (a lower-case hint that starts a sentence).
pub(crate) fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// How many annotations of one kind the step printed, and how many it held back (in the log only).
#[derive(Debug, Default, Clone, Copy)]
struct Budget {
    /// Ordinary annotations shown (at most [`ORDINARY_ANNOTATIONS`]).
    shown: usize,
    /// Whether the "and N more" slot was used.
    more_used: bool,
    /// Annotations printed as log lines only, not yet counted in an "and N more" annotation.
    held_back: usize,
}

/// The output and the annotation budgets, behind one lock: a fenced block holds it for its whole length.
struct Inner {
    out: Box<dyn Write + Send>,
    budgets: [Budget; 3],
}

impl Inner {
    fn write_raw(&mut self, line: &str) {
        // Logging must never fail the run (a closed stdout is not a pipeline failure).
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }
}

/// Where log lines go: stdout for the real action, a shared buffer in tests.
///
/// Inside GitHub Actions it keeps the runner's annotation budget ([`RUNNER_ANNOTATIONS_PER_KIND`] of each
/// kind per step): at most [`ORDINARY_ANNOTATIONS`] ordinary annotations of a kind, then the rest as log
/// lines, counted in one "and N more" annotation, so the step's own error ([`Console::annotate_final`])
/// is always among those GitHub shows.
#[derive(Clone)]
pub struct Console {
    out: Arc<Mutex<Inner>>,
    github: bool,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("github", &self.github)
            .finish()
    }
}

impl Console {
    /// A console that writes workflow commands (`github`) or plain terminal lines.
    pub fn new(out: Box<dyn Write + Send>, github: bool) -> Self {
        Console {
            out: Arc::new(Mutex::new(Inner {
                out,
                budgets: [Budget::default(); 3],
            })),
            github,
        }
    }

    /// Stdout, with workflow commands when running inside GitHub Actions.
    pub fn stdout(github: bool) -> Self {
        Console::new(Box::new(std::io::stdout()), github)
    }

    /// A console writing into a shared buffer (tests, the demo), and the buffer.
    pub fn buffer(github: bool) -> (Self, SharedBuffer) {
        let buf = SharedBuffer::default();
        (Console::new(Box::new(buf.clone()), github), buf)
    }

    /// Whether workflow commands are emitted (inside GitHub Actions).
    pub fn is_github(&self) -> bool {
        self.github
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-write; keep logging.
        match self.out.lock() {
            Ok(out) => out,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn write_raw(&self, line: &str) {
        self.lock().write_raw(line);
    }

    /// An ordinary log line. `text` may contain remote text: it is kept on one line.
    pub fn line(&self, text: &str) {
        self.write_raw(&one_line(text));
    }

    /// Tells the runner to mask `secret` in every later log line. Printed only inside GitHub Actions: on a
    /// terminal it would print the secret itself.
    pub fn mask(&self, secret: &str) {
        if self.github && !secret.is_empty() {
            self.write_raw(&format!("::add-mask::{}", escape_data(secret)));
        }
    }

    /// An annotation (`::error title=…::message`); on a terminal `error: title: message`.
    pub fn annotate(&self, level: Level, title: Option<&str>, message: &str) {
        self.annotate_at(level, None, title, message);
    }

    /// An annotation on a place in a file of the repository (`::error file=…,line=…,col=…,title=…::`),
    /// which GitHub shows inline on the pull request's diff; on a terminal `error: file:line:col: …`.
    /// Inside GitHub Actions, once [`ORDINARY_ANNOTATIONS`] of its kind were printed, it goes to the log
    /// only (counted in the "and N more" annotation that [`Console::annotate_final`] prints).
    pub fn annotate_at(
        &self,
        level: Level,
        at: Option<&Location>,
        title: Option<&str>,
        message: &str,
    ) {
        let mut inner = self.lock();
        let budget = &mut inner.budgets[level.index()];
        let shown = !self.github || budget.shown < ORDINARY_ANNOTATIONS;
        if shown {
            budget.shown += 1;
        } else {
            budget.held_back += 1;
        }
        self.write_annotation(&mut inner, shown, level, at, title, message);
    }

    /// How many more ordinary annotations of `level` GitHub will show (unlimited on a terminal).
    pub fn annotation_room(&self, level: Level) -> usize {
        if !self.github {
            return usize::MAX;
        }
        ORDINARY_ANNOTATIONS.saturating_sub(self.lock().budgets[level.index()].shown)
    }

    /// An annotation that says how many more there are (`and 4 more problems in this file`), in the one
    /// slot of its kind kept for that; when that slot is taken, a log line.
    pub fn annotate_more_at(
        &self,
        level: Level,
        at: Option<&Location>,
        title: Option<&str>,
        message: &str,
    ) {
        let mut inner = self.lock();
        let budget = &mut inner.budgets[level.index()];
        let shown = !self.github || !budget.more_used;
        if shown {
            budget.more_used = true;
        }
        self.write_annotation(&mut inner, shown, level, at, title, message);
    }

    /// Writes an annotation as a workflow command when GitHub will show it (`shown`), else as a plain
    /// log line.
    fn write_annotation(
        &self,
        inner: &mut Inner,
        shown: bool,
        level: Level,
        at: Option<&Location>,
        title: Option<&str>,
        message: &str,
    ) {
        let line = if shown {
            self.command(level, at, title, message)
        } else {
            self.plain(level, at, title, message)
        };
        inner.write_raw(&line);
    }

    /// Says, in one annotation of each kind, how many annotations were held back (in the log only). The
    /// main and the post step call it at their end, before their own annotation.
    pub fn annotate_held_back(&self) {
        if !self.github {
            return;
        }
        let mut inner = self.lock();
        for level in Level::ALL {
            let budget = &mut inner.budgets[level.index()];
            let held = std::mem::take(&mut budget.held_back);
            if held == 0 || budget.more_used {
                continue;
            }
            budget.more_used = true;
            let kind = match level {
                Level::Error => "error",
                Level::Warning => "warning",
                Level::Notice => "notice",
            };
            let line = self.command(
                level,
                None,
                Some(&format!("{} more {kind}s in the log", held)),
                &format!(
                    "and {held} more {kind}{}: GitHub shows {RUNNER_ANNOTATIONS_PER_KIND} annotations of each kind per step; the step's log has them all",
                    if held == 1 { "" } else { "s" }
                ),
            );
            inner.write_raw(&line);
        }
    }

    /// The step's own annotation (how the run ended): the "and N more" annotations first, then this one,
    /// in the slot of its kind kept for it, so GitHub always shows it.
    pub fn annotate_final(&self, level: Level, title: Option<&str>, message: &str) {
        self.annotate_held_back();
        let line = self.command(level, None, title, message);
        self.write_raw(&line);
    }

    /// An annotation as a workflow command (inside GitHub Actions) or a terminal line.
    fn command(
        &self,
        level: Level,
        at: Option<&Location>,
        title: Option<&str>,
        message: &str,
    ) -> String {
        let message = truncate_chars(message, MAX_ANNOTATION_CHARS);
        if !self.github {
            return self.plain(level, at, title, &message);
        }
        let mut props: Vec<String> = Vec::new();
        if let Some(l) = at {
            props.push(format!("file={}", escape_property(&l.file)));
            props.push(format!("line={}", l.line));
            props.push(format!("col={}", l.column));
        }
        if let Some(t) = title.filter(|t| !t.is_empty()) {
            props.push(format!("title={}", escape_property(t)));
        }
        let props = if props.is_empty() {
            String::new()
        } else {
            format!(" {}", props.join(","))
        };
        format!("::{}{}::{}", level.command(), props, escape_data(&message))
    }

    /// An annotation as a plain log line: `error: file:line:col: title: message`.
    fn plain(
        &self,
        level: Level,
        at: Option<&Location>,
        title: Option<&str>,
        message: &str,
    ) -> String {
        let title = title
            .map(|t| format!("{}: ", one_line(t)))
            .unwrap_or_default();
        let place = at
            .map(|l| format!("{}:{}:{}: ", one_line(&l.file), l.line, l.column))
            .unwrap_or_default();
        format!(
            "{}: {place}{}{}",
            level.command(),
            title,
            one_line(&truncate_chars(message, MAX_ANNOTATION_CHARS))
        )
    }

    /// Opens a collapsible group in the log.
    pub fn group(&self, title: &str) {
        if self.github {
            self.write_raw(&format!("::group::{}", escape_data(title)));
        } else {
            self.write_raw(&format!("▸ {}", one_line(title)));
        }
    }

    /// Closes the group opened by [`Console::group`].
    pub fn end_group(&self) {
        if self.github {
            self.write_raw("::endgroup::");
        }
    }

    /// Prints a block of (possibly remote, possibly multi-line) text verbatim. Inside GitHub Actions it is
    /// fenced with `::stop-commands::` and a random token, so nothing in it is read as a command.
    pub fn verbatim(&self, text: &str) {
        // The fence holds the console for its whole length: a `::debug::` line another task prints
        // meanwhile waits, instead of landing inside the fence, where the runner would show it as text.
        let mut inner = self.lock();
        if self.github {
            let token = crate::runner::files::random_token();
            inner.write_raw(&format!("::stop-commands::{token}"));
            for line in text.lines() {
                inner.write_raw(line);
            }
            inner.write_raw(&format!("::{token}::"));
        } else {
            for line in text.lines() {
                inner.write_raw(line);
            }
        }
    }
}

/// A cloneable in-memory writer.
#[derive(Clone, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// Everything written so far, as text.
    pub fn contents(&self) -> String {
        let bytes = match self.0.lock() {
            Ok(b) => b.clone(),
            Err(p) => p.into_inner().clone(),
        };
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut b) => b.extend_from_slice(buf),
            Err(p) => p.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_toolkit() {
        assert_eq!(escape_data("a%b\r\nc"), "a%25b%0D%0Ac");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn remote_text_cannot_start_a_command() {
        let (c, buf) = Console::buffer(true);
        c.annotate(
            Level::Error,
            Some("node 3: x,y"),
            "boom\n::set-output name=x::y",
        );
        c.line("oops\n::error::injected");
        let out = buf.contents();
        for line in out.lines() {
            assert!(
                line.starts_with("::error title=node 3%3A x%2Cy::") || !line.starts_with("::"),
                "{line}"
            );
        }
        assert_eq!(out.lines().count(), 2);
    }

    #[test]
    fn annotations_on_a_file_escape_their_properties() {
        let (c, buf) = Console::buffer(true);
        let at = Location {
            file: "pipelines/a,b:c.yml".into(),
            line: 7,
            column: 3,
        };
        c.annotate_at(Level::Error, Some(&at), Some("Pipeline file"), "bad\nkey");
        assert_eq!(
            buf.contents(),
            "::error file=pipelines/a%2Cb%3Ac.yml,line=7,col=3,title=Pipeline file::bad%0Akey\n"
        );
        let (c, buf) = Console::buffer(false);
        c.annotate_at(Level::Error, Some(&at), None, "bad");
        assert_eq!(buf.contents(), "error: pipelines/a,b:c.yml:7:3: bad\n");
    }

    #[test]
    fn verbatim_is_fenced_with_a_random_token() {
        let (c, buf) = Console::buffer(true);
        c.verbatim("::error::x\nline2");
        let out = buf.contents();
        let lines: Vec<_> = out.lines().collect();
        let token = lines[0].strip_prefix("::stop-commands::").expect("fence");
        assert!(token.len() >= 32);
        assert_eq!(lines[3], format!("::{token}::"));
    }

    #[test]
    fn mask_only_inside_github() {
        let (c, buf) = Console::buffer(false);
        c.mask("secret");
        assert_eq!(buf.contents(), "");
    }

    mod properties {
        use super::*;
        use crate::runner::testing::hostile;
        use crate::runner::testing::workflow_commands::{
            commands, runner_unescape_data, runner_unescape_property,
        };
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

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
            fn remote_text_never_issues_a_command(title in hostile(), message in hostile(), text in hostile()) {
                let (c, buf) = Console::buffer(true);
                c.line(&format!("node 1 {text}"));
                c.annotate(Level::Error, Some(&title), &message);
                c.annotate(Level::Warning, None, &text);
                c.group(&format!("node 1 ({text}) failed"));
                c.verbatim(&message);
                c.end_group();
                let commands = commands(&buf.contents());
                let names: Vec<String> = commands
                    .iter()
                    .map(|l| l.trim_start_matches("::").split([' ', ':']).next().unwrap_or("").to_string())
                    .collect();
                prop_assert_eq!(names, ["error", "warning", "group", "stop-commands", "endgroup"]);
                // The annotation's message arrives whole, as the runner reads it.
                // `::error title=…::data` (an escaped title holds no `:`).
                let rest = &commands[0][2..];
                let data = &rest[rest.find("::").map_or(0, |i| i + 2)..];
                prop_assert_eq!(runner_unescape_data(data), truncate_chars(&message, 4000));
            }
        }
    }
}
