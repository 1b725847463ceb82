//! YAML text → positioned `Node` tree.
//!
//! `saphyr-parser` gives events with spans, styles and tags; this module builds the tree and
//! types plain scalars by the YAML 1.2 core schema, as GitHub's parser does: `on`, `yes` and
//! `no` are strings, `0755` is 755, `12_345` is a string.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use crate::error::Sink;
use crate::node::{Entry, Node, Pos, Value};

/// Deeper than any real workflow; keeps the recursive passes after this one off the stack limit.
const MAX_DEPTH: usize = 64;
/// Nodes an alias-heavy file may expand to ("billion laughs").
const MAX_NODES: usize = 1_000_000;

const CORE: &str = "tag:yaml.org,2002:";

/// Parses one YAML document. Errors land in `sink`; `None` when the text is not usable YAML.
pub(crate) fn load(source: &str, sink: &mut Sink) -> Option<Node> {
    let mut builder = Builder { frames: Vec::new(), anchors: HashMap::new(), root: None, nodes: 0, documents: 0 };
    let mut parser = Parser::new_from_str(source);
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(pair) => pair,
            Err(e) => {
                let m = e.marker();
                sink.error(Pos { line: m.line(), col: m.col() + 1 }, format!("invalid YAML: {}", e.info()));
                return None;
            }
        };
        if let Err((pos, reason)) = builder.event(event, span) {
            sink.error(pos, reason);
            return None;
        }
    }
    match builder.root {
        Some(root) => Some(root),
        None => {
            sink.error(Pos { line: 1, col: 1 }, "the workflow file is empty");
            None
        }
    }
}

fn pos(span: &Span) -> Pos {
    Pos { line: span.start.line(), col: span.start.col() + 1 }
}

enum Frame {
    Seq { pos: Pos, anchor: usize, items: Vec<Node> },
    Map { pos: Pos, anchor: usize, entries: Vec<Entry>, key: Option<(String, Pos)> },
}

struct Builder {
    frames: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    nodes: usize,
    documents: usize,
}

type Step = Result<(), (Pos, String)>;

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Step {
        let at = pos(&span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err((at, "a workflow file holds exactly one YAML document".into()));
                }
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(&text, style, tag.as_deref()).map_err(|r| (at, r))?;
                self.finish(Node::new(at, value), anchor, at)
            }
            Event::SequenceStart(anchor, tag) => {
                collection_tag(tag.as_deref(), "seq").map_err(|r| (at, r))?;
                self.push(Frame::Seq { pos: at, anchor, items: Vec::new() }, at)
            }
            Event::MappingStart(anchor, tag) => {
                collection_tag(tag.as_deref(), "map").map_err(|r| (at, r))?;
                self.push(Frame::Map { pos: at, anchor, entries: Vec::new(), key: None }, at)
            }
            Event::SequenceEnd | Event::MappingEnd => match self.frames.pop() {
                Some(Frame::Seq { pos, anchor, items }) => self.finish(Node::new(pos, Value::Seq(items)), anchor, at),
                Some(Frame::Map { pos, anchor, entries, .. }) => {
                    self.finish(Node::new(pos, Value::Map(entries)), anchor, at)
                }
                None => Err((at, "invalid YAML: unbalanced collection end".into())),
            },
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or((at, "invalid YAML: unknown alias".to_string()))?;
                self.nodes += count(&node);
                if self.nodes > MAX_NODES {
                    return Err((at, "YAML aliases expand to too many nodes".into()));
                }
                self.finish(node, 0, at)
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => Ok(()),
        }
    }

    fn push(&mut self, frame: Frame, at: Pos) -> Step {
        if self.frames.len() >= MAX_DEPTH {
            return Err((at, format!("the document nests deeper than {MAX_DEPTH} levels")));
        }
        self.frames.push(frame);
        Ok(())
    }

    fn finish(&mut self, node: Node, anchor: usize, at: Pos) -> Step {
        self.nodes += 1;
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.frames.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    let text = key_text(&node).ok_or((at, "a mapping key must be a scalar".to_string()))?;
                    *key = Some((text, node.pos));
                    Ok(())
                }
                Some((text, key_pos)) => {
                    entries.push(Entry { key: text, key_pos, value: node });
                    Ok(())
                }
            },
        }
    }
}

fn count(node: &Node) -> usize {
    match &node.value {
        Value::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Value::Map(entries) => 1 + entries.iter().map(|e| 1 + count(&e.value)).sum::<usize>(),
        _ => 1,
    }
}

fn key_text(node: &Node) -> Option<String> {
    node.scalar_text()
}

fn full_tag(tag: &Tag) -> String {
    format!("{}{}", tag.handle, tag.suffix)
}

fn collection_tag(tag: Option<&Tag>, kind: &str) -> Result<(), String> {
    match tag {
        None => Ok(()),
        Some(t) if full_tag(t) == format!("{CORE}{kind}") => Ok(()),
        Some(t) => Err(format!("the YAML tag '{t}' is not supported")),
    }
}

fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let Some(tag) = tag else {
        return Ok(if style == ScalarStyle::Plain { plain(text) } else { Value::String(text.to_string()) });
    };
    let full = full_tag(tag);
    let bad = || format!("'{text}' is not a valid {}", full.trim_start_matches(CORE));
    match full.strip_prefix(CORE) {
        Some("str") => Ok(Value::String(text.to_string())),
        Some("null") if null(text) => Ok(Value::Null),
        Some("bool") => boolean(text).map(Value::Bool).ok_or_else(bad),
        Some("int") => int(text).map(Value::Number).ok_or_else(bad),
        Some("float") => float(text).or_else(|| int(text)).map(Value::Number).ok_or_else(bad),
        Some("null") => Err(bad()),
        _ if full == "!" => Ok(Value::String(text.to_string())),
        _ => Err(format!("the YAML tag '{tag}' is not supported")),
    }
}

/// The YAML 1.2 core schema's resolution of a plain scalar.
fn plain(text: &str) -> Value {
    if null(text) {
        Value::Null
    } else if let Some(b) = boolean(text) {
        Value::Bool(b)
    } else if let Some(n) = int(text).or_else(|| float(text)) {
        Value::Number(n)
    } else {
        Value::String(text.to_string())
    }
}

fn null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn boolean(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn int(text: &str) -> Option<f64> {
    if let Some(hex) = text.strip_prefix("0x") {
        return (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u128::from_str_radix(hex, 16).ok().map(|v| v as f64))
            .flatten();
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return (!oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)))
            .then(|| u128::from_str_radix(oct, 8).ok().map(|v| v as f64))
            .flatten();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<f64>().ok()
}

fn float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let negative = text.starts_with('-');
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return Some(if negative { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return Some(f64::NAN);
    }
    // [0-9]+(\.[0-9]*)? | \.[0-9]+, then an optional exponent.
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (whole, frac) = match mantissa.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac {
        None => !whole.is_empty() && digits(whole),
        Some(f) if whole.is_empty() => !f.is_empty() && digits(f),
        Some(f) => digits(whole) && digits(f),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if mantissa_ok && exponent_ok { text.parse::<f64>().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema() {
        assert_eq!(plain("on"), Value::String("on".into()));
        assert_eq!(plain("yes"), Value::String("yes".into()));
        assert_eq!(plain("0755"), Value::Number(755.0));
        assert_eq!(plain("0xff"), Value::Number(255.0));
        assert_eq!(plain("0o10"), Value::Number(8.0));
        assert_eq!(plain("12_345"), Value::String("12_345".into()));
        assert_eq!(plain("1.5e3"), Value::Number(1500.0));
        assert_eq!(plain(".5"), Value::Number(0.5));
        assert_eq!(plain("1."), Value::Number(1.0));
        assert_eq!(plain("."), Value::String(".".into()));
        assert_eq!(plain("-.inf"), Value::Number(f64::NEG_INFINITY));
        assert_eq!(plain("inf"), Value::String("inf".into()));
        assert_eq!(plain("~"), Value::Null);
        assert_eq!(plain("TRUE"), Value::Bool(true));
        assert_eq!(plain("1.2.3"), Value::String("1.2.3".into()));
    }
}
