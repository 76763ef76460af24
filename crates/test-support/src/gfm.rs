//! How GitHub renders the job summary (GFM): the oracle the tests check the summary's escaping against.
//! [`parse`] hands the markdown to comrak, an independent CommonMark and GFM implementation, with the
//! extensions GitHub turns on for summaries and comments; the two small hand-written checks below it
//! ([`outside_code_blocks`], [`unescaped_pipes`]) back it where a test needs no full parse.

use comrak::nodes::{AstNode, NodeValue};
use comrak::{Arena, Options, parse_document};

/// One node of the rendered document, as far as the escaping tests look: the text a reader sees, code
/// (spans and blocks) verbatim, and the name of any other markup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    /// Text as shown (entities and backslash escapes already resolved).
    Text(String),
    /// An inline code span's content.
    Code(String),
    /// A fenced or indented code block: its info string and content.
    CodeBlock { info: String, literal: String },
    /// A table: its rows (the header first), each a list of cells, each the nodes inside it.
    Table(Vec<Vec<Vec<Rendered>>>),
    /// Any other node that carries meaning (`Link`, `HtmlInline`, `Emph`, `Heading`, ...): its name.
    Markup(String),
}

/// `md` as GitHub renders it (tables, strikethrough, autolinks, task lists, the tag filter), flattened
/// into the nodes the tests look at. Paragraphs, soft breaks and the document itself are structure only and
/// do not appear; a soft or hard line break appears as `Markup("LineBreak")`.
pub fn parse(md: &str) -> Vec<Rendered> {
    let arena = Arena::new();
    let mut options = Options::default();
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.extension.autolink = true;
    options.extension.tasklist = true;
    options.extension.tagfilter = true;
    let root = parse_document(&arena, md, &options);
    let mut out = Vec::new();
    flatten(root, &mut out);
    out
}

fn flatten<'a>(node: &'a AstNode<'a>, out: &mut Vec<Rendered>) {
    let value = node.data.borrow().value.clone();
    match value {
        NodeValue::Document | NodeValue::Paragraph => {
            for child in node.children() {
                flatten(child, out);
            }
        }
        NodeValue::Text(text) => match out.last_mut() {
            Some(Rendered::Text(before)) => before.push_str(&text),
            _ => out.push(Rendered::Text(text)),
        },
        NodeValue::Code(code) => out.push(Rendered::Code(code.literal)),
        NodeValue::CodeBlock(block) => out.push(Rendered::CodeBlock {
            info: block.info,
            literal: block.literal,
        }),
        NodeValue::Table(_) => {
            let rows = node
                .children()
                .map(|row| {
                    row.children()
                        .map(|cell| {
                            let mut nodes = Vec::new();
                            for inline in cell.children() {
                                flatten(inline, &mut nodes);
                            }
                            nodes
                        })
                        .collect()
                })
                .collect();
            out.push(Rendered::Table(rows));
        }
        NodeValue::SoftBreak | NodeValue::LineBreak => {
            out.push(Rendered::Markup("LineBreak".into()))
        }
        other => {
            let name = format!("{other:?}");
            let name = name
                .split(|c: char| !c.is_alphanumeric())
                .next()
                .unwrap_or_default()
                .to_string();
            out.push(Rendered::Markup(name));
            for child in node.children() {
                flatten(child, out);
            }
        }
    }
}

/// What GitHub shows in the first cell of the body row `| {cell} | end |` of a two-column table: `None`
/// when the markdown is not that table any more (a pipe in `cell` split it, so `end` moved or was
/// dropped; a line break ended the row; the table did not start).
pub fn first_cell(cell: &str) -> Option<Vec<Rendered>> {
    let doc = parse(&format!("| a | b |\n|---|---|\n| {cell} | end |\n"));
    let [Rendered::Table(rows)] = doc.as_slice() else {
        return None;
    };
    let [_header, body] = rows.as_slice() else {
        return None;
    };
    match body.as_slice() {
        [first, last] if last.as_slice() == [Rendered::Text("end".to_string())] => {
            Some(first.clone())
        }
        _ => None,
    }
}

/// The summary without its fenced code blocks (where HTML is shown, not rendered).
pub fn outside_code_blocks(md: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<String> = None;
    for line in md.lines() {
        let ticks: String = line.chars().take_while(|c| *c == '`').collect();
        match &fence {
            Some(f) if ticks.len() >= f.len() && line.trim_end() == ticks => fence = None,
            Some(_) => {}
            None if ticks.len() >= 3 => fence = Some(ticks),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// `|` that a GFM table reads as a cell separator (cmark-gfm: a backslash escapes the next character).
pub fn unescaped_pipes(text: &str) -> usize {
    let mut n = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '|' => n += 1,
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Rendered {
        Rendered::Text(s.to_string())
    }

    #[test]
    fn the_renderer_sees_what_github_would() {
        assert_eq!(first_cell("plain"), Some(vec![text("plain")]));
        assert_eq!(first_cell("a \\| b"), Some(vec![text("a | b")]));
        assert_eq!(
            first_cell("a | b"),
            None,
            "an unescaped pipe splits the cell"
        );
        assert_eq!(first_cell("a\nb"), None, "a line break ends the row");
        let markup = |m: &str| Rendered::Markup(m.to_string());
        let code = Rendered::Code("x".into());
        let cell = [text("<b> "), code, text(" "), markup("Emph"), text("y")];
        assert_eq!(first_cell("&lt;b&gt; `x` *y*"), Some(cell.to_vec()));
        let html = markup("HtmlInline");
        let shown = [
            html.clone(),
            text("hi"),
            html,
            text(" "),
            markup("Link"),
            text("l"),
        ];
        assert_eq!(parse("<b>hi</b> [l](http://x)"), shown.to_vec());
        assert_eq!(
            parse("````text\n```\n````\n"),
            vec![Rendered::CodeBlock {
                info: "text".into(),
                literal: "```\n".into()
            }]
        );
    }
}
