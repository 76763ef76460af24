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
    let (_, dev) = manifest
        .split_once("[dev-dependencies]")
        .expect("dune-api's manifest has dev-dependencies");
    for line in manifest.lines().filter(|l| l.contains("path =")) {
        assert!(
            dev.contains(line)
                && (line.contains("../dune-sim") || line.contains("../test-support")),
            "dune-api may depend on no crate of this workspace but, for its tests, the simulator and test-support: {line}"
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

// ---------------------------------------------------------------------------------------------------------
// No cycle between two source files of one crate, whatever their layer: every path that names another file
// (`use crate::a::b`, `use super::…`, `use self::…`, grouped imports, `crate::a::f()` in code, a child module
// or an imported module used as a path's first segment) is an edge from the file that writes it to the file
// that defines what it names; a re-export (`pub use x::Y` in a `mod.rs`) is followed to the file that
// defines `Y`. Paths in `#[cfg(test)]` modules count too: a test that needs a file above its own is a cycle
// as well.

/// The crates whose files must not import each other in a loop (their library roots).
const CRATE_SOURCES: &[&str] = &["src", "crates/dune-api/src", "crates/dune-sim/src"];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Punct(char),
}

/// The tokens of a Rust file with their line numbers, without comments and literals (so a path written in
/// a string or a doc comment is not an import).
fn tokens(text: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' || ((c == 'r' || c == 'b') && raw_or_byte_string_at(&chars, i)) {
            i = skip_string(&chars, i, &mut line);
        } else if c == '\'' {
            // A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push((Tok::Ident(word.trim_start_matches("r#").to_string()), line));
        } else if c == ':' && at(i + 1) == ':' {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// Whether a string literal with a prefix (`r"`, `r#"`, `b"`, `br#"`) starts at `i`.
fn raw_or_byte_string_at(chars: &[char], i: usize) -> bool {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return false;
    }
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) == Some(&'r') {
        j += 1;
        while chars.get(j) == Some(&'#') {
            j += 1;
        }
    }
    j > i && chars.get(j) == Some(&'"')
}

/// The index just past the string literal (plain, byte or raw) that starts at `i`.
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut raw = false;
    if chars[i] == 'b' {
        i += 1;
    }
    if chars[i] == 'r' {
        raw = true;
        i += 1;
    }
    let mut hashes = 0;
    while chars[i] == '#' {
        hashes += 1;
        i += 1;
    }
    i += 1; // the opening quote
    while i < chars.len() {
        match chars[i] {
            '\\' if !raw => i += 2,
            '"' if (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) => return i + 1 + hashes,
            c => {
                if c == '\n' {
                    *line += 1;
                }
                i += 1;
            }
        }
    }
    i
}

/// One path a file writes: its segments as written, where, and in which (inline) module.
#[derive(Debug, Clone)]
struct Written {
    segments: Vec<String>,
    /// The name it is imported under (`use a::b as c` → `c`; `use a::b` → `b`), for `use` items.
    name: Option<String>,
    /// Whether it is a `pub`/`pub(crate)` re-export.
    public: bool,
    /// The inline modules (`mod tests { … }`) it sits in.
    inline: Vec<String>,
    line: usize,
}

/// What one file declares and imports.
#[derive(Debug, Default)]
struct FileItems {
    /// `mod x;` declarations: the file's child modules.
    children: Vec<String>,
    /// `use` items, one per leaf of each use tree.
    uses: Vec<Written>,
    /// Paths in code starting with `crate`, `super`, `self` or another name.
    paths: Vec<Written>,
}

fn ident(toks: &[(Tok, usize)], i: usize) -> Option<&str> {
    match toks.get(i) {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

fn is(toks: &[(Tok, usize)], i: usize, t: &Tok) -> bool {
    toks.get(i).is_some_and(|(x, _)| x == t)
}

/// Reads the use tree starting at `i` (after `use`), adding one item per leaf, and returns the index after it.
fn use_tree(
    toks: &[(Tok, usize)],
    mut i: usize,
    prefix: Vec<String>,
    leaf: &Written,
    out: &mut Vec<Written>,
) -> usize {
    let mut path = prefix;
    if is(toks, i, &Tok::PathSep) {
        i += 1; // a leading `::`
    }
    loop {
        match toks.get(i) {
            Some((Tok::Ident(s), _)) => {
                path.push(s.clone());
                i += 1;
                if is(toks, i, &Tok::PathSep) {
                    i += 1;
                    continue;
                }
                let mut name = path.last().cloned();
                if path.len() > 1 && path.last().is_some_and(|s| s == "self") {
                    path.pop();
                    name = path.last().cloned();
                }
                if ident(toks, i) == Some("as") {
                    name = ident(toks, i + 1).map(str::to_string);
                    i += 2;
                }
                out.push(Written {
                    segments: path,
                    name,
                    ..leaf.clone()
                });
                return i;
            }
            Some((Tok::Punct('*'), _)) => {
                path.push("*".to_string());
                out.push(Written {
                    segments: path,
                    name: None,
                    ..leaf.clone()
                });
                return i + 1;
            }
            Some((Tok::Punct('{'), _)) => {
                i += 1;
                loop {
                    match toks.get(i) {
                        None => return i,
                        Some((Tok::Punct('}'), _)) => return i + 1,
                        Some((Tok::Punct(','), _)) => i += 1,
                        _ => {
                            let next = use_tree(toks, i, path.clone(), leaf, out);
                            i = if next == i { i + 1 } else { next };
                        }
                    }
                }
            }
            _ => return i,
        }
    }
}

/// The module declarations, `use` items and paths of one file.
fn items(text: &str) -> FileItems {
    let toks = tokens(text);
    let mut found = FileItems::default();
    // Inline modules open at brace depth `.1`.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < toks.len() {
        let (tok, line) = &toks[i];
        match tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth -= 1;
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let Some(name) = ident(&toks, i + 1) {
                    if is(&toks, i + 2, &Tok::Punct('{')) {
                        inline.push((name.to_string(), depth));
                    } else if inline.is_empty() {
                        found.children.push(name.to_string());
                    }
                    i += 2;
                    continue;
                }
            }
            Tok::Ident(kw) if kw == "use" => {
                // `pub use`, `pub(crate) use`, `pub(super) use`, `pub(in path) use`.
                let mut back = i;
                if back > 0 && is(&toks, back - 1, &Tok::Punct(')')) {
                    while back > 0 && !is(&toks, back - 1, &Tok::Punct('(')) {
                        back -= 1;
                    }
                    back = back.saturating_sub(1);
                }
                let public = back > 0 && ident(&toks, back - 1) == Some("pub");
                let leaf = Written {
                    segments: Vec::new(),
                    name: None,
                    public,
                    inline: inline.iter().map(|(n, _)| n.clone()).collect(),
                    line: *line,
                };
                i = use_tree(&toks, i + 1, Vec::new(), &leaf, &mut found.uses);
                continue;
            }
            Tok::Ident(first)
                if is(&toks, i + 1, &Tok::PathSep)
                    && (i == 0 || !is(&toks, i - 1, &Tok::PathSep)) =>
            {
                let mut segments = vec![first.clone()];
                let mut j = i + 1;
                while is(&toks, j, &Tok::PathSep) {
                    match ident(&toks, j + 1) {
                        Some(s) => segments.push(s.to_string()),
                        None => break,
                    }
                    j += 2;
                }
                found.paths.push(Written {
                    segments,
                    name: None,
                    public: false,
                    inline: inline.iter().map(|(n, _)| n.clone()).collect(),
                    line: *line,
                });
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// One crate's files as modules: module path (`["pipeline", "follow"]`) → file, and each file's items.
struct CrateFiles {
    /// The crate's source directory.
    src: PathBuf,
    modules: BTreeMap<Vec<String>, PathBuf>,
    items: BTreeMap<PathBuf, FileItems>,
}

impl CrateFiles {
    /// The library's files under `src` (a binary's `main.rs` is a crate of its own and is left out).
    fn read(src: &Path) -> CrateFiles {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let mut modules = BTreeMap::new();
        let mut items_of = BTreeMap::new();
        for file in files {
            let Ok(rel) = file.strip_prefix(src) else {
                continue;
            };
            let mut path: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if path == ["main"] || path.first().is_some_and(|p| p == "bin") {
                continue;
            }
            if path.last().is_some_and(|l| l == "mod" || l == "lib") {
                path.pop();
            }
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            items_of.insert(file.clone(), items(&text));
            modules.insert(path, file);
        }
        CrateFiles {
            src: src.to_path_buf(),
            modules,
            items: items_of,
        }
    }

    fn module_of(&self, file: &Path) -> Vec<String> {
        self.modules
            .iter()
            .find(|(_, f)| f.as_path() == file)
            .map(|(m, _)| m.clone())
            .unwrap_or_default()
    }

    /// The absolute module path a path written in `file` (inside the inline modules `inline`) means, or
    /// `None` when it starts outside the crate (another crate, `std`, a local item).
    fn absolute(
        &self,
        file: &Path,
        inline: &[String],
        segments: &[String],
        depth: usize,
    ) -> Option<Vec<String>> {
        let mut here = self.module_of(file);
        here.extend(inline.iter().cloned());
        let first = segments.first()?;
        let (mut base, rest) = match first.as_str() {
            "crate" => (Vec::new(), &segments[1..]),
            "self" => (here, &segments[1..]),
            "super" => {
                let supers = segments.iter().take_while(|s| *s == "super").count();
                let keep = here.len().checked_sub(supers)?;
                here.truncate(keep);
                (here, &segments[supers..])
            }
            name => {
                let items = self.items.get(file)?;
                let own = self.module_of(file);
                if items.children.iter().any(|c| c == name) {
                    let mut child = own;
                    child.push(name.to_string());
                    (child, &segments[1..])
                } else if depth < 8 {
                    let import = items.uses.iter().find(|u| {
                        u.name.as_deref() == Some(name)
                            && u.segments.first().is_none_or(|s| s != name)
                    })?;
                    let target =
                        self.absolute(file, &import.inline, &import.segments, depth + 1)?;
                    (target, &segments[1..])
                } else {
                    return None;
                }
            }
        };
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The file that defines what the absolute path `abs` names, following re-exports.
    fn file_of(&self, abs: &[String], depth: usize) -> Option<PathBuf> {
        let k = (0..=abs.len())
            .rev()
            .find(|k| self.modules.contains_key(&abs[..*k]))?;
        let file = self.modules.get(&abs[..k])?.clone();
        if let (Some(next), true) = (abs.get(k), depth < 8) {
            let items = self.items.get(&file)?;
            if let Some(export) = items.uses.iter().find(|u| {
                u.public && u.inline.is_empty() && u.name.as_deref() == Some(next.as_str())
            }) {
                if let Some(mut target) = self.absolute(&file, &[], &export.segments, depth + 1) {
                    target.extend(abs[k + 1..].iter().cloned());
                    return self.file_of(&target, depth + 1).or(Some(file));
                }
            }
        }
        Some(file)
    }

    /// Every import from one file to another: (from, to) → the first place it is written ("line 12:
    /// crate::pipeline::follow::Tracked").
    fn edges(&self) -> BTreeMap<(PathBuf, PathBuf), String> {
        let mut out = BTreeMap::new();
        for (file, items) in &self.items {
            for written in items.uses.iter().chain(&items.paths) {
                let Some(abs) = self.absolute(file, &written.inline, &written.segments, 0) else {
                    continue;
                };
                let Some(to) = self.file_of(&abs, 0) else {
                    continue;
                };
                if &to != file {
                    out.entry((file.clone(), to)).or_insert_with(|| {
                        format!("line {}: {}", written.line, written.segments.join("::"))
                    });
                }
            }
        }
        out
    }

    /// The source directory as the messages name it: relative to the workspace when inside it.
    fn label(&self) -> String {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
        let src = self.src.strip_prefix(workspace).unwrap_or(&self.src);
        src.display().to_string()
    }

    /// A file as the messages name it: relative to its crate's source directory.
    fn shown(&self, file: &Path) -> String {
        file.strip_prefix(&self.src)
            .unwrap_or(file)
            .display()
            .to_string()
    }

    /// Every cycle between files, one message per group of files that reach each other: the shortest
    /// loop through the group's first file, each step with the import that makes it.
    fn cycles(&self) -> Vec<String> {
        let edges = self.edges();
        let mut next: BTreeMap<&PathBuf, Vec<&PathBuf>> = BTreeMap::new();
        for (from, to) in edges.keys() {
            next.entry(from).or_default().push(to);
        }
        let reach = |start: &PathBuf| -> BTreeMap<PathBuf, PathBuf> {
            // Breadth-first: each reached file → the file it was reached from.
            let mut seen: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([start.clone()]);
            while let Some(f) = queue.pop_front() {
                for t in next.get(&f).into_iter().flatten() {
                    if !seen.contains_key(*t) {
                        seen.insert((*t).clone(), f.clone());
                        queue.push_back((*t).clone());
                    }
                }
            }
            seen
        };
        let reached: BTreeMap<&PathBuf, BTreeMap<PathBuf, PathBuf>> =
            self.items.keys().map(|f| (f, reach(f))).collect();
        let mut done: BTreeSet<PathBuf> = BTreeSet::new();
        let mut found = Vec::new();
        for (file, from_file) in &reached {
            if done.contains(*file) || !from_file.contains_key(*file) {
                continue;
            }
            // The files that reach `file` and that it reaches: one tangle. Each of them gets a loop of
            // its own unless an earlier loop of the tangle already went through it.
            let group: BTreeSet<PathBuf> = from_file
                .keys()
                .filter(|g| reached.get(g).is_some_and(|r| r.contains_key(*file)))
                .cloned()
                .collect();
            for member in &group {
                if done.contains(member) {
                    continue;
                }
                let parents = &reached[member];
                // Walk the breadth-first parents back from `member` to itself: its shortest loop.
                let mut lp = vec![member.clone()];
                let mut at = parents[member].clone();
                while &at != member {
                    lp.push(at.clone());
                    at = parents[&at].clone();
                }
                lp.push(member.clone());
                lp.reverse();
                let steps: Vec<String> = lp
                    .windows(2)
                    .map(|w| {
                        let import = &edges[&(w[0].clone(), w[1].clone())];
                        format!(
                            "  {} -> {} ({import})",
                            self.shown(&w[0]),
                            self.shown(&w[1])
                        )
                    })
                    .collect();
                let names: Vec<String> = lp.iter().map(|f| self.shown(f)).collect();
                found.push(format!(
                    "{}: {} import each other:\n{}",
                    self.label(),
                    names.join(" -> "),
                    steps.join("\n")
                ));
                done.extend(lp);
            }
        }
        found
    }
}

#[test]
fn no_two_files_of_a_crate_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cycles = Vec::new();
    for src in CRATE_SOURCES {
        let files = CrateFiles::read(&root.join(src));
        assert!(
            files.edges().len() > 10,
            "the scan of {src} found almost no imports: {:?}",
            files.edges()
        );
        cycles.extend(files.cycles());
    }
    assert!(
        cycles.is_empty(),
        "files that import each other (move what both need into a third file below them):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_cycle_check_resolves_every_way_of_naming_a_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = dir.path();
    let write = |rel: &str, text: &str| {
        let path = src.join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("a directory");
        std::fs::write(path, text).expect("a file");
    };
    write("lib.rs", "mod a;\nmod b;\npub mod m;\n");
    write(
        "main.rs",
        "use crate::a::X; // a binary: a crate of its own\n",
    );
    // A loop round three files: a → m/c (a grouped import), m/c → m/d (`self::`-less `super::`),
    // m/d → a (a path in code, `crate::`).
    write(
        "a.rs",
        "use crate::{b::B, m::{c::{self, C}}};\npub fn x() {}\n",
    );
    write("m/mod.rs", "pub mod c;\npub mod d;\npub use d::D;\n");
    write(
        "m/c.rs",
        "use super::D; // through the re-export in m/mod.rs\npub struct C;\n",
    );
    write(
        "m/d.rs",
        "pub struct D;\nfn f() { crate::a::x(); let _ = \"crate::b::B in a string\"; }\n",
    );
    // No loop: b uses nothing of the crate but itself and a test module's `super::*`.
    write(
        "b.rs",
        "pub struct B;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use self::inner::Y;\n    mod inner { pub struct Y; }\n}\n",
    );
    let files = CrateFiles::read(src);
    let shown: BTreeSet<(String, String)> = files
        .edges()
        .keys()
        .map(|(f, t)| (files.shown(f), files.shown(t)))
        .collect();
    let pair = |f: &str, t: &str| (f.to_string(), t.to_string());
    assert_eq!(
        shown,
        BTreeSet::from([
            pair("a.rs", "b.rs"),
            pair("a.rs", "m/c.rs"),
            pair("m/c.rs", "m/d.rs"),
            pair("m/d.rs", "a.rs"),
            pair("m/mod.rs", "m/d.rs"),
        ])
    );
    let cycles = files.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    for expected in [
        "a.rs -> m/c.rs -> m/d.rs -> a.rs import each other",
        "m/d.rs -> a.rs (line 2: crate::a::x)",
    ] {
        assert!(cycles[0].contains(expected), "{}", cycles[0]);
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
