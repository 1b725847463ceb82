//! `.solstice/workflow.kdl` (KDL v2) → the same positioned tree the YAML front end builds, so the
//! schema, conversion and expansion are shared and a KDL workflow means exactly what the
//! equivalent YAML means. The format is described in `docs/workflow-kdl.md`.
//!
//! General rule for a node inside a mapping: a block `{ … }` (with or without `key=value`
//! properties) is a mapping; properties alone are a mapping; one argument is a scalar; several
//! arguments are a sequence; nothing is null. Nodes with the same name merge when both are
//! mappings (`env A="1"` then `env B="2"`). Special nodes: `workflow`, `job`, `step`, `setup`,
//! and inside `matrix`, `include`/`exclude` entries and always-a-list vectors.

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};

use crate::error::Sink;
use crate::node::{Entry, Node, Pos, Value};

/// The action `uses="checkout"` stands for.
const CHECKOUT: &str = "actions/checkout@v4";
const MAX_DEPTH: usize = 32;

/// `os=` of a `setup` block → the value `runner.os` has on such a guest.
const OS_NAMES: &[(&str, &str)] = &[
    ("illumos", "illumos"),
    ("linux", "Linux"),
    ("freebsd", "FreeBSD"),
    ("openbsd", "OpenBSD"),
    ("netbsd", "NetBSD"),
    ("macos", "macOS"),
    ("windows", "Windows"),
];

pub(crate) fn load(source: &str, sink: &mut Sink) -> Option<Node> {
    // The KDL parser recurses per block; refuse absurd nesting before it can exhaust the stack.
    if let Some(offset) = too_deep(source) {
        sink.error(position(source, offset), format!("the document nests deeper than {MAX_DEPTH} levels"));
        return None;
    }
    let doc = match KdlDocument::parse(source) {
        Ok(doc) => doc,
        Err(e) => {
            for d in &e.diagnostics {
                let pos = position(source, d.span.offset());
                let mut reason = format!("invalid KDL: {}", d.message.as_deref().unwrap_or("syntax error"));
                if let Some(help) = &d.help {
                    reason.push_str(&format!(" ({help})"));
                }
                sink.error(pos, reason);
            }
            if e.diagnostics.is_empty() {
                sink.error(Pos { line: 1, col: 1 }, "invalid KDL");
            }
            return None;
        }
    };
    let reader = Reader { source };
    let workflows: Vec<&KdlNode> = doc.nodes().iter().filter(|n| n.name().value() == "workflow").collect();
    for other in doc.nodes().iter().filter(|n| n.name().value() != "workflow") {
        sink.error(
            reader.pos(other),
            format!("unexpected top-level node '{}': a file holds one 'workflow' node", other.name().value()),
        );
    }
    match workflows.as_slice() {
        [one] => match reader.workflow(one) {
            Ok(node) if sink.is_empty() => Some(node),
            Ok(_) => None,
            Err((pos, reason)) => {
                sink.error(pos, reason);
                None
            }
        },
        [] => {
            sink.error(Pos { line: 1, col: 1 }, "a workflow.kdl holds one 'workflow \"name\" { … }' node");
            None
        }
        [_, second, ..] => {
            sink.error(reader.pos(second), "a workflow.kdl holds exactly one 'workflow' node");
            None
        }
    }
}

/// The offset of the first `{` nested deeper than `MAX_DEPTH`, outside quoted strings.
fn too_deep(source: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in source.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' if !in_string => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
            }
            '}' if !in_string => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// A 1-based line and column for a byte offset.
fn position(source: &str, offset: usize) -> Pos {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Pos { line, col }
}

type Result<T> = std::result::Result<T, (Pos, String)>;

struct Reader<'a> {
    source: &'a str,
}

impl Reader<'_> {
    fn pos(&self, node: &KdlNode) -> Pos {
        position(self.source, node.span().offset())
    }

    fn entry_pos(&self, entry: &KdlEntry) -> Pos {
        position(self.source, entry.span().offset())
    }

    fn workflow(&self, node: &KdlNode) -> Result<Node> {
        let pos = self.pos(node);
        let mut map = Vec::new();
        let (args, props) = self.split(node);
        match args.as_slice() {
            [] => {}
            [name] => map.push(self.entry("name", name)),
            [_, extra, ..] => return Err((self.entry_pos(extra), "'workflow' takes one argument, its name".into())),
        }
        map.extend(props.iter().map(|(k, e)| self.entry(k, e)));
        let mut jobs = Vec::new();
        for child in children(node) {
            if child.name().value() == "job" {
                let (key, value) = self.job(child)?;
                jobs.push(Entry { key, key_pos: self.pos(child), value });
            } else {
                push_merged(&mut map, self.member(child, 1)?);
            }
        }
        if !map.iter().any(|e| e.key == "on") {
            map.push(Entry { key: "on".into(), key_pos: pos, value: Node::new(pos, Value::String("push".into())) });
        }
        map.push(Entry { key: "jobs".into(), key_pos: pos, value: Node::new(pos, Value::Map(jobs)) });
        Ok(Node::new(pos, Value::Map(map)))
    }

    fn job(&self, node: &KdlNode) -> Result<(String, Node)> {
        let pos = self.pos(node);
        let (args, props) = self.split(node);
        let key = match args.as_slice() {
            [KdlEntryRef(e)] => match e.value() {
                KdlValue::String(s) => s.clone(),
                _ => return Err((self.entry_pos(e), "a job's key is a string: job \"build\" { … }".into())),
            },
            _ => return Err((pos, "'job' takes one argument, its key: job \"build\" { … }".into())),
        };
        let mut map: Vec<Entry> = props.iter().map(|(k, e)| self.entry(k, e)).collect();
        let mut setups = Vec::new();
        let mut steps = Vec::new();
        for child in children(node) {
            match child.name().value() {
                "setup" => setups.push(self.setup(child)?),
                "step" => steps.push(self.step(child)?),
                _ => push_merged(&mut map, self.member(child, 2)?),
            }
        }
        if !setups.is_empty() || !steps.is_empty() {
            setups.extend(steps);
            map.push(Entry { key: "steps".into(), key_pos: pos, value: Node::new(pos, Value::Seq(setups)) });
        }
        Ok((key, Node::new(pos, Value::Map(map))))
    }

    fn step(&self, node: &KdlNode) -> Result<Node> {
        let pos = self.pos(node);
        let (args, props) = self.split(node);
        let mut map = Vec::new();
        match args.as_slice() {
            [] => {}
            [name] => map.push(self.entry("name", name)),
            [_, extra, ..] => return Err((self.entry_pos(extra), "'step' takes one argument, its name".into())),
        }
        map.extend(props.iter().map(|(k, e)| self.entry(k, e)));
        for child in children(node) {
            push_merged(&mut map, self.member(child, 3)?);
        }
        for entry in &mut map {
            if entry.key == "uses" && entry.value.as_str() == Some("checkout") {
                entry.value.value = Value::String(CHECKOUT.into());
            }
        }
        Ok(Node::new(pos, Value::Map(map)))
    }

    /// `setup os="illumos" { run "…" }`: a step that runs only where `runner.os` matches.
    fn setup(&self, node: &KdlNode) -> Result<Node> {
        let pos = self.pos(node);
        let os_entry = node.entries().iter().find(|e| e.name().is_some_and(|n| n.value() == "os"));
        let Some(os_entry) = os_entry else {
            return Err((pos, "a 'setup' block needs os=\"…\" (illumos, linux, freebsd, …)".into()));
        };
        let os = match os_entry.value() {
            KdlValue::String(s) => s.clone(),
            _ => return Err((self.entry_pos(os_entry), "setup os= takes a string".into())),
        };
        let Some((_, runner_os)) = OS_NAMES.iter().find(|(k, _)| k.eq_ignore_ascii_case(&os)) else {
            let known: Vec<&str> = OS_NAMES.iter().map(|(k, _)| *k).collect();
            return Err((self.entry_pos(os_entry), format!("unknown setup os '{os}'; known: {}", known.join(", "))));
        };
        let mut map = Vec::new();
        for entry in node.entries() {
            match entry.name().map(|n| n.value()) {
                Some("os") => {}
                Some(k) => map.push(self.entry(k, entry)),
                None => {
                    return Err((
                        self.entry_pos(entry),
                        "'setup' takes no arguments, only os=\"…\" and a block".into(),
                    ));
                }
            }
        }
        for child in children(node) {
            if child.name().value() == "if" {
                return Err((self.pos(child), "a 'setup' block takes no 'if': its condition is the OS".into()));
            }
            push_merged(&mut map, self.member(child, 3)?);
        }
        let cond = format!("runner.os == '{runner_os}'");
        map.push(Entry { key: "if".into(), key_pos: pos, value: Node::new(pos, Value::String(cond)) });
        Ok(Node::new(pos, Value::Map(map)))
    }

    /// A node inside a mapping → one `key: value` entry.
    fn member(&self, node: &KdlNode, depth: usize) -> Result<Entry> {
        let pos = self.pos(node);
        if depth > MAX_DEPTH {
            return Err((pos, format!("the document nests deeper than {MAX_DEPTH} levels")));
        }
        let key = node.name().value().to_string();
        let value = if key == "matrix" { self.matrix(node, depth)? } else { self.value(node, depth)? };
        Ok(Entry { key, key_pos: pos, value })
    }

    fn value(&self, node: &KdlNode, depth: usize) -> Result<Node> {
        let pos = self.pos(node);
        let (args, props) = self.split(node);
        if node.children().is_some() || (!props.is_empty() && args.is_empty()) {
            if let Some(first) = args.first() {
                return Err((
                    self.entry_pos(first),
                    format!("'{}' with a block or key=value pairs takes no arguments", node.name().value()),
                ));
            }
            let mut map: Vec<Entry> = props.iter().map(|(k, e)| self.entry(k, e)).collect();
            for child in children(node) {
                push_merged(&mut map, self.member(child, depth + 1)?);
            }
            return Ok(Node::new(pos, Value::Map(map)));
        }
        if !props.is_empty() {
            return Err((pos, format!("'{}' mixes arguments and key=value pairs", node.name().value())));
        }
        Ok(match args.as_slice() {
            [] => Node::new(pos, Value::Null),
            [one] => self.scalar(one),
            many => Node::new(pos, Value::Seq(many.iter().map(|a| self.scalar(a)).collect())),
        })
    }

    /// Inside `matrix`, a node with arguments is a vector (a list even with one value) and each
    /// `include`/`exclude` node is one entry of that list.
    fn matrix(&self, node: &KdlNode, depth: usize) -> Result<Node> {
        let pos = self.pos(node);
        let mut map = Vec::new();
        for child in children(node) {
            let name = child.name().value();
            let child_pos = self.pos(child);
            if name == "include" || name == "exclude" {
                let entry = self.value(child, depth + 1)?;
                match map.iter_mut().find(|e: &&mut Entry| e.key == name) {
                    Some(Entry { value: Node { value: Value::Seq(items), .. }, .. }) => items.push(entry),
                    _ => map.push(Entry {
                        key: name.into(),
                        key_pos: child_pos,
                        value: Node::new(child_pos, Value::Seq(vec![entry])),
                    }),
                }
                continue;
            }
            let (args, props) = self.split(child);
            if args.is_empty() || !props.is_empty() || child.children().is_some() {
                push_merged(&mut map, self.member(child, depth + 1)?);
                continue;
            }
            let items = args.iter().map(|a| self.scalar(a)).collect();
            map.push(Entry { key: name.into(), key_pos: child_pos, value: Node::new(child_pos, Value::Seq(items)) });
        }
        Ok(Node::new(pos, Value::Map(map)))
    }

    fn split<'n>(&self, node: &'n KdlNode) -> (Vec<KdlEntryRef<'n>>, Vec<(&'n str, &'n KdlEntry)>) {
        let mut args = Vec::new();
        let mut props = Vec::new();
        for entry in node.entries() {
            match entry.name() {
                Some(name) => props.push((name.value(), entry)),
                None => args.push(KdlEntryRef(entry)),
            }
        }
        (args, props)
    }

    fn entry(&self, key: &str, entry: &KdlEntry) -> Entry {
        let pos = self.entry_pos(entry);
        Entry { key: key.to_string(), key_pos: pos, value: self.scalar(&KdlEntryRef(entry)) }
    }

    fn scalar(&self, entry: &KdlEntryRef<'_>) -> Node {
        let pos = self.entry_pos(entry.0);
        let value = match entry.0.value() {
            KdlValue::String(s) => Value::String(s.clone()),
            KdlValue::Integer(i) => Value::Number(*i as f64),
            KdlValue::Float(f) => Value::Number(*f),
            KdlValue::Bool(b) => Value::Bool(*b),
            KdlValue::Null => Value::Null,
        };
        Node::new(pos, value)
    }
}

/// An argument (an entry without a name).
#[derive(Clone, Copy)]
struct KdlEntryRef<'n>(&'n KdlEntry);

impl<'n> std::ops::Deref for KdlEntryRef<'n> {
    type Target = KdlEntry;
    fn deref(&self) -> &KdlEntry {
        self.0
    }
}

fn children(node: &KdlNode) -> &[KdlNode] {
    node.children().map_or(&[], KdlDocument::nodes)
}

/// Adds `entry`, merging it into an earlier mapping of the same key when both are mappings.
fn push_merged(map: &mut Vec<Entry>, entry: Entry) {
    if let Value::Map(new) = &entry.value.value
        && let Some(Entry { value: Node { value: Value::Map(old), .. }, .. }) =
            map.iter_mut().find(|e| e.key == entry.key)
    {
        old.extend(new.iter().cloned());
        return;
    }
    map.push(entry);
}
